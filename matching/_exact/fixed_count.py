"""Phase 4, the fixed-count search: close the gap number placed by number placed.

With the number placed ``n`` fixed, each floor is a plain count row (:mod:`matching._exact.keys`)
and its Lagrangian (:class:`CountOracle`) is usually far tighter than the free-``n`` one. Every
``n`` the rounded bound leaves open is examined, the most promising first: :func:`count_bound`
gives its bound and reduced costs; an ``n`` whose bound cannot beat the incumbent is done, the
others get an exact model with ``N = n`` over the pairs their reduced costs leave free
(:func:`solve_count_model`), which may raise the incumbent and so close other ``n``
(docs/allocation.md, "Fixed counts").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from matching import _control
from matching import _network as net
from matching._exact import keys
from matching._exact import lp as lp_mod
from matching._exact import params as _params
from matching._exact import repair as repair_mod
from matching._exact.bound import kelley_step, rounded_bound
from matching._exact.certificate import FlowCertificate, certify, sharpened_dev
from matching._exact.oracle import Oracle, outside
from matching._exact.params import ExactParams
from matching._exact.prepare import Prepared, prepare
from matching._exact.repair import model_assignment, primal_value
from matching._exact.state import Cut, SearchState
from matching._exact.types import I32, I64, BoolArray
from matching._placeable import max_placeable
from matching.problem import SCORE_SCALE, AllocationProblem

logger = logging.getLogger(__name__)

Improve = Callable[[list[I64], int], Fraction | None]


@dataclass
class Counters:
    """Work done by the fixed-count searches of one solve (reported in the stats)."""

    count_flows: int = 0  # flow solves of the fixed-count Lagrangians
    solver_edges: int = 0  # binaries the MIP solvers got


class CountOracle(Oracle):
    """The Lagrangian of the round with exactly ``n`` placed (pins included), hard rules.

    With ``n`` fixed, floor ``g`` reads ``count_g >= ceil(p_g n / q_g)``: an integral right-hand
    side. Its multiplier ``lam_g`` is a bonus per person of group ``g`` (c-units); the number
    placed is fixed by the supplies (no bypass), which is still a network.
    """

    def __init__(self, prep: Prepared, n: int, core: I64) -> None:
        self.n_flow = n - prep.num_pins
        self.need = keys.count_need(prep, n)
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
        return keys.count_cost(self.prep, sel, mu)

    def evaluate(self, mu: I64) -> tuple[int, I64, net.FlowSolution]:
        """Return the bound for ``n`` placed at ``mu`` (c-units), the subgradient and the flow."""
        sol = self._flow(mu)
        if not sol.feasible:
            return 0, np.zeros(0, np.int64), sol
        sel = self.core[sol.pair_flow().astype(bool)]
        grad = keys.count_members(self.prep, sel) - self.need
        return -sol.cost + self.const_c - int(mu @ self.need), grad, sol


@dataclass(frozen=True)
class CountBound:
    """The Lagrangian bound for one number placed, with the certificate that proves it."""

    n: int
    value: int | None  # c-units; None: no assignment places exactly n
    cert: FlowCertificate | None
    exact: bool  # the certificate's flow meets every floor with complementary slackness


Best = tuple[int, I64, net.FlowSolution]


@dataclass
class _CountDual:
    """The fixed-count Lagrangian search for one ``n``: trust-region Kelley steps."""

    prep: Prepared
    params: ExactParams
    n: int
    oracle: CountOracle
    deadline: float
    cap: I64
    lam: I64
    target: Fraction | int | None
    improve: Improve | None
    radius0: int | None
    flows: list[I64] = field(default_factory=list)
    repaired: bool = False
    cuts: list[Cut] = field(default_factory=list)
    evaluated: set[tuple[int, ...]] = field(default_factory=set)
    radius: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    radius_start: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    crawling: bool = False
    best: Best | None = None

    def search(self) -> CountBound | None:
        """One pricing round's search on the core; a bound when it ends the whole search."""
        k = self.prep.scale_k
        self.cuts, self.evaluated = [], set()
        self.radius = np.maximum(self.lam // self.params.warm_radius_div, k * SCORE_SCALE // 100) \
            if self.radius0 is None else np.full(self.lam.size, self.radius0, np.int64)
        self.radius_start = self.radius
        self.crawling = False
        self.best = None
        for _ in range(self.params.max_count_kelley):
            step = self._iterate()
            if isinstance(step, CountBound):
                return step
            if step == "stop":
                break
        return None

    def _iterate(self) -> CountBound | str:
        prep, oracle = self.prep, self.oracle
        val, grad, sol = oracle.evaluate(self.lam)
        self.evaluated.add(tuple(self.lam.tolist()))
        if not sol.feasible:
            if oracle.core.size < prep.edges.size:
                # The core may lack pairs placing n needs: fall back to every pair.
                oracle.core = np.arange(prep.edges.size, dtype=np.int64)
                self.cuts.clear()
                self.evaluated.clear()
                self.best = None
                return "again"
            return CountBound(self.n, None, None, False)
        self.flows.append(oracle.core[sol.pair_flow().astype(bool)])
        improved = self.best is None or val < self.best[0]
        if improved:
            self.best = (val, self.lam, sol)
        if (grad >= 0).all() and not (self.lam * grad).any():
            self.best = (val, self.lam, sol)  # complementary slackness: optimal for n placed
            return "stop"
        if self.target is not None and val < self.target:
            cert = certify(prep, oracle, self.lam, sol)
            if not (cert.rc[outside(prep, oracle.core)] < 0).any():
                return CountBound(self.n, val, cert, False)
        self.cuts.append((val, grad, self.lam))
        return self._step(improved)

    def _step(self, improved: bool) -> str:
        k = self.prep.scale_k
        assert self.best is not None
        if not improved:
            self.radius = np.maximum(self.radius // 2, 1)
        lo_box = np.maximum(self.best[1] - self.radius, 0)
        hi_box = np.minimum(self.best[1] + self.radius, self.cap)
        nxt, model = kelley_step(self.cuts, lo_box, hi_box)
        at_edge = improved and bool(np.any((nxt == hi_box) & (hi_box < self.cap)
                                           | (nxt == lo_box) & (lo_box > 0)))
        if at_edge and self.crawling and (
                self.radius * self.params.regrow_below <= self.radius_start).all():
            # Two improving steps in a row hit the box: the dual lies further than the
            # shrunken box reaches. Grow it back (a crawl of tiny steps along a ridge
            # left 300k x 10k seed 2 with a bound 63 w-units too high). Not beyond the
            # start: growing on (measured) made the same round's bound worse, 50 s.
            self.radius = np.minimum(self.radius * 2, np.maximum(self.radius_start, 1))
        self.crawling = at_edge
        logger.debug("count n=%d: lam=%s; best %d, model %s (%.1f w)", self.n,
                     self.lam.tolist(), self.best[0], model, (self.best[0] - model) / k)
        if _control.out_of_time(self.deadline) or self._converged(model):
            return "stop"
        if tuple(nxt.tolist()) in self.evaluated:
            if self.radius.max() <= 1:
                return "stop"
            self.radius = np.maximum(self.radius // 2, 1)
            return "again"
        self.lam = nxt
        return "again"

    def _converged(self, model: float) -> bool:
        """The model proves the bound close to the dual optimum, and (once repaired) that going
        on cannot bring it below the incumbent. Repairs the flows once on the way there."""
        k = self.prep.scale_k
        assert self.best is not None
        close = self.best[0] - model < k * self.params.count_tol_w
        if close and self.improve is not None and not self.repaired:
            self.repaired = True
            lb_new = self.improve(self.flows, self.best[0])
            if lb_new is not None:
                self.target = k * (lb_new + 1)
        return close and (not self.repaired or self.target is None or model >= self.target
                          or self.best[0] - model < k * self.params.count_tol_fine_w)


def count_bound(prep: Prepared, n: int, core: I64, lam0: I64, deadline: float,
                counters: Counters, target: Fraction | int | None = None,
                improve: Improve | None = None, radius0: int | None = None,
                params: ExactParams | None = None) -> tuple[CountBound, list[I64]]:
    """Minimise the fixed-count Lagrangian for ``n`` placed; price every pair at the end.

    Stops early once a priced bound falls below ``target`` (c-units): ``n`` cannot beat it.
    Once the search is within ``count_tol_w`` of the dual optimum, ``improve`` (the primal
    repair on the flows so far) may raise the target; while the cutting-plane model says the
    bound can still fall below it, the search goes on (closing ``n`` here saves its MIP).

    ``radius0`` (c-units) is the trust region's first half-width; by default an eighth of the
    starting prices, at least 0.01 score units. Returns the bound (valid for the whole round:
    every pair outside the core is priced out) and every assignment met on the way (active pair
    positions; material for the repair).
    """
    params = params or _params.current()
    q = np.array([q for _, q in prep.pq], np.int64)
    cap = keys.floor_price_cap(prep) * q
    oracle = CountOracle(prep, n, core)
    dual = _CountDual(prep, params, n, oracle, deadline, cap, np.minimum(lam0, cap), target,
                      improve, radius0)
    while True:  # pricing loop
        early = dual.search()
        if early is not None:
            counters.count_flows += oracle.num_solves
            return early, dual.flows
        assert dual.best is not None
        val, lam, sol = dual.best
        cert = certify(prep, oracle, lam, sol)
        missing = np.flatnonzero(outside(prep, oracle.core) & (cert.rc < 0))
        if missing.size == 0:
            break
        oracle.core = np.union1d(oracle.core, missing)
        dual.lam = lam  # the next round starts from the best prices of this one
    counters.count_flows += oracle.num_solves
    grad = keys.count_members(prep, cert.used) - oracle.need
    exact = bool((grad >= 0).all() and not (lam * grad).any())
    return CountBound(n, val, cert, exact), dual.flows


def restricted(prep: Prepared, free: I64, fixed1: I64) -> Prepared:
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


def solve_count_model(prep: Prepared, free: I64, fixed1: I64, n: int, theta: Fraction,
                      lam: I64, deadline: float, counters: Counters, depth: int = 0,
                      params: ExactParams | None = None) -> lp_mod.MipResult:
    """The fixed-count model over ``free`` (``fixed1`` chosen, ``n`` placed): its best assignment
    if one is worth at least ``theta`` (c-units), else ``"infeasible"`` or a lesser assignment.

    A model above ``params.restrict_above`` pairs is first bounded as a round of its own
    (docs/allocation.md, "Large fixed-count models"): the restricted round's fixed-count
    Lagrangian is often far below the whole round's (fixing pairs removes the fractional
    combinations the bound lives on), and it proves at once that nothing reaches ``theta``, or
    fixes most of the model's pairs by its own reduced costs. ``lam`` (c-units of ``prep``)
    starts its search.
    """
    params = params or _params.current()

    def mip(prep_: Prepared, free_: I64, fixed_: I64) -> lp_mod.MipResult:
        res = lp_mod.solve_fixed_count_mip(prep_, free_, fixed_, _control.remaining(deadline), n,
                                           params)
        counters.solver_edges += res.variables  # stats
        return res

    if free.size <= params.restrict_above or depth >= params.restrict_depth:
        return mip(prep, free, fixed1)
    sub = restricted(prep, free, fixed1)
    ks = sub.scale_k
    # The restricted round scores without the placement weight (n is fixed): shift theta.
    theta_sub = ks * (theta / prep.scale_k - prep.big_m * n)
    cb, _ = count_bound(sub, n, np.arange(sub.edges.size, dtype=np.int64),
                        lam * ks // prep.scale_k, deadline, counters, theta_sub,
                        radius0=ks * SCORE_SCALE // 1000, params=params)
    logger.debug("restricted fixed-count model n=%d, depth %d: %d pairs, bound %s w-units "
                 "above theta", n, depth, sub.edges.size,
                 None if cb.value is None else float((cb.value - theta_sub) / ks))
    if cb.value is None or cb.value < theta_sub:  # nothing placing n here reaches theta
        return lp_mod.MipResult("infeasible", np.zeros(free.size, bool), None)
    assert cb.cert is not None
    to_free = sub.edges  # active pairs of the restricted round -> positions in ``free``
    x = np.zeros(free.size, bool)
    if cb.exact:  # its flow meets the floors with complementary slackness: optimal
        x[to_free[cb.cert.used]] = True
        return lp_mod.MipResult("optimal", x, None)
    tau = math.floor(cb.value - theta_sub)
    dev = sharpened_dev(sub, cb.cert, tau + 1)
    free_r = np.flatnonzero(dev <= tau)
    fixed_r = np.flatnonzero(cb.cert.used & (dev > tau))
    if free_r.size > params.restrict_shrink * sub.edges.size:
        # Re-bounding the same model again would give the same bound: solve it.
        res = mip(sub, free_r, fixed_r)
    else:
        res = solve_count_model(sub, free_r, fixed_r, n, Fraction(theta_sub), cb.cert.mu,
                                deadline, counters, depth + 1, params)
    if res.status in ("optimal", "feasible"):
        x[to_free[free_r[res.x_free]]] = True
        x[to_free[fixed_r]] = True
    return lp_mod.MipResult(res.status, x, None)


# ============================================================================ the phase
@dataclass(frozen=True)
class CountResult:
    """What the phase proved: the incumbent (active pairs) and the bound (w-units)."""

    status: str  # "optimal" or "feasible"
    x: BoolArray
    value: Fraction
    bound: Fraction


@dataclass
class _CountPhase:
    """The phase's own state: its incumbent (kept apart from the search's: when the phase does
    not apply, the whole-round model starts from what the earlier phases found), the numbers
    placed done, and the counters of its work."""

    s: SearchState
    core: I64
    lam: I64  # floor prices per person: the next n starts from the last n's
    lb: Fraction | None = None
    lb_x: BoolArray | None = None
    counters: Counters = field(default_factory=Counters)
    done: set[int] = field(default_factory=set)
    unresolved: dict[int, Fraction] = field(default_factory=dict)
    memo: set[tuple[bytes, bytes]] = field(default_factory=set)  # pairs of assignments repaired
    repaired_flows: int | None = None  # flows the last repair of this n saw
    mip_edges: int = 0
    mips: int = 0
    n_max: int | None = None

    def offer(self, x_act: BoolArray) -> None:
        value, ok = primal_value(self.s.prep, x_act)
        if ok and (self.lb is None or value > self.lb):
            self.lb, self.lb_x = value, x_act

    def repair(self, flows: list[I64], bound_c: int) -> Fraction | None:
        """Repair the flows of a search; the incumbent after it."""
        k = self.s.prep.scale_k
        # An incumbent worth floor(bound / K) closes n: no need to look further.
        if self.lb is not None and k * (self.lb + 1) > bound_c:
            return self.lb
        self.repaired_flows = len(flows)
        better = repair_mod.improve(
            self.s.prep, flows, None if self.lb is None or self.lb_x is None else (self.lb, self.lb_x),
            self.s.deadline, Fraction(bound_c // k), self.memo, self.s.params)
        if better is not None:
            self.offer(better[1])
        return self.lb

    def estimate(self, n: int) -> int:
        s = self.s
        j = n - s.n_star
        marginal = s.d_plus if j > 0 else s.d_minus
        return s.ub_c - abs(j) * (marginal or 0) - keys.floor_rounding(s.prep, s.mu, n)

    def todo(self, first_theta: int) -> list[int]:
        """The numbers placed the rounded bound leaves open and not yet examined."""
        s, k = self.s, self.s.prep.scale_k
        theta = k * self.lb if self.lb is not None else first_theta
        rt = rounded_bound(s.prep, s.ub_c, s.n_star, s.d_minus, s.d_plus, s.mu, float(theta))
        if rt.n_hi > s.n_star and self.n_max is None:
            self.n_max = max_placeable(s.prep.problem)
        top = rt.n_hi if self.n_max is None else min(rt.n_hi, self.n_max)
        return [n for n in range(rt.n_lo, top + 1) if n not in self.done]

    def report_stats(self) -> None:
        self.s.stats.update(fixed_counts=len(self.done), count_flows=self.counters.count_flows,
                            exact_model_edges=self.mip_edges, mip_rounds=self.mips,
                            solver_model_edges=self.counters.solver_edges)

    def examine(self, n: int) -> bool:
        """Bound ``n`` placed, and close it with exact models unless the bound already does;
        whether models ran."""
        s, k = self.s, self.s.prep.scale_k
        self.done.add(n)
        cb, flows = count_bound(s.prep, n, self.core, self.lam, s.deadline, self.counters,
                                None if self.lb is None else k * (self.lb + 1), self.repair,
                                params=s.params)
        if cb.value is not None and self.repaired_flows != len(flows):
            self.repair(flows, cb.value)
        self.repaired_flows = None
        logger.debug("fixed count n=%d: bound %s, exact %s, incumbent %s, %d flows so far", n,
                     None if cb.value is None else float(Fraction(cb.value, k)) / SCORE_SCALE,
                     cb.exact, None if self.lb is None else float(self.lb) / SCORE_SCALE,
                     self.counters.count_flows)
        if cb.value is None:
            return False  # no assignment places exactly n
        assert cb.cert is not None
        self.lam = cb.cert.mu  # the next n starts from this n's prices
        if cb.exact:
            self.offer(cb.cert.used)
        if cb.exact or (self.lb is not None and cb.value < k * (self.lb + 1)):
            return False  # nothing placing n beats the incumbent
        self._close(n, cb)
        return True

    def _close(self, n: int, cb: CountBound) -> None:
        """Exact models for ``n``: first a small one just below the bound (the fixed-count bound
        is usually tight), then, only if it holds nothing, deeper ones down to the incumbent.
        Without an incumbent (every flow met so far misses a floor) the first model still runs:
        what it finds is one."""
        k, params = self.s.prep.scale_k, self.s.params
        assert cb.value is not None
        first = Fraction(cb.value - k * params.mip_margin_w)
        theta_n: Fraction | None = first if self.lb is None else max(k * self.lb, first)
        dev: I64 | None = None
        dev_cap = 0
        while theta_n is not None:
            tau = cb.value - theta_n
            if dev is None or math.floor(tau) + 1 > dev_cap:
                # Shifts beyond tau fix nothing more; no model goes below the incumbent.
                dev_cap = math.floor(tau) + 1 if self.lb is None else max(
                    math.floor(tau), math.floor(cb.value - k * self.lb)) + 1
                assert cb.cert is not None
                dev = sharpened_dev(self.s.prep, cb.cert, dev_cap)
            if self._model(n, cb, theta_n, dev):
                break  # n is solved (or out of time)
            theta_n = self._deeper(cb.value, theta_n, dev)

    def _model(self, n: int, cb: CountBound, theta_n: Fraction, dev: I64) -> bool:
        """The exact model of ``n`` down to ``theta_n``; whether it settles ``n``."""
        s, k = self.s, self.s.prep.scale_k
        assert cb.cert is not None and cb.value is not None
        tau = cb.value - theta_n
        # dev is integral: compare with floor(tau), not elementwise with a Fraction (slow).
        free = np.flatnonzero(dev <= math.floor(tau))
        fixed1 = np.flatnonzero(cb.cert.used & (dev > math.floor(tau)))
        self.mip_edges += int(free.size)
        self.mips += 1
        res = solve_count_model(s.prep, free, fixed1, n, theta_n, cb.cert.mu, s.deadline,
                                self.counters, params=s.params)
        if res.status in ("unknown", "feasible"):
            self.unresolved[n] = Fraction(cb.value, k)
        reached = False
        if res.status in ("optimal", "feasible"):
            found, x_act = model_assignment(s.prep, free, res.x_free, fixed1)
            self.offer(x_act)
            reached = k * found >= theta_n
        return res.status in ("unknown", "feasible") or (res.status == "optimal" and reached)

    def _deeper(self, value: int, theta_n: Fraction, dev: I64) -> Fraction | None:
        """The next model's threshold, ``None`` when no deeper model can hold anything new."""
        k, widen = self.s.prep.scale_k, self.s.params.mip_widen
        if self.lb is None:  # nothing found yet: deeper, until the model holds every pair
            if math.floor(value - theta_n) >= lp_mod.max_dev_all(dev):
                return None  # no assignment places exactly n
            return value - widen * (value - theta_n)
        incumbent_c = k * self.lb
        if theta_n <= incumbent_c:
            return None  # nothing placing n reaches the incumbent
        # Widen geometrically, not straight down to the incumbent: a far incumbent would make
        # one huge model where a few small ones find the optimum (300k x 10k, seed 2).
        return max(incumbent_c, value - widen * (value - theta_n))


def run(s: SearchState) -> CountResult | None:
    """Close the gap number placed by number placed (docs/allocation.md, "Fixed counts").

    Every ``n`` that the rounded bound leaves open is examined, the most promising first.
    Returns ``None`` when the phase does not apply (no incumbent, not even from the first exact
    model, or too many ``n``); the caller then closes the gap on the whole round.
    """
    prep, params, k = s.prep, s.params, s.prep.scale_k
    assert s.cert is not None and s.rounded is not None
    # The fixed-count core: pairs near tight at the free-n prices (its pricing adds the rest).
    core = np.flatnonzero(s.cert.used | (np.abs(s.cert.rc) <= int(
        params.count_core_window * k * SCORE_SCALE)))
    s.stats["count_core_edges"] = int(core.size)
    phase = _CountPhase(s, core, s.mu * np.array([q for _, q in prep.pq], np.int64))
    if s.incumbent is not None:
        phase.lb, phase.lb_x = s.incumbent
    first_theta = s.rounded.value - k * params.mip_margin_w
    while True:
        todo = phase.todo(first_theta)
        if not todo:
            break
        if len(phase.done) + len(todo) > params.max_counts:
            return None
        if _control.out_of_time(s.deadline):
            if phase.lb is None or phase.lb_x is None:
                return None
            # Out of time: the open numbers placed keep their rounded bounds.
            bound = max([phase.lb, *phase.unresolved.values(),
                         *(Fraction(phase.estimate(n), k) for n in todo)])
            phase.report_stats()
            return CountResult("feasible", phase.lb_x, phase.lb, bound)
        _control.report("fixed_counts", len(phase.done) / (len(phase.done) + len(todo)))
        n = max(todo, key=lambda n: (phase.estimate(n), -abs(n - s.n_star), -n))
        if phase.examine(n) and phase.lb is None:
            return None  # no assignment met at all: the whole-round model decides
    if phase.lb is None or phase.lb_x is None:
        return None
    phase.report_stats()
    open_bounds = [b for b in phase.unresolved.values() if b >= phase.lb + 1]
    if open_bounds:
        return CountResult("feasible", phase.lb_x, phase.lb, max(open_bounds))
    return CountResult("optimal", phase.lb_x, phase.lb, phase.lb)
