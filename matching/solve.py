"""One entry point: :func:`solve` with a :class:`SolveParams` object.

``method="optimal"`` runs the exact method (docs/allocation.md); the baselines run behind the same
interface and return the same result type.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import numpy as np

from matching import _control, _exact
from matching._diagnose import diagnose
from matching._violations import find_violations
from matching.baselines import run_baseline
from matching.exceptions import ParamsError
from matching.problem import SCORE_SCALE, AllocationProblem
from matching.result import (
    AllocationResult,
    DistrictViolation,
    FloorsJointlyInfeasible,
    Infeasibility,
    Status,
    Violation,
    unassigned_reasons,
)

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_VIOLATION_PENALTY", "SolveParams", "find_violations", "solve"]

DEFAULT_VIOLATION_PENALTY: float = 1000.0
"""Score units per unit of violation: above any single score (0..100), so a violation is taken only
when the rules cannot be met otherwise."""

Method = Literal["optimal", "greedy", "serial_dictatorship", "deferred_acceptance"]


@dataclass(frozen=True)
class SolveParams:
    """How to solve a round.

    Parameters
    ----------
    objective
        ``"score"``: maximise the total score. ``"max_placed"``: first the number of people placed,
        then the total score among those assignments.
    time_limit_s
        Wall-clock limit; when it stops the search, the result is ``FEASIBLE`` with its gap.
    seed
        Seed of the random baselines (serial dictatorship); the exact method is deterministic.
    num_workers
        Solver threads; the exact method is single-threaded (kept for interface stability).
    on_infeasible
        ``"report"``: return ``INFEASIBLE`` with reasons. ``"penalise"``: also solve with the
        keys and floors as soft rules, each unit of violation costing ``violation_penalty``.
    violation_penalty
        Score units per candidate a key is missed by, or per person a floor is short by.
    method
        ``"optimal"`` (exact) or a baseline: ``"greedy"``, ``"serial_dictatorship"``,
        ``"deferred_acceptance"``.
    progress
        Called as ``progress(phase, fraction)`` while the exact method runs: ``phase`` is one
        of ``"prepare"``, ``"lagrangian"``, ``"repair"``, ``"fixed_counts"``,
        ``"exact_model"``, ``"diagnose"``, ``"explain"``; ``fraction`` (0..1) is the real share
        of that phase done (iterations, numbers placed examined, the MIP's closed gap), never
        decreasing within a phase. Called from the solving thread; keep it quick.
    should_stop
        Polled often (between flow solves, repairs and inside every MIP); once it returns
        true the solve ends within about a second with the best assignment found and its
        proven gap (status ``FEASIBLE``), or ``UNKNOWN`` if none was found;
        ``result.stopped_by`` says ``"cancel"``.
    warm_start
        An earlier result of the same round (the same candidates, places, districts and floors)
        on other pairs, e.g. the pruned graph's before pricing added pairs: its floor prices,
        the pairs near tight at its dual prices and its assignment (if it meets every rule of
        this round) start the exact method. Only a starting point: the result is proven as
        without it. Ignored by the baselines and in the penalised mode.
    """

    objective: Literal["score", "max_placed"] = "score"
    time_limit_s: float = 60.0
    seed: int = 0
    num_workers: int = 1
    on_infeasible: Literal["report", "penalise"] = "report"
    violation_penalty: float = DEFAULT_VIOLATION_PENALTY
    method: Method = "optimal"
    progress: Callable[[str, float], None] | None = field(default=None, compare=False,
                                                           repr=False)
    should_stop: Callable[[], bool] | None = field(default=None, compare=False, repr=False)
    warm_start: AllocationResult | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        bad = []
        if self.objective not in ("score", "max_placed"):
            bad.append(f"objective {self.objective!r} is not 'score' or 'max_placed'")
        if not self.time_limit_s > 0:
            bad.append(f"time_limit_s must be positive, got {self.time_limit_s}")
        if self.num_workers < 1:
            bad.append(f"num_workers must be >= 1, got {self.num_workers}")
        if self.on_infeasible not in ("report", "penalise"):
            bad.append(f"on_infeasible {self.on_infeasible!r} is not 'report' or 'penalise'")
        if not (self.violation_penalty > 0 and math.isfinite(self.violation_penalty)):
            bad.append(f"violation_penalty must be positive, got {self.violation_penalty}")
        if self.method not in ("optimal", "greedy", "serial_dictatorship", "deferred_acceptance"):
            bad.append(f"unknown method {self.method!r}")
        if bad:
            raise ParamsError("; ".join(bad))


def solve(problem: AllocationProblem, params: SolveParams | None = None) -> AllocationResult:
    """Solve an allocation round.

    Parameters
    ----------
    problem
        The round.
    params
        How to solve it; defaults to ``SolveParams()``.

    Returns
    -------
    AllocationResult
        Status, assignment, objective, bound, gap, violations, infeasibility reasons,
        explanations. A round that cannot meet its rules is a status, not an exception.

    Examples
    --------
    >>> from matching import build_problem
    >>> p = build_problem(num_candidates=2, num_places=1, edge_candidate=[0, 1],
    ...                   edge_place=[0, 0], edge_score=[3.0, 5.0], place_slots=[1])
    >>> r = solve(p)
    >>> r.status.value, r.objective, r.candidate_place.tolist()
    ('optimal', 5.0, [-1, 0])
    """
    params = params or SolveParams()
    t0 = time.perf_counter()
    if params.method != "optimal":
        return run_baseline(problem, params)
    with _control.controlled(params.progress, params.should_stop) as control:
        return _solve_exact(problem, params, t0, control)


def _proven_reasons(prep: _exact.Prepared) -> list[Infeasibility]:
    """The diagnosis' exact checks only: its last word, "the floors together cannot be met", is a
    conclusion for a round already known to be infeasible, not a proof (a search stopped early, or
    cut short by its time limit, has found no flow yet and knows nothing)."""
    return [r for r in diagnose(prep) if not isinstance(r, FloorsJointlyInfeasible)]


def _solve_exact(problem: AllocationProblem, params: SolveParams, t0: float,
                 control: _control.Control) -> AllocationResult:
    max_placed = params.objective == "max_placed"
    deadline = t0 + params.time_limit_s
    _control.report("prepare", 0.0)
    prep = _exact.prepare(problem, max_placed, None)
    t_prep = time.perf_counter() - t0
    _control.report("prepare", 1.0)
    excess = bool(prep.pin_excess.any())
    outcome = None
    if not excess:
        warm = None if params.warm_start is None else _exact.warm_from_result(
            prep, params.warm_start, _exact.current_params())
        outcome = _exact.solve_exact(prep, deadline - time.perf_counter(),
                                     check_infeasible=lambda: _proven_reasons(prep), warm=warm)
    if (outcome is not None and outcome.status == "infeasible" and not outcome.reasons
            and _control.stop_requested()):
        # Stopped on request: a search cut short proves no infeasibility; nothing found, no bound.
        return _result(problem, prep, None, control, {"prepare": t_prep}, t0, unknown=True)
    reasons: list[Infeasibility] = []
    timings = {"prepare": t_prep}
    if excess or (outcome is not None and outcome.status == "infeasible"):
        t_diag = time.perf_counter()
        _control.report("diagnose", 0.0)
        if outcome is not None and outcome.reasons:
            reasons = [r for r in outcome.reasons if isinstance(r, Infeasibility)]
        else:
            reasons = diagnose(prep)
        _control.report("diagnose", 1.0)
        timings["diagnose"] = time.perf_counter() - t_diag
        if params.on_infeasible == "report":
            return _result(problem, prep, None, control, timings, t0, reasons=reasons)
        prep = _exact.prepare(problem, max_placed, params.violation_penalty)
        outcome = _exact.solve_exact(prep, deadline - time.perf_counter())
        timings = {"prepare": t_prep}  # the diagnosis' time is reported where the round stops
    assert outcome is not None
    return _result(problem, prep, outcome, control, timings, t0, reasons=reasons)


def _stopped_by(control: _control.Control, status: Status) -> str | None:
    if control.stopped:
        return "cancel"
    return "time_limit" if status in (Status.FEASIBLE, Status.UNKNOWN) else None


def _result(problem: AllocationProblem, prep: _exact.Prepared,
            outcome: _exact.ExactOutcome | None, control: _control.Control,
            timings: dict[str, float], t0: float, *, reasons: list[Infeasibility] | None = None,
            unknown: bool = False) -> AllocationResult:
    """The result of the exact method, built once, with its explanations (the reason of every
    unassigned candidate) and the time they took. ``timings`` are the solve's own (prepare,
    diagnose), after the exact method's; ``unknown``: stopped before anything was proven."""
    if outcome is None or outcome.status in ("infeasible", "unknown"):
        status = Status.INFEASIBLE if outcome is None or outcome.status == "infeasible" \
            else Status.UNKNOWN
        no_bound = math.nan if outcome is None else float(outcome.bound_w) / SCORE_SCALE
        if unknown:
            status, no_bound = Status.UNKNOWN, math.nan
        times = {} if outcome is None else dict(outcome.timings)
        times.update(timings)
        if outcome is None:
            times["total"] = time.perf_counter() - t0
        none_chosen = np.zeros(0, np.int64)
        nobody = np.full(problem.num_candidates, -1, np.int32)
        return AllocationResult(
            status=status, method="optimal", objective=math.nan, bound=no_bound, gap=math.inf,
            chosen_edges=none_chosen, candidate_place=nobody, num_assigned=0,
            total_score=0.0, problem=problem,
            unassigned_reason=unassigned_reasons(problem, none_chosen, nobody),
            infeasibility=list(reasons or []),
            stats={} if outcome is None else dict(outcome.stats), timings=times,
            stopped_by=_stopped_by(control, status),
        )
    chosen = np.sort(np.concatenate([problem.pins, outcome.chosen]))
    cp = np.full(problem.num_candidates, -1, np.int32)
    cp[problem.edge_candidate[chosen]] = problem.edge_place[chosen]
    n = int(chosen.size)
    violations = find_violations(problem, chosen)
    total_w = int(problem.scaled_score[chosen].sum())
    units = _violation_units(problem, violations)
    penalty_w = 0 if prep.penalty_w is None else prep.penalty_w - prep.big_m
    objective = Fraction(total_w) - penalty_w * units
    # bound_w counts M per placement (max_placed) and (P+M) per violation unit.
    bound: Fraction = objective if outcome.status == "optimal" else (
        outcome.bound_w - prep.big_m * (n - units))
    obj_f = float(objective) / SCORE_SCALE
    bound_f = float(bound) / SCORE_SCALE
    offset_w = prep.big_m * (n - units)
    certificate = None if outcome.proof is None else _exact.public_certificate(
        prep, outcome.proof, bound + offset_w, offset_w, bound_f)
    status = Status.OPTIMAL if outcome.status == "optimal" else Status.FEASIBLE
    t_expl = time.perf_counter()
    _control.report("explain", 0.0)
    unassigned = unassigned_reasons(problem, chosen, cp)
    _control.report("explain", 1.0)
    done = time.perf_counter()
    return AllocationResult(
        status=status, method="optimal", objective=obj_f, bound=bound_f,
        gap=max(bound_f - obj_f, 0.0) / max(abs(obj_f), 1.0),
        chosen_edges=chosen, candidate_place=cp, num_assigned=n,
        total_score=total_w / SCORE_SCALE, problem=problem, unassigned_reason=unassigned,
        violations=violations, infeasibility=list(reasons or []), stats=dict(outcome.stats),
        timings={**outcome.timings, **timings, "explain": done - t_expl, "total": done - t0},
        certificate=certificate,
        stopped_by=_stopped_by(control, status),
    )


def _violation_units(problem: AllocationProblem, violations: list[Violation]) -> Fraction:
    """Units the penalised objective charges: candidates for keys, persons (fractional) for
    floors."""
    units = Fraction(0)
    for v in violations:
        if isinstance(v, DistrictViolation):
            units += v.by
        else:
            p, q = problem.floor_fractions[v.group]
            units += Fraction(p * v.assigned - q * v.got, q)
    return units
