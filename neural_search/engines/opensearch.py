"""OpenSearch adapter (opensearch-py against OpenSearch 2.19 with the k-NN plugin; the official
neural-search plugin, when installed, fuses hybrid searches inside the engine: the `hybrid` query
with a normalization-processor or score-ranker-processor search pipeline, pipelines/)."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Sequence

import numpy as np

from ..errors import CapabilityError, IndexNotFound
from ..fusion import FusionSpec, LegScore
from .base import DEFAULT_FIELDS, TextFields, LEGS, FilterClause, HybridHit, RawHit, capabilities_for
from .es_family import SCORED, SOURCE_EXCLUDES, TIEBREAK, SearchClusterStore, bm25_query, filter_clauses, knn_candidates


class OpenSearchStore(SearchClusterStore):
    engine = "opensearch"
    mapping_similarity = {"cosine": "cosinesimil"}
    QUIET_404 = {"ignore": 404}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._plugins: frozenset[str] | None = None
        self._pipelines: dict[tuple[FusionSpec, tuple[float, float]], str] = {}  # created on this cluster

    def _make_client(self):
        from opensearchpy import OpenSearch

        c = self.config
        auth = {}
        if c.api_key:
            auth["headers"] = {"Authorization": f"ApiKey {c.api_key}"}
        elif c.username is not None:
            auth["http_auth"] = (c.username, c.password)
        # Every node listed: a request to a node that stops answering is retried on the next one.
        return OpenSearch(
            hosts=list(c.urls),
            ca_certs=c.ca_certs,
            verify_certs=c.verify_certs,
            use_ssl=c.url.startswith("https"),
            timeout=c.timeout,
            max_retries=len(c.urls),
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
            return self._status_error(exc.status_code, str(exc))
        return None

    def _health(self, physical: str, status: str) -> None:
        # opensearch-py takes `timeout` (even in params) as its own request timeout; the server's default is 30 s.
        self._call(self.client.cluster.health, index=physical, params={"wait_for_status": status})

    def plugins(self) -> frozenset[str]:
        if self._plugins is None:
            rows = self._call(self.client.cat.plugins, format="json")
            self._plugins = frozenset(r["component"] for r in rows)
        return self._plugins

    def describe(self) -> dict:
        return {**super().describe(), "plugins": sorted(self.plugins())}

    # Lucene-engine efficient kNN filtering arrived in 2.4; the hybrid query with pagination_depth and
    # the score-ranker-processor (RRF) in 2.19 (neural-search plugin).
    CAPABILITY_VERSIONS = {"knn_prefilter": (2, 4), "rawsum_hybrid": (2, 4), "engine_fusion": (2, 19)}
    PLUGINS = frozenset({"neural-search", "opensearch-neural-search"})
    PLUGIN_HINT = (
        "install OpenSearch's neural-search plugin (Maven Central org.opensearch.plugin:neural-search:<version>.0, "
        "type zip): bin/opensearch-plugin install file:///path/to/neural-search-2.19.1.0.zip, then restart the node"
    )
    # OpenSearch 2.19's normalization-processor techniques (z_score is refused there).
    NORMALIZATIONS = {"minmax": "min_max", "l2": "l2"}

    def capabilities(self) -> frozenset[str]:
        plugins = self.plugins()
        if "opensearch-knn" not in plugins:
            return frozenset()
        caps = set(capabilities_for(self.version(), self.CAPABILITY_VERSIONS)) | {"knn"}
        if not plugins & self.PLUGINS:
            caps.discard("engine_fusion")
        return frozenset(caps)

    def knn_body(self, vector: np.ndarray, k: int, num_candidates: int, filters: Sequence[FilterClause]) -> dict:
        # The lucene engine applies `filter` during the HNSW search (efficient pre-filtering).
        # It explores max(k, ef_search) candidates; asking for num_candidates keeps recall comparable.
        knn: dict = {"vector": vector.tolist(), "k": max(k, num_candidates)}
        if filters:
            knn["filter"] = {"bool": {"filter": filter_clauses(filters)}}
        return {"size": k, "query": {"knn": {"vector": knn}}}

    def engine_fusion_problem(self, physical: str, fusion: FusionSpec, weights: tuple[float, float]) -> str | None:
        if "engine_fusion" not in self.capabilities():
            if self.plugins() & self.PLUGINS:
                return f"OpenSearch {self.version()} is older than 2.19 (hybrid pagination_depth, score-ranker-processor)"
            return f"{self.engine} at {self.config.url} has no neural-search plugin; {self.PLUGIN_HINT}"
        return self.fusion_gap(fusion, weights)

    @classmethod
    def fusion_gap(cls, fusion: FusionSpec, weights: tuple[float, float]) -> str | None:
        """What OpenSearch 2.19's search pipelines cannot express of this fusion (None: nothing)."""
        if fusion.method == "rrf" and weights != (1.0, 1.0):
            return "OpenSearch 2.19's score-ranker-processor takes no per-leg weights (rank_constant only); use weights 1.0/1.0 or fusion_at='client'"
        if fusion.method == "linear" and fusion.normalization not in cls.NORMALIZATIONS:
            return (
                f"OpenSearch 2.19's normalization-processor has no {fusion.normalization} (it has "
                f"{', '.join(cls.NORMALIZATIONS)}); use fusion_at='client' for it"
            )
        return None

    @classmethod
    def pipeline_body(cls, fusion: FusionSpec, weights: tuple[float, float]) -> dict:
        """The search pipeline for this fusion, from pipelines/opensearch-{rrf,linear}.json."""
        kind = "rrf" if fusion.method == "rrf" else "linear"
        body = json.loads(resources.files("neural_search").joinpath("pipelines", f"opensearch-{kind}.json").read_text())
        if kind == "rrf":
            body["phase_results_processors"][0]["score-ranker-processor"]["combination"]["rank_constant"] = fusion.rrf_k
        else:
            processor = body["phase_results_processors"][0]["normalization-processor"]
            processor["normalization"]["technique"] = cls.NORMALIZATIONS[fusion.normalization]
            processor["combination"]["technique"] = f"{fusion.combination}_mean"
            # The processor wants weights summing to 1; the means are scale-free.
            total = sum(weights)
            processor["combination"]["parameters"]["weights"] = [w / total for w in weights]
        return body

    def engine_fusion_preferred(self, physical: str) -> bool:
        """Never, on OpenSearch 2.19: on a one-shard index its hybrid query fetches every candidate
        of both legs before it fuses (45.6 ms against 10.4 ms client-side on NFCorpus,
        benchmarks/README.md section 2); from two shards on it is cheaper (7.1 against 12.1 ms),
        but it cannot run as dfs_query_then_fetch (neural-search#1490: the fusion step is skipped
        and hits come back unfused), so its BM25 leg scores with each shard's own term statistics
        while bm25() and client-side fusion use the whole index's. Asked for explicitly
        (fusion_at="engine") it still runs; docs/fusion.md says what differs."""
        return False

    def ensure_pipeline(self, fusion: FusionSpec, weights: tuple[float, float]) -> str:
        """Creates (once) the search pipeline for this fusion; its name carries a digest of the body.
        Remembered per fusion and weights, so a search neither reads the template nor hashes it."""
        key = (fusion, tuple(weights))
        name = self._pipelines.get(key)
        if name is None:
            body = self.pipeline_body(fusion, weights)
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]
            name = f"neural-search-{'rrf' if fusion.method == 'rrf' else 'linear'}-{digest}"
            self._call(self.client.transport.perform_request, "PUT", f"/_search/pipeline/{name}", body=body)
            self._pipelines[key] = name
        return name

    def engine_hybrid(
        self, physical: str, text: str, vector: np.ndarray, *, k: int, offset: int, depth: int, filters: tuple[FilterClause, ...],
        fusion: FusionSpec, weights: tuple[float, float], explain: bool | None, fields: TextFields = DEFAULT_FIELDS,
    ) -> list[HybridHit]:
        """The neural-search plugin's `hybrid` query: the sub-queries exactly as bm25() and knn()
        run them, each `pagination_depth` deep, fused by the search pipeline. Per-leg scores come
        only from OpenSearch's explanation (the hybrid_score_explanation processor), which costs
        several times the search itself, so only with explain=True. Never dfs_query_then_fetch
        (see engine_fusion_preferred): on several shards the BM25 leg uses per-shard statistics."""
        problem = self.engine_fusion_problem(physical, fusion, weights)
        if problem:
            raise CapabilityError(problem)
        pipeline = self.ensure_pipeline(fusion, weights)
        knn = self.knn_body(np.asarray(vector, dtype=float), depth, knn_candidates(depth, depth), filters)["query"]
        body = {
            "from": offset,
            "size": k,
            "query": {"hybrid": {"queries": [bm25_query(text, filters, fields), knn], "pagination_depth": depth}},
        }
        if explain:
            body["explain"] = True
        response = self._call(
            self.client.search, index=physical, body={"_source": {"excludes": SOURCE_EXCLUDES}, **body}, params={"search_pipeline": pipeline, "allow_partial_search_results": "false"}
        )
        return [
            HybridHit.of(self._hit(raw), explained_legs(raw["_explanation"], fusion) if explain else {}) for raw in response["hits"]["hits"]
        ]

    def rawsum_hybrid(
        self, physical: str, text: str, vector: np.ndarray, *, k: int, filters: tuple[FilterClause, ...], depth: int,
        weights: tuple[float, float], fields: TextFields = DEFAULT_FIELDS,
    ) -> list[RawHit]:
        """`bool.should` of the two legs: the union, scored by bm25_weight * BM25 + knn_weight * similarity."""
        knn = self.knn_body(np.asarray(vector, dtype=float), depth, knn_candidates(depth, depth), filters)["query"]
        knn["knn"]["vector"]["boost"] = weights[1]
        query = bm25_query(text, filters, fields)
        query["bool"]["boost"] = weights[0]
        return self._search(physical, {"size": k, "query": {"bool": {"should": [query, knn]}}, "sort": TIEBREAK}, **SCORED)


def explained_legs(explanation: dict, fusion: FusionSpec) -> dict[str, LegScore | None]:
    """Each leg's view of a hit, read from OpenSearch's hybrid score explanation: one detail per
    sub-query that matched (value = normalised score or RRF contribution, its own detail = the raw
    score). The kNN leg's raw explanation is Lucene's "within top k"; a contribution of 0 means the
    document matched the sub-query outside its top `pagination_depth`, i.e. not retrieved. RRF
    gives the rank back (1 / (k + rank)); linear fusion does not report ranks."""
    legs: dict[str, LegScore | None] = {leg: None for leg in LEGS}
    for detail in explanation.get("details") or []:
        inner = (detail.get("details") or [{}])[0]
        leg = "knn" if str(inner.get("description", "")).startswith("within top") else "bm25"
        value = float(detail.get("value") or 0.0)
        if value <= 0.0:
            continue
        rank = round(1.0 / value - fusion.rrf_k) if fusion.method == "rrf" else None
        legs[leg] = LegScore(float(inner.get("value", 0.0)), rank, value)
    return legs
