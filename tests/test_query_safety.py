"""Pure checks of how user text and filters are turned into engine requests."""

import pytest

from neural_search.analysis import tokenize
from neural_search.engines.base import matches, normalize_filters, validate_index_name
from neural_search.engines.es_family import bm25_query, filter_clauses
from neural_search.engines.solr import escape_query_text, filter_params, fingerprint_property, metadata_field
from neural_search.errors import ConfigurationError
from neural_search.search import limit_query_terms


@pytest.mark.parametrize("text", ["{!frange l=0}", "*:*", ") OR (", '"x', "a AND b", "f:v^10~2", "\\", "[1 TO 5]", "&&||!"])
def test_solr_escaping_leaves_no_unescaped_syntax(text):
    escaped = escape_query_text(text)
    stripped = escaped.replace("\\\\", "")
    for char in '+-!(){}[]^"~*?:/&|':
        assert all(stripped[i - 1] == "\\" for i, c in enumerate(stripped) if c == char), (text, escaped)
    assert " AND " not in escaped and " OR " not in escaped


def test_filter_values_only_travel_as_parameters():
    fqs, params = filter_params(normalize_filters({"genre": "x} OR {!frange l=0", "year": {"gte": 1990, "lt": 2000}}))
    # One term query per field, each its own parameter (so a list-valued field is searched too),
    # the value only ever dereferenced.
    assert fqs[0] == "{!bool should=$fc0_0 should=$fc0_1}"
    assert params == {
        "fv0_0": "x} OR {!frange l=0",
        "fc0_0": "{!term f=meta_genre_s v=$fv0_0}",
        "fc0_1": "{!term f=meta_genre_ss v=$fv0_0}",
    }
    assert fqs[1] == "meta_year_l:[1990 TO 2000} OR meta_year_ls:[1990 TO 2000} OR meta_year_d:[1990 TO 2000} OR meta_year_ds:[1990 TO 2000}"


def test_bad_filters_are_refused():
    for bad in ({"a b": 1}, {"x": {"between": 1}}, {"x": []}, {"x": {"gte": [1]}}, {"x": object()}, {"meta}:": 1}):
        with pytest.raises(ConfigurationError):
            normalize_filters(bad)


def test_filter_semantics_in_python():
    clauses = normalize_filters({"tags": ["a", "z"], "year": {"gt": 1990}, "ok": True})
    assert all(matches({"tags": ["z"], "year": 1991, "ok": True}, c) for c in clauses)
    assert not matches({"year": 1990}, clauses[1]) and not matches({"year": "1995"}, clauses[1])


def test_es_queries_keep_text_as_match_input():
    query = bm25_query('title:x OR {"script": 1}', normalize_filters({"y": 3}))
    assert query["bool"]["must"] == [{"match": {"content": {"query": 'title:x OR {"script": 1}'}}}]
    assert filter_clauses(normalize_filters({"y": [1, 2]})) == [{"terms": {"metadata.y": [1, 2]}}]


def test_solr_metadata_fields_by_type():
    assert metadata_field("year", 1999) == "meta_year_l"
    assert metadata_field("score", 0.5) == "meta_score_d"
    assert metadata_field("tags", ["a", "b"]) == "meta_tags_ss"
    assert metadata_field("odd key!", True) == "meta_odd_key__b"
    assert metadata_field("nested", {"a": 1}) is None


def test_fingerprint_property_has_no_dollar():
    value = fingerprint_property({"name": "costs $5 ${x}", "id": "1"})
    assert "$" not in value and '"costs \\u00245 \\u0024{x}"' in value


def test_index_names():
    assert validate_index_name("films-2024_a") == "films-2024_a"
    for bad in ("Films", "_x", "a b", "x__v1", "", "a" * 101, "../etc", "a*"):
        with pytest.raises(ConfigurationError):
            validate_index_name(bad)


def test_long_queries_are_cut_at_the_term_limit():
    text = "word " * 2000
    cut = limit_query_terms(text, 512)
    assert len(tokenize(cut)) == 512
    assert limit_query_terms("short query") == "short query"


def test_capabilities_follow_engine_versions():
    from neural_search.engines.base import capabilities_for, version_tuple
    from neural_search.engines.elasticsearch import ElasticsearchStore
    from neural_search.engines.solr import SolrStore

    assert version_tuple("2.19.1-SNAPSHOT") == (2, 19, 1)
    assert capabilities_for("8.3.0", ElasticsearchStore.CAPABILITY_VERSIONS) == {"knn", "knn_prefilter"}
    assert capabilities_for("7.17.0", ElasticsearchStore.CAPABILITY_VERSIONS) == frozenset()
    assert capabilities_for("9.0.0", SolrStore.CAPABILITY_VERSIONS) == {"knn", "rawsum_hybrid"}
    assert "knn_prefilter" in capabilities_for("9.10.1", SolrStore.CAPABILITY_VERSIONS)
