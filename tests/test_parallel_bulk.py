"""Several bulk requests in flight: ordered acknowledgement, the in-flight cap and its lowering on
429, chunks sized from the serialised bytes, and parallel writes to the real engines.

(The unit tests use a scripted embedded store: pure pipeline logic. The crash matrix with
requests in flight is in test_resume.py.)
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from neural_search.bulk import BulkWriter, batches, chunk_by_count_and_bytes, encoded, serialized_bytes, written
from neural_search.documents import Document, SourceRecord
from neural_search.engines import open_store
from neural_search.engines.base import IndexedDoc, WriteResult
from neural_search.engines.embedded import EmbeddedStore
from neural_search.errors import ConfigurationError
from neural_search.indexing import Indexer, RetryPolicy
from neural_search.registry import SERVER_ENGINES

from .faults import drop_everything
from .hash_encoder import HashEncoder

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.02, budget_seconds=5)


class Concurrent(EmbeddedStore):
    """The embedded engine with slow writes (`delay(docs)` seconds), counting how many overlap."""

    def __init__(self, path, delay=lambda docs: 0.01, script=()):
        super().__init__(path=path)
        self.delay = delay
        self.script = list(script)
        self.lock = threading.Lock()
        self.writing = 0
        self.most = 0
        self.started: list[list[str]] = []
        self.finished: list[list[str]] = []

    def write(self, physical, docs):
        with self.lock:
            self.writing += 1
            self.most = max(self.most, self.writing)
            self.started.append([d.document.id for d in docs])
            action = self.script.pop(0) if self.script else None
        try:
            time.sleep(self.delay(docs))
            if action == "429":
                return [WriteResult(d.document.id, False, 429, "es_rejected_execution_exception") for d in docs]
            return super().write(physical, docs)
        finally:
            with self.lock:
                self.writing -= 1
                self.finished.append([d.document.id for d in docs])


def records(n, *, prefix="d", text=lambda i: f"text {i}"):
    return [SourceRecord(i, f"src:{i}", Document(id=f"{prefix}{i}", title=f"t{i}", text=text(i))) for i in range(1, n + 1)]


def _store(tmp_path, **kwargs):
    store = Concurrent(tmp_path / "e", **kwargs)
    store.create_physical("p", fingerprint=HashEncoder.fingerprint.to_dict())
    return store


def test_outcomes_come_in_source_order_with_at_most_n_unacknowledged(tmp_path):
    # The first batches are the slowest, so later ones finish first and must wait their turn.
    store = _store(tmp_path, delay=lambda docs: 0.08 if int(docs[0].document.id[1:]) <= 4 else 0.005)
    writer = BulkWriter(store, "p", retry=FAST, parallel=3)
    consumed, ahead = [], []
    with ThreadPoolExecutor(max_workers=3) as pool:
        for outcome in written(encoded(batches(records(24), 2), HashEncoder()), writer, pool, in_flight=3):
            consumed.append(outcome.batch.last_position)
            # Batches handed to the writer beyond the one just acknowledged, this one included.
            ahead.append(len(store.started) - len(consumed) + 1)
    assert consumed == list(range(2, 25, 2))
    assert max(ahead) <= 3 and store.most == 3
    finish_order = [ids[0] for ids in store.finished]
    assert finish_order != sorted(finish_order, key=lambda i: int(i[1:])), "no batch overtook another: the test proved nothing"


def test_a_batch_sharing_an_id_with_one_in_flight_waits_so_the_later_version_wins(tmp_path):
    source = [
        SourceRecord(1, "src:1", Document(id="dup", title="first", text="old")),
        SourceRecord(2, "src:2", Document(id="a", title="a", text="a")),
        SourceRecord(3, "src:3", Document(id="dup", title="second", text="new")),
        SourceRecord(4, "src:4", Document(id="b", title="b", text="b")),
    ]
    store = _store(tmp_path, delay=lambda docs: 0.15 if docs[0].document.title == "first" else 0.0)
    writer = BulkWriter(store, "p", retry=FAST, parallel=4)
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(written(encoded(batches(source, 2), HashEncoder()), writer, pool, in_flight=4))
    assert [o.indexed for o in outcomes] == [2, 2]
    rows = dict(store._db("p").execute("SELECT id, title FROM docs").fetchall())
    assert rows["dup"] == "second"


def test_the_in_flight_cap_holds_across_threads_and_halves_on_429(tmp_path):
    store = _store(tmp_path, delay=lambda docs: 0.02, script=[None] * 8 + ["429"] + [None] * 200)
    writer = BulkWriter(store, "p", retry=FAST, max_chunk_docs=1, parallel=4, sleep=lambda s: None)
    items = [IndexedDoc(Document(id=f"d{i}", text="t"), np.ones(8, dtype=np.float32)) for i in range(120)]
    parts = [items[i::6] for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = [r for part in pool.map(lambda p: writer.write(p), parts) for r in part]
    assert all(r.ok for r in results) and len(results) == 120
    assert store.most == 4, "six threads share one writer: never more than --parallel-bulk requests at once"
    assert writer.pushed_back == 1 and writer.lowest_in_flight_limit == 2
    # ... and accepted requests let the cap grow back to what was asked for.
    assert writer.in_flight_limit == 4


def test_the_indexer_reports_a_lowered_parallelism(tmp_path):
    store = Concurrent(tmp_path / "e", delay=lambda docs: 0.005, script=["429", "429"])
    indexer = Indexer(store, HashEncoder(), state_dir=tmp_path / "s", batch_size=4, max_chunk_docs=2, parallel_bulk=4,
                      progress=False, retry=FAST, sleep=lambda s: None)
    summary = indexer.run(records(40), name="x", source={})
    assert (summary.read, summary.indexed, summary.count_in_engine) == (40, 40, 40)
    assert any("lowered from 4 to 1" in m for m in summary.messages), summary.messages
    with pytest.raises(ConfigurationError, match="--parallel-bulk"):
        Indexer(store, HashEncoder(), state_dir=tmp_path / "s", parallel_bulk=0)


def _es_body(items: list[IndexedDoc], physical: str) -> bytes:
    """The NDJSON body the Elasticsearch client sends for es_family's bulk operations."""
    from elastic_transport import NdjsonSerializer

    operations = []
    for item in items:
        d = item.document
        operations.append({"index": {"_index": physical, "_id": d.id}})
        operations.append({"id": d.id, "title": d.title, "text": d.text, "metadata": dict(d.metadata),
                           "vector": np.asarray(item.vector, dtype=float).tolist()})
    return NdjsonSerializer().dumps(operations)


def test_chunks_are_sized_from_the_serialised_bytes():
    rng = np.random.default_rng(7)
    texts = ["Zürich — 東京 " * 30, "plain ascii text " * 80, 'quotes " and \\ backslashes\n' * 20, "x"]
    items = []
    for i in range(200):
        vector = rng.normal(size=384).astype(np.float32)
        items.append(IndexedDoc(Document(id=f"<dbpedia:Doc_{i}>", title=f"Title {i}", text=texts[i % 4], metadata={"n": i, "tag": "ü"}),
                                vector / np.linalg.norm(vector)))
    physical = "films__v20261202t020000"
    real = len(_es_body(items, physical))
    counted = sum(serialized_bytes(item, index_name_bytes=len(physical)) for item in items)
    assert real <= counted <= real * 1.01, (real, counted)
    limit = 64 * 1024
    chunks = list(chunk_by_count_and_bytes(items, 10_000, limit, index_name_bytes=len(physical)))
    assert len(chunks) > 3 and all(len(_es_body(chunk, physical)) <= limit for chunk in chunks)
    # Nearly full: the bytes are counted, not guessed from a per-field constant.
    assert all(len(_es_body(chunk, physical)) > 0.8 * limit for chunk in chunks[:-1])


@pytest.mark.integration
@pytest.mark.parametrize("engine", SERVER_ENGINES)
def test_parallel_bulk_writes_every_document_once_on_a_real_engine(engine, engine_url, encoder, films, index_name, tmp_path):
    store = open_store(engine, url=engine_url(engine))
    source = [SourceRecord(i, f"films:{i}", d) for i, d in enumerate(films, start=1)]
    try:
        summary = Indexer(store, encoder, state_dir=tmp_path, batch_size=16, max_chunk_docs=8, parallel_bulk=4, progress=False).run(
            source, name=index_name, source={"films": 1})
        physical = store.resolve(index_name)
        store.refresh(physical)
        assert summary.published and (summary.read, summary.indexed, summary.failed) == (len(films), len(films), 0)
        assert store.count(physical) == len(films) and store.ids(physical) == {d.id for d in films}
    finally:
        drop_everything(store, index_name)
        store.close()
