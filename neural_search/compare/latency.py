"""Timing searches: percentile summaries (shared with benchmarks/) and one timed round in which
every (engine, mode) pair takes turns."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

from ..errors import EngineUnavailable, TransientEngineError
from ..evaluation import percentiles
from .results import LatencyStats
from .settings import ModeSpec

OUTAGES = (EngineUnavailable, TransientEngineError)  # an engine restarting or briefly unreachable
BREAKDOWN_KEYS = ("encode_ms", "engine_ms", "fusion_ms", "total_ms")

Pair = tuple[str, ModeSpec]
Key = tuple[str, str]  # (engine, mode name)


def summary(values: Sequence[float], points: Sequence[float] = (50, 95, 99), digits: int = 3) -> dict[str, float]:
    """Mean and linear-interpolated percentiles (numpy's default) of `values`, rounded:
    {"mean": ..., "p50": ..., ...}."""
    if not values:
        raise ValueError("no values")
    pct = percentiles([float(v) for v in values], points)
    return {"mean": round(sum(values) / len(values), digits), **{k: round(v, digits) for k, v in pct.items()}}


def latency_stats(timings: list[dict], errors: int, warmup: int, seconds: float, load: float | None) -> LatencyStats:
    """Percentiles of the per-query times (and of their encode/engine/fusion split), and QPS."""
    total = summary([float(t["total_ms"]) for t in timings])
    breakdown = {}
    for key in BREAKDOWN_KEYS:
        part = summary([float(t.get(key, 0.0)) for t in timings], (50, 95))
        breakdown[key] = {"mean": part["mean"], "p50": part["p50"], "p95": part["p95"]}
    return LatencyStats(
        queries=len(timings), errors=errors, warmup=warmup, load_1m=load,
        p50_ms=total["p50"], p95_ms=total["p95"], p99_ms=total["p99"], mean_ms=total["mean"],
        qps=round(len(timings) / seconds, 2) if seconds > 0 else None, seconds=round(seconds, 3), breakdown_ms=breakdown,
    )


@dataclass(frozen=True)
class RoundFailure:
    """A pair whose timed queries failed; `outage`: because its engine was unreachable (worth
    waiting for and timing again)."""

    error: str
    outage: bool


def timed_round(
    pairs: list[Pair], texts: list[str], concurrency: int, search: Callable[[str, ModeSpec, str], dict], warmed: dict[Key, int],
    load: Callable[[], float | None],
) -> dict[Key, LatencyStats | RoundFailure]:
    """Times every text on every pair at one concurrency; `search(engine, spec, text)` answers a
    query's timings_ms.

    The pairs take turns in blocks of texts, the order of the turns rotating from block to block,
    so a change in the machine's background load (other processes, garbage collection, merges)
    falls on every engine and mode alike instead of on whichever happened to run at that moment."""
    block = max(20, 8 * concurrency)
    keys = [(e, spec.name) for e, spec in pairs]
    timings: dict[Key, list[dict]] = {k: [] for k in keys}
    errors: dict[Key, list[Exception]] = {k: [] for k in keys}
    seconds: dict[Key, float] = {k: 0.0 for k in keys}

    def one(engine: str, spec: ModeSpec, text: str):
        try:
            return search(engine, spec, text)
        except Exception as exc:  # counted per pair; an outage is told apart below
            return exc

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for number, start in enumerate(range(0, len(texts), block)):
            chunk = texts[start : start + block]
            shift = number % len(pairs)
            for engine, spec in pairs[shift:] + pairs[:shift]:
                key = (engine, spec.name)
                t0 = time.perf_counter()
                if concurrency == 1:
                    outcomes = [one(engine, spec, t) for t in chunk]
                else:
                    outcomes = list(pool.map(lambda t, e=engine, m=spec: one(e, m, t), chunk))
                seconds[key] += time.perf_counter() - t0
                for outcome in outcomes:
                    (errors if isinstance(outcome, Exception) else timings)[key].append(outcome)
    at_end = load()
    stats: dict[Key, LatencyStats | RoundFailure] = {}
    for key in keys:
        outage = [e for e in errors[key] if isinstance(e, OUTAGES)]
        if outage or not timings[key]:
            first = (outage or errors[key] or ["no queries"])[0]
            stats[key] = RoundFailure(
                f"{len(errors[key])} timed queries failed at concurrency {concurrency}: {type(first).__name__}: {first}", bool(outage)
            )
            continue
        stats[key] = latency_stats(timings[key], len(errors[key]), warmed[key], seconds[key], at_end)
    return stats
