"""`neural-search demo`: index the bundled film abstracts and show BM25, kNN and hybrid side by side."""

from __future__ import annotations

import shutil
import textwrap
from importlib import resources
from pathlib import Path

from .encoding import same_model
from .indexing import Indexer
from .search import SearchClient
from .sources import read_jsonl, source_identity

DEMO_QUERIES = (
    "a shark terrorizes a beach town",
    "scientists bring dinosaurs back to life for a theme park",
    "a weatherman lives the same day over and over",
    "astronauts fight to get home after an explosion in space",
    "ship sinks after hitting an iceberg",
)


def demo_corpus() -> Path:
    return Path(str(resources.files("neural_search").joinpath("data", "films", "corpus.jsonl")))


def run_demo(args, store, encoder) -> int:
    corpus = demo_corpus()
    total = sum(1 for line in open(corpus, encoding="utf-8") if line.strip())
    physical = store.resolve(args.index)
    fresh = physical is not None and same_model(store.get_fingerprint(physical), encoder.fingerprint.id) and store.count(physical) == total
    if fresh:
        print(f"{store.engine}:{args.index} already holds the {total} demo films; searching it")
    else:
        print(f"indexing {total} DBpedia film abstracts into {store.engine}:{args.index} (encoded once, then cached)")
        summary = Indexer(store, encoder, state_dir=args.state_dir, batch_size=64).run(
            read_jsonl(corpus), name=args.index, source=source_identity(corpus), recreate=physical is not None
        )
        print(summary.render())
    client = SearchClient(store=store, index=args.index, encoder=encoder)
    width = max(24, min(44, (shutil.get_terminal_size((140, 20)).columns - 6) // 3))
    for query in args.query or DEMO_QUERIES:
        columns = {mode: client.search(query, mode=mode, k=args.k).hits for mode in ("bm25", "knn", "hybrid")}
        print(f"\n» {query}")
        print("   " + "".join(f"{name:<{width}}" for name in ("BM25", "kNN (all-MiniLM-L6-v2)", "hybrid (RRF)")))
        for row in range(args.k):
            cells = []
            for mode in ("bm25", "knn", "hybrid"):
                hits = columns[mode]
                cells.append(textwrap.shorten(f"{hits[row].title}", width - 2, placeholder="…") if row < len(hits) else "")
            print(f"{row + 1:>2} " + "".join(f"{c:<{width}}" for c in cells))
    print(f"\nTry your own: neural-search search --engine {store.engine} --index {args.index} --explain \"your query\"")
    client.close()
    return 0
