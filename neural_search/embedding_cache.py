"""On-disk embedding cache: one SQLite file, keyed by model fingerprint and document content.

Indexing one collection into several engines encodes it once; a changed document has a new
content hash and is encoded again; another model has another fingerprint and never reads
these vectors.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np


def default_cache_path() -> Path:
    base = os.environ.get("NEURAL_SEARCH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "neural-search"
    )
    return Path(base) / "embeddings.sqlite"


class EmbeddingCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=60)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS vectors (fingerprint TEXT NOT NULL, content TEXT NOT NULL,"
                " vector BLOB NOT NULL, PRIMARY KEY (fingerprint, content)) WITHOUT ROWID"
            )
            self._local.connection = connection
        return connection

    def get_many(self, fingerprint: str, content_hashes: Sequence[str], dimension: int) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        connection = self._connection()
        unique = list(dict.fromkeys(content_hashes))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = connection.execute(
                f"SELECT content, vector FROM vectors WHERE fingerprint = ? AND content IN ({marks})",
                [fingerprint, *chunk],
            )
            for content, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape[0] == dimension:
                    found[content] = vector
        return found

    def put_many(self, fingerprint: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        connection = self._connection()
        with connection:
            connection.executemany(
                "INSERT OR REPLACE INTO vectors (fingerprint, content, vector) VALUES (?, ?, ?)",
                [(fingerprint, content, np.asarray(v, dtype=np.float32).tobytes()) for content, v in items],
            )

    def count(self, fingerprint: str | None = None) -> int:
        connection = self._connection()
        if fingerprint is None:
            return connection.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        return connection.execute("SELECT COUNT(*) FROM vectors WHERE fingerprint = ?", (fingerprint,)).fetchone()[0]

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
