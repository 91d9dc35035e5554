"""Solr adapter (HTTP against Solr 9.10 with the project's `neural_search` configset), standalone
or SolrCloud: the mode is what the node's /admin/info/system says, not a setting.

Standalone Solr has no aliases, so a logical name is a core and a rebuild is a core SWAP: the new
version is built in its own core, then swapped with the live one (names trade places, the data
stays put), and the core now holding the old data is unloaded. The model fingerprint is a core
property, served back by the configset's `/neural-search/meta` handler. In SolrCloud a logical
name is a collection alias instead (solr_cloud.py), and requests are spread over the live nodes
with failover (solr_nodes.py).

User text only ever reaches Solr as the value of a dereferenced parameter (`v=$qq`), with every
query-syntax character escaped and field queries switched off (`uf=-*`), so it can never open
local params, name other fields or call functions.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any, Sequence

import numpy as np

from ..config import EngineConfig
from ..errors import TRANSIENT_STATUSES, AuthenticationError, CapabilityError, ConfigurationError, EngineUnavailable, IndexNotFound, PayloadTooLarge, TransientEngineError
from ..fusion import FusionSpec
from .base import DEFAULT_FIELDS, FilterClause, HybridHit, IndexedDoc, IndexLayout, IndexOptions, RawHit, TextFields, WriteResult, capabilities_for, reported_legs
from .solr_cloud import ADMIN_TIMEOUT_SECONDS, SolrCloudAdmin
from .vector_index import ann_depth, byte_vector, effective
from .solr_nodes import NodePool
from .solr_query import escape_query_text, filter_params, fingerprint_property, metadata_field

CONFIGSET = "neural_search"
# Equal scores in id order: each copy of a shard numbers its documents its own way, so without
# this, ties would come back in a different order from one request (and replica) to the next,
# and pages of a ranking could repeat or skip a document. The plugin's legs sort the same way.
TIEBREAK = "score desc,id asc"
# A node that does not accept a connection within this is taken for down and the next one tried;
# waiting the whole request timeout for it would make a lost node cost every request 30 s.
CONNECT_TIMEOUT_SECONDS = 5.0
SIMILARITIES = {"cosine": "cosine", "dot_product": "dot_product", "euclidean": "euclidean"}
class SolrStore:
    engine = "solr"
    in_process = False

    def __init__(
        self, *, config: EngineConfig | None = None, url: str | None = None, layout: IndexLayout | None = None,
        options: IndexOptions | None = None, **connection,
    ):
        if config is None:
            config = EngineConfig.from_env(self.engine, url=url, **connection)
        elif url or connection:
            raise ConfigurationError("pass either config= or url=/credentials, not both")
        if layout is not None and not isinstance(layout, IndexLayout):
            raise ConfigurationError("layout must be an IndexLayout(shards=..., replicas=...)")
        if options is not None and not isinstance(options, IndexOptions):
            raise ConfigurationError("options must be an IndexOptions(analyzer=...)")
        self.config = config
        self.default_layout = layout or IndexLayout()
        self.default_options = options or IndexOptions()
        if self.default_options.vector is not None:
            self.default_options.vector.check(self.engine)
        self.nodes = NodePool(config.urls, engine=self.engine)
        self._session = None
        self._version: str | None = None
        self._mode: str | None = None
        self._cloud: SolrCloudAdmin | None = None
        self._plugin_info: dict[str, dict | None] = {}
        self._byte_vectors: dict[str, bool] = {}  # per core: is its vector field BYTE-encoded
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SolrStore(url={self.config.url!r})"

    @property
    def url(self) -> str:
        return self.config.url

    # -- HTTP ---------------------------------------------------------------------------------
    @property
    def _verify(self):
        # Given on every request: requests lets REQUESTS_CA_BUNDLE override a session's `verify`.
        return self.config.ca_certs or self.config.verify_certs

    @property
    def session(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    import requests
                    from requests.adapters import HTTPAdapter

                    session = requests.Session()
                    session.mount("http://", HTTPAdapter(pool_connections=8, pool_maxsize=32))
                    session.mount("https://", HTTPAdapter(pool_connections=8, pool_maxsize=32))
                    if self.config.username is not None:
                        session.auth = (self.config.username, self.config.password)
                    session.verify = self.config.ca_certs or self.config.verify_certs
                    self._session = session
        return self._session

    def _request(
        self, method: str, path: str, *, params: dict | None = None, json_body: Any = None, data: dict | None = None,
        content: bytes | None = None, content_type: str | None = None, timeout: float | None = None, missing: bool | None = None,
    ) -> dict:
        """One request to whichever node is next in turn, moving on to the next node when one
        cannot be connected to; HTTP error statuses are answers, mapped, never retried here."""
        import requests

        if self._mode == "solrcloud" and self.nodes.refresh_due():
            self._refresh_nodes()
        send = dict(params=params, json_body=json_body, data=data, content=content, content_type=content_type, timeout=timeout)
        response = self.nodes.call(lambda base: self._send(base, method, path, **send), failover=(requests.ConnectionError,))
        return self._answer(response, method, path, missing)

    def _request_at(self, base: str, method: str, path: str, *, params: dict | None = None) -> dict:
        """A request to one given node (a core's own node: CoreAdmin STATUS of a shard leader)."""
        import requests

        try:
            response = self._send(base, method, path, params=params)
        except requests.ConnectionError as exc:
            raise EngineUnavailable(self.engine, base, type(exc).__name__) from exc
        return self._answer(response, method, path, None)

    def _send(self, base: str, method: str, path: str, *, params=None, json_body=None, data=None, content=None, content_type=None, timeout=None):
        import requests

        timeout = timeout or self.config.timeout
        try:
            return self.session.request(
                method, f"{base}{path}", params={"wt": "json", **(params or {})}, json=json_body, data=content if content is not None else data,
                headers={"Content-Type": content_type} if content_type else None,
                timeout=(min(CONNECT_TIMEOUT_SECONDS, timeout), timeout), verify=self._verify,
            )
        except requests.ConnectionError:
            raise  # the node pool's to handle: try the next node
        except requests.Timeout as exc:
            # Read timeout: the node got the request and may still be running it; not a failover case.
            raise TransientEngineError(None, f"solr timed out after {timeout} s") from exc

    def _answer(self, response, method: str, path: str, missing: bool | None) -> dict:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {"error": {"msg": response.text[:500]}}
        if status >= 400:
            text = response.text
            if missing is None:
                missing = "not found" in text.lower() or "No such core" in text
            message = (body.get("error") or {}).get("msg") or text[:500]
            raise self._status_error(status, message, core=path.strip("/").split("/")[0], action=f"{method} {path.split('?')[0]}", missing=missing)
        return body

    def _status_error(self, status: int, message: str, *, core: str, action: str, missing: bool) -> Exception:
        """The error for an HTTP error status from Solr. missing: whether a 404 means that `core` does not exist."""
        if status == 401:
            return AuthenticationError(self.engine, self.config.url, 401, "authentication failed (401): check the username/password")
        if status == 403:
            return AuthenticationError(self.engine, self.config.url, 403, f"forbidden (403): the user may not {action}")
        if status == 413:
            return PayloadTooLarge("solr answered 413")
        if status in TRANSIENT_STATUSES:
            return TransientEngineError(status, f"solr answered {status}")
        if status == 404 and missing:
            return IndexNotFound(self.engine, core)
        return SolrRequestError(status, message)

    def _admin(self, **params) -> dict:
        return self._request("GET", "/admin/cores", params=params)

    def _select(self, core: str, params: dict) -> dict:
        # Always POSTed (form-encoded): a kNN query carries the whole vector, too long for a URL.
        return self._request("POST", f"/{core}/select", data=params, missing=True)

    # -- mode ---------------------------------------------------------------------------------
    def _system_info(self) -> dict:
        info = self._request("GET", "/admin/info/system")
        self._version = info["lucene"]["solr-spec-version"]
        self._mode = "solrcloud" if info.get("mode") == "solrcloud" else "standalone"
        return info

    @property
    def mode(self) -> str:
        """"solrcloud" or "standalone", as the first node that answers reports it (cached)."""
        if self._mode is None:
            self._system_info()
        return self._mode

    @property
    def cloud(self) -> SolrCloudAdmin | None:
        """The SolrCloud admin calls, or None on a standalone Solr."""
        if self.mode != "solrcloud":
            return None
        if self._cloud is None:
            self._cloud = SolrCloudAdmin(self._request, self._request_at)
        return self._cloud

    def _refresh_nodes(self) -> None:
        # Marked first, so that concurrent requests do not all refresh at once; a failed refresh
        # keeps the nodes known so far (the next one is due in LIVE_NODES_REFRESH_SECONDS).
        self.nodes.refreshing()
        try:
            live = self.cloud.live_nodes()
        except (EngineUnavailable, TransientEngineError, SolrRequestError):
            return
        self.nodes.set_live(live)

    # -- index management ---------------------------------------------------------------------
    def describe(self) -> dict:
        info = self._system_info()
        described = {"engine": self.engine, "url": self.config.url, "version": self._version, "mode": self._mode}
        if self._mode == "solrcloud":
            live = self.cloud.live_nodes()
            self.nodes.set_live(live)
            described.update(live_nodes=len(live), zk_host=info.get("zkHost"))
        return described

    # {!knn} arrived in 9.0; fq as a kNN pre-filter in 9.1.
    CAPABILITY_VERSIONS = {"knn": (9, 0), "knn_prefilter": (9, 1), "rawsum_hybrid": (9, 0)}

    def version(self) -> str:
        if self._version is None:
            self._system_info()
        return self._version

    def capabilities(self) -> frozenset[str]:
        return capabilities_for(self.version(), self.CAPABILITY_VERSIONS)

    def _status(self, name: str) -> dict:
        return self._admin(action="STATUS", core=name).get("status", {}).get(name) or {}

    def resolve(self, name: str) -> str | None:
        if self.cloud:
            return self.cloud.resolve(name)
        return name if self._status(name) else None

    def _properties(self, fingerprint: dict, layout: IndexLayout, options: IndexOptions) -> dict[str, str]:
        similarity = SIMILARITIES.get(fingerprint["similarity"])
        if similarity is None:
            raise ConfigurationError(f"Solr cannot index vectors with similarity {fingerprint['similarity']!r}")
        return {
            "neural_search.vector_dimension": str(int(fingerprint["dimension"])),
            "neural_search.similarity": similarity,
            "neural_search.fingerprint": fingerprint_property(fingerprint),
            "neural_search.layout": SolrCloudAdmin.layout_property(layout),
            "neural_search.options": fingerprint_property(options.to_dict()),
            # The schema picks the text fields' type from this one (text_standard, text_english).
            "neural_search.analyzer": options.analyzer,
            # The knn_vector fieldType's encoding, hnswMaxConnections and hnswBeamWidth.
            **effective(options.vector, self.engine).solr_properties(),
        }

    def create_physical(
        self, physical: str, *, fingerprint: dict, layout: IndexLayout | None = None, options: IndexOptions | None = None,
    ) -> None:
        layout = layout or self.default_layout
        properties = self._properties(fingerprint, layout, options or self.default_options)
        if self.cloud:
            self.cloud.create(physical, layout=layout, properties=properties)
            return
        if layout.shards != 1 or layout.replicas:
            raise ConfigurationError(
                f"{self.config.url} is a standalone Solr, which keeps an index in one core on one node (asked for "
                f"{layout.shards} shard(s), {layout.replicas} replica(s)); run SolrCloud for shards and replicas, "
                f"or index with --shards 1 --replicas 0"
            )
        if self._status(physical):
            raise ConfigurationError(f"a Solr core named {physical!r} already exists")
        # A unique instanceDir: after SWAPs core names and folders differ, and a CREATE that
        # lands on another core's folder makes Solr delete that core's core.properties.
        self._admin(
            action="CREATE",
            name=physical,
            instanceDir=f"{physical}__{uuid.uuid4().hex[:12]}",
            configSet=CONFIGSET,
            **{f"property.{key}": value for key, value in properties.items()},
        )

    def layout(self, physical: str) -> IndexLayout:
        if self.cloud:
            return self.cloud.layout(physical)
        if not self._status(physical):
            raise IndexNotFound(self.engine, physical)
        return IndexLayout(1, 0)

    def serves(self, name: str, physical: str) -> bool:
        """Standalone: RENAME and SWAP move core names, never folders: `name` serves the data built
        under `physical` once its instanceDir is the unique one create_physical gave `physical`."""
        if self.cloud:
            return self.cloud.serves(name, physical) or (name == physical and self.cloud.resolve(name) == physical)
        status = self._status(name)
        if name == physical:
            return bool(status)
        return (status.get("instanceDir") or "").rstrip("/").rsplit("/", 1)[-1].startswith(f"{physical}__")

    def publish(self, name: str, physical: str) -> str | None:
        if name == physical:
            return None
        self._byte_vectors.pop(name, None)  # the name is about to serve other data
        if self.cloud:
            return self.cloud.publish(name, physical)
        if self.serves(name, physical):
            # Sent again after it went through: a SWAP left the previous data under `physical`, a RENAME nothing.
            return physical if self._status(physical) else None
        if not self._status(name):
            self._admin(action="RENAME", core=physical, other=name)
            return None
        self._admin(action="SWAP", core=name, other=physical)
        # `physical` now names the core holding the previous data.
        self._byte_vectors.pop(name, None)
        self._byte_vectors.pop(physical, None)
        return physical

    def drop(self, physical: str) -> None:
        self._plugin_info.pop(physical, None)
        self._byte_vectors.pop(physical, None)
        if self.cloud:
            self.cloud.delete(physical)
        elif self._status(physical):
            self._admin(action="UNLOAD", core=physical, deleteInstanceDir="true")

    def _stamp(self, physical: str) -> dict:
        return self._request("GET", f"/{physical}/neural-search/meta").get("params", {})

    def get_fingerprint(self, physical: str) -> dict | None:
        raw = self._stamp(physical).get("fingerprint")
        return json.loads(raw) if raw else None

    def index_options(self, physical: str) -> IndexOptions:
        raw = self._stamp(physical).get("options")
        return IndexOptions.from_dict(json.loads(raw) if raw else None)

    def _as_indexed(self, physical: str, vector: np.ndarray) -> np.ndarray:
        """The vector as the core's field takes it: whole numbers in -127..127 for a BYTE field
        (vector_index.byte_vector), else as it is. Solr 9.10 does not quantise floats itself."""
        return np.asarray(byte_vector(vector), dtype=np.int16) if self._byte_field(physical) else vector

    def _byte_field(self, physical: str) -> bool:
        byte = self._byte_vectors.get(physical)
        if byte is None:
            vector_options = self.index_options(physical).vector
            byte = self._byte_vectors[physical] = vector_options is not None and vector_options.type == "byte_hnsw"
        return byte

    # -- writing ------------------------------------------------------------------------------
    @staticmethod
    def _solr_doc(item: IndexedDoc, byte: bool = False) -> dict:
        d = item.document
        doc: dict[str, Any] = {
            "id": d.id,
            "title": d.title,
            "text": d.text,
            "metadata_json": json.dumps(dict(d.metadata), ensure_ascii=False, sort_keys=True, default=str),
            "vector": byte_vector(item.vector) if byte else np.asarray(item.vector, dtype=float).tolist(),
        }
        for key, value in d.metadata.items():
            field = metadata_field(key, value)
            if field:
                doc[field] = value
        return doc

    def write(self, physical: str, docs: Sequence[IndexedDoc]) -> list[WriteResult]:
        """Solr accepts or rejects a whole update request; a rejected request is split in halves
        until the documents at fault are found, so each gets its own result and reason."""
        if not docs:
            return []
        byte = self._byte_field(physical)
        try:
            self._request("POST", f"/{physical}/update", json_body=[self._solr_doc(i, byte) for i in docs])
            return [WriteResult(i.document.id, True, 200) for i in docs]
        except SolrRequestError as exc:
            if len(docs) == 1:
                return [WriteResult(docs[0].document.id, False, exc.status, exc.message)]
            half = len(docs) // 2
            return self.write(physical, docs[:half]) + self.write(physical, docs[half:])

    def refresh(self, physical: str) -> None:
        self._request("POST", f"/{physical}/update", params={"commit": "true", "waitSearcher": "true"}, json_body={})

    def count(self, physical: str) -> int:
        return int(self._select(physical, {"q": "*:*", "rows": 0})["response"]["numFound"])

    def ids(self, physical: str) -> set[str]:
        found: set[str] = set()
        cursor = "*"
        while True:
            body = self._select(physical, {"q": "*:*", "fl": "id", "sort": "id asc", "rows": 5000, "cursorMark": cursor})
            found.update(d["id"] for d in body["response"]["docs"])
            if body["nextCursorMark"] == cursor:
                return found
            cursor = body["nextCursorMark"]

    def size_bytes(self, physical: str) -> int:
        if self.cloud:
            return self.cloud.size_bytes(physical)
        return int(self._status(physical).get("index", {}).get("sizeInBytes", 0))

    def get(self, physical: str, doc_id: str) -> RawHit | None:
        body = self._request("GET", f"/{physical}/get", params={"id": doc_id, "fl": "id,title,text,metadata_json"})
        doc = body.get("doc")
        return self._hit({**doc, "score": 0.0}) if doc else None

    # -- searching ----------------------------------------------------------------------------
    @staticmethod
    def _hit(doc: dict) -> RawHit:
        metadata = json.loads(doc.get("metadata_json") or "{}")
        return RawHit(doc["id"], float(doc.get("score", 0.0)), doc.get("title", ""), doc.get("text", ""), metadata)

    def _search(self, physical: str, params: dict, filters: Sequence[FilterClause], ids_only: bool = False) -> list[RawHit]:
        fqs, fparams = filter_params(filters)
        fl = "id,score" if ids_only else "id,title,text,metadata_json,score"
        body = self._select(physical, {**params, **fparams, "fq": fqs, "fl": fl, "sort": TIEBREAK})
        if ids_only:
            return [RawHit(d["id"], float(d.get("score", 0.0))) for d in body["response"]["docs"]]
        return [self._hit(d) for d in body["response"]["docs"]]

    def fetch(self, physical: str, ids: Sequence[str]) -> dict[str, RawHit]:
        if not ids:
            return {}
        # Real-time get with one `id` parameter per document (ids may contain commas).
        body = self._request("GET", f"/{physical}/get", params={"id": list(ids), "fl": "id,title,text,metadata_json"})
        docs = body["response"]["docs"] if "response" in body else ([body["doc"]] if body.get("doc") else [])
        return {d["id"]: self._hit({**d, "score": 0.0}) for d in docs}

    @staticmethod
    def _field_query(name: str, weight: float) -> str:
        qf = name if weight == 1.0 else f"{name}^{weight:g}"
        return f"{{!edismax qf={qf} uf=-* v=$qq}}"

    @classmethod
    def _lexical(cls, fields: TextFields = DEFAULT_FIELDS) -> dict[str, str]:
        """The BM25 query as parameters: `q`, and what it dereferences besides the escaped text
        ($qq). Several fields: one query per field, the best plus tie times the others
        (DisjunctionMaxQuery, Elasticsearch's best_fields); edismax over several qf fields would
        take the best field per term instead. Our Solr plugin builds its BM25 leg the same way."""
        if len(fields.fields) == 1:
            return {"q": cls._field_query(*fields.fields[0])}
        clauses = " ".join(f'_query_:"{cls._field_query(name, weight)}"' for name, weight in fields.fields)
        return {"q": f"{{!maxscore tie={fields.tie_breaker!r} v=$qb}}", "qb": clauses}

    def bm25(
        self, physical: str, text: str, *, k: int, filters: tuple[FilterClause, ...] = (), ids_only: bool = False,
        fields: TextFields = DEFAULT_FIELDS,
    ) -> list[RawHit]:
        return self._search(physical, {**self._lexical(fields), "qq": escape_query_text(text), "rows": k}, filters, ids_only)

    @staticmethod
    def _vector_text(vector: np.ndarray) -> str:
        vector = np.asarray(vector)
        if vector.dtype.kind == "i":  # a BYTE field's query: whole numbers
            return "[" + ",".join(str(int(v)) for v in vector) + "]"
        return "[" + ",".join(repr(float(v)) for v in np.asarray(vector, dtype=np.float32)) + "]"

    @classmethod
    def _knn_query(cls, vector: np.ndarray, top_k: int) -> str:
        return f"{{!knn f=vector topK={int(top_k)}}}{cls._vector_text(vector)}"

    def knn(
        self, physical: str, vector: np.ndarray, *, k: int, filters: tuple[FilterClause, ...] = (), num_candidates: int | None = None,
        ids_only: bool = False,
    ) -> list[RawHit]:
        # fq on a request whose main query is knn is applied as a pre-filter (Solr 9.1+).
        top_k = ann_depth(k, num_candidates)
        vector = self._as_indexed(physical, vector)
        return self._search(physical, {"q": self._knn_query(vector, top_k), "rows": k}, filters, ids_only)

    PLUGIN_HANDLER = "/neural-search/hybrid"
    PLUGIN_HINT = (
        "install neural-search's Solr plugin (plugins/solr, built for Solr 9.10.1): put neural-search-solr-0.1.0.jar "
        "into <solr home>/lib (or a <lib> directive) and register the /neural-search/hybrid handler as "
        "mappings/solr/neural_search/conf/solrconfig.xml does, then reload the core"
    )

    def plugin_info(self, physical: str) -> dict | None:
        """What the core's /neural-search/hybrid handler says of itself, or None without the plugin
        (the handler is lazy in our configset, so a Solr without the jar still creates cores)."""
        if physical not in self._plugin_info:
            try:
                info = self._request("GET", f"/{physical}{self.PLUGIN_HANDLER}", params={"describe": "true"}).get("neural_search")
            except (SolrRequestError, IndexNotFound):
                info = None
            self._plugin_info[physical] = info
        return self._plugin_info[physical]

    def engine_fusion_problem(self, physical: str, fusion: FusionSpec, weights: tuple[float, float]) -> str | None:
        if self.plugin_info(physical) is None:
            return f"Solr core {physical!r} at {self.config.url} has no neural-search hybrid handler; {self.PLUGIN_HINT}"
        return None

    def engine_fusion_preferred(self, physical: str) -> bool:
        return self.plugin_info(physical) is not None

    def engine_hybrid(
        self, physical: str, text: str, vector: np.ndarray, *, k: int, offset: int, depth: int, filters: tuple[FilterClause, ...],
        fusion: FusionSpec, weights: tuple[float, float], explain: bool | None, fields: TextFields = DEFAULT_FIELDS,
    ) -> list[HybridHit]:
        """One request to the plugin's handler, which runs the legs exactly as bm25() and knn() do
        (it escapes the raw text itself) and fuses them at the coordinator."""
        problem = self.engine_fusion_problem(physical, fusion, weights)
        if problem:
            raise CapabilityError(problem)
        fqs, fparams = filter_params(filters)
        vector = self._as_indexed(physical, vector)
        params = {
            **self.hybrid_params(text, self._vector_text(vector), fusion=fusion, weights=weights, depth=depth, fields=fields),
            "start": offset,
            "rows": k,
            "fl": "id,title,text,metadata_json,score",
            "fq": fqs,
            **fparams,
        }
        body = self._request("POST", f"/{physical}{self.PLUGIN_HANDLER}", data=params)
        reported = (body.get("neural_search") or {}).get("legs") or {}
        hits = [self._hit(doc) for doc in body["response"]["docs"]]
        return [HybridHit.of(hit, {} if explain is False else reported_legs(reported.get(hit.id))) for hit in hits]

    @staticmethod
    def hybrid_params(
        text: str, vector_text: str, *, fusion: FusionSpec, weights: tuple[float, float], depth: int, fields: TextFields = DEFAULT_FIELDS,
    ) -> dict[str, str | int]:
        """The plugin handler's parameters for this fusion (its legs run as bm25() and knn() do)."""
        return {
            "text": text,
            "vector": vector_text,
            "depth": depth,
            "fusion": str(fusion),
            "weights": ",".join(repr(w) for w in weights),
            "qf": " ".join(name if weight == 1.0 else f"{name}^{weight:g}" for name, weight in fields.fields),
            "tie": repr(fields.tie_breaker),
        }

    def rawsum_hybrid(
        self, physical: str, text: str, vector: np.ndarray, *, k: int, filters: tuple[FilterClause, ...], depth: int,
        weights: tuple[float, float], fields: TextFields = DEFAULT_FIELDS,
    ) -> list[RawHit]:
        """`{!bool should=lexical should=knn}`: the union, scored by bm25_weight * BM25 +
        knn_weight * similarity, like Elasticsearch's query + knn. Filters apply to the whole request (fq)."""
        lexical = self._lexical(fields)
        vector = self._as_indexed(physical, vector)
        params = {
            "q": "{!bool should=$lex should=$vec}",
            "lex": lexical.pop("q") if weights[0] == 1.0 else f"{{!boost b={weights[0]!r} v=$lexq}}",
            **({} if weights[0] == 1.0 else {"lexq": lexical.pop("q")}),
            **lexical,
            "qq": escape_query_text(text),
            "vec": self._knn_query(vector, depth) if weights[1] == 1.0 else f"{{!boost b={weights[1]!r} v=$vq}}",
            "vq": self._knn_query(vector, depth),
            "rows": k,
        }
        return self._search(physical, params, filters)

    def clear_caches(self, physical: str) -> None:
        # Solr has no call that empties a core's queryResultCache and filterCache; reloading the
        # core (SolrCloud: every replica of the collection) opens new searchers with empty caches.
        if self.cloud:
            self.cloud.reload(physical)
            return
        self._request("GET", "/admin/cores", params={"action": "RELOAD", "core": physical}, timeout=max(ADMIN_TIMEOUT_SECONDS, self.config.timeout))

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class SolrRequestError(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(f"solr answered {status}: {message}")
