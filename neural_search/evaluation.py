"""Relevance evaluation for engine comparisons: judged collections, TREC run files, metrics,
paired significance tests, latency percentiles (the `results.json` schema is compare/schema.py).

Metrics come from `ir-measures` (which runs trec_eval's own code through pytrec_eval), never
from hand-written formulas:

    ndcg@10    nDCG@10     graded gains, as trec_eval's ndcg_cut.10 (and BEIR)
    recall@100 R@100       relevant documents (grade >= 1) found in the top 100
    mrr@10     RR@10       reciprocal rank of the first relevant document in the top 10
    map        AP          average precision over the whole run (the run is `depth` deep)

Every metric is averaged over *all* judged queries of the split: a query the run has no hits for
counts as 0 (trec_eval -c), so a run that silently drops queries cannot score higher.

Significance: a paired, two-sided t-test over the per-query values (`scipy.stats.ttest_rel`),
the test Smucker, Allan & Carterette (CIKM 2007) found to agree with the randomisation test on
IR metrics, with Holm-Bonferroni correction across all the comparisons of one report.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from .errors import SourceFormatError
from .sources import first_existing

METRICS = ("ndcg@10", "recall@100", "mrr@10", "map")
SIGNIFICANCE_TEST = "paired two-sided t-test over per-query values (scipy.stats.ttest_rel), Holm-Bonferroni corrected"


class DatasetError(SourceFormatError):
    """A judged collection (BEIR folder) is missing files or its judgments do not match its corpus or queries."""


def ir_measures_for(names: Sequence[str] = METRICS) -> dict:
    """Our stable metric keys -> ir-measures measure objects."""
    from ir_measures import AP, RR, R, nDCG

    table = {"ndcg@10": nDCG @ 10, "recall@100": R @ 100, "mrr@10": RR @ 10, "map": AP}
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(table)}")
    return {n: table[n] for n in names}


# -- judged collections -------------------------------------------------------------------------


@dataclass
class JudgedCollection:
    """A BEIR-style folder, checked: every judged query has text and every judged document exists."""

    name: str
    path: Path
    split: str
    corpus_path: Path
    queries: dict[str, str]  # judged queries only, in the fixed evaluation order
    qrels: dict[str, dict[str, int]]  # judged queries only
    documents: int  # distinct ids of documents that have text (what gets indexed)
    unreadable: int = 0
    empty: int = 0
    all_queries: int = 0
    unjudged_dropped: list[str] = field(default_factory=list)
    warmup_queries: list[str] = field(default_factory=list)  # texts of queries outside the judged set

    @property
    def judgments(self) -> int:
        return sum(len(v) for v in self.qrels.values())


def _examples(items: Iterable[str], limit: int = 5) -> str:
    items = sorted(items)
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def locate_collection(path: str | Path, split: str) -> tuple[Path, Path, Path]:
    """(corpus, queries, qrels) files of a BEIR folder, or a DatasetError naming every missing one."""
    folder = Path(path)
    if not folder.exists():
        raise DatasetError(f"dataset folder {folder} does not exist")
    if not folder.is_dir():
        raise DatasetError(f"--dataset must be a BEIR-style folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv); {folder} is a file")
    if not re.match(r"^[A-Za-z0-9_.-]+$", split):
        raise DatasetError(f"invalid split name {split!r}")
    corpus = first_existing(folder, "corpus.jsonl")
    queries = first_existing(folder, "queries.jsonl")
    qrels = first_existing(folder / "qrels", f"{split}.tsv")
    missing = []
    if corpus is None:
        missing.append("corpus.jsonl")
    if queries is None:
        missing.append("queries.jsonl")
    if qrels is None:
        available = sorted(p.name.split(".")[0] for p in (folder / "qrels").glob("*.tsv*")) if (folder / "qrels").is_dir() else []
        hint = f" (available splits: {', '.join(available)})" if available else " (there is no qrels/ folder)"
        missing.append(f"qrels/{split}.tsv{hint}")
    if missing:
        raise DatasetError(f"dataset {folder} is missing {'; '.join(missing)}. A BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv")
    return corpus, queries, qrels


def load_collection(path: str | Path, split: str = "test", *, max_queries: int | None = None, seed: int = 0) -> JudgedCollection:
    """Reads and checks a judged collection. Errors name the file and the offending ids."""
    from .sources import read_jsonl, read_qrels, read_queries

    corpus_path, queries_path, qrels_path = locate_collection(path, split)
    ids: set[str] = set()
    all_ids: set[str] = set()
    unreadable: list[str] = []
    empty = 0
    for record in read_jsonl(corpus_path):
        if record.error or record.document is None:
            unreadable.append(f"{record.location}: {record.error}")
            continue
        all_ids.add(record.document.id)
        if record.document.is_empty:
            empty += 1
        else:
            ids.add(record.document.id)
    if not ids:
        detail = f" ({len(unreadable)} unreadable lines, first: {unreadable[0]})" if unreadable else ""
        raise DatasetError(f"{corpus_path} holds no documents with text{detail}")
    queries = read_queries(queries_path)
    qrels = read_qrels(qrels_path)
    if not qrels:
        raise DatasetError(f"{qrels_path} holds no judgments")
    unknown_queries = [q for q in qrels if q not in queries]
    if unknown_queries:
        raise DatasetError(
            f"{qrels_path} judges {len(unknown_queries)} queries that {queries_path.name} does not have: {_examples(unknown_queries)}"
        )
    unknown_docs = {d for judged in qrels.values() for d in judged if d not in all_ids}
    if unknown_docs:
        detail = ""
        if unreadable:
            detail = f"; {len(unreadable)} lines of {corpus_path.name} could not be read (first: {unreadable[0]})"
        raise DatasetError(
            f"{qrels_path} names {len(unknown_docs)} documents that are not in {corpus_path.name}: {_examples(unknown_docs)}{detail}"
        )
    whitespace = [d for d in ids if any(c.isspace() for c in d)] + [q for q in qrels if any(c.isspace() for c in q)]
    if whitespace:
        raise DatasetError(f"ids with whitespace cannot be written to TREC run files: {_examples(whitespace)}")
    # A query whose judgments are all 0 has no relevant document: every metric is 0 whatever the
    # engine does, so it is left out (as trec_eval leaves it out of its averages).
    no_relevant = [q for q, judged in qrels.items() if max(judged.values()) <= 0]
    dropped = set(no_relevant)
    order = [q for q in qrels if q not in dropped]
    blank = [q for q in order if not queries[q].strip()]
    if blank:
        raise DatasetError(f"{queries_path} has empty text for judged queries {_examples(blank)}")
    if max_queries is not None and max_queries < len(order):
        keep = set(random.Random(seed).sample(order, max_queries))
        order = [q for q in order if q in keep]
    # Warm-up queries come from outside the judged set where the collection has any, so a timed
    # query never meets an engine cache that its own warm-up filled.
    unjudged = sorted(q for q in queries if q not in qrels and queries[q].strip())
    warmup = [queries[q] for q in random.Random(seed).sample(unjudged, min(len(unjudged), 200))]
    name = Path(path).resolve().name
    return JudgedCollection(
        name=name,
        path=Path(path),
        split=split,
        corpus_path=corpus_path,
        queries={q: queries[q] for q in order},
        qrels={q: qrels[q] for q in order},
        documents=len(ids),
        unreadable=len(unreadable),
        empty=empty,
        all_queries=len(queries),
        unjudged_dropped=sorted(no_relevant),
        warmup_queries=warmup,
    )


# -- run files ----------------------------------------------------------------------------------


def write_trec_run(path: str | Path, run: Mapping[str, Sequence[tuple[str, float]]], tag: str) -> Path:
    """`qid Q0 docid rank score tag`, queries in the given order, full float precision (a rounded
    score would invent ties, and trec_eval orders by score, breaking ties by document id)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not re.match(r"^\S+$", tag):
        raise ValueError(f"run tag {tag!r} must not contain whitespace")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for qid, hits in run.items():
            for rank, (doc_id, score) in enumerate(hits, start=1):
                handle.write(f"{qid} Q0 {doc_id} {rank} {float(score)!r} {tag}\n")
    tmp.replace(path)
    return path


def read_trec_run(path: str | Path) -> list:
    import ir_measures

    return list(ir_measures.read_trec_run(str(path)))


def qrels_records(qrels: Mapping[str, Mapping[str, int]]) -> list:
    import ir_measures

    return [ir_measures.Qrel(q, d, int(g)) for q, judged in qrels.items() for d, g in judged.items()]


@dataclass
class Evaluation:
    """Means over all judged queries, and each query's value (0 where the run has no hits)."""

    means: dict[str, float]
    per_query: dict[str, dict[str, float]]


class RunScorer:
    """One ir-measures evaluator over fixed judgments, reused for every run scored against them
    (building it, judgments and all, costs more than scoring one run: `tune` scores hundreds)."""

    def __init__(self, qrels: Mapping[str, Mapping[str, int]], metrics: Sequence[str] = METRICS):
        import ir_measures

        self.qrels = qrels
        self.metrics = tuple(metrics)
        measures = ir_measures_for(self.metrics)
        self._by_measure = {str(m): name for name, m in measures.items()}
        self._evaluator = ir_measures.evaluator(list(measures.values()), qrels_records(qrels))

    def score(self, run: str | Path | Iterable) -> Evaluation:
        scored = read_trec_run(run) if isinstance(run, (str, Path)) else list(run)
        judged = self.qrels
        scored = [s for s in scored if s.query_id in judged]
        per_query = {name: {q: 0.0 for q in judged} for name in self.metrics}
        for metric in self._evaluator.iter_calc(scored):
            per_query[self._by_measure[str(metric.measure)]][metric.query_id] = float(metric.value)
        n = len(judged)
        means = {name: (sum(values.values()) / n if n else 0.0) for name, values in per_query.items()}
        return Evaluation(means, per_query)


def evaluate_run(qrels: Mapping[str, Mapping[str, int]], run: str | Path | Iterable, metrics: Sequence[str] = METRICS) -> Evaluation:
    """Scores a run (a TREC run file, or ir-measures ScoredDocs) with ir-measures."""
    return RunScorer(qrels, metrics).score(run)


# -- significance ---------------------------------------------------------------------------------


def paired_test(treatment: Mapping[str, float], control: Mapping[str, float]) -> dict:
    """Paired two-sided t-test over the queries both sides have. Identical values: p = 1."""
    from scipy import stats

    queries = [q for q in treatment if q in control]
    if len(queries) < 2:
        raise ValueError("a paired test needs at least two queries judged on both sides")
    a = [float(treatment[q]) for q in queries]
    b = [float(control[q]) for q in queries]
    diffs = [x - y for x, y in zip(a, b)]
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    if all(abs(d - diffs[0]) < 1e-15 for d in diffs):
        # No variance in the differences: either no difference at all (p = 1), or the same shift
        # on every query (the t statistic is infinite, p = 0).
        identical = abs(diffs[0]) < 1e-15
        t, p = (0.0, 1.0) if identical else (math.copysign(math.inf, diffs[0]), 0.0)
    else:
        result = stats.ttest_rel(a, b)
        t, p = float(result.statistic), float(result.pvalue)
    return {"n": len(queries), "treatment_mean": mean_a, "control_mean": mean_b, "delta": mean_a - mean_b, "t": t, "p": p}


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order (monotone, capped at 1)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for position, i in enumerate(order):
        running = max(running, min(1.0, (m - position) * pvalues[i]))
        adjusted[i] = running
    return adjusted


# -- latency and ANN recall ------------------------------------------------------------------------


def percentiles(values: Sequence[float], points: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    """Linear-interpolated percentiles (numpy's default), keyed p50, p95, p99."""
    import numpy as np

    if not values:
        raise ValueError("no values")
    array = np.asarray(values, dtype=float)
    return {f"p{int(p) if float(p).is_integer() else p}": float(np.percentile(array, p)) for p in points}


def ann_recall(approximate: Mapping[str, Sequence[str]], exact: Mapping[str, Sequence[str]], k: int = 10) -> float:
    """Mean over queries of |approx top-k ∩ exact top-k| / |exact top-k| (queries with an empty
    exact list are skipped)."""
    values = []
    for q, truth in exact.items():
        truth = list(truth)[:k]
        if not truth:
            continue
        found = set(list(approximate.get(q, ()))[:k])
        values.append(len(found & set(truth)) / len(truth))
    if not values:
        raise ValueError("no query has an exact top-k to compare with")
    return sum(values) / len(values)


def overlap_at(a: Mapping[str, Sequence[str]], b: Mapping[str, Sequence[str]], k: int = 10) -> float:
    """How much two runs agree at the top: the mean over queries of |top-k(a) ∩ top-k(b)| divided
    by the longer of the two lists (so two identical 3-hit lists agree fully); queries neither run
    has hits for are left out."""
    values = []
    for q in set(a) | set(b):
        top_a, top_b = set(list(a.get(q, ()))[:k]), set(list(b.get(q, ()))[:k])
        if top_a or top_b:
            values.append(len(top_a & top_b) / max(len(top_a), len(top_b)))
    return sum(values) / len(values) if values else 1.0
