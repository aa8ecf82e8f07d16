"""The LP and MIP helpers of the exact method: the exact models that close the gap, and the LP
relaxation whose floor duals warm-start the Lagrangian search.

The models' key and floor rows come from :mod:`matching._exact.keys`; the solvers are HiGHS
(:mod:`matching._highs`) and, for small fixed-count models, CBC through OR-Tools
(docs/allocation.md, "The MIP solver").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from scipy import optimize, sparse

from matching import _control, _highs
from matching._exact import keys
from matching._exact import params as _params
from matching._exact.certificate import FlowCertificate
from matching._exact.params import ExactParams
from matching._exact.prepare import Prepared
from matching._exact.types import I64, BoolArray
from matching.problem import SCORE_SCALE

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MipResult:
    """An exact model's answer: its status and the free pairs it chose."""

    status: str  # "optimal", "feasible", "infeasible", "unknown"
    x_free: BoolArray
    bound_w: Fraction | None
    variables: int = 0  # binaries the MIP solver got (fixed-count models)


def solve_mip(prep: Prepared, free: I64, fixed1: I64, time_limit: float,
              n_range: tuple[float, float] = (0.0, np.inf),
              params: ExactParams | None = None) -> MipResult:
    """Exact MIP (HiGHS) over the free active edges, ``fixed1`` chosen, ``n_range`` placed.

    Lexicographic in ``max_placed`` mode: first the number placed minus violations, then the
    score, so no big-M weight reaches the floating-point solver.
    """
    params = params or _params.current()
    p = prep.problem
    nf = free.size
    penal = prep.penalty_w is not None
    nd, ng = p.num_districts, prep.num_groups
    if n_range[0] == n_range[1] and not penal:
        return solve_fixed_count_mip(prep, free, fixed1, time_limit, int(n_range[0]), params)
    # Variable layout: [x_free | N | K_g | under_d, over_d, short_g (penalised only)].
    i_n = nf
    i_k = nf + 1
    i_pen = nf + 1 + ng
    nv = i_pen + (2 * nd + ng if penal else 0)
    cand_fixed, place_fixed, _ = keys.fixed_counts(prep, fixed1)
    uc, cinv = np.unique(prep.cand[free].astype(np.int64), return_inverse=True)
    up_, pinv = np.unique(prep.place[free].astype(np.int64), return_inverse=True)
    rows = [keys.x_block(nf, nv, cinv, uc.size), keys.x_block(nf, nv, pinv, up_.size)]
    lo = [np.full(uc.size, -np.inf), np.full(up_.size, -np.inf)]
    hi = [(1 - cand_fixed[uc]).astype(np.float64),
          (prep.slots[up_] - place_fixed[up_]).astype(float)]
    for part in (keys.mip_key_rows(prep, free, fixed1, nv, i_pen),
                 keys.mip_floor_rows(prep, free, fixed1, nv, i_n, i_k, i_pen)):
        rows += part[0]
        lo += part[1]
        hi += part[2]
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
        r1 = milp(-primary, constraints, integrality, bounds, deadline, params.presolve)
        if r1 is None or r1.x is None:
            return MipResult("infeasible" if r1 is not None and r1.status == 2 else "unknown",
                             np.zeros(nf, bool), None)
        best = float(primary @ np.round(r1.x, 9))
        constraints = [cons, optimize.LinearConstraint(primary[None, :], best - 1e-6, np.inf)]
    r2 = milp(-secondary, constraints, integrality, bounds, deadline, params.presolve)
    if r2 is None or r2.x is None:
        return MipResult("infeasible" if r2 is not None and r2.status == 2 else "unknown",
                         np.zeros(nf, bool), None)
    x = r2.x[:nf] > 0.5
    status = "optimal" if r2.status == 0 else "feasible"
    return MipResult(status, x, None)


def solve_fixed_count_mip(prep: Prepared, free: I64, fixed1: I64, time_limit: float,
                          n: int, params: ExactParams | None = None) -> MipResult:
    """The exact MIP with exactly ``n`` placed (hard rules): floors become plain count rows.

    With ``n`` fixed, floor ``g`` reads ``count_g >= ceil(p_g n / q_g)``; no count variables
    are needed, and HiGHS solves this form far faster than the general one (which carries
    ``N`` and ``K_g`` as integer variables for a varying ``n``).
    """
    params = params or _params.current()
    live = keys.live_pairs(prep, free, fixed1)
    if not live.all():  # pairs the fixed ones block are no variables (half of them at 10k)
        kept = solve_fixed_count_mip(prep, free[live], fixed1, time_limit, n, params)
        x = np.zeros(free.size, bool)
        x[np.flatnonzero(live)[kept.x_free]] = True
        return MipResult(kept.status, x, kept.bound_w, kept.variables)
    nf = free.size
    if nf == 0:
        return MipResult("infeasible", np.zeros(0, bool), None)
    base, base_lo, base_hi = keys.assignment_rows(prep, free, fixed1)
    place_n = float(n - fixed1.size - prep.num_pins)
    floor_rows, floor_lo, floor_hi = keys.count_floor_rows(prep, free, fixed1, n)
    a = sparse.vstack([base, sparse.csr_matrix(np.ones((1, nf))), *floor_rows], format="csr")
    lo_all = np.concatenate([base_lo, np.array([place_n]), *floor_lo])
    hi_all = np.concatenate([base_hi, np.array([place_n]), *floor_hi])
    # n is fixed, so the placement weight M is a constant: optimise the score alone.
    deadline = time.perf_counter() + max(time_limit, 0.1)
    if nf <= params.cbc_max_pairs:
        out = cbc_binary(prep.score_w[free], a, lo_all, hi_all, deadline)
        return MipResult(out.status, out.x_free, out.bound_w, nf)
    res = milp(-prep.score_w[free].astype(float), [optimize.LinearConstraint(a, lo_all, hi_all)],
               np.ones(nf), optimize.Bounds(0.0, 1.0), deadline, params.presolve)
    if res is None or res.x is None:
        return MipResult("infeasible" if res is not None and res.status == 2 else "unknown",
                         np.zeros(nf, bool), None, nf)
    return MipResult("optimal" if res.status == 0 else "feasible", res.x > 0.5, None, nf)


def cbc_binary(value: I64, a: sparse.csr_matrix, lo: npt.NDArray[np.float64],
                hi: npt.NDArray[np.float64], deadline: float) -> MipResult:
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
        return MipResult("unknown", np.zeros(nf, bool), None)
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
    solver_params = pywraplp.MPSolverParameters()
    solver_params.SetDoubleParam(solver_params.RELATIVE_MIP_GAP, 0.0)
    status = solver.Solve(solver_params)
    if status == pywraplp.Solver.INFEASIBLE:
        return MipResult("infeasible", np.zeros(nf, bool), None)
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return MipResult("unknown", np.zeros(nf, bool), None)
    x_free = np.array([x.solution_value() > 0.5 for x in xs], bool)
    return MipResult("optimal" if status == pywraplp.Solver.OPTIMAL else "feasible", x_free, None)



def milp(c: npt.NDArray[np.float64], constraints: list[optimize.LinearConstraint],
         integrality: npt.NDArray[np.float64], bounds: optimize.Bounds, deadline: float,
         presolve: bool) -> _highs.MilpResult | None:
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
                      presolve=presolve, phase="exact_model")
    if res.status not in (0, 1, 2):
        logger.warning("HiGHS MIP returned status %s: %s", res.status, res.message)
    return res


def max_dev_all(dev: I64) -> int:
    """Largest reduced-cost magnitude: a tau above it frees every pair."""
    return int(dev.max(initial=0))


def lp_prices(prep: Prepared, start: I64, deadline: float,
              params: ExactParams | None = None) -> LpPrices | None:
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
    params = params or _params.current()
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
    for _ in range(params.lp_max_rounds):
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
            near = np.flatnonzero(support | (np.abs(rc) <= params.core_window * SCORE_SCALE))
            return LpPrices(mu, -fun, slack > 1e-6, int(cols.size), near.astype(np.int64))
        keep = max(params.lp_enter_min, cols.size // 2)
        if enter.size > keep:
            enter = enter[np.argpartition(rc[enter], keep)[:keep]]
        logger.debug("LP warm start: %d pairs enter (%d in all)", enter.size, cols.size)
    return None


@dataclass(frozen=True)
class LpPrices:
    """Floor prices of the LP relaxation, and what else its solution tells."""

    mu: I64  # floor prices, c-units per unit of floor row
    value_w: float  # the LP relaxation's optimum (w-units, free part)
    infeasible: bool  # an elastic slack stayed positive: the relaxation has no solution
    columns: int
    near: I64  # active pairs in the LP's support or near tight at its prices: a core


def lp_multipliers(prep: Prepared, cert: FlowCertificate, theta: int) -> I64 | None:
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
    rows, lo, hi = keys.assignment_rows(prep, free, fixed1)
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


