"""Fault injection for the reliability tests: proxies, engine control, and small helpers.

- `TcpProxy`: a threaded TCP proxy on 127.0.0.1 that can add latency, cut every open connection
  (RST), refuse new ones ("down"), or stall (hold all bytes) until told otherwise; optionally
  terminates TLS, so a plain local engine can be reached over https with a test CA.
- `HttpFaultProxy`: an HTTP/1.1 proxy that answers some requests itself (429, 413, 401) before
  forwarding the rest to a real engine, and records what it did.
- `engine_control()`: the `servers/manage.py` Engine class and its stop/up functions, so a test
  can restart the real local engine process (the engines' runtime dir comes from the environment).
- `SecuredSolr`: a second Solr on a free loopback port, from the prepared install, with
  BasicAuthPlugin + RuleBasedAuthorizationPlugin switched on through security.json.

Every proxy listens on 127.0.0.1 only and shuts itself down after `lifetime` seconds, whatever
the test does.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
DEFAULT_LIFETIME = 300.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:.0f} s")


def open_sockets() -> int:
    """Sockets this process holds open right now (Linux: /proc/self/fd), without psutil."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def _split(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80), parts.path.rstrip("/")


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN, as a crashed peer or a dropped route does. SHUT_RD first:
    it wakes a thread blocked in recv() on this socket (close() alone would not, and the kernel
    would keep the connection open for as long as that recv() waits)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()


class _Connection:
    def __init__(self, client: socket.socket, upstream: socket.socket):
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()

    def close(self, reset: bool = False) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            if reset:
                _reset(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()


class TcpProxy:
    """127.0.0.1:<free port> -> upstream. Modes: "pass", "down" (new connections are reset at
    once, like a stopped engine), "stall" (bytes are held in both directions until the mode
    changes, like a hung engine or a black-holed route). `delay` adds latency to every chunk sent
    upstream. `drop_all()` resets every open connection (requests in flight are cut)."""

    def __init__(self, upstream_url: str, *, lifetime: float = DEFAULT_LIFETIME, tls: ssl.SSLContext | None = None):
        self.upstream_host, self.upstream_port, self.path = _split(upstream_url)
        self.tls = tls
        self.mode = "pass"
        self.delay = 0.0
        self.accepted = 0
        self.refused = 0
        self.dropped = 0
        self.bytes_up = 0
        self._conns: set[_Connection] = set()
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + lifetime
        self._stopped = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name=f"tcp-proxy-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{self.path}"

    def _alive(self) -> bool:
        return not self._stopped.is_set() and time.monotonic() < self._deadline

    def _accept_loop(self) -> None:
        try:
            while self._alive():
                try:
                    client, _ = self._listener.accept()
                except socket.timeout:
                    continue
                except OSError:
                    break
                if self.mode == "down":
                    self.refused += 1
                    _reset(client)
                    continue
                self.accepted += 1
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()
        finally:
            self.close()

    def _serve(self, client: socket.socket) -> None:
        try:
            if self.tls is not None:
                client.settimeout(10)
                client = self.tls.wrap_socket(client, server_side=True)
                client.settimeout(None)
            upstream = socket.create_connection((self.upstream_host, self.upstream_port), timeout=10)
            upstream.settimeout(None)
        except OSError:
            _reset(client)
            return
        conn = _Connection(client, upstream)
        with self._lock:
            self._conns.add(conn)
        threading.Thread(target=self._pipe, args=(client, upstream, conn, True), daemon=True).start()
        self._pipe(upstream, client, conn, False)

    def _pipe(self, source: socket.socket, target: socket.socket, conn: _Connection, up: bool) -> None:
        try:
            while self._alive() and not conn.closed.is_set():
                try:
                    data = source.recv(65536)
                except (OSError, ssl.SSLError):
                    break
                if not data:
                    break
                while self.mode == "stall" and self._alive() and not conn.closed.is_set():
                    time.sleep(0.02)
                if up and self.delay:
                    time.sleep(self.delay)
                if conn.closed.is_set():
                    break
                try:
                    target.sendall(data)
                except (OSError, ssl.SSLError):
                    break
                if up:
                    self.bytes_up += len(data)
        finally:
            conn.close()
            with self._lock:
                self._conns.discard(conn)

    def drop_all(self) -> int:
        """Resets every open connection; answers how many were cut."""
        with self._lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            conn.close(reset=True)
        self.dropped += len(conns)
        return len(conns)

    def set_mode(self, mode: str) -> None:
        assert mode in ("pass", "down", "stall"), mode
        self.mode = mode
        if mode == "down":
            self.drop_all()

    def close(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.drop_all()

    def __enter__(self) -> "TcpProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class HttpFaultProxy:
    """An HTTP/1.1 proxy to a real engine. `decide(method, path, headers, body)` answers None to
    forward the request, (status, json_body) to answer it itself, "cut" to reset the connection
    without forwarding, or "cut-after" to forward it and then reset the connection instead of
    answering (the engine applied the request, the client cannot know). Every request is
    recorded in `log` as (method, path, status, body bytes, handled_by_proxy); status 0 is a cut
    before forwarding, -status a cut after the engine answered status."""

    def __init__(
        self,
        upstream_url: str,
        decide: Callable[[str, str, dict, bytes], tuple[int, dict] | str | None] | None = None,
        *,
        lifetime: float = DEFAULT_LIFETIME,
    ):
        self.upstream_host, self.upstream_port, self.path = _split(upstream_url)
        self.decide = decide or (lambda *a: None)
        self.log: list[tuple[str, str, int, int, bool]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 60

            def log_message(self, *args) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    body = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return body
                        body += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                body = self._body()
                headers = {k: v for k, v in self.headers.items()}
                verdict = proxy.decide(self.command, self.path, headers, body)
                if verdict == "cut":
                    # The connection dies before the request reaches the engine.
                    proxy._record(self.command, self.path, 0, len(body), True)
                    self._cut()
                    return
                if verdict is not None and verdict != "cut-after":
                    status, payload = verdict
                    data = json.dumps(payload).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("X-Elastic-Product", "Elasticsearch")
                    if status == 401:
                        self.send_header("WWW-Authenticate", 'Basic realm="neural-search test"')
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                    proxy._record(self.command, self.path, status, len(body), True)
                    return
                forward = {
                    k: v for k, v in headers.items()
                    if k.lower() not in ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "content-length", "host")
                }
                forward["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body if body or self.command in ("POST", "PUT") else None, headers=forward)
                    response = upstream.getresponse()
                    data = response.read()
                    if verdict == "cut-after":
                        # The engine did the work, the client never hears of it.
                        proxy._record(self.command, self.path, -response.status, len(body), True)
                        self._cut()
                        return
                    self.send_response(response.status)
                    for key, value in response.getheaders():
                        if key.lower() not in ("transfer-encoding", "connection", "content-length", "keep-alive", "date", "server"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                    proxy._record(self.command, self.path, response.status, len(body), False)
                finally:
                    upstream.close()

            def _cut(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(lifetime, self.close)
        self._timer.daemon = True
        self._timer.start()
        self._closed = False

    def _record(self, method: str, path: str, status: int, size: int, by_proxy: bool) -> None:
        with self._lock:
            self.log.append((method, path, status, size, by_proxy))

    def answered(self, status: int) -> int:
        """How many requests the proxy itself answered with `status`."""
        with self._lock:
            return sum(1 for entry in self.log if entry[2] == status and entry[4])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "HttpFaultProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def is_bulk(method: str, path: str) -> bool:
    """A document-writing request: Elasticsearch/OpenSearch _bulk, or a Solr update with documents."""
    path = path.split("?")[0]
    return method in ("POST", "PUT") and (path.endswith("/_bulk") or path.endswith("/update"))


# -- watching a run -------------------------------------------------------------------------------


def read_checkpoint(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, ValueError):
        return None


class OnCheckpoint:
    """Calls `action()` once, from a background thread, as soon as the checkpoint at `path`
    records a source position >= `position` (or after `timeout`, then `fired` stays False)."""

    def __init__(self, path: Path, position: int, action: Callable[[], None], *, timeout: float = 240.0):
        self.path, self.position, self.action = Path(path), position, action
        self.fired = False
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._deadline = time.monotonic() + timeout
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            checkpoint = read_checkpoint(self.path)
            if checkpoint and checkpoint.get("position", 0) >= self.position:
                try:
                    self.fired = True
                    self.action()
                except BaseException as exc:  # reported by join()
                    self.error = exc
                return
            time.sleep(0.01)

    def join(self, timeout: float = 300.0) -> None:
        self._thread.join(timeout)
        self._stop.set()
        if self.error is not None:
            raise self.error

    def cancel(self) -> None:
        self._stop.set()


# -- engines ----------------------------------------------------------------------------------------


def engine_control():
    """servers/manage.py as a module (stdlib only; it reads NEURAL_SEARCH_ENGINES_DIR and the
    NEURAL_SEARCH_<ENGINE>_PORT variables, so CI's engines are the ones controlled)."""
    name = "neural_search_servers_manage"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, REPO / "servers" / "manage.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def physical_indexes(store, name: str) -> set[str]:
    """Every physical index (or Solr core) on the engine that belongs to logical name `name`."""
    engine = store.engine
    if engine in ("elasticsearch", "opensearch"):
        found = store.client.indices.get(index=f"{name}*", expand_wildcards="all", ignore_unavailable=True)
        return {i for i in found if i == name or i.startswith(f"{name}__v")}
    if engine == "solr":
        cores = store._admin(action="STATUS").get("status", {})
        return {c for c in cores if c == name or c.startswith(f"{name}__v")}
    root = Path(store.root)
    return {p.name for p in root.iterdir() if p.is_dir() and (p.name == name or p.name.startswith(f"{name}__v"))} if root.exists() else set()


def drop_everything(store, name: str) -> None:
    for physical in physical_indexes(store, name):
        with contextlib.suppress(Exception):
            store.drop(physical)


# -- a second, secured Solr -------------------------------------------------------------------------


def solr_password_hash(password: str, salt: bytes | None = None) -> str:
    """Solr's Sha256AuthenticationProvider format: base64(sha256(sha256(salt + password))) base64(salt)."""
    salt = salt or secrets.token_bytes(32)
    digest = hashlib.sha256(hashlib.sha256(salt + password.encode()).digest()).digest()
    return f"{base64.b64encode(digest).decode()} {base64.b64encode(salt).decode()}"


class SecuredSolr:
    """Solr with authentication on, started from the prepared install of the local Solr
    (servers/solr/run.sh HOME DATA PORT HEAP; DATA is the Solr home, where security.json goes).
    Users: {name: (password, roles)}; role "admin" may do everything, role "reader" may read."""

    def __init__(self, data_dir: Path, users: dict[str, tuple[str, list[str]]], *, heap: str = "256m"):
        manage = engine_control()
        self.home = manage.Engine("solr").base / "home"
        self.data_dir = Path(data_dir)
        self.users = users
        self.heap = heap
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"secured-solr-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/solr"

    def prepared(self) -> bool:
        return (self.home / ".prepared").exists() and (self.home / "lib").is_dir()

    def security_json(self) -> dict:
        return {
            "authentication": {
                "class": "solr.BasicAuthPlugin",
                "blockUnknown": True,
                "forwardCredentials": False,
                "credentials": {user: solr_password_hash(password) for user, (password, _) in self.users.items()},
            },
            "authorization": {
                "class": "solr.RuleBasedAuthorizationPlugin",
                "permissions": [
                    # What searching needs: queries, core status, the engine version (system info).
                    {"name": "read", "role": ["admin", "reader"]},
                    {"name": "core-admin-read", "role": ["admin", "reader"]},
                    {"name": "system-info", "collection": None, "path": "/admin/info/system", "role": ["admin", "reader"]},
                    {"name": "model-fingerprint", "path": "/neural-search/meta", "role": ["admin", "reader"]},
                    {"name": "all", "role": "admin"},
                ],
                "user-role": {user: roles for user, (_, roles) in self.users.items()},
            },
        }

    def start(self, timeout: float = 180.0) -> "SecuredSolr":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "security.json").write_text(json.dumps(self.security_json(), indent=1))
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            ["bash", str(REPO / "servers" / "solr" / "run.sh"), str(self.home), str(self.data_dir), str(self.port), self.heap],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        user, (password, _) = next((u, v) for u, v in self.users.items() if "admin" in v[1])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"secured Solr exited with {self.process.returncode}:\n{self.log_tail()}")
            if self._status(user, password) == 200:
                return self
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"secured Solr not ready on port {self.port} within {timeout:.0f} s:\n{self.log_tail()}")

    def _status(self, user: str | None, password: str | None) -> int | None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        headers = {}
        if user is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        try:
            connection.request("GET", "/solr/admin/info/system?wt=json", headers=headers)
            return connection.getresponse().status
        except OSError:
            return None
        finally:
            connection.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


# -- TLS --------------------------------------------------------------------------------------------


def make_test_ca(directory: Path) -> tuple[Path, Path, Path] | None:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost, made with the openssl
    command. Answers (ca.pem, server.pem, server.key), or None when openssl is not installed."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_pem = directory / "ca.key", directory / "ca.pem"
    key, csr, pem, ext = directory / "server.key", directory / "server.csr", directory / "server.pem", directory / "server.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_pem), "-days", "2", "-subj", "/CN=neural-search test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(pem),
        "-days", "2", "-extfile", str(ext))
    return ca_pem, pem, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    return context
