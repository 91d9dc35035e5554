"""The embedded engine's files beside docs.sqlite: each generation's vectors, streamed from SQLite
into `vectors.<generation>.f32` (memory-mapped) with each row's seq and norm in
`rows.<generation>.npz`, written atomically, and the files of older generations removed."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from pathlib import Path

import numpy as np

VECTOR_FILE = re.compile(r"^(vectors|rows|hnsw)\.(\d+)\.(f32|npz|faiss)$")
STREAM_ROWS = 8192


def replace_atomically(final: Path, write, before=None) -> None:
    """`write(path)` into a name of this process and thread, then (after `before()`) renamed over
    `final`: a reader (another thread or process) sees the whole file or none."""
    tmp = final.with_name(f"{final.name}.tmp.{os.getpid()}.{threading.get_ident()}")
    try:
        write(tmp)
        if before is not None:
            before()
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def load_vectors(vectors: Path, rows: Path, dimension: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    try:
        with np.load(rows) as saved:
            seqs, norms = saved["seqs"], saved["norms"]
        size = vectors.stat().st_size
    except (KeyError, ValueError, OSError):
        return None
    if size != seqs.shape[0] * dimension * 4 or norms.shape != seqs.shape:
        return None
    if seqs.shape[0] == 0:
        return seqs, norms, np.zeros((0, dimension), dtype=np.float32)
    return seqs, norms, np.memmap(vectors, dtype=np.float32, mode="r", shape=(seqs.shape[0], dimension))

def stream_vectors(connection: sqlite3.Connection, generation: int, vectors: Path, rows: Path, dimension: int) -> None:
    # Chunks of rows, never the whole table: a million 384-d vectors are 1.5 GB of blobs.
    seqs, norms = [], []

    def write_vectors(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            cursor = connection.execute("SELECT seq, vector FROM docs WHERE seq <= ? ORDER BY seq", (generation,))
            while batch := cursor.fetchmany(STREAM_ROWS):
                block = np.frombuffer(b"".join(r[1] for r in batch), dtype=np.float32).reshape(len(batch), dimension)
                out.write(block.tobytes())
                seqs.append(np.fromiter((r[0] for r in batch), dtype=np.int64, count=len(batch)))
                norm = np.linalg.norm(block, axis=1)
                norm[norm == 0] = 1.0  # a zero vector scores cos 0 against everything, not NaN
                norms.append(norm.astype(np.float32))

    def write_rows(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            np.savez(out, seqs=np.concatenate([np.zeros(0, dtype=np.int64), *seqs]),
                     norms=np.concatenate([np.zeros(0, dtype=np.float32), *norms]))

    # The vectors are streamed before the rows can be saved, but renamed last: a reader takes
    # the vectors file as the sign that both are complete.
    replace_atomically(vectors, write_vectors, before=lambda: replace_atomically(rows, write_rows))

def remove_older(directory: Path, generation: int) -> None:
    """Files of older generations; a snapshot still searching one keeps its mapping (Linux
    frees a file's blocks when the last mapping goes). Newer ones are another process's."""
    for path in directory.iterdir():
        found = VECTOR_FILE.match(path.name)
        if found and int(found.group(2)) < generation:
            path.unlink(missing_ok=True)
