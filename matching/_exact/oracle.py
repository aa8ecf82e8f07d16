"""The Lagrangian function of a round, evaluated by one min-cost flow on a core of its pairs.

The core is a subset of the active pairs; the pricing loops of :mod:`matching._exact.bound` and
:mod:`matching._exact.fixed_count` add every pair the prices make worth it, so the value found on
the core holds for the whole round once no pair outside it has a negative reduced cost.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from matching import _network as net
from matching._exact import keys
from matching._exact.params import ExactParams
from matching._exact.prepare import Prepared
from matching._exact.types import I32, I64, BoolArray

logger = logging.getLogger(__name__)


class Oracle:
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
        return keys.skeleton(self.prep, candidates, self._penalty)

    def pair_value(self, sel: I64 | slice, mu: I64) -> I64:
        """Network value of the active pairs ``sel`` at multipliers ``mu`` (c-units)."""
        return keys.lagrangian_cost(self.prep, sel, mu)

    def _flow(self, mu: I64) -> net.FlowSolution:
        prep = self.prep
        c = self.pair_value(self.core, mu)
        t = time.perf_counter()
        sol = net.solve_flow(prep.layout, self.skeleton, prep.cand[self.core],
                             prep.place[self.core], -c)
        self.solve_time += time.perf_counter() - t
        self.num_solves += 1
        logger.debug("flow solve %d on %d pairs at mu=%s: %.3f s, D=%d", self.num_solves,
                     self.core.size, mu.tolist(), time.perf_counter() - t,
                     -sol.cost if sol.feasible else 0)
        return sol

    def evaluate(self, mu: I64) -> tuple[int, I64, net.FlowSolution]:
        """Return ``D(mu)`` (c-units, whole round), the subgradient and the flow."""
        prep = self.prep
        sol = self._flow(mu)
        if not sol.feasible:
            return 0, np.zeros(0, np.int64), sol
        sel = self.core[sol.pair_flow().astype(bool)]
        grad = keys.floor_gradient(prep, sel)
        d = -sol.cost + self.const_c + int(mu @ prep.a_pin)
        return d, grad, sol


def initial_core(prep: Prepared, params: ExactParams) -> I64:
    """Every pair of a small round; of a large one, each candidate's and each place's best.

    Where every pair weighs the same (unit scores: the keys' planned total of
    ``scoring.allocation``) a ranking by weight means nothing: the best few would be an
    arbitrary few, and pricing would add the rest back round by round (100k x 10k: three flows
    on 122k pairs, 5.3 CPU s, against one flow on all 342k, 2.6 s). The core is then every pair.
    """
    n = prep.edges.size
    if n <= params.full_core_edges or (n and int(prep.weight.max()) == int(prep.weight.min())):
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
            np.full(num, params.core_per_candidate) if limit is None
            else params.core_per_slot * limit + 2
        )
        keep[order[rank < cap[sorted_owner]]] = True
    return np.flatnonzero(keep).astype(np.int64)


def outside(prep: Prepared, core: I64) -> BoolArray:
    """Mask of the active pairs not in ``core``."""
    out = np.ones(prep.edges.size, bool)
    out[core] = False
    return out
