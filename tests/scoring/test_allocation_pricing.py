"""Pricing the pairs a round's graph left out: the optimum proven over every eligible pair (issue 20)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import optimize, sparse

from fixtures import generate_region
from matching import SCORE_SCALE, AllocationProblem, AllocationResult, SolveParams
from scoring import allocation
from scoring.allocation import RoundParams, build_round, price_outside, run_round
from scoring.domain import PriorityGroup
from scoring.policy import Policy, load_policy
from scoring.pool import Pool, build_pool
from scoring.region import write_region
from service.cli import main
from tests.scoring.lp_certificate import lp_certificate


@pytest.fixture(scope="module")
def small() -> tuple[Pool, Policy]:
    policy = load_policy("gothenburg")
    return build_pool(generate_region("gothenburg", "small", seed=7), policy), policy


@pytest.fixture
def lp_certified(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every score-mode solve carries the LP-dual certificate of tests/scoring/lp_certificate.py."""
    real = allocation.solve

    def solve(problem: AllocationProblem, params: SolveParams | None = None) -> AllocationResult:
        result = real(problem, params)
        if params is not None and params.objective == "score" and result.status.value == "optimal":
            result = dataclasses.replace(  # an LP-dual certificate in the solver's place
                result, certificate=lp_certificate(problem, result))  # type: ignore[arg-type]
        return result

    monkeypatch.setattr(allocation, "solve", solve)


TIGHT: dict[str, Any] = {"per_slot": 1, "min_per_place": 1, "per_candidate": 1}


@pytest.mark.usefixtures("lp_certified")
@pytest.mark.parametrize(("keys", "floors"), [(False, False), (False, True), (True, True)])
def test_a_graph_pruned_too_hard_ends_at_the_full_optimum(small: tuple[Pool, Policy], keys: bool,
                                                         floors: bool) -> None:
    (pool, places), policy = small
    rules: dict[str, Any] = {"objective": "score", "use_keys": keys, "use_floors": floors}
    full = run_round(pool, places, policy, RoundParams(prune=False, **rules))
    tight = build_round(pool, places, policy, RoundParams(**rules, **TIGHT))
    assert tight.problem.num_edges < full.graph["num_edges"] / 5
    priced = run_round(pool, places, policy, RoundParams(**rules, **TIGHT))
    assert priced.graph["planned_total"] == full.graph["planned_total"]
    cert = priced.certification
    assert cert["scope"] == "eligible" and cert["certified_over"] == full.graph["num_eligible"]
    assert cert["pairs_added"] > 0 and cert["pricing_passes"] >= 1
    assert priced.objective == pytest.approx(full.objective, abs=1e-6)
    assert priced.to_dict()["certified_over"] == full.graph["num_eligible"]


@pytest.mark.parametrize(("source", "rules"), [
    ("lp", {"objective": "score", "use_keys": False, "use_floors": False}),
    ("solver", {"objective": "score", "use_keys": False, "use_floors": False}),
    ("solver", {}),
])
def test_pricing_finds_exactly_the_pairs_that_pay(small: tuple[Pool, Policy], request: pytest.FixtureRequest,
                                                  source: str, rules: dict[str, Any]) -> None:
    """The screen's bound and the prices' own bound leave out no pair whose exact reduced cost is
    positive: the pass finds exactly the pairs that reduced_cost on every eligible pair finds."""
    if source == "lp":
        request.getfixturevalue("lp_certified")
    (pool, places), policy = small
    params = RoundParams(**rules, **TIGHT)
    rnd = build_round(pool, places, policy, params)
    result = allocation.solve(rnd.problem, params.solve_params())
    cert: Any = result.certificate
    priced = price_outside(rnd, cert)
    full = build_round(pool, places, policy, RoundParams(**rules, prune=False)).problem
    keys = full.edge_candidate.astype(np.int64) * places.size + full.edge_place
    inside = np.isin(keys, rnd.problem.edge_candidate.astype(np.int64) * places.size + rnd.problem.edge_place)
    rc = cert.reduced_cost(full.edge_candidate, full.edge_place, full.edge_score, full.edge_groups,
                           candidate_district=full.candidate_district)
    expected = np.sort(keys[~inside & (rc > cert.tolerance)])
    assert np.array_equal(np.sort(priced.cand * places.size + priced.plc), expected)
    assert priced.num_eligible == len(keys) and priced.num_priced == int((~inside).sum())
    assert len(expected) <= priced.num_scored <= priced.num_priced


def test_the_docs_verify_recipe_prints_the_rounds_own_objective(tmp_path: Path) -> None:
    """docs/rounds.md, "Verify the optimum yourself": its commands, run as written (max-placed mode)."""
    text = (Path(__file__).parents[2] / "docs" / "rounds.md").read_text("utf-8")
    section = text[text.index("## Verify the optimum yourself"):]
    script = section[section.index("```bash\n") + len("```bash\n"):section.index("\n```\n")]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True).stdout
    solver_optimum, own = out.strip().splitlines()[-1].split()
    result = json.loads((tmp_path / "round.json").read_text("utf-8"))
    assert result["params"]["objective"] == "max_placed"
    assert float(solver_optimum) == pytest.approx(result["objective"], abs=1e-3)
    assert float(own) == result["objective"]
    assert "the optimum equals the round's objective" in (tmp_path / "round.mps").read_text("ascii")[:400]


def _independent_optimum(problem: AllocationProblem, max_placed: bool) -> float:
    """The model of docs/allocation.md, section 2, solved by scipy's HiGHS MIP (two levels when
    ``max_placed``: the most people placed, then the best score among those)."""
    p = problem
    e = p.num_edges
    cols = np.arange(e)
    rows = [sparse.csr_matrix((np.ones(e), (p.edge_candidate, cols)), shape=(p.num_candidates, e)),
            sparse.csr_matrix((np.ones(e), (p.edge_place, cols)), shape=(p.num_places, e)),
            sparse.csr_matrix((np.ones(e), (p.candidate_district[p.edge_candidate], cols)),
                              shape=(p.num_districts, e))]
    lo = [np.zeros(p.num_candidates), np.zeros(p.num_places), p.district_lower.astype(float)]
    hi = [np.ones(p.num_candidates), p.place_slots.astype(float), p.district_upper.astype(float)]
    for g, (pp, q) in enumerate(p.floor_fractions):
        member = ((p.edge_groups >> np.uint32(g)) & np.uint32(1)).astype(float)
        rows.append(sparse.csr_matrix(q * member - pp).reshape(1, e))
        lo.append(np.zeros(1))
        hi.append(np.full(1, np.inf))
    lower = np.zeros(e)
    lower[p.pins] = 1
    upper = np.where(p.forbidden, 0.0, 1.0)
    constraints = [optimize.LinearConstraint(sparse.vstack(rows), np.concatenate(lo), np.concatenate(hi))]
    bounds = optimize.Bounds(lower, upper)
    if max_placed:
        first = optimize.milp(-np.ones(e), constraints=constraints, integrality=np.ones(e), bounds=bounds)
        assert first.status == 0, first.message
        placed = round(-first.fun)
        constraints.append(optimize.LinearConstraint(np.ones((1, e)), placed, placed))
    res = optimize.milp(-(p.scaled_score / SCORE_SCALE), constraints=constraints, integrality=np.ones(e),
                        bounds=bounds)
    assert res.status == 0, res.message
    return float(-res.fun)


@pytest.mark.parametrize("seed", [1])
def test_binding_keys_and_floors_end_at_the_optimum_of_every_eligible_pair(seed: int) -> None:
    """Floors above what the region gives freely and keys at ±2 %: the graph pruned too hard is
    priced back to the optimum of the whole eligible graph, as an independent MIP finds it."""
    base = load_policy("gothenburg")
    policy = base.model_copy(update={
        "floors": {PriorityGroup.YOUTH: 0.33, PriorityGroup.FOREIGN_BORN: 0.62, PriorityGroup.DISABILITY: 0.27},
        "distribution": base.distribution.model_copy(update={"tolerance": 0.02})})
    pool, places = build_pool(generate_region("gothenburg", "small", seed=seed), policy)
    full = build_round(pool, places, policy, RoundParams(prune=False))
    expected = _independent_optimum(full.problem, max_placed=True)
    loose = run_round(pool, places, base, RoundParams(prune=False))
    assert expected < loose.objective - 1  # the floors and keys bind
    result = run_round(pool, places, policy, RoundParams(per_slot=2, min_per_place=3, per_candidate=2))
    assert result.status == "optimal" and result.certification["scope"] == "eligible"
    assert result.certification["pairs_added"] > 0
    assert result.objective == pytest.approx(expected, abs=1e-6)
    assert result.graph["planned_total"] == full.planned_total


@pytest.mark.parametrize("size", ["small", "medium"])
def test_the_default_round_is_certified_over_every_eligible_pair(size: str) -> None:
    """The round as `platsa allocate` runs it: certified over every eligible pair, at --no-prune's optimum."""
    policy = load_policy("gothenburg")
    pool, places = build_pool(generate_region("gothenburg", size, seed=7), policy)
    result = run_round(pool, places, policy)
    full = run_round(pool, places, policy, RoundParams(prune=False))
    cert = result.certification
    assert cert["scope"] == "eligible" and cert["certified_over"] == full.graph["num_eligible"]
    assert result.graph["num_edges"] < full.graph["num_edges"]  # pruned: the proof is the pricing's
    assert (result.status, result.gap) == ("optimal", 0.0)
    assert result.objective == pytest.approx(full.objective, abs=1e-6)
    assert cert["bound_over_eligible"] == pytest.approx(result.objective, abs=1e-6)
    assert "proven over every eligible pair" in result.summary_lines()[1]


def test_verify_round_reprices_the_stored_certificate_without_the_solver(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    write_region(generate_region("gothenburg", "small", seed=7), tmp_path / "region")
    out = tmp_path / "round.json"
    assert main(["allocate", "--data", str(tmp_path / "region"), "--out", str(out), "--quiet"]) == 0
    stored = json.loads(out.read_text("utf-8"))
    assert stored["certificate"]["candidate_price_c"] and stored["certification"]["scope"] == "eligible"
    capsys.readouterr()

    def no_solver(*args: object, **kwargs: object) -> None:
        raise AssertionError("verify-round called the solver")

    monkeypatch.setattr(allocation, "solve", no_solver)
    assert main(["verify-round", "--data", str(tmp_path / "region"), "--round", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"holds over every eligible pair: {stored['certification']['num_eligible']:,} priced" in printed
    assert f"{stored['objective']:,.3f}" in printed

    # A place's price lowered: the pairs it was tight on now break the dual constraint.
    prices = stored["certificate"]["place_price_c"]
    place = max(prices, key=prices.get)
    prices[place] = 0
    out.write_text(json.dumps(stored), "utf-8")
    assert main(["verify-round", "--data", str(tmp_path / "region"), "--round", str(out)]) == 1
    assert "does NOT hold" in capsys.readouterr().out
    # A file without a certificate is bad input, said so.
    (tmp_path / "other.json").write_text("{}", "utf-8")
    assert main(["verify-round", "--data", str(tmp_path / "region"), "--round", str(tmp_path / "other.json")]) == 2


def test_progress_reports_every_stage_and_a_stop_ends_with_what_is_proven(small: tuple[Pool, Policy]) -> None:
    (pool, places), policy = small
    calls: list[tuple[str, float]] = []
    run_round(pool, places, policy, progress=lambda stage, fraction: calls.append((stage, fraction)))
    stages = list(dict.fromkeys(stage for stage, _ in calls))
    assert stages[0] == "finding eligible pairs" and stages[-1] == "pricing the pairs left out"
    assert any(s.startswith("solving (") for s in stages)
    pricing = [f for s, f in calls if s == "pricing the pairs left out"]
    assert len(set(pricing)) > 5 and pricing == sorted(pricing) and pricing[-1] == 1.0  # real fractions
    # Asked to stop at once: an assignment with its gap, and the proof said to cover the graph only.
    stopped = run_round(pool, places, policy, should_stop=lambda: True)
    assert stopped.certification["scope"] == "graph" and stopped.certification["stopped"]
    assert "proven over the round's graph only" in "\n".join(stopped.summary_lines())


def test_ctrl_c_asks_the_round_to_stop_then_interrupts() -> None:
    import signal

    from service.cli.allocate import _CtrlC

    with _CtrlC() as asked:
        signal.raise_signal(signal.SIGINT)
        assert asked.is_set()  # the first Ctrl-C: the round stops at its next check
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)  # the second: at once
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
