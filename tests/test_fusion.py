"""Fusion maths against hand-worked examples."""

import math

import pytest

from neural_search.fusion import FusionSpec, combine, linear, normalize, ranked, rrf


def legs(**scores):
    return {name: ranked(list(hits)) for name, hits in scores.items()}


def test_rrf_hand_worked():
    fused = rrf(legs(bm25=[("a", 9.0), ("b", 5.0), ("c", 1.0)], knn=[("c", 0.9), ("a", 0.8), ("d", 0.7)]), k=60)
    scores = {h.id: h.score for h in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)
    assert scores["d"] == pytest.approx(1 / 63)
    assert [h.id for h in fused] == ["a", "c", "b", "d"]


def test_rrf_single_leg_hit_is_marked_missing_not_zero():
    fused = rrf(legs(bm25=[("a", 3.0)], knn=[("b", 0.5)]))
    by_id = {h.id: h for h in fused}
    assert by_id["a"].legs["knn"] is None and by_id["a"].normalized["knn"] is None
    assert by_id["a"].legs["bm25"].rank == 1


def test_rrf_ties_break_by_best_rank_then_first_leg_holding_it():
    # b and a both get 1/61 from one leg; same best rank 1 -> the earlier leg's document first,
    # whatever the ids (the engines fuse before ids are loaded).
    fused = rrf(legs(bm25=[("b", 2.0)], knn=[("a", 0.3)]))
    assert [h.id for h in fused] == ["b", "a"]
    fused = rrf(legs(bm25=[("x", 2.0), ("a", 1.0)], knn=[("y", 0.9), ("b", 0.3)]))
    assert [h.id for h in fused] == ["x", "y", "a", "b"]


def test_rrf_weights_and_validation():
    fused = rrf(legs(bm25=[("a", 1.0)], knn=[("b", 1.0)]), weights={"knn": 2.0})
    assert fused[0].id == "b" and fused[0].score == pytest.approx(2 / 61)
    with pytest.raises(ValueError):
        rrf(legs(bm25=[("a", 1.0)]), weights={"dense": 1.0})
    with pytest.raises(ValueError):
        rrf(legs(bm25=[("a", 1.0)]), k=0)
    with pytest.raises(ValueError):
        rrf(legs(bm25=[("a", 1.0)]), weights={"bm25": -1})


def test_empty_leg_contributes_nothing():
    fused = linear(legs(bm25=[], knn=[("a", 0.9), ("b", 0.5)]))
    assert [h.id for h in fused] == ["a", "b"]
    assert fused[0].score == pytest.approx(0.5)  # (0 + 1.0) / 2
    assert rrf(legs(bm25=[], knn=[])) == []


def test_normalizations_hand_worked():
    assert normalize([2.0, 4.0, 6.0], "minmax") == pytest.approx([0.0, 0.5, 1.0])
    z = normalize([2.0, 4.0, 6.0], "zscore")
    assert z == pytest.approx([-math.sqrt(1.5), 0.0, math.sqrt(1.5)])
    assert normalize([3.0, 4.0], "l2") == pytest.approx([0.6, 0.8])


def test_normalizations_of_all_equal_scores():
    assert normalize([5.0, 5.0], "minmax") == [1.0, 1.0]
    assert normalize([5.0, 5.0], "zscore") == [0.0, 0.0]
    assert normalize([0.0, 0.0], "l2") == [0.0, 0.0]
    assert normalize([], "minmax") == []
    with pytest.raises(ValueError):
        normalize([1.0], "softmax")


def test_linear_minmax_arithmetic_hand_worked():
    fused = linear(legs(bm25=[("a", 10.0), ("b", 6.0), ("c", 2.0)], knn=[("b", 0.9), ("c", 0.8), ("d", 0.5)]))
    scores = {h.id: h.score for h in fused}
    # bm25 minmax: a 1, b .5, c 0; knn: b 1, c .75, d 0
    assert scores == pytest.approx({"a": 0.5, "b": 0.75, "c": 0.375, "d": 0.0})
    by_id = {h.id: h for h in fused}
    assert by_id["c"].normalized == pytest.approx({"bm25": 0.0, "knn": 0.75})
    assert by_id["d"].normalized["bm25"] is None  # missing, not zero
    assert [h.id for h in fused] == ["b", "a", "c", "d"]


def test_geometric_and_harmonic_use_positive_legs_only():
    weights = {"bm25": 1.0, "knn": 1.0}
    assert combine({"bm25": 0.25, "knn": 1.0}, weights, "geometric") == pytest.approx(0.5)
    assert combine({"bm25": 0.25, "knn": 1.0}, weights, "harmonic") == pytest.approx(0.4)
    assert combine({"bm25": None, "knn": 0.64}, weights, "geometric") == pytest.approx(0.64)
    assert combine({"bm25": 0.0, "knn": None}, weights, "harmonic") == 0.0
    assert combine({"bm25": None, "knn": 0.64}, weights, "arithmetic") == pytest.approx(0.32)


def test_weighted_arithmetic():
    fused = linear(legs(bm25=[("a", 1.0), ("b", 0.0)], knn=[("b", 1.0), ("a", 0.0)]), weights={"bm25": 0.2, "knn": 0.8})
    assert [h.id for h in fused] == ["b", "a"]
    assert fused[0].score == pytest.approx(0.8)


def test_ranked_dedupes_keeping_first_rank():
    hits = ranked([("a", 3.0), ("b", 2.0), ("a", 1.0)])
    assert [(h.id, h.rank) for h in hits] == [("a", 1), ("b", 2)]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("rrf", "rrf"),
        ("rrf:20", "rrf:20"),
        ("linear:minmax", "linear:minmax"),
        ("LINEAR:zscore:geometric", "linear:zscore:geometric"),
        ("linear:l2:arithmetic", "linear:l2"),
        ("rawsum", "rawsum"),
    ],
)
def test_fusion_spec_round_trip(text, expected):
    assert str(FusionSpec.parse(text)) == expected


@pytest.mark.parametrize("text", ["rrf:0", "rrf:x", "linear", "linear:softmax", "linear:minmax:median", "borda", "native"])
def test_fusion_spec_rejects(text):
    with pytest.raises(ValueError):
        FusionSpec.parse(text)


def _reference(fused_legs, score_of):
    """The fusion definition written out plainly: every document of any leg, its per-leg hit,
    its fused score, sorted by (-score, best rank, index of the first leg with that rank)."""
    ids = {h.id for hits in fused_legs.values() for h in hits}
    rows = []
    for doc_id in ids:
        per_leg = {name: next((h for h in hits if h.id == doc_id), None) for name, hits in fused_legs.items()}
        best = min((h.rank, i) for i, h in enumerate(per_leg.values()) if h is not None)
        rows.append((-score_of(per_leg), best, doc_id))
    keys = [row[:2] for row in rows]
    if len(set(keys)) != len(keys):
        raise AssertionError("the tie rule left two documents unordered")
    return [doc_id for _, _, doc_id in sorted(rows)]


@pytest.mark.parametrize("seed", range(25))
def test_fusion_matches_reference_and_top_is_a_prefix(seed):
    import random

    rng = random.Random(seed)
    pool = [f"d{i}" for i in range(rng.randint(1, 60))]
    # Coarse scores make equal fused scores (and so the tie rules) common.
    made = legs(
        bm25=[(d, float(rng.randint(0, 5))) for d in rng.sample(pool, rng.randint(0, len(pool)))],
        knn=[(d, rng.choice([0.2, 0.5, 0.9])) for d in rng.sample(pool, rng.randint(0, len(pool)))],
    )
    made = {name: sorted(hits, key=lambda h: h.rank) for name, hits in made.items()}
    weights = {"bm25": rng.choice([0.5, 1.0, 2.0]), "knn": 1.0}

    def rrf_score(per_leg):
        return sum(weights[n] / (60 + h.rank) for n, h in per_leg.items() if h is not None)

    assert [h.id for h in rrf(made, weights=weights)] == _reference(made, rrf_score)

    minmax = {n: dict(zip((h.id for h in hits), normalize([h.score for h in hits], "minmax"))) for n, hits in made.items()}

    def linear_score(per_leg):
        return combine({n: minmax[n].get(h.id) if h else None for n, h in per_leg.items()}, weights, "arithmetic")

    assert [h.id for h in linear(made, weights=weights)] == _reference(made, linear_score)

    for spec in ("rrf", "linear:minmax", "linear:zscore:geometric", "linear:l2:harmonic"):
        everything = FusionSpec.parse(spec).fuse(made, weights)
        for top in (0, 1, 7, len(everything), len(everything) + 5):
            assert FusionSpec.parse(spec).fuse(made, weights, top=top) == everything[:top]


def test_top_must_be_a_count():
    with pytest.raises(ValueError):
        rrf(legs(bm25=[("a", 1.0)]), top=-1)
