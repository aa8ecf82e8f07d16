"""Primal repair: the best assignment between two assignments of the round, by flow cycles.

Two assignments ``x0`` and ``x1`` that both meet slots and district keys are two flows in the
round's network. Their difference is a circulation (with the return arc ``T -> S`` carrying the
change in the number placed), and it splits into *conformal* cycles: each cycle uses arcs only in
the direction the difference does. Adding any subset of these cycles to ``x0`` gives a flow that
lies, arc by arc, between ``x0`` and ``x1``, so it meets the same slots and keys. Each cycle
changes the objective and every floor row by a fixed amount, so the best subset that meets the
floors is a tiny knapsack with one row per floor (docs/allocation.md, "Primal repair").

The Lagrangian search produces exactly such pairs: flows just below and just above the floor
prices, one missing a few people of a group, one over-filling it. Their cycles are mostly single
swaps, and the knapsack usually lands within a few w-units of the Lagrangian bound, often on it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from matching import _control, _highs

if TYPE_CHECKING:
    from matching._exact.prepare import Prepared

I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_MAX_CYCLES = 50_000  # beyond this, the knapsack is left to the exact model
_ENUMERATE_MAX = 12  # trade-off cycles up to this many: try every subset (4 096) instead of a MIP


def floor_slack(prep: Prepared, x_active: BoolArray) -> I64:
    """``q_g count_g - p_g n`` per active floor (pins included); negative: the floor is missed."""
    sel = np.flatnonzero(x_active)
    return np.array([int(prep.a_coef(sel, g).sum()) + int(prep.a_pin[g])
                     for g in range(prep.num_groups)], np.int64)


Arcs = dict[int, list[list[int]]]  # node -> [head, amount, edge, sign] per arc out


def _cycles(prep: Prepared, x0: BoolArray, x1: BoolArray) -> list[list[tuple[int, int]]]:
    """Conformal cycles of the circulation ``x1 - x0``, each as its pair arcs ``(edge, sign)``.

    ``sign`` is ``+1`` for a pair the cycle adds to ``x0`` and ``-1`` for one it removes.
    """
    return _walk_cycles(_difference(prep, x0, x1))


def _difference(prep: Prepared, x0: BoolArray, x1: BoolArray) -> Arcs:
    """The circulation ``x1 - x0`` as arcs with amounts, in the direction of the change."""
    p = prep.problem
    nd = p.num_districts
    s_node, t_node = 0, 1
    d0 = 2
    c0 = d0 + nd
    q0 = c0 + p.num_candidates
    out: Arcs = defaultdict(list)

    def add(tail: int, head: int, amount: int, edge: int = -1, sign: int = 0) -> None:
        out[tail].append([head, amount, edge, sign])

    def add_signed(first: int, other: int, change: npt.NDArray[np.int64], grow_in: bool) -> None:
        # Node first+i against `other`: into it when it grows (grow_in) or shrinks (not grow_in).
        for i in np.flatnonzero(change).tolist():
            amount = abs(int(change[i]))
            if (change[i] > 0) == grow_in:
                add(other, first + i, amount)
            else:
                add(first + i, other, amount)

    gained = np.flatnonzero(x1 & ~x0)
    lost = np.flatnonzero(x0 & ~x1)
    for e in gained.tolist():
        add(c0 + int(prep.cand[e]), q0 + int(prep.place[e]), 1, e, 1)
    for e in lost.tolist():
        add(q0 + int(prep.place[e]), c0 + int(prep.cand[e]), 1, e, -1)
    cand_in = np.zeros(p.num_candidates, np.int64)
    np.add.at(cand_in, prep.cand[gained], 1)
    np.subtract.at(cand_in, prep.cand[lost], 1)
    home = p.candidate_district
    for c in np.flatnonzero(cand_in > 0).tolist():
        add(d0 + int(home[c]), c0 + c, 1)
    for c in np.flatnonzero(cand_in < 0).tolist():
        add(c0 + c, d0 + int(home[c]), 1)
    add_signed(d0, s_node, np.bincount(home[prep.cand[gained]], minlength=nd) - np.bincount(
        home[prep.cand[lost]], minlength=nd), True)
    add_signed(q0, t_node, np.bincount(prep.place[gained], minlength=p.num_places) - np.bincount(
        prep.place[lost], minlength=p.num_places), False)
    dn = int(gained.size) - int(lost.size)
    if dn > 0:
        add(t_node, s_node, dn)
    elif dn < 0:
        add(s_node, t_node, -dn)
    return out


def _live(out: Arcs, node: int) -> list[list[int]]:
    """The arcs out of ``node``, those used up dropped from the end."""
    arcs = out[node]
    while arcs and arcs[-1][1] == 0:
        arcs.pop()
    return arcs


def _walk_cycles(out: Arcs) -> list[list[tuple[int, int]]]:
    """Split the circulation into cycles: walk along arcs with flow left until a node repeats."""
    cycles: list[list[tuple[int, int]]] = []
    for start in sorted(out):
        while _live(out, start):
            cycles.append(_next_cycle(out, start))
            if len(cycles) > _MAX_CYCLES:
                return cycles
    return cycles


def _next_cycle(out: Arcs, start: int) -> list[tuple[int, int]]:
    """The first cycle met walking from ``start``, taken out of the circulation."""
    path: list[list[int]] = []
    at: dict[int, int] = {start: 0}
    node = start
    while True:
        arcs = _live(out, node)
        if not arcs:  # cannot happen in a circulation
            raise AssertionError("the difference of two flows is not a circulation")
        arc = arcs[-1]
        path.append(arc)
        node = arc[0]
        if node in at:
            cycle = path[at[node]:]
            amount = min(a[1] for a in cycle)
            for a in cycle:
                a[1] -= amount
            # Pair arcs have amount 1: every cycle holds one, so each is used once.
            return [(a[2], a[3]) for a in cycle if a[2] >= 0]
        at[node] = len(path)


def repair(prep: Prepared, x0: BoolArray, x1: BoolArray, deadline: float
           ) -> BoolArray | None:
    """The best assignment ``x0 + (some cycles of x1 - x0)`` that meets every floor, or ``None``.

    Both must meet slots and district keys (any two flows of the round's network do); the
    result then does too. Hard floors only.
    """
    if prep.penalty_w is not None or _control.out_of_time(deadline):
        return None
    cycles = _cycles(prep, x0, x1)
    if not cycles or len(cycles) > _MAX_CYCLES:
        return None
    ng = prep.num_groups
    m = len(cycles)
    # Every cycle's change of the objective and of each floor row, in one pass over its arcs.
    cyc = np.repeat(np.arange(m), [len(c) for c in cycles])
    flat = np.array([a for c in cycles for a in c], np.int64).reshape(-1, 2)
    e, sign = flat[:, 0], flat[:, 1]
    value = np.zeros(m, np.int64)
    np.add.at(value, cyc, sign * prep.weight[e])
    rows = np.zeros((ng, m), np.int64)
    for g in range(ng):
        np.add.at(rows[g], cyc, sign * prep.a_coef(e, g))
    need = -floor_slack(prep, x0)  # rows @ y >= need
    chosen = _best_subset(value, rows, need, deadline)
    if chosen is None:
        return None
    out = x0.copy()
    for j in np.flatnonzero(chosen).tolist():
        for edge, step in cycles[j]:
            out[edge] = step > 0
    return out


def _best_subset(value: I64, rows: I64, need: I64, deadline: float) -> BoolArray | None:
    """The subset of items with the largest total ``value`` whose ``rows`` sums reach ``need``
    (``None``: no subset does, or out of time). Exact.

    An item that helps the objective and no floor less (or harms both) is decided alone; the
    few items left are trade-offs: enumerated when at most ``_ENUMERATE_MAX``, else a HiGHS MIP
    (a few milliseconds each, which the hundred repairs of a round would add up).
    """
    take = (value >= 0) & (rows >= 0).all(axis=0)
    drop = ~take & (value <= 0) & (rows <= 0).all(axis=0)
    rest = np.flatnonzero(~take & ~drop)
    need_rest = need - rows[:, take].sum(axis=1)
    chosen = take.copy()
    m = rest.size
    if m == 0:
        return chosen if (need_rest <= 0).all() else None
    v, r = value[rest], rows[:, rest]
    if m <= _ENUMERATE_MAX:
        bits = (np.arange(1 << m, dtype=np.int64)[:, None] >> np.arange(m)) & 1
        ok = (bits @ r.T >= need_rest).all(axis=1)
        if not ok.any():
            return None
        total = np.where(ok, bits @ v, np.iinfo(np.int64).min)
        chosen[rest[bits[int(np.argmax(total))].astype(bool)]] = True
        return chosen
    remaining = _control.remaining(deadline)
    if remaining <= 0:
        return None
    res = _highs.milp(-v.astype(float), r.astype(float), need_rest.astype(float),
                      np.full(r.shape[0], np.inf), np.ones(m), np.zeros(m), np.ones(m),
                      time.perf_counter() + min(remaining, 10.0))
    if res.x is None:
        return None
    chosen[rest[res.x > 0.5]] = True
    return chosen
