#!/usr/bin/env python3
"""Cluster figures beside single-node ones: two `neural-search compare` results.json files.

    python3 benchmarks/cluster_vs_single.py reports/example/results.json reports/nfcorpus-cluster/results.json

Prints, per engine and mode, nDCG@10 on one node and on the cluster and their difference, the
latency p50 of both at concurrency 1, the cluster's layout and ANN recall@10; exits 1 when an
nDCG@10 differs by more than --tolerance (default 0.005) or a cluster's ANN recall@10 is below
--min-recall (default 0.95). Both runs must be over the same dataset, split and depth.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"cluster_vs_single: cannot read {path}: {exc}") from None


def p50(mode: dict, concurrency: str) -> float | None:
    return ((mode.get("latency") or {}).get(concurrency) or {}).get("p50_ms")


def fmt(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("single")
    parser.add_argument("cluster")
    parser.add_argument("--tolerance", type=float, default=0.005)
    parser.add_argument("--min-recall", type=float, default=0.95)
    parser.add_argument("--concurrency", default="1")
    args = parser.parse_args(argv)
    single, cluster = load(args.single), load(args.cluster)
    for key in ("name", "split"):
        if single["dataset"][key] != cluster["dataset"][key]:
            raise SystemExit(f"cluster_vs_single: the runs are over different datasets ({single['dataset'][key]} vs {cluster['dataset'][key]})")
    if single["settings"]["depth"] != cluster["settings"]["depth"]:
        raise SystemExit("cluster_vs_single: the runs used different --depth")

    problems = []
    print(f"| engine | cluster layout | ANN recall@10 (one node / cluster) | mode | nDCG@10 one node | cluster | difference "
          f"| p50 ms one node | cluster (concurrency {args.concurrency}) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for engine, entry in cluster["engines"].items():
        base = single["engines"].get(engine)
        if base is None or entry.get("status") != "ok":
            continue
        layout = entry.get("layout") or {}
        nodes = entry.get("nodes") or 1
        shape = f"{layout.get('shards', '?')} × {layout.get('replicas', '?')} ({nodes} node{'s' if nodes != 1 else ''})"
        recall = entry.get("ann_recall@10")
        if engine != "embedded" and recall is not None and recall < args.min_recall:
            problems.append(f"{engine}: ANN recall@10 {recall:.3f} < {args.min_recall}")
        for mode, result in entry["modes"].items():
            before = base["modes"].get(mode)
            if before is None or result.get("ndcg@10") is None or before.get("ndcg@10") is None:
                continue
            diff = result["ndcg@10"] - before["ndcg@10"]
            if abs(diff) > args.tolerance:
                problems.append(f"{engine} {mode}: nDCG@10 {before['ndcg@10']:.4f} on one node, {result['ndcg@10']:.4f} on the cluster")
            print(
                f"| {engine} | {shape} | {fmt(base.get('ann_recall@10'), 3)} / {fmt(recall, 3)} | {mode} | {before['ndcg@10']:.4f} "
                f"| {result['ndcg@10']:.4f} | {diff:+.4f} | {fmt(p50(before, args.concurrency), 2)} | {fmt(p50(result, args.concurrency), 2)} |"
            )
    for problem in problems:
        print(f"cluster_vs_single: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
