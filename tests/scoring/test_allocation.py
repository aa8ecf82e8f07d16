"""Allocation rounds from a region: the glue between the domain and the optimisation core."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from fixtures import generate_region
from scoring.allocation import RoundParams, build_round, compare_rounds, export_round_mps, run_round
from scoring.eligibility import eligible_pairs
from scoring.exceptions import RoundSetupError
from scoring.policy import Policy, load_policy, parse_policy
from scoring.pool import Pool, build_pool
from scoring.region import write_region
from scoring.score import TERMS
from service.cli import main


@pytest.fixture(scope="module")
def small() -> tuple[Pool, Policy]:
    policy = load_policy("gothenburg")
    return build_pool(generate_region("gothenburg", "small", seed=7), policy), policy


def test_round_is_optimal_and_keeps_every_rule(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    result = run_round(pool, places, policy)
    assert result.status == "optimal" and result.gap == 0.0
    a = result.assignments
    assert a["candidate_id"].is_unique().all()
    taken = a.group_by("place_id").len()
    slots = {pid: int(s) for pid, s in zip(places.ids, places.slots, strict=True)}
    assert all(row["len"] <= slots[row["place_id"]] for row in taken.iter_rows(named=True))
    cand = pool.positions(a["candidate_id"].to_list())
    plc = np.array([places.index[p] for p in a["place_id"].to_list()])
    assert eligible_pairs(pool, places, cand, plc, policy).all()
    assert result.districts["within"].all()
    assert result.groups["met"].all()
    # Each assignment's weighted terms add up to its score.
    terms = a.select([f"term_{t}" for t in TERMS]).to_numpy().sum(axis=1)
    assert np.allclose(terms, a["score"].to_numpy())
    assert result.num_assigned == result.graph["planned_total"]  # max-placed mode places as many as possible


def test_objective_equals_an_independent_solver(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    params = RoundParams(objective="score", use_keys=False, use_floors=False)
    rnd = build_round(pool, places, policy, params)
    result = run_round(pool, places, policy, params)
    # scipy's Hungarian algorithm on the slot-expanded graph (no side constraints): same optimum.
    p = rnd.problem
    slot_of_place = np.repeat(np.arange(p.num_places), p.place_slots)
    first_slot = np.r_[0, np.cumsum(p.place_slots)[:-1]]
    cost = np.zeros((p.num_candidates, len(slot_of_place)))
    for e in range(p.num_edges):
        c, pl_ = p.edge_candidate[e], p.edge_place[e]
        s0 = first_slot[pl_]
        cost[c, s0 : s0 + p.place_slots[pl_]] = -round(p.edge_score[e] * 1000)
    rows, cols = linear_sum_assignment(cost)
    assert result.objective == pytest.approx(-cost[rows, cols].sum() / 1000, abs=1e-6)


def test_pins_and_forbidden_pairs(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    first = run_round(pool, places, policy)
    chosen = first.assignments.row(0, named=True)
    unplaced = first.unassigned["candidate_id"][0]
    pin = (unplaced, chosen["place_id"])
    forbid = (chosen["candidate_id"], chosen["place_id"])
    second = run_round(pool, places, policy, RoundParams(pins=(pin,), forbidden=(forbid,)))
    pairs = set(zip(second.assignments["candidate_id"], second.assignments["place_id"], strict=True))
    assert pin in pairs and forbid not in pairs
    assert second.assignments.filter(pinned=True)["candidate_id"].to_list() == [unplaced]
    diff = compare_rounds(first, second)
    assert diff.score_change == pytest.approx(diff.from_newly_placed + diff.from_dropped + diff.from_moved)


def test_same_input_same_assignment(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    a = run_round(pool, places, policy)
    b = run_round(pool, places, policy)
    assert a.assignments.equals(b.assignments)


def test_unmeetable_key_is_named_and_penalised_solve_reports_it(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    data = policy.model_dump(mode="json")
    keys = dict.fromkeys(policy.distribution.keys, 0.04)
    keys["norra-hisingen"] = 0.64  # far more than its jobseekers can fill
    data["distribution"] = {"tolerance": 0.0, "keys": keys}
    strict = parse_policy(data)
    result = run_round(pool, places, strict)
    assert result.status == "infeasible"
    assert any(text.startswith("norra-hisingen needs") for text in result.infeasibility), result.infeasibility
    soft = run_round(pool, places, strict, RoundParams(on_infeasible="penalise"))
    assert soft.violations and soft.num_assigned > 0


def test_baselines_behind_the_same_interface(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    best = run_round(pool, places, policy, RoundParams(objective="score"))
    for method in ("greedy", "serial_dictatorship", "deferred_acceptance"):
        other = run_round(pool, places, policy, RoundParams(objective="score", method=method))
        assert other.method == method
        assert other.assignments["candidate_id"].is_unique().all()
        assert other.total_score <= best.total_score + 1e-6


def test_setup_errors_list_every_problem(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    with pytest.raises(RoundSetupError) as info:
        build_round(pool, places, policy, RoundParams(pins=(("nobody", "P000001"), ("C0000001", "nowhere"))))
    assert [(p.file, p.row, p.column) for p in info.value.problems] == [
        ("pins", 1, "candidate_id"), ("pins", 2, "place_id"),
    ]


def test_graph_settings_out_of_range_are_listed_with_the_rest(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    params = RoundParams(per_slot=0, min_per_place=-1, per_candidate=2.5,  # type: ignore[arg-type]
                         pins=(("nobody", "P000001"),))
    with pytest.raises(RoundSetupError) as info:
        build_round(pool, places, policy, params)
    assert [(p.file, p.column, p.value) for p in info.value.problems] == [
        ("pins", "candidate_id", "nobody"), ("params", "per_slot", "0"),
        ("params", "min_per_place", "-1"), ("params", "per_candidate", "2.5"),
    ]


def test_mps_export_resolves_to_the_same_optimum(tmp_path: Path) -> None:
    from ortools.linear_solver.python import model_builder

    policy = load_policy("gothenburg")
    pool, places = build_pool(generate_region("gothenburg", "tiny", seed=1), policy)
    rnd = build_round(pool, places, policy, RoundParams(objective="score"))
    path = tmp_path / "round.mps"
    export_round_mps(rnd, str(path))
    result = run_round(pool, places, policy, RoundParams(objective="score"))
    model = model_builder.Model()
    assert model.import_from_mps_file(str(path))
    solver = model_builder.Solver("scip")
    assert solver.solve(model) == model_builder.SolveStatus.OPTIMAL
    # The MPS maximises the total score in score units: a second solver (SCIP) finds the same optimum.
    assert solver.objective_value == pytest.approx(result.objective, abs=1e-6)


def test_cli_writes_the_result_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_region(generate_region("gothenburg", "small", seed=7), tmp_path / "region")
    out = tmp_path / "round.json"
    assert main(["allocate", "--data", str(tmp_path / "region"), "--policy", "gothenburg", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "status optimal" in printed and "angered" in printed and "foreign_born" in printed
    result = json.loads(out.read_text("utf-8"))
    assert {"status", "objective", "bound", "gap", "assignments", "summary", "unassigned"} <= set(result)
    assert result["bound"] == pytest.approx(result["objective"])
    assert len(result["assignments"]) == result["num_assigned"]
    assert main(["allocate", "--data", str(tmp_path / "region"), "--pin", "oops"]) == 2
