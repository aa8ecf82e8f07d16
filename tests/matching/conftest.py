"""Shared strategies and independent reference solvers for the matching tests.

The references are direct models of the whole round: a MILP solved by scipy's HiGHS
(:func:`reference_milp`) and the same round as a CP-SAT model (:func:`reference_cpsat`). They share
no code with :mod:`matching` (no network, no Lagrangian, no pruning), so agreement is evidence, not
tautology. CP-SAT proves rounds with heavy score ties in a fraction of a second where HiGHS'
branch and bound can take minutes on a round of 86 candidates (their symmetric optima).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st
from ortools.sat.python import cp_model
from scipy import optimize, sparse

from matching import AllocationProblem, build_problem


@dataclass
class Reference:
    feasible: bool
    objective: float  # total score (score units)
    num_assigned: int


def reference_milp(p: AllocationProblem, objective: str = "score") -> Reference:
    """Optimum of the round as one MILP over every non-forbidden pair (scipy/HiGHS)."""
    ref = reference_milp_within(p, objective, None)
    assert ref is not None
    return ref


def reference_milp_within(p: AllocationProblem, objective: str,
                          time_limit_s: float | None) -> Reference | None:
    """:func:`reference_milp`, or ``None`` when ``time_limit_s`` stopped HiGHS before it proved
    the optimum or infeasibility."""
    e = np.flatnonzero(~p.forbidden)
    n = e.size
    if n == 0:
        return Reference(bool(np.all(p.district_lower <= 0)), 0.0, 0)
    w = np.rint(p.edge_score[e] * 1000)
    cols = np.arange(n)
    rows, lo, hi = [], [], []
    cand = p.edge_candidate[e]
    rows.append(sparse.csr_matrix((np.ones(n), (cand, cols)), shape=(p.num_candidates, n)))
    lo.append(np.zeros(p.num_candidates))
    hi.append(np.ones(p.num_candidates))
    rows.append(sparse.csr_matrix((np.ones(n), (p.edge_place[e], cols)), shape=(p.num_places, n)))
    lo.append(np.zeros(p.num_places))
    hi.append(p.place_slots.astype(float))
    dist = p.candidate_district[cand]
    rows.append(sparse.csr_matrix((np.ones(n), (dist, cols)), shape=(p.num_districts, n)))
    lo.append(p.district_lower.astype(float))
    hi.append(p.district_upper.astype(float))
    for g in range(p.num_groups):
        f = p.group_floor[g]
        in_g = ((p.edge_groups[e] >> np.uint32(g)) & 1).astype(float)
        rows.append(sparse.csr_matrix((in_g - f)[None, :]))
        lo.append(np.array([-1e-9]))
        hi.append(np.array([np.inf]))
    lb = np.zeros(n)
    lb[np.searchsorted(e, p.pins)] = 1.0
    cons = [optimize.LinearConstraint(sparse.vstack(rows), np.concatenate(lo), np.concatenate(hi))]
    bounds = optimize.Bounds(lb, np.ones(n))
    opts: dict[str, float] = {"mip_rel_gap": 0.0}
    if time_limit_s is not None:
        opts["time_limit"] = time_limit_s
    if objective == "max_placed":
        r1 = optimize.milp(-np.ones(n), constraints=cons, integrality=np.ones(n), bounds=bounds,
                           options=opts)
        if r1.status == 1:  # the time limit
            return None
        if r1.status != 0:
            return Reference(False, float("nan"), 0)
        count = round(-r1.fun)
        cons.append(optimize.LinearConstraint(np.ones((1, n)), count, count))
    r = optimize.milp(-w, constraints=cons, integrality=np.ones(n), bounds=bounds, options=opts)
    if r.status == 1:
        return None
    if r.status != 0:
        return Reference(False, float("nan"), 0)
    x = r.x > 0.5
    return Reference(True, float(w[x].sum()) / 1000, int(x.sum()))


def reference_cpsat(p: AllocationProblem, objective: str = "score") -> Reference:
    """Optimum of the round as one CP-SAT model over every non-forbidden pair (OR-Tools' SAT
    solver), scores in thousandths as :func:`reference_milp`. A floor ``f`` is the integer row
    ``sum_e (q 1[e in g] - p) x_e >= 0`` with ``p / q`` the nearest fraction to ``f`` of
    denominator at most 10^6 (the decimal the round was written with). ``max_placed``: the most
    placed first, then the score (one objective, the count weighted above every score)."""
    e = np.flatnonzero(~p.forbidden)
    w = np.rint(p.edge_score[e] * 1000).astype(np.int64).tolist()
    m = cp_model.CpModel()
    x = [m.new_bool_var(f"x{i}") for i in range(e.size)]

    def by(keys: np.ndarray, size: int) -> list[list[cp_model.IntVar]]:
        out: list[list[cp_model.IntVar]] = [[] for _ in range(size)]
        for i, key in enumerate(keys.tolist()):
            out[key].append(x[i])
        return out

    cand = p.edge_candidate[e]
    for xs in by(cand, p.num_candidates):
        m.add(sum(xs) <= 1)
    for q, xs in enumerate(by(p.edge_place[e], p.num_places)):
        m.add(sum(xs) <= int(p.place_slots[q]))
    for d, xs in enumerate(by(p.candidate_district[cand], p.num_districts)):
        m.add(sum(xs) >= int(p.district_lower[d]))
        m.add(sum(xs) <= int(p.district_upper[d]))
    for g in range(p.num_groups):
        f = Fraction(float(p.group_floor[g])).limit_denominator(10**6)
        member = ((p.edge_groups[e] >> np.uint32(g)) & 1).tolist()
        m.add(sum((f.denominator * b - f.numerator) * xi for b, xi in zip(member, x, strict=True)) >= 0)
    for i in np.searchsorted(e, p.pins).tolist():
        m.add(x[i] == 1)
    score = sum(wi * xi for wi, xi in zip(w, x, strict=True))
    if objective == "max_placed":
        m.maximize(sum(x) * (sum(abs(wi) for wi in w) + 1) + score)
    else:
        m.maximize(score)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 2
    solver.parameters.max_time_in_seconds = 300.0
    status = solver.solve(m)
    if status == cp_model.INFEASIBLE:
        return Reference(False, float("nan"), 0)
    assert status == cp_model.OPTIMAL, f"CP-SAT proved neither optimum nor infeasibility: {solver.status_name(status)}"
    chosen = [i for i, xi in enumerate(x) if solver.value(xi)]
    return Reference(True, sum(w[i] for i in chosen) / 1000, len(chosen))


@st.composite
def small_rounds(draw: st.DrawFn, side_constraints: bool = True, pins: bool = True
                 ) -> AllocationProblem:
    """Small random rounds: up to 8 candidates, 4 places, 3 districts, 2 overlapping groups."""
    c = draw(st.integers(1, 8))
    p = draw(st.integers(1, 4))
    d = draw(st.integers(1, 3)) if side_constraints else 1
    g = draw(st.integers(0, 2)) if side_constraints else 0
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mask = rng.random((c, p)) < draw(st.sampled_from([0.4, 0.7, 1.0]))
    ec, ep = np.nonzero(mask)
    e = ec.size
    score = np.round(rng.uniform(-2.0, 20.0, e), 3)
    slots = rng.integers(0, 4, p)
    district = rng.integers(0, d, c)
    lower = np.zeros(d, int)
    upper = np.full(d, c, int)
    if side_constraints:
        lower = rng.integers(0, 3, d)
        upper = lower + rng.integers(0, 4, d)
    groups = rng.integers(0, 2**g, e) if g else np.zeros(e, int)
    floors = rng.choice([0.0, 0.25, 0.34, 0.5], g)
    forbidden = rng.random(e) < 0.1 if side_constraints else np.zeros(e, bool)
    pinned: list[int] = []
    if pins and e:
        used_c: set[int] = set()
        left = slots.copy()
        for i in rng.permutation(e)[: rng.integers(0, 3)]:
            if not forbidden[i] and ec[i] not in used_c and left[ep[i]] > 0:
                pinned.append(int(i))
                used_c.add(int(ec[i]))
                left[ep[i]] -= 1
    return build_problem(
        num_candidates=c, num_places=p, edge_candidate=ec, edge_place=ep, edge_score=score,
        place_slots=slots, candidate_district=district, district_lower=lower,
        district_upper=upper, edge_groups=groups, group_floor=floors, edge_forbidden=forbidden,
        pinned_edges=np.array(pinned, np.int64), num_districts=d, num_groups=g,
    )
