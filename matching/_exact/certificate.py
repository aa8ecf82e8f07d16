"""Phase 5, the certificate: the potentials that prove a flow optimal, and what they give.

:func:`certify` turns an optimal core flow at floor prices ``mu`` into node potentials and the
reduced cost of *every* active pair (the pricing loops and the fixing of the exact models read
them); :func:`sharpened_dev` sharpens the reduced costs for fixing; :func:`marginals` prices one
person more or fewer; :func:`public_certificate` turns the potentials into the LP dual of
:mod:`matching.certificate`, checkable without the solver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from matching import _network as net
from matching._exact.oracle import Oracle, outside
from matching._exact.prepare import Prepared
from matching._exact.types import I32, I64, BoolArray
from matching.certificate import Certificate
from matching.problem import SCORE_SCALE


@dataclass
class FlowCertificate:
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


def certify(prep: Prepared, oracle: Oracle, mu: I64, sol: net.FlowSolution) -> FlowCertificate:
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
    return FlowCertificate(mu, rc, used, tail, head, cap, cost, sol.flow, kind, pi)


def sharpened_dev(prep: Prepared, cert: FlowCertificate, cap: int) -> I64:
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


def marginals(prep: Prepared, cert: FlowCertificate, core: I64) -> tuple[int | None, int | None]:
    """Cost of placing one person fewer / one more than the optimal flow (``None``: impossible).

    One fewer: push a unit through the bypass and cancel one along T -> S; one more: the
    reverse. Both are shortest paths in the residual graph without the bypass, found by Dijkstra
    on the reduced costs (non-negative thanks to the potentials). The graph is the core's; a path
    through pairs outside the core costs at least the distance to its first such pair plus that
    pair's reduced cost, and that pair's reduced cost plus the distance from its last one, so the
    smaller of the core path and that bound is valid for the whole round.
    """
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
    out_mask = outside(prep, core)
    if out_mask.any():
        dist_to = dijkstra(graph.T.tocsr(), directed=True, indices=[net.SOURCE, net.SINK])
        cand = prep.cand[out_mask]
        district_node = lay.district0 + prep.problem.candidate_district[cand]
        cand_node = lay.candidate0 + cand
        place_node = lay.place0 + prep.place[out_mask]
        rc_out = np.maximum(cert.rc[out_mask], 0).astype(np.float64)
    out: list[int | None] = []
    for i, (src, dst) in enumerate(((net.SINK, net.SOURCE), (net.SOURCE, net.SINK))):
        reduced = float(dist_from[i, dst])
        if out_mask.any():
            # A candidate absent from the core network hangs off its district at reduced cost 0.
            reach = np.minimum(dist_from[i, cand_node], dist_from[i, district_node])
            via_first = float((reach + rc_out).min())
            via_last = float((rc_out + dist_to[i, place_node]).min())
            reduced = min(reduced, max(via_first, via_last))
        out.append(None if not np.isfinite(reduced) else
                   int(np.rint(reduced)) + int(cert.pi[dst]) - int(cert.pi[src]))
    return out[0], out[1]



def public_certificate(prep: Prepared, cert: FlowCertificate, bound_w: Fraction,
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


def _central_potentials(prep: Prepared, cert: FlowCertificate) -> I64:
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
