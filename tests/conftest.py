"""Shared fixtures: the real model, and the real engines.

Engines come from NEURAL_SEARCH_{ELASTICSEARCH,OPENSEARCH,SOLR}_URL (default: the local ports that
`make engines-up` uses). When no URL is set and a Docker engine is present, testcontainers starts
them instead. An unreachable engine skips its tests, unless NEURAL_SEARCH_REQUIRE_ENGINES=1 (CI
sets it), where it is an error: integration tests are never skipped silently in CI. The cluster
tests find the clusters at NEURAL_SEARCH_CLUSTER_<ENGINE>_URL or where `make cluster-up` puts them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("NEURAL_SEARCH_DATASETS", REPO.parent / "shared" / "datasets"))
FILMS = REPO / "neural_search" / "data" / "films" / "corpus.jsonl"
from neural_search.registry import DEFAULT_URLS  # noqa: E402  (after the environment above)


def require_engines() -> bool:
    return os.environ.get("NEURAL_SEARCH_REQUIRE_ENGINES", "") not in ("", "0", "false")


def unavailable(message: str):
    """An engine a test needs is not there: skipped, or failed where engines are required (CI)."""
    if require_engines():
        pytest.fail(message)
    pytest.skip(message)


def _reachable(engine: str, url: str) -> str | None:
    import requests

    probe = url + ("/admin/info/system?wt=json" if engine == "solr" else "/_cluster/health")
    try:
        response = requests.get(probe, timeout=5)
    except requests.RequestException as exc:
        return f"{type(exc).__name__}"
    return None if response.status_code in (200, 401) else f"HTTP {response.status_code}"


def _docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


def _start_container(engine: str):
    """testcontainers, same images as docker-compose.yml."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    if engine == "elasticsearch":
        container = (
            DockerContainer("docker.elastic.co/elasticsearch/elasticsearch:9.5.4")
            .with_env("discovery.type", "single-node").with_env("xpack.security.enabled", "false")
            .with_env("ES_JAVA_OPTS", "-Xms512m -Xmx512m").with_exposed_ports(9200)
        )
        port, suffix, ready = 9200, "", "started"
    elif engine == "opensearch":
        container = (
            DockerContainer("opensearchproject/opensearch:2.19.1")
            .with_env("discovery.type", "single-node").with_env("DISABLE_SECURITY_PLUGIN", "true")
            .with_env("OPENSEARCH_JAVA_OPTS", "-Xms512m -Xmx512m").with_exposed_ports(9200)
        )
        port, suffix, ready = 9200, "", "started"
    else:
        container = (
            DockerContainer("solr:9.10.1")
            .with_volume_mapping(str(REPO / "mappings" / "solr" / "neural_search"), "/opt/solr/server/solr/configsets/neural_search", "ro")
            .with_exposed_ports(8983)
        )
        port, suffix, ready = 8983, "/solr", "Started"
    container.start()
    wait_for_logs(container, ready, timeout=180)
    return container, f"http://{container.get_container_host_ip()}:{container.get_exposed_port(port)}{suffix}"


@pytest.fixture(scope="session")
def engine_urls():
    urls, containers = {}, []
    docker = None
    for engine, default in DEFAULT_URLS.items():
        explicit = os.environ.get(f"NEURAL_SEARCH_{engine.upper()}_URL")
        if not explicit:
            if docker is None:
                docker = _docker_available() and _reachable(engine, default) is not None
            if docker:
                container, url = _start_container(engine)
                containers.append(container)
                urls[engine] = url
                continue
        urls[engine] = explicit or default
    yield urls
    for container in containers:
        container.stop()


@pytest.fixture(scope="session")
def engine_url(engine_urls):
    def get(engine: str) -> str:
        url = engine_urls[engine]
        problem = _reachable(engine, url)
        if problem:
            message = (
                f"{engine} is not reachable at {url} ({problem}). Start the engines with `make engines-up` "
                f"or set NEURAL_SEARCH_{engine.upper()}_URL."
            )
            unavailable(message)
        return url

    return get


@pytest.fixture(scope="session")
def cluster_urls():
    """The node URLs of an engine's cluster: NEURAL_SEARCH_CLUSTER_<ENGINE>_URL (comma-separated)
    or the local cluster `make cluster-up` starts. Unreachable: skipped, or failed in CI."""
    from neural_search.registry import cluster_urls as local

    def get(engine: str) -> tuple[str, ...]:
        explicit = os.environ.get(f"NEURAL_SEARCH_CLUSTER_{engine.upper()}_URL")
        urls = tuple(u.strip() for u in explicit.split(",")) if explicit else local(engine)
        problems = [f"{url} ({problem})" for url in urls if (problem := _reachable(engine, url))]
        if problems:
            unavailable(
                f"the {engine} cluster is not (fully) reachable: {', '.join(problems)}. Start it with `make cluster-up` "
                f"or set NEURAL_SEARCH_CLUSTER_{engine.upper()}_URL."
            )
        return urls

    return get


@pytest.fixture(scope="session")
def encoder():
    from neural_search.embedding_cache import EmbeddingCache
    from neural_search.encoding import Encoder

    return Encoder(cache=EmbeddingCache())


@pytest.fixture(scope="session")
def serve_adi(tmp_path_factory, encoder):
    """ADI (a judged collection) indexed as `serve-adi` in an embedded engine folder of its own,
    for the serve API and browser tests: (folder, ADI's dataset folder)."""
    folder = DATASETS / "adi"
    if not (folder / "corpus.jsonl").exists():
        pytest.skip(f"ADI is not at {folder}")
    from neural_search.engines import open_store
    from neural_search.indexing import Indexer
    from neural_search.sources import read_jsonl

    path = tmp_path_factory.mktemp("serve-adi")
    store = open_store("embedded", path=str(path))
    summary = Indexer(store, encoder, state_dir=tmp_path_factory.mktemp("serve-adi-state"), progress=False).run(
        read_jsonl(folder / "corpus.jsonl"), name="serve-adi", source={"adi": str(folder)}
    )
    assert summary.failed == 0 and summary.indexed > 0
    store.close()
    return path, folder


@pytest.fixture
def index_name(request):
    """A fresh index name per test, so tests never see each other's data."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    return f"t-{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def films():
    from neural_search.sources import read_jsonl

    return [r.document for r in read_jsonl(FILMS)]
