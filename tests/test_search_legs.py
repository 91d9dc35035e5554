"""Where the legs of a hybrid query run (pure logic: the embedded engine and a hash encoder)."""

from __future__ import annotations

import threading

import numpy as np

from neural_search.documents import Document
from neural_search.engines.base import IndexedDoc
from neural_search.engines.embedded import EmbeddedStore
from neural_search.search import SearchClient

from .hash_encoder import HashEncoder


class QueryEncoder(HashEncoder):
    def encode_query(self, text):
        return self.encode_documents([Document(id=text, title=text, text=text)])[0]


class RecordingStore(EmbeddedStore):
    """Notes the thread of every bm25 leg; the first kNN call waits until `release` is set."""

    def __init__(self, path):
        super().__init__(path=path)
        self.bm25_threads: dict[str, str] = {}
        self.release = threading.Event()
        self.first_knn = threading.Event()

    def bm25(self, physical, text, **kwargs):
        self.bm25_threads[text] = threading.current_thread().name
        return super().bm25(physical, text, **kwargs)

    def knn(self, physical, vector, **kwargs):
        if not self.first_knn.is_set():
            self.first_knn.set()
            assert self.release.wait(10), "the second search never ran its bm25 leg"
        return super().knn(physical, vector, **kwargs)


def _client(tmp_path) -> tuple[SearchClient, RecordingStore]:
    store = RecordingStore(tmp_path / "engine")
    encoder = QueryEncoder()
    store.create_physical("films__v1", fingerprint=encoder.fingerprint.to_dict())
    docs = [Document(id=f"d{i}", title=f"alpha film {i}", text=f"beta story number {i}") for i in range(30)]
    store.write("films__v1", [IndexedDoc(d, v) for d, v in zip(docs, encoder.encode_documents(docs))])
    store.publish("films", "films__v1")
    return SearchClient(store=store, index="films", encoder=encoder, candidates=20, verify_model=False), store


def test_in_process_legs_overlap_alone_and_run_inline_under_concurrency(tmp_path):
    client, store = _client(tmp_path)
    results = {}

    def first():
        results["first"] = client.search("alpha", mode="hybrid", k=5)

    t = threading.Thread(target=first, name="first-user")
    t.start()
    assert store.first_knn.wait(10)  # the first search is in its kNN leg, so it is still in flight
    second = client.search("beta", mode="hybrid", k=5)
    store.release.set()
    t.join(10)
    client.close()

    # Alone, the first search ran its bm25 leg on the leg pool, beside its kNN leg.
    assert store.bm25_threads["alpha"].startswith("neural-search-leg")
    # With another search in flight, the second ran both legs on its own thread.
    assert store.bm25_threads["beta"] == threading.current_thread().name
    # Both still fused both legs.
    for result in (results["first"], second):
        assert len(result.hits) == 5
        assert all(set(h.legs) == {"bm25", "knn"} for h in result.hits)
        assert any(h.legs["bm25"] is not None for h in result.hits)
    assert np.isfinite([h.score for h in second.hits]).all()
