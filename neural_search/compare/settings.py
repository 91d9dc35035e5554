"""What a comparison is asked to measure: modes, engines, concurrency levels, index name, and the
command line that reproduces them."""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass

from ..errors import ConfigurationError, NeuralSearchError
from ..fusion import RAWSUM, FusionSpec
from ..registry import ENGINES

DEFAULT_MODES = ("bm25", "knn", "hybrid:rrf", "hybrid:rrf@engine", "hybrid:linear:minmax", "hybrid:rawsum")
ALL_MODES = (
    "bm25", "knn", "hybrid:rrf", "hybrid:linear:minmax", "hybrid:linear:zscore", "hybrid:linear:l2",
    "hybrid:rrf@engine", "hybrid:linear:minmax@engine", "hybrid:linear:zscore@engine", "hybrid:linear:l2@engine", "hybrid:rawsum",
)
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
ALPHA = 0.05
ANN_K = 10
# Settings a resumed run must share with the results it continues.
RESUME_KEYS = ("engines", "modes", "k", "depth", "concurrency", "warmup", "seed", "max_queries", "index", "encode_sample", "analyzer", "fields", "profile")
PROFILE_MODE = "hybrid:profile"  # the setting of --profile (a file `neural-search tune` writes)


class CompareError(NeuralSearchError):
    """A comparison cannot run as asked (bad options, or nothing could be measured)."""


@dataclass(frozen=True)
class ModeSpec:
    """One measured mode: `bm25`, `knn` or `hybrid:<fusion>[@engine|@client]` (rrf, rrf:K,
    linear:NORM[:COMB], rawsum). A comparison measures what it names: `hybrid:rrf` is fused in the
    client on every engine, `hybrid:rrf@engine` inside the engine by its plugin (one request)."""

    name: str
    mode: str
    fusion: str | None = None
    fusion_at: str | None = None

    @property
    def slug(self) -> str:
        return self.name.replace(":", "-").replace("@", "-")

    @property
    def is_hybrid(self) -> bool:
        return self.mode == "hybrid"

    @property
    def uses_profile(self) -> bool:
        return self.name.startswith(PROFILE_MODE)

    def search_arguments(self, k: int, candidates: int, profile=None) -> dict:
        """The `SearchClient.search` keyword arguments that run this mode (`profile`: the
        SearchProfile of hybrid:profile; its depth, never below `candidates`, so pages fit)."""
        if self.uses_profile:
            if profile is None:
                raise ConfigurationError(f"--modes {self.name} needs --profile FILE (written by `neural-search tune`)")
            settings = profile.search_settings()
            settings["candidates"] = max(settings["candidates"], k)
            return {"mode": "hybrid", "k": k, "fusion_at": self.fusion_at, **settings}
        kwargs = {"mode": self.mode, "k": k, "candidates": candidates}
        if self.is_hybrid:
            kwargs["fusion"] = self.fusion
            if self.fusion != RAWSUM:
                kwargs["fusion_at"] = self.fusion_at
        return kwargs

    @classmethod
    def parse(cls, text: str) -> "ModeSpec":
        raw = text.strip().lower()
        if raw in ("bm25", "knn"):
            return cls(raw, raw)
        if raw == "hybrid":
            raw = "hybrid:rrf"
        if raw.startswith("hybrid:"):
            fusion, _, side = raw[len("hybrid:"):].partition("@")
            if side not in ("", "client", "engine"):
                raise ConfigurationError(f"--modes: in {text!r} say @engine or @client after the fusion")
            if fusion == "profile":
                side = side or "client"
                return cls(PROFILE_MODE + ("@engine" if side == "engine" else ""), "hybrid", None, side)
            try:
                spec = FusionSpec.parse(fusion)
            except ValueError as exc:
                raise ConfigurationError(f"--modes: {exc}") from None
            if spec.method == RAWSUM:
                if side == "client":
                    raise ConfigurationError("--modes: rawsum is always computed inside the engine; drop @client")
                return cls(f"hybrid:{spec}", "hybrid", str(spec), "engine")
            side = side or "client"
            suffix = "@engine" if side == "engine" else ""
            return cls(f"hybrid:{spec}{suffix}", "hybrid", str(spec), side)
        raise ConfigurationError(
            f"--modes: unknown mode {text!r}; use bm25, knn or hybrid:<fusion>[@engine] (hybrid:rrf, hybrid:rrf:60@engine, "
            "hybrid:linear:minmax|zscore|l2[:arithmetic|geometric|harmonic], hybrid:rawsum), or `all`"
        )


def parse_modes(text: str) -> list[ModeSpec]:
    items = [t for t in (text or "").split(",") if t.strip()]
    # `all` stands for every built-in mode, alone or beside others (all,hybrid:profile).
    items = [mode for item in items for mode in (ALL_MODES if item.strip().lower() == "all" else (item,))]
    if not items:
        raise ConfigurationError("--modes: name at least one mode")
    specs: list[ModeSpec] = []
    for item in items:
        spec = ModeSpec.parse(item)
        if spec.name not in {s.name for s in specs}:
            specs.append(spec)
    return specs


def parse_engines(text: str) -> list[str]:
    items = [t.strip().lower() for t in (text or "").split(",") if t.strip()]
    if items == ["all"]:
        items = list(ENGINES)
    unknown = [e for e in items if e not in ENGINES]
    if unknown or not items:
        raise ConfigurationError(f"--engines: unknown engine(s) {unknown or text!r}; choose from {', '.join(ENGINES)}")
    return list(dict.fromkeys(items))


def parse_concurrency(text: str) -> list[int]:
    try:
        levels = [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise ConfigurationError(f"--concurrency takes comma-separated positive integers, got {text!r}") from None
    if not levels or any(c < 1 or c > 256 for c in levels):
        raise ConfigurationError(f"--concurrency takes comma-separated integers in 1..256, got {text!r}")
    return sorted(set(levels))


def index_name(prefix: str, dataset: str, analyzer: str = "standard") -> str:
    """`cmp-nfcorpus` (`cmp-nfcorpus-english` with that analysis): one index per dataset and
    analysis, valid on every engine, so switching the analysis does not rebuild the other's."""
    from ..engines.base import validate_index_name

    slug = re.sub(r"[^a-z0-9_-]+", "-", dataset.lower()).strip("-_") or "dataset"
    suffix = "" if analyzer == "standard" else f"-{analyzer}"
    return validate_index_name(f"{prefix}-{slug}"[: 100 - len(suffix)] + suffix)


def canonical_command(args: argparse.Namespace, engines: list[str], modes: list[ModeSpec], concurrency: list[int]) -> str:
    """The command that reproduces these settings, every result-shaping option spelled out."""
    parts = [
        "neural-search", "compare", "--dataset", str(args.dataset), "--split", args.split,
        "--engines", ",".join(engines), "--modes", ",".join(m.name for m in modes),
        "--k", str(args.k), "--depth", str(args.depth), "--concurrency", ",".join(map(str, concurrency)),
        "--warmup", str(args.warmup), "--seed", str(args.seed),
    ]
    if args.max_queries is not None:
        parts += ["--max-queries", str(args.max_queries)]
    if args.model != DEFAULT_MODEL:
        parts += ["--model", args.model]
    if getattr(args, "cluster", False):
        parts.append("--cluster")
    for flag in ("shards", "replicas"):
        if getattr(args, flag, None) is not None:
            parts += [f"--{flag}", str(getattr(args, flag))]
    for flag in ("analyzer", "fields", "tie_breaker", "profile"):
        if getattr(args, flag, None) is not None:
            parts += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    if args.index_prefix != "cmp":
        parts += ["--index-prefix", args.index_prefix]
    if args.encode_sample != 200:
        parts += ["--encode-sample", str(args.encode_sample)]
    if args.reindex:
        parts.append("--reindex")
    parts += ["--out", str(args.out)]
    return " ".join(shlex.quote(p) for p in parts)
