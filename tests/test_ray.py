"""Encoding on several devices (sentence-transformers' multi-process pool, here `cpu,cpu`) and on a
Ray cluster's actors (here a local Ray capped at 1 CPU and a 200 MB object store), with the real
model: the vectors are the single-process ones, and a Ray run killed part-way resumes and writes
every document exactly once, dead letters included.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neural_search.documents import SourceRecord
from neural_search.errors import ConfigurationError
from neural_search.engines.embedded import EmbeddedStore
from neural_search.indexing import Indexer
from neural_search.sources import read_jsonl

from .conftest import FILMS
from .crashing import FAST_RETRY, Crash, DyingEmbeddedStore


@pytest.fixture(scope="module")
def film_docs():
    return [r.document for r in read_jsonl(FILMS)][:20]


def test_several_devices_encode_with_one_worker_each_and_match_one_device(film_docs, monkeypatch):
    from neural_search.encoding import Encoder, parse_devices

    # One thread per worker process: two workers on this machine's two shared cores.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert parse_devices("cuda:0, cuda:1") == ["cuda:0", "cuda:1"] and parse_devices(None) is None
    with pytest.raises(ValueError, match="--device"):
        parse_devices("cuda:0,,cuda:1")
    multi = Encoder(device="cpu,cpu", cache=False)
    try:
        vectors = multi.encode_documents(film_docs[:8])
        assert len(multi._pool["processes"]) == 2
        # The same model in this process, without the pool (loading a second one costs more here).
        one = multi.model.encode([d.passage for d in film_docs[:8]], normalize_embeddings=True, convert_to_numpy=True)
        np.testing.assert_allclose(vectors, one, atol=1e-5)
        assert multi.stats["encoded"] == 8 and multi.device == "cpu"
        # Queries stay in process: no round trip through the pool for one text.
        np.testing.assert_allclose(multi.encode_query("a heist film"), multi.model.encode(["a heist film"], normalize_embeddings=True)[0], atol=1e-5)
    finally:
        multi.close()
    assert multi._pool is None


def test_float16_keeps_the_fingerprint_and_the_vectors_and_is_refused_without_a_gpu(film_docs, encoder, capsys):
    from neural_search.cli import main
    from neural_search.encoding import Encoder

    with pytest.raises(ConfigurationError, match="float16 encoding needs a GPU: pass --device cuda"):
        Encoder(device="cpu", precision="float16")
    with pytest.raises(ConfigurationError, match="precision must be one of float32, float16"):
        Encoder(precision="bfloat17")
    assert main(["index", "--source", str(FILMS), "--index", "fp16-refused", "--device", "cpu", "--fp16", "--quiet"]) == 2
    assert "float16 encoding needs a GPU" in capsys.readouterr().err
    # The half-precision path itself, on this CPU (slow there, which is why it is refused): the
    # same fingerprint as float32 (the digest is taken before halving), nearly the same vectors.
    half = Encoder(device="cpu", cache=False)
    half.precision = "float16"
    assert half.model.dtype == torch_float16()
    assert half.fingerprint.id == encoder.fingerprint.id
    texts = [d.passage for d in film_docs[:4]]
    cosines = np.einsum("ij,ij->i", half.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32),
                        encoder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True))
    assert cosines.min() > 0.999


def torch_float16():
    import torch

    return torch.float16


ray = pytest.importorskip("ray", reason="the Ray backend is the optional extra neural-search[ray]")


@pytest.fixture(scope="module")
def ray_encoder(tmp_path_factory):
    from neural_search.embedding_cache import EmbeddingCache
    from neural_search.ray_encoding import RayEncoder

    # A cache of its own, empty: every vector is encoded by the actor, none comes from the driver.
    encoder = RayEncoder(address="local", actors=1, cache=EmbeddingCache(tmp_path_factory.mktemp("ray-cache") / "e.sqlite"),
                         local_cpus=1, object_store_bytes=200 * 1024 * 1024)
    yield encoder
    encoder.close()


def test_a_ray_run_killed_part_way_resumes_and_writes_every_document_once(ray_encoder, film_docs, tmp_path):
    records = [SourceRecord(i, f"films:{i}", d) for i, d in enumerate(film_docs, start=1)]
    records.insert(9, SourceRecord(10, "films:bad", error="malformed JSON", raw="{"))
    records = [SourceRecord(n, r.location, r.document, r.error, r.raw) for n, r in enumerate(records, start=1)]

    def run(store):
        return Indexer(store, ray_encoder, state_dir=tmp_path / "state", batch_size=4, max_chunk_docs=4, parallel_bulk=2, progress=False,
                       retry=FAST_RETRY).run(records, name="films", source={"films": 20})

    with pytest.raises(Crash):
        run(DyingEmbeddedStore(path=tmp_path / "engine", die_at=3))
    encoded_before = ray_encoder.stats["encoded"]
    assert encoded_before > 0
    summary = run(EmbeddedStore(path=tmp_path / "engine"))
    assert summary.resumed_from > 0
    assert (summary.read, summary.indexed, summary.failed, summary.skipped) == (21, 20, 1, 0)
    store = EmbeddedStore(path=tmp_path / "engine")
    physical = store.resolve("films")
    assert store.ids(physical) == {d.id for d in film_docs} and store.count(physical) == 20
    (dead,) = [json.loads(line) for line in Path(summary.dead_letter).read_text().splitlines()]
    assert dead["location"] == "films:bad"
    # The vectors the actor made are the model's, and the resumed run took the written ones from
    # the driver's cache rather than encoding them again.
    store.refresh(physical)
    local = ray_encoder.local
    local_vectors = local._encode([d.passage for d in film_docs[:5]])
    rows = dict(store._db(physical).execute("SELECT id, vector FROM docs").fetchall())
    got = np.stack([np.frombuffer(rows[d.id], dtype=np.float32) for d in film_docs[:5]])
    np.testing.assert_allclose(got, local_vectors, atol=1e-5)
    assert ray_encoder.stats["cache_hits"] > 0


def test_ray_actors_answer_in_order_with_a_bounded_window(ray_encoder, film_docs):
    from types import SimpleNamespace

    # Documents the cache has not seen (their ids and texts changed), so each batch goes to the actor.
    fresh = [type(d)(id=f"{d.id}-window", title=d.title, text=f"{d.text} (window)") for d in film_docs[:12]]
    batches = [SimpleNamespace(documents=fresh[i : i + 2], n=i) for i in range(0, 12, 2)]
    pulled = []

    def source():
        for batch in batches:
            pulled.append(batch.n)
            yield batch

    out = []
    for batch, vectors in ray_encoder.encode_stream(source()):
        # No more than actors x in_flight_per_actor (1 x 2) batches are pulled ahead of the one answered.
        assert len(pulled) - len(out) <= 2
        out.append((batch.n, vectors.shape))
    assert [n for n, _ in out] == [b.n for b in batches]
    assert all(shape == (2, 384) for _, shape in out)
