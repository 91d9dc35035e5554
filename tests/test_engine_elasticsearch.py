import pytest

from neural_search.engines import open_store

from .conformance import ServerConformance

pytestmark = pytest.mark.integration


class TestElasticsearchConformance(ServerConformance):
    engine = "elasticsearch"
    engine_fusion_default = True

    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, engine_url):
        store = open_store("elasticsearch", url=engine_url("elasticsearch"))
        yield store
        store.close()
