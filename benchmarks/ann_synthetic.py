"""The ANN side of `neural-search compare --sweep` on synthetic vectors, at a size no shared
collection has: unit vectors drawn around random centres (neural_search.compare.sweep.synthetic),
generated here, so nothing is encoded. Same measurements and report as the sweep command.

    python3 benchmarks/ann_synthetic.py --vectors 100000 --out reports/sweep-synthetic-100k
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neural_search.compare.schema import validate_sweep  # noqa: E402
from neural_search.compare.sweep import DEFAULT_DEPTHS, parse_depths, parse_options, run_sweep, synthetic  # noqa: E402
from neural_search.compare.sweep_report import summary_text, write_report  # noqa: E402
from neural_search.engines import open_store  # noqa: E402
from neural_search.registry import SERVER_ENGINES  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vectors", type=int, default=100_000, help="vectors indexed (default 100000)")
    p.add_argument("--dimension", type=int, default=384, help="default 384, all-MiniLM-L6-v2's")
    p.add_argument("--clusters", type=int, default=1000, help="mixture centres (default 1000)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--engines", default=",".join(SERVER_ENGINES))
    p.add_argument("--options", default=None, help="as compare --sweep-options (default: every engine's sweep defaults)")
    p.add_argument("--depths", default=None, help=f"default {','.join(map(str, DEFAULT_DEPTHS))}")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--prefix", default="bench-ann")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/sweep-synthetic"))
    args = p.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    options = parse_options(args.options, engines)
    depths = parse_depths(args.depths)
    data = synthetic(args.vectors, dimension=args.dimension, queries=args.queries, clusters=args.clusters, seed=args.seed)
    stores = {e: open_store(e) for e in engines}
    command = "python3 benchmarks/ann_synthetic.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        results = run_sweep(data, stores, options, depths=depths, out=args.out, prefix=args.prefix, warmup=args.warmup, rounds=args.rounds,
                            command=command, say=lambda m: print(m, file=sys.stderr, flush=True), on_run=lambda r: write_report(r, args.out))
    finally:
        for store in stores.values():
            store.close()
    validate_sweep(results)
    write_report(results, args.out)
    print(summary_text(results))
    return 0 if results["status"] == "complete" else 1


if __name__ == "__main__":
    raise SystemExit(main())
