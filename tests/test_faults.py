"""Engine faults during a bulk run, against the real engines: restarts, cut connections, stalls,
outages longer than the retry budget, 429 backpressure and 413 answers. Every test checks the
final state (document count and id set), not just that nothing was raised.

The local engine process is really stopped and started again (servers/manage.py's Engine); the
other faults go through proxies on 127.0.0.1 (tests/faults.py) in front of the real engine.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from neural_search.cli import main
from neural_search.engines import open_store
from neural_search.errors import EngineUnavailable
from neural_search.indexing import Indexer, RetryPolicy
from neural_search.search import SearchClient
from neural_search.sources import read_jsonl

from .conftest import FILMS, unavailable
from .faults import HttpFaultProxy, OnCheckpoint, TcpProxy, drop_everything, engine_control, is_bulk, physical_indexes, read_checkpoint

pytestmark = pytest.mark.integration

from neural_search.registry import SERVER_ENGINES  # noqa: E402


SMALL = 150  # documents for the proxy-based tests (the restarts use all 300 films)


def films_records(limit: int | None = None):
    return list(read_jsonl(FILMS))[:limit]


@pytest.fixture(scope="module")
def film_ids():
    return {r.document.id for r in films_records()}


@pytest.fixture(scope="module")
def small_ids():
    return {r.document.id for r in films_records(SMALL)}


@pytest.fixture
def small_source(tmp_path):
    path = tmp_path / "films-150.jsonl"
    path.write_text("\n".join(FILMS.read_text(encoding="utf-8").splitlines()[:SMALL]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def direct(engine_url, request):
    """A store that talks to the engine directly (not through a proxy), for checking results;
    drops whatever the test created under its index name."""
    created = []

    def get(engine: str, name: str):
        store = open_store(engine, url=engine_url(engine))
        created.append((store, name))
        return store

    yield get
    for store, name in created:
        drop_everything(store, name)
        store.close()


def quick_retries(budget: float = 30.0) -> RetryPolicy:
    return RetryPolicy(initial_backoff=0.2, max_backoff=1.0, budget_seconds=budget)


def assert_complete(store, name: str, ids: set[str], summary=None) -> None:
    physical = store.resolve(name)
    assert physical is not None
    store.refresh(physical)
    assert store.count(physical) == len(ids)
    assert store.ids(physical) == ids
    assert physical_indexes(store, name) == {physical}, "no unfinished versions left behind"
    if summary is not None:
        assert (summary.read, summary.indexed, summary.failed, summary.skipped) == (len(ids), len(ids), 0, 0)


# -- the engine process is restarted in the middle of the run ----------------------------------------


@pytest.mark.parametrize("engine", SERVER_ENGINES)
def test_engine_restarted_mid_run_is_ridden_out(engine, engine_url, direct, encoder, index_name, tmp_path, film_ids):
    url = engine_url(engine)
    manage = engine_control()
    control = manage.Engine(engine)
    if control.pid() is None or control.url.rstrip("/") != url.rstrip("/"):
        message = f"{engine} at {url} is not the engine servers/manage.py runs ({control.url}); cannot restart it"
        unavailable(message)
    store = direct(engine, index_name)
    old_pid = control.pid()
    events: list[str] = []

    def restart() -> None:
        # Hold the bytes of the request in flight while the engine stops, so the run cannot
        # finish before the outage; then let them hit the stopped engine.
        proxy.set_mode("stall")
        manage.stop(control)
        events.append("stopped")
        proxy.set_mode("pass")
        if manage.up([control], timeout=300) != 0:
            raise RuntimeError(f"{engine} did not come back:\n{control.log_tail()}")
        events.append("started")

    with TcpProxy(url) as proxy:
        proxy.delay = 0.01
        writer = open_store(engine, url=proxy.url)
        indexer = Indexer(writer, encoder, state_dir=tmp_path, batch_size=20, max_chunk_docs=10, progress=False,
                          retry=RetryPolicy(initial_backoff=0.25, max_backoff=1.0, budget_seconds=180))
        checkpoint = indexer.paths(index_name)[0]
        watcher = OnCheckpoint(checkpoint, 60, restart)
        try:
            summary = indexer.run(films_records(), name=index_name, source={"films": 1})
            watcher.join()
        finally:
            watcher.cancel()
            if not control.ready():
                manage.up([control], timeout=300)  # the engines are shared with the tests after this one
            writer.close()
    assert events == ["stopped", "started"]
    assert control.pid() not in (None, old_pid), "the engine process was really replaced"
    assert summary.retries > 0 and summary.resumed_from == 0
    assert_complete(store, index_name, film_ids, summary)
    # A client whose connections predate the restart still searches.
    hits = SearchClient(store=store, index=index_name, encoder=encoder).search("ship sinks after hitting an iceberg", k=3)
    assert hits.ids[0] == "<dbpedia:Titanic_(1997_film)>"


# -- connections cut in flight ------------------------------------------------------------------------


@pytest.mark.parametrize("engine", SERVER_ENGINES)
def test_connections_cut_before_and_after_the_engine_applied_a_write(engine, engine_url, direct, encoder, index_name, tmp_path, small_ids):
    """Every 3rd bulk request is cut before it reaches the engine, every 4th after the engine
    applied it (the client never hears back): retries must neither lose nor duplicate."""
    store = direct(engine, index_name)
    seen = {"bulk": 0}

    def decide(method, path, headers, body):
        if not is_bulk(method, path) or len(body) < 100:
            return None
        seen["bulk"] += 1
        if seen["bulk"] % 4 == 0:
            return "cut-after"
        if seen["bulk"] % 3 == 0:
            return "cut"
        return None

    with HttpFaultProxy(engine_url(engine), decide) as proxy:
        writer = open_store(engine, url=proxy.url)
        indexer = Indexer(writer, encoder, state_dir=tmp_path, batch_size=30, max_chunk_docs=15, progress=False, retry=quick_retries())
        summary = indexer.run(films_records(SMALL), name=index_name, source={"films": 1})
        writer.close()
    cut_before = sum(1 for e in proxy.log if e[2] == 0)
    cut_after = sum(1 for e in proxy.log if e[4] and e[2] < 0)
    assert cut_before >= 3 and cut_after >= 3
    # (the Elasticsearch and OpenSearch clients resend once themselves before the writer retries)
    assert summary.retries > 0
    assert_complete(store, index_name, small_ids, summary)


@pytest.mark.parametrize("engine", SERVER_ENGINES)
def test_every_open_connection_reset_repeatedly(engine, engine_url, direct, encoder, index_name, tmp_path, small_ids):
    store = direct(engine, index_name)
    with TcpProxy(engine_url(engine)) as proxy:
        proxy.delay = 0.02
        writer = open_store(engine, url=proxy.url)
        indexer = Indexer(writer, encoder, state_dir=tmp_path, batch_size=20, max_chunk_docs=10, progress=False, retry=quick_retries())
        stop = threading.Event()

        def chaos():
            while not stop.wait(0.25):
                proxy.drop_all()

        thread = threading.Thread(target=chaos, daemon=True)
        thread.start()
        try:
            summary = indexer.run(films_records(SMALL), name=index_name, source={"films": 1})
        finally:
            stop.set()
            thread.join(5)
            writer.close()
    assert proxy.dropped > 0
    assert_complete(store, index_name, small_ids, summary)


# -- a stalled engine ---------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", SERVER_ENGINES)
def test_stalled_engine_times_out_and_is_retried(engine, engine_url, direct, encoder, index_name, tmp_path, small_ids):
    """Mid-run the engine stops answering (bytes are held, connections stay open) for 4 s; with a
    1.5 s request timeout the writes time out and are retried until it answers again."""
    store = direct(engine, index_name)
    with TcpProxy(engine_url(engine)) as proxy:
        writer = open_store(engine, url=proxy.url, timeout=1.5)
        indexer = Indexer(writer, encoder, state_dir=tmp_path, batch_size=20, max_chunk_docs=10, progress=False, retry=quick_retries())

        def stall():
            proxy.set_mode("stall")
            threading.Timer(4.0, proxy.set_mode, args=("pass",)).start()

        proxy.delay = 0.01
        watcher = OnCheckpoint(indexer.paths(index_name)[0], 60, stall)
        try:
            summary = indexer.run(films_records(SMALL), name=index_name, source={"films": 1})
        finally:
            watcher.cancel()
            proxy.set_mode("pass")
            writer.close()
    assert watcher.fired
    assert summary.retries > 0
    assert_complete(store, index_name, small_ids, summary)


# -- down for longer than the retry budget -----------------------------------------------------------


@pytest.mark.parametrize("engine", SERVER_ENGINES)
def test_outage_longer_than_the_budget_stops_with_a_checkpoint_and_the_rerun_resumes(engine, engine_url, direct, index_name, tmp_path, capsys, small_source, small_ids):
    store = direct(engine, index_name)
    state = tmp_path / "state"
    checkpoint = state / engine / f"{index_name}.checkpoint.json"
    with TcpProxy(engine_url(engine)) as proxy:
        proxy.delay = 0.01
        argv = [
            "index", "--engine", engine, "--url", proxy.url, "--source", str(small_source), "--index", index_name,
            "--state-dir", str(state), "--batch-size", "20", "--chunk-docs", "10", "--retry-budget", "2", "--quiet", "--json",
        ]
        watcher = OnCheckpoint(checkpoint, 60, lambda: proxy.set_mode("down"))
        started = time.monotonic()
        code = main(argv)
        elapsed = time.monotonic() - started
        watcher.cancel()
        captured = capsys.readouterr()
        assert watcher.fired
        assert code == 2, captured
        assert f"{engine} at {proxy.url}" in captured.err
        assert "retry budget" in captured.err and "run the same command again to resume" in captured.err
        saved = read_checkpoint(checkpoint)
        assert saved is not None and 60 <= saved["position"] < SMALL
        assert elapsed < 60  # the budget bounds the wait (plus the model load)
        # The engine is back: the same command resumes from the checkpoint and completes.
        proxy.set_mode("pass")
        assert main(argv) == 0
        summary = json.loads(capsys.readouterr().out)
    assert summary["resumed_from"] == saved["position"]
    assert (summary["read"], summary["indexed"], summary["failed"], summary["skipped"]) == (SMALL, SMALL, 0, 0)
    assert not checkpoint.exists()
    assert_complete(store, index_name, small_ids)


# -- 429 backpressure and 413 -----------------------------------------------------------------------


@pytest.mark.parametrize("engine", SERVER_ENGINES)
def test_429_slows_down_and_413_shrinks_the_batch(engine, engine_url, direct, encoder, index_name, tmp_path, small_ids):
    """The proxy answers 413 to any bulk body over 150 kB (the first chunks hold 64 documents,
    about 600 kB) and 429 to the 2nd, 3rd and 4th of the bulk requests small enough."""
    store = direct(engine, index_name)
    limit = 150_000
    seen = {"bulk": 0, "largest_accepted": 0}

    def decide(method, path, headers, body):
        if not is_bulk(method, path) or len(body) < 100:
            return None
        if len(body) > limit:
            return 413, {"error": {"type": "request_too_large", "reason": f"request body over {limit} bytes"}, "status": 413}
        seen["bulk"] += 1
        if seen["bulk"] in (2, 3, 4):
            return 429, {"error": {"type": "es_rejected_execution_exception", "reason": "queue full"}, "status": 429}
        seen["largest_accepted"] = max(seen["largest_accepted"], len(body))
        return None

    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    with HttpFaultProxy(engine_url(engine), decide) as proxy:
        writer = open_store(engine, url=proxy.url)
        indexer = Indexer(writer, encoder, state_dir=tmp_path, batch_size=64, max_chunk_docs=64, progress=False,
                          retry=RetryPolicy(initial_backoff=0.1, max_backoff=0.5, budget_seconds=20), sleep=sleep)
        summary = indexer.run(films_records(SMALL), name=index_name, source={"films": 1})
        writer.close()
    assert_complete(store, index_name, small_ids, summary)
    assert proxy.answered(429) >= 3
    assert sleeps and sum(sleeps) >= 0.1  # it waited (backoff, then paced the next chunks) instead of failing
    # 413 shrank the chunks once and for all: only the first chunk's halves were refused, the
    # later chunks went out small enough (without that, every 64-document chunk pays 7 refusals).
    assert 1 <= proxy.answered(413) <= 7
    assert 0 < seen["largest_accepted"] <= limit
    assert any("413" in m for m in summary.messages) and any("429" in m for m in summary.messages)


# -- the search side: a clear error while the engine is away, and recovery --------------------------


@pytest.mark.parametrize("engine", SERVER_ENGINES)
def test_search_client_reports_outage_and_recovers(engine, engine_url, direct, encoder, index_name, tmp_path):
    store = direct(engine, index_name)
    Indexer(store, encoder, state_dir=tmp_path, progress=False).run(films_records()[:60], name=index_name, source={"films": 60})
    with TcpProxy(engine_url(engine)) as proxy:
        client = SearchClient(store=open_store(engine, url=proxy.url, timeout=5), index=index_name, encoder=encoder)
        assert client.search("war", mode="bm25", k=3).hits
        proxy.set_mode("down")
        with pytest.raises(EngineUnavailable) as info:
            client.search("war film", mode="hybrid", k=3)
        assert proxy.url in str(info.value)
        proxy.set_mode("pass")
        assert client.search("war film", mode="hybrid", k=3).hits
        client.close()
