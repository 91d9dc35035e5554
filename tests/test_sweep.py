"""`neural-search compare --sweep` (compare/sweep.py, sweep_report.py): option and depth parsing,
the Pareto front and the fastest-setting table as pure logic; then a small real sweep on every
engine (400 NFCorpus abstracts, the real model's vectors), checked for shape, sane recall and
measured memory savings."""

from __future__ import annotations

import json

import pytest

from neural_search.compare.schema import schema_errors, SWEEP_SCHEMA
from neural_search.compare.sweep import DEFAULT_OPTIONS, load_dataset, parse_depths, parse_options, run_sweep, search_memory, synthetic
from neural_search.compare.sweep_report import fastest, pareto, report_markdown, write_report
from neural_search.engines import open_store
from neural_search.engines.vector_index import VectorIndexOptions as V
from neural_search.errors import ConfigurationError

from .conftest import DATASETS


def test_options_default_per_engine_and_parse_with_m_and_ef():
    chosen = parse_options("elasticsearch=hnsw:32:200,bbq_hnsw;solr=byte_hnsw", ["elasticsearch", "opensearch", "solr"])
    assert chosen["elasticsearch"] == [V("hnsw", 32, 200), V("bbq_hnsw")]
    assert chosen["solr"] == [V("byte_hnsw")]
    assert chosen["opensearch"] == [V(t) for t in DEFAULT_OPTIONS["opensearch"]]
    with pytest.raises(ConfigurationError, match="solr has no vector index type 'bbq_hnsw'; it has hnsw, byte_hnsw"):
        parse_options("solr=bbq_hnsw", ["solr"])
    with pytest.raises(ConfigurationError, match="not among the engines swept"):
        parse_options("opensearch=hnsw", ["solr"])
    with pytest.raises(ConfigurationError, match="cannot read --sweep-options part"):
        parse_options("hnsw,int8_hnsw", ["solr"])
    with pytest.raises(ConfigurationError, match="whole numbers"):
        parse_options("solr=hnsw:many", ["solr"])


def test_depths():
    assert parse_depths(None)[0] == 10
    assert parse_depths("40,10,40") == [10, 40]
    with pytest.raises(ConfigurationError, match="from k"):
        parse_depths("5,10")
    with pytest.raises(ConfigurationError, match="whole numbers"):
        parse_depths("ten")


def _results(rows):
    runs = {}
    for engine, label, depth, recall, p50, qps in rows:
        run = runs.setdefault((engine, label), {"engine": engine, "label": label, "option": {"type": label}, "status": "ok", "points": []})
        run["points"].append({"depth": depth, "recall_at_10": recall, "p50_ms": p50, "p99_ms": p50 * 2, "qps": qps})
    return {"runs": list(runs.values())}


def test_pareto_front_and_fastest_setting_per_target():
    results = _results([
        ("elasticsearch", "hnsw", 10, 0.90, 1.0, 900), ("elasticsearch", "hnsw", 40, 0.97, 2.0, 480),
        ("elasticsearch", "hnsw", 160, 0.995, 5.0, 190), ("elasticsearch", "flat", 10, 1.0, 9.0, 100),
        ("solr", "hnsw", 10, 0.80, 1.5, 600), ("solr", "hnsw", 40, 0.96, 3.0, 300),
    ])
    front = pareto([{**p, "engine": r["engine"], "label": r["label"]} for r in results["runs"] for p in r["points"]])
    assert [(p["engine"], p["label"], p["depth"]) for p in front] == [
        ("elasticsearch", "hnsw", 10), ("elasticsearch", "hnsw", 40), ("elasticsearch", "hnsw", 160), ("elasticsearch", "flat", 10),
    ]
    at95 = fastest(results, 0.95)
    assert (at95["elasticsearch"]["label"], at95["elasticsearch"]["depth"]) == ("hnsw", 40)
    assert (at95["solr"]["label"], at95["solr"]["depth"]) == ("hnsw", 40)
    at99 = fastest(results, 0.99)
    assert at99["elasticsearch"]["depth"] == 160 and at99["solr"] is None


def test_search_memory_counts_the_graph_and_the_vectors_searched():
    files = {"vec": 4000, "veq": 1000, "veb": 0, "vex": 300}
    assert search_memory(V("hnsw"), files) == 4300
    assert search_memory(V("int8_hnsw"), files) == 1300
    assert search_memory(V("byte_hnsw"), {"vec": 1000, "veq": 0, "veb": 0, "vex": 300}) == 1300
    assert search_memory(V("hnsw"), {"vec": None, "veq": None, "veb": None, "vex": None}) is None


def test_synthetic_vectors_are_unit_length_seeded_and_held_apart_from_the_queries():
    a, b = synthetic(2000, queries=20, clusters=50, seed=7), synthetic(2000, queries=20, clusters=50, seed=7)
    assert a.vectors.shape == (2000, 384) and a.query_vectors.shape == (20, 384)
    assert (a.vectors == b.vectors).all() and a.synthetic
    assert abs(float((a.vectors ** 2).sum(axis=1).mean()) - 1.0) < 1e-4
    assert not set(a.query_ids) & set(a.ids)


@pytest.mark.integration
def test_a_small_sweep_on_every_engine(engine_url, encoder, tmp_path):
    data = load_dataset(DATASETS / "nfcorpus", encoder, queries=40, seed=1, limit=400)
    assert len(data.ids) == 360 and not set(data.query_ids) & set(data.ids)
    engines = ("elasticsearch", "opensearch", "solr")
    stores = {e: open_store(e, url=engine_url(e)) for e in engines}
    options = parse_options("elasticsearch=hnsw,bbq_hnsw,flat;opensearch=hnsw,int8_hnsw;solr=hnsw,byte_hnsw", list(engines))
    try:
        results = run_sweep(data, stores, options, depths=[10, 40, 160], out=tmp_path, prefix="ann-test", warmup=3, say=lambda m: None)
    finally:
        for store in stores.values():
            store.close()
    assert schema_errors(json.loads((tmp_path / "results.json").read_text()), SWEEP_SCHEMA) == []
    assert results["status"] == "complete", [r["error"] for r in results["runs"]]
    runs = {(r["engine"], r["option"]["type"]): r for r in results["runs"]}
    assert set(runs) == {(e, o.type) for e, opts in options.items() for o in opts}
    for (engine, kind), run in runs.items():
        recalls = [p["recall_at_10"] for p in run["points"]]
        assert all(0.0 <= r <= 1.0 for r in recalls)
        assert [p["depth"] for p in run["points"]] == ([10, 40, 160] if "hnsw" in kind else [10])
        assert recalls[-1] >= recalls[0] - 0.02, f"{engine} {kind}: deeper search lost recall {recalls}"
        assert all(p["p50_ms"] <= p["p99_ms"] and p["qps"] > 0 for p in run["points"])
        assert run["build"]["build_seconds"] > 0 and run["index_bytes"] > 0
    assert runs[("elasticsearch", "flat")]["points"][0]["recall_at_10"] == 1.0  # brute force is exact
    for engine in engines:  # every engine reaches the target somewhere in the sweep
        assert fastest(results, 0.95)[engine] is not None
    # Quantised options measure their saving against the engine's float HNSW: int8 keeps a
    # quarter (plus the graph), BBQ a 32nd.
    assert runs[("opensearch", "int8_hnsw")]["memory_saving"] > 0.6
    assert runs[("solr", "byte_hnsw")]["memory_saving"] > 0.6
    assert runs[("elasticsearch", "bbq_hnsw")]["memory_saving"] > 0.8
    assert runs[("elasticsearch", "hnsw")]["engine_vector_memory"]["total_vec_size_bytes"] == 360 * 384 * 4
    written = write_report(results, tmp_path)
    assert (tmp_path / "recall_qps.png").stat().st_size > 10_000 and (tmp_path / "report.md") in written
    text = report_markdown(results)
    assert "| >= 0.95 | elasticsearch |" in text and "Pareto front" in text
    for engine, store in ((e, open_store(e, url=engine_url(e))) for e in engines):  # every sweep index was dropped
        for run in results["runs"]:
            if run["engine"] == engine:
                assert store.resolve(run["physical"]) is None
        store.close()


def test_the_command_refuses_bad_sweep_options_before_any_work(capsys):
    from neural_search.cli import main

    assert main(["compare", "--sweep"]) == 2
    assert "--sweep needs --dataset" in capsys.readouterr().err
    assert main(["compare", "--sweep", "--dataset", str(DATASETS / "adi"), "--sweep-options", "opensearch=flat"]) == 2
    assert "opensearch has no vector index type 'flat'; it has hnsw, int8_hnsw" in capsys.readouterr().err
    assert main(["compare", "--sweep", "--dataset", str(DATASETS / "adi"), "--engines", "embedded"]) == 2
    assert "name at least one of elasticsearch" in capsys.readouterr().err
