"""Relevance: one run per engine and mode scored with ir-measures, hybrid against single modes,
engines against each other, and a run against the scores it should reproduce (`--expect`).

Scoring is pure (runs in, records out); running the queries is the caller's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import ConfigurationError
from ..evaluation import METRICS, JudgedCollection, evaluate_run, holm, overlap_at, paired_test, read_trec_run, write_trec_run
from ..registry import SERVER_ENGINES
from .results import Agreement, ModeResult, PairedComparison, Results
from .settings import ALPHA, ModeSpec

Run = dict[str, list[tuple[str, float]]]  # query id -> (doc id, score) in rank order


@dataclass(frozen=True)
class Scored:
    """One engine and mode scored: the record for results.json, and what the significance test
    and the agreement table need (nDCG@10 per query, the top 10 per query)."""

    mode: ModeResult
    per_query: dict[str, float]
    top10: dict[str, list[str]]


def score_run(collection: JudgedCollection, run: Run, out: Path, tag: str) -> Scored:
    """Writes `run` as runs/<tag>.trec under `out` and scores the file."""
    path = write_trec_run(out / "runs" / f"{tag}.trec", run, tag)
    evaluation = evaluate_run(collection.qrels, path)
    mode = ModeResult(
        status="ok", queries=len(run), run_file=str(path.relative_to(out)), scores={m: round(v, 6) for m, v in evaluation.means.items()},
    )
    return Scored(mode, evaluation.per_query["ndcg@10"], {q: [d for d, _ in hits[:10]] for q, hits in run.items()})


def rescore(collection: JudgedCollection, mode: ModeResult, out: Path) -> Scored | None:
    """A resumed run keeps relevance results whose run file is still there: scored again from it."""
    if mode.status != "ok" or not mode.run_file or not (out / mode.run_file).exists():
        return None
    scored = read_trec_run(out / mode.run_file)
    top: dict[str, list[str]] = {q: [] for q in collection.queries}
    for s in scored:  # the file is in rank order
        if s.query_id in top and len(top[s.query_id]) < 10:
            top[s.query_id].append(s.doc_id)
    return Scored(mode, evaluate_run(collection.qrels, scored).per_query["ndcg@10"], top)


def _finite(value: float | None) -> float | None:
    import math

    return None if value is None or not math.isfinite(value) else float(value)


def significance(scored: Mapping[tuple[str, str], Scored], engines: list[str], modes: list[ModeSpec]) -> list[PairedComparison]:
    """Every measured hybrid mode against bm25 and knn on the same engine, Holm-corrected together."""
    comparisons = []
    for engine in engines:
        for spec in modes:
            if not spec.is_hybrid or (engine, spec.name) not in scored:
                continue
            for baseline in ("bm25", "knn"):
                if (engine, baseline) not in scored or len(scored[(engine, spec.name)].per_query) < 2:
                    continue
                test = paired_test(scored[(engine, spec.name)].per_query, scored[(engine, baseline)].per_query)
                comparisons.append(PairedComparison(
                    engine=engine, hybrid=spec.name, baseline=baseline, n=test["n"],
                    hybrid_mean=round(test["treatment_mean"], 6), baseline_mean=round(test["control_mean"], 6),
                    delta=round(test["delta"], 6), t=_finite(test["t"]), p=test["p"],
                ))
    for c, p in zip(comparisons, holm([c.p for c in comparisons])):
        c.p_holm = p
        c.significant = bool(p < ALPHA)
    return comparisons


def agreement(results: Results, scored: Mapping[tuple[str, str], Scored], modes: list[ModeSpec]) -> list[Agreement]:
    """Each engine against the reference (the embedded engine where it ran the mode) on nDCG@10
    and on the overlap of the top 10."""
    rows = []
    engines = list(results.engines)
    for spec in modes:
        measured = [e for e in engines if (e, spec.name) in scored]
        if len(measured) < 2:
            continue
        reference = "embedded" if "embedded" in measured else measured[0]
        ref_ndcg = results.mode(reference, spec.name).scores["ndcg@10"]
        for engine in measured:
            if engine == reference:
                continue
            rows.append(Agreement(
                mode=spec.name, engine=engine, reference=reference,
                ndcg_delta=round(results.mode(engine, spec.name).scores["ndcg@10"] - ref_ndcg, 6),
                overlap=round(overlap_at(scored[(engine, spec.name)].top10, scored[(reference, spec.name)].top10, 10), 6),
            ))
    return rows


# -- regression check ------------------------------------------------------------------------------


def _depends_on_ann(engine: str, mode: str) -> bool:
    return engine in SERVER_ENGINES and mode != "bm25"


def comparable(expected: dict, dataset: str, split: str, settings: dict) -> None:
    """Refuses an expected results.json measured on other queries or at another depth."""
    e_data, e_set = expected.get("dataset", {}), expected.get("settings", {})
    differences = []
    if (e_data.get("name"), e_data.get("split")) != (dataset, split):
        differences.append(f"dataset {e_data.get('name')}/{e_data.get('split')} (this run: {dataset}/{split})")
    for key in ("depth", "max_queries") + (("seed",) if settings.get("max_queries") is not None else ()):
        if e_set.get(key) != settings.get(key):
            differences.append(f"--{key.replace('_', '-')} {e_set.get(key)} (this run: {settings.get(key)})")
    # Results written before analysis and fields were recorded used the standard analysis on content.
    for key, legacy in (("analyzer", "standard"), ("fields", "content")):
        if key in settings and e_set.get(key, legacy) != settings[key]:
            differences.append(f"--{key} {e_set.get(key, legacy)} (this run: {settings[key]})")
    if differences:
        raise ConfigurationError("--expect holds results of another setup: " + "; ".join(differences))


def check_expected(results: dict, expected: dict, *, tolerance: float, ann_tolerance: float) -> list[dict]:
    """Every relevance number the expected results hold for the engines and modes this run was
    asked to measure, next to the one measured now (not measured counts as a regression)."""
    rows = []
    asked_engines = set(results.get("settings", {}).get("engines", results.get("engines", {})))
    asked_modes = results.get("settings", {}).get("modes")
    for engine, e_entry in expected.get("engines", {}).items():
        if engine not in asked_engines:
            continue
        for mode, e_mode in e_entry.get("modes", {}).items():
            if e_mode.get("status") != "ok" or (asked_modes is not None and mode not in asked_modes):
                continue
            now_mode = results.get("engines", {}).get(engine, {}).get("modes", {}).get(mode)
            limit = ann_tolerance if _depends_on_ann(engine, mode) else tolerance
            for metric in METRICS:
                want = e_mode.get(metric)
                got = now_mode.get(metric) if now_mode and now_mode.get("status") == "ok" else None
                ok = got is not None and want is not None and abs(got - want) <= limit + 1e-12
                rows.append({"engine": engine, "mode": mode, "metric": metric, "expected": want, "measured": got, "tolerance": limit, "ok": ok})
    return rows
