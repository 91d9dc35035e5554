"""The engines this project knows: names, local ports and URLs, adapter classes and what each must offer.

The one place these facts live. It imports nothing but the standard library and nothing from the
package, so `servers/manage.py` loads this file by path and runs before the package is installed
(a Python module rather than a JSON file: the package imports it like any other module, and
nothing extra has to be shipped as package data).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class EngineSpec:
    """One engine. `store` is the adapter's import path (`module:Class`), imported on first use so
    that choosing one engine never imports another engine's client library."""

    name: str
    store: str
    port: int | None = None  # the local port `make engines-up` and docker-compose.yml use; None: in process
    url_path: str = ""  # what follows host:port in the base URL (Solr's context)
    # What the adapter's capabilities() reports for the engine as this project runs it (the version
    # in README.md, with its plugins); the conformance tests hold every engine to this set.
    capabilities: frozenset[str] = frozenset()
    # Hybrid search fused inside the engine (`fusion_at="engine"`) once the plugin is installed. Solr
    # offers it per core (the configset's handler), so it is not among Solr's capabilities().
    engine_fusion: bool = False

    @property
    def server(self) -> bool:
        return self.port is not None

    @property
    def default_url(self) -> str | None:
        return None if self.port is None else f"http://127.0.0.1:{self.port}{self.url_path}"

    def store_class(self) -> type:
        module, _, cls = self.store.partition(":")
        return getattr(importlib.import_module(module), cls)


SPECS: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec("embedded", "neural_search.engines.embedded:EmbeddedStore", capabilities=frozenset({"knn", "knn_prefilter", "exact_knn"})),
        EngineSpec(
            "elasticsearch", "neural_search.engines.elasticsearch:ElasticsearchStore", port=9200,
            capabilities=frozenset({"knn", "knn_prefilter", "rawsum_hybrid", "engine_fusion"}), engine_fusion=True,
        ),
        EngineSpec(
            "opensearch", "neural_search.engines.opensearch:OpenSearchStore", port=9201,
            capabilities=frozenset({"knn", "knn_prefilter", "rawsum_hybrid", "engine_fusion"}), engine_fusion=True,
        ),
        EngineSpec(
            "solr", "neural_search.engines.solr:SolrStore", port=8983, url_path="/solr",
            capabilities=frozenset({"knn", "knn_prefilter", "rawsum_hybrid"}), engine_fusion=True,
        ),
    )
}

ENGINES: tuple[str, ...] = tuple(SPECS)
SERVER_ENGINES: tuple[str, ...] = tuple(name for name, spec in SPECS.items() if spec.server)
DEFAULT_PORTS: dict[str, int] = {name: spec.port for name, spec in SPECS.items() if spec.port is not None}
DEFAULT_URLS: dict[str, str] = {name: spec.default_url for name, spec in SPECS.items() if spec.default_url is not None}


def spec(name: str) -> EngineSpec:
    """The engine called `name`; KeyError names the known ones (callers turn it into their own error)."""
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}") from None


# Local multi-node clusters (`make cluster-up`, servers/cluster.py; the `cluster` profile of
# docker-compose.yml): each engine's node HTTP ports, node 1 first. Apart from the single nodes'
# ports above, so both can run side by side. SolrCloud's node 1 also runs the embedded ZooKeeper
# (its port + 1000).
CLUSTER_NAME = "neural-search-cluster"
CLUSTER_PORTS: dict[str, tuple[int, ...]] = {
    "elasticsearch": (9220, 9221, 9222),
    "opensearch": (9230, 9231, 9232),
    "solr": (8990, 8991),
}


def cluster_urls(engine: str) -> tuple[str, ...]:
    """The base URLs of `engine`'s cluster nodes, node 1 first (Solr's with its /solr context);
    KeyError names the engines that have a cluster."""
    try:
        ports = CLUSTER_PORTS[engine]
    except KeyError:
        raise KeyError(f"no local cluster for engine {engine!r}; choose one of {', '.join(CLUSTER_PORTS)}") from None
    return tuple(f"http://127.0.0.1:{port}{SPECS[engine].url_path}" for port in ports)
