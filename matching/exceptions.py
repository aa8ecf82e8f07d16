"""Exceptions raised by the matching package.

Hierarchy::

    MatchingError
    ├── ProblemError      the arrays of an allocation round are inconsistent (lists every problem)
    ├── ParamsError       a SolveParams value is out of range
    └── SolverError       OR-Tools or HiGHS failed in a way that is a bug, not a property of the
                          round (overflowing costs, an unexpected status)

An allocation round that cannot meet its rules is *not* an exception: :func:`matching.solve`
returns a result with status ``INFEASIBLE`` and structured reasons (STYLE.md: "No feasible
assignment" is a result status with a reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ProblemIssue:
    """One problem found in the arrays of a round.

    Attributes
    ----------
    field
        The array or scalar concerned, e.g. ``"edge_place"``.
    index
        Position inside that array, or ``None`` when the whole field is concerned.
    value
        The offending value, rendered as text, or ``None``.
    reason
        What is wrong, in plain English.
    """

    field: str
    index: int | None
    value: str | None
    reason: str

    def describe(self) -> str:
        """Render the problem as one line of plain English."""
        where = self.field if self.index is None else f"{self.field}[{self.index}]"
        value = "" if self.value is None else f" (value {self.value})"
        return f"{where}{value}: {self.reason}"


class MatchingError(Exception):
    """Base class of every error raised by :mod:`matching`."""


class ProblemError(MatchingError, ValueError):
    """The arrays of an allocation round are inconsistent; every problem found is listed.

    Parameters
    ----------
    issues
        All problems found, in the order they were checked.
    """

    def __init__(self, issues: Sequence[ProblemIssue]) -> None:
        self.issues: tuple[ProblemIssue, ...] = tuple(issues)
        shown = "\n".join(f"  - {p.describe()}" for p in self.issues[:50])
        more = len(self.issues) - 50
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"invalid allocation problem: {len(self.issues)} problem(s)\n{shown}{tail}")


class SolverError(MatchingError, RuntimeError):
    """A solver failed in a way that indicates a bug rather than a property of the round."""


class ParamsError(MatchingError, ValueError):
    """A :class:`matching.SolveParams` value is out of range."""
