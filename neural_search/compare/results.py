"""What a comparison measured, as typed records; `Results.to_dict()` is results.json (schema.py).

The records are written by the comparison and read back by `--resume`; the report reads the
plain JSON form, so a results.json from any run (or by hand) can be rendered.
"""

from __future__ import annotations

import json
import os
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from ..evaluation import METRICS
from .schema import SCHEMA_VERSION


def _key(f) -> str:
    return f.metadata.get("key", f.name)


def _encode(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(options[0], value) if len(options) == 1 else value
    if origin is dict:
        _, item = typing.get_args(hint)
        return {k: _decode(item, v) for k, v in value.items()}
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_decode(item, v) for v in value]
    if isinstance(hint, type) and is_dataclass(hint):
        return hint.from_dict(value)
    return value


class Record:
    """A dataclass that is one object of results.json: its fields in the file's key order, a
    field's JSON key in `metadata["key"]` where it is not a Python name (`ann_recall@10`)."""

    def to_dict(self) -> dict:
        return {_key(f): _encode(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict):
        hints = typing.get_type_hints(cls)
        return cls(**{f.name: _decode(hints[f.name], data[_key(f)]) for f in fields(cls) if _key(f) in data})


@dataclass(kw_only=True)
class LatencyStats(Record):
    queries: int
    errors: int
    warmup: int
    load_1m: float | None
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    qps: float | None
    seconds: float
    breakdown_ms: dict[str, dict[str, float]]


@dataclass(kw_only=True)
class ModeResult(Record):
    status: str = "pending"  # ok | failed | unsupported | pending
    error: str | None = None
    queries: int = 0
    run_file: str | None = None
    scores: dict[str, float | None] = field(default_factory=lambda: {m: None for m in METRICS})  # flat in the JSON
    latency: dict[str, LatencyStats] = field(default_factory=dict)  # by concurrency, as a string

    def to_dict(self) -> dict:
        return {
            "status": self.status, "error": self.error, "queries": self.queries, "run_file": self.run_file,
            **{m: self.scores.get(m) for m in METRICS}, "latency": _encode(self.latency),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "ModeResult":
        return cls(
            status=data["status"], error=data.get("error"), queries=data.get("queries", 0), run_file=data.get("run_file"),
            scores={m: data.get(m) for m in METRICS},
            latency={c: LatencyStats.from_dict(v) for c, v in (data.get("latency") or {}).items()},
        )


@dataclass(kw_only=True)
class IndexingRecord(Record):
    reused: bool
    seconds: float | None = None
    docs_per_second: float | None = None
    encode_seconds: float | None = None
    write_seconds: float | None = None
    measured_at: str | None = None


@dataclass(kw_only=True)
class EngineResult(Record):
    status: str = "pending"  # ok | failed | unavailable | pending
    error: str | None = None
    version: str | None = None
    url: str | None = None
    index: str = ""
    physical: str | None = None
    documents: int | None = None
    indexing_docs_per_second: float | None = None
    encoding_docs_per_second: float | None = None
    index_bytes: int | None = None
    layout: dict | None = None  # {"shards", "replicas"} as the engine reports them
    nodes: int | None = None  # node URLs the client was given (a cluster: more than one)
    ann_recall: float | None = field(default=None, metadata={"key": "ann_recall@10"})
    indexing: IndexingRecord | None = None
    modes: dict[str, ModeResult] = field(default_factory=dict)

    @classmethod
    def pending(cls, index: str, modes: list[str]) -> "EngineResult":
        return cls(index=index, modes={m: ModeResult() for m in modes})


@dataclass(kw_only=True)
class DatasetInfo(Record):
    name: str
    path: str
    split: str
    documents: int
    queries: int
    judged_queries: int
    judgments: int


@dataclass(kw_only=True)
class Settings(Record):
    engines: list[str]
    modes: list[str]
    k: int
    depth: int
    concurrency: list[int]
    warmup: int
    seed: int
    max_queries: int | None
    index: str
    encode_sample: int
    metrics: dict[str, str]
    analyzer: str = "standard"  # the indexes' text analysis (IndexOptions)
    fields: str = "content"  # the BM25 fields of every mode (TextFields)
    profile: dict | None = None  # the search profile of mode hybrid:profile, when one was given


@dataclass(kw_only=True)
class Environment(Record):
    machine: dict[str, Any]
    python: str
    libraries: dict[str, str | None]
    model: dict[str, Any] | None = None
    engines: dict[str, dict[str, Any]] = field(default_factory=dict)
    git_commit: str | None = None


@dataclass(kw_only=True)
class Encoding(Record):
    docs_per_second: float | None = None
    sample: int = 0
    seconds: float | None = None
    corpus_encoded: int | None = None
    corpus_cached: int | None = None
    corpus_seconds: float | None = None


@dataclass(kw_only=True)
class PairedComparison(Record):
    engine: str
    hybrid: str
    baseline: str
    n: int
    hybrid_mean: float
    baseline_mean: float
    delta: float
    t: float | None
    p: float
    p_holm: float = 1.0
    significant: bool = False


@dataclass(kw_only=True)
class Significance(Record):
    test: str
    metric: str
    alpha: float
    comparisons: list[PairedComparison] = field(default_factory=list)


@dataclass(kw_only=True)
class Agreement(Record):
    mode: str
    engine: str
    reference: str
    ndcg_delta: float = field(metadata={"key": "ndcg@10_delta"})
    overlap: float = field(metadata={"key": "overlap@10"})


@dataclass(kw_only=True)
class Results(Record):
    schema_version: int = SCHEMA_VERSION
    status: str = "running"  # running | complete | partial | interrupted | failed
    missing: list[str] = field(default_factory=list)
    command: str
    started_at: str
    finished_at: str | None = None
    dataset: DatasetInfo
    settings: Settings
    environment: Environment
    encoding: Encoding = field(default_factory=Encoding)
    engines: dict[str, EngineResult] = field(default_factory=dict)
    significance: Significance
    agreement: list[Agreement] = field(default_factory=list)

    def mode(self, engine: str, mode: str) -> ModeResult:
        return self.engines[engine].modes[mode]

    def missing_parts(self) -> list[str]:
        """What the run was asked to measure and has not (modes an engine cannot run are not missing)."""
        missing = []
        concurrency = [str(c) for c in self.settings.concurrency]
        for engine, entry in self.engines.items():
            if entry.status != "ok":
                reason = f": {entry.error}" if entry.error else ""
                missing.append(f"{engine}: everything ({entry.status}{reason})")
                continue
            if entry.ann_recall is None:
                missing.append(f"{engine}: ann_recall@10")
            for name, m in entry.modes.items():
                if m.status == "unsupported":
                    continue
                if m.status != "ok":
                    reason = f": {m.error}" if m.error else ""
                    missing.append(f"{engine}/{name}: relevance and latency ({m.status}{reason})")
                    continue
                lacking = [c for c in concurrency if c not in m.latency]
                if lacking:
                    missing.append(f"{engine}/{name}: latency at concurrency {', '.join(lacking)}")
        return missing


def atomic_write_json(path: Path, data: Any) -> None:
    """Written beside the target and renamed over it, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
