#!/usr/bin/env python3
"""Where serve's milliseconds go, layer by layer, with no socket: the ASGI app called directly.

bench_serve.py measures what HTTP adds end to end; this splits the server's own share. On the
embedded demo index (`serve-bench-films`, built as bench_serve.py builds it), per mode, the median
of `--requests` calls of:

  service        Service.search alone (the library call plus the answer as a dict)
  fastapi        POST /search through serve's FastAPI app (routing, body validation, rendering)
  starlette      the same search behind a plain Starlette route, on the event loop
  starlette+pool the plain route handing the search to the thread pool, as serve does for any
                 search that may encode a query or waits on a server engine

The rows are interleaved round by round, so a change in the machine's load touches them alike.

    python3 benchmarks/bench_serve_layers.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import bench_serve as B  # noqa: E402

from neural_search.embedding_cache import EmbeddingCache  # noqa: E402
from neural_search.encoding import Encoder  # noqa: E402
from neural_search.serve.app import JSONResponse, create_app  # noqa: E402
from neural_search.serve.service import SearchRequest, Service, Target  # noqa: E402


def plain_app(service: Service, *, pooled: bool):
    """`POST /search` behind a plain Starlette route; pooled: the search runs on the thread pool."""
    import orjson
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.routing import Route

    async def search(request):
        search_request = SearchRequest(**orjson.loads(await request.body()))
        body = await run_in_threadpool(service.search, search_request) if pooled else service.search(search_request)
        return JSONResponse(body)

    return Starlette(routes=[Route("/search", search, methods=["POST"])])


async def post(app, body: bytes) -> None:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http", "path": "/search",
        "raw_path": b"/search", "root_path": "", "query_string": b"", "headers": [(b"host", b"bench"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "state": {},
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    if sent[0]["status"] != 200:
        raise SystemExit(f"POST /search answered {sent[0]['status']}: {sent[1:]}")


async def measure(service: Service, apps: dict, mode: str, requests: int) -> dict[str, float]:
    bodies = [json.dumps({"q": q, "engine": "embedded", "index": B.INDEX, "mode": mode, "k": 10}).encode() for q in B.QUERIES]

    async def direct(body: bytes) -> None:
        service.search(SearchRequest(**json.loads(body)))

    rows = {"service": direct, **{name: (lambda b, app=app: post(app, b)) for name, app in apps.items()}}
    for run in rows.values():  # warm-up: every query once each way
        for body in bodies:
            await run(body)
    times: dict[str, list[float]] = {name: [] for name in rows}
    for i in range(requests):
        for name, run in rows.items():
            t0 = time.perf_counter()
            await run(bodies[i % len(bodies)])
            times[name].append((time.perf_counter() - t0) * 1000)
    return {name: round(statistics.median(values), 3) for name, values in times.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modes", default=",".join(B.MODES))
    p.add_argument("--requests", type=int, default=600, help="calls per row and mode (default 600)")
    p.add_argument("--out", type=Path, default=C.RESULTS_DIR / "bench_serve_layers.json")
    args = p.parse_args()
    encoder = Encoder(cache=EmbeddingCache())
    data_dir = C.STATE_DIR / "serve-embedded"
    store = C.open_bench_store("embedded", data_dir)
    B.prepare("embedded", store, encoder, C.STATE_DIR / "serve-state")
    service = Service(targets=[Target("embedded", B.INDEX)], open_store=lambda engine: store, encoder=encoder)  # the index read once
    apps = {"fastapi": create_app(service), "starlette": plain_app(service, pooled=False), "starlette+pool": plain_app(service, pooled=True)}
    results = {}
    try:
        for mode in [m for m in args.modes.split(",") if m]:
            results[mode] = asyncio.run(measure(service, apps, mode, args.requests))
    finally:
        service.close()
    print(f"medians of {args.requests} calls (ms), embedded, ASGI called directly")
    names = list(next(iter(results.values())))
    print(C.table(["mode", *names], [[mode, *(f"{row[n]:.3f}" for n in names)] for mode, row in results.items()]))
    payload = {**C.run_header("bench_serve_layers", C.machine(), encoder.fingerprint), "settings": {"modes": args.modes, "requests": args.requests},
               "results": results}
    print(f"\nresults: {C.write_json(args.out, payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
