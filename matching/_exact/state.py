"""The one state the phases of the exact method share, and the outcome built from it once.

:func:`matching._exact.search.solve_exact` creates a :class:`SearchState` for the prepared round;
each phase reads what the earlier ones left in it and adds its own part (the field groups below
follow the phases). The search ends by :meth:`SearchState.outcome`, which builds the immutable
:class:`ExactOutcome`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from matching import _network as net
from matching._exact.certificate import FlowCertificate
from matching._exact.oracle import Oracle
from matching._exact.params import ExactParams
from matching._exact.prepare import Prepared
from matching._exact.types import I64, BoolArray


class Incumbent(NamedTuple):
    """The best assignment meeting every hard rule found so far: its value (w-units) and its
    active pairs."""

    value: Fraction
    x: BoolArray


Cut = tuple[int, I64, I64]  # (value, subgradient, multipliers) of one Lagrangian evaluation


@dataclass(frozen=True)
class RoundedBound:
    """``max_n [V(n) - rounding(n)]`` and the numbers placed whose bound reaches a threshold."""

    value: int  # c-units, bound on K * objective
    n_lo: int  # smallest number assigned that could still beat the threshold
    n_hi: int
    min_rounding: int  # min over n in [n_lo, n_hi] of the floors' rounding


@dataclass(frozen=True)
class ExactOutcome:
    """What the exact method found (``chosen`` are indices into the problem's edges)."""

    status: str  # "optimal", "feasible", "infeasible", "unknown"
    chosen: I64
    objective_w: Fraction  # combined objective in w-units (incl. M per placement, penalties)
    bound_w: Fraction
    stats: dict[str, object] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    proof: FlowCertificate | None = None  # the free-n flow and prices proving the dual bound
    reasons: tuple[object, ...] = ()  # why the round is infeasible, when checked on the way


@dataclass
class SearchState:
    """Everything the phases of one exact solve share."""

    # --- the round and the run
    prep: Prepared
    params: ExactParams
    t0: float
    deadline: float
    dual_only: bool
    oracle: Oracle
    stats: dict[str, object] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    warm: bool = False  # started from an earlier solve (matching._exact.warm), not the LP
    # --- primal: the incumbent and every flow met (material for the repair)
    incumbent: Incumbent | None = None
    seen: list[I64] = field(default_factory=list)
    # --- the Lagrangian search (phase 2)
    cap: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # per floor price
    radius: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # trust region
    granularity: Fraction = Fraction(1)  # objective values differ by at least this (w-units)
    mu: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    cuts: list[Cut] = field(default_factory=list)
    best_val: int | None = None  # best (rounded) Lagrangian estimate
    best_mu: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    best_sol: net.FlowSolution | None = None
    best_d: int = 0  # the unrounded D(best_mu), on the current core
    kelley_iters: int = 0
    pricing_rounds: int = 0
    max_kelley: int = 0
    cert: FlowCertificate | None = None  # the priced-out flow at best_mu
    # --- the bound (phase 2, after the search)
    ub_c: int = 0  # the Lagrangian bound, c-units
    n_star: int = 0  # placed in its flow (pins included)
    d_minus: int | None = None  # cost of one person fewer / more (None: impossible)
    d_plus: int | None = None
    rounded: RoundedBound | None = None

    def offer(self, value: Fraction, x: BoolArray) -> None:
        """Keep ``x`` (meeting every hard rule) if it beats the incumbent."""
        if self.incumbent is None or value > self.incumbent.value:
            self.incumbent = Incumbent(value, x)

    def outcome(self, status: str, chosen: I64 | None = None, objective_w: Fraction = Fraction(0),
                bound_w: Fraction = Fraction(0), reasons: tuple[object, ...] = ()
                ) -> ExactOutcome:
        """The outcome, built once: an assignment carries the certificate of its bound."""
        return ExactOutcome(
            status, np.zeros(0, np.int64) if chosen is None else chosen, objective_w, bound_w,
            self.stats, self.timings,
            proof=self.cert if status in ("optimal", "feasible") else None, reasons=reasons)
