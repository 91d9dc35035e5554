import pytest

from neural_search.engines import open_store

from .conformance import ServerConformance

pytestmark = pytest.mark.integration


class TestOpenSearchConformance(ServerConformance):
    engine = "opensearch"
    engine_fusion = True  # the plugin is installed by servers/opensearch and must be there

    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, engine_url):
        store = open_store("opensearch", url=engine_url("opensearch"))
        yield store
        store.close()
