"""What a solve returns: status, assignment, bound, violations, infeasibility reasons, explanations.

All records are frozen dataclasses with index fields (the core stays index-based) and a
``describe(problem)`` that renders plain English with the problem's optional names, e.g.
``DistrictShortage(district=3, needed=14, available=9).describe(problem)`` gives
"Angered needs 14, only 9 eligible candidates live there".
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matching.certificate import Certificate
    from matching.problem import AllocationProblem

__all__ = [
    "AllocationResult",
    "Assignment",
    "Competition",
    "DistrictExcess",
    "DistrictShortage",
    "DistrictViolation",
    "FloorShortfall",
    "FloorViolation",
    "FloorsJointlyInfeasible",
    "Infeasibility",
    "JointDistrictShortage",
    "Status",
    "Unassigned",
    "UnassignedReason",
    "Violation",
]


class Status(enum.Enum):
    """Outcome of a solve."""

    OPTIMAL = "optimal"
    """Proven optimal: ``bound == objective`` (gap 0)."""
    FEASIBLE = "feasible"
    """The time limit stopped the search; the assignment meets every rule, ``gap`` is proven."""
    INFEASIBLE = "infeasible"
    """The rules cannot all be met; ``infeasibility`` says which and by how much."""
    UNKNOWN = "unknown"
    """The time limit stopped the search before any assignment meeting the rules was found."""
    HEURISTIC = "heuristic"
    """A baseline method: no optimality claim; ``violations`` lists the rules it did not meet."""


# ------------------------------------------------------------------ infeasibility reasons
@dataclass(frozen=True)
class DistrictShortage:
    """A district's lower bound cannot be met.

    ``available`` counts the eligible candidates who live in the district (a non-forbidden pair
    or a pin); ``placeable`` is the most of them the places within their reach can take
    (``None`` when not computed because ``available`` already explains the shortage).
    """

    district: int
    needed: int
    available: int
    placeable: int | None = None

    def describe(self, problem: AllocationProblem | None = None) -> str:
        name = _district(problem, self.district)
        if self.available < self.needed:
            return f"{name} needs {self.needed}, only {self.available} eligible candidates live there"
        return (
            f"{name} needs {self.needed}; {self.available} eligible candidates live there but the "
            f"places within their reach can take at most {self.placeable} of them"
        )


@dataclass(frozen=True)
class DistrictExcess:
    """More candidates of a district are pinned than its upper bound allows."""

    district: int
    upper: int
    pinned: int

    def describe(self, problem: AllocationProblem | None = None) -> str:
        name = _district(problem, self.district)
        return f"{name} allows at most {self.upper}, but {self.pinned} of its candidates are pinned"


@dataclass(frozen=True)
class JointDistrictShortage:
    """Each lower bound can be met alone, but not all together (they compete for places).

    ``shortfall`` lists, per district, how many placements the best compromise misses; its sum
    is the least total shortfall any assignment achieves.
    """

    districts: tuple[int, ...]
    shortfall: tuple[int, ...]

    def describe(self, problem: AllocationProblem | None = None) -> str:
        parts = ", ".join(
            f"{_district(problem, d)} short by {s}" for d, s in zip(self.districts, self.shortfall,
                                                                    strict=True)
        )
        return (
            f"the district lower bounds compete for the same places and cannot all be met: "
            f"at least {sum(self.shortfall)} placements short in all ({parts})"
        )


@dataclass(frozen=True)
class FloorShortfall:
    """A priority-group floor cannot be met under the keys and pins.

    ``max_share`` is the largest share of the group any assignment meeting the keys and pins
    reaches.
    """

    group: int
    floor: float
    max_share: float

    def describe(self, problem: AllocationProblem | None = None) -> str:
        name = _group(problem, self.group)
        return (
            f"{name} must be at least {100 * self.floor:.1f} % of the assigned, but at most "
            f"{100 * self.max_share:.1f} % is achievable under the keys and pinned placements"
        )


@dataclass(frozen=True)
class FloorsJointlyInfeasible:
    """Each floor can be met alone, but not all of them together with the keys and pins."""

    groups: tuple[int, ...]

    def describe(self, problem: AllocationProblem | None = None) -> str:
        names = ", ".join(_group(problem, g) for g in self.groups)
        return f"the floors of {names} can each be met alone but not together with the keys"


Infeasibility = (
    DistrictShortage | DistrictExcess | JointDistrictShortage | FloorShortfall
    | FloorsJointlyInfeasible
)


# ------------------------------------------------------------------ violations
@dataclass(frozen=True)
class DistrictViolation:
    """A district's count lies outside its bounds by ``by`` candidates."""

    district: int
    lower: int
    upper: int
    got: int

    @property
    def by(self) -> int:
        return max(self.lower - self.got, self.got - self.upper, 0)

    def describe(self, problem: AllocationProblem | None = None) -> str:
        name = _district(problem, self.district)
        if self.got < self.lower:
            return f"{name} needs {self.lower}, got {self.got} (short by {self.by})"
        return f"{name} allows at most {self.upper}, got {self.got} ({self.by} over)"


@dataclass(frozen=True)
class FloorViolation:
    """A group's share is below its floor: ``got`` of ``assigned`` count for the group,
    ``needed = ceil(floor * assigned)``."""

    group: int
    floor: float
    assigned: int
    got: int
    needed: int

    @property
    def by(self) -> int:
        return max(self.needed - self.got, 0)

    def describe(self, problem: AllocationProblem | None = None) -> str:
        name = _group(problem, self.group)
        share = self.got / self.assigned if self.assigned else 0.0
        return (
            f"{name} needs {self.needed} of {self.assigned} assigned ({100 * self.floor:.1f} %), "
            f"got {self.got} ({100 * share:.1f} %), short by {self.by}"
        )


Violation = DistrictViolation | FloorViolation


# ------------------------------------------------------------------ explanations
class UnassignedReason(enum.IntEnum):
    """Why a candidate was left unassigned (codes in ``AllocationResult.unassigned_reason``)."""

    ASSIGNED = 0
    NO_ELIGIBLE_PLACE = 1
    """No eligible, non-forbidden place within reach."""
    DISTRICT_UPPER_BOUND_REACHED = 2
    """The home district's upper bound is reached."""
    OUTSCORED = 3
    """Every place in reach is full with others chosen instead."""
    CONSTRAINED = 4
    """A place in reach has a free slot, but taking it would break a floor or key or would not
    raise the objective (a score <= 0 in score mode)."""


@dataclass(frozen=True)
class Competition:
    """One place in an unassigned candidate's reach, and who holds it.

    ``rival_candidate`` is the lowest-scored candidate assigned there (``-1`` if nobody or the
    place has a free slot); ``difference`` is ``rival_score - own_score``.
    """

    place: int
    edge: int
    own_score: float
    rival_candidate: int
    rival_score: float
    free_slots: int

    @property
    def difference(self) -> float:
        return self.rival_score - self.own_score if self.rival_candidate >= 0 else math.nan

    def describe(self, problem: AllocationProblem | None = None) -> str:
        if self.free_slots > 0:
            return f"place {self.place} has {self.free_slots} free slot(s) (own score {self.own_score:g})"
        if self.rival_candidate < 0:
            return f"place {self.place} has no slots"
        return (
            f"place {self.place}: own score {self.own_score:g}, lowest chosen there is candidate "
            f"{self.rival_candidate} with {self.rival_score:g} ({self.difference:+.3f})"
        )


@dataclass(frozen=True)
class Assignment:
    """Why a candidate got their place: the pair chosen (the caller maps the edge to its score
    terms), its score, and whether it was pinned."""

    candidate: int
    place: int
    edge: int
    score: float
    pinned: bool

    def describe(self, problem: AllocationProblem | None = None) -> str:
        how = "pinned (already agreed)" if self.pinned else f"score {self.score:g}"
        return f"candidate {self.candidate} -> place {self.place} ({how})"


@dataclass(frozen=True)
class Unassigned:
    """Why a candidate got no place, with every place in reach and who holds it."""

    candidate: int
    reason: UnassignedReason
    district: int
    competitions: tuple[Competition, ...] = ()

    def describe(self, problem: AllocationProblem | None = None) -> str:
        c = f"candidate {self.candidate}"
        if self.reason is UnassignedReason.NO_ELIGIBLE_PLACE:
            return f"{c}: no eligible place within reach"
        if self.reason is UnassignedReason.DISTRICT_UPPER_BOUND_REACHED:
            return f"{c}: {_district(problem, self.district)} has reached its upper bound"
        head = (
            f"{c}: outscored at every place in reach"
            if self.reason is UnassignedReason.OUTSCORED
            else f"{c}: a place in reach has room, but the floors/keys or the objective "
                 f"do not allow taking it"
        )
        return head + "".join(f"\n  - {x.describe(problem)}" for x in self.competitions)


# ------------------------------------------------------------------ the result
@dataclass(frozen=True, eq=False)
class AllocationResult:
    """The outcome of :func:`matching.solve`, built once and never changed (frozen: its fields
    cannot be reassigned; the explanations' lookup tables are derived on first use).

    Attributes
    ----------
    status
        See :class:`Status`.
    method
        ``"optimal"`` or the baseline's name.
    objective
        The solver's objective in score units: total score of the chosen pairs minus
        ``violation_penalty`` per unit of violation (penalised mode). In ``max_placed`` mode the
        objective is the total score among the assignments with the most people placed.
    bound
        Proven upper bound on the objective (``nan`` for baselines).
    gap
        ``(bound - objective) / max(|objective|, 1)``; 0 when optimal.
    chosen_edges
        int64: indices into the edge arrays, ascending.
    candidate_place
        int32 (C,): place of each candidate, -1 if unassigned.
    num_assigned
        Number of assigned candidates (pinned included).
    total_score
        Sum of the chosen pairs' scores (rounded to 1/SCORE_SCALE as the solver sees them).
    violations
        Violated keys and floors (penalised mode and baselines); empty otherwise.
    infeasibility
        Structured reasons when ``status`` is ``INFEASIBLE`` (and in penalised mode, the reasons
        that made penalties necessary).
    constraints_ignored
        Rules the method does not enforce (baselines), e.g. ``("district_lower", "floors")``.
    timings
        Seconds per phase.
    stats
        Solver statistics (iterations, core size, exact-model size, ...).
    stopped_by
        ``"time_limit"`` or ``"cancel"`` (``SolveParams.should_stop``) when the search was cut
        short (status ``FEASIBLE`` or ``UNKNOWN``), else ``None``.
    unassigned_reason
        int8 (C,): an :class:`UnassignedReason` code per candidate (0 = assigned), from
        :func:`unassigned_reasons` when the result is built.
    certificate
        The dual prices proving ``bound`` (:class:`matching.Certificate`), checkable without
        the solver and able to price pairs outside the round; ``None`` for baselines and for
        results without an assignment.
    """

    status: Status
    method: str
    objective: float
    bound: float
    gap: float
    chosen_edges: npt.NDArray[np.int64]
    candidate_place: npt.NDArray[np.int32]
    num_assigned: int
    total_score: float
    problem: AllocationProblem = field(repr=False)
    unassigned_reason: npt.NDArray[np.int8] = field(repr=False)
    violations: list[Violation] = field(default_factory=list)
    infeasibility: list[Infeasibility] = field(default_factory=list)
    constraints_ignored: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    certificate: Certificate | None = None
    stopped_by: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for array in (self.chosen_edges, self.candidate_place, self.unassigned_reason):
            array.flags.writeable = False

    # --------------------------------------------------------------- explanations

    def explain(self, candidate: int) -> Assignment | Unassigned:
        """Explain one candidate's outcome.

        Parameters
        ----------
        candidate
            Candidate index.

        Returns
        -------
        Assignment | Unassigned
            The chosen pair, or the reason with every place in reach and its lowest-scored
            assigned candidate.
        """
        p = self.problem
        place = int(self.candidate_place[candidate])
        if place >= 0:
            edge = int(self._edge_of_candidate()[candidate])
            pinned = bool(np.isin(edge, p.pins))
            return Assignment(candidate, place, edge, _score(p, edge), pinned)
        reason = UnassignedReason(int(self.unassigned_reason[candidate]))
        comps: list[Competition] = []
        if reason in (UnassignedReason.OUTSCORED, UnassignedReason.CONSTRAINED,
                      UnassignedReason.DISTRICT_UPPER_BOUND_REACHED):
            low_cand, low_score, used = self._place_lowest()
            start, order = self._candidate_index()
            edges = order[start[candidate] : start[candidate + 1]]
            for e in edges.tolist():
                if p.forbidden[e]:
                    continue
                q = int(p.edge_place[e])
                free = int(p.place_slots[q] - used[q])
                comps.append(Competition(q, e, _score(p, e), int(low_cand[q]) if free <= 0 else -1,
                                         float(low_score[q]) if free <= 0 else math.nan, free))
        return Unassigned(candidate, reason, int(p.candidate_district[candidate]), tuple(comps))

    def explanations(self) -> Iterator[Assignment | Unassigned]:
        """Explain every candidate in index order (lazily; a region has many)."""
        for c in range(self.problem.num_candidates):
            yield self.explain(c)

    def describe(self) -> str:
        """A short plain-English summary of the result."""
        p = self.problem
        lines = [
            f"{self.method}: {self.status.value}, {self.num_assigned} of {p.num_candidates} "
            f"candidates placed, objective {self.objective:.3f}"
            + ("" if math.isnan(self.bound) else f", bound {self.bound:.3f}, gap {self.gap:.2e}")
        ]
        lines += [f"  cannot be met: {r.describe(p)}" for r in self.infeasibility]
        lines += [f"  violated: {v.describe(p)}" for v in self.violations]
        if self.constraints_ignored:
            lines.append(f"  not enforced by this method: {', '.join(self.constraints_ignored)}")
        return "\n".join(lines)

    # --------------------------------------------------------------- helpers
    def _edge_of_candidate(self) -> npt.NDArray[np.int64]:
        if "edge_of" not in self._cache:
            e = np.full(self.problem.num_candidates, -1, np.int64)
            e[self.problem.edge_candidate[self.chosen_edges]] = self.chosen_edges
            self._cache["edge_of"] = e
        out: npt.NDArray[np.int64] = self._cache["edge_of"]
        return out

    def _candidate_index(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        key = "cand_index"
        if key not in self._cache:
            ec = self.problem.edge_candidate
            order = np.argsort(ec, kind="stable")
            start = np.searchsorted(ec[order], np.arange(self.problem.num_candidates + 1))
            self._cache[key] = (start, order)
        out: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] = self._cache[key]
        return out

    def _place_lowest(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64],
                                     npt.NDArray[np.int64]]:
        key = "place_lowest"
        if key not in self._cache:
            p = self.problem
            ch = self.chosen_edges
            places = p.edge_place[ch]
            scores = p.scaled_score[ch]
            # Lowest score first within each place; ties broken by candidate index (determinism).
            order = np.lexsort((p.edge_candidate[ch], scores, places))
            low_cand = np.full(p.num_places, -1, np.int64)
            low_score = np.full(p.num_places, math.nan)
            sp = places[order]
            first = np.ones(sp.size, bool)
            first[1:] = sp[1:] != sp[:-1]
            sel = order[first]
            low_cand[places[sel]] = p.edge_candidate[ch[sel]]
            low_score[places[sel]] = p.edge_score[ch[sel]]
            used = np.bincount(places, minlength=p.num_places).astype(np.int64)
            self._cache[key] = (low_cand, low_score, used)
        out: tuple[Any, Any, Any] = self._cache[key]
        return out


def unassigned_reasons(p: AllocationProblem, chosen_edges: npt.NDArray[np.int64],
                       candidate_place: npt.NDArray[np.int32]) -> npt.NDArray[np.int8]:
    """int8 (C,): why each candidate of an assignment is unassigned (0 = assigned)."""
    out = np.zeros(p.num_candidates, np.int8)
    ok = ~p.forbidden
    ec, ep = p.edge_candidate[ok], p.edge_place[ok]
    has_edge = np.zeros(p.num_candidates, bool)
    has_edge[ec] = True
    unassigned = candidate_place < 0
    assigned_per_district = np.bincount(
        p.candidate_district[~unassigned], minlength=p.num_districts
    )
    district_full = assigned_per_district >= p.district_upper
    used = np.bincount(p.edge_place[chosen_edges], minlength=p.num_places)
    place_has_room = used < p.place_slots
    room_in_reach = np.zeros(p.num_candidates, bool)
    room_in_reach[ec[place_has_room[ep]]] = True
    out[unassigned] = UnassignedReason.CONSTRAINED
    out[unassigned & ~room_in_reach] = UnassignedReason.OUTSCORED
    out[unassigned & district_full[p.candidate_district]] = (
        UnassignedReason.DISTRICT_UPPER_BOUND_REACHED
    )
    out[unassigned & ~has_edge] = UnassignedReason.NO_ELIGIBLE_PLACE
    return out


def _score(p: AllocationProblem, edge: int) -> float:
    return float(p.scaled_score[edge]) / _scale()


def _scale() -> int:
    from matching.problem import SCORE_SCALE

    return SCORE_SCALE


def _district(problem: AllocationProblem | None, d: int) -> str:
    return problem.district_name(d) if problem is not None else f"district {d}"


def _group(problem: AllocationProblem | None, g: int) -> str:
    return problem.group_name(g) if problem is not None else f"group {g}"
