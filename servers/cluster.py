#!/usr/bin/env python3
"""Start, stop and check local multi-node clusters of Elasticsearch, OpenSearch and SolrCloud (no Docker).

    python3 servers/cluster.py up [ENGINE ...] [--node N]      # prepare the homes if needed, start, wait
    python3 servers/cluster.py down [ENGINE ...] [--node N]
    python3 servers/cluster.py status [ENGINE ...]
    python3 servers/cluster.py restart [ENGINE ...] [--node N]

Layout: Elasticsearch 3 nodes (HTTP 9220-9222, transport 9420-9422), OpenSearch 3 nodes (HTTP
9230-9232, transport 9430-9432), all master-eligible data nodes; SolrCloud 2 nodes (HTTP 8990-8991,
/solr), node 1 running the embedded ZooKeeper on 127.0.0.1:9990. The HTTP ports are in
neural_search/registry.py (CLUSTER_PORTS, cluster_urls). Everything binds 127.0.0.1.

The nodes run from the single-node engines' prepared homes ($NEURAL_SEARCH_ENGINES_DIR/<engine>/home,
made by servers/manage.py) with per-node settings on run.sh's command line (servers/CONTRACT.md);
each node keeps its data, logs, tmp, pid and log file in $NEURAL_SEARCH_ENGINES_DIR/cluster/<engine>/node<N>/.
The single-node engines (9200, 9201, 8983) are untouched and can run beside the clusters.

--node N acts on node N only (1-based): `down elasticsearch --node 2` simulates losing a node,
`up elasticsearch --node 2` brings it back. Heap per node: NEURAL_SEARCH_CLUSTER_<ENGINE>_HEAP, else
NEURAL_SEARCH_CLUSTER_HEAP, else 512m. Starting twice is harmless.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import manage  # noqa: E402 - the single-node manager: runtime dir, prepare(), Engine helpers

REGISTRY = manage._REGISTRY
CLUSTER_PORTS: dict[str, tuple[int, ...]] = REGISTRY.CLUSTER_PORTS
ENGINES = tuple(CLUSTER_PORTS)
CLUSTER_NAME = REGISTRY.CLUSTER_NAME
# Transport ports away from the single nodes' (Elasticsearch 9310-9319, OpenSearch 9311).
TRANSPORT_PORTS = {"elasticsearch": (9420, 9421, 9422), "opensearch": (9430, 9431, 9432)}
NODE_PREFIX = {"elasticsearch": "es-node", "opensearch": "os-node", "solr": "solr-node"}
# Solr's embedded ZooKeeper listens at the port of the node running it + 1000.
ZK_PORT = CLUSTER_PORTS["solr"][0] + 1000
ZK_HOST = f"127.0.0.1:{ZK_PORT}"
STOP_GRACE = 60.0


def heap(engine: str) -> str:
    return os.environ.get(f"NEURAL_SEARCH_CLUSTER_{engine.upper()}_HEAP") or os.environ.get("NEURAL_SEARCH_CLUSTER_HEAP") or "512m"


@dataclass
class Node(manage.Engine):
    """Node `index` (1-based) of `name`'s cluster; manage.Engine supplies pid(), get(), port_taken(), log_tail()."""

    index: int = 1

    @property
    def port(self) -> int:
        return CLUSTER_PORTS[self.name][self.index - 1]

    @property
    def transport_port(self) -> int | None:
        if self.name == "solr":
            return ZK_PORT if self.index == 1 else None
        return TRANSPORT_PORTS[self.name][self.index - 1]

    @property
    def heap(self) -> str:
        return heap(self.name)

    @property
    def base(self) -> Path:
        return manage.runtime_dir() / "cluster" / self.name / f"node{self.index}"

    @property
    def home(self) -> Path:
        return manage.Engine(self.name).base / "home"

    @property
    def url(self) -> str:
        return REGISTRY.cluster_urls(self.name)[self.index - 1]

    @property
    def label(self) -> str:
        return f"{self.name} node{self.index}"

    @property
    def node_name(self) -> str:
        return f"{NODE_PREFIX[self.name]}{self.index}"

    def answers(self) -> bool:
        """HTTP answers at all (the node may not have joined a cluster yet)."""
        path = "/solr/admin/info/system?wt=json" if self.name == "solr" else "/"
        try:
            self.get(path, timeout=5.0)
            return True
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def run_args(self) -> tuple[list[str], dict[str, str]]:
        """run.sh's extra arguments and environment for this node (servers/CONTRACT.md)."""
        data = self.base / "data"
        env = dict(os.environ)
        if self.name == "solr":
            return (["zkRun"] if self.index == 1 else [f"zkHost={ZK_HOST}"]), env
        count = len(CLUSTER_PORTS[self.name])
        names = ",".join(f"{NODE_PREFIX[self.name]}{i}" for i in range(1, count + 1))
        seeds = ",".join(f"127.0.0.1:{port}" for port in TRANSPORT_PORTS[self.name])
        args = [f"cluster.name={CLUSTER_NAME}", f"node.name={self.node_name}", f"discovery.seed_hosts={seeds}"]
        # Bootstrapping settings only for a node that has never joined: both engines warn about
        # them on nodes that already belong to a cluster.
        fresh = not any(data.iterdir()) if data.is_dir() else True
        if self.name == "elasticsearch":
            args += ["discovery.type=multi-node", f"transport.port={self.transport_port}", f"path.logs={self.base / 'logs'}"]
            if fresh:
                args.append(f"cluster.initial_master_nodes={names}")
            env["NEURAL_SEARCH_ELASTICSEARCH_TMPDIR"] = str(self.base / "tmp")
        else:
            # 2-core machine: without it each node sizes its thread pools for every core.
            args += ["discovery.type=zen", "node.processors=1"]
            if fresh:
                args.append(f"cluster.initial_cluster_manager_nodes={names}")
            # OpenSearch's run.sh reads the transport port from here, and puts logs and tmp
            # next to DATA_DIR, i.e. already per node.
            env["NEURAL_SEARCH_OPENSEARCH_TRANSPORT_PORT"] = str(self.transport_port)
        return args, env


def nodes_of(engine: str, only: int | None = None) -> list[Node]:
    indexes = [only] if only else range(1, len(CLUSTER_PORTS[engine]) + 1)
    return [Node(engine, index=i) for i in indexes]


def rss_mib(pid: int) -> float | None:
    """Resident memory of pid and its descendants: Elasticsearch's pid is its launcher JVM, which
    runs the server JVM as a child, so the process alone would under-report."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            if current == pid:
                return None
        todo.extend(children.get(current, []))
    return total / 1024


class ClusterError(manage.EngineError):
    pass


def ensure_home(engine: str) -> None:
    """manage.prepare() unless something runs from the home: prepare.sh rebuilds a stale home in
    place, which would pull the files from under a running single node or cluster node."""
    single = manage.Engine(engine)
    running = [n.label for n in nodes_of(engine) if n.pid()] + (["the single node"] if single.pid() else [])
    if not running:
        manage.prepare(single)
        return
    if not (single.base / "home" / ".prepared").is_file():
        raise ClusterError(f"[{engine}] {single.base / 'home'} is not prepared, yet {', '.join(running)} runs; stop it and run `python3 servers/manage.py up {engine}` once")


def launch(node: Node) -> subprocess.Popen | None:
    pid = node.pid()
    if pid:
        print(f"[{node.label}] already running (pid {pid}) at {node.url}", flush=True)
        return None
    for port in (node.port, node.transport_port):
        if port and manage.port_in_use(port):
            raise ClusterError(f"[{node.label}] port {port} is already in use by another process; stop that process (e.g. `ss -ltnp | grep {port}`) and run up again")
    args, env = node.run_args()
    data = node.base / "data"
    data.mkdir(parents=True, exist_ok=True)
    with open(node.log, "ab") as log:
        log.write(f"\n===== neural-search: starting {node.label} at {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
        log.flush()
        process = subprocess.Popen(
            ["bash", str(manage.SERVERS / node.name / "run.sh"), str(node.home), str(data), str(node.port), node.heap, *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )
    node.pid_file.write_text(str(process.pid))
    print(f"[{node.label}] started pid {process.pid} on {node.url}, heap {node.heap}, log {node.log}", flush=True)
    return process


def check_alive(node: Node, process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is not None:
        raise ClusterError(f"[{node.label}] exited with code {process.returncode} before the cluster was ready. Last lines of {node.log}:\n{node.log_tail()}")
    if process is None and node.pid() is None:
        raise ClusterError(f"[{node.label}] is not running any more. Last lines of {node.log}:\n{node.log_tail()}")


def cluster_state(engine: str, via: list[Node]) -> dict | None:
    """{'status', 'nodes', 'names'} as the first answering node sees the cluster; None if none answers."""
    for node in via:
        try:
            if engine == "solr":
                status = node.get("/solr/admin/collections?action=CLUSTERSTATUS&wt=json", timeout=5.0)
                cluster = status.get("cluster", {})
                live = sorted(cluster.get("live_nodes", []))
                # Solr's counterpart of green: every replica on a live node is active (a node
                # that has just come back is in live_nodes while its replicas still recover).
                replicas = [r for c in cluster.get("collections", {}).values() for sh in c.get("shards", {}).values() for r in sh.get("replicas", {}).values()]
                recovering = sum(1 for r in replicas if r.get("node_name") in live and r.get("state") != "active")
                return {"status": f"{recovering} replica(s) recovering" if recovering else "replicas on live nodes active", "nodes": len(live),
                        "names": live, "collections": len(cluster.get("collections", {})), "recovering": recovering}
            health = node.get("/_cluster/health", timeout=5.0)
            return {"status": health["status"], "nodes": health["number_of_nodes"], "names": []}
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            continue
    return None


def ready(engine: str, expected: list[Node]) -> bool:
    state = cluster_state(engine, expected)
    if state is None:
        return False
    if engine == "solr":
        # live_nodes keeps a killed node until its ZooKeeper session expires, so ask each node too.
        registered = {f"127.0.0.1:{n.port}_solr" for n in expected} <= set(state["names"])
        return registered and not state["recovering"] and all(n.answers() for n in expected)
    return state["nodes"] >= len(expected) and state["status"] == "green"


def wait_for_zookeeper(node1: Node, process: subprocess.Popen | None, timeout: float) -> None:
    """Solr node 2 gives up when ZooKeeper does not answer within its connect timeout, so it is
    started only once node 1's embedded ZooKeeper listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if manage.port_in_use(ZK_PORT):
            return
        if node1.pid() is None and process is None:
            raise ClusterError(f"[solr node2] needs the ZooKeeper at {ZK_HOST}, which runs inside solr node1, and node1 is down; start it first: python3 servers/cluster.py up solr --node 1")
        check_alive(node1, process)
        time.sleep(0.5)
    raise ClusterError(f"[solr node1] its ZooKeeper did not listen on {ZK_HOST} within {timeout:.0f} s. Last lines of {node1.log}:\n{node1.log_tail()}")


def wait_for_stale_live_node(node: Node, node1: Node, process: subprocess.Popen | None, timeout: float) -> None:
    """A Solr node that lost ZooKeeper before it stopped (killed, or stopped after node 1) leaves
    its ephemeral live_nodes entry behind until its session expires (zkClientTimeout, 30 s); a
    node started meanwhile halts with NodeExistsException. So node 2 waits for that entry to go."""
    entry = f"127.0.0.1:{node.port}_solr"
    deadline = time.monotonic() + timeout
    noted = False
    while time.monotonic() < deadline:
        state = cluster_state("solr", [node1])
        if state is not None and entry not in state["names"]:
            return
        if state is not None and not noted:
            print(f"[{node.label}] waiting for its previous ZooKeeper session to expire (up to 30 s) before starting", flush=True)
            noted = True
        check_alive(node1, process)
        time.sleep(1)
    raise ClusterError(f"[{node.label}] {entry} still registered in ZooKeeper {ZK_HOST} after {timeout:.0f} s (or solr node1 does not answer at {node1.url}). Last lines of {node1.log}:\n{node1.log_tail()}")


def wait_for_keystore(first: Node, process: subprocess.Popen | None, timeout: float = 120.0) -> None:
    """A home that never ran has no config/elasticsearch.keystore; each node's launcher creates it
    at start, so on such a home the first node goes alone until the file exists (concurrent
    writers of one keystore could leave it half-written)."""
    keystore = first.home / "config" / "elasticsearch.keystore"
    deadline = time.monotonic() + timeout
    while not keystore.exists():
        check_alive(first, process)
        if time.monotonic() > deadline:
            raise ClusterError(f"[{first.label}] did not create {keystore} within {timeout:.0f} s. Last lines of {first.log}:\n{first.log_tail()}")
        time.sleep(0.5)


def up(engines: list[str], only: int | None, timeout: float) -> int:
    failures: list[str] = []

    def fail(message: str) -> None:  # shown at once: other clusters may take minutes more
        if message not in failures:
            failures.append(message)
            print(message, file=sys.stderr, flush=True)

    started = time.monotonic()
    launched: dict[str, list[tuple[Node, subprocess.Popen | None]]] = {}
    for engine in engines:
        try:
            ensure_home(engine)
            launched[engine] = []
        except manage.EngineError as exc:
            fail(str(exc))
    # Solr last: its node 2 waits for node 1's ZooKeeper while the other JVMs already boot.
    for engine in sorted(launched, key=lambda e: e == "solr"):
        for node in nodes_of(engine, only):
            try:
                if engine == "solr" and node.index == 2 and node.pid() is None:
                    node1 = next(((n, p) for n, p in launched["solr"] if n.index == 1), (Node("solr", index=1), None))
                    wait_for_zookeeper(*node1, timeout)
                    wait_for_stale_live_node(node, *node1, timeout)
                if engine == "elasticsearch" and launched[engine] and node.pid() is None:
                    wait_for_keystore(*launched[engine][0])
                launched[engine].append((node, launch(node)))
            except ClusterError as exc:
                fail(str(exc))
    # Polled together, so each cluster's time is its own and not the sum of those before it.
    pending = {engine: members for engine, members in launched.items() if members}
    while pending:
        for engine in list(pending):
            members = pending[engine]
            # What the cluster should look like: every node now running, not only those started here.
            expected = [n for n in nodes_of(engine) if n.pid()]
            try:
                if expected and ready(engine, expected):
                    state = cluster_state(engine, expected)
                    print(f"[{engine}] cluster ready in {time.monotonic() - started:.1f} s: {state['nodes']} node(s), "
                          f"{state['status']}: {' '.join(n.url for n in expected)}", flush=True)
                    del pending[engine]
                    continue
                for node, process in members:
                    check_alive(node, process)
                if time.monotonic() - started > timeout:
                    raise not_ready(engine, expected or [n for n, _ in members], timeout)
            except ClusterError as exc:
                fail(str(exc))
                del pending[engine]
        if pending:
            time.sleep(1)
    return 1 if failures else 0


def not_ready(engine: str, expected: list[Node], timeout: float) -> ClusterError:
    state = cluster_state(engine, expected)
    seen = "no node answers" if state is None else f"{state['nodes']} node(s), status {state['status']}"
    silent = [n for n in expected if not n.answers()]
    worst = (silent or expected)[0]
    hint = ""
    if engine != "solr" and len(expected) < 2:
        hint = f" (a {len(CLUSTER_PORTS[engine])}-node cluster needs 2 master-eligible nodes up to elect a master: start another with --node)"
    return ClusterError(
        f"[{engine}] cluster not ready after {timeout:.0f} s: expected {len(expected)} node(s)"
        f"{'' if engine == 'solr' else ' and green'}, saw {seen}{hint}. Last lines of {worst.log}:\n{worst.log_tail()}"
    )


def down(engines: list[str], only: int | None) -> int:
    # Solr node 1 holds the ZooKeeper: it stops after the other Solr nodes, which then still reach
    # ZooKeeper to remove their live_nodes entries (left behind, they block the next start).
    zk_node = [n for n in nodes_of("solr", only) if n.index == 1] if "solr" in engines else []
    rest = [n for e in engines for n in nodes_of(e, only) if n not in zk_node]
    stop_all(rest)
    stop_all(zk_node)
    return 0


def stop_all(nodes: list[Node]) -> None:
    manage.stop_all(nodes, STOP_GRACE)


def status(engines: list[str]) -> int:
    down_count = 0
    for engine in engines:
        nodes = nodes_of(engine)
        for node in nodes:
            pid = node.pid()
            rss = rss_mib(pid) if pid else None
            mem = f"rss {rss:.0f} MiB" if rss is not None else "rss ?"
            if node.answers():
                print(f"{node.label:<20} up    {node.url:<28} pid {pid or '?':<8} {mem}")
            else:
                down_count += 1
                state = f"starting (pid {pid}, {mem})" if pid else "down"
                print(f"{node.label:<20} {state:<5} {node.url:<28} log {node.log}")
        state = cluster_state(engine, nodes)
        if state is None:
            print(f"{engine + ' cluster':<20} down  (no node answers)")
        elif engine == "solr":
            print(f"{engine + ' cluster':<20} {state['nodes']}/{len(nodes)} live nodes in ZooKeeper {ZK_HOST}, {state['collections']} collection(s), {state['status']}")
        else:
            print(f"{engine + ' cluster':<20} {state['status']}, {state['nodes']}/{len(nodes)} nodes ({CLUSTER_NAME})")
    return 1 if down_count else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "down", "status", "restart"))
    parser.add_argument("engines", nargs="*", choices=[[], *ENGINES], default=[], metavar="ENGINE")
    parser.add_argument("--node", type=int, metavar="N", help="act on node N (1-based) of each ENGINE only")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("NEURAL_SEARCH_CLUSTER_TIMEOUT", 300)),
                        help="seconds to wait for a cluster to be ready (default 300, or $NEURAL_SEARCH_CLUSTER_TIMEOUT)")
    args = parser.parse_args(argv)
    engines = list(dict.fromkeys(args.engines or ENGINES))
    if args.node is not None:
        if args.command == "status":
            parser.error("--node is for up, down and restart; status always shows every node")
        for engine in engines:
            count = len(CLUSTER_PORTS[engine])
            if not 1 <= args.node <= count:
                parser.error(f"--node {args.node}: the {engine} cluster has nodes 1..{count}")
    if args.command == "up":
        return up(engines, args.node, args.timeout)
    if args.command == "down":
        return down(engines, args.node)
    if args.command == "restart":
        down(engines, args.node)
        return up(engines, args.node, args.timeout)
    return status(engines)


if __name__ == "__main__":
    sys.exit(main())
