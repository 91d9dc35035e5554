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
from neural_search.bulk import batches, encoded, written
from neural_search.checkpoints import Checkpoint
from neural_search.dead_letter import DeadLetterFile
from neural_search.errors import TRANSIENT_STATUSES, AuthenticationError, ConfigurationError, EngineUnavailable, PayloadTooLarge, TransientEngineError
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
        if action in ("429-half", "502-half"):
            status = int(action[:3])
            results = super().write(physical, docs[: len(docs) // 2])
            return results + [WriteResult(d.document.id, False, status, "es_rejected_execution_exception") for d in docs[len(docs) // 2 :]]
        if action == "400-first":
            return [WriteResult(docs[0].document.id, False, 400, "mapper_parsing_exception")] + super().write(physical, docs[1:])
        if action == "401":
            raise AuthenticationError("embedded", "http://x", 401, "authentication failed (401)")
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
    with pytest.raises(ConfigurationError, match="--restart"):
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


def test_documents_rejected_with_502_are_resent_not_dead_lettered(tmp_path):
    # One set of transient statuses for whole requests and single documents alike.
    store = ScriptedStore(tmp_path / "e", ["502-half"])
    idx, sleeps = indexer(store, tmp_path, batch_size=8, max_chunk_docs=8)
    summary = idx.run(records(8), name="x", source={})
    assert store.calls[1] == ["d5", "d6", "d7", "d8"] and sleeps == [0.1]
    assert (summary.indexed, summary.failed, summary.retries) == (8, 0, 1)
    assert DeadLetterFile(summary.dead_letter).entries() == []
    assert {429, 502, 503, 504} == TRANSIENT_STATUSES
    assert all(WriteResult("d", False, status).retryable for status in TRANSIENT_STATUSES)
    assert not any(WriteResult("d", False, status).retryable for status in (400, 401, 403, 404, 409, 413, 500))


def test_refused_credentials_are_not_an_outage_and_are_not_retried(tmp_path):
    assert not issubclass(AuthenticationError, EngineUnavailable)
    store = ScriptedStore(tmp_path / "e", ["401"])
    idx, sleeps = indexer(store, tmp_path, batch_size=4)
    with pytest.raises(AuthenticationError, match="401"):
        idx.run(records(4), name="x", source={})
    assert len(store.calls) == 1 and sleeps == []


def test_a_rejected_document_keeps_what_was_sent(tmp_path):
    store = ScriptedStore(tmp_path / "e", ["400-first"])
    idx, _ = indexer(store, tmp_path, batch_size=4)
    summary = idx.run(records(4), name="x", source={})
    assert (summary.read, summary.indexed, summary.failed) == (4, 3, 1)
    (entry,) = [json.loads(line) for line in open(summary.dead_letter)]
    assert entry["status"] == 400 and entry["reason"] == "mapper_parsing_exception"
    assert entry["document"]["_id"] == "d1" and entry["document"]["text"] == "text 1"


def test_the_chain_yields_one_outcome_per_batch_with_per_document_results(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    store = ScriptedStore(tmp_path / "e", ["400-first"])
    store.create_physical("p", fingerprint=HashEncoder.fingerprint.to_dict())
    writer = BulkWriter(store, "p", retry=RetryPolicy(initial_backoff=0.1, max_backoff=0.1, budget_seconds=0.3), sleep=lambda s: None)
    with ThreadPoolExecutor(max_workers=1) as pool:
        outcomes = list(written(encoded(batches(records(7, bad_every=3), 2), HashEncoder()), writer, pool))
    assert [o.batch.last_position for o in outcomes] == [2, 5, 7]
    assert [[r.item.document.id for r in o.items] for o in outcomes] == [["d1", "d2"], ["d4", "d5"], ["d7"]]
    assert [(o.batch.records, o.indexed, o.failed) for o in outcomes] == [(2, 1, 1), (3, 2, 1), (2, 1, 1)]
    assert [e.get("id") or e["location"] for e in outcomes[0].dead_letters()] == ["d1"]
    assert [e["location"] for e in outcomes[1].dead_letters()] == ["src:3"]


def test_the_checkpoint_owns_the_counts_and_only_moves_forward():
    checkpoint = Checkpoint(engine="embedded", index="x", physical="x__v1", publish=True, previous=None, source={}, model_id="m")
    checkpoint.advance(3, read=3, indexed=2, skipped=0, failed=1)
    checkpoint.advance(5, read=2, indexed=1, skipped=1, failed=0)
    assert (checkpoint.position, checkpoint.counts()) == (5, {"read": 5, "indexed": 3, "skipped": 1, "failed": 1})
    with pytest.raises(ValueError):
        checkpoint.advance(4, read=1, indexed=1, skipped=0, failed=0)


def test_a_publish_whose_answer_was_lost_is_sent_again_and_the_old_version_dropped(tmp_path):
    class LosesAnswer(ScriptedStore):
        lose = 0

        def publish(self, name, physical):
            answer = super().publish(name, physical)
            if self.lose:
                self.lose -= 1
                raise EngineUnavailable("embedded", "http://x", "reset after the switch")
            return answer

    store = LosesAnswer(tmp_path / "e", [])
    idx, sleeps = indexer(store, tmp_path, batch_size=4)
    first = idx.run(records(4), name="x", source={})
    store.lose = 1
    second = idx.run(records(6), name="x", source={"v": 2}, recreate=True)
    assert second.published and sleeps == [0.1]
    assert store.resolve("x") == second.physical != first.physical
    assert store.ids(second.physical) == {f"d{i}" for i in range(1, 7)}
    assert not (store.root / first.physical).exists(), "the replaced version was dropped"
