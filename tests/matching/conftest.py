"""Shared strategies and an independent reference solver for the matching tests.

The reference is a direct MILP of the whole round solved by scipy's HiGHS: it shares no code with
:mod:`matching` (no network, no Lagrangian, no pruning), so agreement is evidence, not tautology.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from scipy import optimize, sparse

from matching import AllocationProblem, build_problem


@dataclass
class Reference:
    feasible: bool
    objective: float  # total score (score units)
    num_assigned: int


def reference_milp(p: AllocationProblem, objective: str = "score") -> Reference:
    """Optimum of the round as one MILP over every non-forbidden pair (scipy/HiGHS)."""
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
    opts = {"mip_rel_gap": 0.0}
    if objective == "max_placed":
        r1 = optimize.milp(-np.ones(n), constraints=cons, integrality=np.ones(n), bounds=bounds,
                           options=opts)
        if r1.status != 0:
            return Reference(False, float("nan"), 0)
        count = round(-r1.fun)
        cons.append(optimize.LinearConstraint(np.ones((1, n)), count, count))
    r = optimize.milp(-w, constraints=cons, integrality=np.ones(n), bounds=bounds, options=opts)
    if r.status != 0:
        return Reference(False, float("nan"), 0)
    x = r.x > 0.5
    return Reference(True, float(w[x].sum()) / 1000, int(x.sum()))


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
