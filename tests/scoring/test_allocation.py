"""Allocation rounds from a region: the glue between the domain and the optimisation core."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from fixtures import generate_region
from scoring.allocation import RoundParams, build_round, compare_rounds, export_round_mps, run_round
from scoring.eligibility import RuleOverride, eligible_pairs
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
    # A place takes at most its free slots today (its slots less hires, placements, open proposals).
    free = {pid: int(s) for pid, s in zip(places.ids, places.free_slots, strict=True)}
    assert all(row["len"] <= free[row["place_id"]] for row in taken.iter_rows(named=True))
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
    # An unplaced candidate who may take the chosen place (a pin must pass the hard rules).
    p = places.index[chosen["place_id"]]
    unplaced = next(c for c in first.unassigned["candidate_id"].to_list()
                    if eligible_pairs(pool, places, np.array([pool.index[c]]), p, policy)[0])
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


# ---------------------------------------------------------------------------------------------
# Pins, overrides and contradictory inputs (issue 13)
# ---------------------------------------------------------------------------------------------


def _ineligible_pin(pool, places, policy, rule: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """An unplaced candidate and an open place where the pair fails ``rule`` and nothing else."""
    from scoring.eligibility import pair_failures

    for p in np.flatnonzero(places.states.is_open).tolist():
        failures = pair_failures(pool, places, np.arange(pool.size), p, policy)
        only = failures[rule].copy()
        for other, mask in failures.items():
            if other != rule:
                only &= ~mask
        hits = np.flatnonzero(only & (pool.open_proposals == 0))
        if len(hits):
            return str(pool.ids[hits[0]]), str(places.ids[p])
    raise AssertionError(f"no pair fails only {rule}")


@pytest.mark.parametrize("rule", ["ladder", "commute", "availability", "placement_type", "competence"])
def test_a_pin_that_breaks_a_hard_rule_is_refused_with_the_rule_named(small: tuple[Pool, Policy],
                                                                      rule: str) -> None:
    (pool, places), policy = small
    pin = _ineligible_pin(pool, places, policy, rule)
    with pytest.raises(RoundSetupError) as refused:
        build_round(pool, places, policy, RoundParams(pins=(pin,)))
    (problem,) = refused.value.problems
    assert (problem.file, problem.row, problem.column, problem.value) == ("pins", 1, rule, f"{pin[0]}:{pin[1]}")
    assert problem.reason.endswith("an override with a reason keeps the pin")


def test_an_override_keeps_the_pin_and_the_result_says_so(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    pin = _ineligible_pin(pool, places, policy, "commute")
    why = RuleOverride(*pin, reason="the supplier drives them to the site", rules=("commute",))
    result = run_round(pool, places, policy, RoundParams(pins=(pin,), overrides=(why,)))
    assert result.assignments.filter(pinned=True).select("candidate_id", "place_id").rows() == [pin]
    (shown,) = result.overrides
    assert (shown["candidate_id"], shown["place_id"]) == pin
    assert shown["reason"] == "the supplier drives them to the site"
    assert [r["rule"] for r in shown["rules"]] == ["commute"] and "accepts at most" in shown["rules"][0]["text"]
    assert any(line.startswith(f"override: {pin[0]} kept at {pin[1]} although lives") for line in
               result.summary_lines())
    assert result.to_dict()["overrides"] == [shown]


def test_an_override_of_other_rules_does_not_cover_the_one_broken(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    pin = _ineligible_pin(pool, places, policy, "ladder")
    why = RuleOverride(*pin, reason="agreed", rules=("commute",))
    with pytest.raises(RoundSetupError, match="column 'ladder'"):
        build_round(pool, places, policy, RoundParams(pins=(pin,), overrides=(why,)))
    everything = RuleOverride(*pin, reason="agreed")  # no rules named: every overridable rule it breaks
    build_round(pool, places, policy, RoundParams(pins=(pin,), overrides=(everything,)))


def test_rules_that_are_facts_are_never_overridden(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    closed = int(np.flatnonzero(places.states.state == 1)[0])  # an ended place
    placed = int(np.flatnonzero(pool.placed)[0])
    open_place = str(places.ids[np.flatnonzero(places.states.is_open)[0]])
    pins = ((str(pool.ids[0]), str(places.ids[closed])), (str(pool.ids[placed]), open_place))
    overrides = tuple(RuleOverride(c, p, reason="try") for c, p in pins)
    with pytest.raises(RoundSetupError) as refused:
        build_round(pool, places, policy, RoundParams(pins=pins, overrides=overrides))
    rules = {(p.row, p.column): p.reason for p in refused.value.problems}
    assert rules[(1, "period")].startswith("the place is closed: its period ended on")
    assert rules[(1, "period")].endswith("this rule cannot be overridden")
    assert rules[(2, "placed")] == "already in a placement; this rule cannot be overridden"


def test_contradictory_inputs_are_refused_up_front_by_id(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    first = run_round(pool, places, policy)
    a, b = first.assignments.row(0, named=True), first.assignments.row(1, named=True)
    one_slot = next(str(p) for p, f in zip(places.ids, places.free_slots, strict=True) if f == 1)
    params = RoundParams(
        pins=((a["candidate_id"], a["place_id"]), (a["candidate_id"], b["place_id"]), ("C-nobody", "P-none")),
        forbidden=((a["candidate_id"], a["place_id"]),),
        overrides=(RuleOverride(b["candidate_id"], one_slot, reason="x"),
                   RuleOverride(a["candidate_id"], a["place_id"], reason=" ", rules=("period",))),
    )
    with pytest.raises(RoundSetupError) as refused:
        build_round(pool, places, policy, params)
    described = [p.describe() for p in refused.value.problems]
    assert "pins, row 3, column 'candidate_id' (value 'C-nobody'): no such candidate" in described
    assert "pins, row 3, column 'place_id' (value 'P-none'): no such place" in described
    assert (f"pins, column 'candidate_id' (value '{a['candidate_id']}'): a candidate can be pinned to one "
            "place only") in described
    assert (f"pins, row 1 (value '{a['candidate_id']}:{a['place_id']}'): the pair is both pinned and "
            "forbidden") in described
    assert (f"overrides, row 1 (value '{b['candidate_id']}:{one_slot}'): an override applies to a pinned "
            "pair; this pair is not pinned") in described
    assert "overrides, row 2, column 'reason' (value ' '): give the reason for the override" in described
    assert any(d.startswith("overrides, row 2, column 'rules' (value 'period'): not a rule that can be "
                            "overridden") for d in described)


def test_more_pins_than_free_slots_are_refused(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    p = int(np.flatnonzero(places.free_slots == 1)[0])
    fit = np.flatnonzero(eligible_pairs(pool, places, np.arange(pool.size), p, policy))[:2]
    pins = tuple((str(pool.ids[c]), str(places.ids[p])) for c in fit)
    with pytest.raises(RoundSetupError) as refused:
        build_round(pool, places, policy, RoundParams(pins=pins))
    (problem,) = refused.value.problems
    assert (problem.column, problem.value) == ("free_slots", str(places.ids[p]))
    assert problem.reason.startswith("2 pin(s) to a place with 1 free slot(s) (the place is open: 1 of")
