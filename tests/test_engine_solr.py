import pytest

from neural_search.engines import open_store

from .conformance import ServerConformance

pytestmark = pytest.mark.integration


class TestSolrConformance(ServerConformance):
    engine = "solr"

    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, engine_url):
        store = open_store("solr", url=engine_url("solr"))
        yield store
        store.close()
