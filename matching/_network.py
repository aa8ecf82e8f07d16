"""The flow network of a round and the OR-Tools min-cost-flow calls on it.

Nodes: source S, sink T, one node per district, candidate and place. Arcs::

    S --[lower_d, upper_d]--> district d --[1]--> candidate c --[1, -cost_e]--> place p --[slots]--> T
    S --------------------------------- bypass (unassigned capacity) ------------------------------> T

The district keys' arcs ``S -> district d`` (and the supplies of the lower-bound transformation,
or the penalised mode's bonus and penalty arcs) are built where the keys become constraints,
:func:`matching._exact.keys.district_arcs`; this module lays the rest of the network around them.

Besides solving, this module computes *node potentials* for an optimal flow (Bellman–Ford on the
residual graph, vectorised), because OR-Tools does not expose its duals; the potentials give every
arc's reduced cost, which prices out pairs left out of a core network and fixes pairs in the exact
gap-closing model (docs/allocation.md, "Optimality proof").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from matching.exceptions import SolverError

logger = logging.getLogger(__name__)

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

SOURCE = 0
SINK = 1
_FIRST_DISTRICT = 2


@dataclass(frozen=True)
class Layout:
    """Node numbering of the network for a round with C candidates, P places, D districts."""

    num_candidates: int
    num_places: int
    num_districts: int

    @property
    def district0(self) -> int:
        return _FIRST_DISTRICT

    @property
    def candidate0(self) -> int:
        return _FIRST_DISTRICT + self.num_districts

    @property
    def place0(self) -> int:
        return self.candidate0 + self.num_candidates

    @property
    def num_nodes(self) -> int:
        return self.place0 + self.num_places


@dataclass
class Skeleton:
    """All arcs except the candidate–place arcs, with node supplies.

    ``kind`` tells what each arc is (for penalised violation bookkeeping):
    0 district arc, 1 candidate arc, 2 place arc, 3 bypass, 4 district shortfall (bonus arc),
    5 district excess (penalty arc). ``index`` is the district, candidate or place.
    """

    tail: I32
    head: I32
    capacity: I64
    cost: I64
    kind: npt.NDArray[np.int8]
    index: I32
    supply: I64


def build_skeleton(
    layout: Layout,
    candidate_district: I32,
    candidates_with_edges: I32,
    slots: I64,
    keys: Skeleton,
    spare: int = 1,
) -> Skeleton:
    """Build the non-pair arcs and supplies around the keys' arcs.

    Parameters
    ----------
    layout
        Node numbering.
    candidate_district
        int32 (C,): home district of each candidate.
    candidates_with_edges
        int32: the candidates that have at least one usable pair (the others get no arc).
    slots
        int64 (P,): remaining slots per place.
    keys
        The district keys' arcs and the supplies they put on the source and the district nodes,
        for these candidates (:func:`matching._exact.keys.district_arcs` with
        ``through = candidates_with_edges.size + spare``); the rest is laid around them.
    spare
        Extra units sent from S to T. They can only take the bypass, which therefore always
        carries flow in both residual directions; potentials computed on a network of some of the
        candidates then stay valid for the network of all of them (see ``_exact._certify``).
    """
    n_supply = int(candidates_with_edges.size)
    tails: list[npt.NDArray[np.int32]] = [keys.tail]
    heads: list[npt.NDArray[np.int32]] = [keys.head]
    caps: list[I64] = [keys.capacity]
    costs: list[I64] = [keys.cost]
    kinds: list[npt.NDArray[np.int8]] = [keys.kind]
    idx: list[I32] = [keys.index]
    supply = keys.supply.copy()

    def add(t: object, h: object, c: object, k: int, i: object, n: int) -> None:
        tails.append(np.broadcast_to(np.asarray(t, np.int32), (n,)))
        heads.append(np.broadcast_to(np.asarray(h, np.int32), (n,)))
        caps.append(np.broadcast_to(np.asarray(c, np.int64), (n,)))
        costs.append(np.zeros(n, np.int64))
        kinds.append(np.full(n, k, np.int8))
        idx.append(np.broadcast_to(np.asarray(i, np.int32), (n,)))

    cands = candidates_with_edges
    add(layout.district0 + candidate_district[cands], layout.candidate0 + cands, 1, 1, cands,
        cands.size)
    places = np.arange(layout.num_places, dtype=np.int32)
    add(layout.place0 + places, SINK, slots, 2, places, layout.num_places)
    # Twice the supply: never saturated, so its residual arcs do not depend on which candidates
    # are in the network.
    add(SOURCE, SINK, 2 * (n_supply + spare), 3, 0, 1)
    supply[SINK] = -n_supply - spare
    return Skeleton(
        tail=np.concatenate(tails),
        head=np.concatenate(heads),
        capacity=np.concatenate(caps),
        cost=np.concatenate(costs),
        kind=np.concatenate(kinds),
        index=np.concatenate(idx),
        supply=supply,
    )


@dataclass
class FlowSolution:
    """An optimal flow on skeleton + pair arcs (pair arcs come after the skeleton's arcs)."""

    feasible: bool
    cost: int
    flow: I64
    num_skeleton_arcs: int

    def pair_flow(self) -> I64:
        return self.flow[self.num_skeleton_arcs :]


def solve_flow(
    layout: Layout, skeleton: Skeleton, edge_cand: I32, edge_place: I32, edge_cost: I64
) -> FlowSolution:
    """Solve the min-cost flow with OR-Tools on skeleton arcs plus the given pair arcs.

    ``edge_cost`` is the *cost* (negated value) of each pair arc.
    """
    mcf = min_cost_flow.SimpleMinCostFlow()
    ns = skeleton.tail.size
    mcf.add_arcs_with_capacity_and_unit_cost(
        skeleton.tail, skeleton.head, skeleton.capacity, skeleton.cost
    )
    if edge_cand.size:
        mcf.add_arcs_with_capacity_and_unit_cost(
            layout.candidate0 + edge_cand,
            layout.place0 + edge_place,
            np.ones(edge_cand.size, np.int64),
            edge_cost,
        )
    nodes = np.arange(layout.num_nodes, dtype=np.int32)
    mcf.set_nodes_supplies(nodes, skeleton.supply)
    status = mcf.solve()
    if status == mcf.INFEASIBLE:
        return FlowSolution(False, 0, np.zeros(0, np.int64), ns)
    if status != mcf.OPTIMAL:
        raise SolverError(f"OR-Tools min-cost flow returned {status!r}")
    flow = mcf.flows(np.arange(mcf.num_arcs(), dtype=np.int32)).astype(np.int64)
    return FlowSolution(True, int(mcf.optimal_cost()), flow, ns)


def potentials(
    num_nodes: int, tail: I32, head: I32, capacity: I64, cost: I64, flow: I64
) -> I64:
    """Node potentials proving a flow optimal: shortest distances in its residual graph.

    Every residual arc ``(u, v)`` then has a non-negative reduced cost
    ``cost + pi[u] - pi[v]``. Bellman–Ford from a virtual root joined to every node at cost 0,
    vectorised and relaxing only arcs out of nodes whose distance changed in the last round.

    Raises
    ------
    SolverError
        If the residual graph has a negative cycle (the flow was not optimal).
    """
    fwd = flow < capacity
    bwd = flow > 0
    rt = np.concatenate([tail[fwd], head[bwd]])
    rh = np.concatenate([head[fwd], tail[bwd]])
    rc = np.concatenate([cost[fwd], -cost[bwd]])
    order = np.argsort(rt, kind="stable")
    rt, rh, rc = rt[order], rh[order], rc[order]
    start = np.searchsorted(rt, np.arange(num_nodes + 1))
    pi = np.zeros(num_nodes, np.int64)
    active = np.arange(num_nodes)
    for _ in range(num_nodes + 1):
        if active.size == 0:
            return pi
        counts = start[active + 1] - start[active]
        total = int(counts.sum())
        if total == 0:
            return pi
        offsets = np.repeat(start[active] - np.cumsum(counts) + counts, counts)
        arcs = offsets + np.arange(total)
        cand = pi[rt[arcs]] + rc[arcs]
        h = rh[arcs]
        better = cand < pi[h]
        if not better.any():
            return pi
        h, cand = h[better], cand[better]
        new = pi.copy()
        np.minimum.at(new, h, cand)
        active = np.flatnonzero(new < pi)
        pi = new
    raise SolverError("negative cycle in the residual graph: the flow is not optimal")
