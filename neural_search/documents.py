"""The document model shared by sources, the encoder, the engines and the search API."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    title: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("a document needs a non-empty string id")
        # A read-only copy: callers keep ownership of the dict they passed in.
        object.__setattr__(self, "metadata", _frozen(self.metadata))

    @property
    def is_empty(self) -> bool:
        return not (self.title.strip() or self.text.strip())

    @property
    def passage(self) -> str:
        """What the encoder sees: title and body joined as BEIR does for dense retrieval."""
        return f"{self.title} {self.text}".strip()

    @property
    def content(self) -> str:
        """What BM25 scores: one field, so every engine ranks with the same statistics."""
        return f"{self.title}\n{self.text}".strip()

    def content_hash(self) -> str:
        return hashlib.sha256(self.passage.encode("utf-8")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {"_id": self.id, "title": self.title, "text": self.text, "metadata": dict(self.metadata)}


@dataclass(frozen=True)
class SourceRecord:
    """One entry read from a source: either a document or the reason it could not be read.

    `position` is the 1-based ordinal of the record in the source; checkpoints store it.
    `location` is `file:line`, for error messages and the dead-letter file.
    """

    position: int
    location: str
    document: Document | None = None
    error: str | None = None
    raw: str | None = None


def metadata_json(metadata: Mapping[str, Any]) -> str:
    return json.dumps(dict(metadata), ensure_ascii=False, sort_keys=True, default=str)
