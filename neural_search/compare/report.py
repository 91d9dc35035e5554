"""Turns a comparison's results.json into report.md, REPRODUCE.md and PNG plots (plots.py).

Everything here is a pure function of the results dictionary, so a report can be rebuilt at any
time (`neural-search compare --report-only --out DIR`) and never needs editing by hand. The
report is one function per section, a generator of lines, joined in order by `render_markdown`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..evaluation import METRICS
from .plots import plot_latency, plot_ndcg, plot_quality_latency
from .view import PUBLISHED, mode_order, ok_modes

AGREEMENT_THRESHOLD = 0.01
PUBLISHED_THRESHOLD = 0.01
METRIC_LABELS = {"ndcg@10": "nDCG@10", "recall@100": "R@100", "mrr@10": "MRR@10", "map": "MAP"}

# What reports/example/bm25_analysis_check.py measured (OpenSearch 2.19.1, whose BM25 is
# Elasticsearch's), varying one thing at a time: analyzer, field layout, k1/b. nDCG@10.
BM25_ANALYSIS_CHECK = {
    ("nfcorpus", "test"): [
        ("standard analyzer, one title+text field, k1=1.2 b=0.75 (this report's setup)", 0.3064),
        ("the same with k1=0.9 b=0.4", 0.3034),
        ("standard analyzer, separate title and text fields, multi_match best_fields", 0.3065),
        ("english analyzer (Porter stemming, stopwords), one title+text field", 0.3209),
        ("english analyzer, separate title and text fields, best_fields: BEIR's setup", 0.3269),
    ],
}


# -- small helpers ---------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.{digits}f}"
    return str(value)


def _bytes(value: int | None) -> str:
    if value is None:
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)


def best_marks(values: Sequence[float | None], higher_is_better: bool, digits: int) -> list[bool]:
    """Which cells hold the best value of their column (ties at the shown precision all win)."""
    shown = [None if v is None else round(v, digits) for v in values]
    present = [v for v in shown if v is not None]
    if len(present) < 2:
        return [False] * len(values)
    best = max(present) if higher_is_better else min(present)
    return [v is not None and v == best for v in shown]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> str:
    align = align or ["l"] + ["r"] * (len(headers) - 1)
    rule = ["---:" if a == "r" else ":---:" if a == "c" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _column(rows: list[dict], key: str, higher: bool, digits: int, fmt: Callable[[Any], str] | None = None) -> list[str]:
    values = [r.get(key) for r in rows]
    marks = best_marks(values, higher, digits)
    fmt = fmt or (lambda v: _fmt(v, digits))
    return [f"**{fmt(v)}**" if m else fmt(v) for v, m in zip(values, marks)]


# -- explanations ----------------------------------------------------------------------------------


def explain_gap(results: dict, mode: str, engine: str, reference: str, overlap: float) -> str:
    """Why `engine` and `reference` disagree on `mode`, from what the run measured."""
    engines = results["engines"]
    ann = engines.get(engine, {}).get("ann_recall@10")
    ref_ann = engines.get(reference, {}).get("ann_recall@10")

    def ann_note(name: str, value: float | None) -> str:
        if name == "embedded":
            return "the embedded engine searches exactly"
        return f"{name} searches an HNSW graph (approximate; ANN recall@10 {_fmt(value, 3)} against exact search)"

    if mode == "knn":
        return (
            f"approximate vs exact nearest neighbours: {ann_note(engine, ann)}; {ann_note(reference, ref_ann)}. "
            f"The top 10 agree on {overlap:.0%} of the documents."
        )
    if mode == "bm25":
        parts = []
        if {engine, reference} & {"embedded"}:
            parts.append(
                "the embedded engine re-implements Lucene's StandardTokenizer and BM25 in Python (`analysis.py`, "
                "`lucene_bm25.py`); a word the two tokenizers split differently changes term and length statistics, and "
                "documents with equal scores can come back in another order"
            )
        parts.append(f"the top 10 agree on {overlap:.0%} of the documents")
        return "; ".join(parts) + "."
    if mode.endswith("@engine"):
        return (
            "fused inside each engine by its plugin (neural-search's own on Elasticsearch and Solr, OpenSearch's official "
            "neural-search plugin) with the maths of docs/fusion.md; the legs are the same as client-side, so differences come "
            f"from the legs and, on OpenSearch, from its documented float32 and min-max rules (top 10 overlap {overlap:.0%})."
        )
    if mode == "hybrid:rawsum":
        return (
            "rawsum is each engine's own score arithmetic, not a shared algorithm: Elasticsearch adds its BM25 "
            "score (which keeps the legacy (k1+1) factor, 2.2x Solr's) to the kNN similarity in [0, 1], Solr adds its BM25 "
            "to the same similarity, so the kNN leg weighs about twice as much in Solr; rankings are not expected to agree "
            f"(top 10 overlap {overlap:.0%})."
        )
    knn_notes = [ann_note(e, engines.get(e, {}).get("ann_recall@10")) for e in (engine, reference) if e != "embedded"]
    return (
        "fusion runs client-side with the same code for every engine, so the difference comes from the legs: "
        + ("; ".join(knn_notes) if knn_notes else "both legs")
        + f". The top 10 agree on {overlap:.0%} of the documents."
    )


def explain_sizes(results: dict) -> str | None:
    """Why one server's index is much larger than another's, when it is."""
    sizes = {e: x.get("index_bytes") for e, x in results.get("engines", {}).items() if x.get("index_bytes")}
    others = [sizes[e] for e in ("elasticsearch", "solr") if e in sizes]
    if "opensearch" not in sizes or not others or sizes["opensearch"] < 1.5 * min(others):
        return None
    ratio = sizes["opensearch"] / min(others)
    return (
        f"OpenSearch's index is {ratio:.1f}x the smallest server index: OpenSearch keeps each document's vector in `_source` as "
        "JSON text (384 numbers at full double precision, about 8 KB a document) next to the binary vector and HNSW files; "
        "Elasticsearch 9 leaves vectors out of `_source` (`index.mapping.exclude_source_vectors`, on by default) and Solr "
        "does not store them (`stored=\"false\"`). The embedded engine stores float32 vectors, texts and metadata in SQLite."
    )


def published_rows(results: dict) -> list[dict]:
    dataset = results.get("dataset", {})
    refs = PUBLISHED.get((dataset.get("name"), dataset.get("split")))
    if not refs or results.get("settings", {}).get("max_queries") is not None:
        return []
    settings = results.get("settings", {})
    rows = []
    for engine, mode, m in ok_modes(results):
        for value, source in refs.get(mode, []):
            rows.append({
                "engine": engine, "mode": mode, "measured": m["ndcg@10"], "published": value, "delta": m["ndcg@10"] - value,
                "source": source, "dataset": dataset.get("name"), "split": dataset.get("split"),
                "analyzer": settings.get("analyzer", "standard"), "fields": settings.get("fields", "content"),
            })
    return rows


def _setup(analyzer: str, fields: str) -> str:
    analysis = (
        "the `english` analyzer (possessives, English stop words, Porter stems)" if analyzer == "english"
        else "the `standard` analyzer (lowercasing only: no stemming, no stopword removal)"
    )
    layout = "one combined title+text field" if fields == "content" else f"the fields {fields} scored apart, best_fields"
    return f"{analysis} on {layout}, BM25 k1=1.2, b=0.75"


def explain_published(mode: str, rows: list[dict]) -> str | None:
    """A note for a mode whose measured nDCG@10 is far from the first published figure."""
    first = [r for r in rows if r["mode"] == mode]
    if not first:
        return None
    published = first[0]["published"]
    analyzer, fields = first[0].get("analyzer", "standard"), first[0].get("fields", "content")
    far = [r for r in first if r["published"] == published and abs(r["delta"]) > PUBLISHED_THRESHOLD]
    if mode == "bm25" and not far and analyzer == "english" and fields != "content":
        return (
            f"this run uses BEIR's setup, {_setup(analyzer, fields)} (`--analyzer english --fields title,text --tie-breaker 0.5`), "
            f"and every engine reproduces the published {published:.3f} within {PUBLISHED_THRESHOLD}; the embedded engine's "
            "Python analysis gives Lucene's tokens word for word (tests/test_analysis_english.py checks the shared collections' "
            "whole vocabulary against each engine)."
        )
    if not far:
        return None
    if mode == "bm25":
        text = (
            f"every engine here uses {_setup(analyzer, fields)}. The published {published:.3f} comes from BEIR's Elasticsearch setup: "
            "the `english` analyzer (Porter stemming, English stopwords) on separate title and text fields, multi_match "
            "best_fields (tie_breaker 0.5); `--analyzer english --fields title,text --tie-breaker 0.5` runs that setup on every "
            "engine. The gap is the analysis, not the engines"
        )
        check = BM25_ANALYSIS_CHECK.get((rows[0].get("dataset"), rows[0].get("split")))
        if check:
            text += (
                ": `reports/example/bm25_analysis_check.py` rebuilt the collection in OpenSearch (same BM25) changing one thing "
                "at a time: " + "; ".join(f"{name} {value:.4f}" for name, value in check) + ". BEIR's setup reproduces the "
                "published figure; stemming and stopwords are worth about +0.015 on this medical vocabulary "
                "(`cholesterols`/`cholesterol`, `eating`/`eat`), separate fields another +0.005, k1/b hardly matter"
            )
        return text + "."
    if mode == "knn":
        return "The dense figure should be reproduced by exact search within about 0.01; a larger gap points at the text that is encoded (title + text) or the model."
    return None


# -- markdown, one function per section ------------------------------------------------------------


def _section_head(r: dict) -> Iterator[str]:
    """The title, the status (what was not measured), the command and the collection."""
    d, s = r["dataset"], r["settings"]
    yield f"# Engine comparison: {d['name']} ({d['split']})"
    yield ""
    yield (
        f"Generated by `neural-search compare` from `results.json` (schema v{r['schema_version']}); started {r['started_at']}, "
        f"finished {r.get('finished_at') or '–'}. Do not edit: rerun the command below (or `--report-only`) instead."
    )
    yield ""
    if r["status"] == "complete":
        yield "**Status: complete** — every engine and mode asked for was measured."
    else:
        yield f"**Status: {r['status']}** — these parts were not measured:"
        yield ""
        for item in r.get("missing", []):
            yield f"- {item}"
    yield ""
    yield "## Command"
    yield ""
    yield "```sh"
    yield r["command"]
    yield "```"
    yield ""
    yield (
        f"Collection: `{d['path']}` — {d['documents']:,} documents, {d['judged_queries']} judged queries of {d['queries']:,} "
        f"({d['judgments']:,} judgments in qrels/{d['split']}.tsv)."
        + (f" A seeded sample of {s['max_queries']} judged queries was evaluated." if s.get("max_queries") else "")
    )
    yield ""
    yield f"Text and BM25: {_setup(s.get('analyzer', 'standard'), s.get('fields', 'content'))}, the same on every engine."
    profile = s.get("profile")
    if profile:
        tuned = profile.get("tuned") or {}
        yield ""
        yield (
            f"Mode `hybrid:profile` is the search profile `{profile['name']}`: {profile['fusion']}, weights bm25 "
            f"{profile['weights']['bm25']:g} : knn {profile['weights']['knn']:g}, depth {profile['candidates']}, chosen by "
            f"`neural-search tune` on {tuned.get('dataset', '?')} {tuned.get('split', '?')} ({tuned.get('queries', '?')} queries, "
            f"{tuned.get('settings_tried', '?')} settings) on {tuned.get('engine', '?')}; this split never took part in choosing it."
        )
    yield ""


def _section_relevance(r: dict) -> Iterator[str]:
    """Every measured engine and mode on every metric, and what could not run."""
    d, s = r["dataset"], r["settings"]
    rows = [{"engine": e, "mode": mo, **{k: m.get(k) for k in METRICS}} for e, mo, m in ok_modes(r)]
    yield "## Relevance"
    yield ""
    yield (
        f"Each judged query run once per engine and mode, {s['depth']} hits deep; TREC runs in `runs/`, scored with "
        f"ir-measures ({', '.join(f'{METRIC_LABELS[k]} = `{v}`' for k, v in s['metrics'].items())}), averaged over all "
        f"{d['judged_queries']} judged queries (a query without hits counts 0). Best per column in bold."
    )
    yield ""
    if rows:
        cols = {k: _column(rows, k, True, 4) for k in METRICS}
        yield table(["engine", "mode", *[METRIC_LABELS[k] for k in METRICS]], [[x["engine"], x["mode"], *[cols[k][i] for k in METRICS]] for i, x in enumerate(rows)], ["l", "l", "r", "r", "r", "r"])
    else:
        yield "_No relevance results._"
    yield ""
    unsupported = [(e, mo, m.get("error")) for e, entry in r["engines"].items() for mo, m in entry["modes"].items() if m["status"] == "unsupported"]
    if unsupported:
        yield "Not applicable: " + "; ".join(f"{e} {mo}: {why}" for e, mo, why in unsupported) + "."
        yield ""


def _section_published(r: dict) -> Iterator[str]:
    """The measured nDCG@10 against published figures for the collection, where there are any."""
    pub = published_rows(r)
    if pub:
        yield "### Against published figures"
        yield ""
        yield (table(
            ["engine", "mode", "nDCG@10 here", "published", "Δ", "published setup"],
            [[x["engine"], x["mode"], _fmt(x["measured"]), _fmt(x["published"], 3), f"{x['delta']:+.4f}", x["source"]] for x in pub],
            ["l", "l", "r", "r", "r", "l"],
        ))
        yield ""
        for mode in ("bm25", "knn"):
            note = explain_published(mode, pub)
            if note:
                yield f"- **{mode}**: {note}"
            elif any(x["mode"] == mode for x in pub):
                yield f"- **{mode}**: within {PUBLISHED_THRESHOLD} of the published figure."
        yield ""


def _section_agreement(r: dict) -> Iterator[str]:
    """Engines against the reference engine in the same mode, gaps explained."""
    agreement = r.get("agreement", [])
    if agreement:
        yield "### Agreement between engines (same mode, same vectors)"
        yield ""
        yield (
            f"Each engine against the reference (the embedded engine where it ran the mode: exact kNN, and Lucene's BM25 re-implemented in Python). "
            f"Overlap@10 is the mean share of top-10 documents the two runs have in common. Gaps above {AGREEMENT_THRESHOLD} are explained."
        )
        yield ""
        order = mode_order(r)
        agreement = sorted(agreement, key=lambda a: (order.get(a["mode"], 99), a["engine"]))
        yield (table(
            ["mode", "engine", "reference", "Δ nDCG@10", "overlap@10", "within 0.01"],
            [[a["mode"], a["engine"], a["reference"], f"{a['ndcg@10_delta']:+.4f}", f"{a['overlap@10']:.3f}", "yes" if abs(a["ndcg@10_delta"]) <= AGREEMENT_THRESHOLD else "**no**"] for a in agreement],
            ["l", "l", "l", "r", "r", "c"],
        ))
        yield ""
        gaps = [a for a in agreement if abs(a["ndcg@10_delta"]) > AGREEMENT_THRESHOLD]
        for a in gaps:
            yield f"- **{a['engine']} {a['mode']}** ({a['ndcg@10_delta']:+.4f} vs {a['reference']}): {explain_gap(r, a['mode'], a['engine'], a['reference'], a['overlap@10'])}"
        if not gaps:
            yield f"All engines agree within {AGREEMENT_THRESHOLD} nDCG@10 in every mode."
            yield ""
        yield (
            "- Scores differ in scale, not in ranking, where noted: Elasticsearch and OpenSearch BM25 scores are 2.2x Solr's "
            "(they keep Lucene's legacy (k1+1) factor); min-max, z-score and L2 normalisation and RRF are unaffected by scale."
        )
        yield ""


def _section_significance(r: dict) -> Iterator[str]:
    """Hybrid against each single mode: the paired tests."""
    sig = r.get("significance", {})
    comps = sig.get("comparisons", [])
    yield "## Significance: hybrid against each single mode"
    yield ""
    yield (
        f"Test: {sig.get('test')}; metric {METRIC_LABELS.get(sig.get('metric'), sig.get('metric'))} per query; "
        f"significant when the Holm-adjusted p < {sig.get('alpha')} ({len(comps)} comparisons in the family)."
    )
    yield ""
    if comps:
        yield (table(
            ["engine", "hybrid", "vs", "n", "hybrid", "single", "Δ", "t", "p", "p (Holm)", "significant"],
            [[c["engine"], c["hybrid"], c["baseline"], str(c["n"]), _fmt(c["hybrid_mean"]), _fmt(c["baseline_mean"]), f"{c['delta']:+.4f}",
              _fmt(c["t"], 2), f"{c['p']:.2g}", f"{c['p_holm']:.2g}", "**yes**" if c["significant"] else "no"] for c in comps],
            ["l", "l", "l", "r", "r", "r", "r", "r", "r", "r", "c"],
        ))
    else:
        yield "_No hybrid mode and single mode were both measured on one engine._"
    yield ""


def _section_latency(r: dict) -> Iterator[str]:
    """Percentiles, QPS and the per-query split at each concurrency."""
    s, env = r["settings"], r["environment"]
    yield "## Latency and throughput"
    yield ""
    yield (
        f"Every judged query timed again with k={s['k']} hits (candidates {s['depth']} per leg), in one order fixed by seed {s['seed']}, "
        f"after {s['warmup']} untimed warm-up queries (queries outside the judged set where the collection has them) and with "
        f"the engine's result caches cleared (Solr core reloaded, Elasticsearch/OpenSearch `_cache/clear`). All engine/mode pairs take "
        f"turns in blocks of max(20, 8 x concurrency) queries, the turn order rotating, so changes in background load fall on all of them "
        f"alike; QPS is a pair's queries over the wall time of its own blocks. Time is client-side wall "
        f"time per query, split into query encoding, the engine call(s) (for client-side hybrid: the slower of the two legs, which "
        f"run in parallel, the BM25 leg overlapping with encoding) and fusion, with that many client threads. "
        f"The load generator runs on the same {env['machine'].get('cpu_count')}-core machine as the engines. Best per column in bold."
    )
    yield ""
    for c in s["concurrency"]:
        lat_rows = []
        for e, mo, m in ok_modes(r):
            lat = m.get("latency", {}).get(str(c))
            if not lat:
                continue
            b = lat["breakdown_ms"]
            lat_rows.append({
                "engine": e, "mode": mo, "p50": lat["p50_ms"], "p95": lat["p95_ms"], "p99": lat["p99_ms"], "qps": lat["qps"],
                "encode": b["encode_ms"]["p50"], "engine_ms": b["engine_ms"]["p50"], "fusion": b["fusion_ms"]["p50"], "errors": lat["errors"],
            })
        yield f"### Concurrency {c}"
        yield ""
        if not lat_rows:
            yield "_Not measured._"
            yield ""
            continue
        cols = {k: _column(lat_rows, k, k == "qps", 1) for k in ("p50", "p95", "p99", "qps")}
        cols.update({k: [_fmt(x[k], 2 if k == "fusion" else 1) for x in lat_rows] for k in ("encode", "engine_ms", "fusion")})
        yield (table(
            ["engine", "mode", "p50 ms", "p95 ms", "p99 ms", "QPS", "encode p50", "engine p50", "fusion p50", "errors"],
            [[x["engine"], x["mode"], cols["p50"][i], cols["p95"][i], cols["p99"][i], cols["qps"][i], cols["encode"][i], cols["engine_ms"][i], cols["fusion"][i], str(x["errors"])] for i, x in enumerate(lat_rows)],
            ["l", "l", "r", "r", "r", "r", "r", "r", "r", "r"],
        ))
        yield ""
        loads = [m.get("latency", {}).get(str(c), {}).get("load_1m") for _, _, m in ok_modes(r)]
        loads = [x for x in loads if x is not None]
        span = f"{min(loads):.1f}" if loads and min(loads) == max(loads) else (f"{min(loads):.1f}–{max(loads):.1f}" if loads else "")
        load_note = f" Machine load (1-min average) at the end of the timed round: {span} on {env['machine'].get('cpu_count')} CPUs." if loads else ""
        yield f"Encode / engine / fusion: medians of the per-query split, in ms; best p50/p95/p99/QPS in bold.{load_note}"
        yield ""


def _layout_text(layout: dict | None, nodes: int | None) -> str:
    """"2 × 1 (3 nodes)": primaries, copies of each besides the primary, node URLs the client had."""
    if not layout:
        return "-"
    text = f"{layout['shards']} × {layout['replicas']}"
    return f"{text} ({nodes} nodes)" if nodes and nodes > 1 else text


def _section_engines(r: dict) -> Iterator[str]:
    """Index size, indexing and encoding speed, ANN recall."""
    yield "## Engines: index size, indexing and encoding speed, ANN recall"
    yield ""
    enc = r.get("encoding", {})
    eng_rows = []
    for e, entry in r["engines"].items():
        indexing = entry.get("indexing") or {}
        eng_rows.append({
            "engine": e, "status": entry["status"], "version": entry.get("version"), "documents": entry.get("documents"),
            "indexing": entry.get("indexing_docs_per_second"), "encoding": entry.get("encoding_docs_per_second"),
            "bytes": entry.get("index_bytes"), "ann": entry.get("ann_recall@10"),
            "reused": indexing.get("reused"), "measured_at": indexing.get("measured_at"),
            "layout": _layout_text(entry.get("layout"), entry.get("nodes")),
        })
    cols = {
        "indexing": _column(eng_rows, "indexing", True, 1),
        "bytes": _column(eng_rows, "bytes", False, 0, _bytes),
        "ann": _column(eng_rows, "ann", True, 3),
    }
    yield (table(
        ["engine", "version", "documents", "shards × replicas (nodes)", "indexing docs/s", "encoding docs/s", "index size", "ANN recall@10", "index"],
        [[x["engine"], _fmt(x["version"]), _fmt(x["documents"]), x["layout"], cols["indexing"][i], _fmt(x["encoding"], 1), cols["bytes"][i], cols["ann"][i],
          ("reused (built " + (x["measured_at"] or "earlier") + ")") if x["reused"] else ("built in this run" if x["reused"] is False else x["status"])]
         for i, x in enumerate(eng_rows)],
        ["l", "l", "r", "r", "r", "r", "r", "l"],
    ))
    yield ""
    if enc.get("corpus_encoded") is None:
        yield (
            "- Indexing docs/s: the whole Indexer run (read, encode, bulk writes, refresh); the embedding cache was off, so every "
            "engine's rate includes encoding the corpus. An index that was up to date is reused and shows the rate measured when it was built."
        )
    else:
        yield (
            "- Indexing docs/s: the whole Indexer run (read, embedding-cache lookup, bulk writes, refresh) with the corpus already encoded "
            "in the embedding cache, so engines are compared on writing, not on the model. An index that was up to date is reused and "
            "shows the rate measured when it was built."
        )
    if enc.get("docs_per_second") is not None:
        yield (
            f"- Encoding docs/s: the bare encoder ({r['environment'].get('model', {}).get('name') if r['environment'].get('model') else 'model'}, cache off) on a seeded sample of "
            f"{enc['sample']} documents: {enc['docs_per_second']:.1f} docs/s. It runs client-side, so it is the same for every engine; "
            f"indexing a fresh corpus costs about documents / this rate on top of the indexing time."
        )
    if enc.get("corpus_encoded") is not None:
        yield f"- This run encoded {enc['corpus_encoded']} documents and read {enc['corpus_cached']} from the embedding cache ({_fmt(enc.get('corpus_seconds'), 1)} s)."
    yield (
        "- ANN recall@10: each engine's kNN top 10 (k=10, candidates = depth) against the embedded engine's exact top 10 for the same "
        "query vectors, averaged over the judged queries; 1.000 for the embedded engine by construction."
    )
    yield "- Index size: the engine's own figure for the index on disk (Elasticsearch/OpenSearch primaries store size, Solr core index size, embedded folder size)."
    note = explain_sizes(r)
    if note:
        yield f"- {note}"
    yield ""


def _section_plots(r: dict) -> Iterator[str]:
    """The three plots written beside the report."""
    yield "## Plots"
    yield ""
    yield "![nDCG@10 by engine and mode](plots/ndcg.png)"
    yield ""
    yield "![Latency percentiles by engine and mode](plots/latency.png)"
    yield ""
    yield "![Quality against latency](plots/quality_vs_latency.png)"
    yield ""


def _section_environment(r: dict) -> Iterator[str]:
    """The machine, the versions and the model."""
    env = r["environment"]
    yield "## Machine and versions"
    yield ""
    m = env["machine"]
    mem = m.get("memory_bytes")
    yield (f"- Machine: {m.get('processor') or m.get('machine')}, {m.get('cpu_count')} CPUs, {_bytes(mem) if mem else '? memory'}, {m.get('platform')}"
        + (f", accelerator {m['accelerator']}" if m.get("accelerator") else ", no accelerator used"))
    yield f"- Python {env['python']}" + (f", neural-search at commit {env['git_commit']}" if env.get("git_commit") else "")
    for e, info in env.get("engines", {}).items():
        extra = f" (plugins: {', '.join(info['plugins'])})" if info.get("plugins") else ""
        yield f"- {e}: {info.get('version')}{extra}"
    model = env.get("model")
    if model:
        yield (
            f"- Model: {model['name']}, fingerprint `{model['id']}` (weights sha256 `{model['weights_sha256'][:16]}…`, dim {model['dimension']}, "
            f"{model['similarity']}, max_seq_length {model['max_seq_length']}, pooling {model['pooling']})"
        )
    libs = ", ".join(f"{k} {v}" for k, v in env.get("libraries", {}).items() if v)
    yield f"- Libraries: {libs}"
    yield ""


# The report, in order: each section is a pure function of the results dictionary.
SECTIONS = (
    _section_head, _section_relevance, _section_published, _section_agreement, _section_significance, _section_latency,
    _section_engines, _section_plots, _section_environment,
)


def render_markdown(results: dict) -> str:
    return "\n".join(line for section in SECTIONS for line in section(results))


def render_reproduce(results: dict) -> str:
    """Pyserini-style: the command, the scores it should reproduce, and the one-command check."""
    r = results
    s = r["settings"]
    lines = [
        f"# Reproducing the {r['dataset']['name']} ({r['dataset']['split']}) comparison",
        "",
        f"Generated with the report (from `results.json`, {r.get('finished_at') or r['started_at']}); do not edit by hand.",
        "",
        "Engines up (`make engines-up`), then:",
        "",
        "```sh",
        r["command"],
        "```",
        "",
        "To check a build against these scores, run the same command into another folder with `--expect`; it exits 3 and names "
        "every score that moved by more than the tolerance (0.002 for exact results; 0.01 for results that depend on approximate kNN "
        "search on Elasticsearch, OpenSearch and Solr, whose HNSW graphs differ from build to build):",
        "",
        "```sh",
        _with_expect(r["command"], r["settings"]),
        "```",
        "",
    ]
    if (r["dataset"]["name"], r["dataset"]["split"]) == ("nfcorpus", "test"):
        lines += [
            "From the repository root, `make report REPORT_OUT=reports/example` runs the first command and `make report-check` "
            "a quicker form of the second (relevance plus one timed round at concurrency 1, no warm-up) into `reports/nfcorpus-check`.",
            "",
        ]
    lines += [
        f"Expected scores (ir-measures, mean over {r['dataset']['judged_queries']} judged queries, runs {s['depth']} deep):",
        "",
    ]
    rows = [[e, mo, *[_fmt(m.get(k)) for k in METRICS]] for e, mo, m in ok_modes(r)]
    lines.append(table(["engine", "mode", *[METRIC_LABELS[k] for k in METRICS]], rows, ["l", "l", "r", "r", "r", "r"]) if rows else "_None measured._")
    lines += [
        "",
        "Latency and throughput depend on the machine and are not expected to reproduce; the relevance scores are. "
        "Indexes named `" + s["index"] + "` are reused when up to date (same document count and model fingerprint); add `--reindex` to rebuild them.",
        "",
    ]
    return "\n".join(lines)


def _with_expect(command: str, settings: dict) -> str:
    import shlex

    parts = shlex.split(command)
    if "--out" in parts:
        i = parts.index("--out")
        expected = Path(parts[i + 1]) / "results.json"
        parts[i + 1] = f"/tmp/{settings.get('index', 'compare')}-check"
        parts += ["--expect", str(expected)]
    return " ".join(shlex.quote(p) for p in parts)


def summary_text(results: dict) -> str:
    lines = [f"{'engine':<14}{'mode':<24}{'nDCG@10':>9}{'R@100':>8}{'p50 ms':>9}{'QPS':>8}"]
    c = str(results["settings"]["concurrency"][0]) if results["settings"]["concurrency"] else "1"
    for e, mo, m in ok_modes(results):
        lat = m.get("latency", {}).get(c) or {}
        lines.append(f"{e:<14}{mo:<24}{_fmt(m['ndcg@10']):>9}{_fmt(m['recall@100']):>8}{_fmt(lat.get('p50_ms'), 1):>9}{_fmt(lat.get('qps'), 1):>8}")
    return "\n".join(lines)


def write_report(results: dict, out: str | Path) -> list[Path]:
    """report.md, REPRODUCE.md and plots/*.png in `out`; returns the paths written."""
    out = Path(out)
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    written = [
        plot_ndcg(results, plots / "ndcg.png"),
        plot_latency(results, plots / "latency.png"),
        plot_quality_latency(results, plots / "quality_vs_latency.png"),
    ]
    for name, text in (("report.md", render_markdown(results)), ("REPRODUCE.md", render_reproduce(results))):
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
