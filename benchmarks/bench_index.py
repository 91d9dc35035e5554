#!/usr/bin/env python3
"""Indexing throughput vs pure encoding throughput, per engine, on the same documents.

For each repeat: encode the N documents with the Encoder alone (cache disabled, the indexer's
batching: `Indexer.batch_size` documents per `encode_documents` call, `Encoder.batch_size` per
forward pass), then index the same N documents into each engine with `neural_search.indexing.Indexer`
(same Encoder, cache disabled, so indexing really encodes), into a fresh index that is dropped
afterwards. The ratio  indexing docs/s / encoding docs/s  says how well the pipeline hides the
writes behind the encoder (target >= 0.9). Medians over the repeats are reported.

    python3 benchmarks/bench_index.py                      # N=400 NFCorpus docs, 3 repeats, all engines
    python3 benchmarks/bench_index.py --docs 2000 --repeats 5 --engines elasticsearch,solr
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (sets HF_HUB_OFFLINE / TOKENIZERS_PARALLELISM before the imports below)

from neural_search.encoding import Encoder  # noqa: E402
from neural_search.indexing import Indexer, batches  # noqa: E402

TARGET_RATIO = 0.9


class TimedStore:
    """Wraps a DocumentStore and adds up the wall time of every call, per method and thread role."""

    def __init__(self, store):
        self._store = store
        self.engine = store.engine
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu_seconds: dict[str, float] = defaultdict(float)  # CPU of the calling thread during the call
        self.calls: dict[str, int] = defaultdict(int)

    def __getattr__(self, name):
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def timed(*args, **kwargs):
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return target(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - t0
                self.cpu_seconds[name] += time.thread_time() - c0
                self.calls[name] += 1

        return timed


def encode_only(encoder: Encoder, records, batch_size: int) -> tuple[float, int, "C.CpuMeter"]:
    """Seconds to encode the documents exactly as the indexer batches them, and how many."""
    n = 0
    with C.CpuMeter() as cpu:
        for batch in batches(records, batch_size):
            if batch.documents:
                encoder.encode_documents(batch.documents)
                n += len(batch.documents)
    return cpu.wall, n, cpu


def index_once(engine: str, store, encoder: Encoder, records, args, state_dir: Path, server_pid: int | None) -> dict:
    timed = TimedStore(store)
    indexer = Indexer(
        timed, encoder, state_dir=state_dir, batch_size=args.batch_size, max_chunk_docs=args.chunk_docs, progress=False
    )
    name = f"bench-index-{engine[:4]}-{uuid.uuid4().hex[:8]}"
    source = {"path": "bench_index", "docs": len(records)}
    try:
        server_cpu0 = C.process_cpu_seconds(server_pid)
        with C.CpuMeter() as cpu:
            summary = indexer.run(records, name=name, source=source)
        server_cpu1 = C.process_cpu_seconds(server_pid)
        wall = cpu.wall
    finally:
        if not args.keep:
            try:
                physical = store.resolve(name)
                if physical:
                    store.drop(physical)
            except Exception as exc:  # report, keep benchmarking
                print(f"  warning: could not drop {engine}:{name}: {exc}", file=sys.stderr)
    if summary.indexed != len([r for r in records if r.document is not None and not r.document.is_empty]):
        raise SystemExit(f"{engine}: indexed {summary.indexed} of {len(records)} documents: {summary.render()}")
    main_thread = {k: v for k, v in timed.seconds.items() if k != "write"}
    return {
        "wall_s": wall,
        "docs": summary.indexed,
        "docs_per_s": summary.indexed / wall,
        "summary_seconds": summary.seconds,
        "encode_s": summary.encode_seconds,  # encoder time inside the pipeline (main thread)
        "write_s": summary.write_seconds,  # writer thread, overlapped with encoding except the last batch
        "exposed_s": wall - summary.encode_seconds,  # everything the encoder did not hide
        "store_calls_s": {k: round(v, 4) for k, v in sorted(timed.seconds.items())},
        "store_calls_main_thread_s": round(sum(main_thread.values()), 4),
        "count_in_engine": summary.count_in_engine,
        "retries": summary.retries,
        "cpu": cpu.to_dict(),  # cores used on average: this process, and everything else (engine servers, other jobs)
        # CPU seconds the engine's server process used during the run (None: embedded, or not on this machine).
        "engine_cpu_s": None if server_cpu0 is None or server_cpu1 is None else round(server_cpu1 - server_cpu0, 3),
        # CPU seconds of the writer thread inside store.write (request building, JSON, HTTP).
        "writer_cpu_s": round(timed.cpu_seconds.get("write", 0.0), 3),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", type=Path, default=C.DEFAULT_DATASETS / "nfcorpus", help="BEIR folder or JSONL (default ../shared/datasets/nfcorpus)")
    p.add_argument("--docs", type=int, default=400, help="first N documents of the source (default 400)")
    p.add_argument("--repeats", type=int, default=3, help="repeats; medians are reported (default 3)")
    p.add_argument("--engines", default=",".join(C.ENGINES), help="comma-separated (default: all four)")
    p.add_argument("--batch-size", type=int, default=256, help="documents per encode batch = Indexer batch_size (default 256, as the CLI)")
    p.add_argument("--encode-batch-size", type=int, default=32, help="model forward-pass batch = Encoder batch_size (default 32)")
    p.add_argument("--chunk-docs", type=int, default=500, help="documents per bulk request (default 500, as the CLI)")
    p.add_argument("--device", default=None, help="encoder device (default: sentence-transformers' choice)")
    p.add_argument("--out", type=Path, default=C.RESULTS_DIR / "bench_index.json", help="JSON results file")
    p.add_argument("--keep", action="store_true", help="keep the benchmark indexes (default: dropped after each run)")
    args = p.parse_args(argv)
    engines = C.parse_engines(args.engines)

    machine = C.machine()  # before any work, so its load average describes the machine as we found it
    records = C.read_records(args.source, args.docs)
    encoder = Encoder(batch_size=args.encode_batch_size, cache=False, device=args.device)
    print(f"loading model; {len(records)} records from {args.source}", flush=True)
    fingerprint = encoder.fingerprint  # model load + weights digest, outside every timing
    encoder.encode_texts(["warm-up " * 20] * args.encode_batch_size)

    tmp = tempfile.TemporaryDirectory(prefix="bench-index-")
    embedded_path = Path(tmp.name) / "embedded"
    stores = {e: C.open_bench_store(e, embedded_path) for e in engines}
    versions = {e: C.engine_version(s) for e, s in stores.items()}
    for e, v in versions.items():
        print(f"  {e:<14} {v}")
        if v.startswith("unavailable"):
            raise SystemExit(f"{e} is not reachable; start it with `python3 servers/manage.py up` or leave it out with --engines")

    encode_runs: list[dict] = []
    runs: dict[str, list[dict]] = {e: [] for e in engines}
    for r in range(args.repeats):
        seconds, n, cpu = encode_only(encoder, records, args.batch_size)
        encode_runs.append({"wall_s": seconds, "docs": n, "docs_per_s": n / seconds, "cpu": cpu.to_dict()})
        print(f"repeat {r + 1}/{args.repeats}: encode only {n / seconds:6.1f} docs/s  (cpu: {cpu.to_dict()})", flush=True)
        if cpu.others_cores is not None and cpu.others_cores > 0.25:
            print(f"  warning: other processes used {cpu.others_cores:.2f} cores during the encode-only run; figures are noisy", flush=True)
        order = engines[r % len(engines):] + engines[: r % len(engines)]  # rotate to spread drift
        for e in order:
            # Looked up per run: someone may restart an engine between runs.
            server_pid = C.engine_pid(e, stores[e].url)
            run = index_once(e, stores[e], encoder, records, args, Path(tmp.name) / "state", server_pid)
            run["paired_ratio"] = run["docs_per_s"] / (n / seconds)
            runs[e].append(run)
            print(
                f"  {e:<14} index {run['docs_per_s']:6.1f} docs/s  (encode in pipeline {run['encode_s']:.1f} s, "
                f"exposed {run['exposed_s']:.2f} s; cpu {run['cpu']})",
                flush=True,
            )
    for s in stores.values():
        s.close()
    tmp.cleanup()

    enc_med = C.median([x["docs_per_s"] for x in encode_runs])
    enc_wall = C.median([x["wall_s"] for x in encode_runs])
    rows, per_engine = [], {}
    for e in engines:
        dps = C.median([x["docs_per_s"] for x in runs[e]])
        ratio = dps / enc_med
        med = lambda key: C.median([x[key] for x in runs[e] if x[key] is not None])  # noqa: E731
        per_engine[e] = {
            "version": versions[e],
            "index_docs_per_s_median": round(dps, 2),
            "ratio_of_medians": round(ratio, 3),
            "paired_ratio_median": round(C.median([x["paired_ratio"] for x in runs[e]]), 3),
            "wall_s_median": round(med("wall_s"), 3),
            "encode_in_pipeline_s_median": round(med("encode_s"), 3),
            "encode_slowdown_vs_encode_only": round(med("encode_s") / enc_wall, 3),
            "write_s_median": round(med("write_s"), 3),
            "writer_cpu_s_median": round(med("writer_cpu_s"), 3),
            "engine_cpu_s_median": None if all(x["engine_cpu_s"] is None for x in runs[e]) else round(med("engine_cpu_s"), 3),
            "exposed_s_median": round(med("exposed_s"), 3),
            # Share of the run's wall time spent encoding: 1.0 = writes and index set-up fully hidden.
            # Unlike the ratio it compares two spans of the same run, so other load on the machine
            # hardly moves it.
            "overlap_median": round(C.median([x["encode_s"] / x["wall_s"] for x in runs[e]]), 3),
            "meets_target": ratio >= TARGET_RATIO,
            "runs": runs[e],
        }
        rows.append([
            e, f"{dps:.1f}", f"{ratio:.2f}", f"{per_engine[e]['paired_ratio_median']:.2f}", "yes" if ratio >= TARGET_RATIO else "NO",
            f"{per_engine[e]['overlap_median']:.3f}", f"{per_engine[e]['encode_slowdown_vs_encode_only']:.2f}",
            "-" if per_engine[e]["engine_cpu_s_median"] is None else f"{per_engine[e]['engine_cpu_s_median']:.1f}",
            f"{per_engine[e]['writer_cpu_s_median']:.2f}",
            f"{med('wall_s'):.2f}", f"{med('encode_s'):.2f}", f"{med('write_s'):.2f}", f"{med('exposed_s'):.2f}", versions[e],
        ])
    print()
    print(f"Encoding only (Encoder cache=False, {args.batch_size} docs per encode_documents call, forward batch {args.encode_batch_size}):")
    print(f"  {enc_med:.1f} docs/s median over {args.repeats} repeats ({enc_wall:.2f} s for {encode_runs[0]['docs']} docs)")
    print()
    print(f"Indexing {encode_runs[0]['docs']} docs end to end (Indexer.run, cache disabled; medians of {args.repeats}; target ratio >= {TARGET_RATIO}):")
    print(C.table(
        ["engine", "docs/s", "ratio", "paired", "ok", "overlap", "enc slowdown", "engine cpu s", "writer cpu s", "wall s", "encode s",
         "write s", "exposed s", "version"], rows
    ))
    print("ratio = median indexing docs/s / median encode-only docs/s; paired = median of per-repeat ratios;")
    print("overlap = encode s / wall s of the same run (1.0 = all writing hidden behind encoding);")
    print("enc slowdown = encode s in the pipeline / encode-only s (>1: the engine or the writer took CPU from the encoder);")
    print("engine cpu s = CPU the engine's server process used during the run (it shares this machine's cores with the encoder);")
    print("writer cpu s = CPU of the indexer's writer thread (request building, JSON, HTTP);")
    print("encode s = encoder time inside the pipeline; write s = writer thread; exposed s = wall - encode s (not hidden).")
    others = [x["cpu"]["others_cores"] for x in encode_runs if x["cpu"]["others_cores"] is not None]
    if others:
        print(f"other processes used {C.median(others):.2f} cores (median) during the encode-only runs"
              + ("; the machine was busy, so docs/s and ratios are noisy (overlap is not)" if C.median(others) > 0.25 else ""))

    payload = {
        **C.run_header("bench_index", machine, fingerprint),
        "params": {
            "source": str(args.source), "docs": encode_runs[0]["docs"], "repeats": args.repeats, "batch_size": args.batch_size,
            "encode_batch_size": args.encode_batch_size, "chunk_docs": args.chunk_docs, "cache": False,
        },
        "target_ratio": TARGET_RATIO,
        "loadavg_at_end": os.getloadavg(),
        "encode_only": {"docs_per_s_median": round(enc_med, 2), "wall_s_median": round(enc_wall, 3), "runs": encode_runs},
        "engines": per_engine,
    }
    print(f"\nresults: {C.write_json(args.out, payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
