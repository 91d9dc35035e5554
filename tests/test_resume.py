"""Resumable indexing: a run killed at any point, then run again, indexes every document exactly once.

Two layers:
- in process, exhaustively: a crash (a BaseException, which nothing in the pipeline catches, as
  with SIGKILL) is injected before and after every engine call, checkpoint save and dead-letter
  append, including torn writes, and then the run is repeated (itself crashing once more at
  another point) until it finishes; the final state is checked every time;
- for real: `neural-search index` runs as a subprocess against Elasticsearch, OpenSearch and Solr,
  is SIGKILLed after some batches and again at a random moment, and is run again until it
  finishes; counts, id sets, the dead-letter file and leftover indexes are checked.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from neural_search.checkpoints import Checkpoint, CheckpointFile
from neural_search.dead_letter import DeadLetterFile
from neural_search.documents import Document, SourceRecord
from neural_search.engines import open_store
from neural_search.engines.embedded import EmbeddedStore
from neural_search.errors import ConfigurationError
from neural_search.indexing import Indexer, RetryPolicy

from .conftest import FILMS, REPO
from .hash_encoder import HashEncoder
from .faults import OnCheckpoint, TcpProxy, drop_everything, physical_indexes, read_checkpoint


class Crash(BaseException):
    """Stands in for SIGKILL: not an Exception, so no handler in the pipeline swallows it."""


class Faults:
    """Counts events (before and after every engine call, checkpoint save and dead-letter
    append) and raises Crash at event number `crash_at`; None never crashes."""

    def __init__(self, crash_at: int | None):
        self.crash_at = crash_at
        self.events = 0
        self.where: str | None = None
        self._lock = threading.Lock()

    def tick(self, what: str) -> None:
        with self._lock:
            self.events += 1
            hit = self.events == self.crash_at
        if hit:
            self.where = what
            raise Crash(what)

    def claim(self, what: str) -> bool:
        """Takes the next event if it is the crash, atomically (writer threads tick meanwhile):
        the caller then tears its write and raises Crash."""
        with self._lock:
            if self.crash_at != self.events + 1:
                return False
            self.events += 1
        self.where = what
        return True


class CrashingStore:
    """Delegates to a real store; every call is an event before and after it happens. With
    `write_delay`, each write lingers so that parallel writer threads really overlap; the most
    writes seen in flight at once is kept in `overlap` (a dict shared across runs)."""

    def __init__(self, store, faults: Faults, *, write_delay: float = 0.0, overlap: dict | None = None):
        self._store = store
        self._faults = faults
        self.engine = store.engine
        self._delay = write_delay
        self._overlap = overlap if overlap is not None else {}
        self._lock = threading.Lock()
        self._writing = 0

    def write(self, physical, docs):
        with self._lock:
            self._writing += 1
            self._overlap["max"] = max(self._overlap.get("max", 0), self._writing)
        try:
            self._faults.tick("before write")
            time.sleep(self._delay)
            out = self._store.write(physical, docs)
            self._faults.tick("after write")
            return out
        finally:
            with self._lock:
                self._writing -= 1

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args, **kwargs):
            self._faults.tick(f"before {name}")
            out = attr(*args, **kwargs)
            self._faults.tick(f"after {name}")
            return out

        return call


@pytest.fixture
def crashing_files(monkeypatch):
    """Routes checkpoint saves and dead-letter appends through the current Faults, with torn
    writes: a checkpoint whose temp file is written but not renamed, half a dead-letter batch.
    (fsync is a no-op and the files live on tmpfs where there is one: the process "dies", the
    machine does not, and the matrix runs hundreds of times.)"""
    state = {"faults": Faults(None), "shm": None}
    save, append = CheckpointFile.save, DeadLetterFile.append

    def crashing_save(self, checkpoint):
        faults = state["faults"]
        faults.tick("before checkpoint save")
        if faults.claim("torn checkpoint save"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.with_name(self.path.name + ".tmp").write_text('{"torn": ')
            raise Crash("torn checkpoint save")
        save(self, checkpoint)
        faults.tick("after checkpoint save")

    def crashing_append(self, entries):
        faults = state["faults"]
        faults.tick("before dead-letter append")
        if entries and faults.claim("torn dead-letter append"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            text = "".join(json.dumps(e, default=str) + "\n" for e in entries)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(text[: max(1, len(text) // 2)])
            raise Crash("torn dead-letter append")
        append(self, entries)
        faults.tick("after dead-letter append")

    monkeypatch.setattr(CheckpointFile, "save", crashing_save)
    monkeypatch.setattr(DeadLetterFile, "append", crashing_append)
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        state["shm"] = Path(tempfile.mkdtemp(prefix="ns-crash-", dir="/dev/shm"))
    yield state
    if state["shm"] is not None:
        shutil.rmtree(state["shm"], ignore_errors=True)


def records(n: int) -> list[SourceRecord]:
    """n source records: every 5th is malformed, every 7th is empty (skipped), the rest documents."""
    out = []
    for i in range(1, n + 1):
        if i % 5 == 0:
            out.append(SourceRecord(i, f"src:{i}", error="malformed JSON", raw="{"))
        elif i % 7 == 0:
            out.append(SourceRecord(i, f"src:{i}", Document(id=f"d{i}", title="", text="  ")))
        else:
            out.append(SourceRecord(i, f"src:{i}", Document(id=f"d{i}", title=f"title {i}", text=f"text {i}")))
    return out


def expected_ids(n: int) -> set[str]:
    return {f"d{i}" for i in range(1, n + 1) if i % 5 and i % 7}


def run_once(root: Path, faults: Faults, state: dict, n: int, *, parallel_bulk: int = 1, **kwargs):
    state["faults"] = faults
    overlap = state.setdefault("overlap", {})
    store = CrashingStore(EmbeddedStore(path=root / "engine"), faults, write_delay=0.002 if parallel_bulk > 1 else 0.0, overlap=overlap)
    indexer = Indexer(store, HashEncoder(), state_dir=root / "state", batch_size=3, max_chunk_docs=2, progress=False,
                      parallel_bulk=parallel_bulk, retry=RetryPolicy(initial_backoff=0.01, max_backoff=0.01, budget_seconds=0.1))
    return indexer.run(records(n), name="films", source={"s": n}, **kwargs)


def check_final_state(root: Path, summary, n: int, *, old_ids: set[str] | None = None) -> None:
    store = EmbeddedStore(path=root / "engine")
    physical = store.resolve("films")
    assert physical is not None
    # No orphaned versions: exactly the index the name serves.
    assert physical_indexes(store, "films") == {physical}
    ids = store.ids(physical)
    assert ids == expected_ids(n) | (old_ids or set())
    assert store.count(physical) == len(ids)
    assert (summary.read, summary.indexed) == (n, len(expected_ids(n)))
    assert summary.read == summary.indexed + summary.skipped + summary.failed
    lines = Path(summary.dead_letter).read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]  # no torn line survives
    locations = sorted(e["location"] for e in entries)
    assert locations == sorted(f"src:{i}" for i in range(1, n + 1) if i % 5 == 0 or (i % 7 == 0))
    assert {e["kind"] for e in entries if int(e["location"][4:]) % 5 == 0} == {"failed"}
    state = root / "state" / "embedded"
    assert not (state / "films.checkpoint.json").exists()
    assert not (state / "films.checkpoint.json.tmp").exists()


def crash_matrix(tmp_path: Path, crashing_files: dict, n: int, prepare=None, old_ids=None, **run_kwargs) -> int:
    """Crashes a run at every event in turn; each time the rerun crashes once more (at another
    event) and a third run finishes. Answers how many crash points were exercised."""
    crash_at = 1
    base = crashing_files.get("shm") or tmp_path
    while True:
        root = base / f"k{crash_at}"
        if prepare:
            prepare(root, crashing_files)
        first = Faults(crash_at)
        try:
            summary = run_once(root, first, crashing_files, n, **run_kwargs)
        except Crash:
            pass
        else:
            assert first.events < crash_at
            check_final_state(root, summary, n, old_ids=old_ids)
            return crash_at - 1
        second = Faults(crash_at % 11 + 1)
        try:
            summary = run_once(root, second, crashing_files, n, **run_kwargs)
        except Crash:
            summary = run_once(root, Faults(None), crashing_files, n, **run_kwargs)
        try:
            check_final_state(root, summary, n, old_ids=old_ids)
        except AssertionError as exc:
            raise AssertionError(f"crash at event {crash_at} ({first.where}), then at {second.crash_at} ({second.where}): {exc}") from exc
        crash_at += 1


def test_crash_at_every_point_of_a_new_index(tmp_path, crashing_files):
    points = crash_matrix(tmp_path, crashing_files, 22)
    print(f"{points} crash points")
    assert points > 40  # every engine call, save and append of a 22-record run, before and after


def _serving_version(old: set[str]):
    """A `prepare` for crash_matrix: `films` already serves films__v1 holding the `old` ids."""

    def prepare(root, state):
        state["faults"] = Faults(None)
        store = EmbeddedStore(path=root / "engine")
        store.create_physical("films__v1", fingerprint=HashEncoder.fingerprint.to_dict())
        store.write("films__v1", [_item(i) for i in sorted(old)])
        store.publish("films", "films__v1")

    return prepare


def test_crash_at_every_point_of_a_rebuild_that_replaces_a_serving_version(tmp_path, crashing_files):
    points = crash_matrix(tmp_path, crashing_files, 15, prepare=_serving_version({f"old{i}" for i in range(4)}), recreate=True)
    assert points > 30


def test_crash_at_every_point_of_an_update_in_place(tmp_path, crashing_files):
    old = {f"old{i}" for i in range(3)}
    points = crash_matrix(tmp_path, crashing_files, 15, prepare=_serving_version(old), old_ids=old)
    assert points > 30


# With several bulk requests in flight the events of the writer threads interleave, so a crash
# point means "the k-th event of this run", whichever thread meets it; a crash in one writer
# thread leaves the others' batches written but unacknowledged, which the resumed run rewrites.


@pytest.mark.parametrize("parallel", [2, 4])
def test_crash_at_every_point_with_bulk_requests_in_flight(tmp_path, crashing_files, parallel):
    points = crash_matrix(tmp_path, crashing_files, 22, parallel_bulk=parallel)
    assert points > 40
    assert crashing_files["overlap"]["max"] >= 2, "the writes never overlapped: the matrix did not exercise parallel writers"


def test_crash_at_every_point_of_a_parallel_rebuild_that_replaces_a_serving_version(tmp_path, crashing_files):
    points = crash_matrix(tmp_path, crashing_files, 15, prepare=_serving_version({f"old{i}" for i in range(4)}), recreate=True,
                          parallel_bulk=3)
    assert points > 30 and crashing_files["overlap"]["max"] >= 2


def _item(doc_id: str):
    from neural_search.engines.base import IndexedDoc

    document = Document(id=doc_id, title=doc_id, text="old")
    return IndexedDoc(document, HashEncoder().encode_documents([document])[0])


# -- what a resumed run refuses or does on purpose ------------------------------------------------


def _indexer(root: Path, store=None, **kwargs) -> Indexer:
    return Indexer(store or EmbeddedStore(path=root / "engine"), HashEncoder(), state_dir=root / "state", batch_size=3,
                   progress=False, retry=RetryPolicy(initial_backoff=0.01, max_backoff=0.01, budget_seconds=0.1), **kwargs)


def _crash_after_batches(root: Path, batches: int, **run_kwargs) -> str:
    calls = {"n": 0}
    base = EmbeddedStore(path=root / "engine")

    class Store(EmbeddedStore):
        def write(self, physical, docs):
            calls["n"] += 1
            if calls["n"] > batches:
                raise Crash("write")
            return super().write(physical, docs)

    with pytest.raises(Crash):
        _indexer(root, Store(path=base.root)).run(records(20), name="films", source={"s": 20}, **run_kwargs)
    return read_checkpoint(root / "state" / "embedded" / "films.checkpoint.json")["physical"]


def test_restart_starts_over_and_drops_the_unfinished_version(tmp_path):
    unfinished = _crash_after_batches(tmp_path, 2)
    store = EmbeddedStore(path=tmp_path / "engine")
    assert physical_indexes(store, "films") == {unfinished}
    summary = _indexer(tmp_path).run(records(20), name="films", source={"s": 20}, restart=True)
    assert summary.resumed_from == 0 and summary.read == 20
    physical = store.resolve("films")
    assert physical != unfinished and physical_indexes(store, "films") == {physical}
    assert store.ids(physical) == expected_ids(20)


def test_restart_never_drops_a_version_that_was_already_published(tmp_path):
    # Killed after the name was switched to the new version but before the checkpoint was removed.
    store = EmbeddedStore(path=tmp_path / "engine")
    summary = _indexer(tmp_path).run(records(10), name="films", source={"s": 10})
    physical = store.resolve("films")
    checkpoint = Checkpoint(engine="embedded", index="films", physical=physical, publish=True, previous=None,
                            source={"s": 10}, model_id="hash-encoder", position=10, extra={"phase": "publishing"})
    CheckpointFile(tmp_path / "state" / "embedded" / "films.checkpoint.json").save(checkpoint)
    summary = _indexer(tmp_path).run(records(10), name="films", source={"s": 10}, restart=True)
    assert store.resolve("films") is not None and store.ids(store.resolve("films")) == expected_ids(10)
    assert len(physical_indexes(store, "films")) == 1
    assert summary.indexed == len(expected_ids(10))


def test_a_changed_source_or_model_is_refused_until_restart(tmp_path):
    _crash_after_batches(tmp_path, 1)
    with pytest.raises(ConfigurationError, match="--restart"):
        _indexer(tmp_path).run(records(20), name="films", source={"s": 21})
    summary = _indexer(tmp_path).run(records(20), name="films", source={"s": 20})
    assert summary.resumed_from > 0 and summary.indexed == len(expected_ids(20))


def test_corrupt_or_foreign_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "state" / "embedded" / "films.checkpoint.json"
    path.parent.mkdir(parents=True)
    for content in ("{not json", '{"some": "thing"}', "[]"):
        path.write_text(content)
        with pytest.raises(ConfigurationError, match="--restart") as info:
            _indexer(tmp_path).run(records(5), name="films", source={"s": 5})
        assert str(path) in str(info.value)
    summary = _indexer(tmp_path).run(records(5), name="films", source={"s": 5}, restart=True)
    assert summary.read == 5 and not path.exists()


def test_two_runs_on_the_same_index_cannot_interleave(tmp_path):
    started, release = threading.Event(), threading.Event()

    class Slow(EmbeddedStore):
        def write(self, physical, docs):
            started.set()
            release.wait(10)
            return super().write(physical, docs)

    outcome = {}
    first = threading.Thread(target=lambda: outcome.setdefault("first", _indexer(tmp_path, Slow(path=tmp_path / "engine")).run(
        records(6), name="films", source={"s": 6})))
    first.start()
    assert started.wait(10)
    with pytest.raises(ConfigurationError, match="another neural-search run"):
        _indexer(tmp_path).run(records(6), name="films", source={"s": 6})
    release.set()
    first.join(10)
    assert outcome["first"].indexed == len(expected_ids(6))
    # The lock went with the run: the next one may go ahead.
    assert _indexer(tmp_path).run(records(6), name="films", source={"s": 6}).indexed == len(expected_ids(6))


def test_dead_letter_truncate_never_pads(tmp_path):
    dead = DeadLetterFile(tmp_path / "d.jsonl")
    dead.append([{"a": 1}])
    size = dead.size()
    dead.truncate(size + 100)
    assert dead.size() == size
    dead.truncate(0)
    assert dead.size() == 0 and dead.entries() == []


# -- SIGKILL of the real command, against the real engines ------------------------------------------

from neural_search.registry import SERVER_ENGINES  # noqa: E402


def _source_with_bad_lines(path: Path) -> tuple[set[str], list[int], list[int]]:
    """The 300 films plus broken lines; answers (ids, failed line numbers, skipped line numbers)."""
    lines = FILMS.read_text(encoding="utf-8").splitlines()
    ids = {json.loads(line)["_id"] for line in lines}
    out, failed, skipped = [], [], []
    for number, line in enumerate(lines, start=1):
        out.append(line)
        if number == 40:
            out.append('{"_id": "broken", "title": "no closing brace"')
            failed.append(len(out))
        if number == 130:
            out.append('{"_id": "empty-film", "title": "", "text": ""}')
            skipped.append(len(out))
        if number == 250:
            out.append('["not", "an", "object"]')
            failed.append(len(out))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return ids, failed, skipped


class CommandRuns:
    """Runs `neural-search index` for one engine through a slowing proxy, SIGKILLs it on cue."""

    def __init__(self, engine: str, url: str, tmp: Path, source: Path, name: str):
        self.engine, self.url, self.tmp, self.source, self.name = engine, url, tmp, source, name
        self.state = tmp / "state"
        self.checkpoint = self.state / engine / f"{name}.checkpoint.json"
        self.outputs: list[tuple[int, str, str]] = []

    def command(self, proxy_url: str) -> list[str]:
        return [
            sys.executable, "-m", "neural_search.cli", "index", "--engine", self.engine, "--url", proxy_url,
            "--source", str(self.source), "--index", self.name, "--state-dir", str(self.state),
            "--batch-size", "16", "--chunk-docs", "8", "--retry-budget", "30", "--quiet", "--json",
        ]

    def run(self, kill_at: int | None, jitter: float = 0.0) -> int:
        """One run; SIGKILLed `jitter` seconds after the checkpoint passes position `kill_at`."""
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
        with TcpProxy(self.url) as proxy:
            proxy.delay = 0.03
            process = subprocess.Popen(self.command(proxy.url), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            watcher = None
            if kill_at is not None:
                def kill():
                    time.sleep(jitter)
                    process.send_signal(signal.SIGKILL)

                watcher = OnCheckpoint(self.checkpoint, kill_at, kill, timeout=240)
            try:
                out, err = process.communicate(timeout=240)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                if watcher is not None:
                    watcher.cancel()
        self.outputs.append((process.returncode, out, err))
        return process.returncode


@pytest.mark.integration
def test_sigkilled_command_resumes_on_every_engine(engine_url, tmp_path):
    """Each engine: killed at a random moment after some batches, one of them killed again while it
    resumes, then run to the end. The three engines run side by side (the model load dominates).
    The random choices come from a seed that failure messages print."""
    source = tmp_path / "films-with-bad-lines.jsonl"
    ids, failed_lines, skipped_lines = _source_with_bad_lines(source)
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    runs = {}
    for engine in SERVER_ENGINES:
        url = engine_url(engine)
        runs[engine] = CommandRuns(engine, url, tmp_path / engine, source, f"t-kill-{engine[:4]}-{os.getpid()}-{seed}")
    stores = {engine: open_store(engine, url=run.url) for engine, run in runs.items()}
    # Every engine: killed at a random moment after a random batch, then run to the end; one
    # engine (a different one each time) is killed a second time while it resumes.
    twice = rng.choice(SERVER_ENGINES)
    schedules = {}
    for engine in runs:
        first = (rng.randrange(16, 112, 16), rng.uniform(0.0, 0.3))
        again = [(rng.randrange(first[0] + 48, 192, 16), rng.uniform(0.0, 0.3))] if engine == twice else []
        schedules[engine] = [first, *again, (None, 0.0)]
    errors: dict[str, BaseException] = {}

    def drive(engine: str) -> None:
        try:
            for kill_at, jitter in schedules[engine]:
                code = runs[engine].run(kill_at, jitter)
                if kill_at is None:
                    assert code == 0, runs[engine].outputs[-1]
                elif code == 0:
                    return  # finished before the kill landed: the remaining runs have nothing to do
                else:
                    assert code == -signal.SIGKILL, runs[engine].outputs[-1]
                    assert runs[engine].checkpoint.exists()
        except BaseException as exc:  # reported below
            errors[engine] = exc

    try:
        threads = [threading.Thread(target=drive, args=(engine,)) for engine in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(600)
        assert not errors, f"seed {seed}, schedules {schedules}: {errors}"
        for engine, run in runs.items():
            store = stores[engine]
            killed = [o for o in run.outputs if o[0] == -signal.SIGKILL]
            assert killed, f"{engine}: the run finished before the first kill"
            summary = json.loads(run.outputs[-1][1])
            assert summary["resumed_from"] > 0, engine
            assert (summary["read"], summary["indexed"], summary["failed"], summary["skipped"]) == (303, 300, 2, 1), engine
            physical = store.resolve(run.name)
            assert physical is not None and summary["published"]
            store.refresh(physical)
            assert store.count(physical) == 300, engine
            assert store.ids(physical) == ids, engine
            assert physical_indexes(store, run.name) == {physical}, f"{engine}: leftover indexes"
            dead = [json.loads(line) for line in Path(summary["dead_letter"]).read_text().splitlines()]
            assert sorted(int(e["location"].rsplit(":", 1)[1]) for e in dead if e["kind"] == "failed") == failed_lines, engine
            assert [int(e["location"].rsplit(":", 1)[1]) for e in dead if e["kind"] == "skipped"] == skipped_lines, engine
            assert not run.checkpoint.exists()
    finally:
        for engine, run in runs.items():
            drop_everything(stores[engine], run.name)
            stores[engine].close()


class CrashAt:
    """Faults for CrashingStore that crash at every event named `where` ("after publish")."""

    def __init__(self, where: str):
        self.where = where

    def tick(self, what: str) -> None:
        if what == self.where:
            raise Crash(what)


@pytest.mark.integration
@pytest.mark.parametrize("engine", SERVER_ENGINES)
def test_killed_right_after_a_new_name_was_published_on_a_real_engine(engine, engine_url, encoder, tmp_path, index_name):
    """A first build of a name, killed right after the switch (Solr renames the core: the name
    now holds the data and the versioned core is gone); the rerun only finishes the run."""
    from neural_search.sources import read_jsonl

    films = list(read_jsonl(FILMS))[:40]
    store = open_store(engine, url=engine_url(engine))
    state = tmp_path / "state"
    try:
        with pytest.raises(Crash):
            Indexer(CrashingStore(store, CrashAt("after publish")), encoder, state_dir=state, progress=False).run(
                films, name=index_name, source={"v": 1})
        built = read_checkpoint(state / engine / f"{index_name}.checkpoint.json")["physical"]
        assert store.serves(index_name, built), "the adapter sees the switch it made"
        summary = Indexer(store, encoder, state_dir=state, progress=False).run(films, name=index_name, source={"v": 1})
        physical = store.resolve(index_name)
        store.refresh(physical)
        assert store.ids(physical) == {r.document.id for r in films}
        assert physical_indexes(store, index_name) == {physical}, "a version was left behind"
        assert summary.published and (summary.read, summary.indexed, summary.count_in_engine) == (40, 40, 40)
    finally:
        drop_everything(store, index_name)
        store.close()


@pytest.mark.integration
@pytest.mark.parametrize("engine", SERVER_ENGINES)
@pytest.mark.parametrize("crash", ["after create_physical", "after publish", "before drop"])
def test_killed_while_creating_or_switching_versions_on_a_real_engine(engine, crash, engine_url, encoder, tmp_path, index_name):
    """A rebuild (--recreate) of a name that serves 20 films, with 40 other films: killed right
    after the new version is created, right after the name was switched to it, or just before
    the old version is dropped; the rerun must leave the name serving the 40, and nothing else."""
    from neural_search.sources import read_jsonl

    films = [r for r in read_jsonl(FILMS)]
    store = open_store(engine, url=engine_url(engine))
    state = tmp_path / "state"
    try:
        Indexer(store, encoder, state_dir=state, progress=False).run(films[:20], name=index_name, source={"v": 1})
        crashing = CrashingStore(store, CrashAt(crash))
        with pytest.raises(Crash):
            Indexer(crashing, encoder, state_dir=state, progress=False).run(films[20:60], name=index_name, source={"v": 2}, recreate=True)
        summary = Indexer(store, encoder, state_dir=state, progress=False).run(films[20:60], name=index_name, source={"v": 2}, recreate=True)
        physical = store.resolve(index_name)
        store.refresh(physical)
        ids = store.ids(physical)
        expected = {r.document.id for r in films[20:60]}
        assert ids == expected and store.count(physical) == 40
        assert physical_indexes(store, index_name) == {physical}, "the old or an unfinished version was left behind"
        assert summary.published and summary.read == 40
    finally:
        drop_everything(store, index_name)
        store.close()
