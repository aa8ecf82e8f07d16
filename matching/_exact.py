"""The exact method: a min-cost flow for the keys, Lagrangian prices for the floors, a core network
priced by reduced costs, and a small exact MIP to close the last gap.

See docs/allocation.md for the formulation and the optimality proof. Units: *w-units* are scaled
scores (``round(score * SCORE_SCALE)``, plus the placement weight ``M`` in ``max_placed`` mode);
*c-units* are network costs ``K * w + sum_g mu_g * A_g`` with the integer Lagrangian scale ``K``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from scipy import optimize, sparse

from matching import _control, _highs, _repair
from matching import _network as net
from matching.certificate import Certificate
from matching.exceptions import SolverError
from matching.problem import SCORE_SCALE, AllocationProblem

logger = logging.getLogger(__name__)

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]

_FULL_CORE_EDGES = 250_000  # below this, the whole edge list is the core
_CORE_PER_CANDIDATE = 4
_CORE_PER_SLOT = 2
_MAX_KELLEY = 6  # the fixed-count phase refines what this search leaves (from a warm start)
_MAX_KELLEY_ROUNDS = 4  # ... per pricing round; this many times that in all
_MAX_KELLEY_COLD = 30  # ... without one (its LP failed, or floor prices of zero)
_MAX_COUNT_KELLEY = 15  # flows per number placed in the fixed-count phase
_COUNT_TOL_W = 5  # w-units: the fixed-count search stops when its model proves this
_COUNT_TOL_FINE_W = 1  # ... or this, while the bound may still fall below the incumbent
_MAX_COUNTS = 2000  # numbers placed the fixed-count phase examines at most
_SAMPLE_TOL_W = 100  # w-units: the sampled sub-round only gives a start
_SAMPLE_MAX_KELLEY = 10
_KELLEY_TOL_W = 20  # w-units: stop when the cutting-plane model proves the dual this close
_MIP_MARGIN_W = 20  # w-units below the rounded bound that the first exact model covers
_MIP_WIDEN = 4  # each further fixed-count model covers this many times the previous depth
_LP_WINDOW = 1  # score units of reduced cost kept free in the warm-start LP
_LP_MAX_PAIRS = 30_000  # skip the warm-start LP above this many free pairs
_LP_MAX_ROUNDS = 30  # column-generation rounds of the warm-start LP
_LP_ENTER_MIN = 5_000  # pairs that may enter the warm-start LP per round, at least
_LP_START_ALL = 60_000  # up to this many active pairs, the warm-start LP starts with all
_LP_SAMPLE_PAIRS = 20_000  # above this many active pairs, the LP of a sampled sub-round
_SAMPLE_ABOVE = 15_000  # candidates: above this, warm-start from a sampled sub-round
_WARM_RADIUS_DIV = 8  # initial trust region: a 1/8 of the warm-start multipliers
_CBC_MAX_PAIRS = 10_000  # fixed-count models up to this size go to CBC, larger ones to HiGHS
_RESTRICT_ABOVE = 10_000  # fixed-count models above this many pairs are re-bounded first
_RESTRICT_DEPTH = 3  # larger fixed-count models are re-bounded as rounds of their own this often
_RESTRICT_SHRINK = 0.9  # ... and only while the re-bound frees at most this share of the pairs
_REGROW_BELOW = 8  # a trust region shrunk to 1/8 of its start may grow back (crawling)
_COUNT_CORE_WINDOW = 0.2  # score units of |rc| (free-n prices) in the fixed-count core
_CORE_WINDOW = 2  # score units of reduced cost (no floor prices) kept in the core
_MAX_BOX_DOUBLINGS = 6
_INT63 = 2**62
_MAX_SCALE_K = 64  # finer multipliers cost cost-scaling phases in the flow solver
_REPAIR_PARTNERS = 6  # flows on each side of the floors the primal repair combines
_POLISH_ROUNDS = 3
_DISP = False
_PRESOLVE = False


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
        """Floor coefficients ``q*1[e in g] - p`` of active edges ``sel`` for active group ``g``."""
        p, q = self.pq[g]
        return np.where(self.in_group[g][sel], q - p, -p).astype(np.int64)

    def lagrangian_cost(self, sel: I64 | slice, mu: I64) -> I64:
        """Value ``K*w + sum_g mu_g A_g`` of active edges ``sel`` (c-units)."""
        c = self.weight[sel] * self.scale_k
        for g in range(self.num_groups):
            if mu[g]:
                c = c + mu[g] * self.a_coef(sel, g)
        return c


def prepare(problem: AllocationProblem, max_placed: bool, penalty: float | None) -> Prepared:
    """Take pins out, drop forbidden pairs, scale scores, compute the placement weight."""
    p = problem
    pins = p.pins
    pinned_cand = np.zeros(p.num_candidates, bool)
    pinned_cand[p.edge_candidate[pins]] = True
    slots = p.place_slots.astype(np.int64) - np.bincount(p.edge_place[pins],
                                                         minlength=p.num_places)
    pins_d = np.bincount(p.candidate_district[p.edge_candidate[pins]],
                         minlength=p.num_districts).astype(np.int64)
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
    prep.scale_k = _choose_scale(prep)
    return prep


def _choose_scale(prep: Prepared) -> int:
    """The largest power of two K (<= 1024) keeping every network cost far from int64 overflow.

    OR-Tools' cost-scaling multiplies costs by about the number of nodes; the Lagrangian shift
    is capped at 16 times the weight range per group (see ``_mu_cap``).
    """
    max_w = max(int(np.abs(prep.weight).max(initial=0)), prep.penalty_w or 0, 1)
    factor = max_w * (1 + 16 * prep.num_groups) * (prep.layout.num_nodes + 2) * 4
    k = _MAX_SCALE_K
    while k > 1 and k * factor >= _INT63:
        k //= 2
    if factor >= _INT63:
        raise SolverError("scores too large for int64 network costs; lower SCORE_SCALE")
    return k


# ============================================================================ results
@dataclass
class ExactOutcome:
    """What the exact method found (``chosen`` are indices into the problem's edges)."""

    status: str  # "optimal", "feasible", "infeasible", "unknown"
    chosen: I64
    objective_w: Fraction  # combined objective in w-units (incl. M per placement, penalties)
    bound_w: Fraction
    stats: dict[str, object] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    proof: _Certificate | None = None  # the free-n flow and prices that prove the dual bound
    reasons: list[object] | None = None  # why the round is infeasible, when checked on the way


# ============================================================================ the network part
class _Oracle:
    """Evaluates the Lagrangian function on a core subset of the active edges."""

    def __init__(self, prep: Prepared) -> None:
        self.prep = prep
        k = prep.scale_k
        self._penalty = None if prep.penalty_w is None else prep.penalty_w * k
        pen = self._penalty
        # Constant of the penalised network: bonus arcs pay for the first `lower` units.
        self.const_c = 0
        if pen is not None:
            below = np.minimum(prep.lower, np.maximum(prep.upper, 0))
            self.const_c = -pen * int(below.sum()) - pen * int(prep.pin_excess.sum())
        self.const_c += k * (prep.pin_score_w + prep.big_m * prep.num_pins)
        self._core: I64 = np.zeros(0, np.int64)
        self.core_candidates: I32 = np.zeros(0, np.int32)
        self.skeleton = self._skeleton(self.core_candidates)
        self.num_solves = 0
        self.solve_time = 0.0

    @property
    def core(self) -> I64:
        """Positions (into the active edges) of the pairs in the core network."""
        return self._core

    @core.setter
    def core(self, value: I64) -> None:
        # Only candidates with a core pair are nodes of the flow: a candidate without arcs out
        # would be a dead end the push-relabel solver keeps pushing into and back out of.
        self._core = value
        self.core_candidates = np.unique(self.prep.cand[value]).astype(np.int32)
        self.skeleton = self._skeleton(self.core_candidates)

    def _skeleton(self, candidates: I32) -> net.Skeleton:
        prep = self.prep
        return net.build_skeleton(prep.layout, prep.problem.candidate_district, candidates,
                                  prep.slots, prep.lower, prep.upper, self._penalty)

    def pair_value(self, sel: I64 | slice, mu: I64) -> I64:
        """Network value of the active pairs ``sel`` at multipliers ``mu`` (c-units)."""
        return self.prep.lagrangian_cost(sel, mu)

    def evaluate(self, mu: I64) -> tuple[int, I64, net.FlowSolution]:
        """Return ``D(mu)`` (c-units, whole round), the subgradient and the flow."""
        prep = self.prep
        c = prep.lagrangian_cost(self.core, mu)
        t = time.perf_counter()
        sol = net.solve_flow(prep.layout, self.skeleton, prep.cand[self.core],
                             prep.place[self.core], -c)
        self.solve_time += time.perf_counter() - t
        self.num_solves += 1
        logger.debug("flow solve %d on %d pairs at mu=%s: %.3f s, D=%d", self.num_solves,
                     self.core.size, mu.tolist(), time.perf_counter() - t,
                     -sol.cost if sol.feasible else 0)
        if not sol.feasible:
            return 0, np.zeros(0, np.int64), sol
        x = sol.pair_flow().astype(bool)
        sel = self.core[x]
        grad = np.array([int(prep.a_coef(sel, g).sum()) for g in range(prep.num_groups)],
                        np.int64) + prep.a_pin
        d = -sol.cost + self.const_c + int(mu @ prep.a_pin)
        return d, grad, sol


def _initial_core(prep: Prepared) -> I64:
    n = prep.edges.size
    if n <= _FULL_CORE_EDGES:
        return np.arange(n, dtype=np.int64)
    w = prep.weight - int(prep.weight.min())
    keep = np.zeros(n, bool)
    top = int(w.max()) + 1
    for owner, num, limit in (
        (prep.cand.astype(np.int64), prep.problem.num_candidates, None),
        (prep.place.astype(np.int64), prep.problem.num_places, prep.slots),
    ):
        order = np.argsort(owner * top + (top - 1 - w))
        sorted_owner = owner[order]
        start = np.searchsorted(sorted_owner, np.arange(num + 1))
        rank = np.arange(n) - start[sorted_owner]
        cap = (
            np.full(num, _CORE_PER_CANDIDATE) if limit is None
            else _CORE_PER_SLOT * limit + 2
        )
        keep[order[rank < cap[sorted_owner]]] = True
    return np.flatnonzero(keep).astype(np.int64)


@dataclass
class _Certificate:
    """An optimal core flow at multipliers ``mu`` with potentials proving it optimal."""

    mu: I64
    rc: I64  # reduced cost of every active edge (>= 0 unused, <= 0 used)
    used: BoolArray  # active edges with flow
    tail: I32
    head: I32
    capacity: I64
    cost: I64
    flow: I64
    kind: npt.NDArray[np.int8]
    pi: I64


def _certify(prep: Prepared, oracle: _Oracle, mu: I64, sol: net.FlowSolution) -> _Certificate:
    """Potentials of ``sol`` on the core, and reduced costs of *all* active edges."""
    lay = prep.layout
    sk = oracle.skeleton
    core = oracle.core
    c_core = oracle.pair_value(core, mu)
    tail = np.concatenate([sk.tail, lay.candidate0 + prep.cand[core]]).astype(np.int32)
    head = np.concatenate([sk.head, lay.place0 + prep.place[core]]).astype(np.int32)
    cap = np.concatenate([sk.capacity, np.ones(core.size, np.int64)])
    cost = np.concatenate([sk.cost, -c_core])
    kind = np.concatenate([sk.kind, np.full(core.size, 9, np.int8)])
    pi = net.potentials(lay.num_nodes, tail, head, cap, cost, sol.flow)
    # Candidates outside the core network: their arc district -> candidate would be unused, so
    # any potential up to the district's keeps it dual feasible; the district's own is the one
    # that prices their pairs most strictly.
    absent = np.ones(prep.problem.num_candidates, bool)
    absent[oracle.core_candidates] = False
    absent_idx = np.flatnonzero(absent)
    pi[lay.candidate0 + absent_idx] = pi[lay.district0 + prep.problem.candidate_district[absent_idx]]
    c_all = oracle.pair_value(slice(None), mu)
    rc = -c_all + pi[lay.candidate0 + prep.cand] - pi[lay.place0 + prep.place]
    used = np.zeros(prep.edges.size, bool)
    used[core[sol.pair_flow().astype(bool)]] = True
    return _Certificate(mu, rc, used, tail, head, cap, cost, sol.flow, kind, pi)


def _sharpened_dev(prep: Prepared, cert: _Certificate, cap: int) -> I64:
    """``|rc|`` of every active pair for reduced-cost fixing, at the most telling of several
    optimal duals of the certificate's flow (docs/allocation.md, "Sharper fixing").

    The flow's own potentials leave almost every used pair at ``rc = 0``: the candidate's arc in
    absorbs its value, so fixing can hold no used pair. Moving one node's potential keeps the
    flow optimal and the dual value unchanged as long as no arc's reduced cost changes sign:

    1. a candidate (place) without flow: its pairs' reduced costs rise by the slack of its arc in
       (out), which frees nothing but makes more room for step 2 and 3;
    2. a candidate with flow: its pairs' reduced costs fall by the smaller of its arc in's
       slack and its cheapest unused pair's reduced cost: the used pair then carries what
       dropping it costs (the second-best option, or leaving the candidate out);
    3. a full place with flow: the same on the place side, after step 2.

    Each dual on the way proves the fixing it allows, so the elementwise maximum of the
    magnitudes is valid. Shifts are capped at ``cap`` (c-units): fixing needs no more.
    """
    lay = prep.layout
    nc, npl = lay.num_candidates, lay.num_places
    pi = cert.pi
    arc_rc = cert.cost + pi[cert.tail] - pi[cert.head]
    cand_arcs = np.flatnonzero(cert.kind == 1)
    place_arcs = np.flatnonzero(cert.kind == 2)
    c_of = cert.head[cand_arcs] - lay.candidate0
    p_of = cert.tail[place_arcs] - lay.place0
    rc_in = np.zeros(nc, np.int64)
    rc_in[c_of] = arc_rc[cand_arcs]
    c_flow = np.zeros(nc, bool)
    c_flow[c_of] = cert.flow[cand_arcs] > 0
    rc_out = np.zeros(npl, np.int64)
    rc_out[p_of] = arc_rc[place_arcs]
    p_flow = np.zeros(npl, np.int64)
    p_flow[p_of] = cert.flow[place_arcs]
    p_cap = np.zeros(npl, np.int64)
    p_cap[p_of] = cert.capacity[place_arcs]
    used = cert.used
    # 1. Nodes without flow (unused pairs only: used pairs keep their reduced cost).
    rise_c = np.where(c_flow, 0, np.clip(rc_in, 0, cap))
    rise_p = np.where(p_flow > 0, 0, np.clip(rc_out, 0, cap))
    rc = cert.rc + rise_c[prep.cand] + rise_p[prep.place]
    dev = np.abs(rc)  # >= |cert.rc| pair by pair
    # 2. Candidates with flow.
    near = np.flatnonzero(~used & (rc < cap))
    room = np.full(nc, cap, np.int64)
    np.minimum.at(room, prep.cand[near], rc[near])
    rc -= np.where(c_flow, np.minimum(np.maximum(-rc_in, 0), room), 0)[prep.cand]
    # 3. Full places with flow.
    near = np.flatnonzero(~used & (rc < cap))
    room = np.full(npl, cap, np.int64)
    np.minimum.at(room, prep.place[near], rc[near])
    full = (p_flow > 0) & (p_flow == p_cap)
    rc -= np.where(full, np.minimum(np.maximum(-rc_out, 0), room), 0)[prep.place]
    return np.maximum(dev, np.abs(rc))


def _marginals(prep: Prepared, cert: _Certificate, core: I64) -> tuple[int | None, int | None]:
    """Cost of placing one person fewer / one more than the optimal flow (``None``: impossible).

    One fewer: push a unit through the bypass and cancel one along T -> S; one more: the
    reverse. Both are shortest paths in the residual graph without the bypass, found by Dijkstra
    on the reduced costs (non-negative thanks to the potentials). The graph is the core's; a path
    through pairs outside the core costs at least the distance to its first such pair plus that
    pair's reduced cost, and that pair's reduced cost plus the distance from its last one, so the
    smaller of the core path and that bound is valid for the whole round.
    """
    from scipy.sparse.csgraph import dijkstra

    lay = prep.layout
    num_nodes = lay.num_nodes
    real = cert.kind != 3
    fwd = real & (cert.flow < cert.capacity)
    bwd = real & (cert.flow > 0)
    t = np.concatenate([cert.tail[fwd], cert.head[bwd]]).astype(np.int64)
    h = np.concatenate([cert.head[fwd], cert.tail[bwd]]).astype(np.int64)
    c = np.concatenate([cert.cost[fwd], -cert.cost[bwd]])
    red = c + cert.pi[t] - cert.pi[h]
    # Keep the cheapest of parallel arcs (a sparse matrix would add them up).
    order = np.lexsort((red, h, t))
    t, h, red = t[order], h[order], red[order]
    first = np.ones(t.size, bool)
    first[1:] = (t[1:] != t[:-1]) | (h[1:] != h[:-1])
    graph = sparse.csr_matrix((red[first].astype(np.float64), (t[first], h[first])),
                              shape=(num_nodes, num_nodes))
    dist_from = dijkstra(graph, directed=True, indices=[net.SINK, net.SOURCE])
    outside = _outside(prep, core)
    if outside.any():
        dist_to = dijkstra(graph.T.tocsr(), directed=True, indices=[net.SOURCE, net.SINK])
        cand = prep.cand[outside]
        district_node = lay.district0 + prep.problem.candidate_district[cand]
        cand_node = lay.candidate0 + cand
        place_node = lay.place0 + prep.place[outside]
        rc_out = np.maximum(cert.rc[outside], 0).astype(np.float64)
    out: list[int | None] = []
    for i, (src, dst) in enumerate(((net.SINK, net.SOURCE), (net.SOURCE, net.SINK))):
        reduced = float(dist_from[i, dst])
        if outside.any():
            # A candidate absent from the core network hangs off its district at reduced cost 0.
            reach = np.minimum(dist_from[i, cand_node], dist_from[i, district_node])
            via_first = float((reach + rc_out).min())
            via_last = float((rc_out + dist_to[i, place_node]).min())
            reduced = min(reduced, max(via_first, via_last))
        out.append(None if not np.isfinite(reduced) else
                   int(np.rint(reduced)) + int(cert.pi[dst]) - int(cert.pi[src]))
    return out[0], out[1]


def _rounding(prep: Prepared, mu: I64, n: int) -> int:
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


@dataclass
class _RoundedBound:
    value: int  # c-units, bound on K * objective
    n_lo: int  # smallest number assigned that could still beat the threshold
    n_hi: int
    min_rounding: int  # min over n in [n_lo, n_hi] of _rounding


def _rounded_bound(prep: Prepared, ub_c: int, n_star: int, d_minus: int | None,
                   d_plus: int | None, mu: I64, threshold: float) -> _RoundedBound:
    """``max_n [V(n) - rounding(n)]`` with ``V(n) <= V(n*) - |n - n*| * marginal`` (concavity).

    Also the range of ``n`` whose bound reaches ``threshold`` (c-units), for the exact model.
    """
    n_min = prep.num_pins
    n_max = prep.num_pins + int(prep.candidates_with_edges.size)
    period = math.lcm(*[q for _, q in prep.pq]) if prep.pq else 1
    best = ub_c - _rounding(prep, mu, n_star)
    lo = hi = n_star
    min_r = _rounding(prep, mu, n_star)
    for step, marginal, limit in ((-1, d_minus, n_min), (1, d_plus, n_max)):
        if marginal is None:
            continue
        n, j = n_star, 0
        while (n - limit) * step < 0:
            n += step
            j += 1
            base = ub_c - j * marginal
            if base < threshold and base <= best:
                break  # farther n can neither beat the threshold nor the best bound
            if j > 2 * period + 2 and marginal == 0:
                # Flat: every farther n repeats the rounding pattern; take the whole side.
                n = limit
                lo, hi = min(lo, n), max(hi, n)
                min_r = 0
                best = max(best, base - 0)
                break
            r = _rounding(prep, mu, n)
            best = max(best, base - r)
            if base - r >= threshold:
                lo, hi = min(lo, n), max(hi, n)
                min_r = min(min_r, r)
    return _RoundedBound(best, lo, hi, min_r)


def _kelley_step(cuts: list[tuple[int, I64, I64]], lo_box: I64, hi_box: I64
                 ) -> tuple[I64, float]:
    """Minimise the cutting-plane model of D over the box; return the rounded point and value."""
    g = len(lo_box)
    a_ub = np.array([[*grad.astype(float), -1.0] for _, grad, _ in cuts])
    b_ub = np.array([float(grad @ mu) - float(d) for d, grad, mu in cuts])
    # Shift the objective value scale: D is large, the LP works on differences to the best cut.
    shift = min(float(d) for d, _, _ in cuts)
    b_ub = b_ub + shift
    bounds = [(float(a), float(b)) for a, b in zip(lo_box, hi_box, strict=True)] + [(None, None)]
    res = optimize.linprog(np.r_[np.zeros(g), 1.0], A_ub=a_ub, b_ub=b_ub, bounds=bounds,
                           method="highs")
    if res.status != 0:
        # The master LP can fail on badly scaled cuts (floors no assignment meets drive the
        # dual down without end: "HiGHS Status 15", issue 20). The search must not: step to the
        # corner of the box the latest cut points to, and claim no model value.
        logger.debug("Kelley master LP failed (%s): a subgradient step instead", res.message)
        grad = cuts[-1][1]
        mid = (lo_box + hi_box) // 2
        mu = np.where(grad > 0, lo_box, np.where(grad < 0, hi_box, mid)).astype(np.int64)
        return mu, -math.inf
    mu = np.clip(np.rint(res.x[:g]), lo_box, hi_box).astype(np.int64)
    return mu, float(res.x[g]) + shift


def _mu_cap(prep: Prepared) -> I64:
    """Upper bound on each multiplier: a hard cap keeps costs in int64 (see _choose_scale)."""
    k = prep.scale_k
    max_w = max(int(np.abs(prep.weight).max(initial=0)), 1)
    caps = []
    for p, q in prep.pq:
        cap = (16 * k * max_w) // q
        if prep.penalty_w is not None:
            # Past P*K/q the penalised shortfall is cheaper than any price: the dual is capped.
            cap = min(cap, (prep.penalty_w * k) // q)
        caps.append(max(cap, 1))
        del p
    return np.array(caps, np.int64)


def _mu_start_box(prep: Prepared, cap: I64) -> I64:
    k = prep.scale_k
    max_w = max(int(np.abs(prep.weight).max(initial=0)), 1)
    box = [max(1, min(int(c), (k * max_w) // max(1, min(p, q - p) or p)))
           for (p, q), c in zip(prep.pq, cap, strict=True)]
    return np.array(box, np.int64)


# ============================================================================ primal values
def primal_value(prep: Prepared, x_active: BoolArray) -> tuple[Fraction, bool]:
    """Exact combined objective (w-units) of the free assignment ``x_active`` and whether it
    meets every hard rule. Pins are included."""
    p = prep.problem
    sel = np.flatnonzero(x_active)
    value = Fraction(int(prep.weight[sel].sum()) + prep.pin_score_w + prep.big_m * prep.num_pins)
    counts = np.bincount(p.candidate_district[prep.cand[sel]], minlength=p.num_districts)
    under = np.maximum(prep.lower - counts, 0)
    over = np.maximum(counts - np.maximum(prep.upper, 0), 0) + prep.pin_excess
    ok = True
    if prep.penalty_w is None:
        ok = not under.any() and not over.any()
    else:
        value -= prep.penalty_w * int(under.sum() + over.sum())
    for g, (_pp, q) in enumerate(prep.pq):
        slack = int(prep.a_coef(sel, g).sum()) + int(prep.a_pin[g])
        if slack < 0:
            if prep.penalty_w is None:
                ok = False
            else:
                value -= Fraction(prep.penalty_w * -slack, q)
    return value, ok


def _digest(x: BoolArray) -> bytes:
    """A short fingerprint of an assignment (its bits would be 1.9 MB at 15M pairs)."""
    return hashlib.blake2b(np.packbits(x).tobytes(), digest_size=16).digest()


def _improve(prep: Prepared, flows: list[I64], incumbent: tuple[Fraction, BoolArray] | None,
             deadline: float, enough: Fraction | None = None,
             memo: set[tuple[bytes, bytes]] | None = None
             ) -> tuple[Fraction, BoolArray] | None:
    """The best assignment the primal repair finds among ``flows`` and the incumbent.

    Each flow missing a floor is repaired towards each flow meeting them (the best few of
    each) and, when none of ``flows`` meets them, towards the flows doing better on a floor it
    misses; then the best assignment is polished against the best flows. See
    ``matching._repair``. Stops as soon as an assignment is worth ``enough`` (w-units).
    ``memo`` holds the pairs repaired by earlier calls (a repair depends on its two assignments
    only, and its result was offered then): they are not repaired again.
    """
    if prep.penalty_w is not None or not prep.num_groups:
        return incumbent
    size = prep.edges.size
    unique: dict[bytes, I64] = {}
    for ix in flows:
        unique.setdefault(np.sort(ix).tobytes(), ix)
    met: list[tuple[Fraction, BoolArray]] = []
    missed: list[tuple[Fraction, BoolArray]] = []
    for ix in unique.values():
        x = np.zeros(size, bool)
        x[ix] = True
        value, ok = primal_value(prep, x)
        (met if ok else missed).append((value, x))
    met.sort(key=lambda t: -t[0])
    missed.sort(key=lambda t: -t[0])
    best = incumbent
    if met and (best is None or met[0][0] > best[0]):
        best = met[0]
    partners = met[:_REPAIR_PARTNERS]
    if incumbent is not None and not any(np.array_equal(incumbent[1], x) for _, x in partners):
        partners.append(incumbent)
    done: set[tuple[bytes, bytes]] = set() if memo is None else memo

    prints: dict[int, tuple[BoolArray, bytes]] = {}

    def fingerprint(x: BoolArray) -> bytes:
        if id(x) not in prints:  # the array is kept with its print: its id stays its own
            prints[id(x)] = (x, _digest(x))
        return prints[id(x)][1]

    def first_time(x0: BoolArray, x1: BoolArray) -> bool:
        # The same pair twice gives the same result (the incumbent is often the best flow met).
        key = (fingerprint(x0), fingerprint(x1))
        if key in done:
            return False
        done.add(key)
        return True

    slack = {id(x): _repair.floor_slack(prep, x) for _, x in missed[: 2 * _REPAIR_PARTNERS]}
    num_missed = len(missed[:_REPAIR_PARTNERS])
    for i_missed, (_, x0) in enumerate(missed[:_REPAIR_PARTNERS]):
        _control.report("repair", i_missed / (num_missed + 1))
        # Two flows that each miss a floor can still be repaired into one meeting them all when
        # they miss different floors (floors that barely bind: no flow meets them all).
        s0 = slack[id(x0)]
        others = [(v, x) for v, x in missed[: 2 * _REPAIR_PARTNERS]
                  if not met and x is not x0
                  and (slack[id(x)][s0 < 0] > s0[s0 < 0]).any()][:_REPAIR_PARTNERS]
        for _, x1 in partners + others:
            if best is not None and enough is not None and best[0] >= enough:
                return best
            if not first_time(x0, x1):
                continue
            y = _repair.repair(prep, x0, x1, deadline)
            if y is None:
                continue
            value, ok = primal_value(prep, y)
            if ok and (best is None or value > best[0]):
                best = (value, y)
    logger.debug("repair: %d flows (%d meet the floors), best met %s, repaired %s", len(unique),
                 len(met), float(met[0][0]) if met else None,
                 None if best is None else float(best[0]))
    if best is None:
        return None
    for _ in range(_POLISH_ROUNDS):  # polish: move towards any flow while keeping the floors
        _control.report("repair", 1.0 - 1.0 / (num_missed + 1) / (_ + 1))
        improved = False
        for _, x in (missed + met)[: 2 * _REPAIR_PARTNERS]:
            if enough is not None and best[0] >= enough:
                return best
            if np.array_equal(best[1], x) or not first_time(best[1], x):
                continue
            y = _repair.repair(prep, best[1], x, deadline)
            if y is None:
                continue
            value, ok = primal_value(prep, y)
            if ok and value > best[0]:
                best, improved = (value, y), True
        logger.debug("repair: polished to %s", float(best[0]))
        if not improved:
            break
    return best


# ============================================================================ the MIP
@dataclass
class _MipResult:
    status: str  # "optimal", "feasible", "infeasible", "unknown"
    x_free: BoolArray
    bound_w: Fraction | None
    variables: int = 0  # binaries the MIP solver got (fixed-count models)


def _solve_mip(prep: Prepared, free: I64, fixed1: I64, time_limit: float,
               n_range: tuple[float, float] = (0.0, np.inf)) -> _MipResult:
    """Exact MIP (HiGHS through scipy) over the free active edges, ``fixed1`` chosen.

    Lexicographic in ``max_placed`` mode: first the number placed minus violations, then the
    score, so no big-M weight reaches the floating-point solver.
    """
    p = prep.problem
    nf = free.size
    cand_f = prep.cand[free].astype(np.int64)
    place_f = prep.place[free].astype(np.int64)
    dist_f = p.candidate_district[cand_f].astype(np.int64)
    cand_fixed = np.bincount(prep.cand[fixed1], minlength=p.num_candidates)
    place_fixed = np.bincount(prep.place[fixed1], minlength=p.num_places)
    dist_fixed = np.bincount(p.candidate_district[prep.cand[fixed1]], minlength=p.num_districts)
    penal = prep.penalty_w is not None
    nd, ng = p.num_districts, prep.num_groups
    if n_range[0] == n_range[1] and not penal:
        return _solve_fixed_count_mip(prep, free, fixed1, time_limit, int(n_range[0]))
    # Variable layout: [x_free | N | K_g | under_d, over_d, short_g (penalised only)].
    # N (number assigned) and K_g (assigned counting for g) are explicit integers so that the
    # solver branches on them: a floor row q*K_g >= p*N with N fixed rounds K_g up, which closes
    # the gap the fractional share leaves in the LP relaxation (docs/allocation.md).
    i_n = nf
    i_k = nf + 1
    i_pen = nf + 1 + ng
    nv = i_pen + (2 * nd + ng if penal else 0)
    rows: list[sparse.csr_matrix] = []
    lo: list[npt.NDArray[np.float64]] = []
    hi: list[npt.NDArray[np.float64]] = []

    def block(row_of_x: I64, nrows: int, coef: npt.ArrayLike = 1.0,
              extra: sparse.csr_matrix | None = None) -> sparse.csr_matrix:
        m = sparse.csr_matrix(
            (np.broadcast_to(np.asarray(coef, float), (nf,)), (row_of_x, np.arange(nf))),
            shape=(nrows, nv),
        )
        return m if extra is None else m + extra

    def single(cols: list[int], vals: list[float]) -> sparse.csr_matrix:
        return sparse.csr_matrix((vals, ([0] * len(cols), cols)), shape=(1, nv))

    uc, cinv = np.unique(cand_f, return_inverse=True)
    rows.append(block(cinv, uc.size))
    lo.append(np.full(uc.size, -np.inf))
    hi.append((1 - cand_fixed[uc]).astype(np.float64))
    up_, pinv = np.unique(place_f, return_inverse=True)
    rows.append(block(pinv, up_.size))
    lo.append(np.full(up_.size, -np.inf))
    hi.append((prep.slots[up_] - place_fixed[up_]).astype(float))
    dl = (prep.lower - dist_fixed).astype(float)
    du = (np.maximum(prep.upper, 0) - dist_fixed).astype(float)
    if penal:
        ar = np.arange(nd)
        under = sparse.csr_matrix((np.ones(nd), (ar, i_pen + ar)), shape=(nd, nv))
        over = sparse.csr_matrix((-np.ones(nd), (ar, i_pen + nd + ar)), shape=(nd, nv))
        rows.append(block(dist_f, nd, 1.0, under))
        lo.append(dl)
        hi.append(np.full(nd, np.inf))
        rows.append(block(dist_f, nd, 1.0, over))
        lo.append(np.full(nd, -np.inf))
        hi.append(du)
    else:
        rows.append(block(dist_f, nd))
        lo.append(dl)
        hi.append(du)
    n_const = float(fixed1.size + prep.num_pins)
    rows.append(block(np.zeros(nf, np.int64), 1, -1.0, single([i_n], [1.0])))
    lo.append(np.array([n_const]))
    hi.append(np.array([n_const]))
    for g in range(ng):
        pp, q = prep.pq[g]
        k_const = float(int(prep.in_group[g][fixed1].sum()) + (int(prep.a_pin[g])
                        + pp * prep.num_pins) // q)
        rows.append(block(np.zeros(nf, np.int64), 1, -prep.in_group[g][free].astype(float),
                          single([i_k + g], [1.0])))
        lo.append(np.array([k_const]))
        hi.append(np.array([k_const]))
        cols, vals = [i_k + g, i_n], [float(q), -float(pp)]
        if penal:
            cols.append(i_pen + 2 * nd + g)
            vals.append(float(q))
        rows.append(single(cols, vals))
        lo.append(np.array([0.0]))
        hi.append(np.array([np.inf]))
    a = sparse.vstack(rows, format="csr")
    cons = optimize.LinearConstraint(a, np.concatenate(lo), np.concatenate(hi))
    integrality = np.r_[np.ones(nf + 1 + ng), np.zeros(nv - i_pen)]
    ub = np.r_[np.ones(nf), np.full(nv - nf, np.inf)]
    lb_vars = np.zeros(nv)
    lb_vars[i_n], ub[i_n] = n_range
    bounds = optimize.Bounds(lb_vars, ub)
    pen_w = 0.0 if prep.penalty_w is None else float(prep.penalty_w - prep.big_m)
    secondary = np.r_[prep.score_w[free].astype(float), np.zeros(1 + ng),
                      np.full(nv - i_pen, -pen_w)]
    # The shortfall s_g is in persons (A x + q s >= rhs), penalised like a district unit.
    deadline = time.perf_counter() + max(time_limit, 0.1)
    constraints = [cons]
    if prep.max_placed:
        primary = np.r_[np.ones(nf), np.zeros(1 + ng), -np.ones(nv - i_pen)]
        r1 = _milp(-primary, constraints, integrality, bounds, deadline)
        if r1 is None or r1.x is None:
            return _MipResult("infeasible" if r1 is not None and r1.status == 2 else "unknown",
                              np.zeros(nf, bool), None)
        best = float(primary @ np.round(r1.x, 9))
        constraints = [cons, optimize.LinearConstraint(primary[None, :], best - 1e-6, np.inf)]
    r2 = _milp(-secondary, constraints, integrality, bounds, deadline)
    if r2 is None or r2.x is None:
        return _MipResult("infeasible" if r2 is not None and r2.status == 2 else "unknown",
                          np.zeros(nf, bool), None)
    x = r2.x[:nf] > 0.5
    status = "optimal" if r2.status == 0 else "feasible"
    return _MipResult(status, x, None)


def _assignment_rows(prep: Prepared, free: I64, fixed1: I64
                     ) -> tuple[sparse.csr_matrix, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Rows ``lo <= A x <= hi`` over the ``free`` pairs, with the ``fixed1`` pairs chosen: one
    place per candidate, slots per place, each district within its key."""
    p = prep.problem
    nf = free.size
    cols = np.arange(nf)
    cand_fixed = np.bincount(prep.cand[fixed1], minlength=p.num_candidates)
    place_fixed = np.bincount(prep.place[fixed1], minlength=p.num_places)
    dist_fixed = np.bincount(p.candidate_district[prep.cand[fixed1]], minlength=p.num_districts)
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


def _live_pairs(prep: Prepared, free: I64, fixed1: I64) -> BoolArray:
    """Mask of the ``free`` pairs the ``fixed1`` pairs leave usable: their candidate is not
    placed by a fixed pair, their place has a slot left, their district room left."""
    p = prep.problem
    cand_fixed = np.bincount(prep.cand[fixed1], minlength=p.num_candidates)
    place_fixed = np.bincount(prep.place[fixed1], minlength=p.num_places)
    dist_fixed = np.bincount(p.candidate_district[prep.cand[fixed1]], minlength=p.num_districts)
    cand, place = prep.cand[free], prep.place[free]
    dist = p.candidate_district[cand]
    return ((cand_fixed[cand] == 0) & (prep.slots[place] - place_fixed[place] > 0)
            & (np.maximum(prep.upper, 0)[dist] - dist_fixed[dist] > 0))


def _solve_fixed_count_mip(prep: Prepared, free: I64, fixed1: I64, time_limit: float,
                           n: int) -> _MipResult:
    """The exact MIP with exactly ``n`` placed (hard rules): floors become plain count rows.

    With ``n`` fixed, floor ``g`` reads ``count_g >= ceil(p_g n / q_g)``; no count variables
    are needed, and HiGHS solves this form far faster than the general one (which carries
    ``N`` and ``K_g`` as integer variables for a varying ``n``).
    """
    live = _live_pairs(prep, free, fixed1)
    if not live.all():  # pairs the fixed ones block are no variables (half of them at 10k)
        kept = _solve_fixed_count_mip(prep, free[live], fixed1, time_limit, n)
        x = np.zeros(free.size, bool)
        x[np.flatnonzero(live)[kept.x_free]] = True
        return _MipResult(kept.status, x, kept.bound_w, kept.variables)
    nf = free.size
    if nf == 0:
        return _MipResult("infeasible", np.zeros(0, bool), None)
    base, base_lo, base_hi = _assignment_rows(prep, free, fixed1)
    place_n = float(n - fixed1.size - prep.num_pins)
    rows = [base, sparse.csr_matrix(np.ones((1, nf)))]
    lo = [base_lo, np.array([place_n])]
    hi = [base_hi, np.array([place_n])]
    for g, (pp, q) in enumerate(prep.pq):
        pins_g = (int(prep.a_pin[g]) + pp * prep.num_pins) // q  # pinned members of g
        need = -(-pp * n // q) - pins_g - int(prep.in_group[g][fixed1].sum())
        rows.append(sparse.csr_matrix(prep.in_group[g][free].astype(float)[None, :]))
        lo.append(np.array([float(need)]))
        hi.append(np.array([np.inf]))
    a = sparse.vstack(rows, format="csr")
    lo_all, hi_all = np.concatenate(lo), np.concatenate(hi)
    # n is fixed, so the placement weight M is a constant: optimise the score alone.
    deadline = time.perf_counter() + max(time_limit, 0.1)
    if nf <= _CBC_MAX_PAIRS:
        out = _cbc_binary(prep.score_w[free], a, lo_all, hi_all, deadline)
        out.variables = nf
        return out
    res = _milp(-prep.score_w[free].astype(float), [optimize.LinearConstraint(a, lo_all, hi_all)],
                np.ones(nf), optimize.Bounds(0.0, 1.0), deadline)
    if res is None or res.x is None:
        return _MipResult("infeasible" if res is not None and res.status == 2 else "unknown",
                          np.zeros(nf, bool), None, nf)
    return _MipResult("optimal" if res.status == 0 else "feasible", res.x > 0.5, None, nf)


def _restricted(prep: Prepared, free: I64, fixed1: I64) -> Prepared:
    """The round restricted to the ``free`` pairs, with the ``fixed1`` pairs (and the round's own
    pins) pinned and every other pair dropped: a fixed-count model as a round of its own."""
    p = prep.problem
    edges = np.concatenate([prep.edges[free], prep.edges[fixed1], p.pins])
    sub = AllocationProblem(
        num_candidates=p.num_candidates, num_places=p.num_places,
        num_districts=p.num_districts, num_groups=p.num_groups,
        edge_candidate=p.edge_candidate[edges], edge_place=p.edge_place[edges],
        edge_score=p.edge_score[edges], place_slots=p.place_slots,
        candidate_district=p.candidate_district, district_lower=p.district_lower,
        district_upper=p.district_upper, edge_groups=p.edge_groups[edges],
        group_floor=p.group_floor,
        pinned_edges=np.arange(free.size, edges.size, dtype=np.int64),
    )
    # Its active pairs are the free ones still usable, in order: sub.edges[i] indexes ``free``.
    return prepare(sub, max_placed=False, penalty=None)


def _solve_count_model(prep: Prepared, free: I64, fixed1: I64, n: int, theta: Fraction,
                       lam: I64, deadline: float, counters: dict[str, int], depth: int = 0
                       ) -> _MipResult:
    """The fixed-count model over ``free`` (``fixed1`` chosen, ``n`` placed): its best assignment
    if one is worth at least ``theta`` (c-units), else ``"infeasible"`` or a lesser assignment.

    A model above ``_RESTRICT_ABOVE`` pairs is first bounded as a round of its own
    (docs/allocation.md, "Large fixed-count models"): the restricted round's fixed-count
    Lagrangian is often far below the whole round's (fixing pairs removes the fractional
    combinations the bound lives on), and it proves at once that nothing reaches ``theta``, or
    fixes most of the model's pairs by its own reduced costs. ``lam`` (c-units of ``prep``)
    starts its search.
    """
    def mip(prep_: Prepared, free_: I64, fixed_: I64) -> _MipResult:
        res = _solve_fixed_count_mip(prep_, free_, fixed_, _control.remaining(deadline), n)
        counters["solver_edges"] = counters.get("solver_edges", 0) + res.variables  # stats
        return res

    if free.size <= _RESTRICT_ABOVE or depth >= _RESTRICT_DEPTH:
        return mip(prep, free, fixed1)
    sub = _restricted(prep, free, fixed1)
    ks = sub.scale_k
    # The restricted round scores without the placement weight (n is fixed): shift theta.
    theta_sub = ks * (theta / prep.scale_k - prep.big_m * n)
    cb, _ = _count_bound(sub, n, np.arange(sub.edges.size, dtype=np.int64),
                         lam * ks // prep.scale_k, deadline, counters, theta_sub,
                         radius0=ks * SCORE_SCALE // 1000)
    logger.debug("restricted fixed-count model n=%d, depth %d: %d pairs, bound %s w-units "
                 "above theta", n, depth, sub.edges.size,
                 None if cb.value is None else float((cb.value - theta_sub) / ks))
    if cb.value is None or cb.value < theta_sub:  # nothing placing n here reaches theta
        return _MipResult("infeasible", np.zeros(free.size, bool), None)
    assert cb.cert is not None
    to_free = sub.edges  # active pairs of the restricted round -> positions in ``free``
    x = np.zeros(free.size, bool)
    if cb.exact:  # its flow meets the floors with complementary slackness: optimal
        x[to_free[cb.cert.used]] = True
        return _MipResult("optimal", x, None)
    tau = math.floor(cb.value - theta_sub)
    dev = _sharpened_dev(sub, cb.cert, tau + 1)
    free_r = np.flatnonzero(dev <= tau)
    fixed_r = np.flatnonzero(cb.cert.used & (dev > tau))
    if free_r.size > _RESTRICT_SHRINK * sub.edges.size:
        # Re-bounding the same model again would give the same bound: solve it.
        res = mip(sub, free_r, fixed_r)
    else:
        res = _solve_count_model(sub, free_r, fixed_r, n, Fraction(theta_sub), cb.cert.mu,
                                 deadline, counters, depth + 1)
    if res.status in ("optimal", "feasible"):
        x[to_free[free_r[res.x_free]]] = True
        x[to_free[fixed_r]] = True
    return _MipResult(res.status, x, None)


def _cbc_binary(value: I64, a: sparse.csr_matrix, lo: npt.NDArray[np.float64],
                hi: npt.NDArray[np.float64], deadline: float) -> _MipResult:
    """Maximise ``value . x`` over binary ``x`` with ``lo <= a x <= hi``: CBC through OR-Tools.

    On the small fixed-count models (up to a few thousand pairs) CBC proves the optimum in a
    fraction of the time HiGHS spends on its root cuts and sub-MIPs (docs/allocation.md,
    "The MIP solver").
    """
    from ortools.linear_solver import pywraplp

    nf = value.size
    remaining = _control.remaining(deadline)
    solver = pywraplp.Solver.CreateSolver("CBC")
    if solver is None or remaining <= 0:
        return _MipResult("unknown", np.zeros(nf, bool), None)
    inf = solver.infinity()
    xs = [solver.BoolVar(f"x{j}") for j in range(nf)]
    indptr, indices, data = a.indptr.tolist(), a.indices.tolist(), a.data.tolist()
    lo_l = np.where(np.isfinite(lo), lo, -inf).tolist()
    hi_l = np.where(np.isfinite(hi), hi, inf).tolist()
    for i in range(a.shape[0]):
        row = solver.Constraint(lo_l[i], hi_l[i])
        for j in range(indptr[i], indptr[i + 1]):
            row.SetCoefficient(xs[indices[j]], data[j])
    objective = solver.Objective()
    for x, v in zip(xs, value.tolist(), strict=True):
        objective.SetCoefficient(x, float(v))
    objective.SetMaximization()
    solver.SetTimeLimit(max(int(remaining * 1000), 1))
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, 0.0)
    status = solver.Solve(params)
    if status == pywraplp.Solver.INFEASIBLE:
        return _MipResult("infeasible", np.zeros(nf, bool), None)
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return _MipResult("unknown", np.zeros(nf, bool), None)
    x_free = np.array([x.solution_value() > 0.5 for x in xs], bool)
    return _MipResult("optimal" if status == pywraplp.Solver.OPTIMAL else "feasible", x_free, None)


def _milp(c: npt.NDArray[np.float64], constraints: list[optimize.LinearConstraint],
          integrality: npt.NDArray[np.float64], bounds: optimize.Bounds, deadline: float
          ) -> _highs.MilpResult | None:
    """HiGHS (highspy) on ``min c x`` with scipy-style constraints; ``None`` past the deadline."""
    if _control.remaining(deadline) <= 0:
        return None
    a = sparse.vstack([sparse.csr_matrix(k.A) for k in constraints], format="csr")
    lo = np.concatenate([np.broadcast_to(np.asarray(k.lb, float), (k.A.shape[0],))
                         for k in constraints])
    hi = np.concatenate([np.broadcast_to(np.asarray(k.ub, float), (k.A.shape[0],))
                         for k in constraints])
    n = c.size
    res = _highs.milp(c, a, lo, hi, integrality,
                      np.broadcast_to(np.asarray(bounds.lb, float), (n,)),
                      np.broadcast_to(np.asarray(bounds.ub, float), (n,)), deadline,
                      presolve=_PRESOLVE, phase="exact_model")
    if res.status not in (0, 1, 2):
        logger.warning("HiGHS MIP returned status %s: %s", res.status, res.message)
    return res


def _sampled_multipliers(prep: Prepared, deadline: float) -> I64 | None:
    """Floor prices of a sub-round on a random fraction of the places (seeded, deterministic).

    Keys are scaled by the fraction; floors, scores and the Lagrangian scale are kept, so the
    sub-round's multipliers carry over. Only a starting point: the full round's search refines
    them and its own bound is what counts.
    """
    frac = _SAMPLE_ABOVE / max(int(prep.candidates_with_edges.size), 1)
    sub_prep = _sample_round(prep, frac)
    if sub_prep is None:
        return None
    left = _control.remaining(deadline)
    if left <= 0:
        return None
    out = solve_exact(sub_prep, left, dual_only=True)
    if "multipliers" not in out.stats:
        return None
    return np.array(out.stats["multipliers"], np.int64)


def _sampled_lp_prices(prep: Prepared, deadline: float) -> I64 | None:
    """Floor prices of the LP relaxation of a sub-round on a random share of the places.

    The LP of a whole large round costs many flows (10k x 1k x 50, tight floors: 15 s against
    0.3 s a flow); its floor duals are intensive (score units per person), so the LP of a
    sub-round of about ``_LP_SAMPLE_PAIRS`` pairs starts the search nearly as well.
    """
    sub_prep = _sample_round(prep, _LP_SAMPLE_PAIRS / max(int(prep.edges.size), 1))
    if sub_prep is None:
        return None
    lp = _lp_prices(sub_prep, np.arange(sub_prep.edges.size, dtype=np.int64), deadline)
    return None if lp is None else lp.mu


def _sample_round(prep: Prepared, frac: float) -> Prepared | None:
    """The sub-round on a random share ``frac`` of the places (seeded): keys scaled by it,
    floors, scores and the Lagrangian scale kept. ``None`` if empty or the scale differs."""
    p = prep.problem
    rng = np.random.default_rng(0)
    keep_place = rng.random(p.num_places) < frac
    sel = np.flatnonzero(keep_place[prep.place])
    if sel.size == 0:
        return None
    cands, cinv = np.unique(prep.cand[sel], return_inverse=True)
    places, pinv = np.unique(prep.place[sel], return_inverse=True)
    lower = np.floor(prep.lower * frac).astype(np.int32)
    upper = np.ceil(np.maximum(prep.upper, 0) * frac).astype(np.int32)
    edge_groups = np.zeros(sel.size, np.uint32)
    floors = np.zeros(len(prep.groups), np.float64)
    for g in range(prep.num_groups):
        edge_groups |= prep.in_group[g][sel].astype(np.uint32) << np.uint32(g)
        pp, q = prep.pq[g]
        floors[g] = pp / q
    sub = AllocationProblem(
        num_candidates=int(cands.size), num_places=int(places.size),
        num_districts=p.num_districts, num_groups=prep.num_groups,
        edge_candidate=cinv.astype(np.int32), edge_place=pinv.astype(np.int32),
        edge_score=prep.score_w[sel] / SCORE_SCALE,
        place_slots=prep.slots[places].astype(np.int32),
        candidate_district=p.candidate_district[cands], district_lower=lower,
        district_upper=np.maximum(upper, lower), edge_groups=edge_groups, group_floor=floors,
    )
    sub_prep = prepare(sub, prep.max_placed, None)
    if sub_prep.scale_k != prep.scale_k or sub_prep.pq != prep.pq:
        return None
    return sub_prep


def max_dev_all(dev: I64) -> int:
    """Largest reduced-cost magnitude: a tau above it frees every pair."""
    return int(dev.max(initial=0))


def _lp_prices(prep: Prepared, start: I64, deadline: float) -> _LpPrices | None:
    """Floor prices from the LP relaxation of the whole round, by column generation.

    The Lagrangian dual's optimum equals the LP relaxation's (the subproblem is a network), so
    the LP's floor duals are the multipliers the cutting-plane search is after; a window of
    pairs near tight at zero floor prices (the former warm start) leaves out the group pairs
    the prices make worth it and gave prices many times too high (issue 20). The restricted LP
    starts from the ``start`` pairs; every active pair is priced with its duals and the most
    attractive join, until none does (then the LP is solved over every pair) or time is up.
    District lower bounds and floors are elastic at a high price, so every restricted LP is
    feasible; a slack left at the end says the relaxation itself is infeasible.
    """
    p = prep.problem
    ng = prep.num_groups
    size = prep.edges.size
    nc, npl, nd = p.num_candidates, p.num_places, p.num_districts
    # The elastic price: far above any floor's or key's worth per person (a few score units),
    # not so far that it spoils the LP's conditioning (4e9 made it 50 times slower).
    big = 16.0 * float(max(int(np.abs(prep.weight).max(initial=0)), SCORE_SCALE))
    w_all = prep.weight.astype(np.float64)
    dist_all = p.candidate_district[prep.cand].astype(np.int64)
    a_all = [prep.a_coef(slice(None), g).astype(np.float64) for g in range(ng)]
    # Rows: candidates, places, district lower, district upper, floors.
    r_place, r_lo, r_up, r_fl = nc, nc + npl, nc + npl + nd, nc + npl + 2 * nd
    row_lo = np.concatenate([np.full(nc + npl, -np.inf), prep.lower.astype(float),
                             np.full(nd, -np.inf), -prep.a_pin.astype(float)])
    row_hi = np.concatenate([np.ones(nc), prep.slots.astype(float), np.full(nd, np.inf),
                             np.maximum(prep.upper, 0).astype(float), np.full(ng, np.inf)])
    lp = _highs.ColumnLp(row_lo, row_hi)
    # Elastic columns at a high price: a shortfall below a district's lower key, a floor's.
    qs = np.array([q for _, q in prep.pq], float)
    lp.add_columns(np.full(nd + ng, big), np.zeros(nd + ng),
                   np.r_[prep.lower.astype(float), np.full(ng, np.inf)],
                   np.arange(nd + ng, dtype=np.int32),
                   np.r_[r_lo + np.arange(nd), r_fl + np.arange(ng)].astype(np.int32),
                   np.r_[np.ones(nd), qs])
    num_elastic = nd + ng
    cols = np.zeros(0, np.int64)
    in_cols = np.zeros(size, bool)
    enter = np.unique(start)
    for _ in range(_LP_MAX_ROUNDS):
        # Each pair column: its candidate, place, district (both rows) and floor rows.
        m = enter.size
        entries = [np.stack([prep.cand[enter].astype(np.int64), r_place + prep.place[enter],
                             r_lo + dist_all[enter], r_up + dist_all[enter]], axis=1)]
        vals = [np.ones((m, 4))]
        if ng:
            entries.append(r_fl + np.broadcast_to(np.arange(ng), (m, ng)))
            vals.append(np.stack([a_all[g][enter] for g in range(ng)], axis=1))
        rows = np.concatenate(entries, axis=1)
        values = np.concatenate(vals, axis=1)
        width = rows.shape[1]
        lp.add_columns(-w_all[enter], np.zeros(m), np.ones(m),
                       (np.arange(m) * width).astype(np.int32), rows.reshape(-1).astype(np.int32),
                       values.reshape(-1))
        cols = np.concatenate([cols, enter])
        in_cols[enter] = True
        out = lp.solve(deadline)
        if out is None:
            return None
        x, y, fun = out
        y_c, y_p = y[:nc], y[r_place:r_lo]
        y_d = y[r_lo:r_up] + y[r_up:r_fl]
        y_g = y[r_fl:]
        # Reduced cost (minimisation) of every active pair: attractive when negative.
        rc = -w_all - y_c[prep.cand] - y_p[prep.place] - y_d[dist_all]
        for g in range(ng):
            rc -= y_g[g] * a_all[g]
        tol = 1e-6 * max(1.0, float(np.abs(w_all).max(initial=1.0)))
        enter = np.flatnonzero(~in_cols & (rc < -tol))
        if enter.size == 0:
            slack = float(x[:num_elastic].sum())
            mu = np.rint(np.maximum(y_g, 0.0) * prep.scale_k).astype(np.int64)
            support = np.zeros(size, bool)
            support[cols[x[num_elastic:] > 1e-9]] = True
            near = np.flatnonzero(support | (np.abs(rc) <= _CORE_WINDOW * SCORE_SCALE))
            return _LpPrices(mu, -fun, slack > 1e-6, int(cols.size), near.astype(np.int64))
        keep = max(_LP_ENTER_MIN, cols.size // 2)
        if enter.size > keep:
            enter = enter[np.argpartition(rc[enter], keep)[:keep]]
        logger.debug("LP warm start: %d pairs enter (%d in all)", enter.size, cols.size)
    return None


@dataclass
class _LpPrices:
    mu: I64  # floor prices, c-units per unit of floor row
    value_w: float  # the LP relaxation's optimum (w-units, free part)
    infeasible: bool  # an elastic slack stayed positive: the relaxation has no solution
    columns: int
    near: I64  # active pairs in the LP's support or near tight at its prices: a core


def _lp_multipliers(prep: Prepared, cert: _Certificate, theta: int) -> I64 | None:
    """Floor prices from the LP relaxation restricted to pairs with ``|rc| <= theta``.

    Only a starting point for the Lagrangian search (any multipliers give a valid bound): pairs
    far from tight at ``cert.mu`` are fixed to their flow values, which keeps the LP small.
    Returns integer multipliers (c-units per floor-row unit), or ``None`` if the LP fails.
    """
    free = np.flatnonzero(np.abs(cert.rc) <= theta)
    fixed1 = np.flatnonzero(cert.used & (np.abs(cert.rc) > theta))
    if free.size == 0:
        return None
    ng = prep.num_groups
    rows, lo, hi = _assignment_rows(prep, free, fixed1)
    has_lo = np.isfinite(lo)  # only the district rows have lower bounds
    blocks = [rows, -rows[np.flatnonzero(has_lo)]]
    rhs = [hi, -lo[has_lo]]
    for g in range(ng):
        blocks.append(sparse.csr_matrix(-prep.a_coef(free, g).astype(float)[None, :]))
        rhs.append(np.array([float(int(prep.a_pin[g]) + int(prep.a_coef(fixed1, g).sum()))]))
    a_ub = sparse.vstack(blocks, format="csr")
    res = optimize.linprog(-prep.weight[free].astype(float), A_ub=a_ub, b_ub=np.concatenate(rhs),
                           bounds=(0.0, 1.0), method="highs-ds")
    if res.status != 0:
        return None
    marg = -np.asarray(res.ineqlin.marginals)[-ng:]
    return np.maximum(np.rint(marg * prep.scale_k), 0).astype(np.int64)


# ============================================================================ fixed counts
class _CountOracle(_Oracle):
    """The Lagrangian of the round with exactly ``n`` placed (pins included), hard rules.

    With ``n`` fixed, floor ``g`` reads ``count_g >= ceil(p_g n / q_g)``: an integral right-hand
    side. Its multiplier ``lam_g`` is a bonus per person of group ``g`` (c-units); the number
    placed is fixed by the supplies (no bypass), which is still a network.
    """

    def __init__(self, prep: Prepared, n: int, core: I64) -> None:
        self.n_flow = n - prep.num_pins
        pins_g = [(int(a) + p * prep.num_pins) // q
                  for a, (p, q) in zip(prep.a_pin, prep.pq, strict=True)]
        self.need = np.array([-(-p * n // q) - pg
                              for (p, q), pg in zip(prep.pq, pins_g, strict=True)], np.int64)
        super().__init__(prep)
        self.core = core

    def _skeleton(self, candidates: I32) -> net.Skeleton:
        sk = super()._skeleton(candidates)
        keep = sk.kind != 3  # no bypass: exactly n_flow units go through candidates
        supply = sk.supply.copy()
        supply[net.SOURCE] = self.n_flow - int(self.prep.lower.sum())
        supply[net.SINK] = -self.n_flow
        return net.Skeleton(sk.tail[keep], sk.head[keep], sk.capacity[keep], sk.cost[keep],
                            sk.kind[keep], sk.index[keep], supply)

    def pair_value(self, sel: I64 | slice, mu: I64) -> I64:
        prep = self.prep
        c = prep.weight[sel] * prep.scale_k
        for g in range(prep.num_groups):
            if mu[g]:
                c = c + mu[g] * prep.in_group[g][sel]
        return c

    def evaluate(self, mu: I64) -> tuple[int, I64, net.FlowSolution]:
        """Return the bound for ``n`` placed at ``mu`` (c-units), the subgradient and the flow."""
        prep = self.prep
        c = self.pair_value(self.core, mu)
        t = time.perf_counter()
        sol = net.solve_flow(prep.layout, self.skeleton, prep.cand[self.core],
                             prep.place[self.core], -c)
        self.solve_time += time.perf_counter() - t
        self.num_solves += 1
        if not sol.feasible:
            return 0, np.zeros(0, np.int64), sol
        sel = self.core[sol.pair_flow().astype(bool)]
        grad = np.array([int(prep.in_group[g][sel].sum()) for g in range(prep.num_groups)],
                        np.int64) - self.need
        return -sol.cost + self.const_c - int(mu @ self.need), grad, sol


@dataclass
class _CountBound:
    """The Lagrangian bound for one number placed, with the certificate that proves it."""

    n: int
    value: int | None  # c-units; None: no assignment places exactly n
    cert: _Certificate | None
    exact: bool  # the certificate's flow meets every floor with complementary slackness


def _count_bound(prep: Prepared, n: int, core: I64, lam0: I64, deadline: float,
                 stats: dict[str, int], target: Fraction | None = None,
                 improve: Callable[[list[I64], int], Fraction | None] | None = None,
                 radius0: int | None = None) -> tuple[_CountBound, list[I64]]:
    """Minimise the fixed-count Lagrangian for ``n`` placed; price every pair at the end.

    Stops early once a priced bound falls below ``target`` (c-units): ``n`` cannot beat it.
    Once the search is within ``_COUNT_TOL_W`` of the dual optimum, ``improve`` (the primal
    repair on the flows so far) may raise the target; while the cutting-plane model says the
    bound can still fall below it, the search goes on (closing ``n`` here saves its MIP).

    ``radius0`` (c-units) is the trust region's first half-width; by default an eighth of the
    starting prices, at least 0.01 score units. Returns the bound (valid for the whole round:
    every pair outside the core is priced out) and every assignment met on the way (active pair
    positions; material for the repair).
    """
    k = prep.scale_k
    q = np.array([q for _, q in prep.pq], np.int64)
    cap = _mu_cap(prep) * q
    oracle = _CountOracle(prep, n, core)
    flows: list[I64] = []
    lam = np.minimum(lam0, cap)
    repaired = False
    while True:  # pricing loop
        cuts: list[tuple[int, I64, I64]] = []
        evaluated: set[tuple[int, ...]] = set()
        radius = np.maximum(lam // _WARM_RADIUS_DIV, k * SCORE_SCALE // 100) if radius0 is None \
            else np.full(lam.size, radius0, np.int64)
        radius_start = radius
        crawling = False
        best: tuple[int, I64, net.FlowSolution] | None = None
        for _ in range(_MAX_COUNT_KELLEY):
            val, grad, sol = oracle.evaluate(lam)
            evaluated.add(tuple(lam.tolist()))
            if not sol.feasible:
                if oracle.core.size < prep.edges.size:
                    # The core may lack pairs placing n needs: fall back to every pair.
                    oracle.core = np.arange(prep.edges.size, dtype=np.int64)
                    cuts.clear()
                    evaluated.clear()
                    best = None
                    continue
                stats["count_flows"] += oracle.num_solves
                return _CountBound(n, None, None, False), flows
            flows.append(oracle.core[sol.pair_flow().astype(bool)])
            improved = best is None or val < best[0]
            if improved:
                best = (val, lam, sol)
            if (grad >= 0).all() and not (lam * grad).any():
                best = (val, lam, sol)  # complementary slackness: optimal for n placed
                break
            if target is not None and val < target:
                cert = _certify(prep, oracle, lam, sol)
                if not (cert.rc[_outside(prep, oracle.core)] < 0).any():
                    stats["count_flows"] += oracle.num_solves
                    return _CountBound(n, val, cert, False), flows
            cuts.append((val, grad, lam))
            if not improved:
                radius = np.maximum(radius // 2, 1)
            assert best is not None
            lo_box = np.maximum(best[1] - radius, 0)
            hi_box = np.minimum(best[1] + radius, cap)
            nxt, model = _kelley_step(cuts, lo_box, hi_box)
            at_edge = improved and bool(np.any((nxt == hi_box) & (hi_box < cap)
                                                | (nxt == lo_box) & (lo_box > 0)))
            if at_edge and crawling and (radius * _REGROW_BELOW <= radius_start).all():
                # Two improving steps in a row hit the box: the dual lies further than the
                # shrunken box reaches. Grow it back (a crawl of tiny steps along a ridge
                # left 300k x 10k seed 2 with a bound 63 w-units too high). Not beyond the
                # start: growing on (measured) made the same round's bound worse, 50 s.
                radius = np.minimum(radius * 2, np.maximum(radius_start, 1))
            crawling = at_edge
            logger.debug("count n=%d: lam=%s value %d grad %s; best %d, model %s (%.1f w)", n,
                         lam.tolist(), val, grad.tolist(), best[0], model, (best[0] - model) / k)
            if _control.out_of_time(deadline):
                break
            if best[0] - model < k * _COUNT_TOL_W and improve is not None and not repaired:
                repaired = True
                lb_new = improve(flows, best[0])
                if lb_new is not None:
                    target = k * (lb_new + 1)
            if best[0] - model < k * _COUNT_TOL_W and (
                    not repaired or target is None or model >= target
                    or best[0] - model < k * _COUNT_TOL_FINE_W):
                break  # the model proves the bound this close to the dual optimum, and (once
                # repaired) that going on cannot bring it below the incumbent
            if tuple(nxt.tolist()) in evaluated:
                if radius.max() <= 1:
                    break
                radius = np.maximum(radius // 2, 1)
                continue
            lam = nxt
        assert best is not None
        val, lam, sol = best
        cert = _certify(prep, oracle, lam, sol)
        missing = np.flatnonzero(_outside(prep, oracle.core) & (cert.rc < 0))
        if missing.size == 0:
            break
        oracle.core = np.union1d(oracle.core, missing)
    stats["count_flows"] += oracle.num_solves
    grad = np.array([int(prep.in_group[g][cert.used].sum()) for g in range(prep.num_groups)],
                    np.int64) - oracle.need
    exact = bool((grad >= 0).all() and not (lam * grad).any())
    return _CountBound(n, val, cert, exact), flows


def _outside(prep: Prepared, core: I64) -> BoolArray:
    """Mask of the active pairs not in ``core``."""
    out = np.ones(prep.edges.size, bool)
    out[core] = False
    return out


def _max_placeable(prep: Prepared) -> int:
    """The most candidates any assignment can place under slots and district upper bounds
    (pins included): one max flow on the whole round."""
    from ortools.graph.python import max_flow

    lay = prep.layout
    d = np.arange(lay.num_districts)
    cands = prep.candidates_with_edges
    home = prep.problem.candidate_district[cands]
    tails = np.concatenate([np.full(d.size, net.SOURCE), lay.district0 + home,
                            lay.candidate0 + prep.cand, lay.place0 + np.arange(lay.num_places)])
    heads = np.concatenate([lay.district0 + d, lay.candidate0 + cands, lay.place0 + prep.place,
                            np.full(lay.num_places, net.SINK)])
    caps = np.concatenate([np.maximum(prep.upper, 0), np.ones(cands.size + prep.cand.size, np.int64),
                           prep.slots])
    mf = max_flow.SimpleMaxFlow()
    mf.add_arcs_with_capacity(tails.astype(np.int32), heads.astype(np.int32), caps.astype(np.int64))
    if mf.solve(net.SOURCE, net.SINK) != mf.OPTIMAL:
        raise SolverError("OR-Tools max flow failed on the round's network")
    return int(mf.optimal_flow()) + prep.num_pins


def _fixed_count_phase(prep: Prepared, core: I64, mu: I64, ub_c: int, n_star: int,
                       marginals: tuple[int | None, int | None], first_theta: int,
                       incumbent: tuple[Fraction, BoolArray] | None, deadline: float,
                       stats: dict[str, object]) -> ExactOutcome | None:
    """Close the gap number placed by number placed (docs/allocation.md, "Fixed counts").

    Every ``n`` that the rounded bound leaves open is examined, the most promising first: the
    fixed-count Lagrangian gives its bound and reduced costs; an ``n`` whose bound cannot beat the
    incumbent is done, the others get an exact MIP with ``N = n`` over the pairs their reduced
    costs leave free, which may raise the incumbent and so close other ``n``. Returns ``None``
    when the phase does not apply (no incumbent, not even from the first exact model, or too many
    ``n``); the caller then closes the gap on the whole round.
    """
    k = prep.scale_k
    d_minus, d_plus = marginals
    counters = {"count_flows": 0}
    done: set[int] = set()
    unresolved: dict[int, Fraction] = {}
    lb, lb_x = incumbent if incumbent is not None else (None, None)
    lam = mu * np.array([q for _, q in prep.pq], np.int64)  # prices per person
    mip_edges = mips = 0

    def offer(x_act: BoolArray) -> None:
        nonlocal lb, lb_x
        value, ok = primal_value(prep, x_act)
        if ok and (lb is None or value > lb):
            lb, lb_x = value, x_act

    repaired: dict[str, int] = {}
    memo: set[tuple[bytes, bytes]] = set()  # pairs of assignments repaired in this phase

    def repair(flows: list[I64], bound_c: int) -> Fraction | None:
        # An incumbent worth floor(bound / K) closes n: no need to look further.
        if lb is not None and k * (lb + 1) > bound_c:
            return lb
        repaired["flows"] = len(flows)
        better = _improve(prep, flows, None if lb is None or lb_x is None else (lb, lb_x),
                          deadline, Fraction(bound_c // k), memo)
        if better is not None:
            offer(better[1])
        return lb

    def estimate(n: int) -> int:
        j = n - n_star
        marginal = d_plus if j > 0 else d_minus
        return ub_c - abs(j) * (marginal or 0) - _rounding(prep, mu, n)

    n_max: int | None = None
    while True:
        theta = k * lb if lb is not None else first_theta
        rt = _rounded_bound(prep, ub_c, n_star, d_minus, d_plus, mu, float(theta))
        if rt.n_hi > n_star and n_max is None:
            n_max = _max_placeable(prep)
        top = rt.n_hi if n_max is None else min(rt.n_hi, n_max)
        todo = [n for n in range(rt.n_lo, top + 1) if n not in done]
        if not todo:
            break
        if len(done) + len(todo) > _MAX_COUNTS:
            return None
        if _control.out_of_time(deadline):
            if lb is None or lb_x is None:
                return None
            # Out of time: the open numbers placed keep their rounded bounds.
            bound = max([lb, *unresolved.values(), *(Fraction(estimate(n), k) for n in todo)])
            stats.update(fixed_counts=len(done), count_flows=counters["count_flows"],
                         exact_model_edges=mip_edges, mip_rounds=mips,
                         solver_model_edges=counters.get("solver_edges", 0))
            return ExactOutcome("feasible", prep.edges[lb_x], lb, bound, stats)
        _control.report("fixed_counts", len(done) / (len(done) + len(todo)))
        n = max(todo, key=lambda n: (estimate(n), -abs(n - n_star), -n))
        done.add(n)
        cb, flows = _count_bound(prep, n, core, lam, deadline, counters,
                                 None if lb is None else k * (lb + 1), repair)
        if cb.value is not None and repaired.get("flows") != len(flows):
            repair(flows, cb.value)
        repaired.clear()
        logger.debug("fixed count n=%d: bound %s, exact %s, incumbent %s, %d flows so far", n,
                     None if cb.value is None else float(Fraction(cb.value, k)) / SCORE_SCALE,
                     cb.exact, None if lb is None else float(lb) / SCORE_SCALE,
                     counters["count_flows"])
        if cb.value is None:
            continue  # no assignment places exactly n
        assert cb.cert is not None
        lam = cb.cert.mu  # the next n starts from this n's prices
        if cb.exact:
            offer(cb.cert.used)
        if cb.exact or (lb is not None and cb.value < k * (lb + 1)):
            continue  # nothing placing n beats the incumbent
        # First a small model just below the bound (the fixed-count bound is usually tight),
        # then, only if it holds nothing, the model down to the incumbent. Without an incumbent
        # (every flow met so far misses a floor) the first model still runs: what it finds is one.
        theta_n = Fraction(cb.value - k * _MIP_MARGIN_W)
        if lb is not None:
            theta_n = max(k * lb, theta_n)
        dev: I64 | None = None
        dev_cap = 0
        while True:
            tau = cb.value - theta_n
            if dev is None or math.floor(tau) + 1 > dev_cap:
                # Shifts beyond tau fix nothing more; no model goes below the incumbent.
                dev_cap = math.floor(tau) + 1 if lb is None else max(
                    math.floor(tau), math.floor(cb.value - k * lb)) + 1
                dev = _sharpened_dev(prep, cb.cert, dev_cap)
            assert dev is not None
            # dev is integral: compare with floor(tau), not elementwise with a Fraction (slow).
            free = np.flatnonzero(dev <= math.floor(tau))
            fixed1 = np.flatnonzero(cb.cert.used & (dev > math.floor(tau)))
            mip_edges += int(free.size)
            mips += 1
            res = _solve_count_model(prep, free, fixed1, n, theta_n, cb.cert.mu, deadline,
                                     counters)
            if res.status in ("unknown", "feasible"):
                unresolved[n] = Fraction(cb.value, k)
            reached = False
            if res.status in ("optimal", "feasible"):
                x_act = np.zeros(prep.edges.size, bool)
                x_act[free[res.x_free]] = True
                x_act[fixed1] = True
                found, ok = primal_value(prep, x_act)
                if not ok:
                    raise SolverError("the exact model returned an assignment that breaks a rule")
                offer(x_act)
                reached = k * found >= theta_n
            if res.status in ("unknown", "feasible") or (res.status == "optimal" and reached):
                break  # n is solved (or out of time)
            if lb is None:  # nothing found yet: deeper, until the model holds every pair
                if math.floor(tau) >= max_dev_all(dev):
                    break  # no assignment places exactly n
                theta_n = cb.value - _MIP_WIDEN * (cb.value - theta_n)
                continue
            incumbent_c = k * lb
            if theta_n <= incumbent_c:
                break  # nothing placing n reaches the incumbent
            # Widen geometrically, not straight down to the incumbent: a far incumbent would make
            # one huge model where a few small ones find the optimum (300k x 10k, seed 2).
            theta_n = max(incumbent_c, cb.value - _MIP_WIDEN * (cb.value - theta_n))
        if lb is None:
            return None  # no assignment met at all: the whole-round model decides
    if lb is None or lb_x is None:
        return None
    stats.update(fixed_counts=len(done), count_flows=counters["count_flows"],
                 exact_model_edges=mip_edges, mip_rounds=mips,
                 solver_model_edges=counters.get("solver_edges", 0))
    open_bounds = [b for b in unresolved.values() if b >= lb + 1]
    if open_bounds:
        return ExactOutcome("feasible", prep.edges[lb_x], lb, max(open_bounds), stats)
    return ExactOutcome("optimal", prep.edges[lb_x], lb, lb, stats)


# ============================================================================ the driver
def solve_exact(prep: Prepared, time_limit: float, *, dual_only: bool = False,
                check_infeasible: Callable[[], Sequence[object]] | None = None) -> ExactOutcome:
    """Solve the prepared round exactly; see the module docstring and docs/allocation.md.

    With ``dual_only`` (used on a sampled sub-round) stop after the Lagrangian search and return
    the multipliers in ``stats["multipliers"]``. An outcome with an assignment carries in
    ``proof`` the flow and prices of the Lagrangian bound (see :mod:`matching.certificate`).
    """
    holder: dict[str, _Certificate] = {}
    outcome = _solve_exact(prep, time_limit, dual_only, holder, check_infeasible)
    if outcome.status in ("optimal", "feasible"):
        outcome.proof = holder.get("cert")
    return outcome


def _solve_exact(prep: Prepared, time_limit: float, dual_only: bool,
                 holder: dict[str, _Certificate],
                 check_infeasible: Callable[[], Sequence[object]] | None = None) -> ExactOutcome:
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    timings: dict[str, float] = {}
    stats: dict[str, object] = {"scale_k": prep.scale_k}
    oracle = _Oracle(prep)
    oracle.core = _initial_core(prep)
    stats["initial_core_edges"] = int(oracle.core.size)
    timings["core"] = time.perf_counter() - t0
    ng = prep.num_groups
    k = prep.scale_k
    cap = _mu_cap(prep)
    radius = np.maximum(_mu_start_box(prep, cap) // 4, 1) if ng else cap
    granularity = Fraction(1, math.lcm(*[q for _, q in prep.pq])) if (
        prep.penalty_w is not None and ng) else Fraction(1)
    cuts: list[tuple[int, I64, I64]] = []
    mu = np.zeros(ng, np.int64)
    best_val: int | None = None  # best (rounded) Lagrangian estimate
    best_mu = mu
    best_sol: net.FlowSolution | None = None
    best_d = 0  # the unrounded D(best_mu), on the current core
    lb: Fraction | None = None
    lb_x: BoolArray | None = None
    kelley_iters = pricing_rounds = 0
    max_kelley = _MAX_KELLEY
    seen: list[I64] = []  # every flow met: material for the primal repair
    t_lag = time.perf_counter()
    cert: _Certificate | None = None
    while True:  # pricing loop: Lagrangian on the core, then price every active edge
        evaluated: set[tuple[int, ...]] = set()
        round_start = kelley_iters  # each pricing round may search again: the core changed
        while True:  # trust-region Kelley iterations on the (rounded) Lagrangian dual
            d, grad, sol = oracle.evaluate(mu)
            evaluated.add(tuple(mu.tolist()))
            kelley_iters += 1
            if not dual_only:
                _control.report("lagrangian", kelley_iters / (max_kelley + 2))
            if not sol.feasible:
                if oracle.core.size < prep.edges.size:
                    # The core may lack pairs a lower bound needs: fall back to every pair.
                    oracle.core = np.arange(prep.edges.size, dtype=np.int64)
                    continue
                return ExactOutcome("infeasible", np.zeros(0, np.int64), Fraction(0),
                                    Fraction(0), stats, timings)
            x_act = np.zeros(prep.edges.size, bool)
            x_act[oracle.core[sol.pair_flow().astype(bool)]] = True
            if mu.any():  # the flow without floor prices is far from the rest: slow to repair
                seen.append(np.flatnonzero(x_act))
            n_x = int(x_act.sum()) + prep.num_pins
            # Cut of the rounded dual: integral counts add rounding(n) slack to each floor row.
            r_vec = np.array([(q * (-(-p * n_x // q)) - p * n_x) if prep.penalty_w is None
                              else 0 for p, q in prep.pq], np.int64)
            cut_val, g_r = d - int(mu @ r_vec), grad - r_vec
            improved = best_val is None or cut_val < best_val
            if improved:
                best_val, best_mu, best_sol, best_d = cut_val, mu, sol, d
            value, ok = primal_value(prep, x_act)
            if ok and (lb is None or value > lb):
                lb, lb_x = value, x_act
            if ng == 0:
                break
            cuts.append((cut_val, g_r, mu))
            if kelley_iters == 1 and not mu.any():
                # Shrink the core to the pairs near tight without floor prices (the pricing
                # loop re-adds any pair a later price makes worth it), and warm-start the
                # prices from a small LP when that is cheap.
                t_lp = time.perf_counter()
                cert0 = _certify(prep, oracle, mu, sol)
                near = np.flatnonzero(cert0.used | (cert0.rc <= _CORE_WINDOW * k * SCORE_SCALE))
                shrunk = near.size < oracle.core.size
                if shrunk:
                    oracle.core = near
                mu_lp = None
                if prep.penalty_w is None and not dual_only and \
                        prep.candidates_with_edges.size > _SAMPLE_ABOVE:
                    # A big round: the floor prices are intensive (per person), so a sampled
                    # sub-round of a fraction of the places gives a good start cheaply.
                    mu_lp = _sampled_multipliers(prep, deadline)
                    if mu_lp is not None:
                        oracle.core = np.union1d(oracle.core, _initial_core(prep))
                        shrunk = True
                elif prep.penalty_w is None and prep.edges.size > _LP_SAMPLE_PAIRS:
                    mu_lp = _sampled_lp_prices(prep, t_lp + 0.3 * (deadline - t_lp))
                    if mu_lp is not None:
                        # Near tight at zero prices leaves out the group pairs the prices make
                        # worth it: add back the best few of every candidate and place.
                        oracle.core = np.union1d(oracle.core, _initial_core(prep))
                        shrunk = True
                        stats["warm_start"] = "sampled LP"
                if mu_lp is None and prep.penalty_w is None and \
                        prep.candidates_with_edges.size <= _SAMPLE_ABOVE:
                    start = np.arange(prep.edges.size, dtype=np.int64) \
                        if prep.edges.size <= _LP_START_ALL else oracle.core
                    lp = _lp_prices(prep, start, t_lp + 0.3 * (deadline - t_lp))
                    if lp is not None:
                        mu_lp = lp.mu
                        oracle.core = lp.near  # near tight at these prices, not at zero
                        shrunk = True
                        stats["lp_bound"] = (lp.value_w + prep.pin_score_w
                                             + prep.big_m * prep.num_pins) / SCORE_SCALE
                        stats["lp_columns"] = lp.columns
                    else:  # out of time for it: the former window LP
                        window = _LP_WINDOW * k * SCORE_SCALE
                        absrc = np.abs(cert0.rc)
                        if absrc.size > _LP_MAX_PAIRS:
                            window = min(window, int(np.partition(absrc, _LP_MAX_PAIRS)
                                                     [_LP_MAX_PAIRS]))
                        mu_lp = _lp_multipliers(prep, cert0, window)
                timings["warm_start"] = time.perf_counter() - t_lp
                if mu_lp is not None and mu_lp.any():
                    mu = np.minimum(mu_lp, cap)
                    radius = np.maximum(mu // _WARM_RADIUS_DIV, 1)
                else:  # six steps suffice from a warm start, not from zero
                    max_kelley = _MAX_KELLEY_COLD
                if shrunk or mu.any():
                    # Cuts and flows of the larger core do not describe the new core's function.
                    cuts.clear()
                    best_val, best_sol = None, None
                    continue
            assert best_val is not None
            if lb is not None and best_val - k * lb < k * granularity:
                break
            if not improved:
                radius = np.maximum(radius // 2, 1)
            lo_box = np.maximum(best_mu - radius, 0)
            hi_box = np.minimum(best_mu + radius, cap)
            nxt, model = _kelley_step(cuts, lo_box, hi_box)
            if improved and np.any((nxt == hi_box) & (hi_box < cap)):
                radius = np.minimum(radius * 2, cap)
            tol, max_iter = (_SAMPLE_TOL_W, _SAMPLE_MAX_KELLEY) if dual_only else (
                _KELLEY_TOL_W, max_kelley)
            if best_val - model <= k * tol or kelley_iters - round_start >= max_iter \
                    or kelley_iters >= _MAX_KELLEY_ROUNDS * max_iter \
                    or _control.out_of_time(deadline):
                break
            if tuple(nxt.tolist()) in evaluated:
                if radius.max() <= 1:
                    break
                radius = np.maximum(radius // 2, 1)
                continue
            mu = nxt
        assert best_sol is not None
        mu = best_mu
        t_rc = time.perf_counter()
        cert = _certify(prep, oracle, mu, best_sol)
        timings["potentials"] = timings.get("potentials", 0.0) + time.perf_counter() - t_rc
        in_core = np.zeros(prep.edges.size, bool)
        in_core[oracle.core] = True
        missing = np.flatnonzero(~in_core & (cert.rc < 0))
        pricing_rounds += 1
        if missing.size == 0:
            break
        logger.debug("pricing round %d adds %d pairs to the core", pricing_rounds, missing.size)
        oracle.core = np.union1d(oracle.core, missing)
        best_val, best_sol = None, None
    timings["lagrangian"] = time.perf_counter() - t_lag
    if not dual_only:
        _control.report("lagrangian", 1.0)
    assert cert is not None
    holder["cert"] = cert
    if dual_only:
        stats["multipliers"] = best_mu.tolist()
        return ExactOutcome("unknown", np.zeros(0, np.int64), Fraction(0), Fraction(0), stats,
                            timings)
    stats.update(
        core_edges=int(oracle.core.size), flow_solves=oracle.num_solves,
        kelley_iterations=kelley_iters, pricing_rounds=pricing_rounds,
        multipliers=best_mu.tolist(), flow_time=oracle.solve_time,
    )
    assert cert is not None and best_sol is not None
    used = cert.used
    # The unrounded Lagrangian value at mu: a bound for the whole round (the core is priced out;
    # the core has not changed since mu was evaluated on it).
    d_mu = best_d if ng else 0
    if ng == 0:
        # No side constraints: the flow is optimal for the whole network (priced out).
        opt, _ = primal_value(prep, used)
        timings["total"] = time.perf_counter() - t0
        return ExactOutcome("optimal", prep.edges[used], opt, opt, stats, timings)
    t_rep = time.perf_counter()
    better = _improve(prep, seen, (lb, lb_x) if lb is not None and lb_x is not None else None,
                      deadline)
    if better is not None:
        lb, lb_x = better
    timings["repair"] = time.perf_counter() - t_rep
    if lb is None and check_infeasible is not None and prep.penalty_w is None:
        # No flow met and none repaired meets the floors: before the exact models (which
        # cannot prove a negative quickly: 5,000 candidates, a floor of 40 % for a group of 3 %,
        # ran past its limit, issue 20), the exact flow checks of the diagnosis.
        t_diag = time.perf_counter()
        reasons = check_infeasible()
        timings["infeasibility_check"] = time.perf_counter() - t_diag
        if reasons:
            out = ExactOutcome("infeasible", np.zeros(0, np.int64), Fraction(0), Fraction(0),
                               stats, timings)
            out.reasons = list(reasons)
            return out
    ub_c = d_mu
    n_star = int(used.sum()) + prep.num_pins
    threshold = float(k * lb) if lb is not None else -math.inf
    t_marg = time.perf_counter()
    d_minus, d_plus = _marginals(prep, cert, oracle.core)
    rb = _rounded_bound(prep, ub_c, n_star, d_minus, d_plus, mu, threshold)
    timings["rounded_bound"] = time.perf_counter() - t_marg
    bound_w = Fraction(rb.value, k)
    stats.update(lagrangian_bound=float(Fraction(ub_c, k)) / SCORE_SCALE,
                 rounded_bound=float(bound_w) / SCORE_SCALE, placed_in_flow=n_star)
    if lb is not None and rb.value - k * lb < k * granularity:
        assert lb_x is not None
        stats["exact_model_edges"] = 0
        timings["total"] = time.perf_counter() - t0
        return ExactOutcome("optimal", prep.edges[lb_x], lb, lb, stats, timings)
    if prep.penalty_w is None:
        t_fix = time.perf_counter()
        # The fixed-count core: pairs near tight at the free-n prices (its pricing adds the rest).
        count_core = np.flatnonzero(cert.used | (np.abs(cert.rc) <= int(
            _COUNT_CORE_WINDOW * k * SCORE_SCALE)))
        stats["count_core_edges"] = int(count_core.size)
        fixed = _fixed_count_phase(
            prep, count_core, mu, ub_c, n_star, (d_minus, d_plus),
            rb.value - k * _MIP_MARGIN_W, (lb, lb_x) if lb is not None and lb_x is not None
            else None, deadline, stats)
        timings["fixed_counts"] = time.perf_counter() - t_fix
        if fixed is not None:
            timings["total"] = time.perf_counter() - t0
            fixed.stats, fixed.timings = stats, timings
            return fixed
    # Close the gap: an exact MIP containing every assignment worth at least theta (c-units).
    # Any assignment x with K*W(x) >= theta uses only pairs with |rc| <= ub - theta - R(n(x))
    # and has n(x) in the range _rounded_bound reports (docs/allocation.md, "Closing the gap").
    t_mip = time.perf_counter()
    dev = np.abs(cert.rc)
    theta = Fraction(rb.value - k * _MIP_MARGIN_W)
    if lb is not None:
        theta = max(theta, k * lb)
    mip_rounds = 0
    outcome: ExactOutcome | None = None
    max_dev = max_dev_all(dev)
    while True:
        mip_rounds += 1
        _control.report("exact_model", 1.0 - 1.0 / mip_rounds)
        rt = _rounded_bound(prep, ub_c, n_star, d_minus, d_plus, mu, float(theta))
        tau = Fraction(ub_c) - theta - rt.min_rounding
        n_range = (float(rt.n_lo), float(rt.n_hi))
        whole = tau > max_dev
        if whole:  # the model is the whole round
            n_range = (0.0, math.inf)
        free_mask = dev <= math.floor(tau)
        free = np.flatnonzero(free_mask)
        fixed1 = np.flatnonzero(used & ~free_mask)
        stats["exact_model_edges"] = int(free.size)
        res = _solve_mip(prep, free, fixed1, _control.remaining(deadline), n_range)
        if res.status == "unknown":
            if lb is not None and lb_x is not None:
                outcome = ExactOutcome("feasible", prep.edges[lb_x], lb, bound_w, stats, timings)
            else:
                outcome = ExactOutcome("unknown", np.zeros(0, np.int64), Fraction(0), bound_w,
                                       stats, timings)
            break
        if res.status == "infeasible":
            if lb is not None and k * lb >= theta:
                raise SolverError("the exact model lost an assignment it must contain")
            if whole:
                outcome = ExactOutcome("infeasible", np.zeros(0, np.int64), Fraction(0),
                                       Fraction(0), stats, timings)
                break
            step = max(Fraction(rb.value) - theta, Fraction(k * SCORE_SCALE)) * 4
            theta = theta - step if lb is None else max(theta - step, k * lb)
            if Fraction(ub_c) - theta > max_dev + k * _MIP_MARGIN_W + sum(
                    int(m) * q for m, (_, q) in zip(mu, prep.pq, strict=True)):
                theta = Fraction(ub_c - max_dev - 1) - sum(
                    int(m) * q for m, (_, q) in zip(mu, prep.pq, strict=True))
            continue
        x_act = np.zeros(prep.edges.size, bool)
        x_act[free[res.x_free]] = True
        x_act[fixed1] = True
        found, ok = primal_value(prep, x_act)
        if not ok:
            raise SolverError("the exact model returned an assignment that breaks a rule")
        if lb is None or found > lb:
            lb, lb_x = found, x_act
        assert lb_x is not None
        if res.status == "feasible":
            # The rounded Lagrangian bound stays valid; the restricted MIP's own bound is not.
            outcome = ExactOutcome("feasible", prep.edges[lb_x], lb, bound_w, stats, timings)
            break
        if k * lb >= theta:
            outcome = ExactOutcome("optimal", prep.edges[lb_x], lb, lb, stats, timings)
            break
        theta = Fraction(k * lb)  # the next model provably contains the optimum
    stats["mip_rounds"] = mip_rounds
    timings["exact_model"] = time.perf_counter() - t_mip
    timings["total"] = time.perf_counter() - t0
    outcome.stats, outcome.timings = stats, timings
    return outcome


# ============================================================================ the certificate
def public_certificate(prep: Prepared, cert: _Certificate, bound_w: Fraction,
                       offset_w: Fraction, bound: float) -> Certificate:
    """The solver's own flow potentials and floor prices as a :class:`Certificate`.

    ``h = pi - pi[T]`` turns the potentials into the LP dual of :mod:`matching.certificate`:
    ``v_p = max(-h_p, 0)`` (the place arc's dual), ``delta_d = h_d`` (the district arc's; the
    bypass keeps ``h_S = 0``), ``u_c = max(h_c - h_d, 0)`` plus what the candidate's used pair
    earns above its potentials (its arc's dual); every active pair then meets the dual
    constraint and the dual objective equals the flow's optimal value (complementary slackness).
    """
    p = prep.problem
    lay = prep.layout
    k = prep.scale_k
    pi = _central_potentials(prep, cert)
    h = pi - pi[net.SINK]
    h_d = h[lay.district0 : lay.district0 + lay.num_districts].copy()
    h_c = h[lay.candidate0 : lay.candidate0 + lay.num_candidates]
    h_p = h[lay.place0 : lay.place0 + lay.num_places]
    u = np.maximum(h_c - h_d[p.candidate_district], 0)
    used = np.flatnonzero(cert.used)
    shift = pi - cert.pi
    rc_used = (cert.rc[used] + shift[lay.candidate0 + prep.cand[used]]
               - shift[lay.place0 + prep.place[used]])
    u[prep.cand[used]] += np.maximum(-rc_used, 0)
    v = np.maximum(-h_p, 0)
    penalty = None if prep.penalty_w is None else prep.penalty_w * k
    if penalty is not None:
        h_d = np.clip(h_d, -penalty, penalty)  # raising a price keeps the dual feasible
    blocked_c = np.zeros(p.num_candidates, bool)
    blocked_c[p.edge_candidate[p.pins]] = True
    blocked_p = prep.slots <= 0
    blocked_d = (prep.upper <= 0) if penalty is None else np.zeros(p.num_districts, bool)
    u = np.where(blocked_c, 0, u)
    v = np.where(blocked_p, 0, v)
    h_d = np.where(blocked_d, 0, h_d)
    floor_pq = [(0, 1)] * p.num_groups
    floor_price = np.zeros(p.num_groups, np.int64)
    for i, g in enumerate(prep.groups):
        floor_pq[g] = prep.pq[i]
        floor_price[g] = cert.mu[i]
    up = np.maximum(prep.upper, 0)
    const = k * (prep.pin_score_w + prep.big_m * prep.num_pins) + int(cert.mu @ prep.a_pin)
    if penalty is not None:
        const -= penalty * int(prep.pin_excess.sum())
    dual = (int(u.sum()) + int((np.maximum(prep.slots, 0) * v).sum())
            + int((up * np.maximum(h_d, 0)).sum()) - int((prep.lower * np.maximum(-h_d, 0)).sum())
            + const)
    slack = max(math.floor(dual - k * bound_w), 0)
    return Certificate(
        bound=bound, units_per_score=k * SCORE_SCALE, placement_weight_w=prep.big_m,
        score_scale=SCORE_SCALE, penalty=penalty, floor_pq=tuple(floor_pq),
        floor_price_c=floor_price, candidate_price_c=u.astype(np.int64),
        place_price_c=v.astype(np.int64), district_price_c=h_d.astype(np.int64),
        blocked_candidate=blocked_c, blocked_place=blocked_p, blocked_district=blocked_d,
        dual_value_c=dual, slack_c=slack, offset_c=float(k * offset_w),
    )


def _central_potentials(prep: Prepared, cert: _Certificate) -> I64:
    """Optimal potentials of the network LP, halfway between its largest and smallest ones.

    The flow's own potentials respect the pair arcs' capacity of one, so a used pair may keep a
    negative reduced cost and its value sits on the candidate alone; the LP of
    :mod:`matching.certificate` has no such capacity. Potentials of the residual graph with the
    used pair arcs open both ways give that LP's duals: shortest distances from a virtual root
    are its largest (a placement's value sits on the full place), distances *to* one its
    smallest (on the candidate). Optimal potentials form a convex set and ``floor((a + b) / 2)``
    keeps every integral reduced cost's sign, so the midpoint is optimal too and prices both
    sides of a left-out pair. A choice is taken only if every active pair, core or not, stays
    priced out at it; otherwise the flow's own potentials are kept.
    """
    lay = prep.layout
    cap = np.where(cert.kind == 9, 2, cert.capacity)  # pair arcs: never saturated
    pi_hi = net.potentials(lay.num_nodes, cert.tail, cert.head, cap, cert.cost, cert.flow)
    pi_lo = -net.potentials(lay.num_nodes, cert.head, cert.tail, cap, cert.cost, cert.flow)
    in_net = np.zeros(lay.num_candidates, bool)
    in_net[cert.head[cert.kind == 1] - lay.candidate0] = True
    absent = np.flatnonzero(~in_net)
    unused = ~cert.used
    for pi in ((pi_hi + pi_lo) // 2, pi_hi):
        # Candidates outside the core network: hung off their district, as in _certify.
        pi[lay.candidate0 + absent] = pi[lay.district0 + prep.problem.candidate_district[absent]]
        shift = pi - cert.pi
        rc = cert.rc + shift[lay.candidate0 + prep.cand] - shift[lay.place0 + prep.place]
        if not (rc[unused] < 0).any():
            return pi
    return cert.pi
