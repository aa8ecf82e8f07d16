"""Small rounds with a known optimum: one test per constraint, exact objective values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matching import (
    DistrictShortage,
    DistrictViolation,
    FloorShortfall,
    FloorViolation,
    SolveParams,
    Status,
    UnassignedReason,
    build_problem,
    compare,
    solve,
)


def round_(**kw):
    return build_problem(**kw)


def test_best_score_wins_and_the_loser_is_explained() -> None:
    p = round_(num_candidates=2, num_places=1, edge_candidate=[0, 1], edge_place=[0, 0],
               edge_score=[3.0, 5.0], place_slots=[1])
    r = solve(p)
    assert r.status is Status.OPTIMAL
    assert r.objective == 5.0 and r.bound == 5.0 and r.gap == 0.0
    assert r.candidate_place.tolist() == [-1, 0]
    why = r.explain(0)
    assert why.reason is UnassignedReason.OUTSCORED
    (comp,) = why.competitions
    assert (comp.place, comp.rival_candidate, comp.difference) == (0, 1, 2.0)
    assert r.explain(1).edge == 1


def test_score_is_rounded_to_score_scale() -> None:
    p = round_(num_candidates=1, num_places=1, edge_candidate=[0], edge_place=[0],
               edge_score=[1.23449], place_slots=[1])
    assert solve(p).objective == 1.234


def test_non_positive_scores_are_not_taken_in_score_mode() -> None:
    p = round_(num_candidates=2, num_places=1, edge_candidate=[0, 1], edge_place=[0, 0],
               edge_score=[-0.5, -1.0], place_slots=[2])
    r = solve(p)
    assert r.num_assigned == 0 and r.objective == 0.0
    assert r.unassigned_reason.tolist() == [UnassignedReason.CONSTRAINED] * 2


def test_district_lower_bound_forces_a_lower_score() -> None:
    p = round_(num_candidates=2, num_places=1, edge_candidate=[0, 1], edge_place=[0, 0],
               edge_score=[10.0, 4.0], place_slots=[1], candidate_district=[0, 1],
               district_lower=[0, 1], district_upper=[1, 1])
    r = solve(p)
    assert r.objective == 4.0 and r.candidate_place.tolist() == [-1, 0]


def test_district_upper_bound_is_kept_and_explained() -> None:
    p = round_(num_candidates=3, num_places=2, edge_candidate=[0, 1, 2],
               edge_place=[0, 1, 1], edge_score=[10.0, 9.0, 2.0], place_slots=[1, 1],
               candidate_district=[0, 0, 1], district_lower=[0, 0], district_upper=[1, 1])
    r = solve(p)
    assert r.objective == 12.0
    assert r.explain(1).reason is UnassignedReason.DISTRICT_UPPER_BOUND_REACHED


def test_group_floor_forces_a_group_member_in() -> None:
    # Candidate 2 is young (group 0); half of the assigned must be young.
    p = round_(num_candidates=3, num_places=2, edge_candidate=[0, 1, 2, 2],
               edge_place=[0, 1, 0, 1], edge_score=[10.0, 9.0, 6.0, 5.0], place_slots=[1, 1],
               edge_groups=[0, 0, 1, 1], group_floor=[0.5])
    unconstrained = round_(num_candidates=3, num_places=2, edge_candidate=[0, 1, 2, 2],
                           edge_place=[0, 1, 0, 1], edge_score=[10.0, 9.0, 6.0, 5.0],
                           place_slots=[1, 1])
    assert solve(unconstrained).objective == 19.0
    r = solve(p)
    assert r.status is Status.OPTIMAL and r.objective == 15.0
    assert r.candidate_place[2] >= 0


def test_pair_level_group_counts_only_for_that_pair() -> None:
    # A gender-norm breaker at place 1 only: the floor makes candidate 0 take place 1.
    p = round_(num_candidates=1, num_places=2, edge_candidate=[0, 0], edge_place=[0, 1],
               edge_score=[8.0, 3.0], place_slots=[1, 1], edge_groups=[0, 1],
               group_floor=[1.0])
    r = solve(p)
    assert r.objective == 3.0 and r.candidate_place.tolist() == [1]


def test_overlapping_floors_are_met_together() -> None:
    # Groups 0 and 1 overlap in candidate 2; each needs a share of 1/2 among 2 assigned.
    p = round_(num_candidates=4, num_places=1, edge_candidate=[0, 1, 2, 3],
               edge_place=[0, 0, 0, 0], edge_score=[9.0, 8.0, 5.0, 7.0], place_slots=[2],
               edge_groups=[0b01, 0b10, 0b11, 0], group_floor=[0.5, 0.5])
    r = solve(p)
    # Best pair with one member of each group: {0, 1} = 17 (2 + anything also ok, but less).
    assert r.objective == 17.0


def test_pins_are_kept_even_when_costly() -> None:
    p = round_(num_candidates=2, num_places=1, edge_candidate=[0, 1], edge_place=[0, 0],
               edge_score=[1.0, 9.0], place_slots=[1], pinned_edges=[0])
    r = solve(p)
    assert r.objective == 1.0 and r.candidate_place.tolist() == [0, -1]
    assert r.explain(0).pinned


def test_forbidden_pairs_are_never_chosen() -> None:
    p = round_(num_candidates=2, num_places=1, edge_candidate=[0, 1], edge_place=[0, 0],
               edge_score=[1.0, 9.0], place_slots=[1], edge_forbidden=[False, True])
    r = solve(p)
    assert r.objective == 1.0
    assert r.explain(1).reason is UnassignedReason.NO_ELIGIBLE_PLACE


def test_max_placed_prefers_more_people_over_score() -> None:
    p = round_(num_candidates=2, num_places=2, edge_candidate=[0, 1, 1], edge_place=[0, 0, 1],
               edge_score=[10.0, 20.0, 1.0], place_slots=[1, 1])
    assert solve(p).objective == 20.0
    r = solve(p, SolveParams(objective="max_placed"))
    assert r.num_assigned == 2 and r.objective == 11.0 and r.status is Status.OPTIMAL


def _angered_round(**extra):
    # 9 candidates live in Angered (district 0), the key asks for 14.
    c = 20
    return round_(num_candidates=c, num_places=1, edge_candidate=np.arange(c),
                  edge_place=np.zeros(c, int), edge_score=np.arange(c, dtype=float),
                  place_slots=[20], candidate_district=[0] * 9 + [1] * 11,
                  district_lower=[14, 0], district_upper=[20, 20],
                  district_names=["Angered", "Centrum"], **extra)


def test_infeasible_key_is_reported_with_numbers() -> None:
    p = _angered_round()
    r = solve(p)
    assert r.status is Status.INFEASIBLE
    assert r.infeasibility == [DistrictShortage(district=0, needed=14, available=9)]
    assert r.infeasibility[0].describe(p) == "Angered needs 14, only 9 eligible candidates live there"
    assert r.chosen_edges.size == 0 and math.isnan(r.objective)


def test_key_that_the_places_in_reach_cannot_take_is_reported() -> None:
    p = round_(num_candidates=3, num_places=2, edge_candidate=[0, 1, 2], edge_place=[0, 0, 1],
               edge_score=[1.0, 1.0, 1.0], place_slots=[1, 1], candidate_district=[0, 0, 1],
               district_lower=[2, 0], district_upper=[3, 3])
    (reason,) = solve(p).infeasibility
    assert reason == DistrictShortage(district=0, needed=2, available=2, placeable=1)


def test_penalised_solve_reports_violation_by_how_much() -> None:
    p = _angered_round()
    r = solve(p, SolveParams(on_infeasible="penalise", violation_penalty=1000.0))
    assert r.status is Status.OPTIMAL
    assert r.violations == [DistrictViolation(district=0, lower=14, upper=20, got=9)]
    assert r.violations[0].by == 5
    assert r.total_score == float(sum(range(20)))
    assert r.objective == r.total_score - 5 * 1000.0
    assert r.infeasibility  # the reasons are still given


def test_infeasible_floor_reports_the_best_share() -> None:
    # Two must be placed (key), only one candidate is young: at most 50 % young.
    p = round_(num_candidates=2, num_places=1, edge_candidate=[0, 1], edge_place=[0, 0],
               edge_score=[1.0, 1.0], place_slots=[2], district_lower=[2],
               district_upper=[2], edge_groups=[1, 0], group_floor=[0.75],
               group_names=["youth"])
    r = solve(p)
    assert r.status is Status.INFEASIBLE
    assert r.infeasibility == [FloorShortfall(group=0, floor=0.75, max_share=0.5)]
    pen = solve(p, SolveParams(on_infeasible="penalise", violation_penalty=100.0))
    assert pen.violations == [FloorViolation(group=0, floor=0.75, assigned=2, got=1, needed=2)]
    # Short by 0.75*2 - 1 = 0.5 persons at 100 per person.
    assert pen.objective == 2.0 - 50.0


def test_compare_decomposes_the_objective_difference() -> None:
    p = round_(num_candidates=3, num_places=2, edge_candidate=[0, 1, 2, 2],
               edge_place=[0, 1, 0, 1], edge_score=[10.0, 9.0, 6.0, 5.0], place_slots=[1, 1],
               edge_groups=[0, 0, 1, 1], group_floor=[0.5])
    a = solve(p, SolveParams(method="greedy"))
    b = solve(p)
    cmp = compare(a, b, p)
    assert a.objective == 19.0 and b.objective == 15.0
    parts = cmp.from_newly_placed + cmp.from_dropped + cmp.from_moved + cmp.from_penalties
    assert parts == pytest.approx(cmp.objective_difference) == -4.0
    assert cmp.newly_placed.tolist() == [2] and cmp.dropped.size == 1
    assert "group 0: 0.0 % -> 50.0 %" in cmp.describe(p)


def test_greedy_takes_pairs_by_score_and_reports_ignored_rules() -> None:
    p = round_(num_candidates=2, num_places=2, edge_candidate=[0, 0, 1], edge_place=[0, 1, 0],
               edge_score=[10.0, 9.0, 8.0], place_slots=[1, 1])
    r = solve(p, SolveParams(method="greedy"))
    assert r.candidate_place.tolist() == [0, -1] and r.objective == 10.0
    assert solve(p).objective == 17.0
    assert r.constraints_ignored == ("district_lower", "floors")


def test_deferred_acceptance_is_candidate_optimal_and_stable() -> None:
    # Candidate preferences differ from scores: 0 prefers place 1, 1 prefers place 0.
    p = round_(num_candidates=2, num_places=2, edge_candidate=[0, 0, 1, 1],
               edge_place=[0, 1, 0, 1], edge_score=[5.0, 1.0, 1.0, 5.0], place_slots=[1, 1],
               edge_preference=[1.0, 2.0, 2.0, 1.0])
    r = solve(p, SolveParams(method="deferred_acceptance"))
    assert r.candidate_place.tolist() == [1, 0]
    assert "district_upper" in r.constraints_ignored


def test_serial_dictatorship_depends_only_on_the_seed() -> None:
    p = round_(num_candidates=3, num_places=1, edge_candidate=[0, 1, 2], edge_place=[0, 0, 0],
               edge_score=[1.0, 2.0, 3.0], place_slots=[1])
    picks = {int(np.flatnonzero(solve(p, SolveParams(method="serial_dictatorship", seed=s))
                                .candidate_place >= 0)[0]) for s in range(12)}
    assert picks == {0, 1, 2}
    a = solve(p, SolveParams(method="serial_dictatorship", seed=4))
    b = solve(p, SolveParams(method="serial_dictatorship", seed=4))
    assert a.candidate_place.tolist() == b.candidate_place.tolist()
