"""A certificate of a solved round from the LP relaxation's duals (scipy HiGHS), apart from the solver.

Written from the model of docs/allocation.md, section 2, without the exact method's code: the LP
relaxation of the round's problem (one column per non-forbidden pair, pins fixed at 1) is solved by
HiGHS, and its row duals price any pair. For a pair outside the problem, weak duality gives: any
assignment using pairs ``S`` outside the problem is worth at most ``LP + sum_{e in S} rc_e``. So a
pair can beat the solve's objective only where ``rc_e + (LP - objective) > 0``: that is the reduced
cost this certificate returns (the convention of ``matching.Certificate``: > 0 means the pair could
raise the bound), and ``bound_over`` adds each candidate's largest raw positive reduced cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, sparse

from matching import SCORE_SCALE, AllocationProblem, AllocationResult


@dataclass(frozen=True)
class LpCertificate:
    """Row duals of the round's LP relaxation (score mode)."""

    lp_bound: float
    objective: float
    bound: float
    candidate: npt.NDArray[np.float64]
    place: npt.NDArray[np.float64]
    district: npt.NDArray[np.float64]  # upper-row dual minus lower-row dual, per district
    floor_pq: tuple[tuple[int, int], ...]
    floor_dual: npt.NDArray[np.float64]
    candidate_district: npt.NDArray[np.int32]

    def raw(self, cand: npt.ArrayLike, place: npt.ArrayLike, score: npt.ArrayLike,
            groups: npt.ArrayLike) -> npt.NDArray[np.float64]:
        cand, place = np.asarray(cand), np.asarray(place)
        w = np.rint(np.asarray(score) * SCORE_SCALE) / SCORE_SCALE
        rc = w - self.candidate[cand] - self.place[place] - self.district[self.candidate_district[cand]]
        for g, ((p, q), y) in enumerate(zip(self.floor_pq, self.floor_dual, strict=True)):
            if y:
                member = (np.asarray(groups) >> np.uint32(g)) & np.uint32(1)
                rc = rc - y * (p - q * member.astype(np.float64))
        return np.asarray(rc, dtype=np.float64)

    tolerance: float = 0.0

    def reduced_cost(self, edge_candidate: npt.ArrayLike, edge_place: npt.ArrayLike,
                     edge_score: npt.ArrayLike, edge_groups: npt.ArrayLike | None = None, *,
                     candidate_district: npt.ArrayLike) -> npt.NDArray[np.float64]:
        del candidate_district  # the problem's own, kept with the duals
        edge_candidate, edge_place = np.asarray(edge_candidate), np.asarray(edge_place)
        if edge_groups is None:
            edge_groups = np.zeros(len(edge_candidate), np.uint32)
        # Slack for the LP's own rounding: a pair at 1e-7 below the threshold is still priced in.
        return self.raw(edge_candidate, edge_place, edge_score, edge_groups) + (
            self.lp_bound - self.objective) + 1e-7

    def bound_over(self, extra_positive_by_candidate: npt.NDArray[np.float64]) -> float:
        raw = np.maximum(np.asarray(extra_positive_by_candidate) - (self.lp_bound - self.objective), 0)
        return float(max(self.bound, self.lp_bound + raw.sum()))


def lp_certificate(problem: AllocationProblem, result: AllocationResult) -> LpCertificate:
    """The LP relaxation of ``problem`` (score mode, hard rules) with HiGHS, and its duals."""
    p = problem
    edges = np.flatnonzero(~p.forbidden)
    e = len(edges)
    cand, place = p.edge_candidate[edges], p.edge_place[edges]
    w = p.scaled_score[edges] / SCORE_SCALE
    cols = np.arange(e)
    rows = [sparse.csr_matrix((np.ones(e), (cand, cols)), shape=(p.num_candidates, e)),
            sparse.csr_matrix((np.ones(e), (place, cols)), shape=(p.num_places, e))]
    dist = p.candidate_district[cand]
    upper = sparse.csr_matrix((np.ones(e), (dist, cols)), shape=(p.num_districts, e))
    rows += [upper, -upper]
    b = [np.ones(p.num_candidates), p.place_slots.astype(float), p.district_upper.astype(float),
         -p.district_lower.astype(float)]
    pq = p.floor_fractions
    for g, (pp, q) in enumerate(pq):
        member = ((p.edge_groups[edges] >> np.uint32(g)) & np.uint32(1)).astype(float)
        rows.append(sparse.csr_matrix(pp - q * member).reshape(1, e))
        b.append(np.zeros(1))
    a_ub = sparse.vstack(rows).tocsr()
    lower = np.zeros(e)
    lower[np.searchsorted(edges, p.pins)] = 1.0
    res = optimize.linprog(-w, A_ub=a_ub, b_ub=np.concatenate(b),
                           bounds=np.stack([lower, np.ones(e)], axis=1), method="highs")
    assert res.status == 0, res.message
    duals = -res.ineqlin.marginals  # >= 0 for the maximisation
    nc, npl, nd = p.num_candidates, p.num_places, p.num_districts
    y_c, y_p = duals[:nc], duals[nc:nc + npl]
    y_up, y_lo = duals[nc + npl:nc + npl + nd], duals[nc + npl + nd:nc + npl + 2 * nd]
    y_g = duals[nc + npl + 2 * nd:]
    return LpCertificate(
        lp_bound=float(-res.fun), objective=float(result.objective), bound=float(result.bound),
        candidate=y_c, place=y_p, district=y_up - y_lo, floor_pq=pq, floor_dual=y_g,
        candidate_district=p.candidate_district,
    )
