"""Which text analysis should be the default? BM25 nDCG@10 with the `standard` and the `english`
analysis, on one combined field and on title and text scored apart (best_fields, tie 0.5), on
every judged shared collection.

It scores with the embedded engine's own BM25 (neural_search/lucene_bm25.py, Lucene's formula and
one-byte lengths) over the analysis every engine shares (neural_search/analysis.py), so it needs
no server and no vectors; tests/test_relevance_options.py checks that the engines rank the same.

    python3 benchmarks/analysis_choice.py [--datasets ../shared/datasets] [--split test]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import ir_measures
import numpy as np

from neural_search.analysis import ANALYZERS, analyzer_for
from neural_search.evaluation import evaluate_run, load_collection
from neural_search.lucene_bm25 import LuceneBM25
from neural_search.sources import read_jsonl

COLLECTIONS = ("nfcorpus", "cranfield", "cisi", "medline", "cacm", "adi")
TIE = 0.5


def score(collection, analyzer: str) -> dict[str, float]:
    analyze = analyzer_for(analyzer)
    docs = [r.document for r in read_jsonl(collection.corpus_path) if r.document and not r.document.is_empty]
    ids = [d.id for d in docs]
    titles, texts = [analyze(d.title) for d in docs], [analyze(d.text) for d in docs]
    fields = {
        "content": LuceneBM25([t + x for t, x in zip(titles, texts)]),
        "title": LuceneBM25(titles),
        "text": LuceneBM25(texts),
    }
    out = {}
    for layout in ("content", "title,text"):
        run = []
        for qid, query in collection.queries.items():
            tokens = analyze(query)
            if layout == "content":
                scores = fields["content"].scores(tokens)
            else:
                both = np.stack([fields["title"].scores(tokens), fields["text"].scores(tokens)])
                best = both.max(axis=0)
                scores = best + TIE * (both.sum(axis=0) - best)
            top = np.argsort(-scores, kind="stable")[:100]
            run += [ir_measures.ScoredDoc(qid, ids[i], float(scores[i])) for i in top if scores[i] > 0]
        out[layout] = evaluate_run(collection.qrels, run).means["ndcg@10"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    print(f"BM25 nDCG@10 ({args.split} split), k1=1.2 b=0.75; best_fields tie {TIE}")
    print(f"{'collection':<11} {'queries':>7}  " + "  ".join(f"{a + ' ' + l:>20}" for a in ANALYZERS for l in ("content", "title,text")))
    for name in COLLECTIONS:
        started = time.perf_counter()
        collection = load_collection(Path(args.datasets) / name, args.split)
        cells = {a: score(collection, a) for a in ANALYZERS}
        row = "  ".join(f"{cells[a][l]:>20.4f}" for a in ANALYZERS for l in ("content", "title,text"))
        print(f"{name:<11} {len(collection.queries):>7}  {row}   ({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
