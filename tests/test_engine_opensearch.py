import pytest

from neural_search.engines import open_store
from neural_search.search import SearchClient

from .conformance import TITANIC, ServerConformance

pytestmark = pytest.mark.integration


class TestOpenSearchConformance(ServerConformance):
    engine = "opensearch"
    # On one shard OpenSearch's hybrid query costs several times client-side fusion (docs/fusion.md).
    engine_fusion_default = False

    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, engine_url):
        store = open_store("opensearch", url=engine_url("opensearch"))
        yield store
        store.close()

    def test_default_side_is_the_engine_from_two_shards_on(self, store, encoder, films_index):
        """A two-shard copy of the films index: there OpenSearch's hybrid query is the cheaper side."""
        physical = store.resolve(films_index)
        copy = f"{films_index}-two-shards"
        mapping = store.client.indices.get_mapping(index=physical)[physical]["mappings"]
        store.client.indices.create(index=copy, body={"settings": {"index": {"number_of_shards": 2, "number_of_replicas": 0, "knn": True}}, "mappings": mapping})
        try:
            store.client.reindex(body={"source": {"index": physical}, "dest": {"index": copy}}, refresh=True)
            client = SearchClient(store=store, index=copy, encoder=encoder)
            result = client.search("ship sinks after hitting an iceberg", mode="hybrid", k=5)
            assert result.fusion_at == "engine" and result.ids[0] == TITANIC
            one_shard = SearchClient(store=store, index=films_index, encoder=encoder)
            assert one_shard.search("ship sinks after hitting an iceberg", mode="hybrid", k=5).fusion_at == "client"
        finally:
            store.drop(copy)
