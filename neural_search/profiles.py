"""Search profiles: a named hybrid setting (fusion, leg weights, candidate depth, BM25 fields),
written by `neural-search tune` and accepted by `search`, `compare`, `serve` and the engine-side
plugins. A profile is a small JSON file; it also says what it was tuned on and how it scored."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .engines.base import LEGS, TextFields
from .errors import ConfigurationError
from .fusion import RAWSUM, FusionSpec

PROFILE_FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class SearchProfile:
    name: str
    fusion: str
    weights: Mapping[str, float] = field(default_factory=lambda: {"bm25": 1.0, "knn": 1.0})
    candidates: int = 100
    fields: TextFields = TextFields()
    tuned: Mapping[str, Any] = field(default_factory=dict)  # what it was tuned on, and its scores

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigurationError(f"profile name {self.name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        try:
            spec = FusionSpec.parse(self.fusion)
        except ValueError as exc:
            raise ConfigurationError(f"profile {self.name!r}: {exc}") from None
        if spec.method == RAWSUM:
            raise ConfigurationError(f"profile {self.name!r}: rawsum has no settings to tune; use rrf or linear fusion")
        object.__setattr__(self, "fusion", str(spec))
        weights = dict(self.weights)
        if set(weights) != set(LEGS) or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w >= 0 for w in weights.values()
        ) or sum(weights.values()) <= 0:
            raise ConfigurationError(f"profile {self.name!r}: weights must give both legs ({', '.join(LEGS)}) numbers >= 0, not both 0")
        object.__setattr__(self, "weights", {leg: float(weights[leg]) for leg in LEGS})
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or not 1 <= self.candidates <= 10000:
            raise ConfigurationError(f"profile {self.name!r}: candidates must be a whole number in 1..10000")
        if not isinstance(self.fields, TextFields):
            raise ConfigurationError(f"profile {self.name!r}: fields must be TextFields")

    @property
    def spec(self) -> FusionSpec:
        return FusionSpec.parse(self.fusion)

    def describe(self) -> str:
        weights = f"bm25 {self.weights['bm25']:g} : knn {self.weights['knn']:g}"
        return f"{self.fusion}, {weights}, depth {self.candidates}, BM25 on {self.fields}"

    def search_settings(self) -> dict:
        """Keyword arguments of SearchClient.search (fields given as TextFields)."""
        return {"fusion": self.fusion, "weights": dict(self.weights), "candidates": self.candidates, "fields": self.fields}

    def to_dict(self) -> dict:
        return {
            "format": PROFILE_FORMAT, "name": self.name, "mode": "hybrid", "fusion": self.fusion, "weights": dict(self.weights),
            "candidates": self.candidates, "fields": self.fields.to_dict(), "tuned": dict(self.tuned),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str = "profile") -> "SearchProfile":
        if not isinstance(data, Mapping) or data.get("format") != PROFILE_FORMAT:
            raise ConfigurationError(f"{origin} is not a neural-search search profile (format {PROFILE_FORMAT}); write one with `neural-search tune`")
        try:
            return cls(
                name=data["name"], fusion=data["fusion"], weights=data.get("weights") or {"bm25": 1.0, "knn": 1.0},
                candidates=data.get("candidates", 100), fields=TextFields.from_dict(data.get("fields") or {}), tuned=data.get("tuned") or {},
            )
        except KeyError as exc:
            raise ConfigurationError(f"{origin} lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{origin}: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> "SearchProfile":
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigurationError(f"profile {path} does not exist; write one with `neural-search tune --out {path}`") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"cannot read profile {path}: {exc}") from None
        return cls.from_dict(data, origin=f"profile {path}")

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        tmp.replace(path)
        return path

    def engine_configurations(self) -> dict[str, Any]:
        """The same setting written the way each engine takes it, for users who call the engines
        themselves: Elasticsearch's retriever (our plugin), OpenSearch's search pipeline and
        hybrid query (its neural-search plugin), Solr's handler parameters (our plugin). The
        query text and vector are placeholders."""
        from .engines.elasticsearch import ElasticsearchStore
        from .engines.es_family import bm25_query
        from .engines.opensearch import OpenSearchStore
        from .engines.solr import SolrStore

        spec, weights = self.spec, (self.weights["bm25"], self.weights["knn"])
        text, vector = "<query text>", [0.0]
        retriever = ElasticsearchStore.hybrid_retriever(text, vector, fusion=spec, weights=weights, depth=self.candidates, fields=self.fields)
        retriever["neural_hybrid"]["retrievers"][1]["knn"]["query_vector"] = "<query vector>"
        configurations: dict[str, Any] = {
            "elasticsearch": {"retriever": retriever, "rank_window_size": self.candidates, "search_type": "dfs_query_then_fetch"},
            "solr": {
                "handler": SolrStore.PLUGIN_HANDLER,
                "params": SolrStore.hybrid_params(text, "<query vector>", fusion=spec, weights=weights, depth=self.candidates, fields=self.fields),
            },
        }
        problem = OpenSearchStore.fusion_gap(spec, weights)
        if problem:
            configurations["opensearch"] = {"not available": problem}
        else:
            configurations["opensearch"] = {
                "search_pipeline": OpenSearchStore.pipeline_body(spec, weights),
                "query": {
                    "hybrid": {
                        "queries": [bm25_query(text, (), self.fields), {"knn": {"vector": {"vector": "<query vector>", "k": self.candidates}}}],
                        "pagination_depth": self.candidates,
                    }
                },
            }
        return configurations
