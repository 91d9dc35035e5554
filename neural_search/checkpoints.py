"""Checkpoints of a batch indexing run: which source positions are safely written.

Written atomically (temp file + rename + fsync) after every completed batch, so a run killed at
any point resumes from the last batch the engine acknowledged. Re-writing the few documents after
that point is harmless: document ids are stable, so a rewrite replaces, never duplicates.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .errors import ConfigurationError


@dataclass
class Checkpoint:
    engine: str
    index: str
    physical: str
    publish: bool
    previous: str | None
    source: dict
    model_id: str
    position: int = 0
    read: int = 0
    indexed: int = 0
    skipped: int = 0
    failed: int = 0
    dead_letter_bytes: int = 0
    seconds: float = 0.0
    skipped_by_cause: dict = field(default_factory=dict)  # bulk.SKIP_CAUSES key -> count
    extra: dict = field(default_factory=dict)

    def advance(
        self, position: int, *, read: int, indexed: int, skipped: int, failed: int, skipped_by_cause: dict[str, int] | None = None
    ) -> None:
        """Counts one more written batch, whose last source record is at `position`. The counts
        live here only, so what a run reports is what its checkpoint saved, resumed or not."""
        causes = skipped_by_cause or {}
        if position < self.position or min(read, indexed, skipped, failed, *causes.values()) < 0:
            raise ValueError("a checkpoint only moves forward, by non-negative counts")
        if sum(causes.values()) > skipped:
            raise ValueError("more skipped documents by cause than skipped documents")
        self.position = position
        self.read += read
        self.indexed += indexed
        self.skipped += skipped
        self.failed += failed
        for cause, count in causes.items():
            self.skipped_by_cause[cause] = self.skipped_by_cause.get(cause, 0) + count

    def counts(self) -> dict[str, int]:
        return {"read": self.read, "indexed": self.indexed, "skipped": self.skipped, "failed": self.failed}


class CheckpointFile:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def load(self) -> Checkpoint | None:
        """The saved checkpoint, or None. A file that is not a checkpoint is an error (a
        ConfigurationError, which is a ValueError) that names the file and the way out."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"checkpoint {self.path} is corrupt ({exc}); delete it or pass --restart") from exc
        known = {f.name for f in fields(Checkpoint)}
        if not isinstance(data, dict) or not {"engine", "index", "physical", "publish", "source", "model_id"} <= set(data):
            raise ConfigurationError(f"checkpoint {self.path} is not a neural-search checkpoint; delete it or pass --restart")
        return Checkpoint(**{k: v for k, v in data.items() if k in known})

    def save(self, checkpoint: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(asdict(checkpoint), handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
        self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    """Makes a rename in `directory` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
