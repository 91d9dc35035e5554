#!/usr/bin/env python3
"""Search latency per engine: p50/p95/p99 of bm25, knn and hybrid RRF fused in the client (`hybrid`) and
inside the engine by its plugin (`hybrid@engine`, one request), at concurrency 1 and 8.

The documents (default: all of NFCorpus) are indexed once per engine with the embedding cache on,
and the index is reused on later runs when it holds the right number of documents. The queries
are a fixed list: the first 100 NFCorpus test queries (qrels/test.tsv, in file order). Each engine
gets a warm-up pass (every query, every mode) first. Concurrency C = C threads sharing one
`SearchClient` (one engine client, one encoder, one leg pool), each sending the next query as
soon as its previous one answered (closed loop); latency is the wall time of `client.search()`.

Query embeddings (`--query-embeddings`):
  warm (default)  the warm-up fills the encoder's query LRU, so measured knn/hybrid queries do no
                  model work: the figures are engine + client overhead. Query encoding is timed
                  separately and printed, so you can add it back.
  cold            the LRU is disabled (query_cache_size=0): every knn/hybrid query encodes its text.

The targets, per engine and concurrency: engine-side hybrid p50 / max(bm25 p50, knn p50) <= 1.10
(one request that runs both legs); client-side hybrid p50 / max(...) <= 1.2 (two leg requests side
by side plus a page fetch: not met on 2 cores, see benchmarks/README.md). `rawsum` (the engine adds
the raw scores in one request) is measured too.

    python3 benchmarks/bench_search.py
    python3 benchmarks/bench_search.py --engines elasticsearch --concurrency 1,4,16 --passes 5
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from neural_search.embedding_cache import EmbeddingCache  # noqa: E402
from neural_search.encoding import Encoder, same_model  # noqa: E402
from neural_search.fusion import FusionSpec  # noqa: E402
from neural_search.indexing import Indexer  # noqa: E402
from neural_search.search import SearchClient  # noqa: E402

MODES = ("bm25", "knn", "hybrid")
TARGET_RATIO = 1.2
ENGINE_TARGET_RATIO = 1.10
SEARCHES = {  # mode -> SearchClient.search arguments
    "bm25": {"mode": "bm25"},
    "knn": {"mode": "knn"},
    "hybrid": {"mode": "hybrid", "fusion": "rrf", "fusion_at": "client"},
    "hybrid@engine": {"mode": "hybrid", "fusion": "rrf", "fusion_at": "engine"},
    "rawsum": {"mode": "hybrid", "fusion": "rawsum"},
}


def load_queries(folder: Path, split: str, limit: int) -> list[tuple[str, str]]:
    texts = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                obj = json.loads(line)
                texts[str(obj["_id"])] = obj["text"]
    order: list[str] = []
    seen = set()
    qrels = folder / "qrels" / f"{split}.tsv"
    if qrels.exists():
        with open(qrels, encoding="utf-8") as handle:
            next(handle, None)
            for line in handle:
                qid = line.split("\t", 1)[0]
                if qid in texts and qid not in seen:
                    seen.add(qid)
                    order.append(qid)
    else:  # no judged split: queries.jsonl order
        order = list(texts)
    return [(qid, texts[qid]) for qid in order[:limit]]


def prepare_index(engine: str, store, encoder: Encoder, records, name: str, state_dir: Path) -> dict:
    expected = sum(1 for r in records if r.document is not None and not r.document.is_empty)
    physical = store.resolve(name)
    if physical is not None:
        try:
            count = store.count(physical)
            built_with_it = same_model(store.get_fingerprint(physical), encoder.fingerprint.id)
        except Exception:
            count, built_with_it = -1, False
        if count == expected and built_with_it:
            return {"index": name, "physical": physical, "docs": count, "reused": True, "seconds": 0.0}
    t0 = time.perf_counter()
    indexer = Indexer(store, encoder, state_dir=state_dir, progress=False)
    summary = indexer.run(records, name=name, source={"path": "bench_search", "docs": expected}, recreate=True, restart=True)
    if summary.count_in_engine != expected:
        raise SystemExit(f"{engine}: {summary.count_in_engine} documents in {name}, expected {expected}")
    return {"index": name, "physical": summary.physical, "docs": summary.count_in_engine, "reused": False, "seconds": round(time.perf_counter() - t0, 2)}


def run_queries(client: SearchClient, mode: str, queries, concurrency: int, pool, k: int) -> tuple[list[float], list[dict], float]:
    def one(text: str):
        t0 = time.perf_counter()
        result = client.search(text, k=k, **SEARCHES[mode])
        return (time.perf_counter() - t0) * 1000, dict(result.timings_ms)

    t0 = time.perf_counter()
    if concurrency == 1:
        out = [one(text) for _, text in queries]
    else:
        out = list(pool.map(one, [text for _, text in queries]))
    wall = time.perf_counter() - t0
    return [o[0] for o in out], [o[1] for o in out], wall


def raw_leg_latencies(store, physical: str, encoder: Encoder, queries, candidates: int, pid: int | None, repeats: int = 3) -> dict:
    """Store calls alone, sequential: what each leg costs without the client (diagnostic)."""
    from neural_search.search import limit_query_terms

    out = {}
    vectors = [encoder.encode_query(text) for _, text in queries]
    # The calls a hybrid query makes: both legs at the candidate depth (ids and scores only), then
    # one fetch of a 10-document page.
    page = [h.id for h in store.knn(physical, vectors[0], k=10, num_candidates=candidates, ids_only=True)]
    calls = {
        "bm25_k10": lambda i, t: store.bm25(physical, limit_query_terms(t), k=10),
        "knn_k10": lambda i, t: store.knn(physical, vectors[i], k=10, num_candidates=candidates),
        f"bm25_k{candidates}_ids": lambda i, t: store.bm25(physical, limit_query_terms(t), k=candidates, ids_only=True),
        f"knn_k{candidates}_ids": lambda i, t: store.knn(physical, vectors[i], k=candidates, num_candidates=candidates, ids_only=True),
        "fetch_10": lambda i, t: store.fetch(physical, page),
    }
    for label, fn in calls.items():
        times = []
        cpu0 = cpu_now(pid)
        for _ in range(repeats):
            for i, (_, text) in enumerate(queries):
                t0 = time.perf_counter()
                fn(i, text)
                times.append((time.perf_counter() - t0) * 1000)
        cpu1 = cpu_now(pid)
        cpu = (cpu1[0] - cpu0[0]) + (0.0 if cpu0[1] is None or cpu1[1] is None else cpu1[1] - cpu0[1])
        stats = C.summary(times, (50, 95), 2)
        out[label] = {"p50_ms": stats["p50"], "p95_ms": stats["p95"], "cpu_ms_per_call": round(cpu * 1000 / len(times), 3)}
    return out


def cpu_now(engine_pid: int | None) -> tuple[float, float | None]:
    """CPU seconds so far of this process (client; for the embedded engine, also the engine) and of
    the engine's server process."""
    t = os.times()
    return t.user + t.system, C.process_cpu_seconds(engine_pid)


def summarize(latencies: list[float], timings: list[dict], walls: list[float], cpu: list[tuple[float, float | None]]) -> dict:
    pick = lambda key: [t.get(key, 0.0) for t in timings]  # noqa: E731
    client_cpu = sum(c for c, _ in cpu)
    engine_cpu = None if any(e is None for _, e in cpu) else sum(e for _, e in cpu)
    n = len(latencies)
    stats = C.summary(latencies, (50, 95, 99), 2)
    return {
        # CPU per query, all passes together. On a saturated machine (every core busy: concurrency 8
        # on 2 cores) latency = concurrency x CPU per query / cores, so the hybrid/knn ratio of these
        # figures is the floor of the hybrid/knn latency ratio there, however the work is scheduled.
        "cpu_ms_per_query": {
            "client": round(client_cpu * 1000 / n, 3),
            "engine": None if engine_cpu is None else round(engine_cpu * 1000 / n, 3),
            "total": round((client_cpu + (engine_cpu or 0.0)) * 1000 / n, 3),
        },
        "n": len(latencies),
        "p50_ms": stats["p50"],
        "p95_ms": stats["p95"],
        "p99_ms": stats["p99"],
        "mean_ms": stats["mean"],
        "qps": round(len(latencies) / sum(walls), 1),
        # SearchClient's own timings_ms, p50 of each key (whatever keys this version of the client reports).
        "client_breakdown_p50_ms": {k: C.summary(pick(k), (50,), 2)["p50"] for k in sorted({k for t in timings for k in t})},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", type=Path, default=C.DEFAULT_DATASETS / "nfcorpus", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("--docs", type=int, default=None, help="index only the first N documents (default: all)")
    p.add_argument("--queries", type=int, default=100, help="first N queries of the judged split (default 100)")
    p.add_argument("--split", default="test", help="qrels split that picks the queries (default test)")
    p.add_argument("--engines", default=",".join(C.ENGINES))
    p.add_argument("--concurrency", default="1,8", help="comma-separated thread counts (default 1,8)")
    p.add_argument("--passes", type=int, default=3, help="measured passes over the query list per mode (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="warm-up passes per mode before measuring (default 1)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--candidates", type=int, default=100, help="SearchClient candidates: depth of each kNN / hybrid leg (default 100)")
    p.add_argument("--query-embeddings", choices=("warm", "cold"), default="warm")
    p.add_argument("--index", default=None, help="logical index name (default bench-search-<dataset>-<docs>)")
    p.add_argument("--out", type=Path, default=C.RESULTS_DIR / "bench_search.json")
    p.add_argument("--no-legs", action="store_true", help="skip the raw per-leg store-call diagnostic")
    p.add_argument("--no-engine", action="store_true", help="skip engine-side hybrid (measured where the engine has the plugin)")
    p.add_argument("--no-rawsum", action="store_true", help="skip the one-request raw-score sum (measured where available)")
    args = p.parse_args(argv)
    engines = C.parse_engines(args.engines)
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]

    machine = C.machine()  # before any work, so its load average describes the machine as we found it
    records = C.read_records(args.source, args.docs)
    queries = load_queries(args.source, args.split, args.queries)
    ndocs = sum(1 for r in records if r.document is not None and not r.document.is_empty)
    name = args.index or f"bench-search-{args.source.name.lower().replace('_', '-')}-{ndocs}"
    print(f"{ndocs} docs from {args.source}, {len(queries)} queries ({args.split} split), index {name!r}", flush=True)

    # One encoder for indexing (embedding cache on) and for queries (LRU on unless --query-embeddings cold).
    encoder = Encoder(cache=EmbeddingCache(), query_cache_size=0 if args.query_embeddings == "cold" else 1024)
    fingerprint = encoder.fingerprint
    embedded_path = C.STATE_DIR / "embedded"

    # Query encoding cost alone (a fresh encoder, so nothing is cached), sequential.
    probe = Encoder(query_cache_size=0, cache=False)
    probe.encode_query("warm-up query")
    enc_times = []
    for _, text in queries:
        t0 = time.perf_counter()
        probe.encode_query(text)
        enc_times.append((time.perf_counter() - t0) * 1000)
    encoding_stats = C.summary(enc_times, (50, 95), 2)
    query_encoding = {"p50_ms": encoding_stats["p50"], "p95_ms": encoding_stats["p95"]}
    print(f"query encoding alone (uncached, sequential): p50 {query_encoding['p50_ms']} ms, p95 {query_encoding['p95_ms']} ms", flush=True)
    del probe

    results: dict = {}
    rows, ratio_rows, cpu_rows, engine_rows = [], [], [], []
    for engine in engines:
        store = C.open_bench_store(engine, embedded_path)
        version = C.engine_version(store)
        if version.startswith("unavailable"):
            raise SystemExit(f"{engine} is not reachable; start it with `python3 servers/manage.py up` or leave it out with --engines")
        index_info = prepare_index(engine, store, encoder, records, name, C.STATE_DIR / "search-state")
        print(f"{engine} {version}: index {index_info}", flush=True)
        client = SearchClient(store=store, index=name, encoder=encoder, candidates=args.candidates)
        pid = C.engine_pid(engine, store.url)
        legs = {} if args.no_legs else raw_leg_latencies(store, client.physical(), encoder, queries, args.candidates, pid)
        engine_side = not args.no_engine and store.engine_fusion_problem(client.physical(), FusionSpec.parse("rrf"), (1.0, 1.0)) is None
        modes = MODES + (("hybrid@engine",) if engine_side else ()) + (("rawsum",) if "rawsum_hybrid" in store.capabilities() and not args.no_rawsum else ())
        for _ in range(args.warmup):
            for mode in modes:
                run_queries(client, mode, queries, 1, None, args.k)
        per_level = {}
        for conc in levels:
            collected = {m: ([], [], [], []) for m in modes}
            with ThreadPoolExecutor(max_workers=conc, thread_name_prefix="bench-user") as pool:
                for n in range(args.passes):
                    order = modes[n % len(modes):] + modes[: n % len(modes)]  # rotate so no mode always runs first
                    for mode in order:
                        cpu0 = cpu_now(pid)
                        lat, tim, wall = run_queries(client, mode, queries, conc, pool, args.k)
                        cpu1 = cpu_now(pid)
                        collected[mode][3].append((cpu1[0] - cpu0[0], None if cpu0[1] is None or cpu1[1] is None else cpu1[1] - cpu0[1]))
                        collected[mode][0].extend(lat)
                        collected[mode][1].extend(tim)
                        collected[mode][2].append(wall)
            stats = {m: summarize(*collected[m]) for m in modes}
            worst_leg = max(stats["bm25"]["p50_ms"], stats["knn"]["p50_ms"])
            ratio = stats["hybrid"]["p50_ms"] / worst_leg if worst_leg > 0 else float("nan")
            cpu_of = lambda m: stats[m]["cpu_ms_per_query"]["total"]  # noqa: E731
            work_ratio = cpu_of("hybrid") / cpu_of("knn") if cpu_of("knn") > 0 else float("nan")
            per_level[str(conc)] = {
                **stats, "hybrid_ratio_p50": round(ratio, 3), "meets_target": ratio <= TARGET_RATIO,
                "hybrid_cpu_ratio_vs_knn": round(work_ratio, 3),
            }
            engine_ratio = stats["hybrid@engine"]["p50_ms"] / worst_leg if "hybrid@engine" in stats and worst_leg > 0 else None
            if engine_ratio is not None:
                per_level[str(conc)].update(engine_ratio_p50=round(engine_ratio, 3), meets_engine_target=engine_ratio <= ENGINE_TARGET_RATIO)
            rawsum_ratio = stats["rawsum"]["p50_ms"] / worst_leg if "rawsum" in stats and worst_leg > 0 else None
            if rawsum_ratio is not None:
                per_level[str(conc)]["rawsum_ratio_p50"] = round(rawsum_ratio, 3)
            for m in modes:
                s = stats[m]
                b = s["client_breakdown_p50_ms"]
                rows.append([engine, conc, m, f"{s['p50_ms']:.1f}", f"{s['p95_ms']:.1f}", f"{s['p99_ms']:.1f}", f"{s['qps']:.0f}",
                             f"{b.get('encode_ms', 0):.1f}", f"{b.get('engine_ms', 0):.1f}", f"{b.get('fusion_ms', 0):.2f}"])
            # Two floors for this machine, from the store calls timed alone (sequential, no client):
            # design: the slower leg + fetching the page + fusion, end to end with nothing overlapping
            #   but the legs: what the two-round-trip design costs at best when the legs overlap fully.
            # cpu: CPU of the bm25 leg + CPU of the knn leg over CPU of a knn-mode query. With every core
            #   busy, latency follows CPU per query, so no hybrid that sends its two searches as two
            #   requests can have a lower ratio there (a one-request hybrid shares the per-request cost).
            leg = lambda label, key="p50_ms": (legs.get(label) or {}).get(key, float("nan"))  # noqa: E731
            fusion_p50 = stats["hybrid"]["client_breakdown_p50_ms"].get("fusion_ms", 0.0)
            design = max(leg(f"bm25_k{args.candidates}_ids"), leg(f"knn_k{args.candidates}_ids")) + leg("fetch_10") + fusion_p50
            # Only meaningful without queueing: the legs alone are timed one at a time.
            legs_floor = design / worst_leg if worst_leg > 0 and conc == 1 else float("nan")
            knn_cpu = leg("knn_k10", "cpu_ms_per_call")
            cpu_floor = (
                (leg(f"bm25_k{args.candidates}_ids", "cpu_ms_per_call") + leg(f"knn_k{args.candidates}_ids", "cpu_ms_per_call")) / knn_cpu
                if knn_cpu > 0 else float("nan")
            )
            per_level[str(conc)].update(
                design_floor_ratio=None if math.isnan(legs_floor) else round(legs_floor, 3),
                cpu_floor_ratio=None if math.isnan(cpu_floor) else round(cpu_floor, 3),
            )
            ratio_rows.append([engine, conc, f"{stats['bm25']['p50_ms']:.1f}", f"{stats['knn']['p50_ms']:.1f}",
                               f"{stats['hybrid']['p50_ms']:.1f}", f"{ratio:.2f}", "yes" if ratio <= TARGET_RATIO else "NO",
                               f"{legs_floor:.2f}", f"{cpu_floor:.2f}"])
            if engine_ratio is not None or rawsum_ratio is not None:
                one = lambda m: f"{stats[m]['p50_ms']:.1f}" if m in stats else "-"  # noqa: E731
                engine_rows.append([engine, conc, f"{worst_leg:.1f}", one("hybrid@engine"), "-" if engine_ratio is None else f"{engine_ratio:.2f}",
                                    "-" if engine_ratio is None else ("yes" if engine_ratio <= ENGINE_TARGET_RATIO else "NO"),
                                    one("rawsum"), "-" if rawsum_ratio is None else f"{rawsum_ratio:.2f}"])
            cpu_rows.append([engine, conc] + [f"{cpu_of(m):.2f}" for m in MODES] + [f"{work_ratio:.2f}"]
                            + [f"{cpu_of(m):.2f}" if m in stats else "-" for m in ("hybrid@engine", "rawsum")])
            print(f"  concurrency {conc}: " + ", ".join(f"{m} p50 {stats[m]['p50_ms']:.1f} ms" for m in modes) + f"; hybrid ratio {ratio:.2f}"
                  + ("" if engine_ratio is None else f", engine-side ratio {engine_ratio:.2f}"), flush=True)
        results[engine] = {"version": version, "index": index_info, "raw_legs_sequential": legs, "concurrency": per_level}
        client.close()

    print()
    what = ("warm query-embedding cache: knn/hybrid figures exclude query encoding" if args.query_embeddings == "warm"
            else "cold: every knn/hybrid query encodes its text (query LRU disabled)")
    print(f"Latency per query, ms ({len(queries)} queries x {args.passes} passes per cell, k={args.k}, candidates={args.candidates}; {what}):")
    print(C.table(["engine", "conc", "mode", "p50", "p95", "p99", "qps", "enc p50", "engine p50", "fusion p50"], rows))
    print("enc/engine/fusion = SearchClient's own timings_ms (p50); bm25 mode fetches k hits, knn and each hybrid leg fetch `candidates` hits.")
    if args.query_embeddings == "warm":
        print(f"Query encoding, if not cached, adds about {query_encoding['p50_ms']} ms p50 (sequential) to knn and hybrid.")
    print()
    print(f"Engine-side hybrid RRF (one request, the engine's plugin) p50 / max(bm25 p50, knn p50)  (target <= {ENGINE_TARGET_RATIO}):")
    print(C.table(["engine", "conc", "max leg p50", "hybrid@engine p50", "ratio", "ok", "rawsum p50", "rawsum ratio"], engine_rows))
    print("rawsum = the engine adds the raw scores in one request (no normalisation, no ranks; ranks lower than RRF).")
    print()
    print(f"Client-side hybrid p50 / max(bm25 p50, knn p50)  (target <= {TARGET_RATIO}):")
    print(C.table(["engine", "conc", "bm25 p50", "knn p50", "hybrid p50", "ratio", "ok", "design floor", "cpu floor"], ratio_rows))
    print("design floor = (slower leg + page fetch, each timed alone, + fusion p50) / max(bm25 p50, knn p50) at concurrency 1:")
    print("               the best this client-side design can do with the legs fully overlapped (nan with --no-legs).")
    print("cpu floor = (CPU of the bm25 leg + CPU of the knn leg) / CPU of a knn-mode query, each timed alone: with every core")
    print("            busy, no hybrid that sends its two searches as two requests can have a lower ratio (one request can).")
    print()
    print("CPU per query, ms (this process + the engine's server process; measured from /proc over all passes):")
    print(C.table(["engine", "conc", "bm25", "knn", "hybrid", "hybrid/knn", "hybrid@engine", "rawsum"], cpu_rows))
    print("With every core busy (concurrency 8 here), the hybrid/knn latency ratio cannot be lower than hybrid/knn CPU.")
    if not args.no_legs:
        print()
        print("Store calls alone, sequential, no SearchClient (p50 ms / CPU ms per call, client + engine):")
        for e, r in results.items():
            print(f"  {e}: " + ", ".join(f"{k} {v['p50_ms']} / {v['cpu_ms_per_call']}" for k, v in r["raw_legs_sequential"].items()))

    payload = {
        **C.run_header("bench_search", machine, fingerprint),
        "params": {
            "source": str(args.source), "docs": ndocs, "queries": len(queries), "split": args.split, "passes": args.passes,
            "warmup": args.warmup, "k": args.k, "candidates": args.candidates, "fusion": "rrf (hybrid: client-side, hybrid@engine: engine-side)",
            "concurrency": levels, "query_embeddings": args.query_embeddings,
        },
        "loadavg_at_end": os.getloadavg(),
        "query_encoding_alone": query_encoding,
        "target_ratio": TARGET_RATIO,
        "engine_target_ratio": ENGINE_TARGET_RATIO,
        "engines": results,
    }
    print(f"\nresults: {C.write_json(args.out, payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
