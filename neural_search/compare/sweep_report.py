"""The ANN sweep's report: report.md (the fastest setting reaching each recall target, memory
against the documented claims, every point), and the recall-vs-QPS plot with the Pareto front."""

from __future__ import annotations

from pathlib import Path

TARGETS = (0.95, 0.99)


def points(results: dict) -> list[dict]:
    """Every measured point, flattened with its engine and option."""
    out = []
    for run in results["runs"]:
        if run["status"] != "ok":
            continue
        for p in run["points"]:
            out.append({**p, "engine": run["engine"], "label": run["label"], "type": run["option"]["type"]})
    return out


def pareto(rows: list[dict]) -> list[dict]:
    """The points no other point beats on both recall and QPS (at least as good on both, better on one)."""
    front = []
    for p in rows:
        dominated = any(
            q["recall_at_10"] >= p["recall_at_10"] and q["qps"] >= p["qps"] and (q["recall_at_10"] > p["recall_at_10"] or q["qps"] > p["qps"])
            for q in rows
        )
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: p["recall_at_10"])


def fastest(results: dict, target: float) -> dict[str, dict | None]:
    """Per engine: the point with the lowest p50 latency whose recall@10 reaches `target` (None: none does)."""
    engines = list(dict.fromkeys(r["engine"] for r in results["runs"]))
    out: dict[str, dict | None] = {}
    for engine in engines:
        reaching = [p for p in points(results) if p["engine"] == engine and p["recall_at_10"] >= target]
        out[engine] = min(reaching, key=lambda p: (p["p50_ms"], -p["recall_at_10"])) if reaching else None
    return out


def _documented(run: dict, dataset: dict) -> int | None:
    from ..engines.vector_index import VectorIndexOptions
    from .sweep import documented_memory_bytes

    return documented_memory_bytes(run["engine"], VectorIndexOptions.from_dict(run["option"]), dataset["documents"], dataset["dimension"])


def _mb(value) -> str:
    return "–" if value is None else f"{value / 1e6:.1f} MB"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def report_markdown(results: dict) -> str:
    d, s = results["dataset"], results["settings"]
    lines = [
        f"# ANN sweep: {d['name']}",
        "",
        f"{d['description']}." + (" **Synthetic vectors** (generated in the benchmark, not a model's)." if d["synthetic"] else ""),
        f"Recall@{s['k']} against the embedded engine's exact kNN; one client, queries one at a time; per index one untimed "
        f"pass at the deepest setting, then {s.get('rounds', 1)} timed passes over the depths in alternating order, each depth after "
        f"{s['warmup']} untimed queries with the caches cleared; indexes force-merged to one segment before searching. "
        f"Status: {results['status']}, {results['started_at']} to {results['finished_at']}.",
        "",
    ]
    if results.get("command"):
        lines += ["```bash", results["command"], "```", ""]
    machine = results["environment"]["machine"]
    engines = results["environment"].get("engines", {})
    lines += [f"Machine: {machine.get('processor')}, {machine.get('cpu_count')} CPUs; engines: "
              + ", ".join(f"{e} {v.get('version')}" for e, v in engines.items()), ""]
    lines += ["## Fastest setting reaching the recall target", ""]
    rows = []
    for target in TARGETS:
        for engine, p in fastest(results, target).items():
            rows.append([f">= {target}", engine, "none reached" if p is None else p["label"], "–" if p is None else str(p["depth"]),
                         "–" if p is None else f"{p['recall_at_10']:.3f}", "–" if p is None else f"{p['p50_ms']:.2f}",
                         "–" if p is None else f"{p['p99_ms']:.2f}", "–" if p is None else f"{p['qps']:.0f}"])
    lines += _table(["recall@10", "engine", "index", "depth", "recall", "p50 ms", "p99 ms", "QPS"], rows) + [""]
    lines += ["## Build, size and vector memory", "",
              "Vector memory = the bytes a search reads at random: HNSW graph (.vex) plus the vectors it scores with "
              "(quantised copies .veq/.veb where the type quantises; float .vec otherwise; Solr's byte field: its int8 .vec). "
              "Saving: against the same engine's float `hnsw`.", ""]
    rows = []
    for run in results["runs"]:
        if run["status"] != "ok":
            rows.append([run["engine"], run["label"], f"{run['status']}: " + (run["error"] or "")[:120], "", "", "", "", "", "", ""])
            continue
        b, f = run["build"], run["vector_files"]
        engine_mem = run.get("engine_vector_memory")
        saving = run.get("memory_saving")
        rows.append([
            run["engine"], run["label"], f"{b['build_seconds']:.1f} s (+{b['merge_seconds']:.1f} s merge)", _mb(run["index_bytes"]),
            " / ".join(_mb(f.get(ext)) for ext in ("vec", "veq", "veb", "vex")), _mb(run["vector_memory_bytes"]),
            "–" if saving is None else f"{saving * 100:.0f}%", f"{run['documented_memory']}; formula {_mb(_documented(run, d))}",
            "–" if not engine_mem else _mb(engine_mem.get("total_size_bytes")),
            "–" if run.get("load_1m") is None else f"{run['load_1m']:.1f}",
        ])
    lines += _table(["engine", "index", "build (write+refresh)", "on disk", "vec / veq / veb / vex", "vector memory", "saving",
                     "documented", "engine-reported off-heap", "load 1m"], rows) + [""]
    front = pareto(points(results))
    lines += ["## Pareto front (recall@10 vs QPS)", "",
              ", ".join(f"{p['engine']} {p['label']} depth {p['depth']} ({p['recall_at_10']:.3f}, {p['qps']:.0f} QPS)" for p in front), "",
              "![recall vs QPS](recall_qps.png)", "", "## Every point", ""]
    rows = [[p["engine"], p["label"], str(p["depth"]), f"{p['recall_at_10']:.3f}", f"{p['p50_ms']:.2f}", f"{p['p99_ms']:.2f}", f"{p['qps']:.0f}"]
            for p in points(results)]
    lines += _table(["engine", "index", "depth", "recall@10", "p50 ms", "p99 ms", "QPS"], rows) + [""]
    return "\n".join(lines)


def write_report(results: dict, out: Path) -> list[Path]:
    from .plots import plot_recall_qps

    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.md"
    report.write_text(report_markdown(results))
    written = [report]
    if points(results):
        written.append(plot_recall_qps(results, out / "recall_qps.png"))
    return written


def summary_text(results: dict) -> str:
    lines = [f"ANN sweep of {results['dataset']['name']} ({results['status']}):"]
    for target in TARGETS:
        for engine, p in fastest(results, target).items():
            lines.append(f"  recall >= {target} {engine}: " + ("none reached" if p is None else
                         f"{p['label']} depth {p['depth']}: recall {p['recall_at_10']:.3f}, p50 {p['p50_ms']:.2f} ms, {p['qps']:.0f} QPS"))
    return "\n".join(lines)
