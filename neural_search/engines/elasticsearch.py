"""Elasticsearch adapter (elasticsearch-py 9.x against an Elasticsearch 9 server)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import CapabilityError, IndexNotFound, TransientEngineError
from ..fusion import FusionSpec
from .base import DEFAULT_FIELDS, TextFields, LEGS, FilterClause, HybridHit, RawHit, capabilities_for, reported_legs
from .es_family import SCORED, SOURCE_EXCLUDES, TIEBREAK, WHOLE, SearchClusterStore, bm25_query, filter_clauses, knn_candidates


def _missing_index(body) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("index", "?"))
    return "?"


class ElasticsearchStore(SearchClusterStore):
    engine = "elasticsearch"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._plugins: frozenset[str] | None = None

    def _make_client(self):
        from elasticsearch import Elasticsearch

        c = self.config
        auth = {}
        if c.api_key:
            auth["api_key"] = c.api_key
        elif c.username is not None:
            auth["basic_auth"] = (c.username, c.password)
        # Every node listed: a request to a node that stops answering is retried on the next one
        # (elastic-transport marks it dead for a while), so a node loss costs no failed call.
        return Elasticsearch(
            list(c.urls),
            ca_certs=c.ca_certs,
            verify_certs=c.verify_certs,
            request_timeout=c.timeout,
            max_retries=len(c.urls),
            retry_on_timeout=False,
            connections_per_node=32,
            **auth,
        )

    def _classify(self, exc: Exception) -> Exception | None:
        import elasticsearch

        if isinstance(exc, elasticsearch.ConnectionTimeout):
            # A stalled engine: worth retrying, unlike a refused connection at the very start.
            return TransientEngineError(None, f"{self.engine} at {self.config.url} did not answer within {self.config.timeout:g} s")
        if isinstance(exc, elasticsearch.ConnectionError):
            return self._unavailable(exc)
        if isinstance(exc, elasticsearch.NotFoundError):
            return IndexNotFound(self.engine, _missing_index(getattr(exc, "body", None)))
        if isinstance(exc, elasticsearch.ApiError):
            return self._status_error(exc.meta.status, str(exc))
        return None

    # knn search and its filter arrived in 8.0; `query` and `knn` in one request in 8.4.
    CAPABILITY_VERSIONS = {"knn": (8, 0), "knn_prefilter": (8, 0), "rawsum_hybrid": (8, 4)}
    PLUGIN = "neural-search"  # plugins/elasticsearch: the `neural_hybrid` retriever
    PLUGIN_HINT = (
        "install neural-search's Elasticsearch plugin (plugins/elasticsearch, built for Elasticsearch 9.5.4): "
        "bin/elasticsearch-plugin install file:///path/to/neural-search-elasticsearch-0.1.0.zip, then restart the node"
    )

    def plugins(self) -> frozenset[str]:
        if self._plugins is None:
            rows = self._call(self.client.cat.plugins, format="json")
            self._plugins = frozenset(r["component"] for r in rows)
        return self._plugins

    def capabilities(self) -> frozenset[str]:
        caps = set(capabilities_for(self.version(), self.CAPABILITY_VERSIONS))
        if self.PLUGIN in self.plugins():
            caps.add("engine_fusion")
        return frozenset(caps)

    def engine_fusion_problem(self, physical: str, fusion: FusionSpec, weights: tuple[float, float]) -> str | None:
        if "engine_fusion" not in self.capabilities():
            return f"{self.engine} at {self.config.url} has no neural-search plugin; {self.PLUGIN_HINT}"
        if fusion.method == "linear" and fusion.normalization == "zscore" and fusion.combination == "arithmetic":
            # Elasticsearch ranks retriever results by positive scores only (RankDoc), and the
            # arithmetic mean of z-scores is negative for about half the documents.
            return (
                "Elasticsearch ranks fused hits by positive scores only, and the arithmetic mean of z-scores is negative for "
                "about half of them; use linear:zscore:geometric or :harmonic, another normalisation, or fusion_at='client'"
            )
        return None

    def engine_fusion_preferred(self, physical: str) -> bool:
        return "engine_fusion" in self.capabilities()

    def knn_body(self, vector: np.ndarray, k: int, num_candidates: int, filters: Sequence[FilterClause]) -> dict:
        return {"size": k, "knn": self._knn(vector, k, num_candidates, filters)}

    @staticmethod
    def _knn(vector: np.ndarray, k: int, num_candidates: int, filters: Sequence[FilterClause]) -> dict:
        knn = {"field": "vector", "query_vector": vector.tolist(), "k": k, "num_candidates": num_candidates}
        if filters:
            knn["filter"] = filter_clauses(filters)
        return knn

    def engine_hybrid(
        self, physical: str, text: str, vector: np.ndarray, *, k: int, offset: int, depth: int, filters: tuple[FilterClause, ...],
        fusion: FusionSpec, weights: tuple[float, float], explain: bool | None, fields: TextFields = DEFAULT_FIELDS,
    ) -> list[HybridHit]:
        """One `_search` with the plugin's `neural_hybrid` retriever: the legs exactly as bm25() and
        knn() run them (same query, k and num_candidates), fused at the coordinating node."""
        problem = self.engine_fusion_problem(physical, fusion, weights)
        if problem:
            raise CapabilityError(problem)
        retriever = self.hybrid_retriever(text, vector, filters=filters, fusion=fusion, weights=weights, depth=depth, fields=fields)
        body = {"from": offset, "size": k, "_source": {"excludes": SOURCE_EXCLUDES}, "retriever": retriever}
        response = self._call(self.client.search, index=physical, body=body, **SCORED, **WHOLE)
        return [
            HybridHit.of(self._hit(raw), {} if explain is False else reported_legs(((raw.get("fields") or {}).get("_neural_search_legs") or [{}])[0]))
            for raw in response["hits"]["hits"]
        ]

    @classmethod
    def hybrid_retriever(
        cls, text: str, vector, *, filters: tuple[FilterClause, ...] = (), fusion: FusionSpec, weights: tuple[float, float], depth: int,
        fields: TextFields = DEFAULT_FIELDS,
    ) -> dict:
        """The plugin's `neural_hybrid` retriever: the legs exactly as bm25() and knn() run them."""
        return {
            "neural_hybrid": {
                "retrievers": [
                    {"standard": {"query": bm25_query(text, filters, fields), "sort": TIEBREAK}},
                    {"knn": cls._knn(np.asarray(vector, dtype=float), depth, knn_candidates(depth, depth), filters)},
                ],
                "names": list(LEGS),
                "fusion": str(fusion),
                "weights": list(weights),
                "rank_window_size": depth,
            }
        }

    def rawsum_hybrid(
        self, physical: str, text: str, vector: np.ndarray, *, k: int, filters: tuple[FilterClause, ...], depth: int,
        weights: tuple[float, float], fields: TextFields = DEFAULT_FIELDS,
    ) -> list[RawHit]:
        """One request with `query` and `knn`: Elasticsearch returns their union, scored by
        bm25_weight * BM25 + knn_weight * similarity (the boosts)."""
        body = self.knn_body(np.asarray(vector, dtype=float), depth, knn_candidates(depth, depth), filters)
        body["knn"]["boost"] = weights[1]
        query = bm25_query(text, filters, fields)
        query["bool"]["boost"] = weights[0]
        body["query"] = query
        body["size"] = k
        body["sort"] = TIEBREAK
        # No search_type: with a `knn` section Elasticsearch always runs the DFS phase itself.
        return self._search(physical, body)
