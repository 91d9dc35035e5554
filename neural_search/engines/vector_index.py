"""How the `vector` field is indexed: the ANN structure (HNSW or flat), its quantisation and HNSW's
m / ef_construction, validated per engine and turned into each engine's mapping fragment; and the
query-time search depth (Elasticsearch `num_candidates`, OpenSearch lucene `k`, Solr `topK`).

Each engine offers its own set (see ENGINE_TYPES); asking one for a type it lacks is an error that
names what it has. None in IndexOptions.vector means the project's fixed default: float HNSW,
m 16, ef_construction 100 on every server engine; the embedded engine's default is exact (flat)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigurationError

DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 100
# Where an engine's graph needs more links for the same recall: faiss's HNSW at m 16 finds 0.897
# of the exact top 10 at depth 100 on 1M clustered 384-d vectors, at m 32 0.981
# (benchmarks/README.md, section 6); Lucene's graph at m 16 is at 0.98 on the same data at 100k.
ENGINE_DEFAULT_M = {"embedded": 32}
# The search depth when none is asked for: never fewer than 100 candidates, so a shallow page
# still searches the graph as deep as the default (see ann_depth).
DEFAULT_CANDIDATES = 100

# Per engine: type -> (uses an HNSW graph, what is kept per vector, what the engine's docs claim
# for the vector memory the search needs against float32).
ENGINE_TYPES: dict[str, dict[str, tuple[bool, str, str]]] = {
    "elasticsearch": {
        "hnsw": (True, "float32", "1x (4 bytes a dimension)"),
        "int8_hnsw": (True, "int8 + float32 on disk", "4x less (about 75% less than float)"),
        "int4_hnsw": (True, "int4 + float32 on disk", "8x less"),
        "bbq_hnsw": (True, "1 bit + float32 on disk", "32x less (rescored with the floats)"),
        "flat": (False, "float32", "1x, brute force"),
        "int8_flat": (False, "int8 + float32 on disk", "4x less, brute force"),
        "int4_flat": (False, "int4 + float32 on disk", "8x less, brute force"),
        "bbq_flat": (False, "1 bit + float32 on disk", "32x less, brute force"),
    },
    # OpenSearch 2.19 here has the k-NN plugin's lucene engine only (no native faiss/nmslib
    # libraries): HNSW with float vectors, or with the lucene `sq` encoder (int7 scalar quantisation).
    "opensearch": {
        "hnsw": (True, "float32", "1x"),
        "int8_hnsw": (True, "int7 (lucene sq encoder) + float32 on disk", "4x less"),
    },
    # Solr 9.10.1's DenseVectorField: HNSW only; vectorEncoding FLOAT32 or BYTE. Its
    # ScalarQuantizedDenseVectorField (SOLR-17780) is not in 9.10.1's solr-core. BYTE takes whole
    # numbers in -128..127, so the adapter scales each unit vector by 127 / max|v_i| and rounds
    # (cosine ignores the scale), and quantises query vectors the same way.
    "solr": {
        "hnsw": (True, "float32", "1x"),
        "byte_hnsw": (True, "int8 (no floats kept)", "4x less"),
    },
    # The embedded engine is exact by default (the reference); `hnsw` is faiss's IndexHNSWFlat
    # (faiss-cpu, the `faiss` extra), which keeps its own float32 copy of the unit vectors.
    "embedded": {
        "flat": (False, "float32", "1x, exact"),
        "hnsw": (True, "float32 (faiss IndexHNSWFlat; approximate)", "1x + the links (a float32 copy beside the exact vectors file)"),
    },
}
ALL_TYPES = tuple(dict.fromkeys(t for types in ENGINE_TYPES.values() for t in types))


def _whole(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be a whole number from {low} to {high}, got {value!r}")


@dataclass(frozen=True)
class VectorIndexOptions:
    """The vector field's index type and HNSW parameters (None: the defaults, m 16 and
    ef_construction 100, for graph types; flat types take neither)."""

    type: str = "hnsw"
    m: int | None = None
    ef_construction: int | None = None

    def __post_init__(self) -> None:
        if self.type not in ALL_TYPES:
            raise ConfigurationError(f"unknown vector index type {self.type!r}: use one of {', '.join(ALL_TYPES)}")
        if self.m is not None:
            _whole("HNSW m", self.m, 2, 512)
        if self.ef_construction is not None:
            _whole("HNSW ef_construction", self.ef_construction, 2, 3200)
        if not self.graph and (self.m is not None or self.ef_construction is not None):
            raise ConfigurationError(
                f"vector index type {self.type!r} builds no HNSW graph, so m and ef_construction do not apply; leave them out"
            )

    @property
    def graph(self) -> bool:
        return "hnsw" in self.type

    @property
    def hnsw_m(self) -> int | None:
        return (self.m or DEFAULT_M) if self.graph else None

    @property
    def hnsw_ef_construction(self) -> int | None:
        return (self.ef_construction or DEFAULT_EF_CONSTRUCTION) if self.graph else None

    @property
    def quantised(self) -> bool:
        return self.type not in ("hnsw", "flat")

    @property
    def label(self) -> str:
        """Short name for reports: `int8_hnsw m16 ef100`."""
        return self.type + (f" m{self.hnsw_m} ef{self.hnsw_ef_construction}" if self.graph else "")

    def to_dict(self) -> dict:
        """Resolved (defaults filled in), so a stamp says what the engine built."""
        return {"type": self.type, "m": self.hnsw_m, "ef_construction": self.hnsw_ef_construction}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "VectorIndexOptions | None":
        if not data:
            return None
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"vector index options are a mapping of type, m and ef_construction, got {data!r}")
        return cls(type=str(data.get("type", "hnsw")), m=data.get("m"), ef_construction=data.get("ef_construction"))

    def resolved(self, engine: str | None = None) -> "VectorIndexOptions":
        """Defaults filled in; m is `engine`'s own default where it has one (ENGINE_DEFAULT_M)."""
        m = (self.m or ENGINE_DEFAULT_M.get(engine, DEFAULT_M)) if self.graph else None
        return VectorIndexOptions(self.type, m, self.hnsw_ef_construction)

    def check(self, engine: str) -> "VectorIndexOptions":
        """Itself, when `engine` has this type; else an error naming what the engine has."""
        types = ENGINE_TYPES.get(engine)
        if types is None:
            raise ConfigurationError(f"no vector index types are known for engine {engine!r}")
        if self.type not in types:
            raise ConfigurationError(
                f"{engine} has no vector index type {self.type!r}; it has {', '.join(types)}"
                + (" (the embedded engine searches exactly, or through a faiss HNSW graph)" if engine == "embedded" else "")
            )
        return self

    # -- mapping fragments ------------------------------------------------------------------------
    def elasticsearch_index_options(self) -> dict:
        """dense_vector `index_options` (Elasticsearch 9)."""
        self.check("elasticsearch")
        out: dict[str, Any] = {"type": self.type}
        if self.graph:
            out.update(m=self.hnsw_m, ef_construction=self.hnsw_ef_construction)
        return out

    def opensearch_method(self, space_type: str) -> dict:
        """knn_vector `method` on the lucene engine (OpenSearch 2.19)."""
        self.check("opensearch")
        parameters: dict[str, Any] = {"m": self.hnsw_m, "ef_construction": self.hnsw_ef_construction}
        if self.type == "int8_hnsw":
            parameters["encoder"] = {"name": "sq"}
        return {"name": "hnsw", "engine": "lucene", "space_type": space_type, "parameters": parameters}

    def solr_properties(self) -> dict[str, str]:
        """Core properties that schema.xml's knn_vector fieldType reads."""
        self.check("solr")
        return {
            "neural_search.vector_encoding": "BYTE" if self.type == "byte_hnsw" else "FLOAT32",
            "neural_search.hnsw_m": str(self.hnsw_m),
            "neural_search.hnsw_ef_construction": str(self.hnsw_ef_construction),
        }


DEFAULT_VECTOR = VectorIndexOptions()


def effective(vector: VectorIndexOptions | None, engine: str) -> VectorIndexOptions:
    """What an index built with `vector` (None: the defaults) is on `engine`."""
    if vector is None:
        return VectorIndexOptions("flat") if engine == "embedded" else DEFAULT_VECTOR.resolved()
    return vector.check(engine).resolved(engine)


def ann_depth(k: int, num_candidates: int | None) -> int:
    """The query-time search depth, one setting for every engine: Elasticsearch's knn
    `num_candidates`, OpenSearch's lucene `k` (Lucene's beam, what ef_search is elsewhere), Solr's
    {!knn topK}. None: max(k, 100), the project's default; given: max(k, num_candidates)."""
    if num_candidates is None:
        return max(k, DEFAULT_CANDIDATES)
    _whole("num_candidates", num_candidates, 1, 10000)
    return max(k, num_candidates)


def byte_vector(vector: np.ndarray) -> list[int]:
    """A float vector as whole numbers in -127..127 for a BYTE-encoded cosine field: scaled so its
    largest component is 127 (cosine is blind to the scale), then rounded."""
    v = np.asarray(vector, dtype=np.float64)
    top = float(np.max(np.abs(v))) if v.size else 0.0
    if top == 0.0:
        return [0] * int(v.size)
    return [int(x) for x in np.rint(v * (127.0 / top))]
