import pytest

from neural_search.engines.embedded import EmbeddedStore

from .conformance import StoreConformance


class TestEmbeddedConformance(StoreConformance):
    engine = "embedded"

    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, tmp_path_factory):
        return EmbeddedStore(path=tmp_path_factory.mktemp("embedded"))
