"""Where does the NFCorpus BM25 gap to the published 0.325 come from? Analysis or field layout?

The comparison's engines index one combined title+text field with the `standard` analyzer
(lowercasing, no stemming, no stopwords). BEIR's published BM25 (nDCG@10 0.325) used
Elasticsearch with the `english` analyzer (Porter stemming, English stopwords) on separate title
and text fields, queried with multi_match best_fields (tie_breaker 0.5). This script builds
throwaway indexes that vary one thing at a time and scores each with the same ir-measures code
as the report. It uses OpenSearch, whose BM25 is Elasticsearch's (the same Lucene similarity;
both score this collection identically in the report), because the local Elasticsearch is
assembled without the analysis-common module that provides the `english` analyzer:

    python reports/example/bm25_analysis_check.py [--dataset ../shared/datasets/nfcorpus]

Needs the local OpenSearch (`make engines-up`, or NEURAL_SEARCH_OPENSEARCH_URL). Its
output is quoted in the report's explanation; nothing else depends on it.
"""

from __future__ import annotations

import argparse
import os

from neural_search.evaluation import load_collection, evaluate_run
from neural_search.sources import read_jsonl

VARIANTS = {
    # name: (analyzer, separate title/text fields?, (k1, b))
    "standard analyzer, one title+text field, k1=1.2 b=0.75 (this report's setup)": ("standard", False, (1.2, 0.75)),
    "standard analyzer, one title+text field, k1=0.9 b=0.4": ("standard", False, (0.9, 0.4)),
    "standard analyzer, title and text fields, best_fields": ("standard", True, (1.2, 0.75)),
    "english analyzer, one title+text field": ("english", False, (1.2, 0.75)),
    "english analyzer, title and text fields, best_fields (BEIR's setup)": ("english", True, (1.2, 0.75)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="../shared/datasets/nfcorpus")
    parser.add_argument("--split", default="test")
    parser.add_argument("--url", default=os.environ.get("NEURAL_SEARCH_OPENSEARCH_URL", "http://127.0.0.1:9201"))
    args = parser.parse_args()

    import ir_measures
    from opensearchpy import OpenSearch, helpers

    es = OpenSearch(hosts=[args.url], timeout=60)
    collection = load_collection(args.dataset, args.split)
    docs = [r.document for r in read_jsonl(collection.corpus_path) if r.document and not r.document.is_empty]
    print(f"{collection.name} {collection.split}: {len(docs)} documents, {len(collection.queries)} judged queries; OpenSearch {es.info()['version']['number']}")
    for number, (name, (analyzer, separate, (k1, b))) in enumerate(VARIANTS.items()):
        index = f"cmp-check-bm25-{number}"
        es.indices.delete(index=index, ignore_unavailable=True)
        fields = {"title": {"type": "text", "analyzer": analyzer}, "text": {"type": "text", "analyzer": analyzer}} if separate else {"content": {"type": "text", "analyzer": analyzer}}
        settings = {"number_of_shards": 1, "number_of_replicas": 0, "similarity": {"default": {"type": "BM25", "k1": k1, "b": b}}}
        es.indices.create(index=index, body={"settings": settings, "mappings": {"properties": fields}})
        actions = (
            {"_index": index, "_id": d.id, **({"title": d.title, "text": d.text} if separate else {"content": f"{d.title}\n{d.text}".strip()})}
            for d in docs
        )
        helpers.bulk(es, actions, chunk_size=500)
        es.indices.refresh(index=index)
        run = []
        for qid, text in collection.queries.items():
            query = {"multi_match": {"query": text, "type": "best_fields", "fields": ["title", "text"], "tie_breaker": 0.5}} if separate else {"match": {"content": text}}
            hits = es.search(index=index, body={"query": query, "size": 100, "_source": False})["hits"]["hits"]
            run += [ir_measures.ScoredDoc(qid, h["_id"], float(h["_score"])) for h in hits]
        means = evaluate_run(collection.qrels, run).means
        print(f"  nDCG@10 {means['ndcg@10']:.4f}  R@100 {means['recall@100']:.4f}  {name}")
        es.indices.delete(index=index)


if __name__ == "__main__":
    main()
