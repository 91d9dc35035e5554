"""A node lost in the middle of the work, on the real multi-node clusters (`make cluster-up`).

A cluster node is really stopped (servers/cluster.py down ENGINE --node N) while a bulk run or a
stream of searches is going, and started again afterwards; the cluster must be green again. The
indexes have two shards with one replica each, so every document has a copy that survives.
On Elasticsearch and OpenSearch the node lost is node 1, the first URL the client was given; on
SolrCloud node 2 (node 1 runs the only ZooKeeper, whose loss stops every update: a ZooKeeper
ensemble is what survives that, see README.md), so there a replica goes down.

Each test checks the final state (document count, id set, identical rankings), not just that
nothing was raised; the search test measures and prints the failover window.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from neural_search.engines import IndexLayout, open_store
from neural_search.indexing import Indexer, RetryPolicy
from neural_search.search import SearchClient

from .conformance import films_records
from .conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

CLUSTER_ENGINES = ("elasticsearch", "opensearch", "solr")
LAYOUT = IndexLayout(shards=2, replicas=1)
VICTIM = {"elasticsearch": 1, "opensearch": 1, "solr": 2}
GREEN_TIMEOUT = 240.0
# A search may fail while the cluster notices the loss and moves on; past this it must answer.
FAILOVER_LIMIT = 30.0
QUERIES = ("ship sinks after hitting an iceberg", "dinosaurs brought back to life", "a shark terrorizes a beach town", "robots")


def cluster(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "servers" / "cluster.py"), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
    )
    if result.returncode != 0:
        raise AssertionError(f"servers/cluster.py {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}")


def green(engine: str, urls: tuple[str, ...], collection: str | None = None) -> bool:
    """Every node back and every shard copy assigned (Elasticsearch/OpenSearch health green;
    SolrCloud: every live node registered and every replica of `collection` active)."""
    for url in urls:
        try:
            if engine == "solr":
                status = requests.get(f"{url}/admin/collections", params={"action": "CLUSTERSTATUS", "wt": "json"}, timeout=5).json()
                live = status["cluster"].get("live_nodes", [])
                if len(live) != len(urls):
                    return False
                if collection is None:
                    return True
                shards = status["cluster"]["collections"][collection]["shards"].values()
                return all(r.get("state") == "active" for shard in shards for r in shard["replicas"].values())
            health = requests.get(f"{url}/_cluster/health", timeout=5).json()
            return health["status"] == "green" and health["number_of_nodes"] == len(urls)
        except (requests.RequestException, ValueError, KeyError):
            continue
    return False


def wait_green(engine: str, urls: tuple[str, ...], collection: str | None = None) -> float:
    started = time.monotonic()
    while time.monotonic() - started < GREEN_TIMEOUT:
        if green(engine, urls, collection):
            return time.monotonic() - started
        time.sleep(1)
    raise AssertionError(f"the {engine} cluster was not green within {GREEN_TIMEOUT:.0f} s after the node came back")


def restart(engine: str, urls: tuple[str, ...], collection: str | None = None) -> float:
    """Starts the victim again; seconds until the cluster is green (the node start included)."""
    started = time.monotonic()
    cluster("up", engine, "--node", str(VICTIM[engine]))
    wait_green(engine, urls, collection)
    return time.monotonic() - started


@pytest.fixture(params=CLUSTER_ENGINES)
def engine(request):
    return request.param


@pytest.fixture
def urls(engine, cluster_urls):
    urls = cluster_urls(engine)
    wait_green(engine, urls)  # a previous test's node may still be coming back
    return urls


@pytest.fixture
def store(engine, urls):
    store = open_store(engine, url=",".join(urls), layout=LAYOUT)
    names: list[str] = []
    yield store, names
    # The victim is started again even when the test failed halfway.
    cluster("up", engine, "--node", str(VICTIM[engine]))
    wait_green(engine, urls)
    for name in names:
        physical = store.resolve(name)
        if physical:
            store.drop(physical)
    store.close()


class StopsANode:
    """A store that stops the victim node (in the background, as a crash would come) once
    `after` bulk requests have gone through; everything else is the real store's."""

    def __init__(self, store, engine: str, after: int):
        self._store, self._engine, self._after = store, engine, after
        self.writes = 0
        self.stopper: threading.Thread | None = None

    def __getattr__(self, name):
        return getattr(self._store, name)

    def write(self, physical, docs):
        self.writes += 1
        if self.writes == self._after and self.stopper is None:
            self.stopper = threading.Thread(target=cluster, args=("down", self._engine, "--node", str(VICTIM[self._engine])))
            self.stopper.start()
        return self._store.write(physical, docs)


def test_a_bulk_run_completes_through_a_node_loss(engine, urls, store, encoder, tmp_path):
    real, names = store
    name = f"fault-bulk-{uuid.uuid4().hex[:8]}"
    names.append(name)
    records = films_records()
    wrapped = StopsANode(real, engine, after=3)
    indexer = Indexer(
        wrapped, encoder, state_dir=tmp_path / "state", batch_size=20, max_chunk_docs=10, retry=RetryPolicy(budget_seconds=240), progress=False,
    )
    summary = indexer.run(records, name=name, source={"test": name})
    assert wrapped.stopper is not None, "the node was never stopped: the run had too few bulk requests"
    wrapped.stopper.join(timeout=120)
    assert not green(engine, urls), "the victim node is still in the cluster"
    print(f"\n{engine}: bulk run with node {VICTIM[engine]} stopped after 3 of {wrapped.writes} bulk requests: "
          f"{summary.indexed} indexed, {summary.failed} failed, {summary.retries} retries, {summary.seconds:.1f} s")
    assert (summary.read, summary.indexed, summary.failed, summary.skipped) == (300, 300, 0, 0)
    physical = real.resolve(name)
    assert real.count(physical) == 300
    assert real.ids(physical) == {r.document.id for r in records}
    print(f"{engine}: node {VICTIM[engine]} back and the cluster green in {restart(engine, urls, physical if engine == 'solr' else None):.1f} s")
    assert real.count(physical) == 300


def test_searches_keep_answering_through_a_node_loss(engine, urls, store, encoder, tmp_path):
    real, names = store
    name = f"fault-search-{uuid.uuid4().hex[:8]}"
    names.append(name)
    indexer = Indexer(real, encoder, state_dir=tmp_path / "state", progress=False)
    assert indexer.run(films_records(), name=name, source={"test": name}).indexed == 300
    client = SearchClient(store=real, index=name, encoder=encoder)
    plan = [(q, mode) for q in QUERIES for mode in ("bm25", "knn", "hybrid")]
    expected = {(q, mode): client.search(q, mode=mode, k=10).ids for q, mode in plan}

    outcomes: list[tuple[float, str | None]] = []  # (time, None or what went wrong)
    stop = threading.Event()

    def search_loop():
        i = 0
        while not stop.is_set():
            q, mode = plan[i % len(plan)]
            i += 1
            at = time.monotonic()
            try:
                ids = client.search(q, mode=mode, k=10).ids
                outcomes.append((at, None if ids == expected[(q, mode)] else f"{mode} {q!r}: other hits {ids[:3]}..."))
            except Exception as exc:  # noqa: BLE001 - any failure is recorded, and counted against the node loss
                outcomes.append((at, f"{type(exc).__name__}: {exc}"))

    thread = threading.Thread(target=search_loop)
    thread.start()
    try:
        time.sleep(3)
        killed = time.monotonic()
        cluster("down", engine, "--node", str(VICTIM[engine]))
        stopped = time.monotonic()
        time.sleep(max(10.0, FAILOVER_LIMIT - (stopped - killed)))
    finally:
        stop.set()
        thread.join(timeout=60)
    errors = [(at - killed, what) for at, what in outcomes if what is not None]
    after = [o for o in outcomes if o[0] >= killed]
    window = max((t for t, _ in errors), default=0.0)
    print(f"\n{engine}: {len(after)} searches after node {VICTIM[engine]} was told to stop (it took {stopped - killed:.1f} s to go); "
          f"{len(errors)} failed, failover window {window:.2f} s" + (f"; first failure: {errors[0][1][:200]}" if errors else ""))
    assert len(after) > 20, "too few searches ran during the node loss to tell"
    assert all(t >= 0 for t, _ in errors), f"searches failed before the node was stopped: {errors[:3]}"
    assert window <= FAILOVER_LIMIT, f"searches still failed {window:.1f} s after the node loss: {errors[-3:]}"
    last = outcomes[-10:]
    assert all(what is None for _, what in last), f"the last searches did not all answer as before: {last}"
    print(f"{engine}: node {VICTIM[engine]} back and the cluster green in {restart(engine, urls):.1f} s")
    assert client.search(QUERIES[0], mode="hybrid", k=10).ids == expected[(QUERIES[0], "hybrid")]
