"""`neural-search compare --sweep`: ANN trade-offs. For every engine and vector index option, build
the index (timed, then merged to one segment so every engine searches one graph), measure its size
and vector memory, and sweep the query-time depth (num_candidates / lucene k / topK), giving
recall@10 against the embedded engine's exact kNN, p50/p99 latency and QPS at each depth.

Queries are documents held out of the index (a seeded sample): the sweep measures the ANN
structures, not relevance, so it needs no judged queries, only vectors (from the embedding cache).
sweep_report.py writes report.md, the plots and the "fastest setting reaching recall >= x" table."""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..documents import Document
from ..engines.base import IndexedDoc, IndexOptions, new_physical_name
from ..engines.vector_index import ENGINE_TYPES, VectorIndexOptions
from ..errors import ConfigurationError, EngineUnavailable, NeuralSearchError, TransientEngineError
from ..evaluation import ann_recall
from . import environment
from .results import atomic_write_json
from .settings import ANN_K

SWEEP_SCHEMA_VERSION = 1
DEFAULT_DEPTHS = (10, 16, 25, 40, 64, 100, 160, 250, 400)
# The default options per engine: every type, except Elasticsearch's quantised flat types (brute
# force over int8/int4/bits: no faster than `flat` at this size, shown by choice with --sweep-options).
DEFAULT_OPTIONS = {
    "elasticsearch": ("hnsw", "int8_hnsw", "int4_hnsw", "bbq_hnsw", "flat"),
    "opensearch": ("hnsw", "int8_hnsw"),
    "solr": ("hnsw", "byte_hnsw"),
}
WRITE_BATCH = 500


@dataclass(frozen=True)
class SweepData:
    """What is indexed (ids, vectors, optional texts) and asked (held-out query vectors)."""

    name: str
    description: str
    ids: list[str]
    vectors: np.ndarray
    query_ids: list[str]
    query_vectors: np.ndarray
    fingerprint: dict
    texts: list[tuple[str, str]] | None = None  # (title, text) per indexed document
    synthetic: bool = False


def parse_depths(text: str | None, k: int = ANN_K) -> list[int]:
    if not text:
        return [d for d in DEFAULT_DEPTHS if d >= k]
    try:
        depths = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ConfigurationError(f"--sweep-depths takes whole numbers separated by commas, e.g. 10,20,40; got {text!r}") from None
    if not depths or depths[0] < k or depths[-1] > 10000:
        raise ConfigurationError(f"--sweep-depths must be from k ({k}) to 10000, got {text!r}")
    return depths


def parse_options(text: str | None, engines: Sequence[str]) -> dict[str, list[VectorIndexOptions]]:
    """`elasticsearch=hnsw,int8_hnsw,hnsw:32:200;solr=byte_hnsw` (TYPE[:m[:ef_construction]]);
    engines not named get their defaults (DEFAULT_OPTIONS). Every option is checked against its
    engine here, so a typo stops the run before any index is built."""
    chosen = {e: [VectorIndexOptions(t) for t in DEFAULT_OPTIONS[e]] for e in engines if e in DEFAULT_OPTIONS}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        engine, _, spec = part.partition("=")
        engine = engine.strip()
        if engine not in DEFAULT_OPTIONS or not spec.strip():
            raise ConfigurationError(
                f"cannot read --sweep-options part {part!r}: write ENGINE=TYPE[:m[:ef_construction]],... with ENGINE one of "
                f"{', '.join(DEFAULT_OPTIONS)}, parts separated by ';'"
            )
        if engine not in engines:
            raise ConfigurationError(f"--sweep-options names {engine}, which is not among the engines swept ({', '.join(engines)})")
        options = []
        for item in spec.split(","):
            kind, *numbers = item.strip().split(":")
            try:
                values = [int(n) for n in numbers]
            except ValueError:
                raise ConfigurationError(f"--sweep-options: m and ef_construction are whole numbers, got {item!r}") from None
            if len(values) > 2:
                raise ConfigurationError(f"--sweep-options: TYPE[:m[:ef_construction]], got {item!r}")
            options.append(VectorIndexOptions(kind, *values).check(engine))
        chosen[engine] = list(dict.fromkeys(options))
    return chosen


# -- data ----------------------------------------------------------------------------------------
def load_dataset(path: str | Path, encoder, *, queries: int, seed: int, limit: int | None = None) -> SweepData:
    """A corpus.jsonl folder: a seeded sample of `queries` documents held out as queries, the rest
    indexed; vectors from the encoder (its cache: nothing is encoded twice)."""
    from ..sources import read_jsonl

    folder = Path(path)
    corpus = folder / "corpus.jsonl" if folder.is_dir() else folder
    if not corpus.exists():
        raise ConfigurationError(f"--dataset {path}: no corpus.jsonl there")
    docs = [r.document for r in read_jsonl(corpus) if r.document is not None and not r.document.is_empty]
    if limit:
        docs = docs[:limit]
    if len(docs) < queries + ANN_K:
        raise ConfigurationError(f"{corpus} has {len(docs)} documents; the sweep needs more than --sweep-queries ({queries}) + {ANN_K}")
    vectors = np.asarray(encoder.encode_documents(docs), dtype=np.float32)
    held = set(random.Random(seed).sample(range(len(docs)), queries))
    kept = [i for i in range(len(docs)) if i not in held]
    asked = sorted(held)
    name = folder.name if folder.is_dir() else folder.stem
    return SweepData(
        name=name, description=f"{corpus} ({len(docs)} documents: {len(kept)} indexed, {len(asked)} held out as queries)",
        ids=[docs[i].id for i in kept], vectors=vectors[kept], query_ids=[docs[i].id for i in asked],
        query_vectors=vectors[asked], fingerprint=encoder.fingerprint.to_dict(),
        texts=[(docs[i].title, docs[i].text) for i in kept],
    )


def synthetic(documents: int, *, dimension: int = 384, queries: int = 200, clusters: int = 1000, noise: float = 1.0, seed: int = 42) -> SweepData:
    """Unit vectors drawn around `clusters` random centres (a Gaussian mixture: real embeddings
    cluster by topic; uniform random vectors are an unrealistically hard case for HNSW), with noise
    of norm `noise` around unit centres (1.0: a point's cosine to its centre is about 0.7, to a
    neighbour about 0.5, as with MiniLM's abstracts). Queries come from the same mixture, not from the index."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dimension)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(n: int) -> np.ndarray:
        picks = rng.integers(0, clusters, n)
        out = centres[picks] + rng.standard_normal((n, dimension)).astype(np.float32) * (noise / np.sqrt(dimension))
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    vectors, asked = draw(documents), draw(queries)
    fingerprint = {
        "name": f"synthetic-gaussian-mixture-{clusters}", "id": f"synthetic-{dimension}-{clusters}-{seed}", "dimension": dimension,
        "similarity": "cosine", "max_seq_length": 0, "pooling": "none", "weights": "none",
    }
    return SweepData(
        name=f"synthetic-{documents // 1000}k", synthetic=True,
        description=f"synthetic: {documents} unit vectors ({dimension} dimensions) around {clusters} random centres, seed {seed}; "
        f"{queries} queries drawn from the same mixture",
        ids=[f"s{i}" for i in range(documents)], vectors=vectors, query_ids=[f"q{i}" for i in range(queries)], query_vectors=asked,
        fingerprint=fingerprint,
    )


def _docs(data: SweepData, start: int, stop: int) -> list[IndexedDoc]:
    out = []
    for i in range(start, stop):
        title, text = data.texts[i] if data.texts else ("", "")
        out.append(IndexedDoc(Document(id=data.ids[i], title=title, text=text), data.vectors[i]))
    return out


def load(store, physical: str, data: SweepData, options: IndexOptions | None) -> dict:
    """Creates `physical` and writes every vector; the timings of writing, refreshing and merging."""
    store.create_physical(physical, fingerprint=data.fingerprint, options=options)
    t0 = time.perf_counter()
    for start in range(0, len(data.ids), WRITE_BATCH):
        results = store.write(physical, _docs(data, start, min(start + WRITE_BATCH, len(data.ids))))
        failed = [r for r in results if not r.ok]
        if failed:
            raise NeuralSearchError(f"{store.engine} rejected {len(failed)} documents, e.g. {failed[0].doc_id}: {failed[0].error}")
    t1 = time.perf_counter()
    store.refresh(physical)
    t2 = time.perf_counter()
    merge_to_one_segment(store, physical)
    t3 = time.perf_counter()
    count = store.count(physical)
    if count != len(data.ids):
        raise NeuralSearchError(f"{store.engine}: {physical} holds {count} documents after loading, expected {len(data.ids)}")
    build = round(t2 - t0, 3)
    return {
        "write_seconds": round(t1 - t0, 3), "refresh_seconds": round(t2 - t1, 3), "merge_seconds": round(t3 - t2, 3),
        "build_seconds": build, "total_seconds": round(t3 - t0, 3), "vectors_per_second": round(len(data.ids) / build, 1) if build else None,
    }


# -- engine probes (not part of the DocumentStore protocol: benchmark-only operations) -----------
def merge_to_one_segment(store, physical: str) -> None:
    """Force-merge to one segment (one HNSW graph): segments are searched one by one, so their
    number, which depends on each engine's merge policy and timing, would otherwise blur the curves."""
    if store.engine == "solr":
        store._request("POST", f"/{physical}/update", params={"optimize": "true", "maxSegments": "1", "waitSearcher": "true"}, json_body={}, timeout=1800)
    elif store.engine == "elasticsearch":
        # Through the adapter's _call: a connection error becomes EngineUnavailable (retried by run_sweep).
        store._call(store.client.options(request_timeout=1800).indices.forcemerge, index=physical, max_num_segments=1)
        store.refresh(physical)
    elif store.engine == "opensearch":
        store._call(store.client.indices.forcemerge, index=physical, max_num_segments=1, params={"request_timeout": 1800})
        store.refresh(physical)
    else:
        store.refresh(physical)


# Lucene vector files by extension: .vec raw vectors (float32, or int8 for a BYTE field), .veq
# scalar-quantised copies, .veb binary-quantised (BBQ) copies, .vex the HNSW graph.
VECTOR_EXTENSIONS = ("vec", "veq", "veb", "vex")


def vector_files(store, physical: str) -> dict[str, Any]:
    """Bytes of the vector files of `physical` by extension, and where the figures come from."""
    if store.engine == "elasticsearch":
        # Elasticsearch 9 reports no per-file sizes for these; its dense_vector off-heap stats
        # give the same four (total_<ext>_size_bytes).
        reported = engine_vector_memory(store, physical) or {}
        out = {ext: int(reported.get(f"total_{ext}_size_bytes", 0)) for ext in VECTOR_EXTENSIONS}
        return {**out, "source": "index stats, dense_vector off_heap"}
    if store.engine == "opensearch":
        stats = store._call(store.client.indices.stats, index=physical, metric="segments", include_segment_file_sizes=True)
        sizes = stats["indices"][physical]["primaries"]["segments"].get("file_sizes") or {}
        out = {ext: int(sizes.get(ext, {}).get("size_in_bytes", 0)) for ext in VECTOR_EXTENSIONS}
        return {**out, "source": "index stats, segment file sizes"}
    if store.engine == "solr":
        status = store._status(physical)
        folder = Path(status.get("dataDir") or "") / "index"
        if not folder.is_dir():
            return {**{ext: None for ext in VECTOR_EXTENSIONS}, "source": "not readable (Solr's index folder is on another machine)"}
        out = {ext: 0 for ext in VECTOR_EXTENSIONS}
        for f in folder.iterdir():
            ext = f.suffix.lstrip(".")
            if ext in out:
                out[ext] += f.stat().st_size
        return {**out, "source": f"files in the core's index folder ({folder})"}
    return {**{ext: None for ext in VECTOR_EXTENSIONS}, "source": "the embedded engine keeps vectors in SQLite"}


def engine_vector_memory(store, physical: str) -> dict | None:
    """What the engine itself reports about its vector memory: Elasticsearch 9's dense_vector
    off-heap stats; OpenSearch's k-NN stats count native (faiss/nmslib) graphs only, Solr none."""
    if store.engine != "elasticsearch":
        return None
    stats = store._call(store.client.indices.stats, index=physical, metric="dense_vector")
    dense = stats["indices"][physical]["primaries"].get("dense_vector") or {}
    off_heap = dense.get("off_heap")
    if not off_heap:
        return None
    return {k: v for k, v in off_heap.items() if k.startswith("total_")}


def search_memory(option: VectorIndexOptions, files: dict) -> int | None:
    """The bytes an HNSW/flat search reads at random and so wants in memory: the graph plus the
    vectors it scores with (quantised ones where the option quantises and keeps floats only for
    rescoring; Solr's byte field keeps just the bytes, in .vec)."""
    if files.get("vec") is None:
        return None
    kept = (files["veq"] + files["veb"]) if option.quantised and option.type != "byte_hnsw" else files["vec"]
    return int(kept + files["vex"])


def documented_memory_bytes(engine: str, option: VectorIndexOptions, vectors: int, dimension: int) -> int | None:
    """The engines' own sizing formulas, for comparison with what is measured. Elasticsearch
    (dense_vector docs, "ensure data nodes have enough memory"): float n*d*4, int8 n*(d+4), int4
    n*(d/2+4), bbq n*(d/8+14), plus n*4*m for an HNSW graph. OpenSearch (k-NN memory estimation,
    lucene engine): 1.1*(4d+8m)*n float, 1.1*(d+8m)*n with the sq encoder. Solr documents no
    formula; its BYTE encoding stores d bytes a vector against 4d (graph not counted)."""
    n, d, m = vectors, dimension, option.hnsw_m or 0
    if engine == "elasticsearch":
        per = {"hnsw": 4 * d, "flat": 4 * d, "int8_hnsw": d + 4, "int8_flat": d + 4, "int4_hnsw": d / 2 + 4, "int4_flat": d / 2 + 4,
               "bbq_hnsw": d / 8 + 14, "bbq_flat": d / 8 + 14}[option.type]
        return int(n * per + (n * 4 * m if option.graph else 0))
    if engine == "opensearch":
        return int(1.1 * ((d if option.type == "int8_hnsw" else 4 * d) + 8 * m) * n)
    if engine == "solr":
        return n * d * (1 if option.type == "byte_hnsw" else 4)
    return None


# -- measuring -------------------------------------------------------------------------------------
def exact_neighbours(data: SweepData, k: int = ANN_K) -> dict[str, list[str]]:
    """The embedded engine's exact top-k of every query (the reference of every recall figure)."""
    from ..engines.embedded import EmbeddedStore

    with tempfile.TemporaryDirectory(prefix="neural-search-sweep-") as folder:
        store = EmbeddedStore(path=folder)
        store.create_physical("exact", fingerprint=data.fingerprint)
        for start in range(0, len(data.ids), 5000):
            store.write("exact", _docs(data, start, min(start + 5000, len(data.ids))))
        store.refresh("exact")
        exact = {q: [h.id for h in store.knn("exact", v, k=k, ids_only=True)] for q, v in zip(data.query_ids, data.query_vectors)}
        store.close()
    return exact


def sweep_depths(
    store, physical: str, data: SweepData, exact: dict[str, list[str]], depths: Sequence[int], *, warmup: int, rounds: int = 2, k: int = ANN_K,
) -> list[dict]:
    """Every query at every depth, timed one at a time (one client). First one untimed pass of all
    queries at the deepest setting (pages the graph and vectors in, warms the JIT); then `rounds`
    passes over the depths, alternately shallow-to-deep and back, each depth after the caches are
    cleared and `warmup` untimed queries, so a burst of load from elsewhere, or what the engine
    still does after the build, does not land on one depth only. Timings pool over the rounds;
    recall is from the first (the engines' results do not change between rounds)."""
    queries = list(zip(data.query_ids, data.query_vectors))
    for _, v in queries:
        store.knn(physical, v, k=k, num_candidates=max(depths), ids_only=True)
    times: dict[int, list[float]] = {d: [] for d in depths}
    found: dict[int, dict[str, list[str]]] = {}
    for round_ in range(rounds):
        for depth in (depths if round_ % 2 == 0 else list(reversed(depths))):
            store.clear_caches(physical)
            for _, v in queries[:warmup]:
                store.knn(physical, v, k=k, num_candidates=depth, ids_only=True)
            store.clear_caches(physical)
            run = {}
            for q, v in queries:
                t0 = time.perf_counter()
                hits = store.knn(physical, v, k=k, num_candidates=depth, ids_only=True)
                times[depth].append(time.perf_counter() - t0)
                run[q] = [h.id for h in hits]
            found.setdefault(depth, run)
    points = []
    for depth in depths:
        ms = np.asarray(times[depth]) * 1000.0
        points.append({
            "depth": depth, "queries": len(queries), "recall_at_10": round(ann_recall(found[depth], exact, k), 4),
            "p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "mean_ms": round(float(ms.mean()), 3), "qps": round(len(ms) / (ms.sum() / 1000.0), 1),
        })
    return points


def _slug(option: VectorIndexOptions) -> str:
    return option.type.replace("_", "-") + (f"-m{option.hnsw_m}-ef{option.hnsw_ef_construction}" if option.graph else "")


def run_sweep(
    data: SweepData, stores: dict[str, Any], options: dict[str, list[VectorIndexOptions]], *, depths: Sequence[int], out: Path,
    prefix: str, warmup: int = 20, rounds: int = 2, keep: bool = False, command: str = "", say: Callable[[str], None] = print,
    on_run: Callable[[dict], None] | None = None, retry_budget: float = 180.0,
) -> dict:
    """Every (engine, option): build, measure, sweep, drop (unless keep); results.json is rewritten
    after each, so an interrupted run keeps what it measured."""
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "kind": "ann_sweep", "schema_version": SWEEP_SCHEMA_VERSION, "status": "running", "command": command,
        "started_at": environment.now(), "finished_at": None,
        "dataset": {"name": data.name, "description": data.description, "synthetic": data.synthetic, "documents": len(data.ids),
                    "queries": len(data.query_ids), "dimension": int(data.vectors.shape[1])},
        "settings": {"k": ANN_K, "depths": list(depths), "warmup": warmup, "rounds": rounds, "prefix": prefix,
                     "options": {e: [o.to_dict() for o in opts] for e, opts in options.items()}},
        "environment": {"machine": environment.machine(), "python": platform.python_version(), "git_commit": environment.git_commit(),
                        "engines": {}},
        "reference": {"engine": "embedded", "exact_seconds": None},
        "runs": [],
    }
    t0 = time.perf_counter()
    exact = exact_neighbours(data)
    results["reference"]["exact_seconds"] = round(time.perf_counter() - t0, 3)
    say(f"exact top-{ANN_K} of {len(exact)} queries over {len(data.ids)} vectors from the embedded engine")
    reachable = {}
    for engine, opts in options.items():
        try:
            results["environment"]["engines"][engine] = {k: v for k, v in wait_for(stores[engine], retry_budget, say).items() if k != "engine"}
            reachable[engine] = opts
        except NeuralSearchError as exc:
            results["runs"].extend(_failed(engine, option, f"engine unavailable: {exc}") for option in opts)
            say(f"{engine}: skipped, {exc}")
    # Each engine's first option, then each one's second...: an interrupted run has every engine's
    # default HNSW before any engine's variations.
    order = [(e, opts[i]) for i in range(max((len(o) for o in reachable.values()), default=0)) for e, opts in reachable.items() if i < len(opts)]
    for engine, option in order:
        run = _failed(engine, option, None)
        run["status"] = "running"
        results["runs"].append(run)
        for attempt in range(2):
            measure_option(stores[engine], option, data, exact, run, depths=depths, prefix=prefix, warmup=warmup, rounds=rounds, keep=keep, say=say)
            if run["status"] == "ok" or attempt or not run.get("outage"):
                break
            try:  # the engine went away (restarted, say): once it is back, measure this option again
                wait_for(stores[engine], retry_budget, say)
            except NeuralSearchError:
                break
        run.pop("outage", None)
        _finish_memory(results)
        atomic_write_json(out / "results.json", results)
        if on_run is not None:
            on_run(results)
    results["status"] = "complete" if all(r["status"] == "ok" for r in results["runs"]) else "partial"
    results["finished_at"] = environment.now()
    _finish_memory(results)
    atomic_write_json(out / "results.json", results)
    return results


def wait_for(store, budget: float, say: Callable[[str], None]) -> dict:
    """The engine's description, polling up to `budget` seconds while it cannot be reached (an
    engine restarting mid-run); the last error once the budget is spent."""
    deadline = time.monotonic() + budget
    while True:
        try:
            return store.describe()
        except (EngineUnavailable, TransientEngineError) as exc:
            if time.monotonic() >= deadline:
                raise
            say(f"{store.engine}: unreachable ({exc}); waiting for it")
            time.sleep(5.0)


def measure_option(
    store, option: VectorIndexOptions, data: SweepData, exact: dict[str, list[str]], run: dict, *, depths: Sequence[int], prefix: str,
    warmup: int, rounds: int, keep: bool, say: Callable[[str], None],
) -> None:
    """Builds one index, measures it into `run`, drops it (unless keep); a failure is recorded in `run`."""
    engine = store.engine
    physical = new_physical_name(f"{prefix}-{data.name}-{_slug(option)}"[:80])
    try:
        say(f"{engine} {option.label}: building {physical} ({len(data.ids)} vectors)")
        run["build"] = load(store, physical, data, IndexOptions(vector=option))
        stamped = store.index_options(physical).vector
        if stamped is None or stamped.resolved() != option.resolved():
            raise NeuralSearchError(f"{engine}: the stamp of {physical} says {stamped}, not {option.label}")
        run["physical"] = physical
        run["index_bytes"] = int(store.size_bytes(physical))
        files = vector_files(store, physical)
        run["vector_files"] = files
        run["vector_memory_bytes"] = search_memory(option, files)
        run["engine_vector_memory"] = engine_vector_memory(store, physical)
        run["load_1m"] = environment.load_1m()
        run["points"] = sweep_depths(store, physical, data, exact, depths if option.graph else [ANN_K], warmup=warmup, rounds=rounds)
        run["status"], run["error"] = "ok", None
        best = max(run["points"], key=lambda p: p["recall_at_10"])
        say(f"{engine} {option.label}: built in {run['build']['build_seconds']:.1f} s (+{run['build']['merge_seconds']:.1f} s merge), "
            f"best recall@10 {best['recall_at_10']:.3f} at depth {best['depth']} ({best['p50_ms']:.1f} ms p50)")
    except Exception as exc:  # recorded; the other options still run
        run["status"], run["error"] = "failed", f"{type(exc).__name__}: {exc}"
        run["outage"] = isinstance(exc, (EngineUnavailable, TransientEngineError))
        say(f"{engine} {option.label}: failed: {type(exc).__name__}: {exc}")
    finally:
        if not keep:
            try:
                store.drop(physical)
            except Exception:  # best effort: the name carries the prefix, to be found and deleted by hand
                pass


def _failed(engine: str, option: VectorIndexOptions, error: str | None) -> dict:
    documented = ENGINE_TYPES[engine][option.type][2]
    return {
        "engine": engine, "option": option.to_dict(), "label": option.label, "status": "failed", "error": error, "physical": None,
        "build": None, "index_bytes": None, "vector_files": None, "vector_memory_bytes": None, "engine_vector_memory": None,
        "memory_saving": None, "documented_memory": documented, "load_1m": None, "points": [],
    }


def _finish_memory(results: dict) -> None:
    """Each run's measured vector memory against its engine's float HNSW (the same m and ef)."""
    for run in results["runs"]:
        base = next(
            (r for r in results["runs"] if r["engine"] == run["engine"] and r["option"]["type"] in ("hnsw",) and r["status"] == "ok"
             and r.get("vector_memory_bytes")), None,
        )
        mine = run.get("vector_memory_bytes")
        quantised = VectorIndexOptions.from_dict(run["option"]).quantised
        run["memory_saving"] = round(1.0 - mine / base["vector_memory_bytes"], 4) if quantised and base and mine and run["status"] == "ok" else None


# -- the command -------------------------------------------------------------------------------------
def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sweep", action="store_true", help="ANN trade-offs instead of relevance: per engine and vector index option, "
                   "recall@10 against exact kNN, p50/p99 latency and QPS over a sweep of the query depth (docs/ann.md)")
    p.add_argument("--sweep-options", default=None, help="ENGINE=TYPE[:m[:ef_construction]],...;ENGINE=... (default: "
                   + "; ".join(f"{e}={','.join(t)}" for e, t in DEFAULT_OPTIONS.items()) + ")")
    p.add_argument("--sweep-depths", default=None, help=f"query depths to sweep, comma-separated (default {','.join(map(str, DEFAULT_DEPTHS))})")
    p.add_argument("--sweep-queries", type=int, default=200, help="documents held out of the index as queries (default 200)")
    p.add_argument("--sweep-limit", type=int, default=None, help="use only the first N documents of the corpus")
    p.add_argument("--sweep-warmup", type=int, default=20, help="untimed queries before each timed depth (default 20)")
    p.add_argument("--sweep-rounds", type=int, default=2, help="timed passes over the depths, alternating their order (default 2)")
    p.add_argument("--keep-indexes", action="store_true", help="keep the sweep's indexes (default: each is deleted once measured)")


def cmd_sweep(args: argparse.Namespace, open_store: Callable[[str], Any]) -> int:
    from ..embedding_cache import EmbeddingCache
    from ..encoding import Encoder
    from .settings import parse_engines
    from .sweep_report import summary_text, write_report
    from .schema import validate_sweep

    if args.report_only:  # rewrite report.md and the plot from an earlier sweep's results.json
        if args.out is None:
            raise ConfigurationError("--sweep --report-only needs --out (the folder holding results.json)")
        try:
            results = json.loads((Path(args.out) / "results.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"cannot read {Path(args.out) / 'results.json'}: {exc}") from None
        validate_sweep(results)
        print("\n".join(str(p) for p in write_report(results, Path(args.out))))
        return 0
    if args.dataset is None:
        raise ConfigurationError("--sweep needs --dataset (a folder with corpus.jsonl)")
    if not 2 <= args.sweep_queries <= 10000:
        raise ConfigurationError("--sweep-queries must be from 2 to 10000")
    if args.sweep_warmup < 0:
        raise ConfigurationError("--sweep-warmup cannot be negative")
    if not 1 <= args.sweep_rounds <= 20:
        raise ConfigurationError("--sweep-rounds must be from 1 to 20")
    engines = [e for e in parse_engines(args.engines or ",".join(DEFAULT_OPTIONS)) if e != "embedded"]
    if not engines:
        raise ConfigurationError("--sweep measures the server engines against the embedded one; name at least one of "
                                 + ", ".join(DEFAULT_OPTIONS))
    options = parse_options(args.sweep_options, engines)
    depths = parse_depths(args.sweep_depths)
    out = Path(args.out) if args.out else Path("reports") / f"sweep-{Path(args.dataset).resolve().name}"
    encoder = Encoder(model=args.model, device=args.device, batch_size=args.encode_batch_size,
                      cache=False if args.no_cache else EmbeddingCache(args.cache), query_cache_size=0)
    data = load_dataset(args.dataset, encoder, queries=args.sweep_queries, seed=args.seed, limit=args.sweep_limit)
    say = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    stores = {e: open_store(e) for e in engines}
    command = "neural-search " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("neural-search") else ""
    try:
        results = run_sweep(data, stores, options, depths=depths, out=out, prefix=args.index_prefix if args.index_prefix != "cmp" else "sweep",
                            warmup=args.sweep_warmup, rounds=args.sweep_rounds, keep=args.keep_indexes, command=command, say=say,
                            on_run=lambda partial: write_report(partial, out))
    finally:
        for store in stores.values():
            store.close()
    validate_sweep(results)
    written = write_report(results, out)
    say("wrote " + ", ".join(str(p) for p in written))
    print(summary_text(results))
    return 0 if results["status"] == "complete" else 1
