#!/usr/bin/env python3
"""Start, stop and check the local Elasticsearch, OpenSearch and Solr servers (no Docker).

    python3 servers/manage.py up [ENGINE ...]      # prepare (first run downloads from Maven Central) and start
    python3 servers/manage.py down [ENGINE ...]
    python3 servers/manage.py status [ENGINE ...]
    python3 servers/manage.py restart ENGINE

Stdlib only, so it runs before the project is installed. Each engine's folder holds prepare.sh and
run.sh (see servers/CONTRACT.md). Runtime files live in $NEURAL_SEARCH_ENGINES_DIR
(default /var/tmp/neural-search-engines): <engine>/home, <engine>/data, <engine>/<engine>.log,
<engine>/pid. Starting twice is harmless; a port held by something else, or an engine that dies
or does not get ready, is reported with the last lines of its log and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SERVERS = Path(__file__).resolve().parent


def _registry():
    """neural_search/registry.py, loaded by path: it is stdlib-only, and loading it this way needs
    neither the package installed nor its dependencies (importing `neural_search` would)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_neural_search_registry", SERVERS.parent / "neural_search" / "registry.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


_REGISTRY = _registry()
ENGINES = _REGISTRY.SERVER_ENGINES
DEFAULT_PORTS = _REGISTRY.DEFAULT_PORTS
READY_PATHS = {
    "elasticsearch": "/_cluster/health?wait_for_status=yellow&timeout=1s",
    "opensearch": "/_cluster/health?wait_for_status=yellow&timeout=1s",
    "solr": "/solr/admin/info/system?wt=json",
}


def runtime_dir() -> Path:
    return Path(os.environ.get("NEURAL_SEARCH_ENGINES_DIR", "/var/tmp/neural-search-engines"))


@dataclass
class Engine:
    name: str

    @property
    def label(self) -> str:
        return self.name

    @property
    def port(self) -> int:
        return int(os.environ.get(f"NEURAL_SEARCH_{self.name.upper()}_PORT", DEFAULT_PORTS[self.name]))

    @property
    def heap(self) -> str:
        return os.environ.get(f"NEURAL_SEARCH_{self.name.upper()}_HEAP", "512m")

    @property
    def base(self) -> Path:
        return runtime_dir() / self.name

    @property
    def log(self) -> Path:
        return self.base / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.base / "pid"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{_REGISTRY.SPECS[self.name].url_path}"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        try:  # a killed JVM nobody has reaped yet still passes kill(pid, 0)
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return None
        except (OSError, IndexError):
            pass
        return pid

    def get(self, path: str, timeout: float = 3.0):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as response:
            return json.loads(response.read())

    def ready(self) -> bool:
        try:
            self.get(READY_PATHS[self.name])
            return True
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def port_taken(self) -> bool:
        return port_in_use(self.port)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log yet)"

    def version(self) -> str:
        try:
            if self.name == "solr":
                return self.get("/solr/admin/info/system?wt=json")["lucene"]["solr-spec-version"]
            return self.get("/")["version"]["number"]
        except Exception as exc:  # noqa: BLE001 - status reports, never raises
            return f"unknown ({type(exc).__name__})"

    def plugins(self) -> list[str]:
        """The engine's plugins: what Elasticsearch/OpenSearch report, and for Solr the
        neural-search plugin jars on the launcher's classpath (Solr has no plugin list)."""
        if self.name == "solr":
            return sorted(p.name[: -len(".jar")] for p in (self.base / "home" / "lib").glob("neural-search-solr-*.jar"))
        try:
            rows = self.get("/_cat/plugins?format=json")
            return sorted({f"{row['component']} {row.get('version', '')}".strip() for row in rows})
        except Exception:  # noqa: BLE001
            return []


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class EngineError(RuntimeError):
    pass


def prepare(engine: Engine) -> None:
    home = engine.base / "home"
    engine.base.mkdir(parents=True, exist_ok=True)
    print(f"[{engine.name}] preparing {home} (the first run downloads from Maven Central)", flush=True)
    result = subprocess.run(["bash", str(SERVERS / engine.name / "prepare.sh"), str(home)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise EngineError(f"[{engine.name}] prepare.sh failed (exit {result.returncode}):\n{result.stdout[-4000:]}")


def launch(engine: Engine) -> subprocess.Popen | None:
    pid = engine.pid()
    if pid and engine.ready():
        print(f"[{engine.name}] already running (pid {pid}) at {engine.url}")
        return None
    if pid:
        print(f"[{engine.name}] pid {pid} is running but not ready yet; waiting for it")
        return None
    if engine.port_taken():
        raise EngineError(
            f"[{engine.name}] port {engine.port} is already in use by another process; stop it, or choose another port "
            f"with NEURAL_SEARCH_{engine.name.upper()}_PORT (and point NEURAL_SEARCH_{engine.name.upper()}_URL at it)"
        )
    prepare(engine)
    data = engine.base / "data"
    data.mkdir(parents=True, exist_ok=True)
    with open(engine.log, "ab") as log:
        log.write(f"\n===== neural-search: starting {engine.name} at {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
        log.flush()
        process = subprocess.Popen(
            ["bash", str(SERVERS / engine.name / "run.sh"), str(engine.base / "home"), str(data), str(engine.port), engine.heap],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    engine.pid_file.write_text(str(process.pid))
    print(f"[{engine.name}] started pid {process.pid}, heap {engine.heap}, log {engine.log}", flush=True)
    return process


def wait_ready(engine: Engine, process: subprocess.Popen | None, timeout: float, started: float) -> float:
    while time.monotonic() - started < timeout:
        if engine.ready():
            return time.monotonic() - started
        if process is not None and process.poll() is not None:
            raise EngineError(f"[{engine.name}] exited with code {process.returncode} before it was ready. Last lines of {engine.log}:\n{engine.log_tail()}")
        if process is None and engine.pid() is None:
            raise EngineError(f"[{engine.name}] is not running any more. Last lines of {engine.log}:\n{engine.log_tail()}")
        time.sleep(1)
    raise EngineError(f"[{engine.name}] not ready after {timeout:.0f} s at {engine.url}. Last lines of {engine.log}:\n{engine.log_tail()}")


def up(engines: list[Engine], timeout: float) -> int:
    failures = []
    launched: list[tuple[Engine, subprocess.Popen | None, float]] = []
    for engine in engines:
        started = time.monotonic()
        try:
            launched.append((engine, launch(engine), started))
        except EngineError as exc:
            failures.append(str(exc))
    for engine, process, started in launched:
        try:
            seconds = wait_ready(engine, process, timeout, started)
            print(f"[{engine.name}] ready at {engine.url} ({seconds:.1f} s)", flush=True)
        except EngineError as exc:
            failures.append(str(exc))
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


def stop(engine: Engine, grace: float = 60.0) -> None:
    stop_all([engine], grace)


def stop_all(engines: list, grace: float = 60.0) -> None:
    """SIGTERM to every engine (or cluster node) first, then one wait for all of them: stopping
    one at a time takes as long as all of their shutdowns added up. Past `grace`, SIGKILL to the
    process group (each was started in a session of its own: the launcher and its JVM)."""
    signalled = []
    for engine in engines:
        pid = engine.pid()
        if pid is None:
            print(f"[{engine.label}] not running")
            engine.pid_file.unlink(missing_ok=True)
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        signalled.append((engine, pid))
    deadline = time.monotonic() + grace
    while signalled and time.monotonic() < deadline and any(e.pid() for e, _ in signalled):
        time.sleep(0.5)
    for engine, pid in signalled:
        if engine.pid() is not None:
            print(f"[{engine.label}] did not stop in {grace:.0f} s; killing pid {pid}")
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            except PermissionError:
                os.kill(pid, signal.SIGKILL)
            time.sleep(1)
        engine.pid_file.unlink(missing_ok=True)
        print(f"[{engine.label}] stopped")


def status(engines: list[Engine]) -> int:
    down = 0
    for engine in engines:
        pid = engine.pid()
        if engine.ready():
            extra = f"  plugins: {', '.join(engine.plugins()) or '(none)'}"
            print(f"{engine.name:<14} up    {engine.url:<32} version {engine.version()}  pid {pid or '?'}{extra}")
        else:
            down += 1
            state = f"starting (pid {pid})" if pid else "down"
            print(f"{engine.name:<14} {state:<5} {engine.url:<32} log {engine.log}")
    return 1 if down else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "down", "status", "restart"))
    parser.add_argument("engines", nargs="*", choices=[[], *ENGINES], default=[], metavar="ENGINE")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("NEURAL_SEARCH_ENGINES_TIMEOUT", 600)))
    args = parser.parse_args(argv)
    engines = [Engine(name) for name in (args.engines or ENGINES)]
    if args.command == "up":
        return up(engines, args.timeout)
    if args.command == "down":
        for engine in engines:
            stop(engine)
        return 0
    if args.command == "restart":
        for engine in engines:
            stop(engine)
        return up(engines, args.timeout)
    return status(engines)


if __name__ == "__main__":
    sys.exit(main())
