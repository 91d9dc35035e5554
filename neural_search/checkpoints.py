"""Checkpoints of a batch indexing run: which source positions are safely written.

Written atomically (temp file + rename + fsync) after every completed batch, so a run killed at
any point resumes from the last batch the engine acknowledged. Re-writing the few documents after
that point is harmless: document ids are stable, so a rewrite replaces, never duplicates.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


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
    extra: dict = field(default_factory=dict)


class CheckpointFile:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def load(self) -> Checkpoint | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except json.JSONDecodeError as exc:
            raise ValueError(f"checkpoint {self.path} is corrupt ({exc}); delete it or pass --restart") from exc
        return Checkpoint(**data)

    def save(self, checkpoint: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as handle:
            json.dump(asdict(checkpoint), handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
