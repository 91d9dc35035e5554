"""What a measurement ran on: the machine, its load, the libraries and the commit. Used by
`neural-search compare` and by benchmarks/, so both describe a machine the same way."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

LIBRARIES = (
    "neural-search", "numpy", "scipy", "torch", "transformers", "sentence-transformers", "elasticsearch",
    "opensearch-py", "requests", "bm25s", "ir-measures", "pytrec-eval-terrier", "matplotlib",
)
PACKAGE_DIR = Path(__file__).resolve().parent.parent


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str | None]:
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _proc_field(path: str, prefix: str) -> str | None:
    """The value after `prefix` in a /proc file (Linux only; None elsewhere)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str | None:
    return _proc_field("/proc/cpuinfo", "model name") or platform.processor() or None


def memory_bytes() -> int | None:
    total = _proc_field("/proc/meminfo", "MemTotal:")
    return int(total.split()[0]) * 1024 if total else None


def load_1m() -> float | None:
    """The machine's 1-minute load average: timings taken under load from other processes show it."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "processor": cpu_model(),
        "memory_bytes": memory_bytes(),
        "load_1m_at_start": load_1m(),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["accelerator"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # pragma: no cover - informational only
        pass
    return info


def git_commit(*, length: int = 12, dirty_path: str | None = None) -> str | None:
    """The checkout's commit; with `dirty_path`, marked `+dirty(<path>)` when that path has
    uncommitted changes (a figure measured on uncommitted code says so)."""
    root = PACKAGE_DIR.parent

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5)

    try:
        out = git("rev-parse", f"--short={length}", "HEAD")
        commit = out.stdout.strip() if out.returncode == 0 else ""
        if not commit:
            return None
        if dirty_path is not None and git("status", "--porcelain", "--", dirty_path).stdout.strip():
            commit += f"+dirty({dirty_path})"
        return commit
    except (OSError, subprocess.SubprocessError):
        return None


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
