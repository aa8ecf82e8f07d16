"""Public surface, validation, MPS export and solver coexistence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import matching
from matching import ProblemError, SolveParams, build_problem, export_mps, solve
from tests.matching.conftest import small_rounds


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in dir(matching) if not n.startswith("_")}
    modules = {"baselines", "certificate", "dynamic", "exceptions", "mps", "problem", "result"}  # solve, compare: functions
    assert set(matching.__all__) == public - modules
    assert matching.__all__ == sorted(matching.__all__, key=lambda s: (not s.isupper(), s))


def test_validation_lists_every_problem_at_once() -> None:
    with pytest.raises(ProblemError) as info:
        build_problem(num_candidates=2, num_places=1, edge_candidate=[0, 5], edge_place=[0, -1],
                      edge_score=[1.0, np.nan], place_slots=[-1], district_lower=[3],
                      district_upper=[1])
    fields = {i.field for i in info.value.issues}
    assert {"edge_candidate", "edge_place", "edge_score", "place_slots",
            "district_upper"} <= fields
    assert "5 problem(s)" in str(info.value) or len(info.value.issues) >= 5


def test_pins_that_break_capacity_are_rejected() -> None:
    with pytest.raises(ProblemError, match="more pinned candidates than slots"):
        build_problem(num_candidates=2, num_places=1, edge_candidate=[0, 1], edge_place=[0, 0],
                      edge_score=[1.0, 1.0], place_slots=[1], pinned_edges=[0, 1])
    with pytest.raises(ProblemError, match="also forbidden"):
        build_problem(num_candidates=1, num_places=1, edge_candidate=[0], edge_place=[0],
                      edge_score=[1.0], place_slots=[1], pinned_edges=[0],
                      edge_forbidden=[True])


def test_params_are_validated() -> None:
    with pytest.raises(matching.ParamsError):
        SolveParams(objective="fastest")  # type: ignore[arg-type]


def test_problem_arrays_are_read_only_views() -> None:
    p = build_problem(num_candidates=1, num_places=1, edge_candidate=[0], edge_place=[0],
                      edge_score=[1.0], place_slots=[1])
    with pytest.raises(ValueError):
        p.scaled_score[0] = 5


def test_ortools_and_scipy_highs_load_in_one_process() -> None:
    # The PyPI highspy wheel clashes with OR-Tools' bundled HiGHS; Platsa uses scipy's HiGHS
    # beside OR-Tools instead, and both must work in one process.
    from ortools.linear_solver import pywraplp
    from scipy.optimize import linprog

    solver = pywraplp.Solver.CreateSolver("GLOP")
    x = solver.NumVar(0, 1, "x")
    solver.Maximize(x)
    assert solver.Solve() == pywraplp.Solver.OPTIMAL
    assert linprog([-1.0], bounds=[(0, 1)], method="highs").fun == -1.0


def _solve_mps(path: str) -> float | None:
    from ortools.linear_solver.python import model_builder as mb

    model = mb.Model()
    assert model.import_from_mps_file(path)
    solver = mb.Solver("scip")
    status = solver.solve(model)
    if status not in (mb.SolveStatus.OPTIMAL,):
        return None
    return float(solver.objective_value)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(small_rounds())
def test_mps_optimum_equals_the_solve_objective(tmp_path_factory: pytest.TempPathFactory,
                                                p: matching.AllocationProblem) -> None:
    path = str(tmp_path_factory.mktemp("mps") / "round.mps")
    export_mps(p, path)
    r = solve(p)
    opt = _solve_mps(path)
    if r.status is matching.Status.INFEASIBLE:
        assert opt is None
    else:
        assert opt == pytest.approx(r.objective, abs=1e-6)


def test_mps_in_max_placed_mode_adds_the_placement_weight(tmp_path) -> None:
    p = build_problem(num_candidates=2, num_places=2, edge_candidate=[0, 1, 1],
                      edge_place=[0, 0, 1], edge_score=[10.0, 20.0, 1.0], place_slots=[1, 1])
    path = str(tmp_path / "round.mps")
    params = SolveParams(objective="max_placed")
    export_mps(p, path, params)
    r = solve(p, params)
    with open(path) as f:
        header = f.read().splitlines()[1]
    big_m = float(header.rsplit("=", 1)[1])
    assert _solve_mps(path) == pytest.approx(big_m * r.num_assigned + r.objective)


def test_penalised_mps_matches_a_penalised_solve(tmp_path) -> None:
    c = 20
    p = build_problem(num_candidates=c, num_places=1, edge_candidate=np.arange(c),
                      edge_place=np.zeros(c, int), edge_score=np.arange(c, dtype=float),
                      place_slots=[20], candidate_district=[0] * 9 + [1] * 11,
                      district_lower=[14, 0], district_upper=[20, 20])
    params = SolveParams(on_infeasible="penalise", violation_penalty=100.0)
    path = str(tmp_path / "round.mps")
    export_mps(p, path, params)
    assert _solve_mps(path) == pytest.approx(solve(p, params).objective)
