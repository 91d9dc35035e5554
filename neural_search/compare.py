"""`neural-search compare`: relevance, latency, throughput and size of every engine, side by side.

    neural-search compare --dataset ../shared/datasets/nfcorpus --split test --out reports/nfcorpus

For a BEIR-style folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) it

1. checks the collection (missing files, judgments naming unknown queries or documents);
2. encodes the corpus once into the embedding cache, and times the bare encoder on a sample;
3. builds `<prefix>-<dataset>` in every engine with the Indexer, or keeps the index that is
   there when it holds the same number of documents encoded by the same model (`--reindex`
   rebuilds it);
4. measures ANN recall@10: each engine's kNN top 10 against the embedded engine's exact top 10
   for the same query vectors;
5. runs every judged query in every mode, sequentially in a fixed order, `depth` hits deep,
   writes the TREC run (runs/<engine>.<mode>.trec) and scores it with ir-measures;
6. times every query again at each concurrency (`k` hits, the size of a result page), after
   a warm-up and with the engine's caches cleared, in an order fixed by `--seed`;
7. tests hybrid against each single mode (paired t-test over queries), and writes
   results.json (after every measurement, so a run that stops keeps what it measured),
   report.md and the plots.

The schema of results.json is `evaluation.RESULTS_SCHEMA`, documented in docs/compare.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .config import ENGINES, SERVER_ENGINES
from .errors import CapabilityError, ConfigurationError, EngineUnavailable, NeuralSearchError, TransientEngineError
from .evaluation import (
    METRICS,
    SCHEMA_VERSION,
    SIGNIFICANCE_TEST,
    JudgedCollection,
    ann_recall,
    evaluate_run,
    holm,
    ir_measures_for,
    load_collection,
    overlap_at,
    paired_test,
    percentiles,
    validate_results,
    write_trec_run,
)
from .fusion import RAWSUM, FusionSpec

log = logging.getLogger(__name__)

DEFAULT_MODES = ("bm25", "knn", "hybrid:rrf", "hybrid:rrf@engine", "hybrid:linear:minmax", "hybrid:rawsum")
ALL_MODES = (
    "bm25", "knn", "hybrid:rrf", "hybrid:linear:minmax", "hybrid:linear:zscore", "hybrid:linear:l2",
    "hybrid:rrf@engine", "hybrid:linear:minmax@engine", "hybrid:linear:zscore@engine", "hybrid:linear:l2@engine", "hybrid:rawsum",
)
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
LIBRARIES = (
    "neural-search", "numpy", "scipy", "torch", "transformers", "sentence-transformers", "elasticsearch",
    "opensearch-py", "pysolr", "requests", "bm25s", "ir-measures", "pytrec-eval-terrier", "matplotlib",
)
ALPHA = 0.05
ANN_K = 10
OUTAGES = (EngineUnavailable, TransientEngineError)  # an engine restarting or briefly unreachable
# Settings a resumed run must share with the results it continues.
RESUME_KEYS = ("engines", "modes", "k", "depth", "concurrency", "warmup", "seed", "max_queries", "index", "encode_sample")


class CompareError(NeuralSearchError):
    """A comparison cannot run as asked (bad options, or nothing could be measured)."""


# -- option parsing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeSpec:
    """One measured mode: `bm25`, `knn` or `hybrid:<fusion>[@engine|@client]` (rrf, rrf:K,
    linear:NORM[:COMB], rawsum). A comparison measures what it names: `hybrid:rrf` is fused in the
    client on every engine, `hybrid:rrf@engine` inside the engine by its plugin (one request)."""

    name: str
    mode: str
    fusion: str | None = None
    fusion_at: str | None = None

    @property
    def slug(self) -> str:
        return self.name.replace(":", "-").replace("@", "-")

    @property
    def is_hybrid(self) -> bool:
        return self.mode == "hybrid"

    @classmethod
    def parse(cls, text: str) -> "ModeSpec":
        raw = text.strip().lower()
        if raw in ("bm25", "knn"):
            return cls(raw, raw)
        if raw == "hybrid":
            raw = "hybrid:rrf"
        if raw.startswith("hybrid:"):
            fusion, _, side = raw[len("hybrid:"):].partition("@")
            if side not in ("", "client", "engine"):
                raise ConfigurationError(f"--modes: in {text!r} say @engine or @client after the fusion")
            try:
                spec = FusionSpec.parse(fusion)
            except ValueError as exc:
                raise ConfigurationError(f"--modes: {exc}") from None
            if spec.method == RAWSUM:
                if side == "client":
                    raise ConfigurationError("--modes: rawsum is always computed inside the engine; drop @client")
                return cls(f"hybrid:{spec}", "hybrid", str(spec), "engine")
            side = side or "client"
            suffix = "@engine" if side == "engine" else ""
            return cls(f"hybrid:{spec}{suffix}", "hybrid", str(spec), side)
        raise ConfigurationError(
            f"--modes: unknown mode {text!r}; use bm25, knn or hybrid:<fusion>[@engine] (hybrid:rrf, hybrid:rrf:60@engine, "
            "hybrid:linear:minmax|zscore|l2[:arithmetic|geometric|harmonic], hybrid:rawsum), or `all`"
        )


def parse_modes(text: str) -> list[ModeSpec]:
    items = [t for t in (text or "").split(",") if t.strip()]
    if items == ["all"]:
        items = list(ALL_MODES)
    if not items:
        raise ConfigurationError("--modes: name at least one mode")
    specs: list[ModeSpec] = []
    for item in items:
        spec = ModeSpec.parse(item)
        if spec.name not in {s.name for s in specs}:
            specs.append(spec)
    return specs


def parse_engines(text: str) -> list[str]:
    items = [t.strip().lower() for t in (text or "").split(",") if t.strip()]
    if items == ["all"]:
        items = list(ENGINES)
    unknown = [e for e in items if e not in ENGINES]
    if unknown or not items:
        raise ConfigurationError(f"--engines: unknown engine(s) {unknown or text!r}; choose from {', '.join(ENGINES)}")
    return list(dict.fromkeys(items))


def parse_concurrency(text: str) -> list[int]:
    try:
        levels = [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise ConfigurationError(f"--concurrency takes comma-separated positive integers, got {text!r}") from None
    if not levels or any(c < 1 or c > 256 for c in levels):
        raise ConfigurationError(f"--concurrency takes comma-separated integers in 1..256, got {text!r}")
    return sorted(set(levels))


def index_name(prefix: str, dataset: str) -> str:
    """`cmp-nfcorpus`: one index per dataset, valid on every engine."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", dataset.lower()).strip("-_") or "dataset"
    name = f"{prefix}-{slug}"[:100]
    from .engines.base import validate_index_name

    return validate_index_name(name)


def canonical_command(args: argparse.Namespace, engines: list[str], modes: list[ModeSpec], concurrency: list[int]) -> str:
    """The command that reproduces these settings, every result-shaping option spelled out."""
    parts = [
        "neural-search", "compare", "--dataset", str(args.dataset), "--split", args.split,
        "--engines", ",".join(engines), "--modes", ",".join(m.name for m in modes),
        "--k", str(args.k), "--depth", str(args.depth), "--concurrency", ",".join(map(str, concurrency)),
        "--warmup", str(args.warmup), "--seed", str(args.seed),
    ]
    if args.max_queries is not None:
        parts += ["--max-queries", str(args.max_queries)]
    if args.model != DEFAULT_MODEL:
        parts += ["--model", args.model]
    if args.index_prefix != "cmp":
        parts += ["--index-prefix", args.index_prefix]
    if args.encode_sample != 200:
        parts += ["--encode-sample", str(args.encode_sample)]
    if args.reindex:
        parts.append("--reindex")
    parts += ["--out", str(args.out)]
    return " ".join(shlex.quote(p) for p in parts)


# -- environment -----------------------------------------------------------------------------------


def _library_versions() -> dict[str, str | None]:
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _machine() -> dict:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or None,
        "memory_bytes": None,
        "load_1m_at_start": _load(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["processor"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_bytes"] = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["accelerator"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # pragma: no cover - informational only
        pass
    return info


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _load() -> float | None:
    """The machine's 1-minute load average: timings taken under load from other processes show it."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _finite(value: float | None) -> float | None:
    import math

    return None if value is None or not math.isfinite(value) else float(value)


# -- results bookkeeping -------------------------------------------------------------------------


def empty_mode() -> dict:
    return {"status": "pending", "error": None, "queries": 0, "run_file": None, **{m: None for m in METRICS}, "latency": {}}


def empty_engine(index: str, modes: list[ModeSpec]) -> dict:
    return {
        "status": "pending", "error": None, "version": None, "url": None, "index": index, "physical": None,
        "documents": None, "indexing_docs_per_second": None, "encoding_docs_per_second": None, "index_bytes": None,
        "ann_recall@10": None, "indexing": None, "modes": {m.name: empty_mode() for m in modes},
    }


def missing_parts(results: dict) -> list[str]:
    """What a run was asked to measure and has not (modes an engine cannot run are not missing)."""
    missing = []
    concurrency = [str(c) for c in results.get("settings", {}).get("concurrency", [])]
    for engine, entry in results.get("engines", {}).items():
        if entry["status"] != "ok":
            reason = f": {entry['error']}" if entry.get("error") else ""
            missing.append(f"{engine}: everything ({entry['status']}{reason})")
            continue
        if entry.get("ann_recall@10") is None:
            missing.append(f"{engine}: ann_recall@10")
        for mode, m in entry["modes"].items():
            if m["status"] == "unsupported":
                continue
            if m["status"] != "ok":
                reason = f": {m['error']}" if m.get("error") else ""
                missing.append(f"{engine}/{mode}: relevance and latency ({m['status']}{reason})")
                continue
            lacking = [c for c in concurrency if c not in m["latency"]]
            if lacking:
                missing.append(f"{engine}/{mode}: latency at concurrency {', '.join(lacking)}")
    return missing


def atomic_write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# -- the comparison --------------------------------------------------------------------------------


def latency_stats(timings: list[dict], errors: int, warmup: int, seconds: float, load: float | None) -> dict:
    """Percentiles of the per-query times (and of their encode/engine/fusion split), and QPS."""
    total = [float(t["total_ms"]) for t in timings]
    pct = percentiles(total)
    breakdown = {}
    for key in ("encode_ms", "engine_ms", "fusion_ms", "total_ms"):
        values = [float(t.get(key, 0.0)) for t in timings]
        p = percentiles(values, (50, 95))
        breakdown[key] = {"mean": round(sum(values) / len(values), 3), "p50": round(p["p50"], 3), "p95": round(p["p95"], 3)}
    return {
        "queries": len(timings), "errors": errors, "warmup": warmup, "load_1m": load,
        "p50_ms": round(pct["p50"], 3), "p95_ms": round(pct["p95"], 3), "p99_ms": round(pct["p99"], 3),
        "mean_ms": round(sum(total) / len(total), 3), "qps": round(len(timings) / seconds, 2) if seconds > 0 else None,
        "seconds": round(seconds, 3), "breakdown_ms": breakdown,
    }


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
        self.index = index_name(args.index_prefix, collection.name)
        self.stores: dict[str, Any] = {}
        self.clients: dict[str, Any] = {}
        self.down: set[str] = set()
        self.physical: dict[str, str] = {}
        self.per_query: dict[tuple[str, str], dict[str, float]] = {}
        self.top10: dict[tuple[str, str], dict[str, list[str]]] = {}
        self.encoder = None
        self._save_lock = threading.Lock()
        self.saved = False
        self.results = self._skeleton()

    # -- bookkeeping -----------------------------------------------------------------------------
    def _skeleton(self) -> dict:
        a, c = self.args, self.collection
        return {
            "schema_version": SCHEMA_VERSION,
            "status": "running",
            "missing": [],
            "command": canonical_command(a, self.engines, self.modes, self.concurrency),
            "started_at": _now(),
            "finished_at": None,
            "dataset": {
                "name": c.name, "path": str(a.dataset), "split": c.split, "documents": c.documents,
                "queries": c.all_queries, "judged_queries": len(c.queries), "judgments": c.judgments,
            },
            "settings": {
                "engines": list(self.engines), "modes": [m.name for m in self.modes], "k": a.k, "depth": a.depth,
                "concurrency": list(self.concurrency), "warmup": a.warmup, "seed": a.seed, "max_queries": a.max_queries,
                "index": self.index, "encode_sample": a.encode_sample,
                "metrics": {name: str(m) for name, m in ir_measures_for().items()},
            },
            "environment": {
                "machine": _machine(), "python": platform.python_version(), "libraries": _library_versions(),
                "model": None, "engines": {}, "git_commit": _git_commit(),
            },
            "encoding": {"docs_per_second": None, "sample": 0, "seconds": None, "corpus_encoded": None, "corpus_cached": None, "corpus_seconds": None},
            "engines": {e: empty_engine(self.index, self.modes) for e in self.engines},
            "significance": {"test": SIGNIFICANCE_TEST, "metric": "ndcg@10", "alpha": ALPHA, "comparisons": []},
            "agreement": [],
        }

    def save(self) -> None:
        with self._save_lock:
            self.results["missing"] = missing_parts(self.results)
            atomic_write_json(self.out / "results.json", self.results)
            self.saved = True

    def say(self, message: str) -> None:
        if not self.args.quiet:
            print(message, file=sys.stderr, flush=True)

    # -- steps -------------------------------------------------------------------------------------
    def preflight(self) -> None:
        """Opens every engine and asks its version; an unreachable one stops the run before any
        work (or, with --skip-unavailable, is recorded as missing)."""
        for engine in self.engines:
            entry = self.results["engines"][engine]
            try:
                store = self.open_store(engine)
                info = store.describe()
            except NeuralSearchError as exc:
                if not self.args.skip_unavailable:
                    raise
                entry.update(status="unavailable", error=str(exc))
                self.say(f"skipping {engine}: {exc}")
                continue
            self.stores[engine] = store
            entry.update(version=str(info.get("version")), url=info.get("url"))
            self.results["environment"]["engines"][engine] = {k: v for k, v in info.items() if k != "engine"}
        if not self.stores:
            raise CompareError("no engine could be reached; nothing to compare")

    def make_encoder(self) -> None:
        from .embedding_cache import EmbeddingCache
        from .encoding import Encoder

        cache = False if self.args.no_cache else EmbeddingCache(self.args.cache)
        # No query LRU: every timed query pays for its own encoding, as a fresh query would.
        self.encoder = Encoder(
            model=self.args.model, device=self.args.device, batch_size=self.args.encode_batch_size, cache=cache, query_cache_size=0
        )
        self.results["environment"]["model"] = self.encoder.fingerprint.to_dict()

    def encode_corpus(self) -> None:
        """Fills the embedding cache once for every engine, and times the bare encoder on a sample."""
        from .sources import read_jsonl

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
            if a.encode_sample:
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
        enc = self.results["encoding"]
        if self.encoder.cache is not None:
            enc["corpus_encoded"] = self.encoder.stats["encoded"] - before["encoded"]
            enc["corpus_cached"] = self.encoder.stats["cache_hits"] - before["cache_hits"]
            enc["corpus_seconds"] = round(time.perf_counter() - started, 3)
            self.say(f"corpus: {enc['corpus_encoded']} documents encoded, {enc['corpus_cached']} from the cache ({self.encoder.cache.path})")
        if sample and enc.get("docs_per_second") is None:
            from .encoding import Encoder

            bare = Encoder(model=a.model, device=a.device, batch_size=a.encode_batch_size, cache=False)
            bare.encode_documents(sample[: min(8, len(sample))])  # loads the model, warms it up
            t0 = time.perf_counter()
            bare.encode_documents(sample)
            seconds = time.perf_counter() - t0
            enc.update(docs_per_second=round(len(sample) / seconds, 2), sample=len(sample), seconds=round(seconds, 3))
            self.say(f"encoder: {enc['docs_per_second']:.1f} docs/s on a sample of {len(sample)} (cache off)")
            del bare
        for engine in self.stores:
            self.results["engines"][engine]["encoding_docs_per_second"] = enc["docs_per_second"]
        self.save()

    def _sidecar(self, engine: str) -> Path:
        return Path(self.args.state_dir) / "compare" / engine / f"{self.index}.json"

    def ensure_index(self, engine: str, store, *, record: bool = True) -> str:
        """The physical index to search; built (again) only when missing, stale or --reindex."""
        from .indexing import Indexer
        from .sources import read_source, source_identity

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
        elif not fingerprint.compatible_with(store.get_fingerprint(physical)):
            reason = "built with another model"
        else:
            count = store.count(physical)
            if count != self.collection.documents:
                reason = f"holds {count} documents, the corpus has {self.collection.documents}"
            elif sidecar and sidecar.get("physical") == physical and sidecar.get("source") != source:
                reason = "the corpus files changed since it was built"
        indexing = None
        if reason is None:
            self.say(f"{engine}: reusing {self.index} ({physical}, {self.collection.documents} documents, same model)")
            if sidecar and sidecar.get("physical") == physical:
                indexing = {**sidecar["indexing"], "reused": True}
            else:
                indexing = {"reused": True, "seconds": None, "docs_per_second": None, "encode_seconds": None, "write_seconds": None, "measured_at": None}
        else:
            self.say(f"{engine}: building {self.index} ({reason})")
            indexer = Indexer(store, self.encoder, state_dir=self.args.state_dir, progress=not self.args.quiet)
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
            indexing = {
                "reused": False, "seconds": round(summary.seconds, 3), "docs_per_second": round(summary.docs_per_second, 2),
                "encode_seconds": round(summary.encode_seconds, 3), "write_seconds": round(summary.write_seconds, 3),
                "measured_at": _now(),
            }
            atomic_write_json(sidecar_path, {"physical": physical, "source": source, "model_id": fingerprint.id, "indexing": indexing})
        if physical is None:
            raise CompareError(f"{engine}: index {self.index} is still missing after indexing")
        if record:
            entry = self.results["engines"][engine]
            entry.update(
                physical=physical, documents=store.count(physical), index_bytes=int(store.size_bytes(physical)),
                indexing=indexing, indexing_docs_per_second=indexing["docs_per_second"],
            )
        return physical

    def measure_ann(self) -> None:
        """ANN recall@10 of every engine against the embedded engine's exact kNN, same query vectors."""
        ready = [
            e for e in self.engines
            if self.results["engines"][e]["status"] == "ok" and not (self.args.resume and self.results["engines"][e]["ann_recall@10"] is not None)
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
        exact = {q: [h.id for h in reference.knn(ref_physical, v, k=ANN_K)] for q, v in zip(qids, vectors)}
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
            self.results["engines"][engine]["ann_recall@10"] = round(ann_recall(found, exact, ANN_K), 6)
        self.save()

    def clear_caches(self, engine: str) -> None:
        """Empties the engine's result caches before a timed pass, so no timed query is answered
        from a cache an earlier pass filled (Solr's queryResultCache would serve it otherwise)."""
        store, physical = self.stores[engine], self.physical[engine]
        try:
            if engine == "solr":
                response = store.session.get(
                    f"{store.url}/admin/cores", params={"action": "RELOAD", "core": physical, "wt": "json"}, timeout=120
                )
                response.raise_for_status()
            elif engine in ("elasticsearch", "opensearch"):
                store.client.indices.clear_cache(index=physical)
        except Exception as exc:  # a cache that cannot be cleared makes timings optimistic, not wrong
            log.warning("could not clear %s caches: %s", engine, exc)

    def _search(self, client, spec: ModeSpec, text: str, k: int):
        kwargs = {"mode": spec.mode, "k": k, "candidates": self.args.depth}
        if spec.is_hybrid:
            kwargs["fusion"] = spec.fusion
            if spec.fusion != RAWSUM:
                kwargs["fusion_at"] = spec.fusion_at
        return client.search(text, **kwargs)

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

    def measured(self, engine: str, spec: ModeSpec) -> bool:
        """A resumed run keeps relevance results whose run file is still there."""
        m = self.results["engines"][engine]["modes"][spec.name]
        if not (self.args.resume and m["status"] == "ok" and m.get("run_file") and (self.out / m["run_file"]).exists()):
            return False
        from .evaluation import read_trec_run

        scored = read_trec_run(self.out / m["run_file"])
        self.per_query[(engine, spec.name)] = evaluate_run(self.collection.qrels, scored).per_query["ndcg@10"]
        top: dict[str, list[str]] = {q: [] for q in self.collection.queries}
        for s in scored:  # the file is in rank order
            if s.query_id in top and len(top[s.query_id]) < 10:
                top[s.query_id].append(s.doc_id)
        self.top10[(engine, spec.name)] = top
        return True

    def relevance(self, engine: str, client, spec: ModeSpec) -> None:
        entry = self.results["engines"][engine]["modes"][spec.name]
        run: dict[str, list[tuple[str, float]]] = {}
        for qid, text in self.collection.queries.items():
            result = self._search(client, spec, text, self.args.depth)
            run[qid] = [(h.id, h.score) for h in result.hits]
        tag = f"{engine}.{spec.slug}"
        path = write_trec_run(self.out / "runs" / f"{tag}.trec", run, tag)
        evaluation = evaluate_run(self.collection.qrels, path)
        self.per_query[(engine, spec.name)] = evaluation.per_query["ndcg@10"]
        self.top10[(engine, spec.name)] = {q: [d for d, _ in hits[:10]] for q, hits in run.items()}
        entry.update(
            status="ok", error=None, queries=len(run), run_file=str(path.relative_to(self.out)),
            **{m: round(v, 6) for m, v in evaluation.means.items()},
        )
        self.save()

    def _warm(self, client, spec: ModeSpec, concurrency: int) -> int:
        a = self.args
        pool_of = self.collection.warmup_queries or list(self.collection.queries.values())
        warm = [pool_of[i % len(pool_of)] for i in range(a.warmup)]
        if warm:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                list(pool.map(lambda t: self._search(client, spec, t, a.k), warm))
        return len(warm)

    def latency_round(self, concurrency: int, pairs: list[tuple[str, ModeSpec]]) -> dict[tuple[str, str], dict]:
        """Times every judged query on every (engine, mode) pair at one concurrency.

        The pairs take turns in blocks of queries, the order of the turns rotating from block to
        block, so a change in the machine's background load (other processes, garbage
        collection, merges) falls on every engine and mode alike instead of on whichever happened
        to run at that moment."""
        a = self.args
        items = list(self.collection.queries.values())
        random.Random(a.seed).shuffle(items)
        block = max(20, 8 * concurrency)
        keys = [(e, spec.name) for e, spec in pairs]
        timings: dict[tuple[str, str], list[dict]] = {k: [] for k in keys}
        errors: dict[tuple[str, str], list[Exception]] = {k: [] for k in keys}
        seconds: dict[tuple[str, str], float] = {k: 0.0 for k in keys}
        warmed: dict[tuple[str, str], int] = {}
        for engine in dict.fromkeys(e for e, _ in pairs):
            self.clear_caches(engine)
        for engine, spec in pairs:
            warmed[(engine, spec.name)] = self._warm(self.clients[engine], spec, concurrency)

        def one(engine: str, spec: ModeSpec, text: str):
            try:
                return self._search(self.clients[engine], spec, text, a.k).timings_ms
            except Exception as exc:
                return exc

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for number, start in enumerate(range(0, len(items), block)):
                chunk = items[start : start + block]
                shift = number % len(pairs)
                for engine, spec in pairs[shift:] + pairs[:shift]:
                    key = (engine, spec.name)
                    t0 = time.perf_counter()
                    if concurrency == 1:
                        outcomes = [one(engine, spec, t) for t in chunk]
                    else:
                        outcomes = list(pool.map(lambda t, e=engine, m=spec: one(e, m, t), chunk))
                    seconds[key] += time.perf_counter() - t0
                    for outcome in outcomes:
                        if isinstance(outcome, Exception):
                            errors[key].append(outcome)
                        else:
                            timings[key].append(outcome)
        load = _load()
        stats: dict[tuple[str, str], dict] = {}
        for key in keys:
            outage = [e for e in errors[key] if isinstance(e, OUTAGES)]
            if outage or not timings[key]:
                first = (outage or errors[key] or ["no queries"])[0]
                stats[key] = {
                    "error": f"{len(errors[key])} timed queries failed at concurrency {concurrency}: {type(first).__name__}: {first}",
                    "outage": bool(outage),
                }
                continue
            stats[key] = latency_stats(timings[key], len(errors[key]), warmed[key], seconds[key], load)
        return stats

    def unsupported(self, engine: str, spec: ModeSpec) -> str | None:
        """Why `engine` cannot run this mode as named, or None."""
        store = self.stores[engine]
        if spec.fusion == RAWSUM:
            return None if "rawsum_hybrid" in store.capabilities() else f"{engine} has no one-request raw-score sum"
        if spec.fusion_at == "engine":
            problem = store.engine_fusion_problem(self.physical[engine], FusionSpec.parse(spec.fusion), (1.0, 1.0))
            return None if problem is None else f"no engine-side {spec.fusion} on {engine}: {problem}"
        return None

    def run_relevance(self, engine: str) -> None:
        from .search import SearchClient

        store = self.stores[engine]
        entry = self.results["engines"][engine]
        client = self.clients[engine] = SearchClient(store=store, index=self.index, encoder=self.encoder, candidates=self.args.depth)
        try:
            for spec in self.modes:
                m = entry["modes"][spec.name]
                problem = self.unsupported(engine, spec)
                if problem:
                    m.update(status="unsupported", error=problem)
                    self.save()
                    continue
                if self.measured(engine, spec):
                    continue
                self.say(f"{engine} {spec.name}: relevance, {len(self.collection.queries)} queries, depth {self.args.depth}")
                try:
                    for attempt in range(3):
                        try:
                            self.relevance(engine, client, spec)
                            break
                        except OUTAGES as exc:
                            if attempt == 2 or not self.wait_for(engine):
                                raise EngineUnavailable(engine, self.stores[engine].url, f"{type(exc).__name__}: {exc}") from exc
                except CapabilityError as exc:
                    m.update(status="unsupported", error=str(exc))
                except EngineUnavailable:
                    raise
                except Exception as exc:
                    log.debug("%s %s failed", engine, spec.name, exc_info=True)
                    m.update(status="failed", error=f"{type(exc).__name__}: {exc}")
                    self.say(f"{engine} {spec.name}: failed: {type(exc).__name__}: {exc}")
                self.save()
        except EngineUnavailable as exc:
            # The engine went away part-way: keep what it measured, mark the rest.
            for m in entry["modes"].values():
                if m["status"] == "pending":
                    m.update(status="failed", error=str(exc))
            self.down.add(engine)
            self.say(f"{engine}: {exc}")
            self.save()

    def run_latency(self) -> None:
        pairs = [
            (e, spec) for spec in self.modes for e in self.engines
            if e in self.clients and e not in self.down and self.results["engines"][e]["modes"][spec.name]["status"] == "ok"
        ]
        for c in self.concurrency if pairs else ():
            if self.args.resume and all(str(c) in self.results["engines"][e]["modes"][spec.name]["latency"] for e, spec in pairs):
                continue
            self.say(f"latency at concurrency {c}: {len(pairs)} engine/mode pairs taking turns, {len(self.collection.queries)} queries each")
            try:
                for attempt in range(3):
                    # Timings taken while an engine was restarting mean nothing: wait for it, time the round again.
                    try:
                        stats = self.latency_round(c, pairs)
                        hit = sorted({e for (e, _), v in stats.items() if v.get("outage")})
                    except OUTAGES:
                        stats, hit = None, sorted({e for e, _ in pairs})
                    if not hit or attempt == 2 or not all(self.wait_for(e) for e in hit):
                        break
                if stats is None:
                    raise CompareError(f"engines kept failing at concurrency {c}")
            except Exception as exc:  # recorded; the latency entries stay missing
                log.debug("latency at concurrency %s failed", c, exc_info=True)
                for e, spec in pairs:
                    self.results["engines"][e]["modes"][spec.name]["error"] = f"latency at concurrency {c}: {type(exc).__name__}: {exc}"
                self.say(f"latency at concurrency {c} failed: {type(exc).__name__}: {exc}")
                self.save()
                continue
            for (e, mode), value in stats.items():
                m = self.results["engines"][e]["modes"][mode]
                if "error" in value:
                    m["error"] = value["error"]
                else:
                    m["latency"][str(c)] = value
                    if m["error"] and ("timed queries failed" in m["error"] or m["error"].startswith("latency at")):
                        m["error"] = None
            self.save()

    def significance(self) -> None:
        comparisons = []
        for engine in self.engines:
            for spec in self.modes:
                if not spec.is_hybrid or (engine, spec.name) not in self.per_query:
                    continue
                for baseline in ("bm25", "knn"):
                    if (engine, baseline) not in self.per_query or len(self.collection.queries) < 2:
                        continue
                    test = paired_test(self.per_query[(engine, spec.name)], self.per_query[(engine, baseline)])
                    comparisons.append({
                        "engine": engine, "hybrid": spec.name, "baseline": baseline, "n": test["n"],
                        "hybrid_mean": round(test["treatment_mean"], 6), "baseline_mean": round(test["control_mean"], 6),
                        "delta": round(test["delta"], 6), "t": _finite(test["t"]), "p": test["p"],
                    })
        adjusted = holm([c["p"] for c in comparisons])
        for c, p in zip(comparisons, adjusted):
            c["p_holm"] = p
            c["significant"] = bool(p < ALPHA)
        self.results["significance"]["comparisons"] = comparisons

    def agreement(self) -> None:
        rows = []
        for spec in self.modes:
            measured = [e for e in self.engines if (e, spec.name) in self.top10]
            if len(measured) < 2:
                continue
            reference = "embedded" if "embedded" in measured else measured[0]
            ref_ndcg = self.results["engines"][reference]["modes"][spec.name]["ndcg@10"]
            for engine in measured:
                if engine == reference:
                    continue
                ndcg = self.results["engines"][engine]["modes"][spec.name]["ndcg@10"]
                rows.append({
                    "mode": spec.name, "engine": engine, "reference": reference,
                    "ndcg@10_delta": round(ndcg - ref_ndcg, 6),
                    "overlap@10": round(overlap_at(self.top10[(engine, spec.name)], self.top10[(reference, spec.name)], 10), 6),
                })
        self.results["agreement"] = rows

    def resume_from(self, previous: dict) -> None:
        """Continues the run recorded in `previous` (the same settings): keeps what it measured,
        measures again what failed or is missing."""
        mine, theirs = self.results, previous
        differences = [
            f"{key} {theirs.get('settings', {}).get(key)!r} (now {mine['settings'][key]!r})"
            for key in RESUME_KEYS
            if theirs.get("settings", {}).get(key) != mine["settings"][key]
        ]
        if (theirs.get("dataset", {}).get("name"), theirs.get("dataset", {}).get("split")) != (mine["dataset"]["name"], mine["dataset"]["split"]):
            differences.append("the dataset or split")
        if theirs.get("schema_version") != SCHEMA_VERSION:
            differences.append(f"schema version {theirs.get('schema_version')}")
        if differences:
            raise ConfigurationError(
                f"--resume: {self.out / 'results.json'} was measured with other settings: {'; '.join(differences)}. "
                "Run the same command again, or drop --resume to start over."
            )
        for engine, entry in theirs["engines"].items():
            if entry["status"] != "ok":
                continue  # measured again from scratch
            fresh = mine["engines"][engine]
            for mode, m in entry["modes"].items():
                if m["status"] == "ok":
                    fresh["modes"][mode] = m
            fresh["ann_recall@10"] = entry.get("ann_recall@10")
        if theirs.get("encoding", {}).get("docs_per_second") is not None:
            mine["encoding"].update({k: theirs["encoding"][k] for k in ("docs_per_second", "sample", "seconds")})
        mine["started_at"] = theirs.get("started_at", mine["started_at"])
        self.say(f"resuming {self.out / 'results.json'}")

    def run(self) -> dict:
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
            entry = self.results["engines"][engine]
            try:
                self.physical[engine] = self.ensure_index(engine, self.stores[engine])
                entry["status"] = "ok"
            except NeuralSearchError as exc:
                entry.update(status="failed", error=str(exc))
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
        self.significance()
        self.agreement()
        return self.results

    def finish(self, status: str | None = None) -> None:
        self.results["finished_at"] = _now()
        self.results["missing"] = missing_parts(self.results)
        self.results["status"] = status or ("partial" if self.results["missing"] else "complete")
        self.save()
        for client in self.clients.values():
            client.close()
        for store in self.stores.values():
            try:
                store.close()
            except Exception:
                pass


# -- regression check ------------------------------------------------------------------------------


def _depends_on_ann(engine: str, mode: str) -> bool:
    return engine in SERVER_ENGINES and mode != "bm25"


def comparable(expected: dict, dataset: str, split: str, settings: dict) -> None:
    """Refuses an expected results.json measured on other queries or at another depth."""
    e_data, e_set = expected.get("dataset", {}), expected.get("settings", {})
    differences = []
    if (e_data.get("name"), e_data.get("split")) != (dataset, split):
        differences.append(f"dataset {e_data.get('name')}/{e_data.get('split')} (this run: {dataset}/{split})")
    for key in ("depth", "max_queries") + (("seed",) if settings.get("max_queries") is not None else ()):
        if e_set.get(key) != settings.get(key):
            differences.append(f"--{key.replace('_', '-')} {e_set.get(key)} (this run: {settings.get(key)})")
    if differences:
        raise ConfigurationError("--expect holds results of another setup: " + "; ".join(differences))


def check_expected(results: dict, expected: dict, *, tolerance: float, ann_tolerance: float) -> list[dict]:
    """Every relevance number the expected results hold for the engines and modes this run was
    asked to measure, next to the one measured now (not measured counts as a regression)."""
    rows = []
    asked_engines = set(results.get("settings", {}).get("engines", results.get("engines", {})))
    asked_modes = results.get("settings", {}).get("modes")
    for engine, e_entry in expected.get("engines", {}).items():
        if engine not in asked_engines:
            continue
        for mode, e_mode in e_entry.get("modes", {}).items():
            if e_mode.get("status") != "ok" or (asked_modes is not None and mode not in asked_modes):
                continue
            now_mode = results.get("engines", {}).get(engine, {}).get("modes", {}).get(mode)
            limit = ann_tolerance if _depends_on_ann(engine, mode) else tolerance
            for metric in METRICS:
                want = e_mode.get(metric)
                got = now_mode.get(metric) if now_mode and now_mode.get("status") == "ok" else None
                ok = got is not None and want is not None and abs(got - want) <= limit + 1e-12
                rows.append({"engine": engine, "mode": mode, "metric": metric, "expected": want, "measured": got, "tolerance": limit, "ok": ok})
    return rows


# -- the command ---------------------------------------------------------------------------------


def cmd_compare(args: argparse.Namespace) -> int:
    from . import report

    if args.engine is not None:  # `--engine X` given instead of --engines
        if args.engines is not None:
            raise ConfigurationError("give either --engine or --engines, not both")
        args.engines = args.engine
    if args.out is None:
        if args.dataset is None:
            raise ConfigurationError("--report-only needs --out (the folder holding results.json)")
        args.out = str(Path("reports") / Path(args.dataset).resolve().name)
    out = Path(args.out)

    if args.report_only:
        try:
            results = json.loads((out / "results.json").read_text())
        except FileNotFoundError:
            raise CompareError(f"{out / 'results.json'} does not exist; run the comparison first") from None
        written = report.write_report(results, out)
        print("\n".join(str(p) for p in written))
        return 0

    if args.dataset is None:
        raise ConfigurationError("--dataset is required (a BEIR-style folder)")
    if args.depth < 100:
        raise ConfigurationError("--depth must be at least 100: recall@100 is computed from the run")
    if args.k < 1 or args.k > args.depth:
        raise ConfigurationError(f"--k must be in 1..--depth ({args.depth})")
    if args.warmup < 0 or args.encode_sample < 0 or args.retry_budget < 0:
        raise ConfigurationError("--warmup, --encode-sample and --retry-budget cannot be negative")
    if args.max_queries is not None and args.max_queries < 2:
        raise ConfigurationError("--max-queries must be at least 2 (the paired test needs two queries)")
    engines = parse_engines(args.engines or ",".join(ENGINES))
    modes = parse_modes(args.modes)
    concurrency = parse_concurrency(args.concurrency)
    servers = [e for e in engines if e in SERVER_ENGINES]
    if args.url and len(servers) != 1:
        raise ConfigurationError(
            "--url names one server, but --engines selects several server engines; set NEURAL_SEARCH_<ENGINE>_URL for each instead"
        )
    expected = None
    if args.expect:
        try:
            expected = json.loads(Path(args.expect).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"--expect {args.expect}: cannot read it ({exc})") from None

    collection = load_collection(args.dataset, args.split, max_queries=args.max_queries, seed=args.seed)
    if expected is not None:
        comparable(expected, collection.name, collection.split, {"depth": args.depth, "max_queries": args.max_queries, "seed": args.seed})

    from .cli import open_store_from_args

    comparison = Comparison(args, collection, engines, modes, concurrency, lambda engine: open_store_from_args(args, engine))
    status = None
    try:
        comparison.run()
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except BaseException:
        status = "failed"
        raise
    finally:
        if comparison.saved and comparison.results["status"] == "running":
            comparison.finish(status)
            try:
                written = report.write_report(comparison.results, out)
                comparison.say("wrote " + ", ".join(str(p) for p in written))
            except Exception as exc:  # the numbers are safe in results.json; say why the report is not
                print(f"neural-search: could not write the report: {type(exc).__name__}: {exc}", file=sys.stderr)
                if status is None:
                    raise
    results = comparison.results
    validate_results(results)
    print(report.summary_text(results))
    code = 0
    if results["missing"]:
        print("neural-search: these parts were not measured:\n  " + "\n  ".join(results["missing"]), file=sys.stderr)
        code = 1
    if expected is not None:
        rows = check_expected(results, expected, tolerance=args.tolerance, ann_tolerance=args.ann_tolerance)
        bad = [r for r in rows if not r["ok"]]
        print(f"check against {args.expect}: {len(rows) - len(bad)} of {len(rows)} scores within tolerance")
        for r in bad:
            print(f"  REGRESSION {r['engine']}/{r['mode']} {r['metric']}: expected {r['expected']}, measured {r['measured']} (tolerance {r['tolerance']})")
        if bad:
            print(f"neural-search: error: {len(bad)} scores differ from {args.expect} by more than the tolerance", file=sys.stderr)
            return 3
    return code


def add_compare_parser(subparsers, add_engine_arguments) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "compare",
        help="index a judged collection into every engine and compare relevance, latency, throughput and size",
        description=(__doc__ or "").split("\n\n")[0],
    )
    p.add_argument("--dataset", help="BEIR-style folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    p.add_argument("--split", default="test", help="qrels split (default test)")
    p.add_argument("--engines", default=None, help=f"comma-separated, or all (default: {','.join(ENGINES)})")
    p.add_argument("--modes", default=",".join(DEFAULT_MODES), help=f"comma-separated bm25, knn, hybrid:<fusion>, or all ({','.join(ALL_MODES)}); default {','.join(DEFAULT_MODES)}")
    p.add_argument("--k", type=int, default=10, help="hits per query in the latency passes (a result page; default 10)")
    p.add_argument("--depth", type=int, default=100, help="hits per query in the relevance run, and candidates per hybrid leg (default 100)")
    p.add_argument("--concurrency", default="1,8", help="comma-separated client threads for the latency passes (default 1,8)")
    p.add_argument("--warmup", type=int, default=20, help="untimed queries before each timed pass (default 20)")
    p.add_argument("--seed", type=int, default=42, help="fixes the query order of the timed passes and every sample (default 42)")
    p.add_argument("--max-queries", type=int, default=None, help="evaluate a seeded sample of this many judged queries (default all)")
    p.add_argument("--out", default=None, help="output folder (default reports/<dataset>)")
    p.add_argument("--index-prefix", default="cmp", help="engine index name is <prefix>-<dataset> (default cmp)")
    p.add_argument("--reindex", action="store_true", help="rebuild the indexes even when they are up to date")
    p.add_argument("--skip-unavailable", action="store_true", help="record an unreachable engine as missing instead of stopping")
    p.add_argument("--resume", action="store_true", help="continue the run in --out: keep what it measured (same settings), measure the rest")
    p.add_argument("--retry-budget", type=float, default=180.0, help="seconds to wait for an engine that goes away mid-run before giving up on it (default 180)")
    p.add_argument("--encode-sample", type=int, default=200, help="documents encoded with the cache off to time the encoder (default 200; 0 skips)")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: what sentence-transformers picks)")
    p.add_argument("--encode-batch-size", type=int, default=32)
    p.add_argument("--cache", default=None, help="embedding cache file (default ~/.cache/neural-search/embeddings.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="do not use the embedding cache (each engine's indexing then encodes)")
    from .cli import default_state_dir

    p.add_argument("--state-dir", type=Path, default=default_state_dir(), help="checkpoints, dead-letter files and build records")
    p.add_argument("--expect", metavar="RESULTS_JSON", help="compare the relevance scores with this results.json; exit 3 if any differs by more than the tolerance")
    p.add_argument("--tolerance", type=float, default=0.002, help="--expect tolerance for exact results (default 0.002)")
    p.add_argument("--ann-tolerance", type=float, default=0.01, help="--expect tolerance for results that depend on approximate kNN (default 0.01)")
    p.add_argument("--report-only", action="store_true", help="rewrite report.md and the plots from --out/results.json")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_engine_arguments(p)
    for action in p._actions:
        if action.dest == "engine":
            action.help = "one engine (same as --engines ENGINE)"
    # `engine` defaults to None here so that `--engine X` can be told apart from the environment default.
    p.set_defaults(func=cmd_compare, engine=None)
    return p
