"""Phase 1, prepare: the round with pins taken out, forbidden pairs dropped and weights scaled.

Only the *free* part is optimised: pinned candidates and their slots are removed and their
contributions kept as constants. The scale ``K`` of the Lagrangian network costs is chosen here,
as large as int64 network costs allow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matching import _network as net
from matching._exact import keys
from matching._exact import params as _params
from matching._exact.types import I32, I64, BoolArray
from matching.exceptions import SolverError
from matching.problem import SCORE_SCALE, AllocationProblem

_INT63 = 2**62  # network costs stay this far below int64 overflow


@dataclass
class Prepared:
    """The round with pins taken out, forbidden pairs dropped and weights scaled.

    Only the *free* part is optimised: pinned candidates and their slots are removed and their
    contributions kept as constants.
    """

    problem: AllocationProblem
    max_placed: bool
    penalty_w: int | None  # w-units per unit of violation, None for hard rules
    edges: I64  # active edge indices into the problem's arrays
    cand: I32
    place: I32
    score_w: I64  # scaled score per active edge
    weight: I64  # combined weight (M + score in max_placed mode)
    big_m: int
    groups: tuple[int, ...]  # active floor groups
    pq: tuple[tuple[int, int], ...]  # floor_g = p/q per active group
    in_group: list[BoolArray]  # per active group: does the active edge count for it
    a_pin: I64  # per active group: q*pinned_in_g - p*num_pins
    pin_score_w: int
    num_pins: int
    slots: I64
    lower: I64
    upper: I64  # may be negative when pins exceed it
    pin_excess: I64  # per district: pins beyond the upper bound (penalised mode)
    layout: net.Layout
    candidates_with_edges: I32
    scale_k: int = 1

    @property
    def num_groups(self) -> int:
        return len(self.groups)

    def a_coef(self, sel: I64 | slice, g: int) -> I64:
        """Floor coefficients ``q*1[e in g] - p`` of active edges ``sel`` for active group ``g``
        (:func:`matching._exact.keys.floor_coef`)."""
        return keys.floor_coef(self, sel, g)

    def lagrangian_cost(self, sel: I64 | slice, mu: I64) -> I64:
        """Value ``K*w + sum_g mu_g A_g`` of active edges ``sel`` (c-units;
        :func:`matching._exact.keys.lagrangian_cost`)."""
        return keys.lagrangian_cost(self, sel, mu)


def prepare(problem: AllocationProblem, max_placed: bool, penalty: float | None) -> Prepared:
    """Take pins out, drop forbidden pairs, scale scores, compute the placement weight."""
    p = problem
    pins = p.pins
    pinned_cand, slots, pins_d = p.pinned.candidates, p.pinned.free_slots, p.pinned.per_district
    lower = np.maximum(p.district_lower.astype(np.int64) - pins_d, 0)
    upper = p.district_upper.astype(np.int64) - pins_d
    ok = ~p.forbidden & ~pinned_cand[p.edge_candidate] & (slots[p.edge_place] > 0)
    if penalty is None:
        # A candidate of a district at its upper bound (after pins) can never be placed.
        ok &= upper[p.candidate_district[p.edge_candidate]] > 0
    edges = np.flatnonzero(ok).astype(np.int64)
    cand = p.edge_candidate[edges]
    place = p.edge_place[edges]
    score_w = p.scaled_score[edges]
    cwe = np.unique(cand).astype(np.int32)
    big_m = 0
    if max_placed:
        n_max = min(int(cwe.size), int(slots.sum()))
        w_hi = max(int(score_w.max(initial=0)), 0)
        w_lo = min(int(score_w.min(initial=0)), 0)
        # Lexicographic: one more placement must outweigh any score difference among n_max.
        big_m = n_max * (w_hi - w_lo) + 1
    weight = score_w + big_m
    penalty_w = None
    if penalty is not None:
        penalty_w = round(penalty * SCORE_SCALE) + big_m
    groups = p.active_groups
    pq = tuple(p.floor_fractions[g] for g in groups)
    in_group = [((p.edge_groups[edges] >> np.uint32(g)) & 1).astype(bool) for g in groups]
    pin_groups = p.edge_groups[pins]
    a_pin = np.array(
        [q * int(((pin_groups >> np.uint32(g)) & 1).sum()) - pp * int(pins.size)
         for g, (pp, q) in zip(groups, pq, strict=True)],
        np.int64,
    )
    layout = net.Layout(p.num_candidates, p.num_places, p.num_districts)
    prep = Prepared(
        problem=p, max_placed=max_placed, penalty_w=penalty_w, edges=edges, cand=cand,
        place=place, score_w=score_w, weight=weight, big_m=big_m, groups=groups, pq=pq,
        in_group=in_group, a_pin=a_pin, pin_score_w=int(p.scaled_score[pins].sum()),
        num_pins=int(pins.size), slots=slots, lower=lower, upper=upper,
        pin_excess=np.maximum(-upper, 0), layout=layout, candidates_with_edges=cwe,
    )
    prep.scale_k = _choose_scale(prep, _params.current().max_scale_k)
    return prep


def _choose_scale(prep: Prepared, max_scale_k: int) -> int:
    """The largest power of two K (<= ``max_scale_k``) keeping every network cost far from int64
    overflow.

    OR-Tools' cost-scaling multiplies costs by about the number of nodes; the Lagrangian shift
    is capped at 16 times the weight range per group (see :func:`keys.floor_price_cap`).
    """
    max_w = max(int(np.abs(prep.weight).max(initial=0)), prep.penalty_w or 0, 1)
    factor = max_w * (1 + 16 * prep.num_groups) * (prep.layout.num_nodes + 2) * 4
    k = max_scale_k
    while k > 1 and k * factor >= _INT63:
        k //= 2
    if factor >= _INT63:
        raise SolverError("scores too large for int64 network costs; lower SCORE_SCALE")
    return k
