"""SolrCloud administration for the Solr adapter: the configset in ZooKeeper, collections, aliases.

In SolrCloud a logical name is a collection alias and a rebuild re-points it (CREATEALIAS), as
on Elasticsearch; the model fingerprint and the layout are collection properties given at CREATE,
which Solr writes into every replica's core properties, so the configset's `/neural-search/meta`
handler answers them from any replica, also through the alias.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from importlib.resources import files
from typing import Any, Callable

from ..errors import ConfigurationError, IndexNotFound
from .base import IndexLayout

CONFIGSET_PREFIX = "neural_search"
ACTIVE_WAIT_SECONDS = 120.0
# CREATE, DELETE and RELOAD wait for every replica; they can take far longer than a search.
ADMIN_TIMEOUT_SECONDS = 180.0


def configset_files() -> dict[str, bytes]:
    """The configset's files (path inside conf/ -> content), from the package data."""
    conf = files("neural_search").joinpath("mappings", "solr", "neural_search", "conf")
    found: dict[str, bytes] = {}

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.is_file():
                found[prefix + child.name] = child.read_bytes()

    if not conf.is_dir():
        raise ConfigurationError(f"the Solr configset is missing from the installed package ({conf}); reinstall neural-search")
    walk(conf, "")
    return found


def configset_name(contents: dict[str, bytes]) -> str:
    """`neural_search-<digest>`: a name that changes with the configset's content.

    A configset in ZooKeeper is shared by every collection created from it, and a collection
    rereads it at each reload or restart. Uploading a changed configset over the old name would
    change live collections behind their back (a schema that no longer matches their index);
    leaving the old one would silently build new collections with an outdated configuration. A
    content-addressed name avoids both: a new collection gets exactly the configset of the client
    that created it, existing ones keep theirs. The price, a few KB per version left in ZooKeeper."""
    digest = hashlib.sha256()
    for path in sorted(contents):
        digest.update(path.encode() + b"\0" + hashlib.sha256(contents[path]).digest())
    return f"{CONFIGSET_PREFIX}-{digest.hexdigest()[:10]}"


def configset_zip(contents: dict[str, bytes]) -> bytes:
    # The Configsets API wants the files at the root of the zip, not inside conf/.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(contents):
            archive.writestr(path, contents[path])
    return buffer.getvalue()


class SolrCloudAdmin:
    """Collections/Configsets API calls. `request(method, path, **kwargs)` is the store's request
    function (node failover, error mapping); `request_at(base, ...)` targets one node."""

    def __init__(self, request: Callable[..., dict], request_at: Callable[..., dict]):
        self._request = request
        self._request_at = request_at
        self._configset: str | None = None

    def _collections(self, action: str, *, timeout: float | None = None, **params) -> dict:
        return self._request("GET", "/admin/collections", params={"action": action, **params}, timeout=timeout)

    # -- cluster ------------------------------------------------------------------------------
    def live_nodes(self) -> list[str]:
        body = self._collections("CLUSTERSTATUS", includeAll="false", liveNodes="true")
        return list((body.get("cluster") or {}).get("live_nodes") or [])

    def collections(self) -> set[str]:
        return set(self._collections("LIST").get("collections") or [])

    def aliases(self) -> dict[str, str]:
        return dict(self._collections("LISTALIASES").get("aliases") or {})

    def state(self, collection: str) -> dict:
        """The collection's entry in CLUSTERSTATUS (shards, replicas, properties)."""
        if collection not in self.collections():
            raise IndexNotFound("solr", collection)
        body = self._collections("CLUSTERSTATUS", collection=collection)
        state = ((body.get("cluster") or {}).get("collections") or {}).get(collection)
        if state is None:
            raise IndexNotFound("solr", collection)
        return state

    # -- configset ----------------------------------------------------------------------------
    def ensure_configset(self) -> str:
        if self._configset is None:
            contents = configset_files()
            name = configset_name(contents)
            if name not in self._configsets():
                try:
                    self._request(
                        "POST", "/admin/configs", params={"action": "UPLOAD", "name": name}, content=configset_zip(contents),
                        content_type="application/octet-stream",
                    )
                except Exception:
                    # Another client may have uploaded the same content a moment earlier.
                    if name not in self._configsets():
                        raise
            self._configset = name
        return self._configset

    def _configsets(self) -> set[str]:
        return set(self._request("GET", "/admin/configs", params={"action": "LIST"}).get("configSets") or [])

    # -- collections --------------------------------------------------------------------------
    def create(self, collection: str, *, layout: IndexLayout, properties: dict[str, str]) -> None:
        if collection in self.collections():
            raise ConfigurationError(f"a SolrCloud collection named {collection!r} already exists")
        params: dict[str, Any] = {
            "name": collection,
            "numShards": layout.shards,
            "collection.configName": self.ensure_configset(),
            "waitForFinalState": "true",
            **{f"property.{key}": value for key, value in properties.items()},
        }
        if layout.replicas is not None:
            params["replicationFactor"] = layout.replicas + 1
        self._collections("CREATE", timeout=ADMIN_TIMEOUT_SECONDS, **params)
        self.wait_active(collection)

    def wait_active(self, collection: str, timeout: float = ACTIVE_WAIT_SECONDS) -> None:
        """Until every replica of every shard is active on a live node: before that, updates to a
        shard may fail with 503 and searches may miss it."""
        deadline = time.monotonic() + timeout
        while True:
            body = self._collections("CLUSTERSTATUS", collection=collection)
            cluster = body.get("cluster") or {}
            state = (cluster.get("collections") or {}).get(collection) or {}
            live = set(cluster.get("live_nodes") or [])
            waiting = [
                replica.get("core", name)
                for shard in (state.get("shards") or {}).values() if shard.get("state") == "active"
                for name, replica in (shard.get("replicas") or {}).items()
                if replica.get("state") != "active" or replica.get("node_name") not in live
            ]
            if state.get("shards") and not waiting:
                return
            if time.monotonic() > deadline:
                raise ConfigurationError(
                    f"SolrCloud collection {collection!r} was created, but replicas {waiting} were not active after {timeout:.0f} s; "
                    f"check the Solr logs (Admin UI > Cloud) and drop or repair the collection"
                )
            time.sleep(0.5)

    def delete(self, collection: str) -> None:
        """Deletes the collection and the aliases that point at it only (SolrCloud refuses to delete
        a collection an alias names; Elasticsearch drops an index's aliases with it, and so do we)."""
        if collection not in self.collections():
            return
        for alias, target in self.aliases().items():
            if target == collection:
                self._collections("DELETEALIAS", timeout=ADMIN_TIMEOUT_SECONDS, name=alias)
        self._collections("DELETE", timeout=ADMIN_TIMEOUT_SECONDS, name=collection)

    def reload(self, collection: str) -> None:
        self._collections("RELOAD", timeout=ADMIN_TIMEOUT_SECONDS, name=collection)

    def layout(self, collection: str) -> IndexLayout:
        shards = [s for s in (self.state(collection).get("shards") or {}).values() if s.get("state") == "active"]
        if not shards:
            raise IndexNotFound("solr", collection)
        # Copies besides the leader; shards can differ after ADDREPLICA/DELETEREPLICA, the fewest is what is guaranteed.
        replicas = min(len(s.get("replicas") or {}) for s in shards) - 1
        return IndexLayout(len(shards), max(replicas, 0))

    def size_bytes(self, collection: str) -> int:
        """One copy of each shard: the leaders' index sizes (like Elasticsearch's primaries)."""
        total = 0
        for shard in (self.state(collection).get("shards") or {}).values():
            if shard.get("state") != "active":
                continue
            replicas = list((shard.get("replicas") or {}).values())
            leader = next((r for r in replicas if r.get("leader") == "true"), replicas[0] if replicas else None)
            if leader is None:
                continue
            status = self._request_at(leader["base_url"], "GET", "/admin/cores", params={"action": "STATUS", "core": leader["core"]})
            total += int(((status.get("status") or {}).get(leader["core"]) or {}).get("index", {}).get("sizeInBytes", 0))
        return total

    # -- aliases ------------------------------------------------------------------------------
    def resolve(self, name: str) -> str | None:
        target = self.aliases().get(name)
        if target is not None:
            collections = [c for c in target.split(",") if c]
            if len(collections) != 1:
                raise ConfigurationError(f"SolrCloud alias {name!r} points at several collections {collections}; fix it by hand first")
            return collections[0]
        return name if name in self.collections() else None

    def publish(self, name: str, collection: str) -> str | None:
        current = self.aliases().get(name)
        if current is None and name in self.collections():
            raise ConfigurationError(
                f"SolrCloud has a collection named {name!r}, so the name cannot become an alias; "
                f"reindex it under another name or delete that collection"
            )
        if current == collection:
            return None
        # One call re-points an existing alias: searches switch from one collection to the other.
        self._collections("CREATEALIAS", name=name, collections=collection)
        return current

    def serves(self, name: str, collection: str) -> bool:
        return self.aliases().get(name) == collection

    @staticmethod
    def layout_property(layout: IndexLayout) -> str:
        return json.dumps(layout.to_dict(), sort_keys=True, separators=(",", ":"))
