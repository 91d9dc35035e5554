"""Unit tests of the comparison's pure logic: collections and qrels checks, metrics through
ir-measures, run files, the paired test, Holm correction, percentiles, ANN recall, the
results.json schema, option parsing and the regression check. No engines, no model."""

from __future__ import annotations

import copy
import json
import math

import pytest

from neural_search import compare
from neural_search.compare import RESULTS_SCHEMA, report, schema_errors, validate_results
from neural_search.errors import NeuralSearchError
from neural_search.evaluation import (
    METRICS,
    DatasetError,
    ann_recall,
    evaluate_run,
    holm,
    load_collection,
    overlap_at,
    paired_test,
    percentiles,
    read_trec_run,
    write_trec_run,
)

# -- a tiny BEIR folder -----------------------------------------------------------------------------


def make_collection(root, *, corpus=None, queries=None, qrels=None, split="test"):
    root.mkdir(parents=True, exist_ok=True)
    corpus = corpus if corpus is not None else [
        {"_id": "d1", "title": "Apples", "text": "red apples and green apples"},
        {"_id": "d2", "title": "Pears", "text": "pears are sweet"},
        {"_id": "d3", "title": "", "text": "bananas"},
        {"_id": "d4", "title": "", "text": ""},
    ]
    queries = queries if queries is not None else [
        {"_id": "q1", "text": "apples"}, {"_id": "q2", "text": "sweet pears"}, {"_id": "q3", "text": "fruit"}, {"_id": "q9", "text": "unjudged"},
    ]
    qrels = qrels if qrels is not None else [("q1", "d1", 1), ("q2", "d2", 2), ("q2", "d1", 0), ("q3", "d3", 0)]
    if corpus is not False:
        (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    if queries is not False:
        (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    if qrels is not False:
        (root / "qrels").mkdir(exist_ok=True)
        (root / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels))
    return root


def test_collection_loads_and_drops_queries_without_relevant_documents(tmp_path):
    c = load_collection(make_collection(tmp_path / "tiny"), "test")
    assert c.name == "tiny"
    assert list(c.queries) == ["q1", "q2"]  # q3 has only 0 grades; q9 is not judged
    assert c.unjudged_dropped == ["q3"]
    assert c.documents == 3  # d4 is empty: it is not indexed
    assert c.empty == 1
    assert c.judgments == 3
    assert c.warmup_queries == ["unjudged"]


@pytest.mark.parametrize(
    "missing, message",
    [("corpus", "corpus.jsonl"), ("queries", "queries.jsonl"), ("qrels", "qrels/test.tsv")],
)
def test_missing_files_are_named(tmp_path, missing, message):
    make_collection(tmp_path / "c", **{missing: False})
    with pytest.raises(DatasetError, match=message.replace(".", r"\.")):
        load_collection(tmp_path / "c", "test")


def test_missing_split_lists_the_available_ones(tmp_path):
    make_collection(tmp_path / "c", split="dev")
    with pytest.raises(DatasetError, match=r"qrels/test\.tsv \(available splits: dev\)"):
        load_collection(tmp_path / "c", "test")


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_collection(tmp_path / "nope", "test")
    assert issubclass(DatasetError, NeuralSearchError)


def test_qrels_naming_unknown_documents(tmp_path):
    make_collection(tmp_path / "c", qrels=[("q1", "d1", 1), ("q1", "ghost", 1), ("q2", "phantom", 1)])
    with pytest.raises(DatasetError, match=r"names 2 documents that are not in corpus\.jsonl: 'ghost', 'phantom'"):
        load_collection(tmp_path / "c", "test")


def test_qrels_naming_unknown_queries(tmp_path):
    make_collection(tmp_path / "c", qrels=[("q1", "d1", 1), ("q404", "d1", 1)])
    with pytest.raises(DatasetError, match=r"judges 1 queries that queries\.jsonl does not have: 'q404'"):
        load_collection(tmp_path / "c", "test")


def test_unreadable_corpus_lines_are_mentioned_when_a_judged_document_is_missing(tmp_path):
    root = make_collection(tmp_path / "c", qrels=[("q1", "d1", 1), ("q1", "d9", 1)])
    with open(root / "corpus.jsonl", "a") as handle:
        handle.write("{not json\n")
    with pytest.raises(DatasetError, match=r"1 lines of corpus\.jsonl could not be read"):
        load_collection(root, "test")


def test_max_queries_is_a_seeded_sample_in_the_fixed_order(tmp_path):
    queries = [{"_id": f"q{i}", "text": f"query {i}"} for i in range(20)]
    qrels = [(f"q{i}", "d1", 1) for i in range(20)]
    root = make_collection(tmp_path / "c", queries=queries, qrels=qrels)
    a = load_collection(root, "test", max_queries=5, seed=7)
    b = load_collection(root, "test", max_queries=5, seed=7)
    assert list(a.queries) == list(b.queries)
    assert len(a.queries) == 5
    order = [f"q{i}" for i in range(20)]
    assert list(a.queries) == sorted(a.queries, key=order.index)


# -- run files and metrics --------------------------------------------------------------------------


def test_run_file_round_trip_keeps_full_precision(tmp_path):
    run = {"q1": [("d1", 1.0000000000001), ("d2", 1.0)], "q2": [("d3", -0.25)]}
    path = write_trec_run(tmp_path / "runs" / "x.trec", run, "embedded.bm25")
    lines = path.read_text().splitlines()
    assert lines[0] == "q1 Q0 d1 1 1.0000000000001 embedded.bm25"
    scored = read_trec_run(path)
    assert [(s.query_id, s.doc_id, s.score) for s in scored] == [("q1", "d1", 1.0000000000001), ("q1", "d2", 1.0), ("q2", "d3", -0.25)]
    with pytest.raises(ValueError):
        write_trec_run(tmp_path / "y.trec", run, "bad tag")


def test_metrics_match_hand_computed_values_and_missing_queries_count_zero(tmp_path):
    qrels = {"q1": {"d1": 1, "d2": 2}, "q2": {"d3": 1}, "q3": {"d4": 1}}
    run = {"q1": [("d2", 3.0), ("dx", 2.0), ("d1", 1.0)], "q2": [("dy", 2.0), ("d3", 1.0)]}  # q3: no hits
    path = write_trec_run(tmp_path / "r.trec", run, "t")
    ev = evaluate_run(qrels, path)
    # q1: DCG = 2/log2(2) + 1/log2(4) = 2.5; IDCG = 2 + 1/log2(3)
    ndcg_q1 = 2.5 / (2 + 1 / math.log2(3))
    ndcg_q2 = (1 / math.log2(3)) / 1.0
    assert ev.per_query["ndcg@10"] == pytest.approx({"q1": ndcg_q1, "q2": ndcg_q2, "q3": 0.0})
    assert ev.means["ndcg@10"] == pytest.approx((ndcg_q1 + ndcg_q2) / 3)
    assert ev.means["mrr@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert ev.means["recall@100"] == pytest.approx((1 + 1 + 0) / 3)
    # AP q1: relevant at ranks 1 and 3 -> (1/1 + 2/3) / 2 ; q2: rank 2 -> 1/2
    assert ev.means["map"] == pytest.approx(((1 + 2 / 3) / 2 + 0.5 + 0) / 3)
    assert set(ev.means) == set(METRICS)


def test_hits_for_unjudged_queries_are_ignored(tmp_path):
    qrels = {"q1": {"d1": 1}}
    ev = evaluate_run(qrels, write_trec_run(tmp_path / "r.trec", {"q1": [("d1", 1.0)], "zzz": [("d1", 1.0)]}, "t"))
    assert ev.means["ndcg@10"] == pytest.approx(1.0)


# -- significance -------------------------------------------------------------------------------------


def test_paired_t_test_matches_scipy():
    from scipy import stats

    a = {"q1": 0.5, "q2": 0.7, "q3": 0.2, "q4": 0.9, "q5": 0.4}
    b = {"q1": 0.4, "q2": 0.5, "q3": 0.3, "q4": 0.6, "q5": 0.1, "extra": 1.0}
    result = paired_test(a, b)
    expected = stats.ttest_rel([0.5, 0.7, 0.2, 0.9, 0.4], [0.4, 0.5, 0.3, 0.6, 0.1])
    assert result["n"] == 5
    assert result["t"] == pytest.approx(float(expected.statistic))
    assert result["p"] == pytest.approx(float(expected.pvalue))
    assert result["delta"] == pytest.approx(0.16)  # (0.1 + 0.2 - 0.1 + 0.3 + 0.3) / 5


def test_paired_test_degenerate_cases():
    same = {"q1": 0.3, "q2": 0.6}
    assert paired_test(same, dict(same))["p"] == 1.0
    shifted = paired_test({"q1": 0.4, "q2": 0.7}, same)
    assert shifted["p"] == 0.0 and shifted["t"] == math.inf
    with pytest.raises(ValueError):
        paired_test({"q1": 1.0}, {"q1": 0.0})


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


# -- latency and ANN -----------------------------------------------------------------------------------


def test_percentiles_interpolate_like_numpy():
    values = list(range(1, 101))
    p = percentiles(values)
    assert p == pytest.approx({"p50": 50.5, "p95": 95.05, "p99": 99.01})
    with pytest.raises(ValueError):
        percentiles([])


def test_ann_recall_and_overlap():
    exact = {"q1": ["a", "b", "c", "d"], "q2": ["x", "y"], "q3": []}
    approx = {"q1": ["a", "c", "z", "w"], "q2": ["y", "x"]}
    assert ann_recall(approx, exact, k=4) == pytest.approx((2 / 4 + 1.0) / 2)
    assert overlap_at({"q": ["a", "b"]}, {"q": ["b", "c"]}, k=2) == pytest.approx(0.5)
    # short lists that agree agree fully; queries without hits on either side do not count
    assert overlap_at({"q": ["a", "b", "c"], "none": []}, {"q": ["c", "b", "a"], "none": []}, k=10) == pytest.approx(1.0)
    assert overlap_at({"q": ["a"]}, {"q": ["a", "b"], "r": ["x"]}, k=10) == pytest.approx((0.5 + 0.0) / 2)
    with pytest.raises(ValueError):
        ann_recall({}, {"q": []})


# -- results.json schema -----------------------------------------------------------------------------


def minimal_results() -> dict:
    modes = [compare.ModeSpec.parse("bm25"), compare.ModeSpec.parse("hybrid:rrf")]
    engine = compare.EngineResult.pending("cmp-tiny", [m.name for m in modes]).to_dict()
    engine.update(status="ok", version="1", url="http://x", physical="p", documents=3, indexing_docs_per_second=10.0,
                  encoding_docs_per_second=5.0, index_bytes=100, **{"ann_recall@10": 1.0})
    engine["indexing"] = {"reused": False, "seconds": 1.0, "docs_per_second": 10.0, "encode_seconds": 0.1, "write_seconds": 0.5, "measured_at": "t"}
    latency = {
        "queries": 2, "errors": 0, "warmup": 1, "load_1m": 0.5, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 2.0, "mean_ms": 1.5, "qps": 100.0, "seconds": 0.02,
        "breakdown_ms": {k: {"mean": 1.0, "p50": 1.0, "p95": 1.0} for k in ("encode_ms", "engine_ms", "fusion_ms", "total_ms")},
    }
    for name, value in (("bm25", 0.3), ("hybrid:rrf", 0.35)):
        engine["modes"][name].update(status="ok", queries=2, run_file=f"runs/e.{name}.trec", **{m: value for m in METRICS})
        engine["modes"][name]["latency"] = {"1": copy.deepcopy(latency)}
    return {
        "schema_version": 1, "status": "complete", "missing": [], "command": "neural-search compare ...",
        "started_at": "t0", "finished_at": "t1",
        "dataset": {"name": "tiny", "path": "x", "split": "test", "documents": 3, "queries": 4, "judged_queries": 2, "judgments": 3},
        "settings": {"engines": ["embedded"], "modes": ["bm25", "hybrid:rrf"], "k": 10, "depth": 100, "concurrency": [1], "warmup": 1,
                     "seed": 42, "max_queries": None, "index": "cmp-tiny", "encode_sample": 0, "metrics": {"ndcg@10": "nDCG@10"},
                     "analyzer": "english", "fields": "title,text (tie 0.5)", "profile": None},
        "environment": {"machine": {"cpu_count": 2}, "python": "3", "libraries": {"numpy": "2"}, "model": None, "engines": {}, "git_commit": None},
        "encoding": {"docs_per_second": None, "sample": 0, "seconds": None, "corpus_encoded": 0, "corpus_cached": 3, "corpus_seconds": 0.1},
        "engines": {"embedded": engine},
        "significance": {"test": "t", "metric": "ndcg@10", "alpha": 0.05, "comparisons": [
            {"engine": "embedded", "hybrid": "hybrid:rrf", "baseline": "bm25", "n": 2, "hybrid_mean": 0.35, "baseline_mean": 0.3,
             "delta": 0.05, "t": None, "p": 0.0, "p_holm": 0.0, "significant": True},
        ]},
        "agreement": [],
    }


def test_minimal_results_are_valid():
    data = minimal_results()
    assert schema_errors(data) == []
    validate_results(data)
    json.dumps(data, allow_nan=False)


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda d: d.pop("engines"), "missing key 'engines'"),
        (lambda d: d["engines"]["embedded"]["modes"]["bm25"].update({"ndcg@10": 1.5}), "above the maximum"),
        (lambda d: d["engines"]["embedded"]["modes"]["bm25"].update({"status": "weird"}), "must be one of"),
        (lambda d: d["engines"]["embedded"]["modes"]["bm25"]["latency"].update({"one": {}}), "unexpected key 'one'"),
        (lambda d: d["engines"]["embedded"]["modes"]["bm25"]["latency"]["1"].pop("qps"), "missing key 'qps'"),
        (lambda d: d["engines"]["embedded"].update({"documents": "3"}), "expected integer or null"),
        (lambda d: d.update({"schema_version": 2}), "must be 1"),
    ],
)
def test_schema_violations_are_reported_with_their_path(mutate, problem):
    data = minimal_results()
    mutate(data)
    errors = schema_errors(data)
    assert any(problem in e for e in errors), errors
    with pytest.raises(ValueError, match="does not match the schema"):
        validate_results(data)


def test_schema_is_valid_json_schema_and_agrees_with_jsonschema():
    import jsonschema  # a test dependency (pyproject [test]): the cross-check must not skip
    jsonschema.Draft202012Validator.check_schema(RESULTS_SCHEMA)
    jsonschema.validate(minimal_results(), RESULTS_SCHEMA)
    bad = minimal_results()
    bad["engines"]["embedded"]["modes"]["bm25"]["ndcg@10"] = 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, RESULTS_SCHEMA)


def test_typed_results_write_the_schema_byte_for_byte():
    """results.json is written from typed records: reading a file and writing it again gives the
    same bytes (same keys, same order, same values), and a pending engine is valid as it stands."""
    data = minimal_results()
    results = compare.Results.from_dict(data)
    assert isinstance(results.engines["embedded"].modes["bm25"].latency["1"], compare.LatencyStats)
    assert results.engines["embedded"].ann_recall == 1.0 and results.engines["embedded"].indexing.reused is False
    assert results.significance.comparisons[0].significant is True
    assert json.dumps(results.to_dict(), allow_nan=False) == json.dumps(data, allow_nan=False)
    results.engines["solr"] = compare.EngineResult.pending("cmp-tiny", ["bm25"])
    assert schema_errors(results.to_dict()) == []


def missing_parts(data: dict) -> list[str]:
    return compare.Results.from_dict(data).missing_parts()


def test_missing_parts_name_what_was_not_measured():
    data = minimal_results()
    assert missing_parts(data) == []
    data["settings"]["concurrency"] = [1, 8]
    data["engines"]["embedded"]["modes"]["hybrid:rrf"].update(status="failed", error="boom")
    data["engines"]["solr"] = compare.EngineResult.pending("cmp-tiny", ["bm25"]).to_dict()
    data["engines"]["solr"].update(status="unavailable", error="solr at http://127.0.0.1:1/solr cannot be reached")
    missing = missing_parts(data)
    assert "embedded/bm25: latency at concurrency 8" in missing
    assert "embedded/hybrid:rrf: relevance and latency (failed: boom)" in missing
    assert any(m.startswith("solr: everything (unavailable: solr at http://127.0.0.1:1/solr") for m in missing)
    data["engines"]["embedded"]["modes"]["hybrid:rrf"].update(status="unsupported")
    assert not any("hybrid:rrf" in m for m in missing_parts(data))


# -- options and the regression check -------------------------------------------------------------


def test_mode_parsing():
    assert [m.name for m in compare.parse_modes("bm25,knn,hybrid,hybrid:RRF,hybrid:linear:minmax:arithmetic,hybrid:linear:zscore:geometric")] == [
        "bm25", "knn", "hybrid:rrf", "hybrid:linear:minmax", "hybrid:linear:zscore:geometric",
    ]
    assert [m.name for m in compare.parse_modes("all")] == list(compare.ALL_MODES)
    rawsum = compare.ModeSpec.parse("hybrid:rawsum")
    assert (rawsum.mode, rawsum.fusion, rawsum.fusion_at, rawsum.slug) == ("hybrid", "rawsum", "engine", "hybrid-rawsum")
    engine = compare.ModeSpec.parse("hybrid:RRF:20@engine")
    assert (engine.name, engine.fusion, engine.fusion_at, engine.slug) == ("hybrid:rrf:20@engine", "rrf:20", "engine", "hybrid-rrf-20-engine")
    assert compare.ModeSpec.parse("hybrid:rrf@client") == compare.ModeSpec.parse("hybrid:rrf")
    for bad in ("vector", "hybrid:linear:cosine", "", "hybrid:rrf@server", "hybrid:rawsum@client", "hybrid:native"):
        with pytest.raises(NeuralSearchError):
            compare.parse_modes(bad)


def test_engine_and_concurrency_parsing_and_index_names():
    assert compare.parse_engines("solr, embedded,solr") == ["solr", "embedded"]
    assert compare.parse_engines("all") == ["embedded", "elasticsearch", "opensearch", "solr"]
    with pytest.raises(NeuralSearchError, match="unknown engine"):
        compare.parse_engines("vespa")
    assert compare.parse_concurrency("8,1,8") == [1, 8]
    for bad in ("0", "x", ""):
        with pytest.raises(NeuralSearchError):
            compare.parse_concurrency(bad)
    assert compare.index_name("cmp", "NFCorpus") == "cmp-nfcorpus"
    assert compare.index_name("cmp", "BEIR v1.0 (test)") == "cmp-beir-v1-0-test"


def test_check_expected_uses_the_ann_tolerance_only_where_ann_is_involved():
    expected = minimal_results()
    expected["engines"]["solr"] = copy.deepcopy(expected["engines"]["embedded"])
    expected["settings"]["engines"].append("solr")
    now = copy.deepcopy(expected)
    now["engines"]["embedded"]["modes"]["bm25"]["ndcg@10"] += 0.005  # exact: regression
    now["engines"]["solr"]["modes"]["hybrid:rrf"]["ndcg@10"] += 0.005  # ANN-dependent: tolerated
    now["engines"]["solr"]["modes"]["bm25"]["status"] = "failed"  # not measured: regression
    rows = compare.check_expected(now, expected, tolerance=0.002, ann_tolerance=0.01)
    bad = {(r["engine"], r["mode"], r["metric"]) for r in rows if not r["ok"]}
    assert ("embedded", "bm25", "ndcg@10") in bad
    assert ("solr", "hybrid:rrf", "ndcg@10") not in bad
    assert {("solr", "bm25", m) for m in METRICS} <= bad
    assert len(rows) == 4 * len(METRICS)
    # engines and modes this run was not asked to measure are not checked
    now["settings"]["engines"] = ["embedded"]
    now["settings"]["modes"] = ["bm25"]
    rows = compare.check_expected(now, expected, tolerance=0.002, ann_tolerance=0.01)
    assert {(r["engine"], r["mode"]) for r in rows} == {("embedded", "bm25")}


def test_expected_results_of_another_setup_are_refused():
    expected = minimal_results()
    compare.comparable(expected, "tiny", "test", {"depth": 100, "max_queries": None, "seed": 1})
    with pytest.raises(NeuralSearchError, match="dataset tiny/test"):
        compare.comparable(expected, "nfcorpus", "test", {"depth": 100, "max_queries": None, "seed": 1})
    with pytest.raises(NeuralSearchError, match="--max-queries None"):
        compare.comparable(expected, "tiny", "test", {"depth": 100, "max_queries": 20, "seed": 42})


# -- report rendering (pure) -----------------------------------------------------------------------


def test_best_marks():
    assert report.best_marks([0.1, 0.3, None, 0.3], True, 2) == [False, True, False, True]
    assert report.best_marks([5.0, 2.0], False, 1) == [False, True]
    assert report.best_marks([1.0], True, 1) == [False]


def test_markdown_marks_best_values_explains_gaps_and_lists_missing_parts():
    data = minimal_results()
    data["engines"]["solr"] = copy.deepcopy(data["engines"]["embedded"])
    data["engines"]["solr"]["ann_recall@10"] = 0.9
    data["settings"]["engines"].append("solr")
    data["engines"]["solr"]["modes"]["hybrid:rrf"]["ndcg@10"] = 0.40
    data["agreement"] = [
        {"mode": "bm25", "engine": "solr", "reference": "embedded", "ndcg@10_delta": 0.0, "overlap@10": 1.0},
        {"mode": "hybrid:rrf", "engine": "solr", "reference": "embedded", "ndcg@10_delta": 0.05, "overlap@10": 0.8},
    ]
    data["status"] = "partial"
    data["missing"] = ["solr/knn: relevance and latency (failed: boom)"]
    text = report.render_markdown(data)
    assert "**Status: partial**" in text and "solr/knn: relevance and latency (failed: boom)" in text
    assert "| solr | hybrid:rrf | **0.4000** |" in text
    assert "**solr hybrid:rrf** (+0.0500 vs embedded)" in text and "ANN recall@10 0.900" in text
    assert data["command"] in text
    assert "paired" not in text or "t-test" in text
    repro = report.render_reproduce(data)
    assert "--expect" not in data["command"] and "neural-search compare" in repro


def test_published_figures_are_compared_for_nfcorpus_only():
    data = minimal_results()
    assert report.published_rows(data) == []
    data["dataset"].update(name="nfcorpus", split="test")
    rows = report.published_rows(data)
    assert {(r["mode"], r["published"]) for r in rows} == {("bm25", 0.325), ("bm25", 0.308)}
    assert report.explain_published("bm25", rows) is not None  # 0.3 is 0.025 below 0.325
