"""Reduced-cost fixing with several duals (matching._exact.certificate.sharpened_dev) and the exact models
it feeds: every assignment the fixing excludes must be provably worse than the bound allows."""

from __future__ import annotations

import dataclasses
import time
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from matching import AllocationProblem, SolveParams, Status, _exact, _repair, build_problem, solve
from matching._exact import certificate, fixed_count, lp, repair
from matching._exact import params as exact_params
from tests.matching.conftest import reference_milp
from tests.matching.test_properties import _binding_round


def _count_certificate(prep: _exact.Prepared, n: int) -> tuple[fixed_count.CountBound,
                                                                 fixed_count.CountOracle]:
    core = np.arange(prep.edges.size, dtype=np.int64)
    cb, _ = fixed_count.count_bound(prep, n, core, np.zeros(prep.num_groups, np.int64),
                                    time.perf_counter() + 60, fixed_count.Counters())
    assert cb.value is not None and cb.cert is not None
    return cb, fixed_count.CountOracle(prep, n, core)


def _tuned(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    """Solve with the default tuning changed (``matching._exact.params.DEFAULT``)."""
    monkeypatch.setattr(exact_params, "DEFAULT", dataclasses.replace(exact_params.DEFAULT,
                                                                      **changes))


@pytest.mark.parametrize("seed", range(4))
def test_sharpened_fixing_never_excludes_a_flow_the_bound_admits(seed: int) -> None:
    # For every flow x placing n, and every pair where x differs from the certificate's flow,
    # the Lagrangian identity gives |rc_e| <= B(n) - L(x) under *any* optimal dual. The flows
    # here are optimal at other floor prices: assignments the exact model must not lose.
    p = _binding_round(seed)
    prep = _exact.prepare(p, False, None)
    n = solve(p).num_assigned
    cb, oracle = _count_certificate(prep, n)
    cert = cb.cert
    assert cert is not None and cb.value is not None
    dev = certificate.sharpened_dev(prep, cert, 10**15)
    assert (dev >= np.abs(cert.rc)).all()
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(25):
        lam = rng.integers(0, 4 * int(cert.mu.max()) + 2, prep.num_groups)
        _, _, sol = oracle.evaluate(lam)
        if not sol.feasible:
            continue
        x = np.zeros(prep.edges.size, bool)
        x[oracle.core[sol.pair_flow().astype(bool)]] = True
        lagrangian = (int(oracle.pair_value(np.flatnonzero(x), cert.mu).sum()) + oracle.const_c
                      - int(cert.mu @ oracle.need))
        slack = cb.value - lagrangian
        assert slack >= 0
        differs = x != cert.used
        assert (dev[differs] <= slack).all()
        checked += 1
    assert checked > 10


@pytest.mark.parametrize("seed", range(4))
def test_sharpened_fixing_holds_used_pairs_the_flow_potentials_leave_free(seed: int) -> None:
    p = _binding_round(seed)
    prep = _exact.prepare(p, False, None)
    cb, _ = _count_certificate(prep, solve(p).num_assigned)
    assert cb.cert is not None
    used = cb.cert.used
    plain = np.abs(cb.cert.rc)
    sharp = certificate.sharpened_dev(prep, cb.cert, 10**15)
    # The flow's own potentials price most used pairs at 0; the shifted dual prices them.
    assert (sharp[used] > 0).sum() > 2 * max((plain[used] > 0).sum(), 1)


@pytest.mark.parametrize("seed", range(6, 10))
@pytest.mark.parametrize("cbc_max", [0, 10**9])
def test_fixed_count_models_match_the_reference_with_either_solver(seed: int, cbc_max: int,
                                                                   monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    # HiGHS (cbc_max = 0) and CBC (everything) close the same rounds to the same optimum.
    _tuned(monkeypatch, cbc_max_pairs=cbc_max)
    p = _binding_round(seed)
    res = solve(p, SolveParams(time_limit_s=60))
    assert res.status is Status.OPTIMAL and res.gap == 0
    assert res.objective == pytest.approx(reference_milp(p).objective, abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_fixed_counts_close_the_gap_without_any_incumbent(seed: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # A round whose floors barely bind can leave every flow one person short of a floor, so the
    # repair has nothing to repair towards. The fixed-count models (widened step by step) must
    # then find the optimum themselves, not hand the round to the whole-round model.
    phase = fixed_count.run
    calls: list[fixed_count.CountResult | None] = []

    def without_incumbent(state: _exact.SearchState) -> fixed_count.CountResult | None:
        out = phase(dataclasses.replace(state, incumbent=None))
        calls.append(out)
        return out

    monkeypatch.setattr(fixed_count, "run", without_incumbent)
    monkeypatch.setattr(repair, "improve", lambda *a, **k: None)
    _tuned(monkeypatch, mip_margin_w=1)  # a first model too shallow: widen
    # The LP warm starts' prices prove these rounds optimal before the fixed-count phase: without
    # them, the phase this test is about runs.
    monkeypatch.setattr(lp, "lp_prices", lambda *a, **k: None)
    monkeypatch.setattr(lp, "lp_multipliers", lambda *a, **k: None)
    p = _binding_round(seed)
    res = solve(p, SolveParams(time_limit_s=60))
    # Either the phase found it, or (since the bound converges, issue 20) a flow meeting the floors
    # closed the gap with no exact model at all: in neither case the whole-round model.
    assert (calls and calls[0] is not None) or res.stats["exact_model_edges"] == 0, res.stats
    assert res.status is Status.OPTIMAL and res.gap == 0
    assert res.objective == pytest.approx(reference_milp(p).objective, abs=1e-9)


def _pinned(p: AllocationProblem, how_many: int) -> AllocationProblem:
    """The round with a few pairs of its own optimum pinned (agreed placements: still feasible)."""
    chosen = solve(p).chosen_edges
    return dataclasses.replace(p, pinned_edges=np.sort(chosen[:: max(chosen.size // how_many, 1)]
                                                        [:how_many]).astype(np.int64))


@pytest.mark.parametrize("seed", [6, 9])
@pytest.mark.parametrize("objective", ["score", "max_placed"])
@pytest.mark.parametrize("pins", [0, 5])
def test_large_fixed_count_models_are_rebounded_as_rounds_of_their_own(
        seed: int, objective: str, pins: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # With the size limit at 30 pairs every fixed-count model of these rounds is re-bounded as a
    # restricted round (pins, placement weight and all) before any MIP: the same optimum.
    _tuned(monkeypatch, restrict_above=30)
    sizes: list[int] = []
    restricted = fixed_count.restricted

    def spy(prep: _exact.Prepared, free: np.ndarray, fixed1: np.ndarray) -> _exact.Prepared:
        sizes.append(int(free.size))
        return restricted(prep, free, fixed1)

    monkeypatch.setattr(fixed_count, "restricted", spy)
    p = _binding_round(seed)
    if pins:
        p = _pinned(p, pins)
    res = solve(p, SolveParams(time_limit_s=60, objective=objective))  # type: ignore[arg-type]
    ref = reference_milp(p, objective)
    assert res.status is Status.OPTIMAL and res.gap == 0
    assert res.objective == pytest.approx(ref.objective, abs=1e-9)
    assert res.num_assigned == ref.num_assigned or objective == "score"
    assert set(p.pins.tolist()) <= set(res.chosen_edges.tolist())
    if res.stats.get("exact_model_edges", 0):
        assert sizes  # the models went through the restricted re-bound


@pytest.mark.parametrize("seed", range(4))
def test_a_restricted_model_finds_what_the_plain_model_finds_above_theta(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # _solve_count_model against the plain MIP on the same fixed-count model, for thresholds
    # below, at and above the model's optimum: the optimum when it reaches theta, otherwise
    # never an assignment better than the optimum (and nothing wrongly claimed to reach theta).
    p = _binding_round(seed)
    prep = _exact.prepare(p, False, None)
    opt = solve(p)
    n = opt.num_assigned
    cb, _ = _count_certificate(prep, n)
    assert cb.cert is not None and cb.value is not None
    k = prep.scale_k
    # Deep enough to hold the round's optimum and 200 w-units more: a few hundred pairs.
    tau = cb.value - k * round(opt.objective * 1000) + 200 * k
    dev = certificate.sharpened_dev(prep, cb.cert, tau + 1)
    free = np.flatnonzero(dev <= tau)
    fixed1 = np.flatnonzero(cb.cert.used & (dev > tau))
    assert free.size > 30
    plain = lp.solve_fixed_count_mip(prep, free, fixed1, 60, n)
    assert plain.status == "optimal"

    def value(res: lp.MipResult) -> Fraction:
        x = np.zeros(prep.edges.size, bool)
        x[free[res.x_free]] = True
        x[fixed1] = True
        v, ok = _exact.primal_value(prep, x)
        assert ok and int(x.sum()) + prep.num_pins == n
        return v

    best = value(plain)
    _tuned(monkeypatch, restrict_above=30)  # the restricted re-bound, then the MIP
    for margin in (-50, 0, 1, 50):  # theta in w-units relative to the model's optimum
        theta = Fraction(k * (best + margin))
        res = fixed_count.solve_count_model(
            prep, free, fixed1, n, theta, cb.cert.mu, time.perf_counter() + 60,
            fixed_count.Counters())
        if margin <= 0:
            assert res.status == "optimal" and value(res) == best
        else:
            assert res.status == "infeasible" or value(res) <= best


def test_two_flows_missing_different_floors_are_repaired_into_one_meeting_both() -> None:
    # Floors that barely bind: x0 misses group B, x1 misses group A, no flow meets both. Swapping
    # x1's B candidate into x0 (one cycle of x1 - x0) meets both; the repair must find it.
    p = build_problem(
        num_candidates=4, num_places=2, edge_candidate=[0, 1, 2, 3], edge_place=[0, 1, 1, 0],
        edge_score=[10.0, 9.0, 12.0, 11.0], place_slots=[1, 1],
        edge_groups=np.array([0b01, 0b10, 0, 0], np.uint32), group_floor=[0.5, 0.5],
    )
    prep = _exact.prepare(p, False, None)
    x0 = np.flatnonzero(np.isin(prep.edges, [0, 2]))  # A and a non-member: misses B
    x1 = np.flatnonzero(np.isin(prep.edges, [1, 3]))  # B and a non-member: misses A
    out = repair.improve(prep, [x0, x1], None, time.perf_counter() + 10)
    assert out is not None
    value, ok = _exact.primal_value(prep, out[1])
    assert ok and sorted(prep.edges[out[1]].tolist()) == [0, 1] and value == 19_000
    assert solve(p).objective == pytest.approx(19.0)


@pytest.mark.parametrize("seed", range(2))
def test_without_a_warm_start_the_free_n_search_runs_longer(seed: int,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Six Kelley steps suffice from the warm-start LP's prices, not from zero: stopped there, the
    # bound is far off and the fixed-count phase has over a hundred numbers placed to examine.
    monkeypatch.setattr(lp, "lp_multipliers", lambda *a, **k: None)
    monkeypatch.setattr(lp, "lp_prices", lambda *a, **k: None)
    p = _binding_round(seed)
    res = solve(p, SolveParams(time_limit_s=60))
    assert res.status is Status.OPTIMAL and res.gap == 0
    assert res.objective == pytest.approx(reference_milp(p).objective, abs=1e-9)
    assert res.stats["kelley_iterations"] > exact_params.DEFAULT.max_kelley
    assert res.stats.get("fixed_counts", 0) <= 3  # absent: the bound closed before that phase


def test_repairs_remembered_in_a_memo_are_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fixed-count phase repairs the flows of a search once, then again with one more flow:
    # the pairs repaired the first time are not repaired again, and the answer is the same.
    p = _binding_round(1)
    prep = _exact.prepare(p, False, None)
    # The flows a fixed-count search meets from prices near its dual optimum (these rounds'
    # floors are worth about 5 score units a person: 320 000 c-units at K = 64).
    _, flows = fixed_count.count_bound(prep, solve(p).num_assigned, np.arange(prep.edges.size),
                                       np.full(prep.num_groups, 320_000, np.int64),
                                       time.perf_counter() + 60, fixed_count.Counters())
    calls: list[int] = []
    real = _repair.repair

    def counting(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_repair, "repair", counting)
    memo: set[tuple[bytes, bytes]] = set()
    deadline = time.perf_counter() + 60
    first = repair.improve(prep, flows[:-1], None, deadline, memo=memo)
    assert first is not None and _exact.primal_value(prep, first[1])[1]
    # Again with one more flow and the first result as the incumbent, as the phase does.
    before = len(calls)
    again = repair.improve(prep, flows, first, deadline, memo=memo)
    with_memo = len(calls) - before
    before = len(calls)
    fresh = repair.improve(prep, flows, first, deadline)
    without = len(calls) - before
    assert again is not None and fresh is not None and again[0] == fresh[0] >= first[0]
    assert with_memo < without
