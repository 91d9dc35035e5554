"""The bulk pipeline's retry, split, dead-letter and checkpoint logic, with a scripted fake engine.

(Fakes are fine here: this is pure pipeline logic. The same behaviour against real engines is
covered by the conformance and fault-injection tests.)
"""

import json

import numpy as np
import pytest

from neural_search.documents import Document, SourceRecord
from neural_search.engines.base import IndexedDoc, WriteResult
from neural_search.engines.embedded import EmbeddedStore
from neural_search.errors import EngineUnavailable, PayloadTooLarge, TransientEngineError
from neural_search.indexing import BulkWriter, EngineGaveUp, Indexer, RetryPolicy, chunk_by_count_and_bytes

from .hash_encoder import HashEncoder


class ScriptedStore(EmbeddedStore):
    """The embedded engine, with faults injected into write()."""

    def __init__(self, path, script):
        super().__init__(path=path)
        self.script = list(script)
        self.calls = []

    def write(self, physical, docs):
        self.calls.append([d.document.id for d in docs])
        action = self.script.pop(0) if self.script else None
        if action == "down":
            raise EngineUnavailable("embedded", "http://x", "refused")
        if action == "503":
            raise TransientEngineError(503, "busy")
        if action == "413" and len(docs) > 1:
            raise PayloadTooLarge("too big")
        if action == "429-half":
            results = super().write(physical, docs[: len(docs) // 2])
            return results + [WriteResult(d.document.id, False, 429, "es_rejected_execution_exception") for d in docs[len(docs) // 2 :]]
        if action == "crash":
            raise KeyboardInterrupt
        return super().write(physical, docs)


def records(n, bad_every=0):
    out = []
    for i in range(1, n + 1):
        if bad_every and i % bad_every == 0:
            out.append(SourceRecord(i, f"src:{i}", error="malformed JSON", raw="{"))
        else:
            out.append(SourceRecord(i, f"src:{i}", Document(id=f"d{i}", title=f"t{i}", text=f"text {i}")))
    return out


def indexer(store, tmp_path, **kwargs):
    sleeps = []
    idx = Indexer(store, HashEncoder(), state_dir=tmp_path / "state", progress=False, sleep=sleeps.append,
                  retry=kwargs.pop("retry", RetryPolicy(initial_backoff=0.1, max_backoff=0.4, budget_seconds=2)), **kwargs)
    return idx, sleeps


def test_only_items_rejected_with_429_are_resent_with_growing_backoff(tmp_path):
    store = ScriptedStore(tmp_path / "e", ["429-half", "429-half"])
    idx, sleeps = indexer(store, tmp_path, batch_size=8, max_chunk_docs=8)
    summary = idx.run(records(8), name="x", source={})
    assert store.calls[0] == [f"d{i}" for i in range(1, 9)]
    assert store.calls[1] == ["d5", "d6", "d7", "d8"]
    assert store.calls[2] == ["d7", "d8"]
    assert sleeps == [0.1, 0.2]
    assert summary.indexed == 8 and summary.failed == 0 and summary.retries == 2
    assert store.count(store.resolve("x")) == 8


def test_413_splits_the_chunk_until_it_fits(tmp_path):
    store = ScriptedStore(tmp_path / "e", ["413", "413"])
    idx, _ = indexer(store, tmp_path, batch_size=8, max_chunk_docs=8)
    summary = idx.run(records(8), name="x", source={})
    assert [len(c) for c in store.calls] == [8, 4, 2, 2, 4]
    assert summary.indexed == 8


def test_outage_is_ridden_out_within_the_budget(tmp_path):
    store = ScriptedStore(tmp_path / "e", ["down", "503", "down"])
    idx, sleeps = indexer(store, tmp_path, batch_size=4)
    summary = idx.run(records(4), name="x", source={})
    assert sleeps == [0.1, 0.2, 0.4] and summary.indexed == 4


def test_long_outage_stops_with_a_checkpoint_and_the_rerun_resumes(tmp_path):
    store = ScriptedStore(tmp_path / "e", [None, None] + ["down"] * 50)
    idx, _ = indexer(store, tmp_path, batch_size=3)
    with pytest.raises(EngineGaveUp, match="resume"):
        idx.run(records(10, bad_every=4), name="x", source={"s": 1})
    checkpoint = json.loads((tmp_path / "state" / "embedded" / "x.checkpoint.json").read_text())
    assert checkpoint["position"] == 7 and checkpoint["indexed"] == 6 and checkpoint["failed"] == 1
    store.script = []
    summary = idx.run(records(10, bad_every=4), name="x", source={"s": 1})
    assert summary.resumed_from == 7
    assert (summary.read, summary.indexed, summary.failed) == (10, 8, 2)
    physical = store.resolve("x")
    assert store.ids(physical) == {f"d{i}" for i in range(1, 11) if i % 4}
    dead = [json.loads(line) for line in open(summary.dead_letter)]
    assert [d["location"] for d in dead] == ["src:4", "src:8"]
    assert not (tmp_path / "state" / "embedded" / "x.checkpoint.json").exists()


def test_crash_mid_run_resumes_without_duplicates_or_lost_dead_letters(tmp_path):
    store = ScriptedStore(tmp_path / "e", [None, "crash"])
    idx, _ = indexer(store, tmp_path, batch_size=2)
    with pytest.raises(KeyboardInterrupt):
        idx.run(records(9, bad_every=3), name="x", source={"s": 1})
    summary = idx.run(records(9, bad_every=3), name="x", source={"s": 1})
    assert summary.read == 9 and summary.indexed == 6 and summary.failed == 3
    assert summary.read == summary.indexed + summary.skipped + summary.failed
    dead = [json.loads(line)["location"] for line in open(summary.dead_letter)]
    assert dead == ["src:3", "src:6", "src:9"]
    assert store.count(store.resolve("x")) == 6


def test_changed_source_or_restart(tmp_path):
    store = ScriptedStore(tmp_path / "e", [None, "crash"])
    idx, _ = indexer(store, tmp_path, batch_size=2)
    with pytest.raises(KeyboardInterrupt):
        idx.run(records(6), name="x", source={"s": 1})
    with pytest.raises(Exception, match="--restart"):
        idx.run(records(6), name="x", source={"s": 2})
    summary = idx.run(records(6), name="x", source={"s": 2}, restart=True)
    assert summary.resumed_from == 0 and summary.indexed == 6


def test_chunks_respect_count_and_bytes():
    items = [IndexedDoc(Document(id=str(i), text="x" * 1000), np.zeros(4, dtype=np.float32)) for i in range(10)]
    assert [len(c) for c in chunk_by_count_and_bytes(items, 4, 10**9)] == [4, 4, 2]
    assert [len(c) for c in chunk_by_count_and_bytes(items, 100, 2500)] == [2, 2, 2, 2, 2]


def test_retry_policy_delays_are_capped_and_bounded():
    assert list(RetryPolicy(initial_backoff=1, max_backoff=4, budget_seconds=12).delays()) == [1, 2, 4, 4]
    with pytest.raises(ValueError):
        RetryPolicy(initial_backoff=0)


def test_writer_marks_persistent_429_as_engine_overload(tmp_path):
    store = ScriptedStore(tmp_path / "e", ["429-half"] * 20)
    store.create_physical("p", fingerprint={"dimension": 8, "similarity": "cosine", "id": "hash-encoder"})
    writer = BulkWriter(store, "p", retry=RetryPolicy(initial_backoff=0.1, max_backoff=0.1, budget_seconds=0.3), sleep=lambda s: None)
    items = [IndexedDoc(Document(id=f"d{i}", text="t"), np.ones(8, dtype=np.float32)) for i in range(4)]
    with pytest.raises(EngineGaveUp, match="overloaded"):
        writer.write(items)
