"""The search library: one API for BM25, kNN and hybrid search on every engine.

    client = SearchClient.connect("opensearch", index="films")
    result = client.search("space opera with robots", mode="hybrid", k=10, fusion="rrf")
    for hit in result.hits:
        print(hit.rank, hit.id, hit.score, hit.legs)

A client is created once and shared by threads: it holds one engine client (connection pool,
created on first use), one encoder (query-embedding LRU) and one small thread pool that runs the
two legs of a hybrid query side by side. The legs return ids and scores only; the page's stored
fields come in one more request after fusion, because fetching them for every candidate cost more
than that round trip (benchmarks/README.md, section 2, has the measurements).
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping

from .analysis import tokenize
from .encoding import Encoder, same_model
from .engines.base import LEGS, DocumentStore, IndexOptions, RawHit, TextFields, normalize_filters, validate_index_name
from .errors import (
    CapabilityError, ConfigurationError, IndexNotFound, IndexOptionsMismatch, ModelMismatch, PaginationError, TransientEngineError,
)
from .retries import RetryPolicy
from .fusion import RAWSUM, FusionSpec, LegScore, ranked

MODES = ("bm25", "knn", "hybrid")
FUSION_SIDES = (None, "engine", "client")
MAX_QUERY_TERMS = 512  # below every engine's boolean clause limit (1024 in Lucene by default)
RESOLVE_TTL_SECONDS = 10.0


@dataclass(frozen=True)
class Hit:
    id: str
    title: str
    score: float
    rank: int
    text: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    legs: Mapping[str, LegScore | None] = field(default_factory=dict)

    def explain(self) -> str:
        parts = []
        for leg, detail in self.legs.items():
            if detail is None:
                parts.append(f"{leg}: not retrieved")
            else:
                norm = "" if detail.normalized is None else f" -> {detail.normalized:.4f}"
                rank = "?" if detail.rank is None else detail.rank
                parts.append(f"{leg}: #{rank} raw {detail.score:.4f}{norm}")
        return "; ".join(parts) or "no per-leg breakdown (ask with explain=True)"


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    mode: str
    fusion: str | None
    engine: str
    index: str
    physical: str
    offset: int
    k: int
    candidates: int
    timings_ms: Mapping[str, float]
    note: str | None = None
    fusion_at: str | None = None  # hybrid only: "engine" (one request, the engine's plugin) or "client"
    fields: str = "content"  # which text fields BM25 scored (TextFields)

    @property
    def ids(self) -> list[str]:
        return [h.id for h in self.hits]


def limit_query_terms(text: str, max_terms: int = MAX_QUERY_TERMS) -> str:
    """Keeps whole words from the start until `max_terms` tokens, so a 10 KB query cannot hit
    the engines' boolean-clause limits; every engine gets the same shortened text."""
    if len(tokenize(text)) <= max_terms:
        return text
    kept, count = [], 0
    for word in text.split():
        count += len(tokenize(word))
        if count > max_terms:
            break
        kept.append(word)
    return " ".join(kept)


# Searches are read-only, so a transient answer (a shard copy lost while a node goes down, a 503
# or 429 from a busy node) is asked again after a short pause; the engine clients already move on
# to the next node when one cannot be reached. Short: a caller is waiting for this page.
SEARCH_RETRY = RetryPolicy(initial_backoff=0.1, max_backoff=1.0, budget_seconds=5.0)


class SearchClient:
    def __init__(
        self,
        *,
        store: DocumentStore,
        index: str,
        encoder: Encoder | None = None,
        candidates: int = 100,
        max_workers: int = 16,
        verify_model: bool = True,
        retry: RetryPolicy | None = SEARCH_RETRY,
        fields: str | TextFields | None = None,
        tie_breaker: float | None = None,
        analyzer: str | None = None,
    ):
        """fields/tie_breaker: the BM25 fields of every search that names none (TextFields;
        default the one `content` field). analyzer: the analysis the caller expects the index to
        have; another one is refused (IndexOptionsMismatch). None: whatever the index has."""
        validate_index_name(index)
        self.fields = TextFields.parse(fields, tie_breaker)
        self.expected_options = None if analyzer is None else IndexOptions(analyzer=analyzer)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError("retry must be a RetryPolicy (or None: no retries)")
        self.retry = retry
        if not isinstance(candidates, int) or candidates < 1 or candidates > 10000:
            raise ConfigurationError(f"candidates must be an integer in 1..10000, got {candidates!r}")
        self.store = store
        self.index = index
        self.encoder = encoder
        self.candidates = candidates
        self.verify_model = verify_model
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="neural-search-leg")
        self._lock = threading.Lock()
        self._resolved: tuple[float, str] | None = None
        self._checked: set[str] = set()
        self._in_flight = 0  # searches running now on this client, for in-process engines (see search)

    def _retried(self, fn, *args, **kwargs):
        delays = iter(()) if self.retry is None else self.retry.delays()
        while True:
            try:
                return fn(*args, **kwargs)
            except TransientEngineError:
                delay = next(delays, None)
                if delay is None:
                    raise
                time.sleep(delay)

    @classmethod
    def connect(cls, engine: str = "embedded", *, index: str, model: str | None = None, **kwargs) -> "SearchClient":
        from .engines import open_store

        store_options = {k: kwargs.pop(k) for k in list(kwargs) if k in ("url", "username", "password", "api_key", "ca_certs", "verify_certs", "path", "config")}
        encoder = Encoder(model=model) if model else Encoder()
        return cls(store=open_store(engine, **store_options), index=index, encoder=encoder, **kwargs)

    def __repr__(self) -> str:
        return f"SearchClient(store={self.store!r}, index={self.index!r})"

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self.store.close()

    def __enter__(self) -> "SearchClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def physical(self) -> str:
        now = time.monotonic()
        resolved = self._resolved
        if resolved and now - resolved[0] < RESOLVE_TTL_SECONDS:
            return resolved[1]
        physical = self.store.resolve(self.index)
        if physical is None:
            raise IndexNotFound(self.store.engine, self.index)
        self._resolved = (now, physical)
        return physical

    def _check_capabilities(self, filtered: bool) -> None:
        capabilities = self.store.capabilities()
        if "knn" not in capabilities:
            raise CapabilityError(f"{self.store.engine} ({self.store.describe().get('version')}) has no vector search; use mode='bm25' or upgrade the engine")
        if filtered and "knn_prefilter" not in capabilities:
            raise CapabilityError(
                f"{self.store.engine} ({self.store.describe().get('version')}) cannot filter inside a kNN search, so a "
                "filtered kNN could return fewer than k hits; upgrade the engine or search without filters"
            )

    def _check_model(self, physical: str) -> None:
        if not self.verify_model or physical in self._checked:
            return
        if self.encoder is None:
            raise ConfigurationError("kNN and hybrid search need an encoder; pass encoder=Encoder(model=...)")
        recorded = self.store.get_fingerprint(physical)
        mine = self.encoder.fingerprint
        if not same_model(recorded, mine.id):
            raise ModelMismatch(
                self.index, recorded, mine.to_dict(), "Query with the model the index was built with (--model), or rebuild the index."
            )
        with self._lock:
            self._checked.add(physical)

    def _check_options(self, physical: str) -> None:
        key = ("options", physical)
        if self.expected_options is None or key in self._checked:
            return
        differences = self.expected_options.differences(self.store.index_options(physical), self.store.engine)
        if differences:
            raise IndexOptionsMismatch(
                self.index, differences,
                "The engine analyses queries as the index was built; search without --analyzer, or rebuild the index "
                "with --recreate and the analyzer you want.",
            )
        with self._lock:
            self._checked.add(key)

    def search(
        self,
        text: str,
        *,
        mode: str = "hybrid",
        k: int = 10,
        offset: int = 0,
        filters: Mapping[str, Any] | None = None,
        fusion: str | FusionSpec = "rrf",
        weights: Mapping[str, float] | None = None,
        candidates: int | None = None,
        fusion_at: str | None = None,
        explain: bool | None = None,
        allow_fallback: bool = False,
        fields: str | TextFields | None = None,
        tie_breaker: float | None = None,
    ) -> SearchResult:
        """One search. Hybrid only: `fusion_at` "engine" fuses inside the engine in one request (its
        plugin), "client" here, None (default) the engine wherever it can; `explain` None gives
        each hit's per-leg breakdown wherever it costs nothing extra, True always (OpenSearch then
        uses its explain API), False never; `allow_fallback` lets an explicit engine-side or rawsum
        request the engine cannot serve fall back to client-side fusion (with a note); `fields`
        (with `tie_breaker`) the BM25 fields, e.g. "title^2,text" (default: the client's)."""
        with self._lock:
            self._in_flight += 1
        arguments = dict(
            mode=mode, k=k, offset=offset, filters=filters, fusion=fusion, weights=weights, candidates=candidates, fusion_at=fusion_at,
            explain=explain, allow_fallback=allow_fallback,
            fields=self.fields if fields is None and tie_breaker is None else TextFields.parse(fields if fields is not None else self.fields, tie_breaker),
        )
        try:
            try:
                return self._search(text, **arguments)
            except IndexNotFound:
                # The index the name resolved to is gone (a rebuild moved the name and dropped it),
                # or a node that is shutting down answered for it: resolve again, ask once more.
                if self._resolved is None:
                    raise
                self._resolved = None
                return self._search(text, **arguments)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _fusion_side(self, physical: str, spec: FusionSpec, weights: tuple[float, float], fusion_at: str | None, allow_fallback: bool) -> tuple[str, str | None]:
        """("engine" | "client", note) for a hybrid search with this fusion."""
        if fusion_at not in FUSION_SIDES:
            raise ConfigurationError(f"fusion_at must be one of {', '.join(s for s in FUSION_SIDES if s)} or None, got {fusion_at!r}")
        if fusion_at == "client":
            return "client", None
        problem = self.store.engine_fusion_problem(physical, spec, weights)
        if problem is None:
            if fusion_at == "engine" or self.store.engine_fusion_preferred(physical):
                return "engine", None
            return "client", None
        if fusion_at == "engine" and not allow_fallback:
            raise CapabilityError(f"engine-side {spec} is not available: {problem}")
        return "client", (f"fused in the client: {problem}" if fusion_at == "engine" else None)

    def _search(self, text: str, *, mode, k, offset, filters, fusion, weights, candidates, fusion_at, explain, allow_fallback, fields) -> SearchResult:
        started = time.perf_counter()
        if mode not in MODES:
            raise ConfigurationError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if not isinstance(text, str):
            raise ConfigurationError("query text must be a string")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigurationError(f"k must be a positive integer, got {k!r}")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ConfigurationError(f"offset must be an integer >= 0, got {offset!r}")
        if explain not in (None, True, False):
            raise ConfigurationError(f"explain must be True, False or None, got {explain!r}")
        depth_limit = candidates or self.candidates
        if offset + k > depth_limit:
            raise PaginationError(
                f"offset {offset} + k {k} goes past the candidate depth {depth_limit}: results are only ranked "
                f"that deep. Ask for fewer, or raise candidates (at most 10000)."
            )
        clauses = normalize_filters(filters)
        spec = FusionSpec.parse(fusion) if mode == "hybrid" else None
        leg_weights = _leg_weights(weights) if mode == "hybrid" else (1.0, 1.0)
        physical = self.physical()
        query_text = limit_query_terms(text)
        timings = {"encode_ms": 0.0, "engine_ms": 0.0, "fusion_ms": 0.0}
        side = None

        def result(hits: list[Hit], note: str | None = None) -> SearchResult:
            timings["total_ms"] = (time.perf_counter() - started) * 1000
            return SearchResult(
                hits, mode, str(spec) if spec else None, self.store.engine, self.index, physical, offset, k, depth_limit, timings, note,
                side, str(fields),
            )

        self._check_options(physical)
        if not text.strip():
            return result([], "empty query text: nothing to match")
        if mode != "bm25":
            self._check_capabilities(bool(clauses))
            self._check_model(physical)

        def timed(fn, *args, **kwargs):
            t0 = time.perf_counter()
            out = self._retried(fn, *args, **kwargs)
            return out, (time.perf_counter() - t0) * 1000

        if mode == "bm25":
            raw, timings["engine_ms"] = timed(self.store.bm25, physical, query_text, k=offset + k, filters=clauses, fields=fields)
            return result(_single_leg("bm25", raw, offset, k))

        note = None
        if mode == "hybrid" and spec.method == RAWSUM:
            if "rawsum_hybrid" in self.store.capabilities():
                side = "engine"
                vector, timings["encode_ms"] = timed(self.encoder.encode_query, text)
                raw, timings["engine_ms"] = timed(
                    self.store.rawsum_hybrid, physical, query_text, vector, k=offset + k, filters=clauses, depth=depth_limit, weights=leg_weights,
                    fields=fields,
                )
                hits = [Hit(h.id, h.title, h.score, offset + i + 1, h.text, h.metadata, {}) for i, h in enumerate(raw[offset : offset + k])]
                return result(hits, f"raw scores summed inside {self.store.engine}; per-leg scores are not reported")
            if not allow_fallback:
                raise CapabilityError(f"{self.store.engine} has no one-request raw-score sum here; use --fusion rrf or linear:*, or allow fallback")
            note = f"{self.store.engine} has no one-request raw-score sum; fell back to client-side rrf"
            spec = FusionSpec.parse("rrf")
        if mode == "hybrid":
            side, side_note = self._fusion_side(physical, spec, leg_weights, fusion_at, allow_fallback)
            note = note or side_note
        if side == "engine":
            vector, timings["encode_ms"] = timed(self.encoder.encode_query, text)
            fused, timings["engine_ms"] = timed(
                self.store.engine_hybrid, physical, query_text, vector, k=k, offset=offset, depth=depth_limit, filters=clauses,
                fusion=spec, weights=leg_weights, explain=explain, fields=fields,
            )
            hits = [Hit(h.id, h.title, h.score, position, h.text, h.metadata, dict(h.legs)) for position, h in enumerate(fused, start=offset + 1)]
            return result(hits, note)

        def bm25_leg():
            return timed(self.store.bm25, physical, query_text, k=depth_limit, filters=clauses, ids_only=True, fields=fields)

        # The bm25 leg runs on another thread while this one encodes and runs the kNN leg. An
        # in-process engine mostly holds the GIL, so once other searches are running on this
        # client a second thread only adds hand-offs: then both legs run here.
        inline = self.store.in_process and self._in_flight > 1
        bm25_future = self._pool.submit(bm25_leg) if mode == "hybrid" and not inline else None
        vector, timings["encode_ms"] = timed(self.encoder.encode_query, text)

        if mode == "knn":
            # Only the page is fetched; the HNSW search still explores `depth_limit` candidates.
            raw, timings["engine_ms"] = timed(self.store.knn, physical, vector, k=offset + k, filters=clauses, num_candidates=depth_limit)
            return result(_single_leg("knn", raw, offset, k))

        # The legs return ids and scores only; stored fields are fetched for the page alone, below.
        # The kNN leg runs on this thread: one pool hand-off less.
        knn_raw, knn_ms = timed(self.store.knn, physical, vector, k=depth_limit, filters=clauses, num_candidates=depth_limit, ids_only=True)
        bm25_raw, bm25_ms = bm25_future.result() if bm25_future is not None else bm25_leg()
        timings["engine_ms"] = knn_ms + bm25_ms if bm25_future is None else max(bm25_ms, knn_ms)
        t0 = time.perf_counter()
        legs = {"bm25": ranked([(h.id, h.score) for h in bm25_raw]), "knn": ranked([(h.id, h.score) for h in knn_raw])}
        page = spec.fuse(legs, dict(zip(LEGS, leg_weights)), top=offset + k)[offset:]
        timings["fusion_ms"] = (time.perf_counter() - t0) * 1000
        docs, timings["fetch_ms"] = timed(self.store.fetch, physical, [f.id for f in page])
        hits = []
        for position, f in enumerate(page, start=offset + 1):
            raw = docs.get(f.id) or RawHit(f.id, f.score)  # deleted between the legs and the fetch
            detail = {}
            if explain is not False:
                detail = {
                    leg: (LegScore(h.score, h.rank, f.normalized.get(leg)) if h is not None else None) for leg, h in f.legs.items()
                }
            hits.append(Hit(f.id, raw.title, f.score, position, raw.text, raw.metadata, detail))
        return result(hits, note)


def _leg_weights(weights: Mapping[str, float] | None) -> tuple[float, float]:
    """(bm25, knn) weights, validated once for both sides of fusion."""
    if weights is None:
        return (1.0, 1.0)
    if not isinstance(weights, Mapping):
        raise ConfigurationError(f"weights must map leg names ({', '.join(LEGS)}) to numbers, got {weights!r}")
    unknown = set(weights) - set(LEGS)
    if unknown:
        raise ConfigurationError(f"weight given for unknown leg(s) {sorted(unknown)}; legs are {', '.join(LEGS)}")
    out = []
    for leg in LEGS:
        value = weights.get(leg, 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigurationError(f"weight of leg {leg!r} must be a finite number >= 0, got {value!r}")
        out.append(float(value))
    if sum(out) <= 0:
        raise ConfigurationError("at least one leg needs a positive weight")
    return out[0], out[1]


def _single_leg(leg: str, raw: list[RawHit], offset: int, k: int) -> list[Hit]:
    return [
        Hit(h.id, h.title, h.score, i, h.text, h.metadata, {leg: LegScore(h.score, i)})
        for i, h in enumerate(raw[offset : offset + k], start=offset + 1)
    ]
