"""The `neural-search serve` command: its options, and the start-up from options to a listening server.

Like compare, it knows nothing of cli.py: the CLI hands in how to add the engine connection
options, the default state folder and how to open a store from the parsed options.

The server listens before the model has loaded (about 8 s on 2 cores): a thread loads it, /health
says `loading` until then, and a kNN or hybrid search that arrives first waits for it. BM25
searches, /indexes and the page answer at once.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigurationError
from ..profiles import SearchProfile

OpenStore = Callable[[argparse.Namespace, str], Any]

DEFAULT_PORT = 8765
DEMO_INDEX = "demo-films"


def _engines(args: argparse.Namespace) -> list[str]:
    from ..compare.settings import parse_engines

    if args.engines:
        return parse_engines(args.engines)
    return [args.engine]


def _api_key(variable: str | None) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise ConfigurationError(f"--http-api-key-env names {variable}, which is not set (or empty); export it with the key clients must send")
    return value


def ensure_demo_index(store, encoder, *, state_dir: Path, index: str = DEMO_INDEX, say=print) -> None:
    """Builds the demo film index in `store` unless it holds all the films already, indexed by the
    model of the same name (the weights are checked by the first kNN search, which answers 409 if
    they differ); the check costs no model load, so a warm start stays fast."""
    from ..demo import demo_corpus
    from ..indexing import Indexer
    from ..sources import read_jsonl, source_identity

    corpus = demo_corpus()
    total = sum(1 for line in open(corpus, encoding="utf-8") if line.strip())
    physical = store.resolve(index)
    if physical is not None and store.count(physical) == total and (store.get_fingerprint(physical) or {}).get("name") == encoder.model_name:
        return
    say(f"indexing {total} DBpedia film abstracts into {store.engine}:{index} (once; the encoder loads first)")
    summary = Indexer(store, encoder, state_dir=state_dir, batch_size=64, progress=False).run(
        read_jsonl(corpus), name=index, source=source_identity(corpus), recreate=physical is not None
    )
    say(summary.render())


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound here so a busy port is a clear error and port 0 works (the
    kernel's pick is printed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port (0: any free one)") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class BackgroundServer:
    """An app served by uvicorn on a thread of this process, for tests and benchmarks:

        with BackgroundServer(app) as server:
            requests.get(server.url + "/health")
    """

    def __init__(self, app, *, host: str = "127.0.0.1", port: int = 0, access_log: bool = False):
        import uvicorn

        self._sock = listening_socket(host, port)
        # uvicorn's access lines are INFO: its log level has to let them through when they are asked for.
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="info" if access_log else "warning", access_log=access_log))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, name="neural-search-serve", daemon=True)
        host, port = self._sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"

    def __enter__(self) -> "BackgroundServer":
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server thread stopped before it started; its log says why")
            self._thread.join(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


# A worker process of `serve --workers N` rebuilds its app from the parent's command line.
WORKER_ARGV = "NEURAL_SEARCH_SERVE_ARGV"


def _checked(args: argparse.Namespace) -> tuple[list[str], list[str], str | None]:
    """The engines and indexes to serve and the API key, or a ConfigurationError naming the fix."""
    from ..registry import SERVER_ENGINES

    if args.demo:
        if args.engines or args.index:
            raise ConfigurationError("--demo serves the embedded demo-films index; leave out --engines and --index")
        engines, indexes = ["embedded"], [DEMO_INDEX]
    else:
        engines, indexes = _engines(args), list(dict.fromkeys(args.index))
        if not indexes:
            raise ConfigurationError("give the index to serve with --index NAME (repeatable), or try --demo")
    if args.url and len([e for e in engines if e in SERVER_ENGINES]) > 1:
        raise ConfigurationError("--url names one server, but --engines selects several server engines; set NEURAL_SEARCH_<ENGINE>_URL for each instead")
    if args.report is not None and not (Path(args.report) / "report.md").is_file():
        raise ConfigurationError(f"--report {args.report}: there is no report.md there; give the folder `neural-search compare --out` wrote")
    if args.candidates < 1 or args.candidates > 10000:
        raise ConfigurationError(f"--candidates must be in 1..10000, got {args.candidates}")
    if not 1 <= args.workers <= 64:
        raise ConfigurationError(f"--workers must be in 1..64 (processes answering on the one port), got {args.workers}")
    return engines, indexes, _api_key(args.http_api_key_env)


def _service(args: argparse.Namespace, open_store: OpenStore, engines: list[str], indexes: list[str]):
    from ..encoding import Encoder
    from ..embedding_cache import EmbeddingCache
    from .service import Judgments, Service, Target

    encoder = Encoder(model=args.model, device=args.device, cache=EmbeddingCache(args.cache) if args.cache else None)
    if args.demo:
        ensure_demo_index(open_store(args, "embedded"), encoder, state_dir=args.state_dir)
    judgments = Judgments.load(args.dataset, args.split) if args.dataset else None
    return Service(
        targets=[Target(engine, index) for engine in engines for index in indexes], open_store=lambda engine: open_store(args, engine),
        encoder=encoder, candidates=args.candidates, judgments=judgments, report_dir=Path(args.report) if args.report else None,
        torch_threads=args.torch_threads or None, profiles=[SearchProfile.load(path) for path in args.profile],
    )


def _app(args: argparse.Namespace, service, api_key: str | None):
    from .app import create_app

    return create_app(service, api_key=api_key, cors_origins=tuple(args.cors_origin), warm_up=True)


def _uvicorn_options(args: argparse.Namespace) -> dict:
    return {"log_level": "info" if args.verbose or args.access_log else "warning", "access_log": args.access_log, "timeout_graceful_shutdown": 5}


def worker_app():
    """The app of one `serve --workers N` process (uvicorn's factory, called in each spawned
    worker): the parent's command line, parsed again, so each worker has its own model, clients
    and event loop."""
    import json

    from ..cli import build_parser

    argv = os.environ.get(WORKER_ARGV)
    if not argv:
        raise ConfigurationError(f"{WORKER_ARGV} is not set: this factory is for the worker processes of `neural-search serve --workers N`")
    args = build_parser().parse_args(json.loads(argv))
    engines, indexes, api_key = _checked(args)
    return _app(args, _service(args, args.open_store, engines, indexes), api_key)


def cmd_serve(args: argparse.Namespace, open_store: OpenStore) -> int:
    import uvicorn

    engines, indexes, api_key = _checked(args)
    if api_key is None and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"neural-search serve: warning: listening on {args.host} without an API key: anyone who reaches it can search; "
              "consider --http-api-key-env VAR", file=sys.stderr)
    # Built here for every worker count: it opens each engine (a wrong setting fails before the
    # port is taken) and builds the demo index once, before any worker would race to.
    service = _service(args, open_store, engines, indexes)
    sock = listening_socket(args.host, args.port)
    try:
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        served = ", ".join(t.key for t in service.targets)
        workers = f"; {args.workers} worker processes" if args.workers > 1 else ""
        print(f"neural-search serve: http://{shown}:{port}/ ({served}){workers}; API docs at /docs; Ctrl-C stops", flush=True)
        try:
            if args.workers == 1:
                uvicorn.Server(uvicorn.Config(_app(args, service, api_key), **_uvicorn_options(args))).run(sockets=[sock])
            else:
                _run_workers(args, sock)
        except KeyboardInterrupt:  # uvicorn has shut down cleanly, then re-raised the Ctrl-C it caught
            pass
        print("neural-search serve: stopped", flush=True)
    finally:
        sock.close()
        service.close()
    return 0


def _run_workers(args: argparse.Namespace, sock: socket.socket) -> None:
    """uvicorn's own supervisor: N spawned processes accept on the one listening socket (the
    kernel spreads connections), each restarted if it dies; Ctrl-C stops them all. Each process
    has its own GIL, which one process serving many clients queues on (benchmarks/README.md)."""
    import json

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ[WORKER_ARGV] = json.dumps(args.argv)
    config = uvicorn.Config("neural_search.serve.command:worker_app", factory=True, workers=args.workers, **_uvicorn_options(args))
    Multiprocess(config, sockets=[sock]).run()


def add_serve_parser(
    subparsers, *, add_engine_arguments: Callable[[argparse.ArgumentParser], None], state_dir: Path, open_store: OpenStore,
) -> argparse.ArgumentParser:
    from ..encoding import DEFAULT_MODEL

    p = subparsers.add_parser(
        "serve", help="HTTP search API and a page comparing engines and modes side by side",
        description="Serve /search, /indexes, /health and a comparison page. Binds 127.0.0.1 unless --host says otherwise.",
    )
    p.add_argument("--demo", action="store_true", help="serve the embedded demo-films index (built on first use), no server engine needed")
    p.add_argument("--engines", default=None, help="comma-separated engines to serve (default: --engine)")
    p.add_argument("--index", action="append", default=[], help="index to serve on each engine (repeatable)")
    p.add_argument("--dataset", default=None, help="BEIR folder the index was built from: its judged queries, labels and nDCG@10 on the page")
    p.add_argument("--split", default="test", help="qrels split of --dataset (default test)")
    p.add_argument("--report", default=None, metavar="DIR", help="a folder `neural-search compare` wrote (report.md and plots), shown at /report")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free port, printed)")
    p.add_argument("--http-api-key-env", metavar="VAR", help="name of the environment variable holding the API key clients must send (X-API-Key header)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN", help="allow browser calls from this origin (repeatable; default: none)")
    p.add_argument("--access-log", action="store_true", help="log every request (method, path, status; never headers)")
    p.add_argument("--candidates", type=int, default=100, help="depth each leg retrieves (pagination goes this deep)")
    p.add_argument(
        "--workers", type=int, default=1,
        help="processes answering on the port (default 1); each loads its own model and clients, so several use several cores",
    )
    p.add_argument(
        "--profile", action="append", default=[], metavar="FILE",
        help="a search profile from `neural-search tune` (repeatable); searches name it with profile=NAME",
    )
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--device", default=None)
    p.add_argument(
        "--torch-threads", type=int, default=1,
        help="threads torch may use to encode one query (default 1: the lowest latency under concurrent requests, benchmarks/README.md section 2; 0: torch's default)",
    )
    p.add_argument("--cache", default=None, help="embedding cache file (default ~/.cache/neural-search/embeddings.sqlite)")
    p.add_argument("--state-dir", type=Path, default=state_dir, help="checkpoints of the --demo index build")
    add_engine_arguments(p)
    p.set_defaults(func=lambda args: cmd_serve(args, open_store), open_store=open_store)
    return p
