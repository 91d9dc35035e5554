"""The `neural-search compare` command: its options, and the run from options to exit code.

It knows nothing of cli.py: the CLI hands in how to add the engine connection options, the
default state folder and how to open a store from the parsed options."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigurationError
from ..evaluation import load_collection
from ..registry import CLUSTER_PORTS, ENGINES, SERVER_ENGINES, cluster_urls
from . import report
from .relevance import check_expected, comparable
from .running import Comparison
from .schema import validate_results
from .settings import (
    ALL_MODES, DEFAULT_MODEL, DEFAULT_MODES, PROFILE_MODE, CompareError, parse_concurrency, parse_engines, parse_modes,
)

OpenStore = Callable[[argparse.Namespace, str], Any]


def _check_options(args: argparse.Namespace) -> None:
    if args.dataset is None:
        raise ConfigurationError("--dataset is required (a BEIR-style folder)")
    if args.depth < 100:
        raise ConfigurationError("--depth must be at least 100: recall@100 is computed from the run")
    if args.k < 1 or args.k > args.depth:
        raise ConfigurationError(f"--k must be in 1..--depth ({args.depth})")
    if args.warmup < 0 or args.encode_sample < 0 or args.retry_budget < 0:
        raise ConfigurationError("--warmup, --encode-sample and --retry-budget cannot be negative")
    if args.max_queries is not None and args.max_queries < 2:
        raise ConfigurationError("--max-queries must be at least 2 (the paired test needs two queries)")


def _report_only(out: Path) -> int:
    try:
        results = json.loads((out / "results.json").read_text())
    except FileNotFoundError:
        raise CompareError(f"{out / 'results.json'} does not exist; run the comparison first") from None
    print("\n".join(str(p) for p in report.write_report(results, out)))
    return 0


def _regressions(results: dict, expected: dict, args: argparse.Namespace) -> int:
    """Prints the check against --expect; 3 when a score moved by more than the tolerance."""
    rows = check_expected(results, expected, tolerance=args.tolerance, ann_tolerance=args.ann_tolerance)
    bad = [r for r in rows if not r["ok"]]
    print(f"check against {args.expect}: {len(rows) - len(bad)} of {len(rows)} scores within tolerance")
    for r in bad:
        print(f"  REGRESSION {r['engine']}/{r['mode']} {r['metric']}: expected {r['expected']}, measured {r['measured']} (tolerance {r['tolerance']})")
    if bad:
        print(f"neural-search: error: {len(bad)} scores differ from {args.expect} by more than the tolerance", file=sys.stderr)
        return 3
    return 0


def cmd_compare(args: argparse.Namespace, open_store: OpenStore) -> int:
    if args.engine is not None:  # `--engine X` given instead of --engines
        if args.engines is not None:
            raise ConfigurationError("give either --engine or --engines, not both")
        engines_text = args.engine
    else:
        engines_text = args.engines
    if getattr(args, "sweep", False):
        from .sweep import cmd_sweep

        # Its own checks, and its own default folder (reports/sweep-<dataset>) unless --out names one.
        sweep_args = argparse.Namespace(**{**vars(args), "engines": engines_text})
        return cmd_sweep(sweep_args, lambda engine: open_store(sweep_args, engine))
    if args.out is None and args.dataset is None:
        raise ConfigurationError("--report-only needs --out (the folder holding results.json)")
    out = Path(args.out) if args.out is not None else Path("reports") / Path(args.dataset).resolve().name
    args = argparse.Namespace(**{**vars(args), "engines": engines_text, "out": str(out)})  # the caller's stays as parsed
    if args.report_only:
        return _report_only(out)

    _check_options(args)
    engines = parse_engines(args.engines or ",".join(ENGINES))
    modes = parse_modes(args.modes)
    if args.profile and not any(m.uses_profile for m in modes):
        modes.append(parse_modes(PROFILE_MODE)[0])  # --profile FILE measures its setting beside the others
    if any(m.uses_profile for m in modes) and not args.profile:
        raise ConfigurationError(f"--modes {PROFILE_MODE} needs --profile FILE (written by `neural-search tune`)")
    concurrency = parse_concurrency(args.concurrency)
    if args.url and len([e for e in engines if e in SERVER_ENGINES]) != 1:
        raise ConfigurationError(
            "--url names one server, but --engines selects several server engines; set NEURAL_SEARCH_<ENGINE>_URL for each instead"
        )
    expected = None
    if args.expect:
        try:
            expected = json.loads(Path(args.expect).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"--expect {args.expect}: cannot read it ({exc})") from None

    collection = load_collection(args.dataset, args.split, max_queries=args.max_queries, seed=args.seed)
    if expected is not None:
        from ..engines.base import DEFAULT_ANALYZER, TextFields

        comparable(expected, collection.name, collection.split, {
            "depth": args.depth, "max_queries": args.max_queries, "seed": args.seed, "analyzer": args.analyzer or DEFAULT_ANALYZER,
            "fields": str(TextFields.parse(args.fields, args.tie_breaker)),
        })

    if args.cluster:
        if args.url:
            raise ConfigurationError("--cluster gives every server engine its local cluster's node URLs; leave out --url")

        def opener(engine: str):
            url = ",".join(cluster_urls(engine)) if engine in CLUSTER_PORTS else None
            return open_store(argparse.Namespace(**{**vars(args), "url": url}), engine)
    else:
        opener = lambda engine: open_store(args, engine)  # noqa: E731
    comparison = Comparison(args, collection, engines, modes, concurrency, opener)
    status = None
    try:
        comparison.run()
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except BaseException:
        status = "failed"
        raise
    finally:
        if comparison.saved and comparison.results.status == "running":
            comparison.finish(status)
            try:
                written = report.write_report(comparison.results.to_dict(), out)
                comparison.say("wrote " + ", ".join(str(p) for p in written))
            except Exception as exc:  # the numbers are safe in results.json; say why the report is not
                print(f"neural-search: could not write the report: {type(exc).__name__}: {exc}", file=sys.stderr)
                if status is None:
                    raise
    results = comparison.results.to_dict()
    validate_results(results)
    print(report.summary_text(results))
    code = 0
    if results["missing"]:
        print("neural-search: these parts were not measured:\n  " + "\n  ".join(results["missing"]), file=sys.stderr)
        code = 1
    if expected is not None:
        return _regressions(results, expected, args) or code
    return code


def add_compare_parser(
    subparsers, *, add_engine_arguments: Callable[[argparse.ArgumentParser], None], state_dir: Path, open_store: OpenStore,
) -> argparse.ArgumentParser:
    from . import __doc__ as description

    p = subparsers.add_parser(
        "compare",
        help="index a judged collection into every engine and compare relevance, latency, throughput and size",
        description=(description or "").split("\n\n")[0],
    )
    p.add_argument("--dataset", help="BEIR-style folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    p.add_argument("--split", default="test", help="qrels split (default test)")
    p.add_argument("--engines", default=None, help=f"comma-separated, or all (default: {','.join(ENGINES)})")
    p.add_argument("--modes", default=",".join(DEFAULT_MODES), help=f"comma-separated bm25, knn, hybrid:<fusion>, or all ({','.join(ALL_MODES)}); default {','.join(DEFAULT_MODES)}")
    p.add_argument("--k", type=int, default=10, help="hits per query in the latency passes (a result page; default 10)")
    p.add_argument("--depth", type=int, default=100, help="hits per query in the relevance run, and candidates per hybrid leg (default 100)")
    p.add_argument("--concurrency", default="1,8", help="comma-separated client threads for the latency passes (default 1,8)")
    p.add_argument("--warmup", type=int, default=20, help="untimed queries before each timed pass (default 20)")
    p.add_argument("--seed", type=int, default=42, help="fixes the query order of the timed passes and every sample (default 42)")
    p.add_argument("--max-queries", type=int, default=None, help="evaluate a seeded sample of this many judged queries (default all)")
    p.add_argument("--out", default=None, help="output folder (default reports/<dataset>)")
    p.add_argument("--index-prefix", default="cmp", help="engine index name is <prefix>-<dataset> (default cmp)")
    p.add_argument("--reindex", action="store_true", help="rebuild the indexes even when they are up to date")
    p.add_argument(
        "--cluster", action="store_true",
        help="run the server engines on the local multi-node clusters (make cluster-up), every node's URL given; add --shards/--replicas",
    )
    p.add_argument("--skip-unavailable", action="store_true", help="record an unreachable engine as missing instead of stopping")
    p.add_argument("--resume", action="store_true", help="continue the run in --out: keep what it measured (same settings), measure the rest")
    p.add_argument("--retry-budget", type=float, default=180.0, help="seconds to wait for an engine that goes away mid-run before giving up on it (default 180)")
    p.add_argument("--encode-sample", type=int, default=200, help="documents encoded with the cache off to time the encoder (default 200; 0 skips)")
    p.add_argument(
        "--fields", default=None,
        help="BM25 fields of every mode: content (title and text as one field, the default) or e.g. 'title,text' (each field on its own, best_fields)",
    )
    p.add_argument("--tie-breaker", type=float, default=None, help="with several --fields: weight of the fields other than the best (0 to 1; default 0)")
    p.add_argument("--profile", default=None, help=f"a search profile from `neural-search tune`, measured as mode {PROFILE_MODE} (add {PROFILE_MODE}@engine to --modes for engine-side)")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: what sentence-transformers picks)")
    p.add_argument("--encode-batch-size", type=int, default=32)
    p.add_argument("--cache", default=None, help="embedding cache file (default ~/.cache/neural-search/embeddings.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="do not use the embedding cache (each engine's indexing then encodes)")
    p.add_argument("--state-dir", type=Path, default=state_dir, help="checkpoints, dead-letter files and build records")
    p.add_argument("--expect", metavar="RESULTS_JSON", help="compare the relevance scores with this results.json; exit 3 if any differs by more than the tolerance")
    p.add_argument("--tolerance", type=float, default=0.002, help="--expect tolerance for exact results (default 0.002)")
    p.add_argument("--ann-tolerance", type=float, default=0.01, help="--expect tolerance for results that depend on approximate kNN (default 0.01)")
    p.add_argument("--report-only", action="store_true", help="rewrite report.md and the plots from --out/results.json")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    from .sweep import add_sweep_arguments

    add_sweep_arguments(p)
    add_engine_arguments(p)
    for action in p._actions:
        if action.dest == "engine":
            action.help = "one engine (same as --engines ENGINE)"
    # `engine` defaults to None here so that `--engine X` can be told apart from the environment default.
    p.set_defaults(func=lambda args: cmd_compare(args, open_store), engine=None)
    return p
