"""OpenSearch adapter (opensearch-py against OpenSearch 2.19 with the k-NN plugin; the
neural-search plugin, when installed, adds the native `hybrid` query)."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Sequence

import numpy as np

from ..errors import AuthenticationError, CapabilityError, IndexNotFound, PayloadTooLarge, TransientEngineError
from .base import FilterClause, RawHit, capabilities_for
from .es_family import TRANSIENT_STATUSES, SearchClusterStore, bm25_query, filter_clauses


class OpenSearchStore(SearchClusterStore):
    engine = "opensearch"
    mapping_similarity = {"cosine": "cosinesimil"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._plugins: frozenset[str] | None = None
        self._pipelines: set[str] = set()

    def _make_client(self):
        from opensearchpy import OpenSearch

        c = self.config
        auth = {}
        if c.api_key:
            auth["headers"] = {"Authorization": f"ApiKey {c.api_key}"}
        elif c.username is not None:
            auth["http_auth"] = (c.username, c.password)
        return OpenSearch(
            hosts=[c.url],
            ca_certs=c.ca_certs,
            verify_certs=c.verify_certs,
            use_ssl=c.url.startswith("https"),
            timeout=c.timeout,
            max_retries=1,
            retry_on_timeout=False,
            pool_maxsize=32,
            **auth,
        )

    def _classify(self, exc: Exception) -> Exception | None:
        import opensearchpy

        if isinstance(exc, opensearchpy.ConnectionError):
            return self._unavailable(exc)
        if isinstance(exc, opensearchpy.NotFoundError):
            info = getattr(exc, "info", None)
            index = info.get("error", {}).get("index", "?") if isinstance(info, dict) and isinstance(info.get("error"), dict) else "?"
            return IndexNotFound(self.engine, str(index))
        if isinstance(exc, opensearchpy.TransportError) and isinstance(exc.status_code, int):
            status = exc.status_code
            if status == 413:
                return PayloadTooLarge(str(exc)[:200])
            if status in TRANSIENT_STATUSES:
                return TransientEngineError(status, f"{self.engine} answered {status}")
            if status == 401:
                return AuthenticationError(self.engine, self.config.url, 401, "authentication failed (401): check the username/password or API key")
            if status == 403:
                return AuthenticationError(self.engine, self.config.url, 403, "forbidden (403): the user lacks a permission this needs")
        return None

    def _wait_for_index(self, physical: str) -> None:
        # opensearch-py takes `timeout` (even in params) as its own request timeout; the server's default is 30 s.
        self._call(self.client.cluster.health, index=physical, params={"wait_for_status": "yellow"})

    def plugins(self) -> frozenset[str]:
        if self._plugins is None:
            rows = self._call(self.client.cat.plugins, format="json")
            self._plugins = frozenset(r["component"] for r in rows)
        return self._plugins

    def describe(self) -> dict:
        return {**super().describe(), "plugins": sorted(self.plugins())}

    # Lucene-engine efficient kNN filtering arrived in 2.4; the hybrid query (neural-search plugin) in 2.10.
    CAPABILITY_VERSIONS = {"knn_prefilter": (2, 4), "native_hybrid": (2, 10)}

    def capabilities(self) -> frozenset[str]:
        plugins = self.plugins()
        if "opensearch-knn" not in plugins:
            return frozenset()
        caps = set(capabilities_for(self.version(), self.CAPABILITY_VERSIONS)) | {"knn"}
        if not plugins & {"neural-search", "opensearch-neural-search"}:
            caps.discard("native_hybrid")
        return frozenset(caps)

    def knn_body(self, vector: np.ndarray, k: int, num_candidates: int, filters: Sequence[FilterClause]) -> dict:
        # The lucene engine applies `filter` during the HNSW search (efficient pre-filtering).
        # It explores max(k, ef_search) candidates; asking for num_candidates keeps recall comparable.
        knn: dict = {"vector": vector.tolist(), "k": max(k, num_candidates)}
        if filters:
            knn["filter"] = {"bool": {"filter": filter_clauses(filters)}}
        return {"size": k, "query": {"knn": {"vector": knn}}}

    def ensure_pipeline(self, normalization: str, combination: str, weights: tuple[float, float]) -> str:
        """Creates (once) the search pipeline from pipelines/opensearch-hybrid.json for these settings."""
        template = resources.files("neural_search").joinpath("pipelines", "opensearch-hybrid.json").read_text()
        body = json.loads(template)
        technique = {"minmax": "min_max", "l2": "l2", "zscore": "z_score"}[normalization]
        processor = body["phase_results_processors"][0]["normalization-processor"]
        processor["normalization"]["technique"] = technique
        processor["combination"]["technique"] = f"{combination}_mean"
        processor["combination"]["parameters"]["weights"] = list(weights)
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]
        name = f"neural-search-hybrid-{digest}"
        if name not in self._pipelines:
            self._call(self.client.transport.perform_request, "PUT", f"/_search/pipeline/{name}", body=body)
            self._pipelines.add(name)
        return name

    def native_hybrid(
        self, physical: str, text: str, vector: np.ndarray, *, k: int, filters: tuple[FilterClause, ...] = (), num_candidates: int = 100, options: dict | None = None
    ) -> list[RawHit]:
        if "native_hybrid" not in self.capabilities():
            raise CapabilityError(
                "this OpenSearch has no neural-search plugin, so no `hybrid` query; install it, or use client-side fusion"
            )
        options = options or {}
        bm25_weight, knn_weight = float(options.get("bm25_weight", 1.0)), float(options.get("knn_weight", 1.0))
        total = (bm25_weight + knn_weight) or 1.0
        # The normalization-processor wants weights that sum to 1.
        pipeline = self.ensure_pipeline(
            options.get("normalization", "minmax"), options.get("combination", "arithmetic"), (bm25_weight / total, knn_weight / total)
        )
        knn = self.knn_body(np.asarray(vector, dtype=float), num_candidates, num_candidates, filters)["query"]
        body = {
            "size": k,
            "query": {"hybrid": {"queries": [bm25_query(text, filters), knn]}},
        }
        return self._search(physical, body, params={"search_pipeline": pipeline})
