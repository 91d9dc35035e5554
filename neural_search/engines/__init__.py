"""Engine adapters: one module per engine, all behind `DocumentStore` (engines/base.py)."""

from __future__ import annotations

from ..config import ENGINES, EngineConfig
from ..errors import ConfigurationError
from .base import DocumentStore


def open_store(engine: str = "embedded", **options) -> DocumentStore:
    """The adapter for `engine`; server engines take url/credentials (or NEURAL_SEARCH_* env)."""
    if engine == "embedded":
        from .embedded import EmbeddedStore

        return EmbeddedStore(path=options.get("path"))
    options.pop("path", None)
    if engine == "elasticsearch":
        from .elasticsearch import ElasticsearchStore

        return ElasticsearchStore(**options)
    if engine == "opensearch":
        from .opensearch import OpenSearchStore

        return OpenSearchStore(**options)
    if engine == "solr":
        from .solr import SolrStore

        return SolrStore(**options)
    raise ConfigurationError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


__all__ = ["open_store", "DocumentStore", "EngineConfig"]
