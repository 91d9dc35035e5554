"""The conformance suite, unchanged, against the multi-node clusters (`make cluster-up`): every
index the suite builds there has two shards with one replica each, spread over the nodes, and the
client is given every node's URL.

What changes on several shards, and is held to the one-shard answers here: BM25 statistics
(dfs_query_then_fetch on Elasticsearch/OpenSearch, ExactStatsCache on SolrCloud), kNN depth per
shard, and fusion across shards on both sides (client and engine plugin).
"""

from __future__ import annotations

import pytest

from neural_search.engines import IndexLayout, open_store

from .conformance import ServerConformance

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

LAYOUT = IndexLayout(shards=2, replicas=1)


class ClusterConformance(ServerConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, cluster_urls):
        store = open_store(cls.engine, url=",".join(cluster_urls(cls.engine)), layout=LAYOUT)
        yield store
        store.close()

    def test_indexes_are_spread_as_asked(self, store, films_index):
        assert store.layout(store.resolve(films_index)) == IndexLayout(2, 1)


class TestElasticsearchCluster(ClusterConformance):
    engine = "elasticsearch"
    engine_fusion_default = True


class TestOpenSearchCluster(ClusterConformance):
    engine = "opensearch"
    # Its hybrid query cannot run with index-wide BM25 statistics on several shards (docs/fusion.md).
    engine_fusion_default = False
    # ... nor its kNN sub-query the standalone one's tail, on other shard copies (docs/fusion.md).
    exact_engine_legs = ()


class TestSolrCloud(ClusterConformance):
    engine = "solr"
    engine_fusion_default = True
