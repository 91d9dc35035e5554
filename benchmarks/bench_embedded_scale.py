"""The embedded engine at scale: exact search and a faiss HNSW index side by side over synthetic
384-d unit vectors (neural_search.compare.sweep.synthetic: a Gaussian mixture around 1000
centres). Per variant: write time, snapshot (memory-mapped vectors file) and graph build time,
query p50/p95, peak RSS and RssAnon, and the HNSW's recall@10 against exact search.

    python3 benchmarks/bench_embedded_scale.py --vectors 1000000

Each step runs in a fresh subprocess, so every RSS figure is that step's alone:
  write             the documents through EmbeddedStore.write, in chunks, into the exact index;
                    the hnsw index gets a copy of its SQLite file (write() does the same work
                    whatever the vector index, so it is timed once)
  build <variant>   the first refresh (vectors streamed from SQLite into vectors.<gen>.f32) and,
                    for hnsw, the first search (the graph is built then, and saved)
  serve <variant>   a new process reopening the index (files reused, nothing rebuilt), warm-up,
                    then the timed queries (k=10; hnsw at each --depths)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

K = 10
DEFAULT_STATE = Path(os.environ.get("TMPDIR_BENCH", "/var/tmp")) / "neural-search-bench-embedded"
VARIANTS = ("exact", "hnsw")


def status() -> dict[str, float]:
    """This process's memory in MiB, as /proc/self/status has it (VmHWM: peak RSS)."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def _data(args):
    from neural_search.compare.sweep import synthetic

    return synthetic(args.vectors, dimension=args.dimension, queries=args.queries, clusters=args.clusters, seed=args.seed)


def _options(args, variant: str):
    from neural_search.engines.base import IndexOptions
    from neural_search.engines.vector_index import VectorIndexOptions

    if variant != "hnsw":
        return IndexOptions()
    return IndexOptions(vector=VectorIndexOptions("hnsw", m=args.hnsw_m, ef_construction=args.hnsw_ef_construction))


def _store(args, variant: str):
    from neural_search.engines.embedded import EmbeddedStore

    return EmbeddedStore(path=args.state / variant, options=_options(args, variant))


def step_write(args) -> dict:
    import numpy as np

    from neural_search.documents import Document
    from neural_search.engines.base import IndexedDoc

    data = _data(args)
    np.save(args.state / "queries.npy", data.query_vectors)
    store = _store(args, "exact")
    store.create_physical("bench", fingerprint=data.fingerprint)
    started = time.perf_counter()
    for start in range(0, len(data.ids), args.chunk):
        stop = min(start + args.chunk, len(data.ids))
        docs = [IndexedDoc(Document(id=data.ids[i], title=f"doc {i}", text=f"cluster text {i % 97}"), data.vectors[i]) for i in range(start, stop)]
        failed = [r for r in store.write("bench", docs) if not r.ok]
        if failed:
            raise SystemExit(f"write refused {len(failed)} document(s): {failed[0]}")
    write_seconds = time.perf_counter() - started
    store.close()
    hnsw = _store(args, "hnsw")
    hnsw.create_physical("bench", fingerprint=data.fingerprint)
    hnsw.close()
    # The SQLite backup API copies a consistent database (WAL included) page by page.
    source = sqlite3.connect(args.state / "exact" / "bench" / "docs.sqlite")
    target = sqlite3.connect(args.state / "hnsw" / "bench" / "docs.sqlite")
    with target:
        source.backup(target)
    source.close()
    target.close()
    return {"documents": len(data.ids), "write_seconds": round(write_seconds, 2),
            "write_docs_per_second": round(len(data.ids) / write_seconds, 1), "memory_mib": status()}


def step_build(args, variant: str) -> dict:
    import numpy as np

    store = _store(args, variant)
    query = np.load(args.state / "queries.npy")[0]
    started = time.perf_counter()
    store.refresh("bench")
    snapshot_seconds = time.perf_counter() - started
    after_snapshot = status()
    started = time.perf_counter()
    store.knn("bench", query, k=K)
    first_query_seconds = time.perf_counter() - started
    files = {p.name: p.stat().st_size for p in (args.state / variant / "bench").iterdir() if p.is_file()}
    return {"snapshot_seconds": round(snapshot_seconds, 2), "first_query_seconds": round(first_query_seconds, 2),
            "memory_after_snapshot_mib": after_snapshot, "memory_mib": status(), "files_bytes": files}


def step_serve(args, variant: str) -> dict:
    import numpy as np

    queries = np.load(args.state / "queries.npy")
    store = _store(args, variant)
    started = time.perf_counter()
    store.refresh("bench")
    reopen_seconds = time.perf_counter() - started
    started = time.perf_counter()
    store.knn("bench", queries[0], k=K)
    first_query_seconds = time.perf_counter() - started
    depths = args.depths if variant == "hnsw" else [None]
    runs = {}
    for depth in depths:
        for q in queries[: args.warmup]:
            store.knn("bench", q, k=K, num_candidates=depth, ids_only=True)
        times, found = [], []
        for q in queries:
            t0 = time.perf_counter()
            hits = store.knn("bench", q, k=K, num_candidates=depth, ids_only=True)
            times.append((time.perf_counter() - t0) * 1000)
            found.append([h.id for h in hits])
        runs[str(depth or "exact")] = {"latency_ms": C.summary(times), "ids": found}
    return {"reopen_seconds": round(reopen_seconds, 3), "first_query_seconds": round(first_query_seconds, 3), "runs": runs,
            "memory_mib": status()}


def child(args, step: str, variant: str | None) -> dict:
    command = [sys.executable, __file__, "--child", step, *([variant] if variant else []), *args.passthrough]
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(args.threads)
    print(f"[{time.strftime('%H:%M:%S')}] {step} {variant or ''}", file=sys.stderr, flush=True)
    result = subprocess.run(command, env=env, stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def recall(found: list[list[str]], exact: list[list[str]]) -> float:
    hits = sum(len(set(a) & set(b)) for a, b in zip(found, exact))
    return hits / sum(len(b) for b in exact)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vectors", type=int, default=1_000_000, help="documents indexed (default 1000000; try 50000 first)")
    p.add_argument("--dimension", type=int, default=384)
    p.add_argument("--clusters", type=int, default=1000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--chunk", type=int, default=5000, help="documents per EmbeddedStore.write call")
    p.add_argument("--depths", default="100,200,400", help="hnsw query depths (efSearch) measured; the first is the default, 100")
    p.add_argument("--hnsw-m", type=int, default=None, help="the hnsw index's m (default: the embedded engine's, 32; vector_index.ENGINE_DEFAULT_M)")
    p.add_argument("--hnsw-ef-construction", type=int, default=None, help="the hnsw index's ef_construction (default 100)")
    p.add_argument("--threads", type=int, default=2, help="OpenMP/BLAS threads of each step (faiss builds the graph on these)")
    p.add_argument("--state", type=Path, default=DEFAULT_STATE, help=f"index directories, wiped first (default {DEFAULT_STATE})")
    p.add_argument("--keep", action="store_true", help="leave the indexes in --state afterwards")
    p.add_argument("--out", type=Path, default=C.RESULTS_DIR / "bench_embedded_scale.json")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.vectors < 1000 or args.queries < 1 or args.threads < 1:
        p.error("--vectors must be at least 1000, --queries and --threads at least 1")
    args.depths = [int(d) for d in args.depths.split(",") if d.strip()]
    if args.child:
        if args.threads:
            import faiss

            faiss.omp_set_num_threads(args.threads)
        step, variant = args.child[0], (args.child[1] if len(args.child) > 1 else None)
        result = {"write": lambda: step_write(args), "build": lambda: step_build(args, variant), "serve": lambda: step_serve(args, variant)}[step]()
        print(json.dumps(result))
        return 0

    raw = list(argv if argv is not None else sys.argv[1:])
    args.passthrough = [a for a in raw if a != "--keep"]
    shutil.rmtree(args.state, ignore_errors=True)
    args.state.mkdir(parents=True)
    started = time.perf_counter()
    steps = {"write": child(args, "write", None)}
    for variant in VARIANTS:
        steps[f"build {variant}"] = child(args, "build", variant)
        steps[f"serve {variant}"] = child(args, "serve", variant)
    exact_ids = steps["serve exact"]["runs"]["exact"]["ids"]
    rows, variants = [], {}
    for variant in VARIANTS:
        build, serve = steps[f"build {variant}"], steps[f"serve {variant}"]
        for depth, run in serve["runs"].items():
            label = variant if variant == "exact" else f"{_options(args, variant).vector.label} depth {depth}"
            entry = {
                "write_seconds": steps["write"]["write_seconds"], "snapshot_seconds": build["snapshot_seconds"],
                "graph_build_seconds": build["first_query_seconds"] if variant == "hnsw" else None,
                "reopen_seconds": serve["reopen_seconds"], "first_query_after_reopen_seconds": serve["first_query_seconds"],
                "p50_ms": run["latency_ms"]["p50"], "p95_ms": run["latency_ms"]["p95"], "recall_at_10": round(recall(run["ids"], exact_ids), 4),
                "build_peak_rss_mib": build["memory_mib"]["VmHWM"], "build_rss_anon_mib": build["memory_mib"]["RssAnon"],
                "serve_peak_rss_mib": serve["memory_mib"]["VmHWM"], "serve_rss_anon_mib": serve["memory_mib"]["RssAnon"],
                "serve_rss_file_mib": serve["memory_mib"]["RssFile"], "index_files_bytes": build["files_bytes"],
            }
            variants[label] = entry
    exact = variants["exact"]
    for label, e in variants.items():
        rows.append([
            label, e["snapshot_seconds"], e["graph_build_seconds"] if e["graph_build_seconds"] is not None else "-",
            e["p50_ms"], e["p95_ms"], f"{exact['p50_ms'] / e['p50_ms']:.1f}x", e["recall_at_10"],
            e["serve_peak_rss_mib"], e["serve_rss_anon_mib"], e["build_peak_rss_mib"],
        ])
    print(f"{args.vectors} vectors x {args.dimension}, {args.queries} queries, k={K}; write {steps['write']['write_seconds']} s "
          f"({steps['write']['write_docs_per_second']} docs/s, once: both variants hold the same SQLite file)")
    print(C.table(["variant", "snapshot s", "graph s", "p50 ms", "p95 ms", "speed-up", "recall@10", "serve peak RSS MiB",
                   "serve RssAnon MiB", "build peak RSS MiB"], rows))
    for run in steps["serve exact"]["runs"].values():
        run.pop("ids")
    for run in steps["serve hnsw"]["runs"].values():
        run.pop("ids")
    payload = {
        "benchmark": "bench_embedded_scale", "when": C.timestamp(), "command": C.command_line(), "git": C.git_commit(),
        "machine": {"cpus": os.cpu_count(), "cpu_model": C.environment.cpu_model() or "", "python": sys.version.split()[0],
                    "loadavg_at_end": os.getloadavg(), "threads": args.threads},
        "hnsw": _options(args, "hnsw").vector.to_dict(),
        "dataset": {"vectors": args.vectors, "dimension": args.dimension, "clusters": args.clusters, "queries": args.queries,
                    "seed": args.seed, "k": K},
        "versions": _versions(), "seconds": round(time.perf_counter() - started, 1), "variants": variants, "steps": steps,
    }
    print(f"wrote {C.write_json(args.out, payload)}")
    if not args.keep:
        shutil.rmtree(args.state, ignore_errors=True)
    return 0


def _versions() -> dict:
    import faiss
    import numpy

    return {"numpy": numpy.__version__, "faiss": faiss.__version__, "sqlite": sqlite3.sqlite_version}


if __name__ == "__main__":
    raise SystemExit(main())
