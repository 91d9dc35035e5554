"""What Elasticsearch and OpenSearch share: index definitions with `_meta`, aliases, the bulk API
with per-item results, and the query DSL. The two engine modules fill in the differences
(client library, vector field, kNN query shape, native hybrid)."""

from __future__ import annotations

import json
import logging
import threading
from importlib import resources
from typing import Any, Sequence

import numpy as np

from ..config import EngineConfig
from ..errors import (
    TRANSIENT_STATUSES,
    AuthenticationError,
    ConfigurationError,
    EngineUnavailable,
    IndexNotFound,
    NeuralSearchError,
    PayloadTooLarge,
    TransientEngineError,
)
from .base import DEFAULT_FIELDS, FilterClause, IndexedDoc, IndexLayout, IndexOptions, RawHit, TextFields, WriteResult
from .vector_index import ann_depth

log = logging.getLogger(__name__)

SOURCE_EXCLUDES = ["vector", "content"]
# BM25 from the whole index's term statistics, not each shard's own: with several shards, a
# shard's document frequencies differ from the index's and so would scores and order. On one
# shard both engines run it as query_then_fetch (no extra round trip).
SCORED = {"search_type": "dfs_query_then_fetch"}
# All shards or an error: a shard copy lost mid-search (a node going down) must not quietly give a
# page with some shards' hits missing; the error is transient, and SearchClient retries it.
WHOLE = {"allow_partial_search_results": False}
# Equal scores in id order: each copy of a shard numbers its documents its own way, so without
# this, ties would come back in a different order from one request (and replica) to the next,
# and pages of a ranking could repeat or skip a document. Our Elasticsearch plugin's BM25 leg
# sorts the same way (the standard retriever's sort).
TIEBREAK = [{"_score": {"order": "desc"}}, {"id": {"order": "asc"}}]


def load_mapping(
    engine: str, *, dimension: int, similarity: str, meta: dict, layout: IndexLayout | None = None, options: IndexOptions | None = None,
) -> dict:
    template = resources.files("neural_search").joinpath("mappings", f"{engine}.json").read_text()
    # The analyzer names are the engines' own built-in ones (`standard`, `english`).
    body = json.loads(template.replace("__ANALYZER__", (options or IndexOptions()).analyzer))
    layout = layout or IndexLayout()
    body["settings"]["number_of_shards"] = layout.shards
    if layout.replicas is not None:
        body["settings"]["number_of_replicas"] = layout.replicas
    vector = body["mappings"]["properties"]["vector"]
    index = (options or IndexOptions()).vector
    if "dims" in vector:
        vector["dims"] = dimension
        vector["similarity"] = similarity
        if index is not None:
            vector["index_options"] = index.elasticsearch_index_options()
    else:
        vector["dimension"] = dimension
        vector["method"]["space_type"] = similarity
        if index is not None:
            vector["method"] = index.opensearch_method(similarity)
    body["mappings"]["_meta"]["neural_search"] = meta
    return body


def filter_clauses(filters: Sequence[FilterClause]) -> list[dict]:
    out = []
    for clause in filters:
        name = f"metadata.{clause.field}"
        if clause.kind == "term":
            out.append({"term": {name: clause.value}})
        elif clause.kind == "terms":
            out.append({"terms": {name: list(clause.value)}})
        else:
            out.append({"range": {name: dict(clause.value)}})
    return out


def knn_candidates(k: int, num_candidates: int | None) -> int:
    """How many candidates a kNN leg explores (vector_index.ann_depth: 100 unless asked; the
    client's legs and the engine-side ones use the same rule, so they agree)."""
    return ann_depth(k, num_candidates)


def bm25_query(text: str, filters: Sequence[FilterClause], fields: TextFields = DEFAULT_FIELDS) -> dict:
    # `match` and `multi_match` analyse the text and never parse it as query syntax, whatever it contains.
    if len(fields.fields) == 1:
        name, weight = fields.fields[0]
        match = {"match": {name: {"query": text, **({"boost": weight} if weight != 1.0 else {})}}}
    else:
        # best_fields is Lucene's DisjunctionMaxQuery over one match query per field (TextFields).
        match = {
            "multi_match": {
                "query": text, "type": "best_fields", "tie_breaker": fields.tie_breaker,
                "fields": [name if weight == 1.0 else f"{name}^{weight:g}" for name, weight in fields.fields],
            }
        }
    return {"bool": {"must": [match], "filter": filter_clauses(filters)}}


class SearchClusterStore:
    """Base for the Elasticsearch and OpenSearch adapters; one client, created on first use, shared by threads."""

    engine = "search-cluster"
    mapping_similarity = {"cosine": "cosine"}
    in_process = False

    def __init__(
        self, *, config: EngineConfig | None = None, url: str | None = None, layout: IndexLayout | None = None,
        options: IndexOptions | None = None, **connection,
    ):
        if config is None:
            config = EngineConfig.from_env(self.engine, url=url, **connection)
        elif url or connection:
            raise ConfigurationError("pass either config= or url=/credentials, not both")
        if config.engine != self.engine:
            raise ConfigurationError(f"{type(self).__name__} needs an {self.engine} config, got {config.engine}")
        if layout is not None and not isinstance(layout, IndexLayout):
            raise ConfigurationError("layout must be an IndexLayout(shards=..., replicas=...)")
        self.config = config
        if options is not None and not isinstance(options, IndexOptions):
            raise ConfigurationError("options must be an IndexOptions(analyzer=...)")
        self.default_layout = layout or IndexLayout()
        self.default_options = options or IndexOptions()
        if self.default_options.vector is not None:
            self.default_options.vector.check(self.engine)
        self._client = None
        self._version: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.config.url!r})"

    @property
    def url(self) -> str:
        return self.config.url

    @property
    def client(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    # -- hooks ------------------------------------------------------------------------------
    def _make_client(self): ...
    def _classify(self, exc: Exception) -> Exception | None: ...
    def knn_body(self, vector: np.ndarray, k: int, num_candidates: int, filters: Sequence[FilterClause]) -> dict: ...

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # the client's exception types differ; _classify maps them
            mapped = self._classify(exc)
            if mapped is not None:
                raise mapped from exc
            raise

    def _unavailable(self, exc: Exception) -> EngineUnavailable:
        return EngineUnavailable(self.engine, self.config.url, type(exc).__name__)

    def _status_error(self, status: int, detail: str) -> NeuralSearchError | None:
        """The error for an HTTP status both clients report alike; each client's _classify
        unpacks its own exception types (connection, timeout, 404) and hands the status here."""
        if status == 413:
            return PayloadTooLarge(detail[:200])
        if status in TRANSIENT_STATUSES:
            return TransientEngineError(status, f"{self.engine} answered {status}")
        if status == 500 and "search_phase_execution_exception" in detail:
            # Shards that failed (a node going down) with partial results refused (WHOLE): another
            # try lands on the copies that are left.
            return TransientEngineError(status, f"{self.engine} could not reach every shard: {detail[:300]}")
        if status == 401:
            return AuthenticationError(self.engine, self.config.url, 401, "authentication failed (401): check the username/password or API key")
        if status == 403:
            return AuthenticationError(self.engine, self.config.url, 403, "forbidden (403): the user lacks a permission this needs")
        return None

    # -- index management ---------------------------------------------------------------------
    def describe(self) -> dict:
        info = self._call(self.client.info)
        return {"engine": self.engine, "url": self.config.url, "version": info["version"]["number"]}

    def version(self) -> str:
        if self._version is None:
            self._version = self.describe()["version"]
        return self._version

    # Extra arguments that make the client treat a 404 as an answer (OpenSearch's client otherwise
    # logs every expected 404, an alias look-up, as a WARNING); none needed for Elasticsearch's.
    QUIET_404: dict = {}

    def _lookup(self, fn, **kwargs):
        """fn(**kwargs), or None where the engine answers 404: an expected answer here."""
        try:
            response = self._call(fn, **kwargs, **self.QUIET_404)
        except IndexNotFound:
            return None
        body = getattr(response, "body", response)
        if isinstance(body, dict) and body.get("status") == 404 and "error" in body:
            return None
        return response

    def resolve(self, name: str) -> str | None:
        aliases = self._lookup(self.client.indices.get_alias, name=name)
        if aliases is not None:
            physical = sorted(aliases.keys())
            if len(physical) > 1:
                raise ConfigurationError(f"alias {name!r} points at several indexes {physical}; fix it by hand first")
            if physical:
                return physical[0]
        return name if self._lookup(self.client.indices.get, index=name) is not None else None

    def create_physical(
        self, physical: str, *, fingerprint: dict, layout: IndexLayout | None = None, options: IndexOptions | None = None,
    ) -> None:
        layout = layout or self.default_layout
        options = options or self.default_options
        if options.vector is not None:
            options.vector.check(self.engine)
        body = load_mapping(
            self.engine,
            dimension=fingerprint["dimension"],
            similarity=self.mapping_similarity[fingerprint["similarity"]],
            meta={"fingerprint": fingerprint, "schema": 1, "layout": layout.to_dict(), "options": options.to_dict()},
            layout=layout,
            options=options,
        )
        self._call(self.client.indices.create, index=physical, body=body)
        self._wait_for_index(physical, layout.replicas)

    def _wait_for_index(self, physical: str, replicas: int | None) -> None:
        """Until every copy that the cluster can place has started: a write before a replica has
        finished its first recovery has no copy to fall back on if the primary's node goes down.
        Green where there are enough data nodes for every copy; else yellow (one node: the
        replicas stay unassigned)."""
        copies = (self.layout(physical).replicas if replicas is None else replicas) + 1
        nodes = int(self._call(self.client.cluster.health)["number_of_data_nodes"])
        if nodes < copies:
            self._health(physical, "yellow")
            return
        try:
            self._health(physical, "green")
        except Exception as exc:  # noqa: BLE001 - a timeout (408) or a client error: still usable once yellow
            log.warning("%s: %s has copies that did not start within 60 s (%s); writing once the primaries are ready", self.engine, physical, exc)
            self._health(physical, "yellow")

    def _health(self, physical: str, status: str) -> None:
        self._call(self.client.cluster.health, index=physical, wait_for_status=status, timeout="60s")

    def layout(self, physical: str) -> IndexLayout:
        settings = self._call(self.client.indices.get_settings, index=physical, name=["index.number_of_shards", "index.number_of_replicas"])
        for body in settings.values():
            index = body["settings"]["index"]
            return IndexLayout(int(index["number_of_shards"]), int(index["number_of_replicas"]))
        raise IndexNotFound(self.engine, physical)

    def publish(self, name: str, physical: str) -> str | None:
        current = self.resolve(name)
        if current == name:
            raise ConfigurationError(
                f"{self.engine} has a concrete index named {name!r}, so the name cannot become an alias; "
                f"reindex it under another name or delete it"
            )
        actions: list[dict] = []
        if current and current != physical:
            actions.append({"remove": {"index": current, "alias": name}})
        actions.append({"add": {"index": physical, "alias": name}})
        self._call(self.client.indices.update_aliases, body={"actions": actions})
        return current if current != physical else None

    def serves(self, name: str, physical: str) -> bool:
        return self.resolve(name) == physical

    def drop(self, physical: str) -> None:
        self._lookup(self.client.indices.delete, index=physical)

    def _stamp(self, physical: str) -> dict:
        mapping = self._call(self.client.indices.get_mapping, index=physical)
        for body in mapping.values():
            return ((body.get("mappings") or {}).get("_meta") or {}).get("neural_search") or {}
        raise IndexNotFound(self.engine, physical)

    def get_fingerprint(self, physical: str) -> dict | None:
        return self._stamp(physical).get("fingerprint")

    def index_options(self, physical: str) -> IndexOptions:
        return IndexOptions.from_dict(self._stamp(physical).get("options"))

    # -- writing ------------------------------------------------------------------------------
    def write(self, physical: str, docs: Sequence[IndexedDoc]) -> list[WriteResult]:
        operations: list[dict[str, Any]] = []
        for item in docs:
            d = item.document
            operations.append({"index": {"_index": physical, "_id": d.id}})
            operations.append(
                {"id": d.id, "title": d.title, "text": d.text, "metadata": dict(d.metadata), "vector": np.asarray(item.vector, dtype=float).tolist()}
            )
        response = self._call(self.client.bulk, body=operations)
        results = []
        for item, outcome in zip(docs, response["items"]):
            info = next(iter(outcome.values()))
            status = int(info.get("status", 500))
            if 200 <= status < 300:
                results.append(WriteResult(item.document.id, True, status))
            else:
                error = info.get("error") or {}
                reason = f"{error.get('type', 'error')}: {error.get('reason', '')}"
                cause = error.get("caused_by") or {}
                if cause:
                    reason += f" (caused by {cause.get('type')}: {cause.get('reason')})"
                results.append(WriteResult(item.document.id, False, status, reason))
        return results

    def refresh(self, physical: str) -> None:
        self._call(self.client.indices.refresh, index=physical)

    def count(self, physical: str) -> int:
        return int(self._call(self.client.count, index=physical)["count"])

    def ids(self, physical: str) -> set[str]:
        found: set[str] = set()
        search_after = None
        while True:
            body: dict[str, Any] = {"size": 5000, "sort": [{"id": "asc"}], "_source": False, "query": {"match_all": {}}}
            if search_after:
                body["search_after"] = search_after
            hits = self._call(self.client.search, index=physical, body=body, **WHOLE)["hits"]["hits"]
            if not hits:
                return found
            found.update(h["_id"] for h in hits)
            search_after = hits[-1]["sort"]

    def size_bytes(self, physical: str) -> int:
        stats = self._call(self.client.indices.stats, index=physical, metric="store")
        return int(stats["_all"]["primaries"]["store"]["size_in_bytes"])

    def get(self, physical: str, doc_id: str) -> RawHit | None:
        hits = self._search(physical, {"size": 1, "query": {"ids": {"values": [doc_id]}}})
        return hits[0] if hits else None

    # -- searching ----------------------------------------------------------------------------
    @staticmethod
    def _hit(raw: dict) -> RawHit:
        source = raw.get("_source") or {}
        return RawHit(raw["_id"], float(raw.get("_score") or 0.0), source.get("title", ""), source.get("text", ""), source.get("metadata") or {})

    def _search(self, index: str, body: dict, **params) -> list[RawHit]:
        body = {"_source": {"excludes": SOURCE_EXCLUDES}, **body}
        response = self._call(self.client.search, index=index, body=body, **WHOLE, **params)
        return [self._hit(h) for h in response["hits"]["hits"]]

    def _search_ids(self, index: str, body: dict, **params) -> list[RawHit]:
        # No stored fields at all (not even _id): the id comes from the `id` keyword's doc values.
        body = {**body, "stored_fields": "_none_", "docvalue_fields": ["id"]}
        response = self._call(self.client.search, index=index, body=body, **WHOLE, **params)
        return [RawHit(h["fields"]["id"][0], float(h.get("_score") or 0.0)) for h in response["hits"]["hits"]]

    def bm25(
        self, physical: str, text: str, *, k: int, filters: tuple[FilterClause, ...] = (), ids_only: bool = False,
        fields: TextFields = DEFAULT_FIELDS,
    ) -> list[RawHit]:
        body = {"size": k, "query": bm25_query(text, filters, fields), "sort": TIEBREAK}
        return self._search_ids(physical, body, **SCORED) if ids_only else self._search(physical, body, **SCORED)

    def knn(
        self, physical: str, vector: np.ndarray, *, k: int, filters: tuple[FilterClause, ...] = (), num_candidates: int | None = None,
        ids_only: bool = False,
    ) -> list[RawHit]:
        candidates = knn_candidates(k, num_candidates)
        body = {**self.knn_body(np.asarray(vector, dtype=float), k, candidates, filters), "sort": TIEBREAK}
        return self._search_ids(physical, body) if ids_only else self._search(physical, body)

    def fetch(self, physical: str, ids: Sequence[str]) -> dict[str, RawHit]:
        if not ids:
            return {}
        hits = self._search(physical, {"size": len(ids), "query": {"ids": {"values": list(ids)}}})
        return {h.id: h for h in hits}

    def clear_caches(self, physical: str) -> None:
        self._call(self.client.indices.clear_cache, index=physical)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
