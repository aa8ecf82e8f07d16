"""Exceptions raised by the scoring package.

Hierarchy::

    ScoringError
    ├── PolicyError            a policy file is missing, unreadable or invalid (lists every problem)
    ├── RegionValidationError  a region's tables break the schema (lists every problem)
    ├── RoundSetupError        an allocation round's pins, forbidden pairs or keys do not fit the data
    ├── PoolPolicyMismatchError a shortlist asked with a policy the pool was not built for
    ├── UnknownEntityError     an id (place, candidate, district) is not in the loaded data
    ├── FollowUpPeriodError    a follow-up asked for a period the data do not cover
    └── OutcomeModelRefusedError an outcome model the policy does not allow (a group's calibration)

Each carries enough structure for the service to map it to a 4xx answer without parsing messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in input data: where it is and what is wrong.

    ``row`` is 1-based as a spreadsheet user counts data rows (the header is not counted);
    ``None`` where the problem concerns a whole file or column.
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    reason: str

    def describe(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        value = "" if self.value is None else f" (value {self.value!r})"
        return f"{where}{value}: {self.reason}"


class ScoringError(Exception):
    """Base class of every error raised by :mod:`scoring`."""


class _ProblemsError(ScoringError):
    def __init__(self, problems: Sequence[Problem], what: str) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        shown = "\n".join(f"  - {p.describe()}" for p in self.problems[:50])
        more = len(self.problems) - 50
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"{what}: {len(self.problems)} problem(s)\n{shown}{tail}")


class PolicyError(_ProblemsError):
    """A policy file is missing, unreadable or invalid."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(problems, "invalid policy")


class RegionValidationError(_ProblemsError):
    """A region's tables do not pass validation; nothing was loaded."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(problems, "invalid region data")


class RoundSetupError(_ProblemsError):
    """An allocation round cannot be set up: unknown ids in pins or forbidden pairs, keys naming
    districts the region lacks. (A round whose rules cannot be met is a result status, not this.)"""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(problems, "the round cannot be set up")


class UnknownEntityError(ScoringError, KeyError):
    """An id that is not in the loaded data."""

    def __init__(self, kind: str, entity_id: str) -> None:
        self.kind = kind
        self.entity_id = entity_id
        super().__init__(f"unknown {kind} {entity_id!r}")

    def __str__(self) -> str:  # KeyError would quote the message
        return f"unknown {self.kind} {self.entity_id!r}"


class PoolPolicyMismatchError(ScoringError):
    """A candidate pool built for one policy's priority groups is queried with another policy.

    The pool precomputes group membership (enabled groups, youth age, registration thresholds,
    gender-norm threshold) when it is built; rebuild it with :func:`scoring.pool.build_pool`.
    """

    def __init__(self, built_for: str, asked_for: str) -> None:
        self.built_for = built_for
        self.asked_for = asked_for
        super().__init__(
            f"the candidate pool was built for policy {built_for!r}, whose priority groups differ "
            f"from policy {asked_for!r}: rebuild the pool with that policy"
        )


class FollowUpPeriodError(ScoringError):
    """A follow-up asked for a period the data do not cover (a year before the first record or after
    the data's last day), or read on a day after it. ``field`` names what to change (``year``,
    ``as_of``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class OutcomeModelRefusedError(ScoringError):
    """An outcome model the policy in force does not allow: a priority group's calibration error is
    above ``policy.outcome_model.max_group_calibration_error``, or a group has too few evaluation
    outcomes to judge it (:func:`scoring.outcome_model.require_usable`). ``problems`` names each."""

    def __init__(self, version: str, policy_id: str, problems: Sequence[str]) -> None:
        self.version = version
        self.policy_id = policy_id
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__(
            f"outcome model {version} is refused by policy {policy_id!r}: " + "; ".join(problems))
