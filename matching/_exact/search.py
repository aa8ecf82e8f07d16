"""The exact method's driver: the phases in order over one :class:`SearchState`.

1. prepare (:mod:`~matching._exact.prepare`, done by the caller): pins out, pairs scaled;
2. the Lagrangian bound (:mod:`~matching._exact.bound`): floor prices, a priced-out flow, its
   certificate (:mod:`~matching._exact.certificate`) and the rounded bound;
3. repair (:mod:`~matching._exact.repair`): an incumbent meeting every floor from the flows met;
4. the fixed-count search (:mod:`~matching._exact.fixed_count`), hard rules;
5. if that does not apply, exact models on the whole round (:mod:`~matching._exact.close`).

Each phase stops the solve as soon as the bound and the incumbent meet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from matching._exact import bound as bound_mod
from matching._exact import close as close_mod
from matching._exact import fixed_count as fixed_count_mod
from matching._exact import params as _params
from matching._exact import repair as repair_mod
from matching._exact.params import ExactParams
from matching._exact.prepare import Prepared
from matching._exact.repair import primal_value
from matching._exact.state import ExactOutcome, SearchState
from matching._exact.warm import WarmStart


def solve_exact(prep: Prepared, time_limit: float, *,
                check_infeasible: Callable[[], Sequence[object]] | None = None,
                params: ExactParams | None = None, warm: WarmStart | None = None
                ) -> ExactOutcome:
    """Solve the prepared round exactly; see docs/allocation.md.

    An outcome with an assignment carries in ``proof`` the flow and prices of the Lagrangian
    bound (see :mod:`matching.certificate`). ``check_infeasible`` (the diagnosis' exact checks)
    runs when no flow and no repair meets the floors, before any exact model. ``params``: the
    tuning, :data:`matching._exact.params.DEFAULT` if not given. ``warm``: the floor prices,
    first core and incumbent of an earlier solve of the same round on other pairs
    (:mod:`~matching._exact.warm`); only a start, the proof is the same.
    """
    s = bound_mod.start(prep, time_limit, False, params or _params.current())
    if warm is not None:
        bound_mod.warm_from(s, warm)
    if not bound_mod.lagrangian(s):
        return s.outcome("infeasible")
    s.stats.update(
        core_edges=int(s.oracle.core.size), flow_solves=s.oracle.num_solves,
        kelley_iterations=s.kelley_iters, pricing_rounds=s.pricing_rounds,
        multipliers=s.best_mu.tolist(), flow_time=s.oracle.solve_time,
    )
    assert s.cert is not None and s.best_sol is not None
    if prep.num_groups == 0:
        # No side constraints: the flow is optimal for the whole network (priced out).
        opt, _ = primal_value(prep, s.cert.used)
        s.timings["total"] = time.perf_counter() - s.t0
        return s.outcome("optimal", prep.edges[s.cert.used], opt, opt)
    _repair(s)
    if s.incumbent is None and check_infeasible is not None and prep.penalty_w is None:
        # No flow met and none repaired meets the floors: before the exact models (which
        # cannot prove a negative quickly: 5,000 candidates, a floor of 40 % for a group of 3 %,
        # ran past its limit, issue 20), the exact flow checks of the diagnosis.
        t_diag = time.perf_counter()
        reasons = check_infeasible()
        s.timings["infeasibility_check"] = time.perf_counter() - t_diag
        if reasons:
            return s.outcome("infeasible", reasons=tuple(reasons))
    bound_mod.bound(s)
    assert s.rounded is not None
    k = prep.scale_k
    if s.incumbent is not None and s.rounded.value - k * s.incumbent.value < k * s.granularity:
        s.stats["exact_model_edges"] = 0
        s.timings["total"] = time.perf_counter() - s.t0
        return s.outcome("optimal", prep.edges[s.incumbent.x], s.incumbent.value,
                         s.incumbent.value)
    if prep.penalty_w is None:
        t_fix = time.perf_counter()
        fixed = fixed_count_mod.run(s)
        s.timings["fixed_counts"] = time.perf_counter() - t_fix
        if fixed is not None:
            s.timings["total"] = time.perf_counter() - s.t0
            return s.outcome(fixed.status, prep.edges[fixed.x], fixed.value, fixed.bound)
    return close_mod.run(s)


def _repair(s: SearchState) -> None:
    """Phase 3: the best assignment the repair makes of the flows met (and the incumbent)."""
    t_rep = time.perf_counter()
    better = repair_mod.improve(s.prep, s.seen, s.incumbent, s.deadline, params=s.params)
    if better is not None:
        s.incumbent = better
    s.timings["repair"] = time.perf_counter() - t_rep
