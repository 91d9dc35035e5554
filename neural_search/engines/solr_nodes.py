"""The Solr nodes a store sends its requests to, and the failover between them.

Any SolrCloud node answers any request (it forwards updates to the shard leaders and proxies a
request for a collection it holds no replica of), so requests are spread round-robin over the
configured URLs plus the live nodes ZooKeeper reports. A node that cannot be connected to is set
aside for a few seconds, so losing a node costs a request at most one failed attempt, not one per
request until it comes back.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Callable, Iterable, TypeVar
from urllib.parse import unquote, urlsplit

from ..errors import EngineUnavailable

T = TypeVar("T")

DOWN_SECONDS = 5.0
# A node that keeps failing (gone for good, or an address the cluster reports that this client
# cannot reach, behind a proxy) is set aside for longer each time, up to this.
MAX_DOWN_SECONDS = 60.0
LIVE_NODES_REFRESH_SECONDS = 30.0


def node_url(node_name: str, scheme: str) -> str:
    """`127.0.0.1:8983_solr` (SolrCloud's node name: host:port, '_', the URL-encoded context) as a base URL."""
    address, _, context = node_name.partition("_")
    context = unquote(context).strip("/")
    return f"{scheme}://{address}" + (f"/{context}" if context else "")


class NodePool:
    def __init__(self, configured: Iterable[str], *, engine: str = "solr", down_seconds: float = DOWN_SECONDS):
        self.configured = tuple(configured)
        if not self.configured:
            raise ValueError("a node pool needs at least one URL")
        self.engine = engine
        self.scheme = urlsplit(self.configured[0]).scheme
        self.down_seconds = down_seconds
        self._nodes: tuple[str, ...] = self.configured
        self._down: dict[str, tuple[float, int]] = {}  # url -> (down until, consecutive failures)
        self._turn = itertools.count()
        self._refreshed_at: float | None = None
        self._lock = threading.Lock()

    @property
    def nodes(self) -> tuple[str, ...]:
        return self._nodes

    def set_live(self, node_names: Iterable[str]) -> None:
        """The configured URLs first (they are what the user gave), then every live node not among them."""
        live = [node_url(n, self.scheme) for n in node_names]
        with self._lock:
            self._nodes = tuple(dict.fromkeys([*self.configured, *live]))
            self._refreshed_at = time.monotonic()

    def refreshing(self) -> None:
        """A refresh is under way: not due again until LIVE_NODES_REFRESH_SECONDS from now."""
        self._refreshed_at = time.monotonic()

    def refresh_due(self) -> bool:
        refreshed = self._refreshed_at
        return refreshed is None or time.monotonic() - refreshed >= LIVE_NODES_REFRESH_SECONDS

    def mark_down(self, url: str) -> None:
        with self._lock:
            failures = self._down.get(url, (0.0, 0))[1] + 1
            pause = min(self.down_seconds * 2 ** (failures - 1), MAX_DOWN_SECONDS)
            self._down[url] = (time.monotonic() + pause, failures)

    def mark_up(self, url: str) -> None:
        if url in self._down:
            with self._lock:
                self._down.pop(url, None)

    def order(self) -> list[str]:
        """The nodes to try for one request: the next in turn first; nodes set aside come last,
        tried only when every other one failed (they may be back early)."""
        nodes = self._nodes
        start = next(self._turn) % len(nodes)
        turn = nodes[start:] + nodes[:start]
        now = time.monotonic()
        down = self._down
        up = [u for u in turn if u not in down or down[u][0] <= now]
        return up + [u for u in turn if u not in up]

    def call(self, attempt: Callable[[str], T], *, failover: tuple[type[BaseException], ...]) -> T:
        """attempt(base_url) on one node after the other until one does not raise `failover`
        (a connection that could not be made). Any other outcome, HTTP errors included, is the answer."""
        tried: list[str] = []
        last: BaseException | None = None
        for url in self.order():
            try:
                result = attempt(url)
            except failover as exc:
                self.mark_down(url)
                tried.append(url)
                last = exc
                continue
            self.mark_up(url)
            return result
        # URLs here never carry credentials: EngineConfig strips them into username/password.
        raise EngineUnavailable(self.engine, ", ".join(tried), type(last).__name__ if last else None) from last
