"""The primal repair (matching._repair): cycles of two flows, and the knapsack over them."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from matching import SolveParams, Status, _exact, _repair, solve
from tests.matching.conftest import reference_milp
from tests.matching.test_properties import _binding_round, check_invariants, check_rules


def _active(prep: _exact.Prepared, chosen: np.ndarray) -> np.ndarray:
    return np.isin(prep.edges, chosen)


@pytest.mark.parametrize("seed", range(4))
def test_repair_from_the_floorless_optimum_towards_the_optimum_reaches_the_optimum(seed: int
                                                                                  ) -> None:
    # x0: the best assignment without floors (it misses them); x1: the optimum with floors
    # (x0 plus all cycles of x1 - x0). The best subset of cycles meeting the floors is then
    # worth at least x1, and no assignment meeting the floors is worth more than the optimum.
    p = _binding_round(seed)
    floorless = dataclasses.replace(p, group_floor=np.zeros_like(p.group_floor))
    free = solve(floorless, SolveParams(time_limit_s=60))
    best = solve(p, SolveParams(time_limit_s=60))
    assert best.status is Status.OPTIMAL
    prep = _exact.prepare(p, False, None)
    x0 = _active(prep, free.chosen_edges)
    x1 = _active(prep, best.chosen_edges)
    assert not _exact.primal_value(prep, x0)[1]  # the floors bind
    y = _repair.repair(prep, x0, x1, time.perf_counter() + 30)
    assert y is not None
    value, ok = _exact.primal_value(prep, y)
    assert ok
    chosen = prep.edges[y]
    check_invariants(p, chosen)
    check_rules(p, chosen)
    assert value / 1000 == pytest.approx(reference_milp(p).objective, abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_all_cycles_of_a_difference_turn_one_assignment_into_the_other(seed: int) -> None:
    p = _binding_round(seed)
    prep = _exact.prepare(p, False, None)
    floorless = dataclasses.replace(p, group_floor=np.zeros_like(p.group_floor))
    x0 = _active(prep, solve(floorless).chosen_edges)
    x1 = _active(prep, solve(p).chosen_edges)
    cycles = _repair._cycles(prep, x0, x1)
    assert cycles
    y = x0.copy()
    for cycle in cycles:
        for edge, step in cycle:
            assert y[edge] != (step > 0)  # each pair changes once, in the difference's direction
            y[edge] = step > 0
    assert (y == x1).all()


@pytest.mark.parametrize("seed", range(30))
def test_best_subset_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 16))  # beyond _ENUMERATE_MAX too: the MIP path
    ng = int(rng.integers(1, 4))
    value = rng.integers(-50, 50, m)
    rows = rng.integers(-30, 30, (ng, m))
    need = rng.integers(-20, 40, ng)
    got = _repair._best_subset(value, rows, need, time.perf_counter() + 30)
    bits = ((np.arange(1 << m)[:, None] >> np.arange(m)) & 1).astype(np.int64)
    ok = (bits @ rows.T >= need).all(axis=1)
    if not ok.any():
        assert got is None
        return
    assert got is not None
    assert (rows @ got.astype(np.int64) >= need).all()
    assert int(value @ got) == int((bits @ value)[ok].max())
