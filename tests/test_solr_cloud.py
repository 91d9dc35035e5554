"""The Solr adapter against a real SolrCloud (2 nodes): collections, aliases, shards and replicas,
exact BM25 across shards, engine-side hybrid equal to client-side, failover between nodes.

Node URLs from the `cluster_urls` fixture (NEURAL_SEARCH_CLUSTER_SOLR_URL, default the project's
local cluster). Unreachable: skipped, or failed with NEURAL_SEARCH_REQUIRE_ENGINES=1.
"""

from __future__ import annotations

import socket
import uuid

import pytest

from neural_search.engines.base import IndexLayout
from neural_search.engines.embedded import EmbeddedStore
from neural_search.engines.solr import SolrStore
from neural_search.errors import ConfigurationError, EngineUnavailable
from neural_search.search import SearchClient

from .conformance import films_records, run_indexer
from .conftest import unavailable

pytestmark = pytest.mark.integration

QUERIES = [
    "ship sinks after hitting an iceberg",
    "cloned dinosaurs escape on an island",
    "a boxer fights for the title",
    "space travel to another planet",
    "a love story in Paris",
    "gangsters and the mafia family",
]


@pytest.fixture(scope="module")
def cloud_url(cluster_urls) -> str:
    url = ",".join(cluster_urls("solr"))
    probe = SolrStore(url=url)
    try:
        if probe.mode != "solrcloud":
            unavailable(f"{url} is not a SolrCloud (it reports mode {probe.mode})")
    finally:
        probe.close()
    return url


@pytest.fixture(scope="module")
def store(cloud_url):
    store = SolrStore(url=cloud_url, layout=IndexLayout(2, 1))
    yield store
    store.close()


def _remove(store: SolrStore, name: str) -> None:
    physical = store.resolve(name)
    if physical and physical != name:
        store.cloud._collections("DELETEALIAS", name=name)
    if physical:
        store.drop(physical)


@pytest.fixture(scope="module")
def sharded(store, encoder, tmp_path_factory):
    """The 300 films in 2 shards x 2 copies, built by the Indexer with the store's default layout."""
    name = f"cloud-films-{uuid.uuid4().hex[:8]}"
    summary = run_indexer(store, encoder, tmp_path_factory.mktemp("sharded"), name, films_records())
    assert (summary.indexed, summary.failed) == (300, 0)
    yield name
    _remove(store, name)


@pytest.fixture(scope="module")
def single(cloud_url, encoder, tmp_path_factory):
    """The same films in one shard, one copy: the reference for scores across shards."""
    store = SolrStore(url=cloud_url, layout=IndexLayout(1, 0))
    name = f"cloud-single-{uuid.uuid4().hex[:8]}"
    summary = run_indexer(store, encoder, tmp_path_factory.mktemp("single"), name, films_records())
    assert summary.indexed == 300
    yield store, name
    _remove(store, name)
    store.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_mode_is_detected_as_cloud(store):
    described = store.describe()
    assert store.mode == "solrcloud" and described["mode"] == "solrcloud"
    assert described["live_nodes"] >= 2
    # Live nodes beyond the configured URLs join the rotation.
    assert len(store.nodes.nodes) >= described["live_nodes"]


def test_sharded_index_counts_ids_layout_and_fingerprint(store, sharded, films, encoder):
    physical = store.resolve(sharded)
    assert physical != sharded and physical.startswith(f"{sharded}__v")
    assert store.serves(sharded, physical)
    assert store.count(physical) == 300 and store.count(sharded) == 300
    assert store.ids(physical) == {d.id for d in films}
    assert store.layout(physical) == IndexLayout(2, 1)
    # Read through the alias: the property reached every replica at CREATE.
    assert store.get_fingerprint(sharded) == encoder.fingerprint.to_dict()
    one_copy = store.size_bytes(physical)
    all_copies = sum(
        int(core["index"]["sizeInBytes"])
        for base in store.nodes.nodes
        for core in store._request_at(base, "GET", "/admin/cores", params={"action": "STATUS"})["status"].values()
        if core.get("cloud", {}).get("collection") == physical
    )
    assert 0 < one_copy < all_copies


def test_rebuild_moves_the_alias_and_drops_the_old_collection(cloud_url, encoder, tmp_path, index_name, films):
    store = SolrStore(url=cloud_url, layout=IndexLayout(2, 0))
    try:
        run_indexer(store, encoder, tmp_path, index_name, films_records()[:50])
        before = store.resolve(index_name)
        assert store.layout(before) == IndexLayout(2, 0)
        summary = run_indexer(store, encoder, tmp_path, index_name, films_records()[50:130], recreate=True)
        assert summary.published
        after = store.resolve(index_name)
        assert after not in (None, before, index_name)
        assert before not in store.cloud.collections()
        assert store.resolve(before) is None
        assert store.count(index_name) == 80 and store.ids(after) == {d.id for d in films[50:130]}
        client = SearchClient(store=store, index=index_name, encoder=encoder)
        assert client.search("ship sinks after hitting an iceberg", mode="bm25", k=3).hits
        # Publishing again (its answer lost) changes nothing.
        assert store.publish(index_name, after) is None and store.resolve(index_name) == after
    finally:
        _remove(store, index_name)
        store.close()


def test_a_collection_with_the_logical_name_is_refused_as_alias(store, encoder, index_name):
    store.create_physical(index_name, fingerprint=encoder.fingerprint.to_dict(), layout=IndexLayout(1, 0))
    try:
        assert store.resolve(index_name) == index_name
        with pytest.raises(ConfigurationError, match="cannot become an alias"):
            store.publish(index_name, f"{index_name}__v1")
        with pytest.raises(ConfigurationError, match="already exists"):
            store.create_physical(index_name, fingerprint=encoder.fingerprint.to_dict())
    finally:
        store.drop(index_name)
    assert store.resolve(index_name) is None


def _assert_same_ranking(got, want, tolerance=1e-4):
    """Same scores rank by rank; same ids except where scores tie (ties may order differently across shards)."""
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.score == pytest.approx(b.score, abs=tolerance), (a, b)
    cutoff = want[-1].score
    strict = lambda hits: {h.id for h in hits if h.score > cutoff + tolerance}  # noqa: E731
    assert strict(got) == strict(want)
    scores = {h.id: h.score for h in want}
    for hit in got:
        if hit.id in scores:
            assert hit.score == pytest.approx(scores[hit.id], abs=tolerance)


def test_bm25_across_shards_scores_as_one_shard(store, sharded, single):
    single_store, single_name = single
    assert single_store.layout(single_store.resolve(single_name)) == IndexLayout(1, 0)
    for text in QUERIES:
        got = store.bm25(sharded, text, k=10)
        want = single_store.bm25(single_name, text, k=10)
        assert len(want) == 10
        _assert_same_ranking(got, want)


def test_knn_across_shards_finds_the_exact_neighbours(store, sharded, encoder, tmp_path):
    exact = EmbeddedStore(path=tmp_path / "embedded")
    run_indexer(exact, encoder, tmp_path, "films", films_records())
    reference = exact.resolve("films")
    for text in QUERIES:
        vector = encoder.encode_query(text)
        got = [h.id for h in store.knn(sharded, vector, k=10, num_candidates=50)]
        want = [h.id for h in exact.knn(reference, vector, k=10)]
        assert len(got) == 10
        assert len(set(got) & set(want)) >= 9, (text, got, want)


@pytest.mark.parametrize("fusion", ["rrf", "linear:minmax"])
def test_engine_side_hybrid_equals_client_side(store, sharded, encoder, fusion):
    client = SearchClient(store=store, index=sharded, encoder=encoder)
    assert store.plugin_info(store.resolve(sharded)) is not None, "the hybrid plugin is not installed on the cluster"
    for text in QUERIES[:4]:
        engine = client.search(text, mode="hybrid", fusion=fusion, k=10, candidates=50, fusion_at="engine")
        local = client.search(text, mode="hybrid", fusion=fusion, k=10, candidates=50, fusion_at="client")
        assert engine.fusion_at == "engine" and local.fusion_at == "client"
        assert engine.ids == local.ids, text
        for a, b in zip(engine.hits, local.hits):
            assert a.score == pytest.approx(b.score, rel=1e-6, abs=1e-9)


def test_requests_fail_over_from_a_dead_node(cloud_url, sharded, encoder):
    dead = f"http://127.0.0.1:{_closed_port()}/solr"
    store = SolrStore(url=f"{dead},{cloud_url}")
    try:
        assert store.mode == "solrcloud"
        client = SearchClient(store=store, index=sharded, encoder=encoder)
        for text in QUERIES:
            assert client.search(text, mode="bm25", k=3).hits
            assert len(client.search(text, mode="hybrid", k=5, fusion_at="engine").hits) == 5
        assert store.count(sharded) == 300
        assert dead in store.nodes._down  # set aside, so the next requests do not try it first
    finally:
        store.close()
    nowhere = [f"http://127.0.0.1:{_closed_port()}/solr", f"http://127.0.0.1:{_closed_port()}/solr"]
    if nowhere[0] != nowhere[1]:
        with pytest.raises(EngineUnavailable) as info:
            SolrStore(url=",".join(nowhere)).describe()
        assert all(u in str(info.value) for u in nowhere)


def test_standalone_solr_refuses_shards_and_replicas(engine_url, encoder, index_name):
    url = engine_url("solr")
    store = SolrStore(url=url)
    try:
        assert store.mode == "standalone" and store.describe()["mode"] == "standalone"
        for layout in (IndexLayout(2), IndexLayout(1, 1)):
            with pytest.raises(ConfigurationError, match="standalone Solr.*SolrCloud"):
                store.create_physical(f"{index_name}__v1", fingerprint=encoder.fingerprint.to_dict(), layout=layout)
        assert store.resolve(f"{index_name}__v1") is None
        with pytest.raises(ConfigurationError, match="standalone"):
            SolrStore(url=url, layout=IndexLayout(3, 0)).create_physical(f"{index_name}__v2", fingerprint=encoder.fingerprint.to_dict())
    finally:
        store.close()
