"""Search profiles, BM25 field settings, model prompts and `neural-search tune`, without servers
(the embedded engine and the real model)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neural_search.cli import main
from neural_search.compare.settings import ModeSpec, parse_modes
from neural_search.encoding import Encoder
from neural_search.engines import IndexOptions, TextFields
from neural_search.engines.es_family import bm25_query
from neural_search.engines.solr import SolrStore
from neural_search.errors import ConfigurationError, ModelMismatch
from neural_search.profiles import SearchProfile

from .conftest import DATASETS, FILMS


def test_text_fields_read_weights_and_refuse_what_no_engine_has():
    fields = TextFields.parse("title^2,text", 0.5)
    assert fields.fields == (("title", 2.0), ("text", 1.0)) and fields.tie_breaker == 0.5
    assert str(fields) == "title^2,text (tie 0.5)"
    assert TextFields.from_dict(fields.to_dict()) == fields
    assert TextFields.parse(None).is_default and str(TextFields.parse("content")) == "content"
    for bad, message in (("body", "cannot read BM25 field 'body'"), ("title,title", "distinct"), ("title^0", "weight"), ("title^x", "cannot read")):
        with pytest.raises(ConfigurationError, match=message):
            TextFields.parse(bad)
    with pytest.raises(ConfigurationError, match="tie_breaker must be a number from 0 to 1"):
        TextFields.parse("title,text", 1.5)


def test_every_engine_gets_one_query_per_field_taking_the_best():
    fields = TextFields.parse("title^2,text", 0.3)
    match = bm25_query("what {!frange} is", (), fields)["bool"]["must"][0]
    assert match == {"multi_match": {"query": "what {!frange} is", "type": "best_fields", "tie_breaker": 0.3, "fields": ["title^2", "text"]}}
    assert bm25_query("x", ())["bool"]["must"][0] == {"match": {"content": {"query": "x"}}}  # the default is unchanged
    params = SolrStore._lexical(fields)
    assert params["q"] == "{!maxscore tie=0.3 v=$qb}"
    # The user's text is only ever dereferenced ($qq, escaped), never part of the query string.
    assert params["qb"] == '_query_:"{!edismax qf=title^2 uf=-* v=$qq}" _query_:"{!edismax qf=text uf=-* v=$qq}"'
    assert SolrStore._lexical(TextFields()) == {"q": "{!edismax qf=content uf=-* v=$qq}"}


def test_index_options_check_their_analyzer():
    assert IndexOptions().analyzer == "english"  # the measured default (docs/relevance.md)
    assert IndexOptions.from_dict(None) == IndexOptions(analyzer="standard")  # indexes stamped before options existed
    assert IndexOptions().differences(IndexOptions(analyzer="standard")) == ["analyzer 'standard', not 'english'"]
    with pytest.raises(ConfigurationError, match="unknown analyzer 'klingon': use one of standard, english"):
        IndexOptions(analyzer="klingon")


def test_a_profile_round_trips_and_says_what_is_wrong_with_a_bad_one(tmp_path):
    profile = SearchProfile(name="nf", fusion="linear:minmax", weights={"bm25": 0.6, "knn": 0.4}, candidates=200, fields=TextFields.parse("title,text", 0.5))
    path = profile.save(tmp_path / "p" / "nf.json")
    loaded = SearchProfile.load(path)
    assert loaded == profile and loaded.fusion == "linear:minmax"
    assert loaded.search_settings() == {"fusion": "linear:minmax", "weights": {"bm25": 0.6, "knn": 0.4}, "candidates": 200, "fields": profile.fields}
    with pytest.raises(ConfigurationError, match="does not exist; write one with `neural-search tune"):
        SearchProfile.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text(json.dumps({**profile.to_dict(), "weights": {"bm25": -1, "knn": 1}}))
    with pytest.raises(ConfigurationError, match="weights must give both legs"):
        SearchProfile.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ConfigurationError, match="is not a neural-search search profile"):
        SearchProfile.load(tmp_path / "other.json")
    with pytest.raises(ConfigurationError, match="rawsum has no settings"):
        SearchProfile(name="r", fusion="rawsum")


def test_a_profile_prints_each_engines_own_request():
    profile = SearchProfile(name="nf", fusion="rrf:20", weights={"bm25": 0.6, "knn": 0.4}, candidates=150, fields=TextFields.parse("title,text", 0.5))
    configs = profile.engine_configurations()
    retriever = configs["elasticsearch"]["retriever"]["neural_hybrid"]
    assert retriever["fusion"] == "rrf:20" and retriever["weights"] == [0.6, 0.4] and retriever["rank_window_size"] == 150
    assert retriever["retrievers"][0]["standard"]["query"]["bool"]["must"][0]["multi_match"]["tie_breaker"] == 0.5
    assert configs["solr"]["params"]["qf"] == "title text" and configs["solr"]["params"]["tie"] == "0.5"
    assert configs["solr"]["params"]["weights"] == "0.6,0.4" and configs["solr"]["params"]["depth"] == 150
    # OpenSearch 2.19's RRF takes no weights: said, not silently dropped.
    assert "no per-leg weights" in configs["opensearch"]["not available"]
    even = SearchProfile(name="even", fusion="linear:l2", weights={"bm25": 0.3, "knn": 0.7}, candidates=100)
    pipeline = even.engine_configurations()["opensearch"]["search_pipeline"]
    processor = pipeline["phase_results_processors"][0]["normalization-processor"]
    assert processor["normalization"]["technique"] == "l2" and processor["combination"]["parameters"]["weights"] == [0.3, 0.7]


def test_compare_measures_a_profile_as_its_own_mode():
    specs = parse_modes("bm25,hybrid:profile,hybrid:profile@engine")
    assert [s.name for s in specs] == ["bm25", "hybrid:profile", "hybrid:profile@engine"]
    profile = SearchProfile(name="p", fusion="rrf:20", weights={"bm25": 0.7, "knn": 0.3}, candidates=50)
    arguments = ModeSpec.parse("hybrid:profile@engine").search_arguments(100, 100, profile)
    assert arguments["fusion"] == "rrf:20" and arguments["weights"] == {"bm25": 0.7, "knn": 0.3} and arguments["fusion_at"] == "engine"
    assert arguments["candidates"] == 100  # never shallower than the page the comparison asks for
    with pytest.raises(ConfigurationError, match="needs --profile FILE"):
        ModeSpec.parse("hybrid:profile").search_arguments(10, 100)


@pytest.fixture(scope="module")
def prompted():
    return Encoder(cache=False, query_prompt="query: ", document_prompt="passage: ")


def test_prompts_are_part_of_the_fingerprint_and_change_the_vectors(encoder, prompted):
    plain = encoder.fingerprint
    assert plain.to_dict().get("query_prompt") is None  # no prompt: the id stays the one without prompts
    assert prompted.fingerprint.id != plain.id
    assert prompted.fingerprint.to_dict()["query_prompt"] == "query: " and prompted.fingerprint.to_dict()["document_prompt"] == "passage: "
    text = "vitamin d and depression"
    with_prompt = prompted.encode_query(text)
    # sentence-transformers' own prompt argument: the same as encoding the prefixed text.
    assert np.allclose(with_prompt, encoder.encode_texts(["query: " + text])[0], atol=1e-5)
    assert not np.allclose(with_prompt, encoder.encode_query(text), atol=1e-3)


def test_an_index_built_with_prompts_refuses_queries_without_them(tmp_path, prompted, encoder, capsys):
    from neural_search.engines.embedded import EmbeddedStore
    from neural_search.indexing import Indexer
    from neural_search.search import SearchClient
    from neural_search.sources import read_jsonl

    store = EmbeddedStore(path=tmp_path / "e")
    records = list(read_jsonl(FILMS))[:20]
    Indexer(store, prompted, state_dir=tmp_path / "s", progress=False).run(iter(records), name="films", source={"n": 20})
    assert store.get_fingerprint(store.resolve("films"))["document_prompt"] == "passage: "
    hits = SearchClient(store=store, index="films", encoder=prompted).search("robots", mode="knn", k=3).hits
    assert len(hits) == 3
    with pytest.raises(ModelMismatch, match="Query with the model the index was built with"):
        SearchClient(store=store, index="films", encoder=encoder).search("robots", mode="knn")


def test_search_takes_a_profile_and_flags_win(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEURAL_SEARCH_HOME", str(tmp_path))
    assert main(["index", "--source", str(FILMS), "--index", "films", "--analyzer", "english", "--limit", "40", "--quiet"]) == 0
    assert "text analysis: english" in capsys.readouterr().out
    profile = SearchProfile(name="p", fusion="rrf:20", weights={"bm25": 0.7, "knn": 0.3}, candidates=30, fields=TextFields.parse("title^2,text", 0.1))
    path = profile.save(tmp_path / "p.json")
    assert main(["search", "--index", "films", "--profile", str(path), "--json", "space robots"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fusion"] == "rrf:20" and out["fields"] == "title^2,text (tie 0.1)" and out["hits"]
    assert main(["search", "--index", "films", "--profile", str(path), "--fusion", "linear:l2", "--json", "space robots"]) == 0
    assert json.loads(capsys.readouterr().out)["fusion"] == "linear:l2"
    assert main(["search", "--index", "films", "--analyzer", "standard", "--mode", "bm25", "robots"]) == 2
    assert "was built with analyzer 'english', not 'standard'" in capsys.readouterr().err


def test_tune_chooses_on_the_tuning_split_and_scores_on_test(tmp_path, capsys, monkeypatch):
    """NFCorpus on the embedded engine, a small grid and 40 dev queries: the table, the chosen
    setting, its test score against the defaults, and a profile that `search` accepts."""
    monkeypatch.setenv("NEURAL_SEARCH_HOME", str(tmp_path))
    dataset = DATASETS / "nfcorpus"
    assert main(["index", "--source", str(dataset), "--index", "cmp-nfcorpus-english", "--quiet"]) == 0
    capsys.readouterr()
    out_file = tmp_path / "tuned.json"
    code = main([
        "tune", "--dataset", str(dataset), "--split", "dev", "--max-queries", "40", "--fusions", "rrf:20,linear:minmax",
        "--bm25-weights", "0.3,0.7", "--depths", "50,100", "--fields", "content", "--fields", "title,text", "--tie-breaker", "0,0.5",
        "--out", str(out_file), "--quiet",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    # 2 fusions x 2 weights x 2 depths x 3 field settings (content; title,text with each tie breaker)
    assert "24 settings tried" in printed and "Chosen:" in printed and "never used for choosing" in printed
    profile = SearchProfile.load(out_file)
    tuned = profile.tuned
    assert tuned["split"] == "dev" and tuned["queries"] == 40 and tuned["settings_tried"] == 24
    assert tuned["test"]["split"] == "test" and tuned["test"]["queries"] == 323
    # The chosen setting is the best of the table on the tuning split.
    best = max(float(line.split()[0]) for line in printed.splitlines() if line.startswith("  0."))
    assert tuned["score"] == pytest.approx(best, abs=1e-4)
    assert set(tuned["test"]["defaults"]) == {"rrf 1:1 depth 100", "linear:minmax 1:1 depth 100"}
    assert main(["search", "--index", "cmp-nfcorpus-english", "--profile", str(out_file), "--json", "vitamin d"]) == 0
    assert json.loads(capsys.readouterr().out)["fusion"] == profile.fusion
    assert main(["tune", "--dataset", str(dataset), "--split", "test", "--quiet"]) == 2
    assert "tune on train or dev" in capsys.readouterr().err
