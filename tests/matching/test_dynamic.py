"""The dynamic mode's core (matching.dynamic): prices, the known-future check, the year's rules."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from matching import ParamsError, build_problem
from matching.dynamic import (
    DynamicParams,
    YearSoFar,
    hindsight,
    lp_prices,
    run_dynamic,
    run_online_greedy,
    year_violations,
)


def _random_year(seed: int, *, num_candidates: int = 48, num_places: int = 6, slots: int = 3,
                 batch: int = 8, keys: bool = False):
    rng = np.random.default_rng(seed)
    ec, ep, es = [], [], []
    for c in range(num_candidates):
        for p in rng.choice(num_places, 3, replace=False):
            ec.append(c)
            ep.append(int(p))
            es.append(int(rng.integers(0, 10_000)) / 100)  # multiples of 0.01
    extra = {}
    if keys:
        extra = {"candidate_district": rng.integers(0, 2, num_candidates),
                 "num_districts": 2, "district_lower": [0, 0],
                 "district_upper": [num_places * slots // 3, num_places * slots]}
    problem = build_problem(num_candidates=num_candidates, num_places=num_places,
                            edge_candidate=ec, edge_place=ep, edge_score=es,
                            place_slots=[slots] * num_places, **extra)
    return problem, np.arange(num_candidates) // batch


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("keys", [False, True])
def test_known_future_gives_the_hindsight_optimum(seed: int, keys: bool) -> None:
    problem, arrival = _random_year(seed, keys=keys)
    best, best_edges = hindsight(problem, arrival)
    run = run_dynamic(problem, arrival, DynamicParams(future="known", k=2))
    assert best.status.value == "optimal"
    assert run.total_score(problem) == pytest.approx(best.objective, abs=1e-6)
    assert run.total_score(problem) == pytest.approx(float(problem.edge_score[best_edges].sum()))
    # Without prices (batch rounds) and greedy do worse on these years: the check has teeth.
    rounds = run_dynamic(problem, arrival, DynamicParams(pricing=False))
    greedy = run_online_greedy(problem, np.argsort(arrival, kind="stable"))
    assert rounds.total_score(problem) < best.objective - 1
    assert float(problem.edge_score[greedy].sum()) < best.objective - 1
    assert not year_violations(problem, run.placed_edges)


def test_prices_are_the_duals_of_an_independent_lp() -> None:
    # One place with 2 slots; candidates 0 and 2 arrive now (weight 1), candidate 1 is a future
    # drawn half a time (weight 0.5). The LP places 0 and 1 fully, 2 by half: the place's price is
    # candidate 2's score, 4 (hand-checked), and candidate 2 is in a group with a 10 % floor.
    problem = build_problem(num_candidates=3, num_places=1, edge_candidate=[0, 1, 2],
                            edge_place=[0, 0, 0], edge_score=[9.0, 7.0, 4.0], place_slots=[2],
                            edge_groups=[0, 0, 1], group_floor=[0.1])
    w = np.array([1.0, 0.5, 1.0])
    sol = lp_prices(problem, w)
    assert sol.objective == pytest.approx(9 + 3.5 + 2)
    assert sol.x.tolist() == pytest.approx([1.0, 0.5, 0.5])
    assert sol.prices.place.tolist() == pytest.approx([4.0])
    assert sol.prices.floor.tolist() == pytest.approx([0.0])  # 0.5 of 2 placed: the floor is slack

    # A district upper key that binds (upper 1), then a floor that binds (60 %), against scipy's
    # linprog (HiGHS) marginals: an LP written out separately, row by row.
    for upper, binding in ((1, "key"), (2, "floor")):
        problem = build_problem(num_candidates=4, num_places=2, edge_candidate=[0, 0, 1, 2, 3, 3],
                                edge_place=[0, 1, 0, 1, 0, 1],
                                edge_score=[9.0, 6.0, 7.0, 5.0, 3.0, 2.5], place_slots=[2, 1],
                                candidate_district=[0, 0, 1, 1], num_districts=2,
                                district_lower=[0, 0], district_upper=[upper, 4],
                                edge_groups=[0, 0, 0, 1, 1, 1], group_floor=[0.6])
        sol = lp_prices(problem, np.ones(4))
        e = problem.num_edges
        a_ub = np.zeros((4 + 2 + 1 + 1, e))
        for i in range(e):
            a_ub[problem.edge_candidate[i], i] = 1
            a_ub[4 + problem.edge_place[i], i] = 1
            if problem.candidate_district[problem.edge_candidate[i]] == 0:
                a_ub[6, i] = 1
            a_ub[7, i] = -((int(problem.edge_groups[i]) & 1) - 0.6)  # the floor row, as <=
        b_ub = np.array([1, 1, 1, 1, 2, 1, upper, 0.0])
        ref = optimize.linprog(-problem.edge_score, A_ub=a_ub, b_ub=b_ub, bounds=(0, 1),
                               method="highs")
        assert ref.status == 0
        assert sol.objective == pytest.approx(-ref.fun)
        marg = -ref.ineqlin.marginals
        assert sol.prices.place.tolist() == pytest.approx(marg[4:6].tolist(), abs=1e-7)
        assert sol.prices.key_upper[0] == pytest.approx(marg[6], abs=1e-7)
        assert sol.prices.floor[0] == pytest.approx(marg[7], abs=1e-7)
        if binding == "key":
            assert sol.prices.key_upper[0] == pytest.approx(7.0)  # candidate 1's 7 is given up
        else:
            assert sol.prices.floor[0] == pytest.approx(4.0)
        # A pair in the LP's solution is worth, at the adjusted score, its candidate's surplus
        # (the duals of its candidate row and of its bound x <= 1): prices and LP agree on what
        # each pair is worth.
        adj = sol.prices.adjust(problem, np.arange(e, dtype=np.int64), tie_break=0.0)
        bound = -ref.upper.marginals
        for i in np.flatnonzero(sol.x > 1e-9):
            assert adj[i] == pytest.approx(marg[problem.edge_candidate[i]] + bound[i], abs=1e-7)


def _floor_year(first_in_group: bool):
    # One place, 4 slots over the year; group 0's floor is half the year's placements.
    # Batch 0: two candidates scoring 50, batch 1 (final): two scoring 40 and two scoring 10.
    # first_in_group: batch 0's are the group's, else batch 1's low scorers are.
    groups = [1, 1, 0, 0, 0, 0] if first_in_group else [0, 0, 0, 0, 1, 1]
    problem = build_problem(num_candidates=6, num_places=1, edge_candidate=range(6),
                            edge_place=[0] * 6, edge_score=[50, 50, 40, 40, 10, 10],
                            place_slots=[4], edge_groups=groups, group_floor=[0.5])
    return problem, np.array([0, 0, 1, 1, 1, 1])


@pytest.mark.parametrize("pricing", [False, True])
def test_the_final_batch_compensates_for_the_year(pricing: bool) -> None:
    problem, arrival = _floor_year(first_in_group=False)
    run = run_dynamic(problem, arrival, DynamicParams(pricing=pricing, future="known"))
    first, final = run.batches
    assert first.placed_edges.tolist() == [0, 1]  # no one from the group: a per-batch floor fails
    assert sorted(final.placed_edges.tolist()) == [4, 5]  # the final batch makes the year's half
    assert not run.violations and not year_violations(problem, run.placed_edges)
    assert run.total_score(problem) == hindsight(problem, arrival)[0].objective


def test_a_final_batch_without_the_group_is_fine_when_the_year_meets_the_floor() -> None:
    problem, arrival = _floor_year(first_in_group=True)
    run = run_dynamic(problem, arrival, DynamicParams(future="known"))
    first, final = run.batches
    assert first.placed_edges.tolist() == [0, 1]
    assert sorted(final.placed_edges.tolist()) == [2, 3]  # share 0 in the batch, 1/2 in the year
    assert not year_violations(problem, run.placed_edges)


def test_a_year_floor_that_cannot_be_met_is_reported_or_penalised() -> None:
    problem, arrival = _floor_year(first_in_group=False)
    # Batch 1 left with one slot: the year's floor needs two of the group.
    problem = build_problem(num_candidates=6, num_places=1, edge_candidate=range(6),
                            edge_place=[0] * 6, edge_score=[50, 50, 40, 40, 10, 10],
                            place_slots=[3], edge_groups=[0, 0, 0, 0, 1, 1], group_floor=[0.5])
    arrival = np.array([0, 0, 1, 1, 1, 1])
    params = DynamicParams(pricing=False)
    run = run_dynamic(problem, arrival, params)
    assert run.violations  # penalised: placed, and the floor's shortfall listed
    assert year_violations(problem, run.placed_edges)
    run = run_dynamic(problem, arrival, DynamicParams(pricing=False, on_infeasible="report"))
    assert run.infeasibility and run.batches[-1].placed_edges.size == 0


def test_upper_keys_hold_after_every_batch() -> None:
    problem, arrival = _random_year(5, keys=True)
    run = run_dynamic(problem, arrival, DynamicParams(k=2, seed=3))
    year = YearSoFar.empty(problem)
    for b in run.batches:
        year = year.add(problem, b.placed_edges)
        assert (year.per_district(2) <= problem.district_upper).all()
        assert (year.slots_taken <= problem.place_slots).all()


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"k": 0}, "k must be an integer >= 1"),
    ({"lookback": 0}, "lookback must be"),
    ({"future": "oracle"}, "future 'oracle'"),
    ({"max_future": 0}, "max_future must be"),
    ({"on_infeasible": "ignore"}, "on_infeasible 'ignore'"),
])
def test_bad_parameters_are_refused_clearly(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(ParamsError, match=words):
        DynamicParams(**kwargs)  # type: ignore[arg-type]


def test_bad_arrivals_are_refused_clearly() -> None:
    problem, arrival = _random_year(1)
    with pytest.raises(ParamsError, match="arrival_batch must be an integer array of shape"):
        run_dynamic(problem, arrival[:-1])
    with pytest.raises(ParamsError, match="below -1"):
        run_dynamic(problem, arrival - 2)
    with pytest.raises(ParamsError, match="candidate_weight must have shape"):
        lp_prices(problem, np.ones(3))
