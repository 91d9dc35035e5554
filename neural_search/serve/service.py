"""What `neural-search serve` does, without HTTP: one shared SearchClient per engine and index,
the searches, the index list, engine health, and the judgments of a judged collection.

The HTTP layer (app.py) only turns requests into calls here and results or errors into JSON, so
everything here is plain Python and testable without a server."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import ConfigurationError, NeuralSearchError
from ..registry import ENGINES

log = logging.getLogger("neural_search.serve")

SNIPPET_CHARS = 320
HEALTH_TIMEOUT_SECONDS = 3.0
NDCG_DEPTH = 10


class NotServed(NeuralSearchError):
    """An engine or index this server was not started with (the HTTP layer answers 404)."""


@dataclass(frozen=True)
class Target:
    """One (engine, index) pair the server answers for."""

    engine: str
    index: str

    @property
    def key(self) -> str:
        return f"{self.engine}:{self.index}"


@dataclass
class Judgments:
    """A judged collection's queries and graded labels (BEIR layout, loaded by evaluation.load_collection)."""

    name: str
    split: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    @classmethod
    def load(cls, dataset: str | Path, split: str) -> "Judgments":
        from ..evaluation import load_collection

        collection = load_collection(dataset, split)
        return cls(collection.name, collection.split, dict(collection.queries), {q: dict(j) for q, j in collection.qrels.items()})

    def listing(self) -> list[dict]:
        return [
            {"qid": qid, "text": text, "relevant": sum(1 for g in self.qrels[qid].values() if g > 0), "judged": len(self.qrels[qid])}
            for qid, text in self.queries.items()
        ]

    def ndcg_at_10(self, qid: str, ranking: Sequence[tuple[str, float]]) -> float:
        """nDCG@10 of one query's ranking (doc id, score), scored by ir-measures as compare scores it."""
        import ir_measures

        from ..evaluation import evaluate_run

        run = [ir_measures.ScoredDoc(qid, doc_id, float(score)) for doc_id, score in ranking[:NDCG_DEPTH]]
        return evaluate_run({qid: self.qrels[qid]}, run, metrics=("ndcg@10",)).means["ndcg@10"]


@dataclass(frozen=True)
class SearchRequest:
    """One search as the HTTP layer hands it over (types checked there, values checked here and
    by SearchClient, so the messages are the library's and the CLI's)."""

    q: str
    engine: str | None = None
    index: str | None = None
    mode: str = "hybrid"
    fusion: str | None = None  # None: the profile's, else rrf
    fusion_at: str | None = None
    k: int = 10
    offset: int = 0
    filters: Mapping[str, Any] | None = None
    weights: Mapping[str, float] | None = None
    explain: bool | None = None
    allow_fallback: bool = False
    qid: str | None = None
    fields: str | None = None  # BM25 fields, "title^2,text"; None: the client's default
    tie_breaker: float | None = None
    profile: str | None = None  # the name of a search profile serve was started with (--profile)

    def options(self, profile=None) -> dict:
        """SearchClient.search's keyword arguments for this request; `profile` (a SearchProfile)
        gives fusion, weights, depth and fields wherever the request names none."""
        options = dict(profile.search_settings()) if profile is not None else {}
        options.update(
            mode=self.mode, k=self.k, offset=self.offset, filters=self.filters, fusion_at=self.fusion_at, explain=self.explain,
            allow_fallback=self.allow_fallback,
        )
        options.setdefault("fusion", "rrf")
        options.update({name: value for name, value in (("fusion", self.fusion), ("weights", self.weights)) if value is not None})
        # Only when asked for: the field options are newer than the rest of the search API.
        options.update({name: value for name, value in (("fields", self.fields), ("tie_breaker", self.tie_breaker)) if value is not None})
        return options


class Service:
    """The served indexes. `open_store(engine)` gives a new, lazily connecting store; each target
    gets its own store and SearchClient, created here once and shared by every request thread."""

    def __init__(
        self,
        *,
        targets: Sequence[Target],
        open_store: Callable[[str], Any],
        encoder: Any,
        candidates: int = 100,
        judgments: Judgments | None = None,
        report_dir: Path | None = None,
        torch_threads: int | None = None,
        profiles: Sequence[Any] = (),
    ):
        from ..search import SearchClient

        if not targets:
            raise ConfigurationError("serve needs at least one engine and index to serve")
        for target in targets:
            if target.engine not in ENGINES:
                raise ConfigurationError(f"unknown engine {target.engine!r}; choose one of {', '.join(ENGINES)}")
        if len({t.key for t in targets}) != len(targets):
            raise ConfigurationError("the same engine and index are given twice")
        if torch_threads is not None and (isinstance(torch_threads, bool) or not isinstance(torch_threads, int) or torch_threads < 1):
            raise ConfigurationError(f"torch_threads must be a whole number >= 1 (or None: torch's default), got {torch_threads!r}")
        self.torch_threads = torch_threads
        self.targets = list(targets)
        self.encoder = encoder
        self.judgments = judgments
        self.report_dir = report_dir
        self.profiles = {p.name: p for p in profiles}
        if len(self.profiles) != len(profiles):
            raise ConfigurationError("two search profiles have the same name; give each its own (--name of `neural-search tune`)")
        self._clients = {
            t.key: SearchClient(store=open_store(t.engine), index=t.index, encoder=encoder, candidates=candidates) for t in self.targets
        }
        self._warm = threading.Event()
        self._warm_error: str | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Opens every index and loads the model and ir-measures off the request path (started on
        a thread at start-up, so the server answers at once; a kNN search that comes first waits
        for the model). The in-process engine reads an index into memory on its first search:
        done here, that search does not hold up the event loop BM25 searches run on."""
        local = {key: c for key, c in self._clients.items() if getattr(c.store, "in_process", False)}
        self._open(local)
        try:
            if self.torch_threads is not None:
                import torch

                torch.set_num_threads(self.torch_threads)
            if self.encoder is not None:
                self.encoder.fingerprint
                self.encoder.encode_query("warm up")
            if self.judgments is not None:
                import ir_measures  # noqa: F401  (its first import costs a second)
        except Exception as exc:  # reported by /health; a kNN search raises it again, with its message
            self._warm_error = f"{type(exc).__name__}: {exc}"
            log.warning("warm-up failed: %s", self._warm_error)
        finally:
            self._warm.set()
        # Server engines last: one that does not answer must not hold up the model.
        self._open({key: c for key, c in self._clients.items() if key not in local})

    @staticmethod
    def _open(clients: Mapping[str, Any]) -> None:
        for key, client in clients.items():
            try:
                client.search("warm up", mode="bm25", k=1)
            except NeuralSearchError as exc:  # a missing index or an engine that is down: its searches will say so
                log.info("warm-up search on %s: %s", key, exc)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    # -- lookups -------------------------------------------------------------------------------
    def client(self, engine: str | None, index: str | None):
        engine = engine or self.targets[0].engine
        if engine not in ENGINES:
            raise ConfigurationError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
        served = [t for t in self.targets if t.engine == engine]
        if not served:
            engines = sorted({t.engine for t in self.targets})
            raise NotServed(f"engine {engine!r} is not served here; this server serves {', '.join(engines)} (serve --engines)")
        index = index or served[0].index
        client = self._clients.get(f"{engine}:{index}")
        if client is None:
            raise NotServed(
                f"index {index!r} is not served on {engine}; served there: {', '.join(t.index for t in served)} (serve --index)"
            )
        return client

    def in_process(self, engine: str | None) -> bool:
        """Whether `engine` (None: the default one) runs inside this process (the embedded engine)."""
        key = next((t.key for t in self.targets if t.engine == (engine or self.targets[0].engine)), None)
        return key is not None and bool(getattr(self._clients[key].store, "in_process", False))

    # -- the API -------------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> dict:
        started = time.perf_counter()
        client = self.client(request.engine, request.index)
        labels = None
        if request.qid is not None:
            labels = self._labels(request.qid)
        profile = self._profile(request.profile)
        if request.mode == "hybrid" and request.fusion is not None:
            _check_fusion(request.fusion)
        result = client.search(request.q, **request.options(profile))
        body = result_json(result, labels)
        if request.qid is not None:
            body["judged"] = self._judged(client, request, result, labels)
        body["timings_ms"]["service_ms"] = (time.perf_counter() - started) * 1000
        return body

    def _profile(self, name: str | None):
        if name is None:
            return None
        if name not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none (start serve with --profile FILE)"
            raise ConfigurationError(f"unknown search profile {name!r}; this server has: {known}")
        return self.profiles[name]

    def _labels(self, qid: str) -> dict[str, int]:
        if self.judgments is None:
            raise ConfigurationError("qid needs judgments: start serve with --dataset DIR (and --split)")
        if qid not in self.judgments.qrels:
            raise NotServed(f"query {qid!r} is not a judged query of {self.judgments.name} ({self.judgments.split})")
        return self.judgments.qrels[qid]

    def _judged(self, client, request: SearchRequest, result, labels: Mapping[str, int]) -> dict:
        if request.offset == 0 and request.k >= NDCG_DEPTH:
            top = result.hits[:NDCG_DEPTH]
        else:  # the page shown is not the top 10: score the top 10 of the same search
            top = client.search(request.q, **{**request.options(self._profile(request.profile)), "k": NDCG_DEPTH, "offset": 0, "explain": False}).hits
        ranking = [(h.id, h.score) for h in top]
        return {
            "qid": request.qid,
            "query": self.judgments.queries[request.qid],
            "ndcg@10": self.judgments.ndcg_at_10(request.qid, ranking),
            "relevant": sum(1 for g in labels.values() if g > 0),
            "relevant_in_top10": sum(1 for doc_id, _ in ranking if labels.get(doc_id, 0) > 0),
        }

    def indexes(self) -> list[dict]:
        return [self._describe_index(t) for t in self.targets]

    def _describe_index(self, target: Target) -> dict:
        store = self._clients[target.key].store
        entry: dict[str, Any] = {"name": target.index, "engine": target.engine, "exists": False}
        try:
            physical = store.resolve(target.index)
            if physical is None:
                entry["error"] = f"index {target.index!r} does not exist on {target.engine}"
                return entry
            options = getattr(store, "index_options", None)
            entry.update(
                exists=True, physical=physical, count=store.count(physical), model=store.get_fingerprint(physical),
                analyzer=options(physical).analyzer if options else "standard",
            )
        except NeuralSearchError as exc:
            entry["error"] = str(exc)
        return entry

    def health(self) -> dict:
        engines = sorted({t.engine for t in self.targets}, key=ENGINES.index)
        stores = {engine: next(self._clients[t.key].store for t in self.targets if t.engine == engine) for engine in engines}
        pool = ThreadPoolExecutor(max_workers=len(stores), thread_name_prefix="neural-search-health")
        futures = {engine: pool.submit(_probe, store) for engine, store in stores.items()}
        wait(futures.values(), timeout=HEALTH_TIMEOUT_SECONDS)
        pool.shutdown(wait=False)
        report = {}
        for engine, future in futures.items():
            if future.done():
                report[engine] = future.result()
            else:
                report[engine] = {"reachable": False, "url": stores[engine].url, "error": f"no answer within {HEALTH_TIMEOUT_SECONDS:.0f} s"}
        model = "ready" if self._warm.is_set() and self._warm_error is None else ("failed" if self._warm_error else "loading")
        return {
            "ok": all(e["reachable"] for e in report.values()),
            "engines": report,
            "model": {"state": model, "name": getattr(self.encoder, "model_name", None), **({"error": self._warm_error} if self._warm_error else {})},
            "judged": None if self.judgments is None else {"collection": self.judgments.name, "split": self.judgments.split, "queries": len(self.judgments.queries)},
            "report": self.report_dir is not None,
        }


def _check_fusion(fusion: str) -> None:
    """FusionSpec.parse's message for an unknown fusion, as bad input (it raises a ValueError)."""
    from ..fusion import FusionSpec

    try:
        FusionSpec.parse(fusion)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(str(exc)) from None


def _probe(store) -> dict:
    try:
        info = store.describe()
    except Exception as exc:  # any failure to answer is "not reachable", with its reason
        return {"reachable": False, "url": store.url, "error": str(exc) if isinstance(exc, NeuralSearchError) else type(exc).__name__}
    return {"reachable": True, "url": store.url, "version": info.get("version")}


def result_json(result, labels: Mapping[str, int] | None = None) -> dict:
    """A SearchResult as the API returns it: every hit with its per-leg breakdown and, for a judged
    query, its relevance label (None: not judged)."""
    hits = []
    for h in result.hits:
        hit = {
            "rank": h.rank, "id": h.id, "title": h.title, "snippet": _snippet(h.text), "score": h.score, "metadata": dict(h.metadata),
            "legs": {leg: (None if d is None else {"score": d.score, "rank": d.rank, "normalized": d.normalized}) for leg, d in h.legs.items()},
            "explain": h.explain() if h.legs else None,
        }
        if labels is not None:
            hit["label"] = labels.get(h.id)
        hits.append(hit)
    return {
        "engine": result.engine, "index": result.index, "physical": result.physical, "mode": result.mode, "fusion": result.fusion,
        "fusion_at": result.fusion_at, "fields": getattr(result, "fields", None), "k": result.k, "offset": result.offset, "candidates": result.candidates, "note": result.note,
        "timings_ms": dict(result.timings_ms), "hits": hits,
    }


def _snippet(text: str) -> str:
    if len(text) <= SNIPPET_CHARS:
        return text
    cut = text.rfind(" ", 0, SNIPPET_CHARS)
    return text[: cut if cut > SNIPPET_CHARS // 2 else SNIPPET_CHARS] + " …"
