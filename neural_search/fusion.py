"""Score fusion for hybrid search: pure functions, no I/O.

Two families, both as used by the engines themselves:

* Reciprocal rank fusion (Cormack, Clarke & Buettcher, SIGIR 2009): score(d) = sum over legs of
  weight / (k + rank(d)), k = 60 by default, as Elasticsearch's `rrf` retriever and OpenSearch's
  `score-ranker-processor`. A document absent from a leg's candidate list gets nothing from that
  leg.
* Weighted combination of normalised scores, as OpenSearch's `normalization-processor`:
  each leg's scores are normalised (min-max, z-score or L2) over that leg's candidates, then
  combined with a weighted arithmetic, geometric or harmonic mean.

Documents found by one leg only. For each leg the breakdown says either the document's
normalised score or None ("not retrieved by this leg"); the two are never confused. In the
arithmetic mean a missing leg counts as 0 with its full weight, so agreement between legs is
rewarded. The geometric and harmonic means are only defined over positive scores, so (as in
OpenSearch) they average over the legs where the document has a positive normalised score.

Edge cases, decided once for every engine: an empty leg contributes nothing; min-max over
all-equal scores gives 1.0 to every hit of that leg (each is that leg's best); z-score over
all-equal scores gives 0.0; L2 over all-zero scores gives 0.0. Ties in the fused score are broken
by the best rank in any leg, then by the first leg (in the order given) holding that rank: a total
order that needs no document ids, so the engine plugins, which fuse before ids are loaded, order
exactly as this module does.

The whole specification, which the Java plugins follow too, is docs/fusion.md; the shared test
vectors are docs/fusion-vectors.json.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

NORMALIZATIONS = ("minmax", "zscore", "l2")
COMBINATIONS = ("arithmetic", "geometric", "harmonic")
DEFAULT_RRF_K = 60


@dataclass(frozen=True)
class LegHit:
    id: str
    score: float
    rank: int  # 1-based


@dataclass(frozen=True)
class LegScore:
    """One leg's view of a hit, whichever side fused: its raw engine score, its rank in that leg
    (None where the engine does not report it: OpenSearch's linear fusion) and the normalised
    score (linear fusion) or RRF contribution that went into the final score."""

    score: float
    rank: int | None
    normalized: float | None = None


@dataclass(frozen=True)
class FusedHit:
    id: str
    score: float
    legs: Mapping[str, LegHit | None]
    normalized: Mapping[str, float | None] = field(default_factory=dict)


def ranked(hits: Sequence[tuple[str, float]]) -> list[LegHit]:
    """Turns an engine's ordered (id, score) list into LegHits; a repeated id keeps its first rank."""
    seen: set[str] = set()
    out = []
    for doc_id, score in hits:
        if doc_id in seen:
            continue
        seen.add(doc_id)
        out.append(LegHit(doc_id, float(score), len(out) + 1))
    return out


def _check_weights(legs: Mapping[str, Sequence[LegHit]], weights: Mapping[str, float] | None) -> dict[str, float]:
    resolved = {name: 1.0 for name in legs}
    for name, weight in (weights or {}).items():
        if name not in legs:
            raise ValueError(f"weight given for unknown leg {name!r}; legs are {sorted(legs)}")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0 or not math.isfinite(weight):
            raise ValueError(f"weight of leg {name!r} must be a finite number >= 0, got {weight!r}")
        resolved[name] = float(weight)
    if legs and sum(resolved.values()) <= 0:
        raise ValueError("at least one leg needs a positive weight")
    return resolved


def _select(
    legs: Mapping[str, Sequence[LegHit]],
    scores: dict[str, float],
    best_rank: dict[str, tuple[int, int]],
    normalized: Mapping[str, Mapping[str, float]],
    top: int | None,
) -> list[FusedHit]:
    """Orders documents by fused score, then best (rank, leg index), and builds FusedHits
    only for the first `top` of them: a hybrid page needs 10 of ~200 candidates, and building the
    breakdown of every candidate was most of the fusion time."""
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 0):
        raise ValueError(f"top must be an integer >= 0 or None, got {top!r}")

    def key(doc_id: str) -> tuple[float, tuple[int, int]]:
        return (-scores[doc_id], best_rank[doc_id])

    chosen = sorted(scores, key=key) if top is None or top >= len(scores) else heapq.nsmallest(top, scores, key=key)
    by_leg: dict[str, dict[str, LegHit]] = {}
    for name, hits in legs.items():
        mine = by_leg[name] = {}
        for hit in hits:
            mine.setdefault(hit.id, hit)
    return [
        FusedHit(
            doc_id,
            scores[doc_id],
            {name: by_leg[name].get(doc_id) for name in legs},
            {name: normalized[name].get(doc_id) for name in legs},
        )
        for doc_id in chosen
    ]


def _best_ranks(legs: Mapping[str, Sequence[LegHit]]) -> dict[str, tuple[int, int]]:
    """Each document's best rank in any leg, with the index of the first leg holding it."""
    best: dict[str, tuple[int, int]] = {}
    for position, hits in enumerate(legs.values()):
        for hit in hits:
            if hit.id not in best or hit.rank < best[hit.id][0]:
                best[hit.id] = (hit.rank, position)
    return best


def rrf(
    legs: Mapping[str, Sequence[LegHit]],
    *,
    k: int = DEFAULT_RRF_K,
    weights: Mapping[str, float] | None = None,
    top: int | None = None,
) -> list[FusedHit]:
    """Fused hits, best first; `top` keeps only the first `top` (None: all)."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"the RRF constant k must be an integer >= 1, got {k!r}")
    w = _check_weights(legs, weights)
    scores: dict[str, float] = {}
    contributions: dict[str, dict[str, float]] = {}
    for name, hits in legs.items():
        weight, mine = w[name], {}
        for hit in hits:
            if hit.id in mine:
                continue  # a repeated id keeps its first (best) rank, as ranked() does
            mine[hit.id] = contribution = weight / (k + hit.rank)
            scores[hit.id] = scores.get(hit.id, 0.0) + contribution
        contributions[name] = mine
    return _select(legs, scores, _best_ranks(legs), contributions, top)


def normalize(scores: Sequence[float], method: str) -> list[float]:
    if method not in NORMALIZATIONS:
        raise ValueError(f"unknown normalisation {method!r}; choose one of {', '.join(NORMALIZATIONS)}")
    if not scores:
        return []
    values = [float(s) for s in scores]
    if method == "minmax":
        low, high = min(values), max(values)
        if high == low:
            return [1.0] * len(values)
        return [(v - low) / (high - low) for v in values]
    if method == "zscore":
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        if std == 0:
            return [0.0] * len(values)
        return [(v - mean) / std for v in values]
    norm = math.sqrt(sum(v * v for v in values))
    if norm == 0:
        return [0.0] * len(values)
    return [v / norm for v in values]


def combine(normalized: Mapping[str, float | None], weights: Mapping[str, float], method: str) -> float:
    if method not in COMBINATIONS:
        raise ValueError(f"unknown combination {method!r}; choose one of {', '.join(COMBINATIONS)}")
    if method == "arithmetic":
        total = sum(weights.values())
        return sum(weights[name] * (score or 0.0) for name, score in normalized.items()) / total
    present = {name: s for name, s in normalized.items() if s is not None and s > 0 and weights[name] > 0}
    if not present:
        return 0.0
    total = sum(weights[name] for name in present)
    if method == "geometric":
        return math.exp(sum(weights[n] * math.log(s) for n, s in present.items()) / total)
    return total / sum(weights[n] / s for n, s in present.items())


def linear(
    legs: Mapping[str, Sequence[LegHit]],
    *,
    normalization: str = "minmax",
    combination: str = "arithmetic",
    weights: Mapping[str, float] | None = None,
    top: int | None = None,
) -> list[FusedHit]:
    """Fused hits, best first; `top` keeps only the first `top` (None: all)."""
    if combination not in COMBINATIONS:
        raise ValueError(f"unknown combination {combination!r}; choose one of {', '.join(COMBINATIONS)}")
    w = _check_weights(legs, weights)
    normalized_by_leg: dict[str, dict[str, float]] = {}
    for name, hits in legs.items():
        mine: dict[str, float] = {}
        for hit, value in zip(hits, normalize([h.score for h in hits], normalization)):
            mine.setdefault(hit.id, value)
        normalized_by_leg[name] = mine
    candidates = dict.fromkeys(hit.id for hits in legs.values() for hit in hits)
    if combination == "arithmetic":
        # combine()'s arithmetic mean term for term, in the same order (the same float result),
        # without a dict per document: `tune` fuses hundreds of settings over thousands of queries.
        total = sum(w.values())
        terms = [(w[name], normalized_by_leg[name]) for name in legs]
        if len(terms) == 2:  # a hybrid search: 0.0 + a + b is what sum() adds, written out
            (w1, v1), (w2, v2) = terms
            scores = {doc_id: (0.0 + w1 * (v1.get(doc_id) or 0.0) + w2 * (v2.get(doc_id) or 0.0)) / total for doc_id in candidates}
        else:
            scores = {doc_id: sum(weight * (values.get(doc_id) or 0.0) for weight, values in terms) / total for doc_id in candidates}
    else:
        scores = {doc_id: combine({name: normalized_by_leg[name].get(doc_id) for name in legs}, w, combination) for doc_id in candidates}
    return _select(legs, scores, _best_ranks(legs), normalized_by_leg, top)


RAWSUM = "rawsum"


@dataclass(frozen=True)
class FusionSpec:
    """A parsed `--fusion` value: `rrf`, `rrf:K`, `linear:minmax`, `linear:zscore:geometric`, or
    `rawsum` (the engine adds the legs' raw scores in one request: no normalisation, no ranks)."""

    method: str = "rrf"
    rrf_k: int = DEFAULT_RRF_K
    normalization: str = "minmax"
    combination: str = "arithmetic"

    @classmethod
    def parse(cls, text: "str | FusionSpec") -> "FusionSpec":
        if isinstance(text, FusionSpec):
            return text
        parts = str(text).strip().lower().split(":")
        if parts[0] == "rrf" and len(parts) <= 2:
            k = DEFAULT_RRF_K
            if len(parts) == 2:
                if not parts[1].isdigit() or int(parts[1]) < 1:
                    raise ValueError(f"in {text!r} the RRF constant must be a positive integer")
                k = int(parts[1])
            return cls("rrf", rrf_k=k)
        if parts[0] == RAWSUM and len(parts) == 1:
            return cls(RAWSUM)
        if parts[0] == "native" and len(parts) == 1:
            raise ValueError(
                "fusion 'native' is now two things: use fusion_at='engine' (--fusion-at engine) to run rrf or "
                "linear:* inside the engine with its plugin, or --fusion rawsum for the one-request sum of raw scores"
            )
        if parts[0] == "linear" and 2 <= len(parts) <= 3 and parts[1] in NORMALIZATIONS:
            combination = parts[2] if len(parts) == 3 else "arithmetic"
            if combination not in COMBINATIONS:
                raise ValueError(f"unknown combination {combination!r} in {text!r}; choose one of {', '.join(COMBINATIONS)}")
            return cls("linear", normalization=parts[1], combination=combination)
        raise ValueError(
            f"unknown fusion {text!r}; use rrf, rrf:K, linear:minmax|zscore|l2[:arithmetic|geometric|harmonic] or rawsum"
        )

    def __str__(self) -> str:
        if self.method == "rrf":
            return "rrf" if self.rrf_k == DEFAULT_RRF_K else f"rrf:{self.rrf_k}"
        if self.method == "linear":
            suffix = "" if self.combination == "arithmetic" else f":{self.combination}"
            return f"linear:{self.normalization}{suffix}"
        return self.method

    def fuse(
        self, legs: Mapping[str, Sequence[LegHit]], weights: Mapping[str, float] | None = None, *, top: int | None = None
    ) -> list[FusedHit]:
        if self.method == "rrf":
            return rrf(legs, k=self.rrf_k, weights=weights, top=top)
        if self.method == "linear":
            return linear(legs, normalization=self.normalization, combination=self.combination, weights=weights, top=top)
        raise ValueError("rawsum is computed inside the engine, not in the client")
