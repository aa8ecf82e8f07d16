"""Why a round cannot meet its rules: which key or floor, and by how much.

Called only when the exact method found no assignment meeting every hard rule. Each check is a
flow computation on the whole round, so the reasons are exact, not guesses.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np

from matching import _network as net
from matching._exact import keys
from matching._exact.prepare import Prepared
from matching._placeable import max_placeable
from matching.result import (
    DistrictExcess,
    DistrictShortage,
    FloorShortfall,
    FloorsJointlyInfeasible,
    Infeasibility,
    JointDistrictShortage,
)

logger = logging.getLogger(__name__)


def diagnose(prep: Prepared) -> list[Infeasibility]:
    """List every key or floor that cannot be met (hard mode), most specific first."""
    p = prep.problem
    reasons: list[Infeasibility] = []
    pins = p.pins
    pins_d = np.bincount(p.candidate_district[p.edge_candidate[pins]],
                         minlength=p.num_districts)
    for d in np.flatnonzero(pins_d > p.district_upper).tolist():
        reasons.append(DistrictExcess(d, int(p.district_upper[d]), int(pins_d[d])))
    eligible = np.zeros(p.num_candidates, bool)
    eligible[p.edge_candidate[~p.forbidden]] = True
    available = np.bincount(p.candidate_district[eligible], minlength=p.num_districts)
    home = p.candidate_district[p.edge_candidate]
    for d in np.flatnonzero(prep.lower > 0).tolist():
        needed = int(p.district_lower[d])
        if available[d] < needed:
            reasons.append(DistrictShortage(d, needed, int(available[d])))
            continue
        placeable = max_placeable(p, home == d)  # the district's pins included
        if placeable < needed:
            reasons.append(DistrictShortage(d, needed, int(available[d]), placeable))
    if reasons:
        return reasons
    skeleton = keys.skeleton(prep, prep.candidates_with_edges, None)
    zero = np.zeros(prep.edges.size, np.int64)
    if not net.solve_flow(prep.layout, skeleton, prep.cand, prep.place, zero).feasible:
        return [_joint_shortage(prep)]
    for g in range(prep.num_groups):
        share = _max_share(prep, skeleton, g)
        pp, q = prep.pq[g]
        if share is not None and share < Fraction(pp, q):
            reasons.append(FloorShortfall(prep.groups[g], pp / q, float(share)))
    if not reasons and prep.num_groups:
        reasons.append(FloorsJointlyInfeasible(prep.groups))
    return reasons


def _joint_shortage(prep: Prepared) -> JointDistrictShortage:
    """The least total shortfall of the lower bounds, and where it falls."""
    p = prep.problem
    skeleton = keys.skeleton(prep, prep.candidates_with_edges, 1)
    sol = net.solve_flow(prep.layout, skeleton, prep.cand, prep.place,
                         np.zeros(prep.edges.size, np.int64))
    flow = sol.flow[: skeleton.tail.size]
    bonus = skeleton.kind == 4
    got = np.zeros(p.num_districts, np.int64)
    np.add.at(got, skeleton.index[bonus], flow[bonus])
    below = np.minimum(prep.lower, np.maximum(prep.upper, 0))
    short = below - got
    ds = np.flatnonzero(short > 0)
    return JointDistrictShortage(tuple(ds.tolist()), tuple(short[ds].tolist()))


def _max_share(prep: Prepared, skeleton: net.Skeleton, g: int) -> Fraction | None:
    """Largest share of group ``g`` among the assigned under keys and pins (Dinkelbach).

    ``None`` when nobody has to be assigned (any floor is then met by assigning nobody).
    """
    pp, q = prep.pq[g]
    ratio = Fraction(pp, q)
    in_g = prep.in_group[g]
    pin_in = (int(prep.a_pin[g]) + pp * prep.num_pins) // q  # pinned pairs counting for g
    for it in range(64):
        num, den = ratio.numerator, ratio.denominator
        value = np.where(in_g, den - num, -num).astype(np.int64)
        sol = net.solve_flow(prep.layout, skeleton, prep.cand, prep.place, -value)
        if not sol.feasible:
            return None
        x = sol.pair_flow().astype(bool)
        n = int(x.sum()) + prep.num_pins
        count = int(in_g[x].sum()) + pin_in
        best = den * count - num * n  # the flow's optimum: max over assignments
        if it == 0 and best >= 0:
            return Fraction(count, n) if n else None  # the floor can be met
        if best == 0:
            return ratio
        ratio = Fraction(count, n)
    logger.warning("Dinkelbach did not converge for group %d", prep.groups[g])
    return ratio
