"""Phase 3, repair: assignments meeting every floor, made from the flows the search met.

The Lagrangian flows sit on both sides of the floors: one misses a few people of a group, the next
over-fills it. :func:`improve` repairs each flow missing a floor towards the flows meeting them
(the best few of each; when none meets them, towards flows doing better on a floor it misses), and
polishes the best result against the best flows; each repair is the exact best combination of the
two flows' cycles (:mod:`matching._repair`). :func:`primal_value` is the exact objective of an
assignment and whether it meets the hard rules.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from matching import _control, _repair
from matching._exact import keys
from matching._exact import params as _params
from matching._exact.params import ExactParams
from matching._exact.prepare import Prepared
from matching._exact.state import Incumbent
from matching._exact.types import I64, BoolArray
from matching.exceptions import SolverError

logger = logging.getLogger(__name__)

Scored = tuple[Fraction, BoolArray]


def primal_value(prep: Prepared, x_active: BoolArray) -> tuple[Fraction, bool]:
    """Exact combined objective (w-units) of the free assignment ``x_active`` and whether it
    meets every hard rule. Pins are included."""
    sel = np.flatnonzero(x_active)
    value = Fraction(int(prep.weight[sel].sum()) + prep.pin_score_w + prep.big_m * prep.num_pins)
    cost, ok = keys.rule_value(prep, sel)
    return value - cost, ok


def model_assignment(prep: Prepared, free: I64, x_free: I64 | BoolArray, fixed1: I64) -> Scored:
    """The assignment an exact model chose, over the active pairs: its free pairs ``free[x_free]``
    and the pairs it held at 1 (``fixed1``), with its exact value (w-units). An answer that breaks
    a hard rule is the solver's error, never an assignment."""
    x_act = np.zeros(prep.edges.size, bool)
    x_act[free[x_free]] = True
    x_act[fixed1] = True
    found, ok = primal_value(prep, x_act)
    if not ok:
        raise SolverError("the exact model returned an assignment that breaks a rule")
    return found, x_act


def _digest(x: BoolArray) -> bytes:
    """A short fingerprint of an assignment (its bits would be 1.9 MB at 15M pairs)."""
    return hashlib.blake2b(np.packbits(x).tobytes(), digest_size=16).digest()


@dataclass
class _Repairs:
    """One call of :func:`improve`: the best so far and the pairs of assignments repaired."""

    prep: Prepared
    deadline: float
    enough: Fraction | None
    done: set[tuple[bytes, bytes]]
    best: Scored | None
    prints: dict[int, tuple[BoolArray, bytes]] = field(default_factory=dict)

    def reached(self) -> bool:
        return self.best is not None and self.enough is not None and self.best[0] >= self.enough

    def fingerprint(self, x: BoolArray) -> bytes:
        if id(x) not in self.prints:  # the array is kept with its print: its id stays its own
            self.prints[id(x)] = (x, _digest(x))
        return self.prints[id(x)][1]

    def first_time(self, x0: BoolArray, x1: BoolArray) -> bool:
        # The same pair twice gives the same result (the incumbent is often the best flow met).
        key = (self.fingerprint(x0), self.fingerprint(x1))
        if key in self.done:
            return False
        self.done.add(key)
        return True

    def attempt(self, x0: BoolArray, x1: BoolArray) -> bool:
        """Repair ``x0`` towards ``x1``; whether that improved the best."""
        y = _repair.repair(self.prep, x0, x1, self.deadline)
        if y is None:
            return False
        value, ok = primal_value(self.prep, y)
        if ok and (self.best is None or value > self.best[0]):
            self.best = (value, y)
            return True
        return False


def _scored(prep: Prepared, flows: list[I64]) -> tuple[list[Scored], list[Scored]]:
    """The distinct flows as assignments with their values: those meeting the floors, those
    missing one, each best first."""
    size = prep.edges.size
    unique: dict[bytes, I64] = {}
    for ix in flows:
        unique.setdefault(np.sort(ix).tobytes(), ix)
    met: list[Scored] = []
    missed: list[Scored] = []
    for ix in unique.values():
        x = np.zeros(size, bool)
        x[ix] = True
        value, ok = primal_value(prep, x)
        (met if ok else missed).append((value, x))
    met.sort(key=lambda t: -t[0])
    missed.sort(key=lambda t: -t[0])
    return met, missed


def _combine(run: _Repairs, met: list[Scored], missed: list[Scored], partners: list[Scored],
             num: int) -> bool:
    """Repair each flow missing a floor towards the partners; whether ``enough`` was reached."""
    slack = {id(x): _repair.floor_slack(run.prep, x) for _, x in missed[: 2 * num]}
    num_missed = len(missed[:num])
    for i_missed, (_, x0) in enumerate(missed[:num]):
        _control.report("repair", i_missed / (num_missed + 1))
        # Two flows that each miss a floor can still be repaired into one meeting them all when
        # they miss different floors (floors that barely bind: no flow meets them all).
        s0 = slack[id(x0)]
        others = [(v, x) for v, x in missed[: 2 * num]
                  if not met and x is not x0
                  and (slack[id(x)][s0 < 0] > s0[s0 < 0]).any()][:num]
        for _, x1 in partners + others:
            if run.reached():
                return True
            if run.first_time(x0, x1):
                run.attempt(x0, x1)
    return False


def _polish(run: _Repairs, candidates: list[Scored], num_missed: int, rounds: int) -> None:
    """Move the best towards any of ``candidates`` while keeping the floors."""
    for i in range(rounds):
        _control.report("repair", 1.0 - 1.0 / (num_missed + 1) / (i + 1))
        improved = False
        for _, x in candidates:
            assert run.best is not None
            if run.reached():
                return
            if np.array_equal(run.best[1], x) or not run.first_time(run.best[1], x):
                continue
            improved = run.attempt(run.best[1], x) or improved
        assert run.best is not None
        logger.debug("repair: polished to %s", float(run.best[0]))
        if not improved:
            break


def improve(prep: Prepared, flows: list[I64], incumbent: Scored | None, deadline: float,
            enough: Fraction | None = None, memo: set[tuple[bytes, bytes]] | None = None,
            params: ExactParams | None = None) -> Incumbent | None:
    """The best assignment the primal repair finds among ``flows`` and the incumbent.

    Each flow missing a floor is repaired towards each flow meeting them (the best few of
    each) and, when none of ``flows`` meets them, towards the flows doing better on a floor it
    misses; then the best assignment is polished against the best flows. See
    ``matching._repair``. Stops as soon as an assignment is worth ``enough`` (w-units).
    ``memo`` holds the pairs repaired by earlier calls (a repair depends on its two assignments
    only, and its result was offered then): they are not repaired again.
    """
    if prep.penalty_w is not None or not prep.num_groups:
        return None if incumbent is None else Incumbent(*incumbent)
    params = params or _params.current()
    num = params.repair_partners
    met, missed = _scored(prep, flows)
    best = incumbent
    if met and (best is None or met[0][0] > best[0]):
        best = met[0]
    partners = met[:num]
    if incumbent is not None and not any(np.array_equal(incumbent[1], x) for _, x in partners):
        partners.append(incumbent)
    run = _Repairs(prep, deadline, enough, set() if memo is None else memo, best)
    if _combine(run, met, missed, partners, num):
        assert run.best is not None
        return Incumbent(*run.best)
    logger.debug("repair: %d flows (%d meet the floors), best met %s, repaired %s",
                 len(met) + len(missed), len(met), float(met[0][0]) if met else None,
                 None if run.best is None else float(run.best[0]))
    if run.best is None:
        return None
    _polish(run, (missed + met)[: 2 * num], len(missed[:num]), params.polish_rounds)
    return Incumbent(*run.best)
