"""Pure logic of running on several nodes: node URLs in the config, index layouts, the Solr node
pool's failover and the CLI flags. No engine needed."""

from __future__ import annotations

import pytest

from neural_search.cli import _layout, build_parser
from neural_search.config import EngineConfig
from neural_search.engines import IndexLayout
from neural_search.engines.embedded import EmbeddedStore
from neural_search.engines.solr_nodes import NodePool, node_url
from neural_search.errors import ConfigurationError, EngineUnavailable

SECRET = "s3cr3t-pa55"


def test_several_node_urls_keep_their_order_and_lose_their_credentials():
    config = EngineConfig.from_env("elasticsearch", url=f"http://indexer:{SECRET}@es1:9200/, http://es2:9200,http://es3:9200")
    assert config.urls == ("http://es1:9200", "http://es2:9200", "http://es3:9200")
    assert config.url == "http://es1:9200"
    assert (config.username, config.password) == ("indexer", SECRET)
    assert SECRET not in repr(config) and SECRET not in str(config.redacted())
    assert EngineConfig(engine="solr", urls=("http://s1:8983/solr", "http://s2:8983/solr")).url == "http://s1:8983/solr"


@pytest.mark.parametrize("url, fix", [
    ("http://a:9200,https://b:9200", "one scheme"),
    ("http://a:9200,http://a:9200/", "listed twice"),
    ("http://a:9200,,http://b:9200", "no empty entries"),
    (f"http://u:{SECRET}@a:9200,http://v:other@b:9200", "different credentials"),
    ("http://a:9200,b:9200", "http(s)://host:port"),
])
def test_bad_node_lists_say_what_is_wrong(url, fix):
    with pytest.raises(ConfigurationError) as info:
        EngineConfig(engine="opensearch", url=url)
    assert fix in str(info.value) and SECRET not in str(info.value)


def test_with_url_replaces_every_node_and_keeps_the_credentials():
    config = EngineConfig(engine="elasticsearch", url="http://a:1,http://b:2", username="u", password="p")
    moved = config.with_url("http://c:3")
    assert moved.urls == ("http://c:3",) and (moved.username, moved.password) == ("u", "p")


def test_layouts_are_validated_and_the_embedded_engine_stays_in_one_piece(tmp_path):
    assert IndexLayout().to_dict() == {"shards": 1, "replicas": None}
    for bad in ({"shards": 0}, {"shards": True}, {"shards": 2.0}, {"replicas": -1}, {"replicas": "1"}):
        with pytest.raises(ConfigurationError):
            IndexLayout(**bad)
    with pytest.raises(ConfigurationError, match="Elasticsearch, OpenSearch or SolrCloud"):
        EmbeddedStore(path=tmp_path, layout=IndexLayout(2, 0))
    store = EmbeddedStore(path=tmp_path)
    with pytest.raises(ConfigurationError, match="one piece"):
        store.create_physical("x__v1", fingerprint={"id": "m", "dimension": 3, "similarity": "cosine"}, layout=IndexLayout(1, 1))


def test_shards_and_replicas_flags_make_the_layout():
    parser = build_parser()
    args = parser.parse_args(["index", "--source", "x.jsonl", "--index", "docs", "--engine", "elasticsearch", "--shards", "4", "--replicas", "2"])
    assert _layout(args) == IndexLayout(4, 2)
    args = parser.parse_args(["index", "--source", "x.jsonl", "--index", "docs", "--replicas", "0"])
    assert _layout(args) == IndexLayout(1, 0)
    assert _layout(parser.parse_args(["index", "--source", "x.jsonl", "--index", "docs"])) is None


def test_solr_node_names_become_base_urls():
    assert node_url("127.0.0.1:8983_solr", "https") == "https://127.0.0.1:8983/solr"
    assert node_url("solr-2.example:8983_", "http") == "http://solr-2.example:8983"
    assert node_url("10.0.0.5:8983_my%2Fsolr", "http") == "http://10.0.0.5:8983/my/solr"


def test_the_node_pool_spreads_requests_and_moves_past_a_dead_node():
    pool = NodePool(["http://a/solr", "http://b/solr"])
    pool.set_live(["c:1_solr", "a:80_solr"])
    assert pool.nodes == ("http://a/solr", "http://b/solr", "http://c:1/solr", "http://a:80/solr")
    firsts = [pool.order()[0] for _ in range(8)]
    assert set(firsts) == set(pool.nodes)  # round-robin over every node

    tried = []

    def attempt(url):
        tried.append(url)
        if url == "http://b/solr":
            raise ConnectionError("refused")
        return url

    answers = {pool.call(attempt, failover=(ConnectionError,)) for _ in range(8)}
    assert "http://b/solr" not in answers
    assert tried.count("http://b/solr") == 1  # set aside after its first failure
    assert pool.order()[-1] == "http://b/solr"  # tried last while it is down


def test_the_node_pool_names_every_node_when_none_answers():
    pool = NodePool(["http://a:1/solr", "http://b:2/solr"])

    def refuse(url):
        raise ConnectionError(url)

    with pytest.raises(EngineUnavailable) as info:
        pool.call(refuse, failover=(ConnectionError,))
    assert "http://a:1/solr" in str(info.value) and "http://b:2/solr" in str(info.value)
