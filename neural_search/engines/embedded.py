"""The embedded engine: in-process, no server, persisted to a directory.

BM25 is Lucene's, computed over a scipy sparse matrix (`lucene_bm25.py`: k1=1.2, b=0.75, Lucene's
one-byte document lengths), over the same `content` field and analysis as the servers, so the
rankings agree. kNN is exact by default (a product over every vector), which makes this engine the
ground truth for the servers' approximate (HNSW) recall; an index made with vector index `hnsw`
searches a faiss HNSW graph instead (knn(..., exact=True) stays exact). Documents live in one
SQLite file per physical index, the vectors also in a memory-mapped file per generation (docs/scale.md);
logical names point at physical indexes through `aliases.json`, replaced atomically.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ..analysis import analyzer_for
from ..lucene_bm25 import LuceneBM25
from ..documents import metadata_json
from ..errors import CapabilityError, ConfigurationError, IndexNotFound
from ..fusion import FusionSpec
from .embedded_files import STREAM_ROWS, load_vectors, remove_older, replace_atomically, stream_vectors
from .base import DEFAULT_FIELDS, FilterClause, IndexedDoc, IndexLayout, IndexOptions, RawHit, TextFields, WriteResult, matches
from .vector_index import VectorIndexOptions, ann_depth, effective

BM25_K1 = 1.2
BM25_B = 0.75


def default_home() -> Path:
    base = os.environ.get("NEURAL_SEARCH_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "neural-search"
    )
    return Path(base) / "embedded"


_GRAPH_CHUNK = 65536
# SQLite's default cap on bound parameters is 32766 (999 before 3.32): stay well under both.
_IN_BATCH = 900
FAISS_HINT = "pip install 'neural-search[faiss]'"


def _faiss():
    try:
        import faiss
    except ImportError:
        raise ConfigurationError(f"the embedded engine's hnsw vector index needs faiss-cpu: {FAISS_HINT}") from None
    return faiss


def _check_vector(options: IndexOptions) -> None:
    if effective(options.vector, "embedded").graph:
        _faiss()  # refuse at once, not at the first search after hours of indexing


class _Snapshot:
    """Read-only search structures for one generation of a physical index.

    The vectors live in `vectors.<generation>.f32` (float32, rows in seq order), memory-mapped;
    `rows.<generation>.npz` holds each row's seq and norm. Stored fields stay in SQLite and are read
    per hit; the BM25 field indexes, the parsed metadata (for filters), the ids and the HNSW graph
    are built on first use, so a kNN-only index never analyses its texts."""

    def __init__(self, directory: Path, generation: int, seqs: np.ndarray, norms: np.ndarray, matrix: np.ndarray,
                 connect, analyzer: str = "standard", vector: VectorIndexOptions | None = None):
        self.directory, self.generation, self.connect = directory, generation, connect
        self.seqs, self.norms, self.matrix = seqs, norms, matrix
        self.analyze = analyzer_for(analyzer)
        self.vector = vector or VectorIndexOptions("flat")
        self._built: dict[str, object] = {}
        self._locks = {name: threading.Lock() for name in ("fields", "metadata", "ids", "graph")}

    def __len__(self) -> int:
        return int(self.seqs.shape[0])

    def _lazy(self, name: str, build):
        # Serve runs searches in threads: one builds, the others wait for it rather than build again.
        value = self._built.get(name)
        if value is None:
            with self._locks[name]:
                value = self._built.get(name)
                if value is None:
                    value = self._built[name] = build()
        return value

    def _columns(self, columns: str, default: tuple) -> list[tuple]:
        """`columns` of every row of this generation, in row order. A row replaced since (its seq
        gone) reads as `default`: its new version belongs to the next generation."""
        out = [default] * len(self)
        cursor = self.connect().execute(f"SELECT seq, {columns} FROM docs WHERE seq <= ? ORDER BY seq", (self.generation,))
        while batch := cursor.fetchmany(STREAM_ROWS):
            seqs = np.fromiter((r[0] for r in batch), dtype=np.int64, count=len(batch))
            at = np.searchsorted(self.seqs, seqs)
            for row, position, seq in zip(batch, at, seqs):
                if position < len(out) and self.seqs[position] == seq:
                    out[position] = row[1:]
        return out

    # -- BM25 -------------------------------------------------------------------------------------
    def _build_fields(self) -> dict[str, LuceneBM25]:
        rows = self._columns("title, text", ("", ""))
        titles = [self.analyze(t or "") for t, _ in rows]
        texts = [self.analyze(x or "") for _, x in rows]
        del rows
        # title and text are two values of one field on the servers (copy_to / copyField), and
        # each a field of its own too.
        return {
            "content": LuceneBM25([t + x for t, x in zip(titles, texts)], k1=BM25_K1, b=BM25_B),
            "title": LuceneBM25(titles, k1=BM25_K1, b=BM25_B),
            "text": LuceneBM25(texts, k1=BM25_K1, b=BM25_B),
        }

    def bm25_scores(self, tokens: list[str], fields: TextFields) -> np.ndarray:
        """Lucene's scores: one field's, or several fields' as a DisjunctionMaxQuery of one query
        per field: the best (weighted) field's score plus tie_breaker times the others'."""
        indexes = self._lazy("fields", self._build_fields)
        scores = np.stack([weight * indexes[name].scores(tokens) for name, weight in fields.fields])
        if len(fields.fields) == 1:
            return scores[0]
        best = scores.max(axis=0)
        return best + fields.tie_breaker * (scores.sum(axis=0) - best)

    # -- filters, ids, stored fields -------------------------------------------------------------
    def mask(self, filters: tuple[FilterClause, ...]) -> np.ndarray | None:
        if not filters:
            return None
        metadata = self._lazy("metadata", lambda: [json.loads(m or "{}") for (m,) in self._columns("metadata", ("{}",))])
        return np.fromiter((all(matches(m, c) for c in filters) for m in metadata), dtype=bool, count=len(metadata))

    def ids(self) -> list[str]:
        return self._lazy("ids", lambda: [i for (i,) in self._columns("id", ("",))])

    def by_ids(self, ids: Sequence[str]) -> dict[str, RawHit]:
        """The stored fields of those of `ids` in this generation, looked up in SQLite by id: no
        id table in memory for a million documents."""
        out: dict[str, RawHit] = {}
        wanted, connection = list(dict.fromkeys(ids)), self.connect()
        for start in range(0, len(wanted), _IN_BATCH):
            part = wanted[start : start + _IN_BATCH]
            sql = f"SELECT seq, id, title, text, metadata FROM docs WHERE seq <= ? AND id IN ({','.join('?' * len(part))})"
            for seq, doc_id, title, text, metadata in connection.execute(sql, (self.generation, *part)):
                at = int(np.searchsorted(self.seqs, seq))
                if at < len(self) and self.seqs[at] == seq:
                    out[doc_id] = RawHit(doc_id, 0.0, title, text, json.loads(metadata))
        return out

    def hits(self, rows: Sequence[int], scores: Sequence[float], ids_only: bool = False) -> list[RawHit]:
        """RawHits of `rows`, in that order, their stored fields read from SQLite by seq."""
        if ids_only and "ids" in self._built:
            ids = self.ids()
            return [RawHit(ids[r], float(s)) for r, s in zip(rows, scores)]
        wanted = [int(self.seqs[r]) for r in rows]
        columns = "seq, id" if ids_only else "seq, id, title, text, metadata"
        found: dict[int, tuple] = {}
        connection = self.connect()
        for start in range(0, len(wanted), _IN_BATCH):
            part = wanted[start : start + _IN_BATCH]
            marks = ",".join("?" * len(part))
            found.update((r[0], r) for r in connection.execute(f"SELECT {columns} FROM docs WHERE seq IN ({marks})", part))
        # A row missing was replaced after this snapshot was taken: the next generation has it.
        rows_found = [(found[seq], float(score)) for seq, score in zip(wanted, scores) if seq in found]
        return [RawHit(r[1], sc) if ids_only else RawHit(r[1], sc, r[2], r[3], json.loads(r[4])) for r, sc in rows_found]

    # -- kNN ----------------------------------------------------------------------------------
    def exact_scores(self, query: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Lucene's cosine score (1 + cos) / 2 of every row (or of `rows`), so scores compare across engines."""
        matrix, norms = (self.matrix, self.norms) if rows is None else (self.matrix[rows], self.norms[rows])
        # einsum, not `@`: numpy's multi-threaded OpenBLAS gemv stalls when several search threads
        # call it at once (and on small machines even alone).
        return ((1.0 + np.einsum("ij,j->i", matrix, query) / norms) / 2.0).astype(np.float64)

    def graph(self):
        return self._lazy("graph", self._load_or_build_graph)

    def _load_or_build_graph(self):
        faiss = _faiss()
        path = self.directory / f"hnsw.{self.generation}.faiss"
        if path.exists():
            # Mapped, not read: the graph and its vectors page in from the file as searches touch them.
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
            if index.ntotal == len(self) and index.d == self.matrix.shape[1]:
                return index
        index = faiss.IndexHNSWFlat(int(self.matrix.shape[1]), int(self.vector.hnsw_m), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(self.vector.hnsw_ef_construction)
        for start in range(0, len(self), _GRAPH_CHUNK):
            chunk = np.asarray(self.matrix[start : start + _GRAPH_CHUNK], dtype=np.float32)
            index.add(np.ascontiguousarray(chunk / self.norms[start : start + _GRAPH_CHUNK, None]))
        replace_atomically(path, lambda tmp: faiss.write_index(index, str(tmp)))
        return index

    def hnsw_rows(self, query: np.ndarray, k: int, depth: int, mask: np.ndarray | None) -> tuple[list[int], np.ndarray] | None:
        """The graph's top k (rows, scores), or None when a filter left it fewer than k of the
        allowed rows."""
        faiss = _faiss()
        index, params, allowed = self.graph(), faiss.SearchParametersHNSW(), len(self)
        params.efSearch = int(depth)
        if mask is not None:
            allowed = int(mask.sum())
            bits = np.packbits(mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
            params.sel = selector  # `bits` and `selector` stay referenced until the search returns
        distances, labels = index.search(query[None, :], int(min(k, len(self))), params=params)
        keep = labels[0] >= 0
        rows, cosines = labels[0][keep], distances[0][keep]
        if mask is not None and rows.size < min(k, allowed):
            return None
        scores = ((1.0 + cosines) / 2.0).astype(np.float64)
        order = np.lexsort((rows, -scores))
        return [int(r) for r in rows[order]], scores[order]


def _top(scores: np.ndarray, mask: np.ndarray | None, k: int, threshold: float | None = None) -> list[int]:
    """Indices of the k best scores; ties broken by insertion order so results are stable."""
    candidates = np.arange(scores.shape[0])
    if mask is not None:
        candidates = candidates[mask]
    if threshold is not None:
        candidates = candidates[scores[candidates] > threshold]
    if candidates.size == 0:
        return []
    if candidates.size > k > 0:
        # Sorting a million scores per query costs more than scoring them: keep the k best and
        # every score tied with the k-th, so the stable order below is that of a full sort.
        values = scores[candidates]
        kth = np.partition(values, values.size - k)[values.size - k]
        candidates = candidates[values >= kth]
    order = np.lexsort((candidates, -scores[candidates]))
    return [int(i) for i in candidates[order[:k]]]


_OPEN_LOCK = threading.Lock()


class EmbeddedStore:
    engine = "embedded"
    # Searches run in the caller's process and mostly hold the GIL: under concurrent searches a
    # second thread for the other hybrid leg only adds hand-offs (benchmarks/README.md, section 2).
    in_process = True

    def __init__(self, *, path: str | os.PathLike | None = None, layout: IndexLayout | None = None, options: IndexOptions | None = None):
        if options is not None and not isinstance(options, IndexOptions):
            raise ConfigurationError("options must be an IndexOptions(analyzer=...)")
        self.default_layout = self._one_piece(layout or IndexLayout())
        self.default_options = options or IndexOptions()
        _check_vector(self.default_options)
        self.root = Path(path) if path else default_home()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._snapshots: dict[str, tuple[int, _Snapshot]] = {}

    def __repr__(self) -> str:
        return f"EmbeddedStore(path={str(self.root)!r})"

    @property
    def url(self) -> str:
        return f"file://{self.root}"

    # -- layout ---------------------------------------------------------------------------
    def _dir(self, physical: str) -> Path:
        return self.root / physical

    def _aliases(self) -> dict[str, str]:
        try:
            return json.loads((self.root / "aliases.json").read_text())
        except FileNotFoundError:
            return {}

    def _write_aliases(self, aliases: dict[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"aliases.json.{os.getpid()}.{threading.get_ident()}"
        tmp.write_text(json.dumps(aliases, indent=1, sort_keys=True))
        os.replace(tmp, self.root / "aliases.json")

    def _meta(self, physical: str) -> dict:
        try:
            return json.loads((self._dir(physical) / "meta.json").read_text())
        except FileNotFoundError:
            raise IndexNotFound(self.engine, physical) from None

    def _db(self, physical: str) -> sqlite3.Connection:
        connections = getattr(self._local, "connections", None)
        if connections is None:
            connections = self._local.connections = {}
        connection = connections.get(physical)
        if connection is None:
            if not (self._dir(physical) / "meta.json").exists():
                raise IndexNotFound(self.engine, physical)
            connection = sqlite3.connect(self._dir(physical) / "docs.sqlite", timeout=60)
            # Switching the journal mode is answered "database is locked" at once (no busy wait)
            # while another thread's connection does the same: writer threads open theirs one at a time.
            with _OPEN_LOCK:
                connection.execute("PRAGMA journal_mode=WAL")
            connections[physical] = connection
        return connection

    # -- protocol -------------------------------------------------------------------------
    def describe(self) -> dict:
        import scipy

        return {"engine": self.engine, "url": self.url, "version": f"numpy {np.__version__} + scipy {scipy.__version__}"}

    def capabilities(self) -> frozenset[str]:
        # Per store, not per index: a store that builds hnsw indexes does not claim exact kNN. Any
        # embedded index, hnsw too, answers knn(..., exact=True) exactly: ground truth asks for that.
        exact = not effective(self.default_options.vector, self.engine).graph
        return frozenset({"knn", "knn_prefilter"} | ({"exact_knn"} if exact else set()))

    def resolve(self, name: str) -> str | None:
        physical = self._aliases().get(name)
        if physical and (self._dir(physical) / "meta.json").exists():
            return physical
        if (self._dir(name) / "meta.json").exists():
            return name
        return None

    @staticmethod
    def _one_piece(layout: IndexLayout) -> IndexLayout:
        if layout.shards != 1 or layout.replicas:
            raise ConfigurationError(
                f"the embedded engine keeps an index in one piece on this machine (asked for {layout.shards} shard(s), "
                f"{layout.replicas} replica(s)); use Elasticsearch, OpenSearch or SolrCloud for shards and replicas"
            )
        return layout

    def layout(self, physical: str) -> IndexLayout:
        if not self._dir(physical).exists():
            raise IndexNotFound(self.engine, physical)
        return IndexLayout(1, 0)

    def create_physical(
        self, physical: str, *, fingerprint: dict, layout: IndexLayout | None = None, options: IndexOptions | None = None,
    ) -> None:
        self._one_piece(layout or self.default_layout)
        options = options or self.default_options
        _check_vector(options)
        directory = self._dir(physical)
        if directory.exists():
            raise ConfigurationError(f"embedded index {physical!r} already exists at {directory}")
        directory.mkdir(parents=True)
        connection = sqlite3.connect(directory / "docs.sqlite")
        with connection:
            connection.execute(
                "CREATE TABLE docs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, title TEXT,"
                " text TEXT, metadata TEXT, vector BLOB NOT NULL)"
            )
        connection.close()
        meta = {
            "fingerprint": fingerprint, "dimension": fingerprint["dimension"], "similarity": fingerprint["similarity"],
            # The stamp says what was built: the embedded engine's own HNSW default m filled in.
            "options": dataclasses.replace(options, vector=effective(options.vector, self.engine) if options.vector else None).to_dict(),
        }
        (directory / "meta.json").write_text(json.dumps(meta, indent=1))

    def publish(self, name: str, physical: str) -> str | None:
        with self._lock:
            aliases = self._aliases()
            previous = aliases.get(name)
            aliases[name] = physical
            self._write_aliases(aliases)
        return previous if previous != physical else None

    def serves(self, name: str, physical: str) -> bool:
        return self.resolve(name) == physical

    def drop(self, physical: str) -> None:
        connections = getattr(self._local, "connections", {}) or {}
        connection = connections.pop(physical, None)
        if connection is not None:
            connection.close()
        self._snapshots.pop(physical, None)
        shutil.rmtree(self._dir(physical), ignore_errors=True)
        aliases = self._aliases()
        stale = [a for a, p in aliases.items() if p == physical]
        if stale:
            for alias in stale:
                del aliases[alias]
            self._write_aliases(aliases)

    def get_fingerprint(self, physical: str) -> dict | None:
        return self._meta(physical).get("fingerprint")

    def index_options(self, physical: str) -> IndexOptions:
        return IndexOptions.from_dict(self._meta(physical).get("options"))

    def write(self, physical: str, docs: Sequence[IndexedDoc]) -> list[WriteResult]:
        dimension = self._meta(physical)["dimension"]
        results, rows = [], []
        for item in docs:
            vector = np.asarray(item.vector, dtype=np.float32)
            if vector.shape != (dimension,) or not np.all(np.isfinite(vector)):
                message = f"vector has shape {vector.shape}, the index needs ({dimension},) finite values"
                results.append(WriteResult(item.document.id, False, 400, message))
                continue
            d = item.document
            rows.append((d.id, d.title, d.text, metadata_json(d.metadata), vector.tobytes()))
            results.append(WriteResult(d.id, True, 200))
        connection = self._db(physical)
        with connection:
            # Delete-then-insert moves an updated document to the end, as a Lucene update does.
            for row in rows:
                connection.execute("DELETE FROM docs WHERE id = ?", (row[0],))
                connection.execute("INSERT INTO docs (id, title, text, metadata, vector) VALUES (?, ?, ?, ?, ?)", row)
        return results

    def refresh(self, physical: str) -> None:
        self._snapshot(physical)

    def _generation(self, physical: str) -> int:
        # MAX over the INTEGER PRIMARY KEY is one index lookup; COUNT(*) scanned the whole table on
        # every search call. write() is the only writer and always inserts with a new seq
        # (AUTOINCREMENT, delete-then-insert), so MAX(seq) alone changes whenever the data does.
        return int(self._db(physical).execute("SELECT COALESCE(MAX(seq), 0) FROM docs").fetchone()[0])

    def _snapshot(self, physical: str) -> _Snapshot:
        generation = self._generation(physical)
        cached = self._snapshots.get(physical)
        if cached and cached[0] == generation:
            return cached[1]
        with self._lock:
            cached = self._snapshots.get(physical)
            if cached and cached[0] == generation:
                return cached[1]
            meta = self._meta(physical)
            options = IndexOptions.from_dict(meta.get("options"))
            generation, seqs, norms, matrix = self._vectors_file(physical, int(meta["dimension"]))
            vector = effective(options.vector, self.engine)
            snapshot = _Snapshot(self._dir(physical), generation, seqs, norms, matrix, lambda: self._db(physical), options.analyzer, vector)
            self._snapshots[physical] = (generation, snapshot)
            return snapshot

    def _vectors_file(self, physical: str, dimension: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """(generation, seqs, norms, vectors) of the index as it is now: the vectors memory-mapped
        from `vectors.<generation>.f32`, written from SQLite first if no process has yet."""
        directory, connection = self._dir(physical), self._db(physical)
        # One read transaction: a write landing meanwhile is in neither MAX(seq) nor the rows streamed.
        began = not connection.in_transaction
        if began:
            connection.execute("BEGIN")
        try:
            generation = int(connection.execute("SELECT COALESCE(MAX(seq), 0) FROM docs").fetchone()[0])
            vectors, rows = directory / f"vectors.{generation}.f32", directory / f"rows.{generation}.npz"
            if load_vectors(vectors, rows, dimension) is None:
                stream_vectors(connection, generation, vectors, rows, dimension)
            loaded = load_vectors(vectors, rows, dimension)
        finally:
            if began:
                connection.rollback()
        if loaded is None:
            raise ConfigurationError(f"the vectors of {physical!r} written to {vectors} do not read back")
        remove_older(directory, generation)
        return (generation, *loaded)

    def count(self, physical: str) -> int:
        return int(self._db(physical).execute("SELECT COUNT(*) FROM docs").fetchone()[0])

    def ids(self, physical: str) -> set[str]:
        return {r[0] for r in self._db(physical).execute("SELECT id FROM docs")}

    def size_bytes(self, physical: str) -> int:
        return sum(p.stat().st_size for p in self._dir(physical).rglob("*") if p.is_file())

    def get(self, physical: str, doc_id: str) -> RawHit | None:
        row = self._db(physical).execute("SELECT id, title, text, metadata FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return RawHit(row[0], 0.0, row[1], row[2], json.loads(row[3])) if row else None

    def vectors(self, physical: str) -> tuple[list[str], np.ndarray]:
        """The ids and the stored vectors (a read-only memory map), in insertion order, whatever
        the vector index: what exact ground truth is computed from."""
        snapshot = self._snapshot(physical)
        return snapshot.ids(), snapshot.matrix

    def fetch(self, physical: str, ids: Sequence[str]) -> dict[str, RawHit]:
        found = self._snapshot(physical).by_ids(ids)
        return {i: found[i] for i in ids if i in found}

    def bm25(
        self, physical: str, text: str, *, k: int, filters: tuple[FilterClause, ...] = (), ids_only: bool = False,
        fields: TextFields = DEFAULT_FIELDS,
    ) -> list[RawHit]:
        snapshot = self._snapshot(physical)
        tokens = snapshot.analyze(text)
        if not len(snapshot) or not tokens:
            return []
        scores = snapshot.bm25_scores(tokens, fields)
        # Lucene returns only documents that contain at least one query term (score > 0).
        rows = _top(scores, snapshot.mask(filters), k, threshold=0.0)
        return snapshot.hits(rows, scores[rows], ids_only)

    def knn(
        self, physical: str, vector: np.ndarray, *, k: int, filters: tuple[FilterClause, ...] = (), num_candidates: int | None = None,
        ids_only: bool = False, exact: bool = False,
    ) -> list[RawHit]:
        """The k nearest by cosine. An hnsw index searches its graph `ann_depth(k, num_candidates)`
        deep; a flat one, or exact=True (ground truth), scores every vector."""
        snapshot = self._snapshot(physical)
        if not len(snapshot) or k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (snapshot.matrix.shape[1],):
            raise ConfigurationError(f"query vector has shape {query.shape}, the index needs ({snapshot.matrix.shape[1]},)")
        query = query / (np.linalg.norm(query) or 1.0)
        mask = snapshot.mask(filters)
        depth = ann_depth(k, num_candidates) if snapshot.vector.graph else 0
        # A graph walk `depth` deep computes about depth * m distances: a filter allowing fewer
        # rows than that is searched exactly, for no more work and the exact answer.
        if depth and not exact and (mask is None or int(mask.sum()) > depth * snapshot.vector.hnsw_m):
            found = snapshot.hnsw_rows(query, k, depth, mask)
            # A selective filter leaves the graph walk few allowed nodes, so it can run dry before
            # k of them are found; Lucene falls back to exact search over the filter then, and so
            # does this: the allowed rows are few enough, by that very sign, to score them all.
            if found is not None:
                return snapshot.hits(*found, ids_only)
        allowed = None if mask is None else np.flatnonzero(mask)
        scores = snapshot.exact_scores(query, allowed)
        best = _top(scores, None, k)
        return snapshot.hits(best if allowed is None else [int(allowed[i]) for i in best], scores[best], ids_only)

    def engine_fusion_problem(self, physical: str, fusion: FusionSpec, weights: tuple[float, float]) -> str | None:
        return "the embedded engine runs in this process and has no plugin: its hybrid search is fused in the client, at no extra request"

    def engine_fusion_preferred(self, physical: str) -> bool:
        return False

    def engine_hybrid(self, physical: str, text: str, vector: np.ndarray, **options) -> list:
        raise CapabilityError(self.engine_fusion_problem(physical, options.get("fusion"), options.get("weights")))

    def rawsum_hybrid(self, physical: str, text: str, vector: np.ndarray, **options) -> list:
        raise CapabilityError("the embedded engine has no one-request raw-score sum; use --fusion rrf or linear:*")

    def clear_caches(self, physical: str) -> None:
        pass  # what is kept between searches (database, mapped vectors, graph) is the index itself, not a cache

    def close(self) -> None:
        for connection in (getattr(self._local, "connections", None) or {}).values():
            connection.close()
        self._local.connections = {}
