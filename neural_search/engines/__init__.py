"""Engine adapters: one module per engine, all behind `DocumentStore` (engines/base.py); which
engines exist and where each adapter lives is `neural_search.registry`."""

from __future__ import annotations

from .. import registry
from ..config import EngineConfig
from ..errors import ConfigurationError
from .base import DocumentStore, IndexLayout, IndexOptions, TextFields


def open_store(engine: str = "embedded", **options) -> DocumentStore:
    """The adapter for `engine`; server engines take url/credentials (or NEURAL_SEARCH_* env)."""
    try:
        spec = registry.spec(engine)
    except KeyError as exc:
        raise ConfigurationError(exc.args[0]) from None
    store_class = spec.store_class()
    if not spec.server:
        return store_class(path=options.get("path"), layout=options.get("layout"), options=options.get("options"))
    options = {k: v for k, v in options.items() if k != "path"}
    return store_class(**options)


__all__ = ["open_store", "DocumentStore", "EngineConfig", "IndexLayout", "IndexOptions", "TextFields"]
