"""Reduced-cost fixing with several duals (matching._exact._sharpened_dev) and the exact models
it feeds: every assignment the fixing excludes must be provably worse than the bound allows."""

from __future__ import annotations

import time

import numpy as np
import pytest

from matching import SolveParams, Status, _exact, solve
from tests.matching.conftest import reference_milp
from tests.matching.test_properties import _binding_round


def _count_certificate(prep: _exact.Prepared, n: int) -> tuple[_exact._CountBound,
                                                                 _exact._CountOracle]:
    core = np.arange(prep.edges.size, dtype=np.int64)
    stats = {"count_flows": 0}
    cb, _ = _exact._count_bound(prep, n, core, np.zeros(prep.num_groups, np.int64),
                                time.perf_counter() + 60, stats)
    assert cb.value is not None and cb.cert is not None
    return cb, _exact._CountOracle(prep, n, core)


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
    dev = _exact._sharpened_dev(prep, cert, 10**15)
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
    sharp = _exact._sharpened_dev(prep, cb.cert, 10**15)
    # The flow's own potentials price most used pairs at 0; the shifted dual prices them.
    assert (sharp[used] > 0).sum() > 2 * max((plain[used] > 0).sum(), 1)


@pytest.mark.parametrize("seed", range(6, 10))
@pytest.mark.parametrize("cbc_max", [0, 10**9])
def test_fixed_count_models_match_the_reference_with_either_solver(seed: int, cbc_max: int,
                                                                   monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    # HiGHS (cbc_max = 0) and CBC (everything) close the same rounds to the same optimum.
    monkeypatch.setattr(_exact, "_CBC_MAX_PAIRS", cbc_max)
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
    phase = _exact._fixed_count_phase
    calls: list[_exact.ExactOutcome | None] = []

    def without_incumbent(*args: object, **kwargs: object) -> _exact.ExactOutcome | None:
        args_ = list(args)
        args_[7] = None  # incumbent
        out = phase(*args_, **kwargs)  # type: ignore[arg-type]
        calls.append(out)
        return out

    monkeypatch.setattr(_exact, "_fixed_count_phase", without_incumbent)
    monkeypatch.setattr(_exact, "_improve", lambda *a, **k: None)
    monkeypatch.setattr(_exact, "_MIP_MARGIN_W", 1)  # a first model too shallow: widen
    p = _binding_round(seed)
    res = solve(p, SolveParams(time_limit_s=60))
    assert calls and calls[0] is not None
    assert res.status is Status.OPTIMAL and res.gap == 0
    assert res.objective == pytest.approx(reference_milp(p).objective, abs=1e-9)
