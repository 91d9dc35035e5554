import pytest

from neural_search.engines import open_store

from .conformance import ServerConformance

pytestmark = pytest.mark.integration


class TestSolrConformance(ServerConformance):
    engine = "solr"
    engine_fusion = True  # the plugin is installed by servers/solr and must be there

    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, engine_url):
        store = open_store("solr", url=engine_url("solr"))
        yield store
        store.close()
