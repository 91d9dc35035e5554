#!/usr/bin/env python3
"""Warm-cache indexing docs/s vs the engine's bulk ceiling, per server engine, in the same run.

The encoder is fed from a warm embedding cache (every vector is read from ~/.cache/neural-search,
as a fast encoder would hand them over), so what is left is the write path: batches, chunks sized
from the serialised bytes, several bulk requests in flight, checkpoints, dead letters, publish.
The ceiling is what the engine takes from a minimal loader of this script's own: the same
documents and vectors, chunks of the same size written by `store.write` from a thread pool at
parallelism 1, 2 and 4 (the best counts), no checkpoints, no retries, no publish. Both time the
same engine work: creating the index, the writes, a refresh. Each index is dropped after its run.

    ratio = best median indexing docs/s (over --parallel) / best median ceiling docs/s   (target >= 0.9)

    python3 benchmarks/bench_write_ceiling.py                          # NFCorpus (3,633 docs), 3 repeats, ES/OpenSearch/Solr
    python3 benchmarks/bench_write_ceiling.py --repeats 5 --engines elasticsearch --parallel 2,4
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (sets HF_HUB_OFFLINE / TOKENIZERS_PARALLELISM before the imports below)

from neural_search.bulk import chunk_by_count_and_bytes  # noqa: E402
from neural_search.embedding_cache import EmbeddingCache  # noqa: E402
from neural_search.encoding import Encoder  # noqa: E402
from neural_search.engines.base import IndexedDoc  # noqa: E402
from neural_search.indexing import Indexer  # noqa: E402
from neural_search.registry import SERVER_ENGINES  # noqa: E402

TARGET_RATIO = 0.9
CEILING_PARALLELISM = (1, 2, 4)


def warm(encoder: Encoder, documents, batch_size: int) -> tuple[list, int]:
    """Every document's vector, through the cache (encoding what is missing, once); answers the
    vectors and how many had to be encoded."""
    before = encoder.stats["encoded"]
    vectors = []
    for start in range(0, len(documents), batch_size):
        vectors.extend(encoder.encode_documents(documents[start : start + batch_size]))
    return vectors, encoder.stats["encoded"] - before


def drop(store, name: str) -> None:
    try:
        physical = store.resolve(name)
        if physical is not None:
            store.drop(physical)
    except Exception as exc:  # reported, the run goes on
        print(f"  warning: could not drop {store.engine}:{name}: {exc}", file=sys.stderr)


def ceiling_run(store, items: list[IndexedDoc], fingerprint: dict, parallel: int, chunk_docs: int, chunk_bytes: int, prefix: str) -> float:
    """docs/s of the minimal loader: create, write every chunk from `parallel` threads, refresh."""
    physical = f"{prefix}ceiling-{uuid.uuid4().hex[:8]}"
    chunks = list(chunk_by_count_and_bytes(items, chunk_docs, chunk_bytes, index_name_bytes=len(physical)))
    t0 = time.perf_counter()
    store.create_physical(physical, fingerprint=fingerprint)
    try:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            results = [r for rs in pool.map(lambda chunk: store.write(physical, chunk), chunks) for r in rs]
        store.refresh(physical)
        seconds = time.perf_counter() - t0
        failed = [r for r in results if not r.ok]
        if failed or store.count(physical) != len(items):
            raise SystemExit(f"{store.engine}: the ceiling loader lost documents ({len(failed)} rejected, first: {failed[:1]})")
        return len(items) / seconds
    finally:
        store.drop(physical)


def indexer_run(store, encoder: Encoder, records, parallel: int, args, prefix: str) -> tuple[float, float]:
    """(docs/s, seconds) of Indexer.run over the records, from the warm cache, into a fresh index."""
    name = f"{prefix}index-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="bench-write-") as state:
        indexer = Indexer(store, encoder, state_dir=state, batch_size=args.batch_size, max_chunk_docs=args.chunk_docs,
                          max_chunk_bytes=args.chunk_bytes, parallel_bulk=parallel, progress=False)
        t0 = time.perf_counter()
        try:
            summary = indexer.run(iter(records), name=name, source={"bench": name})
            seconds = time.perf_counter() - t0
        finally:
            drop(store, name)
    if summary.failed or summary.count_in_engine != summary.indexed:
        raise SystemExit(f"{store.engine}: the indexer lost documents: {summary.render()}")
    return summary.indexed / seconds, seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", type=Path, default=C.DEFAULT_DATASETS / "nfcorpus")
    p.add_argument("--docs", type=int, default=None, help="first N records (default: all)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--engines", default=",".join(SERVER_ENGINES))
    p.add_argument("--parallel", default="1,2,4", help="--parallel-bulk values the indexer is run with (the best counts)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--chunk-docs", type=int, default=500)
    p.add_argument("--chunk-bytes", type=int, default=8 * 1024 * 1024)
    p.add_argument("--cache", default=None, help="embedding cache file (default ~/.cache/neural-search/embeddings.sqlite)")
    p.add_argument("--index-prefix", default="scale-bench-write-")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    engines = C.parse_engines(args.engines)
    parallels = [int(x) for x in args.parallel.split(",")]

    records = [r for r in C.read_records(args.source, args.docs) if r.document is not None and not r.document.is_empty]
    documents = [r.document for r in records]
    encoder = Encoder(cache=EmbeddingCache(args.cache))
    t0 = time.perf_counter()
    vectors, fresh = warm(encoder, documents, args.batch_size)
    print(f"{len(documents)} documents from {args.source}; {fresh} encoded to warm the cache ({time.perf_counter() - t0:.1f} s)")
    items = [IndexedDoc(d, v) for d, v in zip(documents, vectors)]
    fingerprint = encoder.fingerprint.to_dict()

    header = C.run_header("bench_write_ceiling", C.machine(), encoder.fingerprint)
    ceiling: dict[str, dict[int, list[float]]] = {e: {q: [] for q in CEILING_PARALLELISM} for e in engines}
    indexing: dict[str, dict[int, list[float]]] = {e: {q: [] for q in parallels} for e in engines}
    stores = {e: C.open_bench_store(e, Path(tempfile.gettempdir()) / "bench-write-embedded") for e in engines}
    try:
        for repeat in range(args.repeats):
            order = engines[repeat % len(engines):] + engines[: repeat % len(engines)]
            for engine in order:
                store, prefix = stores[engine], f"{args.index_prefix}{engine[:4]}-"
                # Interleaved, so drifting load on the shared machine hits both sides alike.
                for q in sorted(set(CEILING_PARALLELISM) | set(parallels)):
                    if q in CEILING_PARALLELISM:
                        ceiling[engine][q].append(ceiling_run(store, items, fingerprint, q, args.chunk_docs, args.chunk_bytes, prefix))
                    if q in parallels:
                        indexing[engine][q].append(indexer_run(store, encoder, records, q, args, prefix)[0])
                print(f"  repeat {repeat + 1}/{args.repeats} {engine}: ceiling "
                      + ", ".join(f"p{q} {v[-1]:.0f}" for q, v in ceiling[engine].items())
                      + "; indexer " + ", ".join(f"p{q} {v[-1]:.0f}" for q, v in indexing[engine].items()) + " docs/s")
    finally:
        for store in stores.values():
            store.close()

    rows, results, below = [], {}, []
    for engine in engines:
        ceiling_medians = {q: C.median(v) for q, v in ceiling[engine].items()}
        indexing_medians = {q: C.median(v) for q, v in indexing[engine].items()}
        best_ceiling_q = max(ceiling_medians, key=ceiling_medians.get)
        best_index_q = max(indexing_medians, key=indexing_medians.get)
        ratio = indexing_medians[best_index_q] / ceiling_medians[best_ceiling_q]
        if ratio < TARGET_RATIO:
            below.append(engine)
        results[engine] = {"ceiling_docs_per_s": ceiling_medians, "indexing_docs_per_s": indexing_medians, "ratio": ratio,
                           "best_ceiling_parallel": best_ceiling_q, "best_indexing_parallel": best_index_q,
                           "runs": {"ceiling": ceiling[engine], "indexing": indexing[engine]}}
        rows.append([engine, *(f"{ceiling_medians[q]:.0f}" for q in CEILING_PARALLELISM), *(f"{indexing_medians[q]:.0f}" for q in parallels),
                     f"{ratio:.2f}" + ("" if ratio >= TARGET_RATIO else " (below target)")])
    print()
    print(f"median docs/s over {args.repeats} repeats, {len(documents)} docs, chunks of <= {args.chunk_docs} docs")
    print(C.table(["engine", *(f"ceiling p{q}" for q in CEILING_PARALLELISM), *(f"indexer p{q}" for q in parallels), f"ratio (>= {TARGET_RATIO})"], rows))
    out = args.out or C.RESULTS_DIR / f"write-ceiling-{time.strftime('%Y%m%d-%H%M%S')}.json"
    C.write_json(out, {**header, "docs": len(documents), "repeats": args.repeats, "target_ratio": TARGET_RATIO, "results": results})
    print(f"results: {out}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
