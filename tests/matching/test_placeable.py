"""matching.max_placeable, the one max flow behind "the most we can place", against a MILP."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from matching import AllocationProblem, build_problem, max_placeable
from tests.matching.conftest import reference_milp, small_rounds
from tests.matching.test_properties import SETTINGS


def _relaxed(p: AllocationProblem, usable: np.ndarray) -> AllocationProblem:
    """The round without lower bounds and floors, every pair outside ``usable`` (pins excepted)
    forbidden: the reference's most placed is then max_placeable's question."""
    is_pin = np.zeros(p.num_edges, bool)
    is_pin[p.pins] = True
    return dataclasses.replace(
        p, district_lower=np.zeros(p.num_districts, np.int32),
        group_floor=np.zeros(p.num_groups, np.float64),
        edge_forbidden=p.forbidden | (~usable & ~is_pin))


@SETTINGS
@given(small_rounds())
def test_the_most_placed_equals_the_reference_milp(p: AllocationProblem) -> None:
    ref = reference_milp(_relaxed(p, np.ones(p.num_edges, bool)), "max_placed")
    assume(ref.feasible)  # pins beyond a district's upper bound: no assignment at all
    assert max_placeable(p) == ref.num_assigned


@SETTINGS
@given(small_rounds(), st.integers(0, 2**32 - 1))
def test_a_subset_of_pairs_places_what_the_reference_places_with_them(p: AllocationProblem,
                                                                       seed: int) -> None:
    mask = np.random.default_rng(seed).random(p.num_edges) < 0.6
    ref = reference_milp(_relaxed(p, mask), "max_placed")
    assume(ref.feasible)
    pins_outside = int((~mask[p.pins]).sum())  # they take their slots but are not counted
    assert max_placeable(p, mask) == ref.num_assigned - pins_outside
    assert max_placeable(p, np.flatnonzero(mask)) == max_placeable(p, mask)


def test_upper_bounds_pins_and_forbidden_pairs_limit_the_number() -> None:
    # Candidates 0 and 1 of district 0 (upper bound 2), 2 and 3 of district 1, two places of two
    # slots; candidate 3's only pair is forbidden; candidate 0 is pinned to place 1.
    p = build_problem(
        num_candidates=4, num_places=2, edge_candidate=[0, 0, 1, 2, 3], edge_place=[0, 1, 0, 1, 0],
        edge_score=[1.0] * 5, place_slots=[2, 2], candidate_district=[0, 0, 1, 1],
        num_districts=2, district_upper=[2, 4], edge_forbidden=[False, False, False, False, True],
        pinned_edges=np.array([1], np.int64),
    )
    # The pin, candidate 1 (place 0) and candidate 2 (place 1's second slot).
    assert max_placeable(p) == 3
    # District 0's upper bound at 1: the pin fills it, candidate 1 cannot come.
    tight = dataclasses.replace(p, district_upper=np.array([1, 4], np.int32))
    assert max_placeable(tight) == 2
    # Only candidate 1's pair: the pin outside the subset is not counted, its slot still taken.
    assert max_placeable(p, [2]) == 1
    assert max_placeable(p, np.zeros(p.num_edges, bool)) == 0
