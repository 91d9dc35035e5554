"""Shared helpers for the benchmarks: engines, documents, machine description, statistics, output.

The engine list, the machine description and the percentiles are neural-search compare's own
(registry, compare.environment, compare.latency.summary), so a benchmark and a comparison
describe and measure alike."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from neural_search.compare import environment, settings  # noqa: E402  (after the environment above)
from neural_search.compare.latency import summary  # noqa: E402,F401  (the percentile summary the benchmarks report)
from neural_search.errors import ConfigurationError  # noqa: E402
from neural_search import registry  # noqa: E402
from neural_search.registry import ENGINES  # noqa: E402,F401

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
RESULTS_DIR = BENCH_DIR / "results"
STATE_DIR = BENCH_DIR / ".state"
DEFAULT_DATASETS = Path(os.environ.get("DATASETS", ROOT.parent / "shared" / "datasets"))


def parse_engines(text: str) -> list[str]:
    try:
        return settings.parse_engines(text)
    except ConfigurationError as exc:
        raise SystemExit(str(exc)) from None


def open_bench_store(engine: str, embedded_path: Path):
    from neural_search.engines import open_store

    if engine == "embedded":
        return open_store("embedded", path=str(embedded_path))
    return open_store(engine)  # URLs from NEURAL_SEARCH_<ENGINE>_URL or the local defaults


def engine_version(store) -> str:
    try:
        info = store.describe()
    except Exception as exc:  # an engine that is down is reported, not fatal here
        return f"unavailable ({type(exc).__name__})"
    extra = f" (plugins: {', '.join(info['plugins'])})" if info.get("plugins") else ""
    return f"{info.get('version')}{extra}"


def read_records(source: Path, limit: int | None):
    """The first `limit` source records, in memory, so reading is not part of any timing."""
    from neural_search.sources import read_source

    records = read_source(source)
    return list(islice(records, limit) if limit else records)


def machine() -> dict:
    """The machine, described with compare's environment capture (one way to read it), under the
    keys bench result files have always had."""
    import numpy
    import torch

    import sentence_transformers

    memory = environment.memory_bytes()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": environment.cpu_model() or "",
        "memory_gib": None if memory is None else round(memory / 1024**3, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": bool(torch.cuda.is_available()),
        "sentence_transformers": sentence_transformers.__version__,
        "numpy": numpy.__version__,
        "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def git_commit() -> str | None:
    return environment.git_commit(length=7, dirty_path="neural_search")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: Path, payload: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    return path


def run_header(benchmark: str, machine: dict, fingerprint) -> dict:
    """The keys every result file starts with: which benchmark, when, the exact command, the
    commit, the machine and the model, so a figure can be traced and re-run."""
    return {
        "benchmark": benchmark,
        "when": timestamp(),
        "command": command_line(),
        "git": git_commit(),
        "machine": machine,
        "model": {"name": fingerprint.name, "id": fingerprint.id, "dimension": fingerprint.dimension},
    }


def timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def command_line() -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])


class CpuMeter:
    """CPU used during a span: by this process, and by everything else on the machine (from /proc/stat).

    `others_cores` during an encode-only run is noise from other processes; during indexing it
    also includes the engine's own work (the servers run on this machine)."""

    def __enter__(self) -> "CpuMeter":
        self._wall = time.perf_counter()
        self._own = time.process_time()
        self._busy = _machine_busy_seconds()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self._wall
        own = time.process_time() - self._own
        busy = _machine_busy_seconds()
        self.wall = wall
        self.own_cores = own / wall if wall > 0 else 0.0
        self.others_cores = max(0.0, (busy - self._busy - own) / wall) if busy is not None and self._busy is not None and wall > 0 else None

    def to_dict(self) -> dict:
        return {"own_cores": round(self.own_cores, 2), "others_cores": None if self.others_cores is None else round(self.others_cores, 2)}


def _machine_busy_seconds() -> float | None:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    busy = sum(values[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def listening_pid(port: int) -> int | None:
    """The pid of the local process listening on TCP `port` (from /proc), or None (remote, or no /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    if not inodes:
        return None
    targets = {f"socket:[{i}]" for i in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in targets:
                    return int(proc.name)
        except OSError:
            continue
    return None


def engine_pid(engine: str, url: str | None) -> int | None:
    """The server process behind an engine's URL when it runs on this machine."""
    if not registry.spec(engine).server or not url:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    return listening_pid(parts.port or (443 if parts.scheme == "https" else 80))


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (all its threads) so far."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
