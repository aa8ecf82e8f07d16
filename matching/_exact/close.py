"""Closing the gap on the whole round: exact models that provably contain every better assignment.

Any assignment ``x`` with ``K*W(x) >= theta`` uses only pairs with ``|rc| <= ub - theta - R(n(x))``
and places a number ``n(x)`` in the range :func:`~matching._exact.bound.rounded_bound` reports
(docs/allocation.md, "Closing the gap"). The first model goes a little below the bound; an empty
model moves ``theta`` down, a found assignment raises the incumbent to it, until the model's
optimum reaches its own threshold (then it is the round's).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from matching import _control
from matching._exact import lp as lp_mod
from matching._exact.bound import rounded_bound
from matching._exact.repair import model_assignment
from matching._exact.state import ExactOutcome, SearchState
from matching._exact.types import I64
from matching.exceptions import SolverError
from matching.problem import SCORE_SCALE


@dataclass
class _Close:
    s: SearchState
    dev: I64
    max_dev: int
    theta: Fraction

    def model(self) -> tuple[str, bool]:
        """The model down to ``theta``: its status, and whether it was the whole round."""
        s = self.s
        assert s.cert is not None
        rt = rounded_bound(s.prep, s.ub_c, s.n_star, s.d_minus, s.d_plus, s.mu, float(self.theta))
        tau = Fraction(s.ub_c) - self.theta - rt.min_rounding
        n_range = (float(rt.n_lo), float(rt.n_hi))
        whole = tau > self.max_dev
        if whole:  # the model is the whole round
            n_range = (0.0, math.inf)
        free_mask = self.dev <= math.floor(tau)
        free = np.flatnonzero(free_mask)
        fixed1 = np.flatnonzero(s.cert.used & ~free_mask)
        s.stats["exact_model_edges"] = int(free.size)
        res = lp_mod.solve_mip(s.prep, free, fixed1, _control.remaining(s.deadline), n_range,
                               s.params)
        if res.status in ("optimal", "feasible"):
            s.offer(*model_assignment(s.prep, free, res.x_free, fixed1))
        return res.status, whole

    def lower(self) -> None:
        """An empty model: move ``theta`` down (not below the incumbent, not past every pair)."""
        s, k = self.s, self.s.prep.scale_k
        assert s.rounded is not None
        step = max(Fraction(s.rounded.value) - self.theta, Fraction(k * SCORE_SCALE)) * 4
        self.theta = self.theta - step if s.incumbent is None else max(
            self.theta - step, k * s.incumbent.value)
        shift = sum(int(m) * q for m, (_, q) in zip(s.mu, s.prep.pq, strict=True))
        if Fraction(s.ub_c) - self.theta > self.max_dev + k * s.params.mip_margin_w + shift:
            self.theta = Fraction(s.ub_c - self.max_dev - 1) - shift


def run(s: SearchState) -> ExactOutcome:
    """Close the gap with exact models on the whole round (hard or penalised rules)."""
    k = s.prep.scale_k
    assert s.cert is not None and s.rounded is not None
    bound_w = Fraction(s.rounded.value, k)
    t_mip = time.perf_counter()
    dev = np.abs(s.cert.rc)
    theta = Fraction(s.rounded.value - k * s.params.mip_margin_w)
    if s.incumbent is not None:
        theta = max(theta, k * s.incumbent.value)
    close = _Close(s, dev, lp_mod.max_dev_all(dev), theta)
    mip_rounds = 0
    outcome: tuple[str, Fraction | None]
    while True:
        mip_rounds += 1
        _control.report("exact_model", 1.0 - 1.0 / mip_rounds)
        status, whole = close.model()
        inc = s.incumbent
        if status == "infeasible":
            if inc is not None and k * inc.value >= close.theta:
                raise SolverError("the exact model lost an assignment it must contain")
            if whole:
                outcome = ("infeasible", None)
                break
            close.lower()
            continue
        if status == "unknown" or (status == "feasible" and inc is not None):
            # The rounded Lagrangian bound stays valid; the restricted MIP's own bound is not.
            outcome = ("feasible" if inc is not None else "unknown", bound_w)
            break
        assert inc is not None
        if k * inc.value >= close.theta:
            outcome = ("optimal", inc.value)
            break
        close.theta = Fraction(k * inc.value)  # the next model provably contains the optimum
    s.stats["mip_rounds"] = mip_rounds
    s.timings["exact_model"] = time.perf_counter() - t_mip
    s.timings["total"] = time.perf_counter() - s.t0
    result, bound = outcome
    if result == "infeasible":
        return s.outcome("infeasible")
    if s.incumbent is None:
        return s.outcome("unknown", bound_w=bound_w)
    assert bound is not None
    return s.outcome(result, s.prep.edges[s.incumbent.x], s.incumbent.value, bound)
