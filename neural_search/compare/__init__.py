"""`neural-search compare`: relevance, latency, throughput and size of every engine, side by side.

    neural-search compare --dataset ../shared/datasets/nfcorpus --split test --out reports/nfcorpus

For a BEIR-style folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) it

1. checks the collection (missing files, judgments naming unknown queries or documents);
2. encodes the corpus once into the embedding cache, and times the bare encoder on a sample;
3. builds `<prefix>-<dataset>` in every engine with the Indexer, or keeps the index that is
   there when it holds the same number of documents encoded by the same model (`--reindex`
   rebuilds it);
4. measures ANN recall@10: each engine's kNN top 10 against the embedded engine's exact top 10
   for the same query vectors;
5. runs every judged query in every mode, sequentially in a fixed order, `depth` hits deep,
   writes the TREC run (runs/<engine>.<mode>.trec) and scores it with ir-measures;
6. times every query again at each concurrency (`k` hits, the size of a result page), after
   a warm-up and with the engine's caches cleared, in an order fixed by `--seed`;
7. tests hybrid against each single mode (paired t-test over queries), and writes
   results.json (after every measurement, so a run that stops keeps what it measured),
   report.md and the plots.

One module per concern: settings (what to measure), environment (what it ran on), running (the
steps), relevance and latency (measuring and scoring), results and schema (results.json, typed
and its JSON Schema, documented in docs/compare.md), report and plots, command (the CLI verb).
"""

from __future__ import annotations

from .command import add_compare_parser, cmd_compare
from .latency import OUTAGES, RoundFailure, latency_stats, summary
from .relevance import check_expected, comparable
from .results import (
    Agreement, DatasetInfo, Encoding, EngineResult, Environment, IndexingRecord, LatencyStats, ModeResult, PairedComparison, Results,
    Settings, Significance, atomic_write_json,
)
from .running import Comparison
from .schema import RESULTS_SCHEMA, SCHEMA_VERSION, schema_errors, validate_results
from .settings import (
    ALL_MODES, ALPHA, ANN_K, DEFAULT_MODEL, DEFAULT_MODES, RESUME_KEYS, CompareError, ModeSpec, canonical_command, index_name,
    parse_concurrency, parse_engines, parse_modes,
)

__all__ = [
    "add_compare_parser", "cmd_compare", "OUTAGES", "RoundFailure", "latency_stats", "summary", "check_expected", "comparable",
    "Agreement", "DatasetInfo", "Encoding", "EngineResult", "Environment", "IndexingRecord", "LatencyStats", "ModeResult",
    "PairedComparison", "Results", "Settings", "Significance", "atomic_write_json", "Comparison", "RESULTS_SCHEMA", "SCHEMA_VERSION",
    "schema_errors", "validate_results", "ALL_MODES", "ALPHA", "ANN_K", "DEFAULT_MODEL", "DEFAULT_MODES", "RESUME_KEYS",
    "CompareError", "ModeSpec", "canonical_command", "index_name", "parse_concurrency", "parse_engines", "parse_modes",
]
