"""The JSON Schema of `results.json` (docs/compare.md explains every field), and a validator for it.

`schema_errors` checks the subset of JSON Schema used here without a dependency at run time (the
tests also check the schema and the files with `jsonschema`)."""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from ..evaluation import METRICS

SCHEMA_VERSION = 1

_NUM = {"type": ["number", "null"]}
_INT = {"type": ["integer", "null"]}
_STR = {"type": ["string", "null"]}

_BREAKDOWN = {
    "type": "object",
    "required": ["mean", "p50", "p95"],
    "properties": {"mean": {"type": "number"}, "p50": {"type": "number"}, "p95": {"type": "number"}},
}

LATENCY_SCHEMA = {
    "type": "object",
    "required": ["queries", "errors", "warmup", "load_1m", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "qps", "seconds", "breakdown_ms"],
    "properties": {
        "queries": {"type": "integer", "minimum": 0},
        "errors": {"type": "integer", "minimum": 0},
        "warmup": {"type": "integer", "minimum": 0},
        "load_1m": _NUM,
        "p50_ms": _NUM, "p95_ms": _NUM, "p99_ms": _NUM, "mean_ms": _NUM,
        "qps": _NUM,
        "seconds": {"type": "number"},
        "breakdown_ms": {
            "type": "object",
            "required": ["encode_ms", "engine_ms", "fusion_ms", "total_ms"],
            "properties": {k: _BREAKDOWN for k in ("encode_ms", "engine_ms", "fusion_ms", "total_ms")},
        },
    },
}

MODE_SCHEMA = {
    "type": "object",
    "required": ["status", "error", "queries", "run_file", *METRICS, "latency"],
    "properties": {
        "status": {"enum": ["ok", "failed", "unsupported", "pending"]},
        "error": _STR,
        "queries": {"type": "integer", "minimum": 0},
        "run_file": _STR,
        **{m: {"type": ["number", "null"], "minimum": 0, "maximum": 1} for m in METRICS},
        "latency": {"type": "object", "patternProperties": {"^[0-9]+$": LATENCY_SCHEMA}, "additionalProperties": False},
    },
}

ENGINE_SCHEMA = {
    "type": "object",
    "required": [
        "status", "error", "version", "url", "index", "physical", "documents", "indexing_docs_per_second",
        "encoding_docs_per_second", "index_bytes", "ann_recall@10", "indexing", "modes",
    ],
    "properties": {
        "status": {"enum": ["ok", "failed", "unavailable", "pending"]},
        "error": _STR,
        "version": _STR,
        "url": _STR,
        "index": {"type": "string"},
        "physical": _STR,
        "documents": _INT,
        "indexing_docs_per_second": _NUM,
        "encoding_docs_per_second": _NUM,
        "index_bytes": _INT,
        # Optional: results written before shards and clusters were recorded have neither.
        "layout": {
            "type": ["object", "null"], "required": ["shards", "replicas"],
            "properties": {"shards": {"type": "integer", "minimum": 1}, "replicas": {"type": "integer", "minimum": 0}},
        },
        "nodes": _INT,
        "ann_recall@10": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "indexing": {
            "type": ["object", "null"],
            "required": ["reused", "seconds", "docs_per_second", "encode_seconds", "write_seconds", "measured_at"],
            "properties": {
                "reused": {"type": "boolean"},
                "seconds": _NUM, "docs_per_second": _NUM, "encode_seconds": _NUM, "write_seconds": _NUM,
                "measured_at": _STR,
            },
        },
        "modes": {"type": "object", "additionalProperties": MODE_SCHEMA},
    },
}

RESULTS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "neural-search compare results.json",
    "type": "object",
    "required": [
        "schema_version", "status", "missing", "command", "started_at", "finished_at", "dataset", "settings",
        "environment", "encoding", "engines", "significance", "agreement",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "status": {"enum": ["running", "complete", "partial", "interrupted", "failed"]},
        "missing": {"type": "array", "items": {"type": "string"}},
        "command": {"type": "string"},
        "started_at": {"type": "string"},
        "finished_at": _STR,
        "dataset": {
            "type": "object",
            "required": ["name", "path", "split", "documents", "queries", "judged_queries", "judgments"],
            "properties": {
                "name": {"type": "string"}, "path": {"type": "string"}, "split": {"type": "string"},
                "documents": {"type": "integer"}, "queries": {"type": "integer"},
                "judged_queries": {"type": "integer"}, "judgments": {"type": "integer"},
            },
        },
        "settings": {
            "type": "object",
            "required": ["engines", "modes", "k", "depth", "concurrency", "warmup", "seed", "max_queries", "index", "encode_sample", "metrics"],
            "properties": {
                "engines": {"type": "array", "items": {"type": "string"}},
                "modes": {"type": "array", "items": {"type": "string"}},
                "k": {"type": "integer", "minimum": 1},
                "depth": {"type": "integer", "minimum": 1},
                "concurrency": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                "warmup": {"type": "integer", "minimum": 0},
                "seed": {"type": "integer"},
                "max_queries": _INT,
                "index": {"type": "string"},
                "encode_sample": {"type": "integer", "minimum": 0},
                "metrics": {"type": "object"},
                "analyzer": {"type": "string"},
                "fields": {"type": "string"},
                "profile": {"type": ["object", "null"]},
            },
        },
        "environment": {
            "type": "object",
            "required": ["machine", "python", "libraries", "model", "engines"],
            "properties": {
                "machine": {"type": "object"},
                "python": {"type": "string"},
                "libraries": {"type": "object", "additionalProperties": _STR},
                "model": {"type": ["object", "null"]},
                "engines": {"type": "object"},
            },
        },
        "encoding": {
            "type": "object",
            "required": ["docs_per_second", "sample", "seconds", "corpus_encoded", "corpus_cached", "corpus_seconds"],
            "properties": {
                "docs_per_second": _NUM, "sample": {"type": "integer"}, "seconds": _NUM,
                "corpus_encoded": _INT, "corpus_cached": _INT, "corpus_seconds": _NUM,
            },
        },
        "engines": {"type": "object", "additionalProperties": ENGINE_SCHEMA},
        "significance": {
            "type": "object",
            "required": ["test", "metric", "alpha", "comparisons"],
            "properties": {
                "test": {"type": "string"},
                "metric": {"type": "string"},
                "alpha": {"type": "number"},
                "comparisons": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["engine", "hybrid", "baseline", "n", "hybrid_mean", "baseline_mean", "delta", "t", "p", "p_holm", "significant"],
                        "properties": {
                            "engine": {"type": "string"}, "hybrid": {"type": "string"}, "baseline": {"type": "string"},
                            "n": {"type": "integer"}, "hybrid_mean": {"type": "number"}, "baseline_mean": {"type": "number"},
                            "delta": {"type": "number"}, "t": _NUM, "p": {"type": "number"}, "p_holm": {"type": "number"},
                            "significant": {"type": "boolean"},
                        },
                    },
                },
            },
        },
        "agreement": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["mode", "engine", "reference", "ndcg@10_delta", "overlap@10"],
                "properties": {
                    "mode": {"type": "string"}, "engine": {"type": "string"}, "reference": {"type": "string"},
                    "ndcg@10_delta": {"type": "number"}, "overlap@10": {"type": "number"},
                },
            },
        },
    },
}

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(value: Any, schema: Mapping[str, Any] = RESULTS_SCHEMA, where: str = "$") -> list[str]:
    """Checks `value` against the subset of JSON Schema used above (type, enum, const, required,
    properties, patternProperties, additionalProperties, items, minimum, maximum). Returns the
    problems, each with its JSON path; [] when valid. (The tests also run `jsonschema` on it.)"""
    problems: list[str] = []
    if "const" in schema and value != schema["const"]:
        return [f"{where}: must be {schema['const']!r}, got {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: must be one of {schema['enum']}, got {value!r}"]
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            return [f"{where}: expected {' or '.join(types)}, got {type(value).__name__} {value!r:.60}"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                problems.append(f"{where}: missing key {key!r}")
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        additional = schema.get("additionalProperties", True)
        for key, item in value.items():
            path = f"{where}.{key}"
            if key in properties:
                problems.extend(schema_errors(item, properties[key], path))
                continue
            matched = [s for p, s in patterns.items() if re.search(p, key)]
            for sub in matched:
                problems.extend(schema_errors(item, sub, path))
            if matched:
                continue
            if additional is False:
                problems.append(f"{where}: unexpected key {key!r}")
            elif isinstance(additional, dict):
                problems.extend(schema_errors(item, additional, path))
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems.extend(schema_errors(item, schema["items"], f"{where}[{i}]"))
    return problems


def validate_results(data: Any) -> None:
    """Raises ValueError listing every way `data` departs from RESULTS_SCHEMA."""
    problems = schema_errors(data)
    if problems:
        raise ValueError("results.json does not match the schema:\n  " + "\n  ".join(problems[:50]))


# -- the ANN sweep's results.json (compare --sweep; sweep.py, docs/ann.md) --------------------------
SWEEP_POINT_SCHEMA = {
    "type": "object",
    "required": ["depth", "queries", "recall_at_10", "p50_ms", "p99_ms", "mean_ms", "qps"],
    "properties": {
        "depth": {"type": "integer", "minimum": 1},
        "queries": {"type": "integer", "minimum": 1},
        "recall_at_10": {"type": "number", "minimum": 0, "maximum": 1},
        "p50_ms": {"type": "number", "minimum": 0}, "p99_ms": {"type": "number", "minimum": 0},
        "mean_ms": {"type": "number", "minimum": 0}, "qps": {"type": "number", "minimum": 0},
    },
}

SWEEP_RUN_SCHEMA = {
    "type": "object",
    "required": [
        "engine", "option", "label", "status", "error", "physical", "build", "index_bytes", "vector_files", "vector_memory_bytes",
        "engine_vector_memory", "memory_saving", "documented_memory", "load_1m", "points",
    ],
    "properties": {
        "engine": {"enum": ["elasticsearch", "opensearch", "solr"]},
        "option": {
            "type": "object", "required": ["type", "m", "ef_construction"],
            "properties": {"type": {"type": "string"}, "m": _INT, "ef_construction": _INT},
        },
        "label": {"type": "string"},
        "status": {"enum": ["ok", "failed", "running"]},
        "error": _STR, "physical": _STR,
        "build": {
            "type": ["object", "null"],
            "required": ["write_seconds", "refresh_seconds", "merge_seconds", "build_seconds", "total_seconds", "vectors_per_second"],
            "properties": {k: _NUM for k in ("write_seconds", "refresh_seconds", "merge_seconds", "build_seconds", "total_seconds", "vectors_per_second")},
        },
        "index_bytes": _INT,
        "vector_files": {"type": ["object", "null"], "required": ["vec", "veq", "veb", "vex", "source"],
                         "properties": {"vec": _INT, "veq": _INT, "veb": _INT, "vex": _INT, "source": {"type": "string"}}},
        "vector_memory_bytes": _INT,
        "engine_vector_memory": {"type": ["object", "null"]},
        "memory_saving": {"type": ["number", "null"], "maximum": 1},
        "documented_memory": {"type": "string"},
        "load_1m": _NUM,
        "points": {"type": "array", "items": SWEEP_POINT_SCHEMA},
    },
}

SWEEP_SCHEMA = {
    "type": "object",
    "required": ["kind", "schema_version", "status", "command", "started_at", "finished_at", "dataset", "settings", "environment", "reference", "runs"],
    "properties": {
        "kind": {"const": "ann_sweep"},
        "schema_version": {"const": 1},
        "status": {"enum": ["running", "complete", "partial"]},
        "command": {"type": "string"}, "started_at": {"type": "string"}, "finished_at": _STR,
        "dataset": {
            "type": "object", "required": ["name", "description", "synthetic", "documents", "queries", "dimension"],
            "properties": {"name": {"type": "string"}, "description": {"type": "string"}, "synthetic": {"type": "boolean"},
                           "documents": {"type": "integer", "minimum": 1}, "queries": {"type": "integer", "minimum": 1},
                           "dimension": {"type": "integer", "minimum": 1}},
        },
        "settings": {"type": "object", "required": ["k", "depths", "warmup", "rounds", "prefix", "options"],
                     "properties": {"k": {"type": "integer"}, "depths": {"type": "array", "items": {"type": "integer"}}}},
        "environment": {"type": "object", "required": ["machine", "python", "git_commit", "engines"]},
        "reference": {"type": "object", "required": ["engine", "exact_seconds"], "properties": {"engine": {"const": "embedded"}}},
        "runs": {"type": "array", "items": SWEEP_RUN_SCHEMA},
    },
}


def validate_sweep(data: Any) -> None:
    """Raises ValueError listing every way `data` departs from SWEEP_SCHEMA."""
    problems = schema_errors(data, SWEEP_SCHEMA)
    if problems:
        raise ValueError("sweep results.json does not match the schema:\n  " + "\n  ".join(problems[:50]))
