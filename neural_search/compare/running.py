"""Running a comparison: open the engines, encode the corpus once, build or reuse each index,
measure ANN recall, relevance and latency, and keep results.json current after every step."""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from ..engines.base import DEFAULT_ANALYZER, IndexOptions, TextFields
from ..errors import AuthenticationError, CapabilityError, ConfigurationError, EngineUnavailable, NeuralSearchError
from ..profiles import SearchProfile
from ..evaluation import SIGNIFICANCE_TEST, JudgedCollection, ann_recall, ir_measures_for
from ..fusion import RAWSUM, FusionSpec
from . import environment, relevance
from .latency import OUTAGES, RoundFailure, timed_round
from .results import (
    DatasetInfo, EngineResult, Environment, IndexingRecord, LatencyStats, Results, Settings, Significance, atomic_write_json,
)
from .schema import SCHEMA_VERSION, schema_errors
from .settings import ALPHA, ANN_K, RESUME_KEYS, CompareError, ModeSpec, canonical_command, index_name

log = logging.getLogger(__name__)


class Comparison:
    def __init__(
        self,
        args: argparse.Namespace,
        collection: JudgedCollection,
        engines: list[str],
        modes: list[ModeSpec],
        concurrency: list[int],
        open_store: Callable[[str], Any],
    ):
        self.args = args
        self.collection = collection
        self.engines = engines
        self.modes = modes
        self.concurrency = concurrency
        self.open_store = open_store
        self.out = Path(args.out)
        self.options = IndexOptions(analyzer=getattr(args, "analyzer", None) or DEFAULT_ANALYZER)
        self.fields = TextFields.parse(getattr(args, "fields", None), getattr(args, "tie_breaker", None))
        self.profile = SearchProfile.load(args.profile) if getattr(args, "profile", None) else None
        self.index = index_name(args.index_prefix, collection.name, self.options.analyzer)
        self.stores: dict[str, Any] = {}
        self.clients: dict[str, Any] = {}
        self.down: set[str] = set()
        self.physical: dict[str, str] = {}
        self.scored: dict[tuple[str, str], relevance.Scored] = {}
        self.encoder = None
        self._save_lock = threading.Lock()
        self.saved = False
        self.results = self._skeleton()

    # -- bookkeeping -----------------------------------------------------------------------------
    def _skeleton(self) -> Results:
        a, c = self.args, self.collection
        return Results(
            command=canonical_command(a, self.engines, self.modes, self.concurrency),
            started_at=environment.now(),
            dataset=DatasetInfo(
                name=c.name, path=str(a.dataset), split=c.split, documents=c.documents,
                queries=c.all_queries, judged_queries=len(c.queries), judgments=c.judgments,
            ),
            settings=Settings(
                engines=list(self.engines), modes=[m.name for m in self.modes], k=a.k, depth=a.depth,
                concurrency=list(self.concurrency), warmup=a.warmup, seed=a.seed, max_queries=a.max_queries,
                index=self.index, encode_sample=a.encode_sample, metrics={name: str(m) for name, m in ir_measures_for().items()},
                analyzer=self.options.analyzer, fields=str(self.fields), profile=self.profile.to_dict() if self.profile else None,
            ),
            environment=Environment(
                machine=environment.machine(), python=platform.python_version(), libraries=environment.library_versions(),
                git_commit=environment.git_commit(),
            ),
            engines={e: EngineResult.pending(self.index, [m.name for m in self.modes]) for e in self.engines},
            significance=Significance(test=SIGNIFICANCE_TEST, metric="ndcg@10", alpha=ALPHA),
        )

    def save(self) -> None:
        with self._save_lock:
            self.results.missing = self.results.missing_parts()
            atomic_write_json(self.out / "results.json", self.results.to_dict())
            self.saved = True

    def say(self, message: str) -> None:
        if not self.args.quiet:
            print(message, file=sys.stderr, flush=True)

    # -- steps -------------------------------------------------------------------------------------
    def preflight(self) -> None:
        """Opens every engine and asks its version; an unreachable one stops the run before any
        work (or, with --skip-unavailable, is recorded as missing)."""
        for engine in self.engines:
            entry = self.results.engines[engine]
            try:
                store = self.open_store(engine)
                info = store.describe()
            except NeuralSearchError as exc:
                if not self.args.skip_unavailable:
                    raise
                entry.status, entry.error = "unavailable", str(exc)
                self.say(f"skipping {engine}: {exc}")
                continue
            self.stores[engine] = store
            entry.version, entry.url = str(info.get("version")), info.get("url")
            self.results.environment.engines[engine] = {k: v for k, v in info.items() if k != "engine"}
        if not self.stores:
            raise CompareError("no engine could be reached; nothing to compare")

    def make_encoder(self) -> None:
        from ..embedding_cache import EmbeddingCache
        from ..encoding import Encoder

        cache = False if self.args.no_cache else EmbeddingCache(self.args.cache)
        # No query LRU: every timed query pays for its own encoding, as a fresh query would.
        self.encoder = Encoder(
            model=self.args.model, device=self.args.device, batch_size=self.args.encode_batch_size, cache=cache, query_cache_size=0
        )
        self.results.environment.model = self.encoder.fingerprint.to_dict()

    def encode_corpus(self) -> None:
        """Fills the embedding cache once for every engine, and times the bare encoder on a sample."""
        from ..encoding import Encoder
        from ..sources import read_jsonl

        a = self.args
        rng = random.Random(a.seed)
        sample: list = []
        seen = 0
        before = dict(self.encoder.stats)
        started = time.perf_counter()
        batch: list = []
        for record in read_jsonl(self.collection.corpus_path):
            document = record.document
            if document is None or document.is_empty:
                continue
            seen += 1
            if a.encode_sample:  # reservoir sampling: a uniform sample in one pass
                if len(sample) < a.encode_sample:
                    sample.append(document)
                else:
                    j = rng.randrange(seen)
                    if j < a.encode_sample:
                        sample[j] = document
            if self.encoder.cache is None:
                continue
            batch.append(document)
            if len(batch) >= 256:
                self.encoder.encode_documents(batch)
                batch = []
        if batch:
            self.encoder.encode_documents(batch)
        enc = self.results.encoding
        if self.encoder.cache is not None:
            enc.corpus_encoded = self.encoder.stats["encoded"] - before["encoded"]
            enc.corpus_cached = self.encoder.stats["cache_hits"] - before["cache_hits"]
            enc.corpus_seconds = round(time.perf_counter() - started, 3)
            self.say(f"corpus: {enc.corpus_encoded} documents encoded, {enc.corpus_cached} from the cache ({self.encoder.cache.path})")
        if sample and enc.docs_per_second is None:
            bare = Encoder(model=a.model, device=a.device, batch_size=a.encode_batch_size, cache=False)
            bare.encode_documents(sample[: min(8, len(sample))])  # loads the model, warms it up
            t0 = time.perf_counter()
            bare.encode_documents(sample)
            seconds = time.perf_counter() - t0
            enc.docs_per_second, enc.sample, enc.seconds = round(len(sample) / seconds, 2), len(sample), round(seconds, 3)
            self.say(f"encoder: {enc.docs_per_second:.1f} docs/s on a sample of {len(sample)} (cache off)")
            del bare
        for engine in self.stores:
            self.results.engines[engine].encoding_docs_per_second = enc.docs_per_second
        self.save()

    def _sidecar(self, engine: str) -> Path:
        return Path(self.args.state_dir) / "compare" / engine / f"{self.index}.json"

    def ensure_index(self, engine: str, store, *, record: bool = True) -> str:
        """The physical index to search; built (again) only when missing, stale or --reindex."""
        from ..encoding import same_model
        from ..indexing import Indexer
        from ..sources import read_source, source_identity

        fingerprint = self.encoder.fingerprint
        source = {**source_identity(self.collection.path), "format": "beir", "limit": None}
        sidecar_path = self._sidecar(engine)
        try:
            sidecar = json.loads(sidecar_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            sidecar = None
        physical = store.resolve(self.index)
        reason = None
        if self.args.reindex:
            reason = "--reindex"
        elif physical is None:
            reason = "missing"
        elif not same_model(store.get_fingerprint(physical), fingerprint.id):
            reason = "built with another model"
        elif not store.default_layout.fits(have := store.layout(physical)):
            reason = f"has {have.shards} shard(s) and {have.replicas} replica(s), {store.default_layout.shards} shard(s) asked for"
        elif differences := self.options.differences(store.index_options(physical), store.engine):
            reason = "built with " + "; ".join(differences) + " asked for"
        else:
            count = store.count(physical)
            if count != self.collection.documents:
                reason = f"holds {count} documents, the corpus has {self.collection.documents}"
            elif sidecar and sidecar.get("physical") == physical and sidecar.get("source") != source:
                reason = "the corpus files changed since it was built"
        if reason is None:
            self.say(f"{engine}: reusing {self.index} ({physical}, {self.collection.documents} documents, same model)")
            if sidecar and sidecar.get("physical") == physical:
                indexing = IndexingRecord.from_dict({**sidecar["indexing"], "reused": True})
            else:
                indexing = IndexingRecord(reused=True)
        else:
            self.say(f"{engine}: building {self.index} ({reason})")
            indexer = Indexer(store, self.encoder, state_dir=self.args.state_dir, progress=not self.args.quiet, options=self.options)
            summary = indexer.run(
                read_source(self.collection.path, "beir"), name=self.index, source=source,
                recreate=physical is not None, restart=self.args.reindex,
            )
            if summary.failed:
                raise CompareError(
                    f"{engine} rejected {summary.failed} documents of {self.collection.corpus_path.name}; "
                    f"the reasons are in {summary.dead_letter}"
                )
            physical = store.resolve(self.index) or summary.physical
            indexing = IndexingRecord(
                reused=False, seconds=round(summary.seconds, 3), docs_per_second=round(summary.docs_per_second, 2),
                encode_seconds=round(summary.encode_seconds, 3), write_seconds=round(summary.write_seconds, 3), measured_at=environment.now(),
            )
            atomic_write_json(sidecar_path, {"physical": physical, "source": source, "model_id": fingerprint.id, "indexing": indexing.to_dict()})
        if physical is None:
            raise CompareError(f"{engine}: index {self.index} is still missing after indexing")
        if record:
            entry = self.results.engines[engine]
            entry.physical, entry.documents, entry.index_bytes = physical, store.count(physical), int(store.size_bytes(physical))
            entry.layout = store.layout(physical).to_dict()
            entry.nodes = len(getattr(getattr(store, "config", None), "urls", ())) or None
            entry.indexing, entry.indexing_docs_per_second = indexing, indexing.docs_per_second
        return physical

    def measure_ann(self) -> None:
        """ANN recall@10 of every engine against the embedded engine's exact kNN, same query vectors."""
        ready = [
            e for e in self.engines
            if self.results.engines[e].status == "ok" and not (self.args.resume and self.results.engines[e].ann_recall is not None)
        ]
        if not ready:
            return
        if "embedded" in self.physical:
            reference, ref_physical = self.stores["embedded"], self.physical["embedded"]
        else:
            reference = self.open_store("embedded")
            ref_physical = self.ensure_index("embedded", reference, record=False)
        qids = list(self.collection.queries)
        vectors = self.encoder.encode_texts([self.collection.queries[q] for q in qids])
        exact = {q: [h.id for h in reference.knn(ref_physical, v, k=ANN_K, exact=True)] for q, v in zip(qids, vectors)}
        for engine in ready:
            store = self.stores[engine]
            try:
                found = {
                    q: [h.id for h in store.knn(self.physical[engine], v, k=ANN_K, num_candidates=self.args.depth)]
                    for q, v in zip(qids, vectors)
                }
            except Exception as exc:  # keep what was measured; say what is missing
                log.debug("ANN recall on %s failed", engine, exc_info=True)
                self.say(f"{engine}: ANN recall not measured: {type(exc).__name__}: {exc}")
                continue
            self.results.engines[engine].ann_recall = round(ann_recall(found, exact, ANN_K), 6)
        self.save()

    def clear_caches(self, engine: str) -> None:
        """Empties the engine's result caches before a timed pass, so no timed query is answered
        from a cache an earlier pass filled (Solr's queryResultCache would serve it otherwise)."""
        try:
            self.stores[engine].clear_caches(self.physical[engine])
        except Exception as exc:  # a cache that cannot be cleared makes timings optimistic, not wrong
            log.warning("could not clear %s caches: %s", engine, exc)

    def _search(self, client, spec: ModeSpec, text: str, k: int):
        return client.search(text, **{"fields": self.fields, **spec.search_arguments(k, self.args.depth, self.profile)})

    def wait_for(self, engine: str) -> bool:
        """After an outage (an engine restarting, say), polls until the engine answers and serves
        the whole index again, for at most --retry-budget seconds."""
        store, physical = self.stores[engine], self.physical[engine]
        deadline = time.monotonic() + self.args.retry_budget
        self.say(f"{engine}: unreachable; waiting up to {self.args.retry_budget:.0f} s for it to come back")
        while time.monotonic() < deadline:
            time.sleep(min(5.0, max(0.1, deadline - time.monotonic())))
            try:
                if store.count(physical) == self.collection.documents:
                    self.say(f"{engine}: back")
                    return True
            except Exception:  # still down, or still loading the index
                continue
        return False

    def run_mode(self, engine: str, client, spec: ModeSpec) -> None:
        """Every judged query once, `--depth` hits deep: the TREC run, scored."""
        run = {
            qid: [(h.id, h.score) for h in self._search(client, spec, text, self.args.depth).hits]
            for qid, text in self.collection.queries.items()
        }
        scored = relevance.score_run(self.collection, run, self.out, f"{engine}.{spec.slug}")
        entry = self.results.engines[engine]
        entry.modes[spec.name] = replace(scored.mode, latency=entry.modes[spec.name].latency)
        self.scored[(engine, spec.name)] = scored
        self.save()

    def _warm(self, client, spec: ModeSpec, concurrency: int) -> int:
        a = self.args
        pool_of = self.collection.warmup_queries or list(self.collection.queries.values())
        warm = [pool_of[i % len(pool_of)] for i in range(a.warmup)]
        if warm:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                list(pool.map(lambda t: self._search(client, spec, t, a.k), warm))
        return len(warm)

    def latency_round(self, concurrency: int, pairs: list[tuple[str, ModeSpec]]) -> dict[tuple[str, str], LatencyStats | RoundFailure]:
        """Times every judged query on every (engine, mode) pair at one concurrency, in an order
        fixed by --seed, after clearing each engine's caches and warming each pair up."""
        texts = list(self.collection.queries.values())
        random.Random(self.args.seed).shuffle(texts)
        for engine in dict.fromkeys(e for e, _ in pairs):
            self.clear_caches(engine)
        warmed = {(engine, spec.name): self._warm(self.clients[engine], spec, concurrency) for engine, spec in pairs}
        search = lambda engine, spec, text: self._search(self.clients[engine], spec, text, self.args.k).timings_ms  # noqa: E731
        return timed_round(pairs, texts, concurrency, search, warmed, environment.load_1m)

    def unsupported(self, engine: str, spec: ModeSpec) -> str | None:
        """Why `engine` cannot run this mode as named, or None."""
        store = self.stores[engine]
        if spec.fusion == RAWSUM:
            return None if "rawsum_hybrid" in store.capabilities() else f"{engine} has no one-request raw-score sum"
        if spec.fusion_at == "engine":
            if spec.uses_profile:
                fusion, weights = self.profile.spec, (self.profile.weights["bm25"], self.profile.weights["knn"])
            else:
                fusion, weights = FusionSpec.parse(spec.fusion), (1.0, 1.0)
            problem = store.engine_fusion_problem(self.physical[engine], fusion, weights)
            return None if problem is None else f"no engine-side {fusion} on {engine}: {problem}"
        return None

    def run_relevance(self, engine: str) -> None:
        from ..search import SearchClient

        store = self.stores[engine]
        entry = self.results.engines[engine]
        client = self.clients[engine] = SearchClient(store=store, index=self.index, encoder=self.encoder, candidates=self.args.depth)
        try:
            for spec in self.modes:
                m = entry.modes[spec.name]
                problem = self.unsupported(engine, spec)
                if problem:
                    m.status, m.error = "unsupported", problem
                    self.save()
                    continue
                kept = relevance.rescore(self.collection, m, self.out) if self.args.resume else None
                if kept is not None:
                    self.scored[(engine, spec.name)] = kept
                    continue
                self.say(f"{engine} {spec.name}: relevance, {len(self.collection.queries)} queries, depth {self.args.depth}")
                try:
                    for attempt in range(3):
                        try:
                            self.run_mode(engine, client, spec)
                            break
                        except OUTAGES as exc:
                            if attempt == 2 or not self.wait_for(engine):
                                raise EngineUnavailable(engine, store.url, f"{type(exc).__name__}: {exc}") from exc
                except CapabilityError as exc:
                    m.status, m.error = "unsupported", str(exc)
                except (EngineUnavailable, AuthenticationError):
                    raise
                except Exception as exc:
                    log.debug("%s %s failed", engine, spec.name, exc_info=True)
                    m.status, m.error = "failed", f"{type(exc).__name__}: {exc}"
                    self.say(f"{engine} {spec.name}: failed: {type(exc).__name__}: {exc}")
                self.save()
        except (EngineUnavailable, AuthenticationError) as exc:
            # The engine went away part-way, or refused the credentials (never retried): keep what
            # it measured, mark the rest.
            for m in entry.modes.values():
                if m.status == "pending":
                    m.status, m.error = "failed", str(exc)
            self.down.add(engine)
            self.say(f"{engine}: {exc}")
            self.save()

    def run_latency(self) -> None:
        pairs = [
            (e, spec) for spec in self.modes for e in self.engines
            if e in self.clients and e not in self.down and self.results.mode(e, spec.name).status == "ok"
        ]
        for c in self.concurrency if pairs else ():
            if self.args.resume and all(str(c) in self.results.mode(e, spec.name).latency for e, spec in pairs):
                continue
            self.say(f"latency at concurrency {c}: {len(pairs)} engine/mode pairs taking turns, {len(self.collection.queries)} queries each")
            try:
                for attempt in range(3):
                    # Timings taken while an engine was restarting mean nothing: wait for it, time the round again.
                    try:
                        stats = self.latency_round(c, pairs)
                        hit = sorted({e for (e, _), v in stats.items() if isinstance(v, RoundFailure) and v.outage})
                    except OUTAGES:
                        stats, hit = None, sorted({e for e, _ in pairs})
                    if not hit or attempt == 2 or not all(self.wait_for(e) for e in hit):
                        break
                if stats is None:
                    raise CompareError(f"engines kept failing at concurrency {c}")
            except Exception as exc:  # recorded; the latency entries stay missing
                log.debug("latency at concurrency %s failed", c, exc_info=True)
                for e, spec in pairs:
                    self.results.mode(e, spec.name).error = f"latency at concurrency {c}: {type(exc).__name__}: {exc}"
                self.say(f"latency at concurrency {c} failed: {type(exc).__name__}: {exc}")
                self.save()
                continue
            for (e, mode), value in stats.items():
                m = self.results.mode(e, mode)
                if isinstance(value, RoundFailure):
                    m.error = value.error
                else:
                    m.latency[str(c)] = value
                    if m.error and ("timed queries failed" in m.error or m.error.startswith("latency at")):
                        m.error = None
            self.save()

    def resume_from(self, previous: dict) -> None:
        """Continues the run recorded in `previous` (the same settings): keeps what it measured,
        measures again what failed or is missing."""
        mine = self.results
        settings, theirs_settings = mine.settings.to_dict(), previous.get("settings", {})
        differences = [
            f"{key} {theirs_settings.get(key)!r} (now {settings[key]!r})" for key in RESUME_KEYS if theirs_settings.get(key) != settings[key]
        ]
        if (previous.get("dataset", {}).get("name"), previous.get("dataset", {}).get("split")) != (mine.dataset.name, mine.dataset.split):
            differences.append("the dataset or split")
        if previous.get("schema_version") != SCHEMA_VERSION:
            differences.append(f"schema version {previous.get('schema_version')}")
        if differences:
            raise ConfigurationError(
                f"--resume: {self.out / 'results.json'} was measured with other settings: {'; '.join(differences)}. "
                "Run the same command again, or drop --resume to start over."
            )
        problems = schema_errors(previous)
        if problems:
            raise ConfigurationError(
                f"--resume: {self.out / 'results.json'} does not match the results.json schema ({problems[0]}); drop --resume to start over"
            )
        theirs = Results.from_dict(previous)
        for engine, entry in theirs.engines.items():
            if entry.status != "ok":
                continue  # measured again from scratch
            fresh = mine.engines[engine]
            fresh.modes.update({name: m for name, m in entry.modes.items() if m.status == "ok"})
            fresh.ann_recall = entry.ann_recall
        if theirs.encoding.docs_per_second is not None:
            mine.encoding = replace(mine.encoding, docs_per_second=theirs.encoding.docs_per_second, sample=theirs.encoding.sample, seconds=theirs.encoding.seconds)
        mine.started_at = theirs.started_at
        self.say(f"resuming {self.out / 'results.json'}")

    def run(self) -> Results:
        self.preflight()
        if self.args.resume:
            try:
                previous = json.loads((self.out / "results.json").read_text())
            except FileNotFoundError:
                previous = None
            except json.JSONDecodeError as exc:
                raise ConfigurationError(f"--resume: {self.out / 'results.json'} is not valid JSON ({exc}); drop --resume to start over") from None
            if previous is not None:
                self.resume_from(previous)
        self.out.mkdir(parents=True, exist_ok=True)
        self.save()
        self.make_encoder()
        self.encode_corpus()
        for engine in self.engines:
            if engine not in self.stores:
                continue
            entry = self.results.engines[engine]
            try:
                self.physical[engine] = self.ensure_index(engine, self.stores[engine])
                entry.status = "ok"
            except NeuralSearchError as exc:
                entry.status, entry.error = "failed", str(exc)
                self.say(f"{engine}: {exc}")
            self.save()
        try:
            self.measure_ann()
        except Exception as exc:  # recorded as missing (ann_recall@10 stays null)
            log.debug("ANN recall failed", exc_info=True)
            self.say(f"ANN recall not measured: {type(exc).__name__}: {exc}")
        for engine in self.engines:
            if engine in self.physical:
                self.run_relevance(engine)
        self.run_latency()
        self.results.significance.comparisons = relevance.significance(self.scored, self.engines, self.modes)
        self.results.agreement = relevance.agreement(self.results, self.scored, self.modes)
        return self.results

    def finish(self, status: str | None = None) -> None:
        self.results.finished_at = environment.now()
        self.results.missing = self.results.missing_parts()
        self.results.status = status or ("partial" if self.results.missing else "complete")
        self.save()
        for client in self.clients.values():
            client.close()
        for store in self.stores.values():
            try:
                store.close()
            except Exception:  # closing is best effort: the results are saved
                pass
