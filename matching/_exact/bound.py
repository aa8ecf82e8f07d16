"""Phase 2, the Lagrangian bound: floor prices by a trust-region cutting-plane search.

The floors are dualised (:mod:`matching._exact.keys`); at prices ``mu`` one min-cost flow on a
core of the pairs (:class:`~matching._exact.oracle.Oracle`) gives the Lagrangian value and a
subgradient. :func:`lagrangian` minimises it by Kelley steps in a trust region, warm-started from
the floor duals of an LP relaxation (of the round, or of a sampled sub-round), and prices every
pair outside the core at the end, adding those worth it until none is; every flow met is offered
as an incumbent and kept for the repair. :func:`bound` then rounds the dual for integral counts
(:func:`rounded_bound`) using the marginal cost of placing one person more or fewer.
"""

from __future__ import annotations

import logging
import math
import time
from fractions import Fraction

import numpy as np
from scipy import optimize

from matching import _control
from matching import _network as net
from matching._exact import keys
from matching._exact import lp as lp_mod
from matching._exact.certificate import FlowCertificate, certify, marginals
from matching._exact.oracle import Oracle, initial_core
from matching._exact.params import ExactParams
from matching._exact.prepare import Prepared, prepare
from matching._exact.repair import primal_value
from matching._exact.state import Cut, RoundedBound, SearchState
from matching._exact.types import I64
from matching._exact.warm import WarmStart
from matching.problem import SCORE_SCALE, AllocationProblem

logger = logging.getLogger(__name__)


def start(prep: Prepared, time_limit: float, dual_only: bool, params: ExactParams
          ) -> SearchState:
    """The search state of a round before its first flow: the first core, the price caps and
    the first trust region."""
    t0 = time.perf_counter()
    oracle = Oracle(prep)
    oracle.core = initial_core(prep, params)
    state = SearchState(prep=prep, params=params, t0=t0, deadline=t0 + time_limit,
                        dual_only=dual_only, oracle=oracle, stats={"scale_k": prep.scale_k})
    state.stats["initial_core_edges"] = int(oracle.core.size)
    state.timings["core"] = time.perf_counter() - t0
    ng = prep.num_groups
    state.cap = keys.floor_price_cap(prep)
    state.radius = np.maximum(keys.floor_price_box(prep, state.cap) // 4, 1) if ng else state.cap
    state.granularity = Fraction(1, math.lcm(*[q for _, q in prep.pq])) if (
        prep.penalty_w is not None and ng) else Fraction(1)
    state.mu = np.zeros(ng, np.int64)
    state.best_mu = state.mu
    state.max_kelley = params.max_kelley
    return state


def warm_from(state: SearchState, warm: WarmStart) -> None:
    """Start the search from an earlier solve's floor prices, core and assignment
    (:mod:`matching._exact.warm`) instead of the warm-start LP: the prices are near the optimum
    already, so the first trust region is a quarter of the LP start's."""
    prep, params = state.prep, state.params
    state.warm = True
    state.oracle.core = warm.core
    state.stats["warm_start"] = "earlier solve"
    state.stats["initial_core_edges"] = int(warm.core.size)
    if prep.num_groups:
        state.mu = np.minimum(warm.mu, state.cap)
        state.best_mu = state.mu
        state.radius = np.maximum(state.mu // (4 * params.warm_radius_div), 1)
    if warm.incumbent is not None:
        value, ok = primal_value(prep, warm.incumbent)
        if ok:
            state.offer(value, warm.incumbent)
            state.seen.append(np.flatnonzero(warm.incumbent))


def lagrangian(state: SearchState) -> bool:
    """Run the search; ``False`` when no flow meets the keys (the round is infeasible).

    Leaves the best prices in ``state.best_mu`` (and ``state.mu``), their priced-out flow's
    certificate in ``state.cert``, and every flow met in ``state.incumbent`` / ``state.seen``.
    """
    t_lag = time.perf_counter()
    while True:  # pricing loop: Lagrangian on the core, then price every active edge
        if _search_core(state) == "infeasible":
            return False
        if not _price_out(state):
            break
    state.timings["lagrangian"] = time.perf_counter() - t_lag
    if not state.dual_only:
        _control.report("lagrangian", 1.0)
    return True


def dual_search(prep: Prepared, time_limit: float, params: ExactParams) -> I64 | None:
    """The Lagrangian search alone (a sampled sub-round's): its best prices, ``None`` if none."""
    state = start(prep, time_limit, True, params)
    if not lagrangian(state):
        return None
    return np.array(state.best_mu.tolist(), np.int64)


def _search_core(state: SearchState) -> str:
    """Trust-region Kelley iterations on the (rounded) Lagrangian dual, on the current core."""
    evaluated: set[tuple[int, ...]] = set()
    round_start = state.kelley_iters  # each pricing round may search again: the core changed
    while True:
        step = _iterate(state, evaluated, round_start)
        if step != "again":
            return step


def _iterate(s: SearchState, evaluated: set[tuple[int, ...]], round_start: int) -> str:
    """One evaluation of the dual and the step after it: ``"again"``, ``"done"`` or
    ``"infeasible"``."""
    prep = s.prep
    d, grad, sol = s.oracle.evaluate(s.mu)
    evaluated.add(tuple(s.mu.tolist()))
    s.kelley_iters += 1
    if not s.dual_only:
        _control.report("lagrangian", s.kelley_iters / (s.max_kelley + 2))
    if not sol.feasible:
        if s.oracle.core.size < prep.edges.size:
            # The core may lack pairs a lower bound needs: fall back to every pair.
            s.oracle.core = np.arange(prep.edges.size, dtype=np.int64)
            return "again"
        return "infeasible"
    improved, cut = _record(s, d, grad, sol)
    if prep.num_groups == 0:
        return "done"
    s.cuts.append(cut)
    if s.kelley_iters == 1 and not s.mu.any() and not s.warm and _warm_start(s, sol):
        # Cuts and flows of the larger core do not describe the new core's function.
        s.cuts.clear()
        s.best_val, s.best_sol = None, None
        return "again"
    return _step(s, improved, evaluated, round_start)


def _record(s: SearchState, d: int, grad: I64, sol: net.FlowSolution) -> tuple[bool, Cut]:
    """Keep the flow as the best estimate if it is, offer it as an incumbent, and return its cut
    of the rounded dual."""
    prep = s.prep
    x_act = np.zeros(prep.edges.size, bool)
    x_act[s.oracle.core[sol.pair_flow().astype(bool)]] = True
    if s.mu.any():  # the flow without floor prices is far from the rest: slow to repair
        s.seen.append(np.flatnonzero(x_act))
    n_x = int(x_act.sum()) + prep.num_pins
    # Cut of the rounded dual: integral counts add rounding(n) slack to each floor row.
    r_vec = keys.rounding_vector(prep, n_x)
    cut_val, g_r = d - int(s.mu @ r_vec), grad - r_vec
    improved = s.best_val is None or cut_val < s.best_val
    if improved:
        s.best_val, s.best_mu, s.best_sol, s.best_d = cut_val, s.mu, sol, d
    value, ok = primal_value(prep, x_act)
    if ok:
        s.offer(value, x_act)
    return improved, (cut_val, g_r, s.mu)


def _step(s: SearchState, improved: bool, evaluated: set[tuple[int, ...]],
          round_start: int) -> str:
    """The next prices: a Kelley step in the trust region, or ``"done"``."""
    params, k = s.params, s.prep.scale_k
    assert s.best_val is not None
    if s.incumbent is not None and s.best_val - k * s.incumbent.value < k * s.granularity:
        return "done"
    if not improved:
        s.radius = np.maximum(s.radius // 2, 1)
    lo_box = np.maximum(s.best_mu - s.radius, 0)
    hi_box = np.minimum(s.best_mu + s.radius, s.cap)
    nxt, model = kelley_step(s.cuts, lo_box, hi_box)
    if improved and np.any((nxt == hi_box) & (hi_box < s.cap)):
        s.radius = np.minimum(s.radius * 2, s.cap)
    tol, max_iter = (params.sample_tol_w, params.sample_max_kelley) if s.dual_only else (
        params.kelley_tol_w, s.max_kelley)
    if s.best_val - model <= k * tol or s.kelley_iters - round_start >= max_iter \
            or s.kelley_iters >= params.max_kelley_rounds * max_iter \
            or _control.out_of_time(s.deadline):
        return "done"
    if tuple(nxt.tolist()) in evaluated:
        if s.radius.max() <= 1:
            return "done"
        s.radius = np.maximum(s.radius // 2, 1)
        return "again"
    s.mu = nxt
    return "again"


def _warm_start(s: SearchState, sol: net.FlowSolution) -> bool:
    """After the first flow (no floor prices): shrink the core to the pairs near tight, and
    warm-start the prices from an LP when that is cheap. Whether the search restarts."""
    prep, params, oracle, k = s.prep, s.params, s.oracle, s.prep.scale_k
    # The pricing loop re-adds any pair a later price makes worth it.
    t_lp = time.perf_counter()
    cert0 = certify(prep, oracle, s.mu, sol)
    near = np.flatnonzero(cert0.used | (cert0.rc <= params.core_window * k * SCORE_SCALE))
    shrunk = near.size < oracle.core.size
    if shrunk:
        oracle.core = near
    mu_lp, grown = _warm_prices(s, cert0, t_lp)
    shrunk = shrunk or grown
    s.timings["warm_start"] = time.perf_counter() - t_lp
    if mu_lp is not None and mu_lp.any():
        s.mu = np.minimum(mu_lp, s.cap)
        s.radius = np.maximum(s.mu // params.warm_radius_div, 1)
    else:  # six steps suffice from a warm start, not from zero
        s.max_kelley = params.max_kelley_cold
    return bool(shrunk or s.mu.any())


def _warm_prices(s: SearchState, cert0: FlowCertificate, t_lp: float) -> tuple[I64 | None, bool]:
    """Starting floor prices, and whether the core changed for them."""
    prep, params, oracle = s.prep, s.params, s.oracle
    hard = prep.penalty_w is None
    big = prep.candidates_with_edges.size > params.sample_above
    mu_lp = None
    changed = False
    if hard and not s.dual_only and big:
        # A big round: the floor prices are intensive (per person), so a sampled sub-round of a
        # fraction of the places gives a good start cheaply.
        mu_lp = sampled_multipliers(prep, s.deadline, params)
        if mu_lp is not None:
            oracle.core = np.union1d(oracle.core, initial_core(prep, params))
            changed = True
    elif hard and prep.edges.size > params.lp_sample_pairs:
        mu_lp = sampled_lp_prices(prep, t_lp + 0.3 * (s.deadline - t_lp), params)
        if mu_lp is not None:
            # Near tight at zero prices leaves out the group pairs the prices make worth it:
            # add back the best few of every candidate and place.
            oracle.core = np.union1d(oracle.core, initial_core(prep, params))
            changed = True
            s.stats["warm_start"] = "sampled LP"
    if mu_lp is None and hard and not big:
        mu_lp, grown = _round_lp_prices(s, cert0, t_lp)
        changed = changed or grown
    return mu_lp, changed


def _round_lp_prices(s: SearchState, cert0: FlowCertificate, t_lp: float
                     ) -> tuple[I64 | None, bool]:
    """Floor prices of the whole round's LP relaxation (its core: the pairs near tight at them);
    out of time for it, of the LP on a window of pairs near tight at zero prices."""
    prep, params, oracle, k = s.prep, s.params, s.oracle, s.prep.scale_k
    start_pairs = np.arange(prep.edges.size, dtype=np.int64) \
        if prep.edges.size <= params.lp_start_all else oracle.core
    lp = lp_mod.lp_prices(prep, start_pairs, t_lp + 0.3 * (s.deadline - t_lp), params)
    if lp is not None:
        oracle.core = lp.near  # near tight at these prices, not at zero
        s.stats["lp_bound"] = (lp.value_w + prep.pin_score_w
                               + prep.big_m * prep.num_pins) / SCORE_SCALE
        s.stats["lp_columns"] = lp.columns
        return lp.mu, True
    window = params.lp_window * k * SCORE_SCALE
    absrc = np.abs(cert0.rc)
    if absrc.size > params.lp_max_pairs:
        window = min(window, int(np.partition(absrc, params.lp_max_pairs)[params.lp_max_pairs]))
    return lp_mod.lp_multipliers(prep, cert0, window), False


def _price_out(s: SearchState) -> bool:
    """Certify the best flow and price every pair outside the core; whether some joined it (then
    the search runs again on the larger core)."""
    prep, oracle = s.prep, s.oracle
    assert s.best_sol is not None
    s.mu = s.best_mu
    t_rc = time.perf_counter()
    s.cert = certify(prep, oracle, s.mu, s.best_sol)
    s.timings["potentials"] = s.timings.get("potentials", 0.0) + time.perf_counter() - t_rc
    in_core = np.zeros(prep.edges.size, bool)
    in_core[oracle.core] = True
    missing = np.flatnonzero(~in_core & (s.cert.rc < 0))
    s.pricing_rounds += 1
    if missing.size == 0:
        return False
    logger.debug("pricing round %d adds %d pairs to the core", s.pricing_rounds, missing.size)
    oracle.core = np.union1d(oracle.core, missing)
    s.best_val, s.best_sol = None, None
    return True


def bound(s: SearchState) -> None:
    """The Lagrangian bound at the best prices, its marginals and its rounding for integral
    counts (``state.ub_c``, ``n_star``, ``d_minus``, ``d_plus``, ``rounded``)."""
    prep, k = s.prep, s.prep.scale_k
    assert s.cert is not None
    # The unrounded Lagrangian value at mu: a bound for the whole round (the core is priced out;
    # the core has not changed since mu was evaluated on it).
    s.ub_c = s.best_d
    s.n_star = int(s.cert.used.sum()) + prep.num_pins
    threshold = float(k * s.incumbent.value) if s.incumbent is not None else -math.inf
    t_marg = time.perf_counter()
    s.d_minus, s.d_plus = marginals(prep, s.cert, s.oracle.core)
    s.rounded = rounded_bound(prep, s.ub_c, s.n_star, s.d_minus, s.d_plus, s.mu, threshold)
    s.timings["rounded_bound"] = time.perf_counter() - t_marg
    bound_w = Fraction(s.rounded.value, k)
    s.stats.update(lagrangian_bound=float(Fraction(s.ub_c, k)) / SCORE_SCALE,
                   rounded_bound=float(bound_w) / SCORE_SCALE, placed_in_flow=s.n_star)


def rounded_bound(prep: Prepared, ub_c: int, n_star: int, d_minus: int | None,
                  d_plus: int | None, mu: I64, threshold: float) -> RoundedBound:
    """``max_n [V(n) - rounding(n)]`` with ``V(n) <= V(n*) - |n - n*| * marginal`` (concavity).

    Also the range of ``n`` whose bound reaches ``threshold`` (c-units), for the exact model.
    """
    n_min = prep.num_pins
    n_max = prep.num_pins + int(prep.candidates_with_edges.size)
    period = math.lcm(*[q for _, q in prep.pq]) if prep.pq else 1
    best = ub_c - keys.floor_rounding(prep, mu, n_star)
    lo = hi = n_star
    min_r = keys.floor_rounding(prep, mu, n_star)
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
            r = keys.floor_rounding(prep, mu, n)
            best = max(best, base - r)
            if base - r >= threshold:
                lo, hi = min(lo, n), max(hi, n)
                min_r = min(min_r, r)
    return RoundedBound(best, lo, hi, min_r)


def kelley_step(cuts: list[Cut], lo_box: I64, hi_box: I64) -> tuple[I64, float]:
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




def sampled_multipliers(prep: Prepared, deadline: float, params: ExactParams) -> I64 | None:
    """Floor prices of a sub-round on a random fraction of the places (seeded, deterministic).

    Keys are scaled by the fraction; floors, scores and the Lagrangian scale are kept, so the
    sub-round's multipliers carry over. Only a starting point: the full round's search refines
    them and its own bound is what counts.
    """
    frac = params.sample_above / max(int(prep.candidates_with_edges.size), 1)
    sub_prep = sample_round(prep, frac)
    if sub_prep is None:
        return None
    left = _control.remaining(deadline)
    if left <= 0:
        return None
    return dual_search(sub_prep, left, params)


def sampled_lp_prices(prep: Prepared, deadline: float, params: ExactParams) -> I64 | None:
    """Floor prices of the LP relaxation of a sub-round on a random share of the places.

    The LP of a whole large round costs many flows (10k x 1k x 50, tight floors: 15 s against
    0.3 s a flow); its floor duals are intensive (score units per person), so the LP of a
    sub-round of about ``params.lp_sample_pairs`` pairs starts the search nearly as well.
    """
    sub_prep = sample_round(prep, params.lp_sample_pairs / max(int(prep.edges.size), 1))
    if sub_prep is None:
        return None
    lp = lp_mod.lp_prices(sub_prep, np.arange(sub_prep.edges.size, dtype=np.int64), deadline,
                          params)
    return None if lp is None else lp.mu


def sample_round(prep: Prepared, frac: float) -> Prepared | None:
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


