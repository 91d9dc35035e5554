"""--shards/--replicas on the single-node servers: the layout asked for is the one made, recorded
and reported; an index with another layout is never written into."""

from __future__ import annotations

import pytest

from neural_search.engines import IndexLayout, open_store
from neural_search.errors import ConfigurationError
from neural_search.indexing import Indexer

from .conformance import films_records

pytestmark = pytest.mark.integration

FILMS = 50


@pytest.fixture(params=["elasticsearch", "opensearch"])
def store(request, engine_url):
    store = open_store(request.param, url=engine_url(request.param))
    yield store
    store.close()


def test_the_layout_asked_for_is_made_recorded_and_kept(store, encoder, tmp_path, index_name):
    records = films_records()[:FILMS]
    run = lambda layout, **kw: Indexer(store, encoder, state_dir=tmp_path, layout=layout, progress=False).run(  # noqa: E731
        records, name=index_name, source={"test": index_name}, **kw
    )
    try:
        summary = run(IndexLayout(2, 0))
        assert summary.layout == {"shards": 2, "replicas": 0} and summary.indexed == FILMS
        physical = store.resolve(index_name)
        assert store.layout(physical) == IndexLayout(2, 0)
        meta = store.client.indices.get_mapping(index=physical)[physical]["mappings"]["_meta"]["neural_search"]
        assert meta["layout"] == {"shards": 2, "replicas": 0}

        with pytest.raises(ConfigurationError, match="Nothing was written.*--recreate"):
            run(IndexLayout(1, 0))
        assert store.resolve(index_name) == physical and store.count(physical) == FILMS

        rebuilt = run(IndexLayout(1, 0), recreate=True)
        assert rebuilt.published and store.resolve(index_name) != physical
        assert store.layout(store.resolve(index_name)) == IndexLayout(1, 0)
        assert store.resolve(physical) is None  # the old version was removed
    finally:
        current = store.resolve(index_name)
        if current:
            store.drop(current)


def test_the_default_is_one_shard_and_the_engines_replicas(store, encoder, tmp_path, index_name):
    try:
        Indexer(store, encoder, state_dir=tmp_path, progress=False).run(films_records()[:FILMS], name=index_name, source={"test": index_name})
        assert store.layout(store.resolve(index_name)) == IndexLayout(1, 1)  # Elasticsearch's and OpenSearch's default replicas
    finally:
        current = store.resolve(index_name)
        if current:
            store.drop(current)
