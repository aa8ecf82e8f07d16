"""Where the district keys and the priority-group floors become constraints.

A round's two kinds of side rule, and every form they take in the exact method:

**District keys** (``lower_d <= placed from district d <= upper_d``, after pins: ``Prepared.lower``
and ``Prepared.upper``) are *network* constraints: in the flow network they are the arcs
``S -> district d`` with capacity ``upper_d - lower_d`` and ``lower_d`` units of supply at the
district node (the lower-bound transformation; in the penalised mode parallel bonus and penalty
arcs), built by :func:`district_arcs` (:func:`skeleton` lays the round's network around them).
They are never priced: the flow meets them exactly. In the exact models they are rows over the
pairs (:func:`assignment_rows`, :func:`mip_key_rows`), and :func:`live_pairs` drops pairs of
districts that are full. A primal assignment is checked against them by :func:`rule_value`.

**Floors** (``count_g >= floor_g * placed``, ``floor_g = p_g / q_g``) are what the network cannot
hold. With the number placed ``n`` free, floor ``g`` is the row ``A_g x = sum_e (q_g 1[e in g] -
p_g) x_e + a_pin_g >= 0`` (:func:`floor_coef`); it is *dualised*: a multiplier ``mu_g`` (c-units
per unit of the row) adds ``mu_g A_g`` to every pair's network cost (:func:`lagrangian_cost`), so
each flow solve evaluates the Lagrangian dual, and :func:`floor_price_cap` keeps the prices (hence
the costs) in int64. An integral assignment placing ``n`` meets ``count_g >= ceil(p_g n / q_g)``,
so each floor row has at least :func:`floor_rounding` slack, which sharpens the bound. With ``n``
fixed (the fixed-count phase) the floor is the count row ``count_g >= ceil(p_g n / q_g)``
(:func:`count_need`) and its multiplier a bonus per group member (:func:`count_cost`). In the exact
models floors are rows too (:func:`mip_floor_rows`, :func:`count_floor_rows`).

See docs/allocation.md ("The Lagrangian", "Fixed counts") for why this is valid.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import sparse

from matching import _network as net
from matching._exact.types import I64, BoolArray

if TYPE_CHECKING:
    from matching._exact.prepare import Prepared

F64 = npt.NDArray[np.float64]
Rows = tuple[list[sparse.csr_matrix], list[F64], list[F64]]


# ----------------------------------------------------------------------------- keys, in the network
def district_arcs(layout: net.Layout, lower: I64, upper: I64, penalty: int | None,
                  through: int) -> net.Skeleton:
    """The district keys as arcs ``S -> district d`` of the flow network, with their supplies (a
    skeleton of these arcs only, :func:`matching._network.build_skeleton` adds the rest).

    ``lower``, ``upper``: int64 (D,) remaining bounds (``0 <= lower``; ``upper`` may be below
    ``lower`` only in the penalised mode, where it is clipped); ``through``: the units the network
    carries from S (one per candidate in it, plus the spare units of the bypass). Hard keys: one
    arc of capacity ``upper_d - lower_d`` per district and ``lower_d`` units supplied at the
    district node (the lower-bound transformation: they must leave through its candidates).
    Penalised (``penalty`` network units per unit of violation): parallel arcs, a bonus of
    ``penalty`` per unit below the lower bound (arc kind 4), free up to the upper bound (kind 0),
    ``penalty`` per unit above it (kind 5): a convex piecewise-linear cost, still a network.
    """
    d = layout.num_districts
    dist_nodes = layout.district0 + np.arange(d, dtype=np.int32)
    dr = np.arange(d, dtype=np.int32)
    supply = np.zeros(layout.num_nodes, np.int64)
    if penalty is None:
        caps, costs, kinds = [np.maximum(upper - lower, 0)], [np.zeros(d, np.int64)], [0]
        supply[dist_nodes] = lower
        supply[net.SOURCE] = through - int(lower.sum())
    else:
        up = np.maximum(upper, 0)
        below = np.minimum(lower, up)
        caps = [below, up - below, np.full(d, 2 * through, np.int64)]
        costs = [np.full(d, -penalty, np.int64), np.zeros(d, np.int64), np.full(d, penalty, np.int64)]
        kinds = [4, 0, 5]
        supply[net.SOURCE] = through
    m = len(kinds)
    return net.Skeleton(
        tail=np.full(m * d, net.SOURCE, np.int32), head=np.tile(dist_nodes, m),
        capacity=np.concatenate(caps).astype(np.int64), cost=np.concatenate(costs),
        kind=np.repeat(np.array(kinds, np.int8), d), index=np.tile(dr, m), supply=supply)


def skeleton(prep: Prepared, candidates: npt.NDArray[np.int32], penalty: int | None,
             spare: int = 1) -> net.Skeleton:
    """The round's network without its pairs, for ``candidates`` (those with a usable pair), the
    district keys hard (``penalty`` None) or penalised."""
    arcs = district_arcs(prep.layout, prep.lower, prep.upper, penalty, int(candidates.size) + spare)
    return net.build_skeleton(prep.layout, prep.problem.candidate_district, candidates, prep.slots,
                              arcs, spare)


# ----------------------------------------------------------------------------- floors, dualised
def floor_coef(prep: Prepared, sel: I64 | slice, g: int) -> I64:
    """Floor coefficients ``q*1[e in g] - p`` of active edges ``sel`` for active group ``g``."""
    p, q = prep.pq[g]
    return np.where(prep.in_group[g][sel], q - p, -p).astype(np.int64)


def lagrangian_cost(prep: Prepared, sel: I64 | slice, mu: I64) -> I64:
    """Value ``K*w + sum_g mu_g A_g`` of active edges ``sel`` (c-units)."""
    c = prep.weight[sel] * prep.scale_k
    for g in range(prep.num_groups):
        if mu[g]:
            c = c + mu[g] * floor_coef(prep, sel, g)
    return c


def floor_gradient(prep: Prepared, sel: I64) -> I64:
    """The floor rows ``A_g x`` (pins included) of the assignment ``sel``: the subgradient."""
    return np.array([int(floor_coef(prep, sel, g).sum()) for g in range(prep.num_groups)],
                    np.int64) + prep.a_pin


def rounding_vector(prep: Prepared, n: int) -> I64:
    """Per floor: ``q ceil(p n / q) - p n``, the slack integral counts leave (hard floors only)."""
    return np.array([(q * (-(-p * n // q)) - p * n) if prep.penalty_w is None
                     else 0 for p, q in prep.pq], np.int64)


def floor_rounding(prep: Prepared, mu: I64, n: int) -> int:
    """``sum_g mu_g (q_g ceil(p_g n / q_g) - p_g n)``: what integral counts add to the floors.

    With ``n`` assigned, ``count_g >= p n / q`` means ``count_g >= ceil(p n / q)``, so the floor
    row has slack at least this much in any integer assignment (hard floors only).
    """
    if prep.penalty_w is not None:
        return 0
    total = 0
    for g, (p, q) in enumerate(prep.pq):
        total += int(mu[g]) * (q * (-(-p * n // q)) - p * n)
    return total


def floor_price_cap(prep: Prepared) -> I64:
    """Upper bound on each multiplier: a hard cap keeps costs in int64 (see
    ``prepare._choose_scale``)."""
    k = prep.scale_k
    max_w = max(int(np.abs(prep.weight).max(initial=0)), 1)
    caps = []
    for _p, q in prep.pq:
        cap = (16 * k * max_w) // q
        if prep.penalty_w is not None:
            # Past P*K/q the penalised shortfall is cheaper than any price: the dual is capped.
            cap = min(cap, (prep.penalty_w * k) // q)
        caps.append(max(cap, 1))
    return np.array(caps, np.int64)


def floor_price_box(prep: Prepared, cap: I64) -> I64:
    """Half-width of the first trust region of the floor prices (before the warm start)."""
    k = prep.scale_k
    max_w = max(int(np.abs(prep.weight).max(initial=0)), 1)
    box = [max(1, min(int(c), (k * max_w) // max(1, min(p, q - p) or p)))
           for (p, q), c in zip(prep.pq, cap, strict=True)]
    return np.array(box, np.int64)


# ----------------------------------------------------------------------------- floors, n fixed
def pinned_members(prep: Prepared) -> list[int]:
    """Per active floor: pinned pairs counting for its group."""
    return [(int(a) + p * prep.num_pins) // q
            for a, (p, q) in zip(prep.a_pin, prep.pq, strict=True)]


def count_need(prep: Prepared, n: int) -> I64:
    """Per floor: members the free pairs must bring when ``n`` are placed (pins included)."""
    return np.array([-(-p * n // q) - pg
                     for (p, q), pg in zip(prep.pq, pinned_members(prep), strict=True)], np.int64)


def count_cost(prep: Prepared, sel: I64 | slice, lam: I64) -> I64:
    """Value ``K*w + sum_g lam_g 1[e in g]`` of active edges ``sel``: the fixed-count network's
    pair costs with bonus ``lam_g`` (c-units) per member of group ``g``."""
    c = prep.weight[sel] * prep.scale_k
    for g in range(prep.num_groups):
        if lam[g]:
            c = c + lam[g] * prep.in_group[g][sel]
    return c


def count_members(prep: Prepared, sel: I64 | BoolArray) -> I64:
    """Per floor: members among the active pairs ``sel``."""
    return np.array([int(prep.in_group[g][sel].sum()) for g in range(prep.num_groups)], np.int64)


# ----------------------------------------------------------------------------- the primal check
def rule_value(prep: Prepared, sel: I64) -> tuple[Fraction, bool]:
    """What the keys and floors do to the assignment ``sel`` (active pairs, pins included): the
    penalty it pays (w-units, penalised mode; 0 for hard rules) and whether it meets them."""
    p = prep.problem
    counts = np.bincount(p.candidate_district[prep.cand[sel]], minlength=p.num_districts)
    under = np.maximum(prep.lower - counts, 0)
    over = np.maximum(counts - np.maximum(prep.upper, 0), 0) + prep.pin_excess
    ok = True
    cost = Fraction(0)
    if prep.penalty_w is None:
        ok = not under.any() and not over.any()
    else:
        cost += prep.penalty_w * int(under.sum() + over.sum())
    for g, (_pp, q) in enumerate(prep.pq):
        slack = int(floor_coef(prep, sel, g).sum()) + int(prep.a_pin[g])
        if slack < 0:
            if prep.penalty_w is None:
                ok = False
            else:
                cost += Fraction(prep.penalty_w * -slack, q)
    return cost, ok


# ----------------------------------------------------------------------------- rows of the models
def fixed_counts(prep: Prepared, fixed1: I64) -> tuple[I64, I64, I64]:
    """Pairs ``fixed1`` chosen: how many per candidate, per place and per district."""
    p = prep.problem
    cand_fixed = np.bincount(prep.cand[fixed1], minlength=p.num_candidates)
    place_fixed = np.bincount(prep.place[fixed1], minlength=p.num_places)
    dist_fixed = np.bincount(p.candidate_district[prep.cand[fixed1]], minlength=p.num_districts)
    return cand_fixed, place_fixed, dist_fixed


def assignment_rows(prep: Prepared, free: I64, fixed1: I64
                    ) -> tuple[sparse.csr_matrix, F64, F64]:
    """Rows ``lo <= A x <= hi`` over the ``free`` pairs, with the ``fixed1`` pairs chosen: one
    place per candidate, slots per place, each district within its key."""
    p = prep.problem
    nf = free.size
    cols = np.arange(nf)
    cand_fixed, place_fixed, dist_fixed = fixed_counts(prep, fixed1)
    uc, cinv = np.unique(prep.cand[free], return_inverse=True)
    up_, pinv = np.unique(prep.place[free], return_inverse=True)
    nd = p.num_districts
    dist = p.candidate_district[prep.cand[free]].astype(np.int64)
    rows = sparse.vstack([
        sparse.csr_matrix((np.ones(nf), (cinv, cols)), shape=(uc.size, nf)),
        sparse.csr_matrix((np.ones(nf), (pinv, cols)), shape=(up_.size, nf)),
        sparse.csr_matrix((np.ones(nf), (dist, cols)), shape=(nd, nf)),
    ], format="csr")
    lo = np.concatenate([np.full(uc.size + up_.size, -np.inf),
                         (prep.lower - dist_fixed).astype(float)])
    hi = np.concatenate([(1 - cand_fixed[uc]).astype(float),
                         (prep.slots[up_] - place_fixed[up_]).astype(float),
                         (np.maximum(prep.upper, 0) - dist_fixed).astype(float)])
    return rows, lo, hi


def live_pairs(prep: Prepared, free: I64, fixed1: I64) -> BoolArray:
    """Mask of the ``free`` pairs the ``fixed1`` pairs leave usable: their candidate is not
    placed by a fixed pair, their place has a slot left, their district room left."""
    p = prep.problem
    cand_fixed, place_fixed, dist_fixed = fixed_counts(prep, fixed1)
    cand, place = prep.cand[free], prep.place[free]
    dist = p.candidate_district[cand]
    return ((cand_fixed[cand] == 0) & (prep.slots[place] - place_fixed[place] > 0)
            & (np.maximum(prep.upper, 0)[dist] - dist_fixed[dist] > 0))


def count_floor_rows(prep: Prepared, free: I64, fixed1: I64, n: int) -> Rows:
    """The floors with exactly ``n`` placed as count rows ``count_g >= ceil(p_g n / q_g)`` over
    the ``free`` pairs (``fixed1`` chosen, pins counted)."""
    rows: list[sparse.csr_matrix] = []
    lo: list[F64] = []
    hi: list[F64] = []
    for g, (pp, q) in enumerate(prep.pq):
        pins_g = (int(prep.a_pin[g]) + pp * prep.num_pins) // q  # pinned members of g
        need = -(-pp * n // q) - pins_g - int(prep.in_group[g][fixed1].sum())
        rows.append(sparse.csr_matrix(prep.in_group[g][free].astype(float)[None, :]))
        lo.append(np.array([float(need)]))
        hi.append(np.array([np.inf]))
    return rows, lo, hi


def x_block(nf: int, nv: int, row_of_x: I64, nrows: int, coef: npt.ArrayLike = 1.0,
            extra: sparse.csr_matrix | None = None) -> sparse.csr_matrix:
    """Rows over the first ``nf`` of ``nv`` variables: pair ``j`` in row ``row_of_x[j]``."""
    m = sparse.csr_matrix(
        (np.broadcast_to(np.asarray(coef, float), (nf,)), (row_of_x, np.arange(nf))),
        shape=(nrows, nv),
    )
    return m if extra is None else m + extra


def single_row(nv: int, cols: list[int], vals: list[float]) -> sparse.csr_matrix:
    """One row with ``vals`` at ``cols``."""
    return sparse.csr_matrix((vals, ([0] * len(cols), cols)), shape=(1, nv))


def mip_key_rows(prep: Prepared, free: I64, fixed1: I64, nv: int, i_pen: int) -> Rows:
    """The district keys as rows of the general exact model over the ``free`` pairs (``fixed1``
    chosen); penalised: with shortfall and excess variables at ``i_pen`` and ``i_pen + D``."""
    p = prep.problem
    nf, nd = free.size, p.num_districts
    dist_f = p.candidate_district[prep.cand[free].astype(np.int64)].astype(np.int64)
    _, _, dist_fixed = fixed_counts(prep, fixed1)
    dl = (prep.lower - dist_fixed).astype(float)
    du = (np.maximum(prep.upper, 0) - dist_fixed).astype(float)
    if prep.penalty_w is None:
        return [x_block(nf, nv, dist_f, nd)], [dl], [du]
    ar = np.arange(nd)
    under = sparse.csr_matrix((np.ones(nd), (ar, i_pen + ar)), shape=(nd, nv))
    over = sparse.csr_matrix((-np.ones(nd), (ar, i_pen + nd + ar)), shape=(nd, nv))
    return ([x_block(nf, nv, dist_f, nd, 1.0, under), x_block(nf, nv, dist_f, nd, 1.0, over)],
            [dl, np.full(nd, -np.inf)], [np.full(nd, np.inf), du])


def mip_floor_rows(prep: Prepared, free: I64, fixed1: I64, nv: int, i_n: int, i_k: int,
                   i_pen: int) -> Rows:
    """The floors as rows of the general exact model: ``N`` (number placed, column ``i_n``) and
    ``K_g`` (members of g, columns ``i_k + g``) are integer variables and ``q K_g >= p N``; a
    floor row with ``N`` fixed rounds ``K_g`` up, which closes the gap the fractional share leaves
    in the LP relaxation (docs/allocation.md). Penalised: shortfall ``s_g`` in persons at
    ``i_pen + 2D + g``."""
    nf, nd = free.size, prep.problem.num_districts
    penal = prep.penalty_w is not None
    n_const = float(fixed1.size + prep.num_pins)
    rows = [x_block(nf, nv, np.zeros(nf, np.int64), 1, -1.0, single_row(nv, [i_n], [1.0]))]
    lo = [np.array([n_const])]
    hi = [np.array([n_const])]
    for g in range(prep.num_groups):
        pp, q = prep.pq[g]
        k_const = float(int(prep.in_group[g][fixed1].sum()) + (int(prep.a_pin[g])
                        + pp * prep.num_pins) // q)
        rows.append(x_block(nf, nv, np.zeros(nf, np.int64), 1,
                            -prep.in_group[g][free].astype(float), single_row(nv, [i_k + g], [1.0])))
        lo.append(np.array([k_const]))
        hi.append(np.array([k_const]))
        cols, vals = [i_k + g, i_n], [float(q), -float(pp)]
        if penal:
            cols.append(i_pen + 2 * nd + g)
            vals.append(float(q))
        rows.append(single_row(nv, cols, vals))
        lo.append(np.array([0.0]))
        hi.append(np.array([np.inf]))
    return rows, lo, hi
