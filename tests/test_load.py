"""The search library under load: 16 threads share one SearchClient per engine and run a fixed
number of BM25, kNN and hybrid queries. Every query must succeed with a well-formed result, the
connection pool must stay bounded while it runs, and closing the client must give every socket
back. The throughput is reported on the terminal (and as a junit property)."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from neural_search.engines import open_store
from neural_search.indexing import Indexer
from neural_search.search import SearchClient
from neural_search.sources import read_jsonl

from .conftest import FILMS
from .faults import open_sockets

THREADS = 16
QUERIES_PER_THREAD = 15  # 240 queries per engine
TITANIC = "<dbpedia:Titanic_(1997_film)>"
TEXTS = [
    "ship sinks after hitting an iceberg", "space opera with robots", "a shark terrorizes a beach town",
    "war in vietnam", "cloned dinosaurs escape on an island", "a mafia family", "a pig who wants to be a sheepdog",
    "toys come to life", "astronauts stranded on the moon", "a boxer gets a shot at the title",
    "romantic comedy in new york", "a serial killer investigation", "aliens invade earth", "a musical about a nanny",
    "prison escape", "time travel to the past", "a haunted hotel in winter", "wizard school",
    "bank robbery goes wrong", "the life of a president", "disney animated fairy tale", "spy thriller in the cold war",
    "court room drama", "road trip across america",
]
SEARCHES = [
    {"mode": "bm25"},
    {"mode": "knn"},
    {"mode": "hybrid", "fusion": "rrf"},
    {"mode": "hybrid", "fusion": "linear:minmax"},
    {"mode": "hybrid", "fusion": "rrf", "filters": {"year": {"gte": 1980}}},
]
ENGINES = [
    "embedded",
    pytest.param("elasticsearch", marks=pytest.mark.integration),
    pytest.param("opensearch", marks=pytest.mark.integration),
    pytest.param("solr", marks=pytest.mark.integration),
]


def _store(engine: str, engine_url, tmp_path_factory):
    if engine == "embedded":
        return open_store("embedded", path=tmp_path_factory.mktemp("load-embedded"))
    return open_store(engine, url=engine_url(engine))


@pytest.fixture(scope="module")
def loaded(engine_url, encoder, tmp_path_factory):
    """One index of the 300 films per engine, built on first use, dropped at the end."""
    built: dict[str, tuple] = {}

    def get(engine: str):
        if engine not in built:
            store = _store(engine, engine_url, tmp_path_factory)
            name = f"t-load-{uuid.uuid4().hex[:8]}"
            summary = Indexer(store, encoder, state_dir=tmp_path_factory.mktemp("load-state"), progress=False).run(
                read_jsonl(FILMS), name=name, source={"films": 1}
            )
            assert summary.indexed == 300
            built[engine] = (store, name)
        return built[engine]

    yield get
    for store, name in built.values():
        physical = store.resolve(name)
        if physical:
            store.drop(physical)
        store.close()


def report(request, line: str) -> None:
    """Straight to the terminal, past output capturing."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\n" + line)
    else:
        reporter.write_line(line)


@pytest.mark.parametrize("engine", ENGINES)
def test_sixteen_threads_share_one_client(engine, loaded, encoder, engine_url, tmp_path_factory, request, record_property):
    admin_store, name = loaded(engine)
    for text in TEXTS:  # the query vectors come from the encoder's LRU during the run
        encoder.encode_query(text)

    before = open_sockets()
    if engine == "embedded":
        store = admin_store
    else:
        store = open_store(engine, url=engine_url(engine))
    client = SearchClient(store=store, index=name, encoder=encoder)
    peak = {"sockets": before}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            peak["sockets"] = max(peak["sockets"], open_sockets())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(worker_id: int) -> None:
        for n in range(QUERIES_PER_THREAD):
            text = TEXTS[(worker_id * 7 + n) % len(TEXTS)]
            options = SEARCHES[(worker_id + n) % len(SEARCHES)]
            t0 = time.perf_counter()
            try:
                result = client.search(text, k=10, **options)
                ranks = [h.rank for h in result.hits]
                assert 0 < len(result.hits) <= 10, "no hits"
                assert ranks == list(range(1, len(ranks) + 1)), f"ranks {ranks}"
                assert len(set(result.ids)) == len(result.ids), "duplicate ids"
                if text.startswith("ship sinks") and options["mode"] != "bm25" and "filters" not in options:
                    assert result.ids[0] == TITANIC, f"top hit {result.ids[0]}"
                if "filters" in options:
                    assert all(h.metadata.get("year", 0) >= 1980 for h in result.hits), "filter ignored"
            except Exception as exc:  # every failure is collected and reported
                with lock:
                    errors.append(f"{options} {text!r}: {type(exc).__name__}: {exc}")
            finally:
                with lock:
                    latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(worker, range(THREADS)))
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join(5)
    during = peak["sockets"] - before
    if engine != "embedded":
        client.close()
    after = open_sockets()

    total = THREADS * QUERIES_PER_THREAD
    qps = total / elapsed
    p50 = statistics.median(latencies) * 1000
    p95 = statistics.quantiles(latencies, n=20)[18] * 1000
    line = (f"load[{engine}]: {total} queries from {THREADS} threads in {elapsed:.1f} s = {qps:.0f} queries/s "
            f"(p50 {p50:.0f} ms, p95 {p95:.0f} ms), {len(errors)} errors, up to {during} sockets open, "
            f"{after - before:+d} after close")
    report(request, line)
    record_property("queries_per_second", round(qps, 1))
    record_property("p95_ms", round(p95, 1))

    assert not errors, "\n".join(errors[:10])
    assert len(latencies) == total
    # The pool is bounded (32 connections per client, BM25 and kNN legs of 16 hybrid queries at once).
    assert during <= 34, line
    if engine != "embedded":
        assert during > 0, "the sampler never saw the client's connections"
    assert after <= before, f"{after - before} sockets leaked: {line}"
