"""The round's graph: eligible pairs and their pruning, pinned against a place-by-place oracle.

``_edges_place_by_place`` is the round's edge generation as it was first written (one place at a time:
every hard rule over the whole pool, then the scores of the eligible, ``argpartition`` for the place's
best): the specification the fast path in ``scoring.allocation`` must reproduce pair for pair, with
the same ``graph`` numbers and, where the order is defined, the same order.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures import generate_region
from scoring import allocation, score
from scoring.allocation import RoundParams, build_round, pair_keys
from scoring.policy import Policy, load_policy, parse_policy
from scoring.pool import CandidatePool, PlaceTable, build_pool
from tests.scoring.oracles import edges_place_by_place as _edges_place_by_place


def _assert_same_edges(pool: CandidatePool, places: PlaceTable, policy: Policy, params: RoundParams) -> None:
    want_c, want_p, want_graph = _edges_place_by_place(pool, places, policy, params)
    got_c, got_p, got_graph = allocation._eligible_edges(pool, places, policy, params, None)
    cuts = got_graph.pop("_score_cuts", None)
    every = want_graph.pop("_eligible", [])
    assert got_graph == want_graph
    if cuts is not None:
        # Every eligible pair the pruning left out is listed with its score (left out by its
        # candidate) or scores at most its place's lowest kept score (what pricing reads).
        kept = pair_keys(got_c, got_p, places.size)
        dropped = pair_keys(cuts.dropped_cand, cuts.dropped_place, places.size)
        assert not np.isin(dropped, kept).any()
        for idx, p, total in every:
            keys = pair_keys(idx, p, places.size)
            listed = np.isin(keys, dropped)
            out = ~np.isin(keys, kept) & ~listed
            assert (total[out] <= cuts.place[p]).all()
            at = np.flatnonzero(cuts.dropped_place == p)
            np.testing.assert_array_equal(np.sort(cuts.dropped_score[at]), np.sort(total[listed]))
    if params.prune and params.per_candidate > 0:
        # Ordered by candidate, then score (best first), then place: the same arrays, element for element.
        np.testing.assert_array_equal(got_c, want_c)
        np.testing.assert_array_equal(got_p, want_p)
    else:
        want = np.sort(pair_keys(want_c, want_p, places.size))
        np.testing.assert_array_equal(np.sort(pair_keys(got_c, got_p, places.size)), want)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy("gothenburg")


@pytest.fixture(scope="module")
def small(policy: Policy) -> tuple[CandidatePool, PlaceTable]:
    return build_pool(generate_region("gothenburg", "small", seed=7), policy)


@pytest.fixture(scope="module")
def medium(policy: Policy) -> tuple[CandidatePool, PlaceTable]:
    return build_pool(generate_region("gothenburg", "medium", seed=7), policy)


@pytest.mark.parametrize("params", [
    RoundParams(),
    RoundParams(include_held_back=True),
    RoundParams(prune=False),
    RoundParams(per_slot=3, min_per_place=7, per_candidate=4),  # pruning binds at every place
    RoundParams(per_slot=3, min_per_place=7, per_candidate=0),
    RoundParams(per_slot=1, min_per_place=1, per_candidate=1, include_held_back=True),
], ids=["default", "held-back", "no-prune", "tight", "tight-no-per-candidate", "one-each"])
def test_small_region_same_edges_as_the_oracle(
    small: tuple[CandidatePool, PlaceTable], policy: Policy, params: RoundParams
) -> None:
    _assert_same_edges(*small, policy, params)


@pytest.mark.parametrize("params", [RoundParams(), RoundParams(per_slot=10, min_per_place=25)],
                         ids=["default", "tighter"])
def test_medium_region_same_edges_as_the_oracle(
    medium: tuple[CandidatePool, PlaceTable], policy: Policy, params: RoundParams
) -> None:
    _assert_same_edges(*medium, policy, params)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("region", ["ostersund", "sodertalje"])
def test_other_regions_same_edges_as_the_oracle(region: str, seed: int) -> None:
    generated = generate_region(region, "small", seed=seed)
    policy = load_policy(generated.manifest.policy)
    pool, places = build_pool(generated, policy)
    _assert_same_edges(pool, places, policy, RoundParams(per_slot=5, min_per_place=21, per_candidate=6))


def test_ties_at_the_cut_are_broken_as_the_oracle_breaks_them(policy: Policy) -> None:
    # Every candidate three times over: equal scores everywhere, so an odd cut splits a set of twins.
    region = generate_region("gothenburg", "small", seed=5)
    cands = region.candidates
    twins = [cands.with_columns(pl.col("candidate_id") + f"-{k}") for k in ("b", "c")]
    tripled = dataclasses.replace(region, candidates=pl.concat([cands, *twins]))
    pool, places = build_pool(tripled, policy)
    for params in (RoundParams(per_slot=1, min_per_place=7, per_candidate=5), RoundParams()):
        _assert_same_edges(pool, places, policy, params)


@pytest.mark.parametrize("weights", [
    {"competence": 0, "distance": 0, "ladder": 0, "time_far": 0, "priority_group": 0, "gender_norm": 0,
     "wishes": 0},
    {"competence": 1, "distance": 0, "ladder": 0, "time_far": 0, "priority_group": 0, "gender_norm": 0,
     "wishes": 0},
    {"competence": 0, "distance": 1000, "ladder": 0, "time_far": 0, "priority_group": 0, "gender_norm": 0,
     "wishes": 0},
    {"competence": 3, "distance": 250, "ladder": 0.5, "time_far": 7, "priority_group": 12, "gender_norm": 40,
     "wishes": 1},
], ids=["all-zero", "competence-only", "distance-only", "lopsided"])
def test_other_weights_same_edges_as_the_oracle(
    small: tuple[CandidatePool, PlaceTable], policy: Policy, weights: dict[str, float]
) -> None:
    data = policy.model_dump(mode="json")
    data["weights"] = weights
    data["eligibility"] = {**data["eligibility"], "steps_below_with_supervisor": 2, "availability_grace_days": 9}
    _assert_same_edges(*small, parse_policy(data), RoundParams(per_slot=4, min_per_place=11, per_candidate=3))


def test_build_round_gives_the_same_problem(
    small: tuple[CandidatePool, PlaceTable], policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pool, places), params = small, RoundParams(per_slot=5, min_per_place=30)
    got = build_round(pool, places, policy, params).problem
    monkeypatch.setattr(allocation, "_eligible_edges",
                        lambda pool, places, policy, params, progress: _edges_place_by_place(
                            pool, places, policy, params))
    want = build_round(pool, places, policy, params).problem
    for name in ("edge_candidate", "edge_place", "edge_score", "edge_groups", "district_lower",
                 "district_upper", "place_slots"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def test_a_competence_term_not_linear_in_hits_is_screened_by_its_table(
    small: tuple[CandidatePool, PlaceTable], policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The screen adds a step per concept where the term is linear in the hits (it is, 0.75 r + 0.25 w);
    # any other term goes through its table of hits.
    def squared(hits_req: npt.NDArray[np.integer], hits_want: npt.NDArray[np.integer],
                num_req: npt.ArrayLike, num_want: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return linear(hits_req, hits_want, num_req, num_want) ** 2

    linear = score._competence_value
    monkeypatch.setattr(score, "_competence_value", squared)
    _assert_same_edges(*small, policy, RoundParams(per_slot=3, min_per_place=9, per_candidate=4))


def test_a_screen_off_by_more_than_its_margin_falls_back(
    small: tuple[CandidatePool, PlaceTable], policy: Policy, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(allocation, "_SCREEN_MARGIN", 1e-12)  # far below float32's rounding
    with caplog.at_level(logging.WARNING, logger="scoring.allocation"):
        _assert_same_edges(*small, policy, RoundParams(per_slot=3, min_per_place=9, per_candidate=4))
    assert "the screen was off" in caplog.text


def _within_margin_of_kth_best(screen: npt.NDArray[np.float32], keep: int, margin: np.float32) -> None:
    kth_best = np.sort(screen)[::-1][keep - 1]
    np.testing.assert_array_equal(np.sort(allocation._near_best(screen, keep, margin)),
                                  np.flatnonzero(screen >= kth_best - margin))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_near_best_is_everything_within_the_margin_of_the_kth_best(data: st.DataObject) -> None:
    grid = st.integers(0, 12).map(lambda k: k * 0.3)
    values = data.draw(st.lists(st.one_of(grid, st.floats(-100, 100, width=32), st.just(-1e30)),
                                min_size=1, max_size=3000))
    screen = np.array(values, dtype=np.float32)
    screen[:: data.draw(st.integers(1, 60))] = data.draw(grid)  # where a strided sample looks
    if data.draw(st.booleans()):
        screen.sort()
    keep = data.draw(st.integers(1, max(1, len(values) // data.draw(st.sampled_from([1, 40, 200])))))
    _within_margin_of_kth_best(screen, keep, np.float32(data.draw(st.sampled_from([0.0, 1e-3, 0.5]))))


def test_near_best_when_the_sample_overrates_the_top() -> None:
    # Every 10th score is sampled: 5 of the sample's scores are the best (3.0), so fewer than keep
    # reach the guess; the 10th best (2.7) is within the margin below it, and so are 2.4s beyond.
    screen = np.zeros(1600, dtype=np.float32)
    screen[0:50:10] = 3.0
    screen[1:200:10] = 2.7
    screen[[3, 13, 23]] = 2.4
    _within_margin_of_kth_best(screen, 10, np.float32(0.5))
