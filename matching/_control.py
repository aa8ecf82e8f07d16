"""Progress reports and cancellation of one solve, reachable from every phase of the method.

:func:`matching.solve` opens a :func:`controlled` block holding the caller's ``progress`` and
``should_stop`` callbacks (:class:`matching.SolveParams`). The phases below it do not pass them
around: they ask :func:`out_of_time` instead of comparing the clock with their deadline, take
:func:`remaining` as the time limit of a solver call, and call :func:`report` with their real
fraction done. A context variable keeps concurrent solves (threads of a server) apart.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

ProgressFn = Callable[[str, float], None]
StopFn = Callable[[], bool]

_MIN_REPORT_STEP = 0.01  # a phase's fraction is reported when it grew this much (or reached 1)


@dataclass
class Control:
    """The callbacks of one solve and what they said so far."""

    progress: ProgressFn | None = None
    should_stop: StopFn | None = None
    stopped: bool = False
    _last: dict[str, float] = field(default_factory=dict)

    def stop_requested(self) -> bool:
        if not self.stopped and self.should_stop is not None and self.should_stop():
            self.stopped = True
            logger.info("solve asked to stop")
        return self.stopped

    def report(self, phase: str, fraction: float) -> None:
        if self.progress is None:
            return
        fraction = min(max(float(fraction), 0.0), 1.0)
        last = self._last.get(phase)
        if last is not None and fraction < last + _MIN_REPORT_STEP and not (
                fraction == 1.0 and last < 1.0):
            return
        self._last[phase] = fraction if last is None else max(fraction, last)
        self.progress(phase, self._last[phase])


_current: contextvars.ContextVar[Control | None] = contextvars.ContextVar("matching_control",
                                                                          default=None)


@contextlib.contextmanager
def controlled(progress: ProgressFn | None, should_stop: StopFn | None) -> Iterator[Control]:
    """Make ``progress`` and ``should_stop`` the current solve's callbacks."""
    control = Control(progress, should_stop)
    token = _current.set(control)
    try:
        yield control
    finally:
        _current.reset(token)


def stop_requested() -> bool:
    """Whether the caller asked the current solve to stop (polls ``should_stop``)."""
    control = _current.get()
    return control is not None and control.stop_requested()


def out_of_time(deadline: float) -> bool:
    """The deadline passed, or the caller asked to stop."""
    return time.perf_counter() > deadline or stop_requested()


def remaining(deadline: float) -> float:
    """Seconds left before ``deadline``; 0 once the caller asked to stop."""
    if stop_requested():
        return 0.0
    return deadline - time.perf_counter()


def report(phase: str, fraction: float) -> None:
    """Report ``fraction`` (0..1) of ``phase`` done to the current solve's ``progress``."""
    control = _current.get()
    if control is not None:
        control.report(phase, fraction)
