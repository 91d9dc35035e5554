#!/usr/bin/env python3
"""Renders a bench_index / bench_search JSON result as the Markdown tables used in README.md.

    python3 benchmarks/to_markdown.py benchmarks/results/bench_index.json
    python3 benchmarks/to_markdown.py benchmarks/results/bench_search.json [--compare OTHER.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from neural_search.compare.report import table as md_table  # the comparison report's Markdown tables


def index_md(d: dict) -> str:
    enc = d["encode_only"]
    lines = [
        f"Encoding only: **{enc['docs_per_s_median']} docs/s** (median of {d['params']['repeats']}, "
        f"{enc['wall_s_median']} s for {d['params']['docs']} docs)",
        "",
    ]
    rows = []
    for e, r in d["engines"].items():
        rows.append([
            e, r["index_docs_per_s_median"], f"**{r['ratio_of_medians']:.2f}**", f"{r['paired_ratio_median']:.2f}",
            f"{r.get('overlap_median', float('nan')):.3f}", f"{r['encode_slowdown_vs_encode_only']:.2f}",
            "-" if r.get("engine_cpu_s_median") is None else r["engine_cpu_s_median"], r.get("writer_cpu_s_median", "-"),
            r["wall_s_median"], r["exposed_s_median"], r["version"],
        ])
    lines.append(md_table(
        ["engine", "index docs/s", "ratio", "paired ratio", "overlap", "encode slowdown", "engine CPU s", "writer CPU s", "wall s", "exposed s", "version"],
        rows,
    ))
    return "\n".join(lines)


def search_md(d: dict, other: dict | None = None) -> str:
    rows, ratio_rows = [], []
    dash = lambda v, fmt="{:.2f}": "-" if v is None else fmt.format(v)  # noqa: E731
    for e, r in d["engines"].items():
        for conc, s in r["concurrency"].items():
            for m in ("bm25", "knn", "hybrid", "hybrid@engine", "rawsum"):
                x = s.get(m)
                if x is None:
                    continue  # hybrid@engine, rawsum: only engines that have them
                row = [e, conc, m, x["p50_ms"], x["p95_ms"], x["p99_ms"], x["qps"], dash((x.get("cpu_ms_per_query") or {}).get("total"))]
                if other:
                    y = other["engines"].get(e, {}).get("concurrency", {}).get(conc, {}).get(m)
                    row += [y["p50_ms"] if y else "-", y["p95_ms"] if y else "-"]
                rows.append(row)
            engine_ok = s.get("meets_engine_target")
            row = [e, conc, s["bm25"]["p50_ms"], s["knn"]["p50_ms"], dash((s.get("hybrid@engine") or {}).get("p50_ms"), "{}"),
                   "-" if s.get("engine_ratio_p50") is None else f"**{s['engine_ratio_p50']:.2f}**",
                   "-" if engine_ok is None else ("yes" if engine_ok else "no"),
                   s["hybrid"]["p50_ms"], f"{s['hybrid_ratio_p50']:.2f}", dash(s.get("design_floor_ratio")), dash(s.get("rawsum_ratio_p50"))]
            if other:
                o = other["engines"].get(e, {}).get("concurrency", {}).get(conc)
                row += [f"{o['hybrid_ratio_p50']:.2f}" if o else "-"]
            ratio_rows.append(row)
    headers = ["engine", "conc", "mode", "p50 ms", "p95 ms", "p99 ms", "qps", "CPU ms/query"] + (["p50 ms (other)", "p95 ms (other)"] if other else [])
    ratio_headers = ["engine", "conc", "bm25 p50", "knn p50", "hybrid@engine p50", "hybrid@engine / max(bm25, knn)", "<= 1.10",
                     "client hybrid p50", "client hybrid / max", "client design floor", "rawsum / max"] + (["client ratio (other)"] if other else [])
    return md_table(headers, rows) + "\n\n" + md_table(ratio_headers, ratio_rows)


def _load(values) -> str:
    return "-" if not values else str([round(x, 1) for x in values])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("result", type=Path)
    p.add_argument("--compare", type=Path, help="a second bench_search result to show side by side")
    args = p.parse_args(argv)
    d = json.loads(args.result.read_text())
    m = d["machine"]
    print(f"<!-- {d['benchmark']} {d['when']} git {d['git']}: {m['cpus']} CPUs {m['cpu_model']}, torch {m['torch']} "
          f"({m['torch_threads']} threads), load average at start {_load(m.get('loadavg_at_start'))}, "
          f"at end {_load(d.get('loadavg_at_end'))} -->")
    print(f"`{d['command']}`\n")
    if d["benchmark"] == "bench_index":
        print(index_md(d))
    else:
        print(search_md(d, json.loads(args.compare.read_text()) if args.compare else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
