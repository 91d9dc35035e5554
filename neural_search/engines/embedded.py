"""The embedded engine: in-process, no server, persisted to a directory.

BM25 is Lucene's, computed over a scipy sparse matrix (`lucene_bm25.py`: k1=1.2, b=0.75, Lucene's
one-byte document lengths), over the same `content` field and analysis as the servers, so the
rankings agree; kNN is exact (a matrix product over every
vector), which makes this engine the ground truth for the servers' approximate (HNSW) recall.
Documents live in one SQLite file per physical index; logical names point at physical indexes
through `aliases.json`, replaced atomically.
"""

from __future__ import annotations

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
from .base import DEFAULT_FIELDS, FilterClause, IndexedDoc, IndexLayout, IndexOptions, RawHit, TextFields, WriteResult, matches

BM25_K1 = 1.2
BM25_B = 0.75


def default_home() -> Path:
    base = os.environ.get("NEURAL_SEARCH_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "neural-search"
    )
    return Path(base) / "embedded"


class _Snapshot:
    """Read-only search structures for one generation of a physical index."""

    def __init__(self, rows: list[tuple[str, str, str, str, bytes]], dimension: int, analyzer: str = "standard"):
        self.analyze = analyzer_for(analyzer)
        self.ids = [r[0] for r in rows]
        self._rows_by_id: dict[str, int] | None = None
        self.titles = [r[1] for r in rows]
        self.texts = [r[2] for r in rows]
        self.metadata = [json.loads(r[3]) for r in rows]
        self.matrix = (
            np.frombuffer(b"".join(r[4] for r in rows), dtype=np.float32).reshape(len(rows), dimension)
            if rows
            else np.zeros((0, dimension), dtype=np.float32)
        )
        norms = np.linalg.norm(self.matrix, axis=1)
        norms[norms == 0] = 1.0
        self.unit = self.matrix / norms[:, None]
        titles = [self.analyze(t) for t in self.titles]
        texts = [self.analyze(x) for x in self.texts]
        # title and text are two values of one field on the servers (copy_to / copyField), and
        # each a field of its own too.
        self.fields = {
            "content": LuceneBM25([t + x for t, x in zip(titles, texts)], k1=BM25_K1, b=BM25_B),
            "title": LuceneBM25(titles, k1=BM25_K1, b=BM25_B),
            "text": LuceneBM25(texts, k1=BM25_K1, b=BM25_B),
        }

    def bm25_scores(self, tokens: list[str], fields: TextFields) -> np.ndarray:
        """Lucene's scores: one field's, or several fields' as a DisjunctionMaxQuery of one query
        per field: the best (weighted) field's score plus tie_breaker times the others'."""
        scores = np.stack([weight * self.fields[name].scores(tokens) for name, weight in fields.fields])
        if len(fields.fields) == 1:
            return scores[0]
        best = scores.max(axis=0)
        return best + fields.tie_breaker * (scores.sum(axis=0) - best)

    def mask(self, filters: tuple[FilterClause, ...]) -> np.ndarray | None:
        if not filters:
            return None
        return np.array([all(matches(m, c) for c in filters) for m in self.metadata], dtype=bool)

    def rows_by_id(self) -> dict[str, int]:
        if self._rows_by_id is None:
            self._rows_by_id = {doc_id: row for row, doc_id in enumerate(self.ids)}
        return self._rows_by_id

    def hit(self, row: int, score: float) -> RawHit:
        return RawHit(self.ids[row], float(score), self.titles[row], self.texts[row], self.metadata[row])


def _top(scores: np.ndarray, mask: np.ndarray | None, k: int, threshold: float | None = None) -> list[int]:
    """Indices of the k best scores; ties broken by insertion order so results are stable."""
    candidates = np.arange(scores.shape[0])
    if mask is not None:
        candidates = candidates[mask]
    if threshold is not None:
        candidates = candidates[scores[candidates] > threshold]
    if candidates.size == 0:
        return []
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
        if self.default_options.vector is not None:
            self.default_options.vector.check(self.engine)  # exact search only: `flat`
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
        return frozenset({"knn", "knn_prefilter", "exact_knn"})

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
        if options.vector is not None:
            options.vector.check(self.engine)
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
            "options": options.to_dict(),
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
                results.append(
                    WriteResult(item.document.id, False, 400, f"vector has shape {vector.shape}, the index needs ({dimension},) finite values")
                )
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
        row = self._db(physical).execute("SELECT COALESCE(MAX(seq), 0) FROM docs").fetchone()
        return int(row[0])

    def _snapshot(self, physical: str) -> _Snapshot:
        generation = self._generation(physical)
        cached = self._snapshots.get(physical)
        if cached and cached[0] == generation:
            return cached[1]
        with self._lock:
            cached = self._snapshots.get(physical)
            if cached and cached[0] == generation:
                return cached[1]
            rows = self._db(physical).execute("SELECT id, title, text, metadata, vector FROM docs ORDER BY seq").fetchall()
            meta = self._meta(physical)
            snapshot = _Snapshot(rows, meta["dimension"], IndexOptions.from_dict(meta.get("options")).analyzer)
            self._snapshots[physical] = (generation, snapshot)
            return snapshot

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
        snapshot = self._snapshot(physical)
        return snapshot.ids, snapshot.matrix

    def fetch(self, physical: str, ids: Sequence[str]) -> dict[str, RawHit]:
        snapshot = self._snapshot(physical)
        rows = snapshot.rows_by_id()
        return {i: snapshot.hit(rows[i], 0.0) for i in ids if i in rows}

    def bm25(
        self, physical: str, text: str, *, k: int, filters: tuple[FilterClause, ...] = (), ids_only: bool = False,
        fields: TextFields = DEFAULT_FIELDS,
    ) -> list[RawHit]:
        snapshot = self._snapshot(physical)
        tokens = snapshot.analyze(text)
        if not snapshot.ids or not tokens:
            return []
        scores = snapshot.bm25_scores(tokens, fields)
        # Lucene returns only documents that contain at least one query term (score > 0).
        return [snapshot.hit(i, scores[i]) for i in _top(scores, snapshot.mask(filters), k, threshold=0.0)]

    def knn(
        self, physical: str, vector: np.ndarray, *, k: int, filters: tuple[FilterClause, ...] = (), num_candidates: int | None = None,
        ids_only: bool = False,
    ) -> list[RawHit]:
        snapshot = self._snapshot(physical)
        if snapshot.matrix.shape[0] == 0:
            return []
        query = np.asarray(vector, dtype=np.float32)
        query = query / (np.linalg.norm(query) or 1.0)
        # Lucene's cosine score (1 + cos) / 2, so scores compare across engines.
        # einsum, not `@`: numpy's multi-threaded OpenBLAS gemv stalls when several search threads
        # call it at once (and on small machines even alone); this matrix-vector product is ~0.2 ms.
        scores = (1.0 + np.einsum("ij,j->i", snapshot.unit, query)) / 2.0
        return [snapshot.hit(i, scores[i]) for i in _top(scores.astype(np.float64), snapshot.mask(filters), k)]

    def engine_fusion_problem(self, physical: str, fusion: FusionSpec, weights: tuple[float, float]) -> str | None:
        return "the embedded engine runs in this process and has no plugin: its hybrid search is fused in the client, at no extra request"

    def engine_fusion_preferred(self, physical: str) -> bool:
        return False

    def engine_hybrid(self, physical: str, text: str, vector: np.ndarray, **options) -> list:
        raise CapabilityError(self.engine_fusion_problem(physical, options.get("fusion"), options.get("weights")))

    def rawsum_hybrid(self, physical: str, text: str, vector: np.ndarray, **options) -> list:
        raise CapabilityError("the embedded engine has no one-request raw-score sum; use --fusion rrf or linear:*")

    def clear_caches(self, physical: str) -> None:
        pass  # nothing is cached between searches but the open database, which is the index itself

    def close(self) -> None:
        for connection in (getattr(self._local, "connections", None) or {}).values():
            connection.close()
        self._local.connections = {}
