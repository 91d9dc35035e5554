#!/usr/bin/env python3
"""`neural-search serve` under load: what the HTTP layer adds over the library call, side by side.

The 300 demo films are indexed once per engine (embedded and one server engine, default
Elasticsearch) as `serve-bench-films`. `neural-search serve` then runs as its own process; its
start-up time (process start to the first /health answer) is measured `--starts` times first.

For each engine and mode, `--rounds` rounds each run two passes of the same `--requests` searches
(the 24 film queries below, repeated) from `--clients` clients in a closed loop:

  library  threads sharing one SearchClient in this process; latency = client.search()
  http     processes, each with one keep-alive connection to serve, POSTing /search; latency =
           request out to JSON parsed (http.client; processes, because 16 threads in one
           process would queue on its GIL and count that as HTTP time)

The passes alternate (library first in odd rounds, http first in even ones). The overhead is the
http p50 minus the library p50 of the same round; the figure quoted is the median over the
rounds. Each engine and mode is measured twice that way: saturated (a closed loop, each client
sending its next search the moment it has the last answer: on a machine with fewer cores than
clients, both passes' latency is then mostly the queue, which the library threads wait in out of
the clock, between GIL hand-offs, and the HTTP clients inside it), and paced (an open loop: the
same 16 clients, `--rate` searches a second in all, each planned in advance and timed from its
planned send time, so waiting behind a slow search counts). Target: <= 1.5 ms with 16 clients,
paced. A pair of passes with one client follows: the HTTP layer's own cost per request. Any
failed search (non-200 answer, exception, no hits where hits are due) is an error; the target is
zero. A pass stops early after `--max-seconds`. Query vectors come from each encoder's LRU after
a warm-up pass (as in bench_search.py), so the figures are engine, client and HTTP, not model time.

    python3 benchmarks/bench_serve.py
    python3 benchmarks/bench_serve.py --engines embedded,opensearch --clients 16 --requests 480 --rounds 3
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from neural_search.demo import demo_corpus  # noqa: E402
from neural_search.embedding_cache import EmbeddingCache  # noqa: E402
from neural_search.encoding import Encoder, same_model  # noqa: E402
from neural_search.indexing import Indexer  # noqa: E402
from neural_search.search import SearchClient  # noqa: E402
from neural_search.sources import read_jsonl  # noqa: E402

INDEX = "serve-bench-films"
MODES = ("bm25", "knn", "hybrid")
TARGET_MS = 1.5
START_TARGET_S = 5.0
SINGLE_REQUESTS = 120
# The paced passes' offered load: 16 clients at 6.25 searches a second each, under what one serve
# process answers on two shared cores (about 480/s for embedded BM25 at saturation), as a service
# is run in production; saturation is measured as well.
DEFAULT_RATE = 100.0
QUERIES = [
    "ship sinks after hitting an iceberg", "space opera with robots", "a shark terrorizes a beach town", "war in vietnam",
    "cloned dinosaurs escape on an island", "a mafia family", "a pig who wants to be a sheepdog", "toys come to life",
    "astronauts stranded on the moon", "a boxer gets a shot at the title", "romantic comedy in new york", "a serial killer investigation",
    "aliens invade earth", "a musical about a nanny", "prison escape", "time travel to the past", "a haunted hotel in winter",
    "wizard school", "bank robbery goes wrong", "the life of a president", "disney animated fairy tale", "spy thriller in the cold war",
    "court room drama", "road trip across america",
]


def prepare(engine: str, store, encoder: Encoder, state_dir: Path) -> dict:
    records = list(read_jsonl(demo_corpus()))
    expected = sum(1 for r in records if r.document is not None and not r.document.is_empty)
    physical = store.resolve(INDEX)
    if physical is not None and store.count(physical) == expected and same_model(store.get_fingerprint(physical), encoder.fingerprint.id):
        return {"docs": expected, "reused": True}
    summary = Indexer(store, encoder, state_dir=state_dir, progress=False).run(records, name=INDEX, source={"bench_serve": expected}, recreate=True, restart=True)
    if summary.count_in_engine != expected:
        raise SystemExit(f"{engine}: {summary.count_in_engine} documents in {INDEX}, expected {expected}")
    return {"docs": expected, "reused": False}


class Server:
    """`neural-search serve` as a child process on a free port."""

    def __init__(self, engines: list[str], data_dir: Path, workers: int = 1):
        command = [
            sys.executable, "-m", "neural_search.cli", "serve", "--engines", ",".join(engines), "--index", INDEX, "--port", "0",
            "--data-dir", str(data_dir), "--workers", str(workers),
        ]
        self.workers = workers
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        line = self.process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not match:
            self.process.kill()
            raise SystemExit(f"serve did not start: {line}{self.process.stderr.read()}")
        self.port = int(match.group(1))

    def wait_until_answering(self) -> float:
        """Seconds from process start to the first /health answer."""
        while True:
            try:
                status, _ = get(self.port, "/health")
                return time.perf_counter() - self.started
            except OSError:
                time.sleep(0.01)

    def wait_for_model(self, limit: float = 180) -> None:
        # Each connection goes to one worker: every worker has its model once a run of answers
        # on new connections all say ready.
        deadline = time.monotonic() + limit
        ready = 0
        while time.monotonic() < deadline:
            try:
                _, body = get(self.port, "/health")
            except OSError:  # a worker still starting
                time.sleep(0.2)
                continue
            state = body["model"]["state"]
            if state == "failed":
                raise SystemExit(f"serve could not load the model: {body['model']}")
            ready = ready + 1 if state == "ready" else 0
            if ready >= 8 * self.workers:
                return
            if state != "ready":
                time.sleep(0.2)
        raise SystemExit("serve's model did not load in time")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


def get(port: int, path: str) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def closed_loop(clients: int, requests: int, max_seconds: float, make_worker) -> tuple[dict[str, list[float]], int, float]:
    """`clients` threads take the next request number until `requests` are done or time is up;
    each runs worker(i), which answers [(kind, latency_ms, ok), ...]. Returns the latencies by
    kind, the number of failures and the wall seconds."""
    counter = iter(range(requests))
    lock = threading.Lock()
    latencies: dict[str, list[float]] = {}
    errors = [0]
    deadline = time.perf_counter() + max_seconds

    def thread_body():
        worker = make_worker()
        local: dict[str, list[float]] = {}
        failed = 0
        while time.perf_counter() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            for kind, ms, ok in worker(i):
                local.setdefault(kind, []).append(ms)
                failed += 0 if ok else 1
        with lock:
            for kind, values in local.items():
                latencies.setdefault(kind, []).extend(values)
            errors[0] += failed
        worker_close = getattr(worker, "close", None)
        if worker_close:
            worker_close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(thread_body) for _ in range(clients)]:
            future.result()
    return latencies, errors[0], time.perf_counter() - t0


def turn(i: int, pacing: tuple[float, float] | None) -> float | None:
    """Paced passes: waits until search i's planned send time and answers it. The latency is
    counted from that planned time, not from when the search went out, so a search that waited
    behind a slow one is counted with its wait (no coordinated omission)."""
    if pacing is None:
        return None
    start, rate = pacing
    planned = start + i / rate
    delay = planned - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    return planned


def timed(kind: str, fn, i: int, planned: float | None = None) -> tuple[str, float, bool]:
    # time.monotonic is CLOCK_MONOTONIC, the same clock in every process, so the plan made in the
    # parent holds in the forked clients; perf_counter times the unpaced passes.
    clock = time.perf_counter if planned is None else time.monotonic
    t0 = clock() if planned is None else planned
    try:
        ok = fn(i)
    except Exception:
        ok = False
    return kind, (clock() - t0) * 1000, ok


def http_client(task: tuple) -> tuple[list[float], int]:
    """One HTTP client, in its own process (a pool forked before the model loads): a keep-alive
    connection, the searches numbered first, first + step, ... below `requests`, until `deadline`."""
    port, engine, mode, k, first, step, requests, deadline, pacing = task
    run = http_worker(port, engine, mode, k)()
    latencies, errors = [], 0
    for i in range(first, requests, step):
        if time.time() > deadline:
            break
        planned = turn(i, pacing)
        kind, ms, ok = timed("http", run, i, planned)
        latencies.append(ms)
        errors += 0 if ok else 1
    run.close()
    return latencies, errors


def plan(rate: float | None) -> tuple[float, float] | None:
    # Starts a little ahead so that every client (process or thread) is waiting when the first search is due.
    return (time.monotonic() + 0.25, rate) if rate else None


def http_pass(pool, clients: int, requests: int, max_seconds: float, port: int, engine: str, mode: str, k: int, rate: float | None = None):
    deadline = time.time() + max_seconds
    pacing = plan(rate)
    t0 = time.perf_counter()
    parts = pool.map(http_client, [(port, engine, mode, k, c, clients, requests, deadline, pacing) for c in range(clients)], chunksize=1)
    wall = time.perf_counter() - t0
    return [ms for latencies, _ in parts for ms in latencies], sum(e for _, e in parts), wall


def library_pass(client, clients: int, requests: int, max_seconds: float, mode: str, k: int, rate: float | None = None):
    make = library_worker(client, mode, k)
    pacing = plan(rate)

    def make_timed():
        run = make()
        return lambda i: [timed("library", run, i, turn(i, pacing))]

    latencies, errors, wall = closed_loop(clients, requests, max_seconds, make_timed)
    return latencies.get("library", []), errors, wall


def library_worker(client: SearchClient, mode: str, k: int):
    def make():
        def run(i: int) -> bool:
            result = client.search(QUERIES[i % len(QUERIES)], mode=mode, k=k)
            return len(result.hits) > 0 or mode == "bm25"
        return run
    return make


def http_worker(port: int, engine: str, mode: str, k: int):
    def make():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json"}

        def run(i: int) -> bool:
            body = json.dumps({"q": QUERIES[i % len(QUERIES)], "engine": engine, "index": INDEX, "mode": mode, "k": k})
            connection.request("POST", "/search", body=body, headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read())
            return response.status == 200 and (len(answer["hits"]) > 0 or mode == "bm25")

        run.close = connection.close
        return run
    return make


def rounds(args, client, pool, port: int, engine: str, mode: str, rate: float | None) -> list[dict]:
    """`--rounds` pairs of passes, library and http in alternating order; rate None: a closed loop
    (each client sends its next search as soon as it has the last answer), else `rate` searches a
    second in all, planned in advance (an open loop)."""
    per_round = []
    for r in range(args.rounds):
        passes = [
            ("library", lambda n: library_pass(client, n, args.requests, args.max_seconds, mode, args.k, rate)),
            ("http", lambda n: http_pass(pool, n, args.requests, args.max_seconds, port, engine, mode, args.k, rate)),
        ]
        measured = {}
        for name, run in passes if r % 2 == 0 else passes[::-1]:
            latencies, errors, wall = run(args.clients)
            measured[name] = {**C.summary(latencies), "requests": len(latencies), "errors": errors, "qps": round(len(latencies) / wall, 1)}
        measured["overhead_p50_ms"] = round(measured["http"]["p50"] - measured["library"]["p50"], 3)
        per_round.append(measured)
    return per_round


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engines", default="embedded,elasticsearch", help="embedded and one (or more) server engines (default embedded,elasticsearch)")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=480, help="searches per pass (default 480 = 16 clients x 30)")
    p.add_argument("--rounds", type=int, default=3, help="library/http pass pairs per engine and mode (default 3)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="a pass stops after this long (default 60)")
    p.add_argument("--starts", type=int, default=3, help="serve start-ups to time (default 3)")
    p.add_argument("--rate", type=float, default=DEFAULT_RATE,
                   help=f"searches a second, in all, of the paced passes (default {DEFAULT_RATE:g}; 0: saturated passes only)")
    p.add_argument("--workers", type=int, default=1, help="serve --workers for the measured server (default 1)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--keep", action="store_true", help="keep the server engines' bench index (default: dropped at the end)")
    p.add_argument("--out", type=Path, default=C.RESULTS_DIR / "bench_serve.json")
    args = p.parse_args()
    engines = C.parse_engines(args.engines)
    modes = [m for m in args.modes.split(",") if m]
    if any(m not in MODES for m in modes):
        raise SystemExit(f"--modes: choose from {', '.join(MODES)}")
    if args.clients < 1 or args.requests < args.clients or args.rounds < 1 or args.rate < 0:
        raise SystemExit("--clients >= 1, --requests >= --clients, --rounds >= 1 and --rate >= 0")

    # The HTTP clients are processes (16 threads in one would queue on its GIL and time that too),
    # forked now, before this process loads the model and starts threads.
    pool = multiprocessing.get_context("fork").Pool(args.clients)
    encoder = Encoder(cache=EmbeddingCache())
    data_dir = C.STATE_DIR / "serve-embedded"
    stores = {engine: C.open_bench_store(engine, data_dir) for engine in engines}
    print(f"engines: {', '.join(f'{e} {C.engine_version(s)}' for e, s in stores.items())}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    built = {engine: prepare(engine, store, encoder, C.STATE_DIR / "serve-state") for engine, store in stores.items()}

    starts = []
    for _ in range(args.starts):
        server = Server(engines, data_dir)
        starts.append(server.wait_until_answering())
        server.stop()
    print(f"serve start-up (process start to first /health answer), {args.starts} starts: median {C.median(starts):.2f} s "
          f"(max {max(starts):.2f} s; target < {START_TARGET_S:.0f} s)")

    server = Server(engines, data_dir, args.workers)
    server.wait_until_answering()
    server.wait_for_model()
    rows, results = [], []
    try:
        for engine in engines:
            client = SearchClient(store=stores[engine], index=INDEX, encoder=encoder)
            for mode in modes:
                # Warm-up: every query once each way (fills both encoders' query LRUs and the engine's caches).
                library_pass(client, args.clients, len(QUERIES), args.max_seconds, mode, args.k)
                http_pass(pool, args.clients, len(QUERIES), args.max_seconds, server.port, engine, mode, args.k)
                per_round = rounds(args, client, pool, server.port, engine, mode, None)
                paced = rounds(args, client, pool, server.port, engine, mode, args.rate) if args.rate else []
                # One client, for the HTTP layer's own cost per request without queueing behind 15 others.
                single = {}
                for name in ("library", "http"):
                    latencies, errors, _ = (library_pass(client, 1, SINGLE_REQUESTS, args.max_seconds, mode, args.k) if name == "library"
                                            else http_pass(pool, 1, SINGLE_REQUESTS, args.max_seconds, server.port, engine, mode, args.k))
                    single[name] = {**C.summary(latencies), "requests": len(latencies), "errors": errors}
                single["overhead_p50_ms"] = round(single["http"]["p50"] - single["library"]["p50"], 3)
                overhead = C.median([m["overhead_p50_ms"] for m in per_round])
                paced_overhead = C.median([m["overhead_p50_ms"] for m in paced]) if paced else None
                errors = sum(m[kind]["errors"] for m in per_round + paced + [single] for kind in ("library", "http"))
                lib_p50 = C.median([m["library"]["p50"] for m in per_round])
                http_p50 = C.median([m["http"]["p50"] for m in per_round])
                results.append({
                    "engine": engine, "mode": mode, "rounds": per_round, "overhead_p50_ms": overhead, "paced_rounds": paced,
                    "paced_overhead_p50_ms": paced_overhead, "single_client": single, "errors": errors,
                })
                paced_cells = ([f"{C.median([m['library']['p50'] for m in paced]):.2f}", f"{C.median([m['http']['p50'] for m in paced]):.2f}",
                                f"{paced_overhead:+.2f}", "yes" if paced_overhead <= TARGET_MS else "NO"] if paced else ["-"] * 4)
                rows.append([
                    engine, mode, f"{lib_p50:.2f}", f"{http_p50:.2f}", f"{overhead:+.2f}",
                    C.median([m["library"]["qps"] for m in per_round]), C.median([m["http"]["qps"] for m in per_round]),
                    *paced_cells, f"{single['library']['p50']:.2f}", f"{single['http']['p50']:.2f}", f"{single['overhead_p50_ms']:+.2f}", errors,
                ])
                print(f"  {engine} {mode}: saturated: library p50 {lib_p50:.2f} ms, http p50 {http_p50:.2f} ms, overhead {overhead:+.2f} ms"
                      + (f"; at {args.rate:g}/s: overhead {paced_overhead:+.2f} ms" if paced else "") + f"; errors {errors}", flush=True)
            client.close()
    finally:
        pool.terminate()
        server.stop()
        if not args.keep:
            for engine, store in stores.items():
                physical = store.resolve(INDEX) if engine != "embedded" else None
                if physical:
                    store.drop(physical)

    print(f"\n{args.clients} clients, {args.requests} searches per pass, {args.rounds} rounds; medians over the rounds (ms); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(C.table([
        "engine", "mode", "saturated: library p50", "http p50", "http adds", "library qps", "http qps",
        f"at {args.rate:g}/s: library p50", "http p50", "http adds", f"<= {TARGET_MS}", "1 client: library", "http", "adds", "errors",
    ], rows))
    payload = {
        **C.run_header("bench_serve", C.machine(), encoder.fingerprint),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "indexes": built, "startup_s": [round(s, 3) for s in starts], "startup_median_s": round(C.median(starts), 3), "results": results,
    }
    print(f"\nresults: {C.write_json(args.out, payload)}")
    total_errors = sum(r["errors"] for r in results)
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
