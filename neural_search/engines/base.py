"""What every engine adapter provides, and the types they exchange with the pipeline and the search API."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from ..documents import Document
from ..errors import TRANSIENT_STATUSES, ConfigurationError
from ..fusion import FusionSpec, LegScore

if TYPE_CHECKING:
    from .vector_index import VectorIndexOptions

# Lowercase so one name is valid on every engine (Elasticsearch refuses uppercase index names).
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
VERSION_SEPARATOR = "__v"


def validate_index_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or VERSION_SEPARATOR in name:
        raise ConfigurationError(
            f"invalid index name {name!r}: use 1-100 characters of a-z, 0-9, '_' and '-', starting with a "
            f"letter or digit, without '{VERSION_SEPARATOR}' (kept for versioned physical indexes)"
        )
    return name


def new_physical_name(name: str) -> str:
    return f"{name}{VERSION_SEPARATOR}{time.strftime('%Y%m%d%H%M%S')}{int(time.time() * 1000) % 1000:03d}"


@dataclass(frozen=True)
class IndexLayout:
    """How a physical index is spread: `shards` primaries, each with `replicas` copies besides
    the primary (Elasticsearch's number_of_replicas; SolrCloud's replicationFactor is replicas + 1).
    replicas None: the engine's default (1 on Elasticsearch/OpenSearch, none on SolrCloud)."""

    shards: int = 1
    replicas: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.shards, bool) or not isinstance(self.shards, int) or not 1 <= self.shards <= 1024:
            raise ConfigurationError(f"shards must be a whole number from 1 to 1024, got {self.shards!r}")
        if self.replicas is not None and (isinstance(self.replicas, bool) or not isinstance(self.replicas, int) or not 0 <= self.replicas <= 64):
            raise ConfigurationError(f"replicas must be a whole number from 0 to 64 (or left out for the engine's default), got {self.replicas!r}")

    def to_dict(self) -> dict:
        return {"shards": self.shards, "replicas": self.replicas}

    def fits(self, have: "IndexLayout") -> bool:
        """Whether an existing index spread as `have` is what this layout asks for (replicas
        None: whatever the engine chose)."""
        return have.shards == self.shards and (self.replicas is None or have.replicas == self.replicas)


# The analysis of new indexes: `english` scored higher BM25 than `standard` on every judged
# collection measured (+0.014 to +0.089 nDCG@10, docs/relevance.md); other languages want
# `standard`. Stamps written before the choice existed mean `standard` (LEGACY_ANALYZER).
DEFAULT_ANALYZER = "english"
LEGACY_ANALYZER = "standard"


@dataclass(frozen=True)
class IndexOptions:
    """How a new index is built, besides the model and the layout: the text analysis of its
    title/text/content fields (`standard`: Unicode words lowercased; `english`: Lucene's English
    chain, possessives, stop words and Porter stems). Chosen when the index is created, recorded in
    its stamp and read back by `DocumentStore.index_options`; the engine analyses queries the same
    way, so it cannot change afterwards (--recreate builds a new version). `vector`: the vector
    field's ANN index (engines/vector_index.py; None: float HNSW, m 16, ef_construction 100)."""

    analyzer: str = DEFAULT_ANALYZER
    vector: "VectorIndexOptions | None" = None

    def __post_init__(self) -> None:
        from ..analysis import ANALYZERS
        from .vector_index import VectorIndexOptions

        if self.analyzer not in ANALYZERS:
            raise ConfigurationError(f"unknown analyzer {self.analyzer!r}: use one of {', '.join(ANALYZERS)}")
        if self.vector is not None and not isinstance(self.vector, VectorIndexOptions):
            raise ConfigurationError("vector must be a VectorIndexOptions(type=..., m=..., ef_construction=...) or None")

    def to_dict(self) -> dict:
        # No `vector` key for the default, so stamps written before it existed read the same.
        return {"analyzer": self.analyzer, **({"vector": self.vector.to_dict()} if self.vector is not None else {})}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "IndexOptions":
        """What a stamp records; an index stamped before options existed was built with the
        standard analysis and the default vector index."""
        from .vector_index import VectorIndexOptions

        data = data or {}
        return cls(analyzer=data.get("analyzer", LEGACY_ANALYZER), vector=VectorIndexOptions.from_dict(data.get("vector")))

    def differences(self, have: "IndexOptions", engine: str | None = None) -> list[str]:
        """What an existing index built with `have` lacks of these options, one phrase each (empty:
        it fits); `engine`: the engine's own defaults fill what neither says."""
        from .vector_index import DEFAULT_VECTOR

        out = []
        if have.analyzer != self.analyzer:
            out.append(f"analyzer {have.analyzer!r}, not {self.analyzer!r}")
        mine, theirs = (self.vector or DEFAULT_VECTOR).resolved(engine), (have.vector or DEFAULT_VECTOR).resolved(engine)
        if mine != theirs:
            out.append(f"vector index {theirs.label!r}, not {mine.label!r}")
        return out


TEXT_FIELDS = ("content", "title", "text")  # content: title and text as one field (copy_to / copyField)
_FIELD_WEIGHT = re.compile(r"^(content|title|text)(?:\^([0-9]*\.?[0-9]+))?$")


@dataclass(frozen=True)
class TextFields:
    """Which text fields BM25 scores, and how. The default, `content`, is title and text as one
    field. Several fields score each on its own, times its weight, and combine as Lucene's
    DisjunctionMaxQuery does (Elasticsearch's multi_match best_fields): the best field's score
    plus `tie_breaker` times the sum of the others'. Every engine runs exactly that query."""

    fields: tuple[tuple[str, float], ...] = (("content", 1.0),)
    tie_breaker: float = 0.0

    def __post_init__(self) -> None:
        if not self.fields:
            raise ConfigurationError(f"give at least one BM25 field ({', '.join(TEXT_FIELDS)})")
        names = [name for name, _ in self.fields]
        if len(set(names)) != len(names) or not set(names) <= set(TEXT_FIELDS):
            raise ConfigurationError(f"BM25 fields must be distinct names among {', '.join(TEXT_FIELDS)}, got {names}")
        for name, weight in self.fields:
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (0 < weight <= 1000):
                raise ConfigurationError(f"the weight of field {name!r} must be a number in (0, 1000], got {weight!r}")
        tie = self.tie_breaker
        if isinstance(tie, bool) or not isinstance(tie, (int, float)) or not 0.0 <= tie <= 1.0:
            raise ConfigurationError(f"tie_breaker must be a number from 0 to 1, got {tie!r}")

    @classmethod
    def parse(cls, spec: "str | TextFields | None", tie_breaker: float | None = None) -> "TextFields":
        """`content`, `title^2,text` (a weight after ^, default 1); tie_breaker: 0.0 unless given."""
        if isinstance(spec, TextFields):
            return spec if tie_breaker is None else cls(spec.fields, float(tie_breaker))
        if spec is None or spec == "":
            return cls((("content", 1.0),), 0.0 if tie_breaker is None else float(tie_breaker))
        if not isinstance(spec, str):
            raise ConfigurationError(f"BM25 fields are given as text like 'title^2,text', got {spec!r}")
        fields = []
        for part in spec.split(","):
            match = _FIELD_WEIGHT.fullmatch(part.strip())
            if not match:
                raise ConfigurationError(
                    f"cannot read BM25 field {part.strip()!r} in {spec!r}: write fields among {', '.join(TEXT_FIELDS)} "
                    "separated by commas, each with an optional weight, e.g. 'title^2,text'"
                )
            fields.append((match.group(1), float(match.group(2)) if match.group(2) else 1.0))
        return cls(tuple(fields), 0.0 if tie_breaker is None else float(tie_breaker))

    @property
    def is_default(self) -> bool:
        return self.fields == (("content", 1.0),)

    def __str__(self) -> str:
        text = ",".join(name if weight == 1.0 else f"{name}^{weight:g}" for name, weight in self.fields)
        return text if len(self.fields) == 1 else f"{text} (tie {self.tie_breaker:g})"

    def to_dict(self) -> dict:
        return {"fields": {name: weight for name, weight in self.fields}, "tie_breaker": self.tie_breaker}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TextFields":
        fields = data.get("fields") or {"content": 1.0}
        if not isinstance(fields, Mapping):
            raise ConfigurationError(f"BM25 fields must map field names to weights, got {fields!r}")
        return cls(tuple((str(k), float(v)) for k, v in fields.items()), float(data.get("tie_breaker", 0.0)))


DEFAULT_FIELDS = TextFields()


@dataclass(frozen=True)
class IndexedDoc:
    document: Document
    vector: np.ndarray


@dataclass(frozen=True)
class WriteResult:
    doc_id: str
    ok: bool
    status: int = 200
    error: str | None = None

    @property
    def retryable(self) -> bool:
        return self.status in TRANSIENT_STATUSES


@dataclass(frozen=True)
class RawHit:
    id: str
    score: float
    title: str = ""
    text: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HybridHit:
    """A hit of a hybrid search fused inside the engine: the fused score, the stored fields, and
    each leg's view of it (None: that leg did not retrieve it). `legs` is empty when the engine was
    not asked for the breakdown (see DocumentStore.engine_hybrid)."""

    id: str
    score: float
    title: str = ""
    text: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    legs: Mapping[str, LegScore | None] = field(default_factory=dict)

    @classmethod
    def of(cls, hit: "RawHit", legs: Mapping[str, LegScore | None]) -> "HybridHit":
        return cls(hit.id, hit.score, hit.title, hit.text, hit.metadata, legs)


LEGS = ("bm25", "knn")  # the legs of a hybrid search, in the order every fusion sees them


def reported_legs(reported: Mapping[str, Any] | None) -> dict[str, LegScore | None]:
    """Each leg's breakdown as our plugins report it ({leg: {"rank", "score", "normalized"}}, a leg
    that did not retrieve the hit left out), as LegScores or None."""
    out: dict[str, LegScore | None] = {}
    for leg in LEGS:
        detail = (reported or {}).get(leg)
        rank = None if not detail else detail.get("rank")
        out[leg] = None if not detail else LegScore(float(detail["score"]), None if rank is None else int(rank), detail.get("normalized"))
    return out

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_RANGE_OPS = ("gt", "gte", "lt", "lte")


@dataclass(frozen=True)
class FilterClause:
    """A term, any-of or range condition on one metadata field, validated once for every engine."""

    field: str
    kind: str  # "term" | "terms" | "range"
    value: Any


def normalize_filters(filters: Mapping[str, Any] | None) -> tuple[FilterClause, ...]:
    if not filters:
        return ()
    if not isinstance(filters, Mapping):
        raise ConfigurationError("filters must be a mapping of metadata field to value, list or range")
    clauses = []
    for name, value in filters.items():
        if not isinstance(name, str) or not _FIELD.match(name):
            raise ConfigurationError(
                f"invalid filter field {name!r}: metadata field names are letters, digits and '_'"
            )
        if isinstance(value, Mapping):
            unknown = set(value) - set(_RANGE_OPS)
            if unknown or not value:
                raise ConfigurationError(f"range filter on {name!r} takes only {', '.join(_RANGE_OPS)}")
            for bound in value.values():
                if isinstance(bound, bool) or not isinstance(bound, (int, float, str)):
                    raise ConfigurationError(f"range bound on {name!r} must be a number or a string")
            clauses.append(FilterClause(name, "range", dict(value)))
        elif isinstance(value, (list, tuple, set, frozenset)):
            values = list(value)
            if not values or not all(isinstance(v, (str, int, float, bool)) for v in values):
                raise ConfigurationError(f"filter on {name!r} needs a non-empty list of plain values")
            clauses.append(FilterClause(name, "terms", values))
        elif isinstance(value, (str, int, float, bool)):
            clauses.append(FilterClause(name, "term", value))
        else:
            raise ConfigurationError(f"filter on {name!r} has an unsupported value {value!r}")
    return tuple(clauses)


def matches(metadata: Mapping[str, Any], clause: FilterClause) -> bool:
    """Filter semantics in plain Python: the embedded engine's, and the reference for the others."""
    value = metadata.get(clause.field)
    values = value if isinstance(value, list) else [value]
    if clause.kind == "term":
        return clause.value in values
    if clause.kind == "terms":
        return any(v in values for v in clause.value)
    bounds = list(clause.value.values())
    numeric = all(_is_number(b) for b in bounds)
    for v in values:
        if not (_is_number(v) if numeric else isinstance(v, str) and all(isinstance(b, str) for b in bounds)):
            continue
        checks = {"gt": lambda b: v > b, "gte": lambda b: v >= b, "lt": lambda b: v < b, "lte": lambda b: v <= b}
        if all(checks[op](bound) for op, bound in clause.value.items()):
            return True
    return False


def version_tuple(version: str) -> tuple[int, ...]:
    """`9.5.4` -> (9, 5, 4); `2.19.1-SNAPSHOT` -> (2, 19, 1)."""
    parts = []
    for piece in version.split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def capabilities_for(version: str, rules: Mapping[str, tuple[int, ...]]) -> frozenset[str]:
    """The capabilities whose minimum version `version` reaches."""
    have = version_tuple(version)
    return frozenset(name for name, minimum in rules.items() if have >= minimum)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@runtime_checkable
class DocumentStore(Protocol):
    """One engine. Names the caller uses are logical (`films`); physical indexes are versioned
    (`films__v20261125...`) and a logical name points at one of them (alias, core swap, pointer file)."""

    engine: str
    url: str  # where the engine is, without credentials (file://<folder> for the embedded engine)
    default_layout: IndexLayout  # what create_physical uses when it is given no layout
    default_options: IndexOptions  # likewise for the index options (analysis)

    def describe(self) -> dict: ...
    def capabilities(self) -> frozenset[str]: ...

    def resolve(self, name: str) -> str | None: ...
    def create_physical(
        self, physical: str, *, fingerprint: dict, layout: IndexLayout | None = None, options: IndexOptions | None = None,
    ) -> None:
        """Creates `physical` for the model `fingerprint` describes, spread as `layout` says and
        built as `options` say (None: the store's defaults). Records both beside the fingerprint."""
        ...

    def index_options(self, physical: str) -> IndexOptions:
        """The options `physical` was built with, from its stamp."""
        ...

    def layout(self, physical: str) -> IndexLayout:
        """How `physical` is spread now, as the engine reports it (replicas never None here)."""
        ...
    def publish(self, name: str, physical: str) -> str | None:
        """Makes `name` serve `physical`'s data; answers the physical index that now holds the data
        `name` served before (None: none, or not known). Idempotent: sent again after it went
        through (its answer lost), it changes nothing, so callers retry it without checking first."""
        ...

    def serves(self, name: str, physical: str) -> bool:
        """Whether `name` already serves the data built under `physical` (a publish went through),
        whether the engine points the name at it (alias, pointer file) or moved the data (core rename)."""
        ...

    def drop(self, physical: str) -> None: ...
    def get_fingerprint(self, physical: str) -> dict | None: ...

    def write(self, physical: str, docs: Sequence[IndexedDoc]) -> list[WriteResult]: ...
    def refresh(self, physical: str) -> None: ...
    def count(self, physical: str) -> int: ...
    def ids(self, physical: str) -> set[str]: ...
    def size_bytes(self, physical: str) -> int: ...
    def get(self, physical: str, doc_id: str) -> RawHit | None: ...

    # ids_only=True: hits carry id and score only (no stored fields loaded or sent), for fusion legs.
    def bm25(self, physical: str, text: str, *, k: int, filters: tuple[FilterClause, ...] = (), ids_only: bool = False) -> list[RawHit]: ...
    def knn(
        self, physical: str, vector: np.ndarray, *, k: int, filters: tuple[FilterClause, ...] = (), num_candidates: int | None = None,
        ids_only: bool = False,
    ) -> list[RawHit]: ...
    def fetch(self, physical: str, ids: Sequence[str]) -> dict[str, RawHit]: ...

    # -- hybrid search in one request (engine-side) -------------------------------------------
    # True for an engine that runs in this process: then a second thread for a leg only adds
    # hand-offs under the GIL (search.py runs both legs on the calling thread while busy).
    in_process: bool

    def engine_fusion_problem(self, physical: str, fusion: FusionSpec, weights: tuple[float, float]) -> str | None:
        """None when `engine_hybrid` can fuse this way on `physical`; else why not and how to get it
        (the plugin to install, or the fusion the engine's plugin lacks)."""
        ...

    def engine_fusion_preferred(self, physical: str) -> bool:
        """Whether a hybrid search with no fusion_at given should fuse inside the engine: where it
        can and it costs less than fusing in the client (not so for OpenSearch on one shard)."""
        ...

    def engine_hybrid(
        self, physical: str, text: str, vector: np.ndarray, *, k: int, offset: int, depth: int, filters: tuple[FilterClause, ...],
        fusion: FusionSpec, weights: tuple[float, float], explain: bool | None,
    ) -> list[HybridHit]:
        """Both legs (each `depth` deep, as `bm25` and `knn` with num_candidates=depth would give
        them) fused inside the engine by its plugin, in one request; the page [offset, offset+k).
        explain: None = the per-leg breakdown when the engine gives it at no extra cost, True =
        always, False = never."""
        ...

    def rawsum_hybrid(
        self, physical: str, text: str, vector: np.ndarray, *, k: int, filters: tuple[FilterClause, ...], depth: int,
        weights: tuple[float, float],
    ) -> list[RawHit]:
        """One request whose score is bm25_weight * BM25 + knn_weight * similarity (the engine's own
        arithmetic: no normalisation, no ranks); capability `rawsum_hybrid`."""
        ...

    def clear_caches(self, physical: str) -> None:
        """Empties the engine's query and result caches for `physical`, so a timed search is not
        answered from a cache an earlier one filled (a no-op where there are none)."""
        ...

    def close(self) -> None: ...
