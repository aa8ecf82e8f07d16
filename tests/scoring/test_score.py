"""Score terms: one exact, hand-computed value per term, on the hand-built region.

Weights are Gothenburg's: competence 40, distance 15, ladder 10, time_far 10, priority_group 10,
gender_norm 5, wishes 10. The region is described in ``test_eligibility.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.score import TERMS, explain_pair, score_pairs
from tests.scoring.test_eligibility import KM_PER_DEGREE, hand_policy, hand_pool


@pytest.fixture(scope="module")
def built():  # type: ignore[no-untyped-def]
    policy = hand_policy()
    pool, places = hand_pool(policy)
    return pool, places, policy


def terms_of(built, cid: str, pid: str) -> tuple[float, dict[str, float]]:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    total, terms = score_pairs(pool, places, np.array([pool.position(cid)]), places.position(pid), policy)
    return float(total[0]), {name: float(v[0]) for name, v in terms.items()}


# --- competence -------------------------------------------------------------------------------

def test_competence_all_required_no_wanted(built) -> None:  # type: ignore[no-untyped-def]
    # C1 has both required (B licence, forklift), not the wanted scaffolding: 0.75·1 + 0.25·0.
    assert terms_of(built, "C1", "P1")[1]["competence"] == pytest.approx(0.75)


def test_competence_wanted_only_via_fuzzy_label(built) -> None:  # type: ignore[no-untyped-def]
    # C10: "Ställningsbyggnad" ≈ "Ställningsbygge" (wanted); no required: 0.75·0 + 0.25·1.
    assert terms_of(built, "C10", "P1")[1]["competence"] == pytest.approx(0.25)


def test_competence_half_required_by_code(built) -> None:  # type: ignore[no-untyped-def]
    # C11 gives the code "lic-b" directly: 1 of 2 required: 0.75·0.5.
    assert terms_of(built, "C11", "P1")[1]["competence"] == pytest.approx(0.375)


def test_competence_wanted_only_place(built) -> None:  # type: ignore[no-untyped-def]
    # P3 lists one wanted concept (B licence) and nothing required: the wanted share alone.
    assert terms_of(built, "C1", "P3")[1]["competence"] == pytest.approx(1.0)
    assert terms_of(built, "C2", "P3")[1]["competence"] == pytest.approx(0.0)


def test_competence_no_profile_is_full(built) -> None:  # type: ignore[no-untyped-def]
    assert terms_of(built, "C2", "P2")[1]["competence"] == pytest.approx(1.0)


# --- distance ---------------------------------------------------------------------------------

def test_distance_linear_to_commute_limit(built) -> None:  # type: ignore[no-untyped-def]
    # C1: 0.05° north = 5.5598 km, limit 20 km: 1 - 5.5598/20 = 0.72201.
    expected = 1 - 0.05 * KM_PER_DEGREE / 20
    assert terms_of(built, "C1", "P1")[1]["distance"] == pytest.approx(expected, abs=1e-5)
    # C11: 10 km south, limit 40 km: 0.75.
    assert terms_of(built, "C11", "P1")[1]["distance"] == pytest.approx(0.75, abs=1e-5)


def test_distance_zero_limit_at_workplace(built) -> None:  # type: ignore[no-untyped-def]
    assert terms_of(built, "C10", "P1")[1]["distance"] == pytest.approx(1.0)


def test_distance_beyond_limit_is_zero(built) -> None:  # type: ignore[no-untyped-def]
    # C3 (ineligible) lives 22.2 km away with a 15 km limit: clipped to 0.
    assert terms_of(built, "C3", "P1")[1]["distance"] == 0.0


# --- ladder -----------------------------------------------------------------------------------

def test_ladder_at_or_above_lowest(built) -> None:  # type: ignore[no-untyped-def]
    assert terms_of(built, "C1", "P1")[1]["ladder"] == 1.0   # step 4, place takes 3
    assert terms_of(built, "C10", "P1")[1]["ladder"] == 1.0  # step 3, place takes 3


def test_ladder_one_below_with_supervisor(built) -> None:  # type: ignore[no-untyped-def]
    # C2 on step 2 at P3 (lowest 3, supervisor, one step bridged): 1 - 1/(1 + 1) = 0.5.
    assert terms_of(built, "C2", "P3")[1]["ladder"] == pytest.approx(0.5)


# --- time far from the labour market -----------------------------------------------------------

def test_time_far_capped(built) -> None:  # type: ignore[no-untyped-def]
    assert terms_of(built, "C1", "P1")[1]["time_far"] == pytest.approx(1.0)     # 24 months: cap
    assert terms_of(built, "C10", "P1")[1]["time_far"] == pytest.approx(4 / 24)  # 2025-11-01: 4 months
    assert terms_of(built, "C11", "P1")[1]["time_far"] == pytest.approx(5 / 24)  # 2025-09-15: 5 months


# --- priority groups --------------------------------------------------------------------------

def test_priority_group_by_count(built) -> None:  # type: ignore[no-untyped-def]
    assert terms_of(built, "C1", "P1")[1]["priority_group"] == 0.0   # 26, Swedish-born, no disability
    assert terms_of(built, "C10", "P1")[1]["priority_group"] == 1.0  # youth + foreign-born
    _pool, _places, policy = built
    # One group only (disability, not youth): half the term.
    one = policy.model_copy(update={"groups": policy.groups.model_copy(update={"youth_max_age": 20})})
    pool1, places1 = hand_pool(one)
    _total, terms = score_pairs(pool1, places1, np.array([pool1.position("C11")]), 0, one)
    assert float(terms["priority_group"][0]) == 0.5


# --- gender norm ------------------------------------------------------------------------------

def test_gender_norm_breaker_pairs(built) -> None:  # type: ignore[no-untyped-def]
    assert terms_of(built, "C1", "P1")[1]["gender_norm"] == 1.0   # a woman, 10 % women
    assert terms_of(built, "C10", "P1")[1]["gender_norm"] == 0.0  # a man, 90 % men
    assert terms_of(built, "C12", "P3")[1]["gender_norm"] == 1.0  # a man, 90 % women
    assert terms_of(built, "C1", "P3")[1]["gender_norm"] == 0.0
    assert terms_of(built, "C11", "P1")[1]["gender_norm"] == 0.0  # gender X never counts


# --- wishes -----------------------------------------------------------------------------------

def test_wishes_type_and_hours(built) -> None:  # type: ignore[no-untyped-def]
    # No type named (0.5), 40 h wished at a 40 h place (1): 0.75.
    assert terms_of(built, "C1", "P1")[1]["wishes"] == pytest.approx(0.75)
    # Employment named (1), 30 h wished at 40 h: 1 - 10/20 = 0.5: 0.75.
    assert terms_of(built, "C10", "P1")[1]["wishes"] == pytest.approx(0.75)
    # Apprenticeship named at an apprenticeship (1), 40 h wished at 30 h (0.5): 0.75.
    assert terms_of(built, "C5", "P3")[1]["wishes"] == pytest.approx(0.75)
    # Employment or internship named, the place is an apprenticeship (0), 30 h at 30 h (1): 0.5.
    assert terms_of(built, "C10", "P3")[1]["wishes"] == pytest.approx(0.5)


# --- totals and explanations ------------------------------------------------------------------

def test_total_hand_computed(built) -> None:  # type: ignore[no-untyped-def]
    c1 = 40 * 0.75 + 15 * (1 - 0.05 * KM_PER_DEGREE / 20) + 10 + 10 + 0 + 5 + 10 * 0.75
    c10 = 40 * 0.25 + 15 + 10 + 10 * 4 / 24 + 10 + 0 + 10 * 0.75
    c11 = 40 * 0.375 + 15 * 0.75 + 10 + 10 * 5 / 24 + 10 + 0 + 10 * 0.75
    assert terms_of(built, "C1", "P1")[0] == pytest.approx(c1, abs=1e-4)   # 73.330
    assert terms_of(built, "C10", "P1")[0] == pytest.approx(c10, abs=1e-4)  # 54.167
    assert terms_of(built, "C11", "P1")[0] == pytest.approx(c11, abs=1e-4)  # 55.833


def test_contributions_add_up_to_total_for_every_pair(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    cand = np.repeat(np.arange(pool.size), places.size)
    place = np.tile(np.arange(places.size), pool.size)
    total, terms = score_pairs(pool, places, cand, place, policy)
    summed = sum(getattr(policy.weights, t) * terms[t] for t in TERMS)
    np.testing.assert_allclose(total, summed, rtol=0, atol=1e-9)
    for name in TERMS:
        assert np.all((terms[name] >= 0) & (terms[name] <= 1)), name
    # One place against the pool gives the same numbers as the edge list.
    for p in range(places.size):
        single, _ = score_pairs(pool, places, np.arange(pool.size), p, policy)
        np.testing.assert_array_equal(single, total[place == p])
    # And the explanation of each pair adds up to the same score.
    for c, p, t in zip(cand.tolist(), place.tolist(), total.tolist(), strict=True):
        breakdown = explain_pair(pool, places, c, p, policy)
        assert breakdown.total == t
        assert sum(x.points for x in breakdown.terms) == pytest.approx(t, abs=1e-9)


def test_explanation_words(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    words = {t.name: t.text for t in explain_pair(pool, places, pool.position("C1"), 0, policy).terms}
    assert words["competence"] == "has 2 of 2 required (B-körkort, Truckkort); has 0 of 1 wanted"
    assert words["distance"] == "lives 5.6 km away; accepts up to 20 km"
    assert words["time_far"] == "registered 24 months (counts up to 24)"
    assert words["gender_norm"] == "breaks the gender norm in this occupation (10% women)"
    assert words["wishes"] == "named no placement type; wishes 40 h/week, the place has 40 h"
    c10 = {t.name: t.text for t in explain_pair(pool, places, pool.position("C10"), 0, policy).terms}
    assert c10["priority_group"] == "in priority groups: youth, foreign-born"
    assert c10["competence"] == "has 0 of 2 required; has 1 of 1 wanted (Ställningsbygge)"


_WEIGHT = st.floats(min_value=0, max_value=100, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(weights=st.fixed_dictionaries({t: _WEIGHT for t in TERMS}),
       pairs=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 2)), min_size=1, max_size=30))
def test_any_weights_total_is_weighted_sum(weights: dict[str, float], pairs: list[tuple[int, int]]) -> None:
    policy = hand_policy()
    policy = policy.model_copy(update={"weights": policy.weights.model_copy(update=weights)})
    pool, places = _POOL
    cand = np.array([c for c, _ in pairs])
    place = np.array([p for _, p in pairs])
    total, terms = score_pairs(pool, places, cand, place, policy)
    assert set(terms) == set(TERMS)
    expected = sum(weights[t] * terms[t] for t in TERMS)
    np.testing.assert_allclose(total, expected, rtol=1e-12, atol=1e-9)
    assert np.all(total >= 0) and np.all(total <= sum(weights.values()) + 1e-9)
    for c, p, t in zip(cand.tolist(), place.tolist(), total.tolist(), strict=True):
        breakdown = explain_pair(pool, places, c, p, policy)
        assert breakdown.total == t  # same arithmetic, same bits


_POOL = hand_pool(hand_policy())
