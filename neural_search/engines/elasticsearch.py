"""Elasticsearch adapter (elasticsearch-py 9.x against an Elasticsearch 9 server)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import AuthenticationError, IndexNotFound, PayloadTooLarge, TransientEngineError
from .base import FilterClause, RawHit, capabilities_for
from .es_family import TRANSIENT_STATUSES, SearchClusterStore, bm25_query, filter_clauses


def _missing_index(body) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("index", "?"))
    return "?"


class ElasticsearchStore(SearchClusterStore):
    engine = "elasticsearch"

    def _make_client(self):
        from elasticsearch import Elasticsearch

        c = self.config
        auth = {}
        if c.api_key:
            auth["api_key"] = c.api_key
        elif c.username is not None:
            auth["basic_auth"] = (c.username, c.password)
        return Elasticsearch(
            c.url,
            ca_certs=c.ca_certs,
            verify_certs=c.verify_certs,
            request_timeout=c.timeout,
            max_retries=1,
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
            status = exc.meta.status
            if status == 413:
                return PayloadTooLarge(str(exc))
            if status in TRANSIENT_STATUSES:
                return TransientEngineError(status, f"{self.engine} answered {status}")
            if status == 401:
                return AuthenticationError(self.engine, self.config.url, 401, "authentication failed (401): check the username/password or API key")
            if status == 403:
                return AuthenticationError(self.engine, self.config.url, 403, "forbidden (403): the user lacks a permission this needs")
        return None

    # knn search and its filter arrived in 8.0; `query` and `knn` in one request in 8.4.
    CAPABILITY_VERSIONS = {"knn": (8, 0), "knn_prefilter": (8, 0), "native_hybrid": (8, 4)}

    def capabilities(self) -> frozenset[str]:
        return capabilities_for(self.version(), self.CAPABILITY_VERSIONS)

    def knn_body(self, vector: np.ndarray, k: int, num_candidates: int, filters: Sequence[FilterClause]) -> dict:
        knn = {"field": "vector", "query_vector": vector.tolist(), "k": k, "num_candidates": num_candidates}
        if filters:
            knn["filter"] = filter_clauses(filters)
        return {"size": k, "knn": knn}

    def native_hybrid(
        self, physical: str, text: str, vector: np.ndarray, *, k: int, filters: tuple[FilterClause, ...] = (), num_candidates: int = 100, options: dict | None = None
    ) -> list[RawHit]:
        """One request with `query` and `knn`: Elasticsearch returns their union, scored by the sum
        of the BM25 score and the kNN similarity (each leg's boost from options, default 1)."""
        options = options or {}
        body = self.knn_body(np.asarray(vector, dtype=float), num_candidates, max(num_candidates, 100), filters)
        body["knn"]["boost"] = float(options.get("knn_weight", 1.0))
        query = bm25_query(text, filters)
        query["bool"]["boost"] = float(options.get("bm25_weight", 1.0))
        body["query"] = query
        body["size"] = k
        return self._search(physical, body)
