"""`neural-search compare` end to end.

Without engines: bad input (missing files, qrels naming unknown documents, an engine that is
down) gives a clear error, and a run with an unreachable engine keeps what it measured.
With engines (`integration`): the ADI collection (82 documents) through every engine, checking
results.json against the schema and every metric against ir-measures on the run files written.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from neural_search import compare
from neural_search.cli import main
from neural_search.compare import RESULTS_SCHEMA, schema_errors
from neural_search.evaluation import METRICS
from neural_search.registry import DEFAULT_URLS, SERVER_ENGINES

ADI = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "adi"
DEAD_SOLR = "http://127.0.0.1:9/solr"  # the discard port: nothing listens there

needs_adi = pytest.mark.skipif(not (ADI / "corpus.jsonl").exists(), reason=f"{ADI} is not there")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


def _reachable(engine: str, url: str) -> bool:
    import requests

    probe = f"{url}/admin/info/system?wt=json" if engine == "solr" else url
    try:
        return requests.get(probe, timeout=3).status_code < 500
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def server_urls(request) -> dict[str, str]:
    """engine -> URL of every server engine, from the shared `engine_urls` fixture when there is
    one, else from NEURAL_SEARCH_<ENGINE>_URL (local defaults). Unreachable: skip, or fail when
    NEURAL_SEARCH_REQUIRE_ENGINES=1."""
    try:
        urls = dict(request.getfixturevalue("engine_urls"))
    except pytest.FixtureLookupError:
        urls = {e: os.environ.get(f"NEURAL_SEARCH_{e.upper()}_URL") or DEFAULT_URLS[e] for e in SERVER_ENGINES}
    urls = {e: u for e, u in urls.items() if e in SERVER_ENGINES}
    down = [f"{e} at {u}" for e, u in urls.items() if not _reachable(e, u)]
    if down or len(urls) < len(SERVER_ENGINES):
        message = f"engines not reachable: {', '.join(down) or 'some engine URLs are missing'} (make engines-up)"
        if os.environ.get("NEURAL_SEARCH_REQUIRE_ENGINES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return urls


def _point_at(monkeypatch, urls: dict[str, str]) -> None:
    for engine, url in urls.items():
        monkeypatch.setenv(f"NEURAL_SEARCH_{engine.upper()}_URL", url)


def _write_beir(root: Path, *, corpus: bool = True, queries: bool = True, qrels: list[tuple[str, str, int]] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if corpus:
        (root / "corpus.jsonl").write_text('{"_id": "d1", "title": "t", "text": "apples"}\n{"_id": "d2", "title": "", "text": "pears"}\n')
    if queries:
        (root / "queries.jsonl").write_text('{"_id": "q1", "text": "apples"}\n{"_id": "q2", "text": "pears"}\n')
    if qrels is not None:
        (root / "qrels").mkdir(exist_ok=True)
        (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels))
    return root


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["compare", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _common(tmp: Path) -> list[str]:
    return ["--state-dir", str(tmp / "state"), "--data-dir", str(tmp / "embedded"), "--quiet"]


# -- bad input --------------------------------------------------------------------------------------


def _compare_dataset(capsys, tmp_path: Path, root: Path, *engine_args: str) -> tuple[int, str]:
    """Runs compare on `root` with output to tmp_path/out; returns the exit code and stderr."""
    code, _, err = _run(capsys, "--dataset", str(root), *engine_args, "--out", str(tmp_path / "out"), *_common(tmp_path))
    return code, err


def test_missing_dataset_files_are_named(tmp_path, capsys):
    root = _write_beir(tmp_path / "broken", queries=False)
    code, err = _compare_dataset(capsys, tmp_path, root, "--engines", "embedded")
    assert code == 2
    assert "missing queries.jsonl" in err and "qrels/test.tsv (there is no qrels/ folder)" in err
    assert not (tmp_path / "out").exists()


def test_qrels_with_unknown_documents_are_refused(tmp_path, capsys):
    root = _write_beir(tmp_path / "c", qrels=[("q1", "d1", 1), ("q2", "d77", 1)])
    code, err = _compare_dataset(capsys, tmp_path, root, "--engines", "embedded")
    assert code == 2
    assert "names 1 documents that are not in corpus.jsonl: 'd77'" in err


def test_qrels_with_unknown_queries_are_refused(tmp_path, capsys):
    root = _write_beir(tmp_path / "c", qrels=[("q1", "d1", 1), ("q5", "d2", 1)])
    code, err = _compare_dataset(capsys, tmp_path, root, "--engines", "embedded")
    assert code == 2 and "judges 1 queries that queries.jsonl does not have: 'q5'" in err


def test_an_engine_that_is_down_stops_the_run_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEURAL_SEARCH_SOLR_URL", DEAD_SOLR)
    root = _write_beir(tmp_path / "c", qrels=[("q1", "d1", 1), ("q2", "d2", 1)])
    code, err = _compare_dataset(capsys, tmp_path, root, "--engine", "solr")
    assert code == 2
    assert "solr at http://127.0.0.1:9/solr cannot be reached" in err and "make engines-up" in err
    assert not (tmp_path / "out").exists()


def test_bad_options(tmp_path, capsys):
    root = _write_beir(tmp_path / "c", qrels=[("q1", "d1", 1), ("q2", "d2", 1)])
    for extra, message in (
        (["--modes", "bm25,vector"], "unknown mode 'vector'"),
        (["--depth", "50"], "--depth must be at least 100"),
        (["--engines", "embedded,elasticsearch,solr", "--url", "http://127.0.0.1:9200"], "--url names one server"),
        (["--engine", "solr", "--engines", "solr"], "either --engine or --engines"),
    ):
        code, _, err = _run(capsys, "--dataset", str(root), "--out", str(tmp_path / "out"), *extra, *_common(tmp_path))
        assert code == 2 and message in err, (extra, err)


# -- the wing's structure: one registry, the store protocol, no import circle ------------------------


def test_one_engine_registry_serves_the_cli_config_servers_and_benchmarks(monkeypatch):
    import argparse
    import importlib.util
    import sys

    from neural_search import cli, config, registry

    assert registry.ENGINES == ("embedded", "elasticsearch", "opensearch", "solr")
    assert registry.SERVER_ENGINES == tuple(e for e in registry.ENGINES if e != "embedded")
    assert config.DEFAULT_URLS is registry.DEFAULT_URLS and registry.DEFAULT_URLS["solr"] == "http://127.0.0.1:8983/solr"
    assert compare.parse_engines("all") == list(registry.ENGINES)
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("index", "search", "demo", "compare"):
        engine = next(a for a in sub.choices[command]._actions if a.dest == "engine")
        assert tuple(engine.choices) == registry.ENGINES, command
    for spec in registry.SPECS.values():
        store = spec.store_class()  # the import path is right
        assert callable(store.clear_caches) and isinstance(store.url, property), spec.name
        assert spec.capabilities, spec.name
    # servers/manage.py reads the same file without the package (stdlib only)
    root = Path(__file__).resolve().parents[1]
    loader = importlib.util.spec_from_file_location("_manage_under_test", root / "servers" / "manage.py")
    manage = importlib.util.module_from_spec(loader)
    sys.modules[loader.name] = manage
    try:
        loader.loader.exec_module(manage)
    finally:
        del sys.modules[loader.name]
    assert manage.ENGINES == registry.SERVER_ENGINES and manage.DEFAULT_PORTS == registry.DEFAULT_PORTS
    for engine in manage.ENGINES:
        monkeypatch.delenv(f"NEURAL_SEARCH_{engine.upper()}_PORT", raising=False)
    assert {e: manage.Engine(e).url for e in manage.ENGINES} == registry.DEFAULT_URLS


def test_the_comparison_does_not_import_the_cli():
    import ast

    package = Path(compare.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").endswith("cli"), f"{path.name} imports {node.module}"


def test_caches_are_cleared_through_the_store_protocol(caplog):
    class Store:
        def __init__(self, fail: bool = False):
            self.cleared, self.fail = [], fail

        def clear_caches(self, physical: str) -> None:
            if self.fail:
                raise RuntimeError("reload refused")
            self.cleared.append(physical)

    comparison = object.__new__(compare.Comparison)  # only the stores and their indexes are needed
    comparison.stores = {"solr": Store(), "elasticsearch": Store(fail=True)}
    comparison.physical = {"solr": "cmp-x__v1", "elasticsearch": "cmp-x__v2"}
    comparison.clear_caches("solr")
    assert comparison.stores["solr"].cleared == ["cmp-x__v1"]
    with caplog.at_level("WARNING"):
        comparison.clear_caches("elasticsearch")  # timings get optimistic, the run goes on
    assert "could not clear elasticsearch caches: reload refused" in caplog.text


# -- a run that cannot measure everything keeps what it measured --------------------------------


@needs_adi
def test_unreachable_engine_is_recorded_as_missing_and_the_rest_is_kept(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEURAL_SEARCH_SOLR_URL", DEAD_SOLR)
    out = tmp_path / "out"
    code, stdout, err = _run(
        capsys, "--dataset", str(ADI), "--engines", "embedded,solr", "--modes", "bm25,knn,hybrid:rrf", "--max-queries", "8",
        "--concurrency", "1", "--warmup", "2", "--encode-sample", "4", "--skip-unavailable", "--index-prefix", "cmptest",
        "--out", str(out), *_common(tmp_path),
    )
    assert code == 1
    assert "these parts were not measured" in err and "solr: everything (unavailable" in err
    results = json.loads((out / "results.json").read_text())
    assert schema_errors(results) == []
    assert results["status"] == "partial"
    assert results["engines"]["solr"]["status"] == "unavailable"
    assert results["engines"]["embedded"]["status"] == "ok"
    assert all(m["status"] == "ok" for m in results["engines"]["embedded"]["modes"].values())
    assert results["dataset"]["judged_queries"] == 8
    text = (out / "report.md").read_text()
    assert "**Status: partial**" in text and "solr: everything (unavailable" in text
    assert "embedded" in stdout

    # A run that dies part-way leaves results.json as far as it got.
    calls = {"n": 0}
    original = compare.Comparison.latency_round

    def dying(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(compare.Comparison, "latency_round", dying)
    out2 = tmp_path / "out2"
    code = main(["compare", "--dataset", str(ADI), "--engines", "embedded", "--modes", "bm25,knn", "--max-queries", "4", "--concurrency", "1,2",
                 "--warmup", "0", "--encode-sample", "0", "--index-prefix", "cmptest", "--out", str(out2), *_common(tmp_path)])
    assert code == 130  # the CLI's answer to an interrupt
    results = json.loads((out2 / "results.json").read_text())
    assert results["status"] == "interrupted"
    modes = results["engines"]["embedded"]["modes"]
    assert modes["bm25"]["status"] == "ok" and list(modes["bm25"]["latency"]) == ["1"]
    assert "embedded/knn: latency at concurrency 2" in results["missing"]
    assert (out2 / "report.md").exists()

    # --resume keeps what was measured and measures only the rest.
    monkeypatch.setattr(compare.Comparison, "latency_round", original)
    rounds = []
    monkeypatch.setattr(compare.Comparison, "latency_round", lambda self, c, pairs: rounds.append(c) or original(self, c, pairs))
    code = main(["compare", "--dataset", str(ADI), "--engines", "embedded", "--modes", "bm25,knn", "--max-queries", "4", "--concurrency", "1,2",
                 "--warmup", "0", "--encode-sample", "0", "--index-prefix", "cmptest", "--out", str(out2), "--resume", *_common(tmp_path)])
    assert code == 0
    resumed = json.loads((out2 / "results.json").read_text())
    assert resumed["status"] == "complete" and rounds == [2]
    assert resumed["engines"]["embedded"]["modes"]["bm25"]["latency"]["1"] == modes["bm25"]["latency"]["1"]
    assert resumed["started_at"] == results["started_at"]
    # ... and refuses to continue a run made with other settings
    code, _, err = _run(capsys, "--dataset", str(ADI), "--engines", "embedded", "--modes", "bm25", "--max-queries", "4", "--concurrency", "1",
                        "--warmup", "0", "--encode-sample", "0", "--index-prefix", "cmptest", "--out", str(out2), "--resume", *_common(tmp_path))
    assert code == 2 and "--resume:" in err and "modes" in err


@needs_adi
def test_an_engine_outage_mid_run_is_waited_out(tmp_path, capsys, monkeypatch):
    """An engine that goes away for a moment (a restart) costs a retry, not the measurement."""
    from neural_search.engines.embedded import EmbeddedStore
    from neural_search.errors import EngineUnavailable

    calls = {"bm25": 0}
    original = EmbeddedStore.bm25

    def flaky(self, *args, **kwargs):
        calls["bm25"] += 1
        if calls["bm25"] in (3, 12):  # once in the relevance pass, once in the timed pass
            raise EngineUnavailable("embedded", "file:///restarting")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EmbeddedStore, "bm25", flaky)
    out = tmp_path / "out"
    code, _, err = _run(
        capsys, "--dataset", str(ADI), "--engines", "embedded", "--modes", "bm25", "--max-queries", "6", "--concurrency", "1",
        "--warmup", "0", "--encode-sample", "0", "--retry-budget", "10", "--index-prefix", "cmptest", "--out", str(out), *_common(tmp_path),
    )
    assert code == 0, err
    results = json.loads((out / "results.json").read_text())
    m = results["engines"]["embedded"]["modes"]["bm25"]
    assert results["status"] == "complete" and m["status"] == "ok" and m["error"] is None
    assert m["queries"] == 6 and m["latency"]["1"]["queries"] == 6 and m["latency"]["1"]["errors"] == 0
    assert calls["bm25"] >= 6 + 6 + 2


# -- every engine on ADI -----------------------------------------------------------------------------


def _ir_measures_means(qrels_path: Path, run_path: Path, judged: list[str]) -> dict[str, float]:
    """The metric values ir-measures gives for a run file, averaged over every judged query."""
    import ir_measures
    from ir_measures import AP, RR, R, nDCG

    qrels = []
    with open(qrels_path) as handle:
        next(handle)
        for line in handle:
            q, d, s = line.rstrip("\n").split("\t")
            if q in judged:
                qrels.append(ir_measures.Qrel(q, d, int(s)))
    measures = {"ndcg@10": nDCG @ 10, "recall@100": R @ 100, "mrr@10": RR @ 10, "map": AP}
    sums = {k: 0.0 for k in measures}
    names = {str(m): k for k, m in measures.items()}
    for metric in ir_measures.iter_calc(list(measures.values()), qrels, ir_measures.read_trec_run(str(run_path))):
        sums[names[str(metric.measure)]] += metric.value
    return {k: v / len(judged) for k, v in sums.items()}


@pytest.mark.integration
@needs_adi
def test_adi_across_every_engine(tmp_path, capsys, monkeypatch, server_urls, caplog):
    _point_at(monkeypatch, server_urls)
    out = tmp_path / "report"
    modes = "bm25,knn,hybrid:rrf,hybrid:rrf@engine,hybrid:rawsum"
    argv = [
        "--dataset", str(ADI), "--split", "test", "--engines", "embedded,elasticsearch,opensearch,solr", "--modes", modes,
        "--max-queries", "20", "--concurrency", "1,2", "--warmup", "3", "--encode-sample", "8", "--index-prefix", "cmptest",
        "--out", str(out), *_common(tmp_path),
    ]
    with caplog.at_level("WARNING"):
        code, stdout, err = _run(capsys, *argv, "--reindex")
    assert code == 0, err
    assert "could not clear" not in caplog.text  # Solr RELOAD, Elasticsearch/OpenSearch _cache/clear through the store
    results = json.loads((out / "results.json").read_text())

    # the schema, by our validator and by jsonschema
    assert schema_errors(results) == []
    import jsonschema  # a test dependency (pyproject [test]): the cross-check must not skip
    jsonschema.validate(results, RESULTS_SCHEMA)
    assert results["status"] == "complete" and results["missing"] == []
    assert results["settings"]["index"] == "cmptest-adi-english"  # the default analysis names itself (docs/relevance.md)
    assert "--dataset" in results["command"] and "--out" in results["command"]

    all_judged = {line.split("\t")[0] for line in (ADI / "qrels" / "test.tsv").read_text().splitlines()[1:] if line.strip()}
    assert len(all_judged) == 35
    judged = sorted({line.split()[0] for line in (out / "runs" / "embedded.knn.trec").read_text().splitlines()})
    assert results["dataset"]["judged_queries"] == len(judged) == 20 and set(judged) <= all_judged

    for engine, entry in results["engines"].items():
        assert entry["status"] == "ok", (engine, entry["error"])
        assert entry["documents"] == 82
        assert entry["index_bytes"] > 0
        assert entry["indexing"]["reused"] is False and entry["indexing_docs_per_second"] > 0
        assert entry["encoding_docs_per_second"] > 0
        assert 0.9 <= entry["ann_recall@10"] <= 1.0
        for mode, m in entry["modes"].items():
            if mode in ("hybrid:rrf@engine", "hybrid:rawsum") and engine == "embedded":
                assert m["status"] == "unsupported" and "no" in m["error"], (engine, m)
                continue
            assert m["status"] == "ok", (engine, mode, m["error"])
            run_path = out / m["run_file"]
            assert run_path.name == f"{engine}.{compare.ModeSpec.parse(mode).slug}.trec"
            expected = _ir_measures_means(ADI / "qrels" / "test.tsv", run_path, judged)
            for metric in METRICS:
                assert m[metric] == pytest.approx(expected[metric], abs=1e-6), (engine, mode, metric)
            for level in ("1", "2"):
                lat = m["latency"][level]
                assert lat["queries"] == 20 and lat["errors"] == 0
                assert 0 < lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"]
                assert lat["qps"] > 0
                if mode != "bm25":
                    assert lat["breakdown_ms"]["encode_ms"]["mean"] > 0
                if mode == "hybrid:rrf":  # fused here; engine-side modes spend no client time on it
                    assert lat["breakdown_ms"]["fusion_ms"]["mean"] > 0

    # the same fusion inside the engine: the same ranking (OpenSearch orders equal scores its own
    # way). Compared as rankings: the plugins fuse in float32, so two hits the client scores equal
    # can differ in the last digit there, and ir-measures orders equal scores by document id, which
    # moves nDCG although both runs rank the same.
    for engine in ("elasticsearch", "solr", "opensearch"):
        modes_of = results["engines"][engine]["modes"]
        if engine == "opensearch":
            gap = abs(modes_of["hybrid:rrf@engine"]["ndcg@10"] - modes_of["hybrid:rrf"]["ndcg@10"])
            assert gap <= 0.01, (engine, gap)
            continue
        rankings = [
            [line.split()[:3:2] for line in (out / modes_of[mode]["run_file"]).read_text().splitlines()]
            for mode in ("hybrid:rrf", "hybrid:rrf@engine")
        ]
        assert rankings[0] == rankings[1] and rankings[0], engine

    # engines running the same mode on the same vectors agree closely
    for mode in ("bm25", "knn", "hybrid:rrf"):
        values = [results["engines"][e]["modes"][mode]["ndcg@10"] for e in results["engines"]]
        assert max(values) - min(values) <= 0.01, (mode, values)
    assert {(a["mode"], a["engine"]) for a in results["agreement"]} >= {("bm25", "solr"), ("knn", "elasticsearch")}

    comparisons = results["significance"]["comparisons"]
    assert {(c["engine"], c["hybrid"], c["baseline"]) for c in comparisons} >= {("solr", "hybrid:rrf", "bm25"), ("embedded", "hybrid:rrf", "knn")}
    assert all(0 <= c["p"] <= c["p_holm"] <= 1 for c in comparisons)

    for name in ("report.md", "REPRODUCE.md", "plots/ndcg.png", "plots/latency.png", "plots/quality_vs_latency.png"):
        assert (out / name).stat().st_size > 0, name
    for png in (out / "plots").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report_text = (out / "report.md").read_text()
    assert results["command"] in report_text and "elasticsearch" in report_text and "ttest_rel" in report_text

    # A rerun reuses the indexes (same count, same model), and checks itself against the first run.
    out2 = tmp_path / "again"
    code, stdout, err = _run(
        capsys, "--dataset", str(ADI), "--engines", "embedded,elasticsearch,opensearch,solr", "--modes", "bm25,knn",
        "--max-queries", "20", "--concurrency", "1", "--warmup", "0", "--encode-sample", "0", "--index-prefix", "cmptest", "--out", str(out2),
        "--expect", str(out / "results.json"), *_common(tmp_path),
    )
    assert code == 0, err
    again = json.loads((out2 / "results.json").read_text())
    assert all(entry["indexing"]["reused"] for entry in again["engines"].values())
    assert all(entry["indexing_docs_per_second"] == results["engines"][e]["indexing_docs_per_second"] for e, entry in again["engines"].items())
    assert "32 of 32 scores within tolerance" in stdout  # 4 engines x 2 modes x 4 metrics

    # A changed expectation is a regression: exit 3, naming the score.
    tampered = json.loads((out / "results.json").read_text())
    tampered["engines"]["solr"]["modes"]["bm25"]["ndcg@10"] += 0.05
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    shutil.rmtree(out2)
    code, stdout, err = _run(
        capsys, "--dataset", str(ADI), "--engines", "solr", "--modes", "bm25", "--max-queries", "20", "--concurrency", "1", "--warmup", "0",
        "--encode-sample", "0", "--index-prefix", "cmptest", "--out", str(out2), "--expect", str(tmp_path / "tampered.json"), *_common(tmp_path),
    )
    assert code == 3 and "REGRESSION solr/bm25 ndcg@10" in stdout

    # The report can be rebuilt from results.json alone.
    (out / "report.md").unlink()
    assert main(["compare", "--report-only", "--out", str(out)]) == 0
    assert (out / "report.md").read_text() == report_text
