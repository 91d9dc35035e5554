"""Reading a results.json dictionary, for the report and the plots: the engines and modes in
their order, the measured pairs, and the published figures a run can be held against."""

from __future__ import annotations

# Published nDCG@10 figures a run on these collections can be held against.
PUBLISHED = {
    ("nfcorpus", "test"): {
        "bm25": [
            (0.325, "BEIR (Thakur et al. 2021): Elasticsearch, `english` analyzer (Porter stemming, stopwords), "
                    "multi_match best_fields over title and text, k1=1.2, b=0.75"),
            (0.308, "shared/datasets README, measured on this copy: BM25 k1=0.9, b=0.4, no stemming"),
        ],
        "knn": [
            (0.316, "all-MiniLM-L6-v2 on BEIR NFCorpus (sentence-transformers / MTEB), exact search"),
        ],
    },
}


def engine_names(results: dict) -> list[str]:
    return list(results.get("engines", {}))


def mode_names(results: dict) -> list[str]:
    return list(results.get("settings", {}).get("modes", []))


def ok_modes(results: dict) -> list[tuple[str, str, dict]]:
    out = []
    for engine, entry in results.get("engines", {}).items():
        for mode in mode_names(results):
            m = entry.get("modes", {}).get(mode)
            if m and m.get("status") == "ok":
                out.append((engine, mode, m))
    return out


def mode_order(results: dict) -> dict[str, int]:
    return {m: i for i, m in enumerate(mode_names(results))}
