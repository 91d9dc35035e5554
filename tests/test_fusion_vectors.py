"""The Python fusion against the shared vectors docs/fusion-vectors.json, which the Java plugins'
unit tests check as well (one specification, docs/fusion.md, for the client and the engines)."""

from __future__ import annotations

import json

import pytest

from .conftest import REPO
from .fusion_vectors import build_cases, fuse

VECTORS = json.loads((REPO / "docs" / "fusion-vectors.json").read_text())


def test_committed_vectors_are_the_generated_ones():
    # A change of the maths must regenerate the file the Java tests read (command in tests/fusion_vectors.py).
    assert VECTORS["cases"] == json.loads(json.dumps(build_cases()))


def _agrees(got: list[dict], want: list[dict]) -> bool:
    if [h["id"] for h in got] != [h["id"] for h in want]:
        return False
    for mine, theirs in zip(got, want):
        if mine["score"] != pytest.approx(theirs["score"], rel=1e-12, abs=1e-15):
            return False
        expected_legs = [
            None if leg is None else {**leg, "normalized": pytest.approx(leg["normalized"], rel=1e-12, abs=1e-15)} for leg in theirs["legs"]
        ]
        if mine["legs"] != expected_legs:
            return False
    return True


def test_python_fuses_every_case_as_the_vectors_say():
    failed = [c["name"] for c in VECTORS["cases"] if not _agrees(fuse(c["fusion"], c["legs"], c["weights"], c["top"]), c["expected"])]
    assert not failed, f"{len(failed)} of {len(VECTORS['cases'])} cases differ, e.g. {failed[:5]}"


def test_a_changed_rule_is_caught():
    # The check above can fail: the same legs with the leg order swapped break the tie rule.
    case = next(c for c in VECTORS["cases"] if c["name"].startswith("one-leg hits tie") and c["fusion"] == "rrf")
    swapped = fuse(case["fusion"], case["legs"][::-1], case["weights"], case["top"])
    assert not _agrees([{**h, "legs": h["legs"][::-1]} for h in swapped], case["expected"])


def test_vectors_order_follows_the_written_rule():
    """Independent of fusion.py: every expected list is sorted by (-score, best rank, first leg with it)."""
    checked = 0
    for case in VECTORS["cases"]:
        keys = []
        for hit in case["expected"]:
            best = min((leg["rank"], i) for i, leg in enumerate(hit["legs"]) if leg is not None)
            keys.append((-hit["score"], best))
        assert keys == sorted(keys), case["name"]
        assert len(set(keys)) == len(keys), case["name"]
        checked += len(keys) > 1
    assert checked > 500
