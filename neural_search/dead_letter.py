"""The dead-letter file: one JSON line per document that was not indexed, with the reason."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class DeadLetterFile:
    """Append-only JSONL. Entries are appended a batch at a time and fsynced, so the byte
    offset stored in a checkpoint marks exactly the entries of the batches it covers."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def truncate(self, size: int) -> None:
        """Cuts off entries appended after the checkpoint that recorded `size` (a run killed
        between appending a batch's entries and saving its checkpoint, or mid-line)."""
        if size < 0:
            raise ValueError("size must be >= 0")
        if self.size() > size:  # never extends: truncate() past the end would pad with NUL bytes
            with open(self.path, "r+b") as handle:
                handle.truncate(size)
                handle.flush()
                os.fsync(handle.fileno())

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)

    def append(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            for entry in entries:
                handle.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
