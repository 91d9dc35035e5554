import pytest

from neural_search.engines import open_store

from .conformance import ServerConformance

pytestmark = pytest.mark.integration


class TestSolrConformance(ServerConformance):
    engine = "solr"
    engine_fusion_default = True
    publishes_by_swap = True

    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, engine_url):
        store = open_store("solr", url=engine_url("solr"))
        yield store
        store.close()

    def physical_versions(self, store, name: str) -> list[str]:
        cores = store._request("GET", "/admin/cores", params={"action": "STATUS"})["status"]
        return sorted(core for core in cores if core.startswith(f"{name}__v"))
