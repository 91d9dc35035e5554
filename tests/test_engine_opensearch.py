import pytest

from neural_search.engines import open_store
from neural_search.search import SearchClient

from .conformance import TITANIC, ServerConformance

pytestmark = pytest.mark.integration


class TestOpenSearchConformance(ServerConformance):
    engine = "opensearch"
    # On one shard OpenSearch's hybrid query costs several times client-side fusion (docs/fusion.md).
    engine_fusion_default = False
    # Its hybrid sub-queries order equal scores by internal doc id, the client's legs by id.
    engine_ties_own_order = True

    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, engine_url):
        store = open_store("opensearch", url=engine_url("opensearch"))
        yield store
        store.close()

    def test_two_shards_default_to_client_side_fusion_with_index_wide_bm25(self, store, encoder, films_index):
        """A two-shard copy of the films index. OpenSearch's hybrid query cannot take
        dfs_query_then_fetch (neural-search#1490), so the default stays client-side there, where
        BM25 uses the whole index's statistics: the same BM25 ranking and scores as on one shard."""
        physical = store.resolve(films_index)
        copy = f"{films_index}-two-shards"
        mapping = store.client.indices.get_mapping(index=physical)[physical]["mappings"]
        store.client.indices.create(index=copy, body={"settings": {"index": {"number_of_shards": 2, "number_of_replicas": 0, "knn": True}}, "mappings": mapping})
        try:
            store.client.reindex(body={"source": {"index": physical}, "dest": {"index": copy}}, refresh=True)
            assert store.layout(copy).shards == 2
            client = SearchClient(store=store, index=copy, encoder=encoder)
            one_shard = SearchClient(store=store, index=films_index, encoder=encoder)
            query = "ship sinks after hitting an iceberg"
            result = client.search(query, mode="hybrid", k=5)
            assert result.fusion_at == "client" and result.ids[0] == TITANIC
            two, one = client.search(query, mode="bm25", k=10), one_shard.search(query, mode="bm25", k=10)
            assert two.ids == one.ids
            assert [h.score for h in two.hits] == pytest.approx([h.score for h in one.hits], rel=1e-5)
            assert client.search(query, mode="hybrid", k=5, fusion_at="engine").fusion_at == "engine"
        finally:
            store.drop(copy)
