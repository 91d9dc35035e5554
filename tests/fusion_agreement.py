"""Engine-side against client-side fusion: the comparison the cross-engine tests make.

Elasticsearch and Solr fuse with our plugins, which follow docs/fusion.md exactly: same ids in the
same order, scores equal within 1e-6. OpenSearch fuses with its own plugin, whose differences are
documented in docs/fusion.md ("OpenSearch") and reproduced here by `opensearch_expected`:
min-max gives a leg's lowest hit 0.001 instead of 0, scores are float32, equal fused scores come
back in OpenSearch's internal document order (so within a run of equal scores only the set of ids
must match), and on some queries its combination leaves out a leg's last hit (`opensearch_variants`).
"""

from __future__ import annotations

import pytest

from neural_search.fusion import FusedHit, FusionSpec, LegHit, combine, normalize, rrf

OPENSEARCH_MIN_SCORE = 0.001  # MinMaxScoreNormalizationTechnique.MIN_SCORE


def opensearch_expected(legs: dict[str, list[LegHit]], spec: FusionSpec) -> list[tuple[str, float]]:
    """What OpenSearch 2.19's neural-search plugin gives for these legs, by its documented rules."""
    if spec.method == "rrf":
        return [(h.id, h.score) for h in rrf(legs, k=spec.rrf_k)]
    normalized = {}
    for name, hits in legs.items():
        values = normalize([h.score for h in hits], spec.normalization)
        if spec.normalization == "minmax":
            values = [OPENSEARCH_MIN_SCORE if v == 0.0 else v for v in values]
        normalized[name] = dict(zip((h.id for h in hits), values))
    ids = dict.fromkeys(h.id for hits in legs.values() for h in hits)
    weights = {name: 1.0 for name in legs}
    scored = [(doc_id, combine({n: normalized[n].get(doc_id) for n in legs}, weights, spec.combination)) for doc_id in ids]
    return sorted(scored, key=lambda pair: -pair[1])


def opensearch_variants(legs: dict[str, list[LegHit]]) -> list[tuple[str, dict[str, list[LegHit]]]]:
    """The legs as OpenSearch 2.19 may combine them. Measured on NFCorpus ("domoic acid",
    linear:minmax): its explanation normalises over all 100 kNN hits, but the combined scores
    used the 99th hit as the minimum, i.e. the leg without its last hit. So each leg is taken
    whole or without its last hit; a page must match one of these readings exactly."""
    out = [("whole legs", legs)]
    for name in legs:
        if legs[name]:
            out.append((f"{name} without its last hit", {**legs, name: legs[name][:-1]}))
    if all(legs.values()):
        out.append(("both without their last hit", {n: hits[:-1] for n, hits in legs.items()}))
    return out


def matches_some_variant(engine: list[tuple[str, float]], legs: dict[str, list[LegHit]], spec: FusionSpec, what: str) -> str:
    """The reading of the legs (opensearch_variants) that OpenSearch's page matches; fails if none does."""
    problems = []
    for name, variant in opensearch_variants(legs):
        try:
            assert_same_page(engine, opensearch_expected(variant, spec), ties_in_any_order=True, what=f"{what} ({name})")
            return name
        except AssertionError as exc:
            problems.append(str(exc).splitlines()[0])
    raise AssertionError(f"{what}: matches no documented reading of the legs: {problems}")


def assert_same_page(engine: list[tuple[str, float]], client: list[tuple[str, float]], *, ties_in_any_order: bool, what: str) -> None:
    """`engine` is a page (top k); `client` the whole fused list, best first."""
    assert len(engine) == min(len(client), len(engine)) and len(engine) > 0, what
    for position, ((eid, escore), (cid, cscore)) in enumerate(zip(engine, client), start=1):
        assert escore == pytest.approx(cscore, rel=1e-6, abs=1e-9), f"{what}: score at #{position} ({eid} vs {cid})"
        if not ties_in_any_order:
            assert eid == cid, f"{what}: id at #{position}"
    if ties_in_any_order:
        for eid, escore in engine:
            group = {cid for cid, cscore in client if cscore == pytest.approx(escore, rel=1e-6, abs=1e-9)}
            assert eid in group, f"{what}: {eid} (score {escore}) is not among the client's hits of that score"
        assert len({eid for eid, _ in engine}) == len(engine), what


def same_legs(engine_legs: dict, fused: FusedHit) -> bool:
    """The per-leg breakdown an engine reported equals the client's (rank, raw score, normalised)."""
    for leg, detail in engine_legs.items():
        mine = fused.legs.get(leg)
        if (detail is None) != (mine is None):
            return False
        if detail is None:
            continue
        if detail.rank != mine.rank or detail.score != pytest.approx(mine.score, rel=1e-6):
            return False
        if detail.normalized != pytest.approx(fused.normalized[leg], rel=1e-6, abs=1e-9):
            return False
    return True
