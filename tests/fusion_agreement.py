"""Engine-side against client-side fusion: the comparison the cross-engine tests make.

Elasticsearch and Solr fuse with our plugins, which follow docs/fusion.md exactly: same ids in the
same order, scores equal within 1e-6. OpenSearch fuses with its own plugin, whose differences are
documented in docs/fusion.md ("OpenSearch") and reproduced here by `opensearch_expected`:
min-max gives a leg's lowest hit 0.001 instead of 0, scores are float32, equal fused scores come
back in OpenSearch's internal document order (so within a run of equal scores only the set of ids
must match). And the kNN sub-query inside OpenSearch's `hybrid` query is its own approximate
search: the top of its list is the standalone kNN leg's, but its last few hits (down to rank
`depth`) can be other documents, so the leg's minimum, and with it min-max and L2 normalisation,
moves slightly (measured on NFCorpus: up to a few 1e-4 relative on the fused scores). RRF, which
reads ranks near the top only, agrees exactly; linear fusion is compared within OPENSEARCH_LINEAR_REL.
"""

from __future__ import annotations

import pytest

from neural_search.fusion import FusedHit, FusionSpec, LegHit, combine, normalize, rrf

OPENSEARCH_MIN_SCORE = 0.001  # MinMaxScoreNormalizationTechnique.MIN_SCORE
OPENSEARCH_LINEAR_REL = 2e-3  # its kNN sub-query's approximate tail (module docstring)


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


def assert_same_page(
    engine: list[tuple[str, float]], client: list[tuple[str, float]], *, ties_in_any_order: bool, what: str, rel: float = 1e-6
) -> None:
    """`engine` is a page (top k); `client` the whole fused list, best first. Scores must agree
    within `rel`; with ties_in_any_order, hits whose scores agree within `rel` may trade places."""
    assert len(engine) == min(len(client), len(engine)) and len(engine) > 0, what
    for position, ((eid, escore), (cid, cscore)) in enumerate(zip(engine, client), start=1):
        assert escore == pytest.approx(cscore, rel=rel, abs=1e-9), f"{what}: score at #{position} ({eid} {escore} vs {cid} {cscore})"
        if not ties_in_any_order:
            assert eid == cid, f"{what}: id at #{position}"
    if ties_in_any_order:
        scores = dict(client)
        for eid, escore in engine:
            assert eid in scores and scores[eid] == pytest.approx(escore, rel=rel, abs=1e-9), (
                f"{what}: {eid} (score {escore}) is not the client's hit of that score"
            )
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
