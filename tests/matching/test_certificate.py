"""The public dual certificate: checked without the solver, against an independent MIP.

Each round is drawn over *all* its pairs, then solved on a pruned part of them (as a pruned
graph is); the independent MILP of ``conftest.reference_milp`` (scipy/HiGHS, no code shared with
the solver) gives the optimum over every pair. The certificate must bound it as promised.
"""

from __future__ import annotations

import numpy as np
import pytest

from matching import (
    AllocationProblem,
    Certificate,
    CertificateError,
    SolveParams,
    Status,
    build_problem,
    solve,
)
from tests.matching.conftest import reference_milp


def _round(seed: int) -> tuple[dict, np.ndarray]:
    """Arrays of a random round over all its pairs, and a mask of the pairs kept (pruned)."""
    rng = np.random.default_rng(seed)
    c, p, d = int(rng.integers(8, 25)), int(rng.integers(2, 6)), int(rng.integers(1, 4))
    mask = rng.random((c, p)) < rng.choice([0.5, 0.8])
    ec, ep = np.nonzero(mask)
    e = ec.size
    group = rng.random(c) < 0.35
    second = rng.random(e) < 0.3
    groups = group[ec].astype(np.uint32) | (second.astype(np.uint32) << np.uint32(1))
    # Group pairs score lower, so the floors bind.
    score = np.round(rng.uniform(0, 20, e) - 6 * group[ec] - 3 * second, rng.choice([0, 3]))
    slots = rng.integers(1, 4, p)
    district = rng.integers(0, d, c)
    lower = rng.integers(0, 3, d)
    upper = lower + rng.integers(1, 6, d)
    floors = [rng.choice([0.0, 0.2, 0.34]), rng.choice([0.0, 0.17, 0.25])]
    pins: list[int] = []
    left = slots.copy()
    for i in rng.permutation(e)[: int(rng.integers(0, 3))]:
        if ec[i] not in {ec[j] for j in pins} and left[ep[i]] > 0:
            pins.append(int(i))
            left[ep[i]] -= 1
    arrays = dict(num_candidates=c, num_places=p, edge_candidate=ec, edge_place=ep,
                  edge_score=score, place_slots=slots, candidate_district=district,
                  district_lower=lower, district_upper=upper, edge_groups=groups,
                  group_floor=floors, pinned_edges=np.array(pins, np.int64), num_districts=d)
    keep = rng.random(e) < 0.6
    keep[pins] = True
    return arrays, keep


def _subset(arrays: dict, sel: np.ndarray) -> AllocationProblem:
    idx = np.flatnonzero(sel)
    pos = np.full(sel.size, -1)
    pos[idx] = np.arange(idx.size)
    sub = dict(arrays)
    for name in ("edge_candidate", "edge_place", "edge_score", "edge_groups"):
        sub[name] = np.asarray(arrays[name])[idx]
    sub["pinned_edges"] = pos[arrays["pinned_edges"]].astype(np.int64)
    return build_problem(**sub)


def _outside_rc(cert: Certificate, arrays: dict, sel: np.ndarray) -> np.ndarray:
    out = np.flatnonzero(~sel)
    return cert.reduced_cost(arrays["edge_candidate"][out], arrays["edge_place"][out],
                             arrays["edge_score"][out], arrays["edge_groups"][out],
                             candidate_district=arrays["candidate_district"])


def _per_candidate_positive(rc: np.ndarray, cand: np.ndarray, num: int) -> np.ndarray:
    extra = np.zeros(num)
    np.maximum.at(extra, cand, np.where(np.isfinite(rc), np.maximum(rc, 0), 0))
    return extra


@pytest.mark.parametrize("objective", ["score", "max_placed"])
def test_certificate_bounds_the_optimum_over_every_pair(objective: str) -> None:
    checked = priced_in = 0
    for seed in range(40):
        arrays, keep = _round(seed)
        full = build_problem(**arrays)
        pruned = _subset(arrays, keep)
        r = solve(pruned, SolveParams(objective=objective, time_limit_s=20))
        if r.status is Status.INFEASIBLE:
            assert r.certificate is None
            continue
        assert r.status is Status.OPTIMAL
        cert = r.certificate
        assert cert is not None and cert.bound == r.bound
        # Checked without the solver, from the pruned round's arrays alone.
        proven = cert.verify(pruned)
        assert proven == pytest.approx(cert.dual_bound, abs=1e-9)
        assert proven >= cert.bound - 1e-9
        ref_pruned = reference_milp(pruned, objective)
        assert ref_pruned.feasible and ref_pruned.objective <= cert.bound + 1e-9
        rc = _outside_rc(cert, arrays, keep)
        out = np.flatnonzero(~keep)
        ref_full = reference_milp(full, objective)
        if objective == "score":
            # Every pair: the bound grown by the positive reduced costs holds.
            extra = _per_candidate_positive(rc, arrays["edge_candidate"][out],
                                            arrays["num_candidates"])
            assert ref_full.objective <= cert.bound_over(extra) + 1e-9
        # Only the pairs that price out (rc <= 0): the optimum cannot rise above the bound.
        harmless = keep.copy()
        harmless[out[rc <= cert.tolerance]] = True
        ref_h = reference_milp(build_problem(**_restricted(arrays, harmless)), objective)
        if objective == "score":
            assert ref_h.objective <= cert.bound + 1e-9
        else:  # max_placed: no more placed, and no better score among as many placed
            assert (ref_h.num_assigned, ref_h.objective) <= (r.num_assigned,
                                                            cert.bound + 1e-9)
        checked += 1
        priced_in += int((rc > cert.tolerance).sum())
    assert checked >= 25
    assert priced_in > 0, "some left-out pairs must price in, or the test proves little"


def _restricted(arrays: dict, sel: np.ndarray) -> dict:
    idx = np.flatnonzero(sel)
    pos = np.full(sel.size, -1)
    pos[idx] = np.arange(idx.size)
    sub = dict(arrays)
    for name in ("edge_candidate", "edge_place", "edge_score", "edge_groups"):
        sub[name] = np.asarray(arrays[name])[idx]
    sub["pinned_edges"] = pos[arrays["pinned_edges"]].astype(np.int64)
    return sub


def test_a_pair_that_prices_in_can_raise_the_optimum() -> None:
    # One place, one slot; the kept pair scores 1, the left-out pair 5.
    p = build_problem(num_candidates=2, num_places=1, edge_candidate=[0], edge_place=[0],
                      edge_score=[1.0], place_slots=[1])
    cert = solve(p).certificate
    assert cert is not None and cert.bound == 1.0
    rc = cert.reduced_cost([1], [0], [5.0], candidate_district=p.candidate_district)
    # Any optimal dual: the slot's worth 1 sits on the place (rc 4) or the candidate (rc 5).
    assert 4.0 - 1e-9 <= rc[0] <= 5.0 + 1e-9
    assert cert.bound_over(rc) >= 5.0 - 1e-9
    assert cert.reduced_cost([1], [0], [0.5], candidate_district=p.candidate_district)[0] <= 0


def test_pinned_candidates_and_full_places_cannot_take_new_pairs() -> None:
    p = build_problem(num_candidates=3, num_places=2, edge_candidate=[0, 1],
                      edge_place=[0, 1], edge_score=[1.0, 2.0], place_slots=[1, 1],
                      pinned_edges=[0])
    cert = solve(p).certificate
    assert cert is not None
    rc = cert.reduced_cost([0, 2, 2], [1, 0, 1], [50.0, 50.0, 50.0],
                           candidate_district=p.candidate_district)
    assert rc[0] == -np.inf and rc[1] == -np.inf and rc[2] > 0


def test_verify_refuses_a_tampered_certificate() -> None:
    arrays, keep = _round(3)
    p = _subset(arrays, keep)
    cert = solve(p).certificate
    assert cert is not None
    prices = cert.candidate_price_c.copy()
    prices[np.argmax(prices)] = 0
    from dataclasses import replace

    with pytest.raises(CertificateError, match="violate the dual constraint"):
        replace(cert, candidate_price_c=prices).verify(p)


def test_penalised_rounds_carry_a_valid_certificate() -> None:
    # The floor cannot be met: 50 % of group 0, and only one of four pairs counts for it.
    p = build_problem(num_candidates=4, num_places=2, edge_candidate=[0, 1, 2, 3],
                      edge_place=[0, 0, 1, 1], edge_score=[5.0, 4.0, 3.0, 2.0],
                      place_slots=[2, 2], edge_groups=[1, 0, 0, 0], group_floor=[0.5])
    r = solve(p, SolveParams(on_infeasible="penalise", violation_penalty=10.0))
    assert r.status is Status.OPTIMAL and r.certificate is not None
    assert r.certificate.verify(p) >= r.bound - 1e-9
