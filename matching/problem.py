"""The data of one allocation round: flat, immutable arrays indexed by position.

Candidates, places, districts and groups are positions ``0..n-1``; ids are mapped by the caller
(STYLE.md: objects become index arrays at the boundary). The feasible candidate–place pairs are a
sparse edge list, because a region has far too many pairs for a dense matrix.

Scores are floats in score units (0..100-ish, three decimals meaningful). The solvers need
integers, so every score is scaled once by :data:`SCORE_SCALE` and rounded; objectives and bounds
are reported back in score units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from matching.exceptions import ProblemError, ProblemIssue

__all__ = [
    "FLOOR_DENOMINATOR_LIMIT",
    "MAX_ABS_SCORE",
    "MAX_GROUPS",
    "SCORE_SCALE",
    "AllocationProblem",
    "build_problem",
]

SCORE_SCALE: int = 1000
"""Scores are multiplied by this and rounded to integers before solving (3 decimals kept)."""

MAX_GROUPS: int = 32
"""``edge_groups`` is a uint32 bitmask, so at most 32 priority groups."""

MAX_ABS_SCORE: float = 1.0e6
"""Scores beyond this would risk int64 overflow in the scaled network costs."""

FLOOR_DENOMINATOR_LIMIT: int = 10_000
"""Floors are read as fractions with a denominator at most this (0.3 is 3/10), so that the floor
constraint ``q·count_g - p·assigned >= 0`` is exact in integer arithmetic."""

_SHOWN_PER_CHECK = 5  # offending indices listed per check; the count says how many in all

IntArray = npt.NDArray[np.int32]


@dataclass(frozen=True, eq=False)
class AllocationProblem:
    """One allocation round: candidates, places with slots, feasible pairs and the round's rules.

    Build it with :func:`build_problem` (which converts lists and dtypes) or directly from arrays of
    the right dtypes. Validation runs in ``__post_init__`` and raises :class:`ProblemError`
    listing every problem at once. Arrays are stored as read-only views (no copy).

    Parameters
    ----------
    num_candidates, num_places, num_districts, num_groups
        Sizes C, P, D and G (G at most 32).
    edge_candidate, edge_place
        int32 arrays, shape (E,): the feasible (eligible) candidate–place pairs.
    edge_score
        float64, shape (E,): the score of each pair in score units (higher is better).
    place_slots
        int32, shape (P,): how many candidates each place can take.
    candidate_district
        int32, shape (C,): the candidate's home district; distribution keys count by it.
    district_lower, district_upper
        int32, shape (D,): absolute bounds on the number of assigned candidates per district
        (the caller turns a policy's key shares and tolerance into these numbers).
    edge_groups
        uint32, shape (E,): bit ``g`` set means the pair counts for priority group ``g``.
        Per pair because gender-norm breaking depends on the candidate and the place
        (DOMAIN.md); candidate-level groups are copied onto every pair of the candidate.
    group_floor
        float64, shape (G,): minimum share (0..1) of the assigned pairs that must count for
        group ``g``: ``sum_{e in g} x_e >= floor_g * sum_e x_e``. Read as a fraction with a
        denominator at most :data:`FLOOR_DENOMINATOR_LIMIT`.
    edge_forbidden
        bool, shape (E,), or ``None`` (no pair forbidden): pairs that must not be chosen.
    pinned_edges
        int64 edge indices that must be chosen (already agreed placements), or ``None``.
    edge_preference
        float64, shape (E,), or ``None``: the candidate's own preference for the pair (higher is
        preferred), used by the serial-dictatorship and deferred-acceptance baselines.
        Defaults to the score.
    district_names, group_names
        Optional names, used only to render messages.
    """

    num_candidates: int
    num_places: int
    num_districts: int
    num_groups: int
    edge_candidate: IntArray
    edge_place: IntArray
    edge_score: npt.NDArray[np.float64]
    place_slots: IntArray
    candidate_district: IntArray
    district_lower: IntArray
    district_upper: IntArray
    edge_groups: npt.NDArray[np.uint32]
    group_floor: npt.NDArray[np.float64]
    edge_forbidden: npt.NDArray[np.bool_] | None = None
    pinned_edges: npt.NDArray[np.int64] | None = None
    edge_preference: npt.NDArray[np.float64] | None = None
    district_names: tuple[str, ...] | None = None
    group_names: tuple[str, ...] | None = None
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        issues: list[ProblemIssue] = []
        _validate(self, issues)
        if issues:
            raise ProblemError(issues)

    # ------------------------------------------------------------------ derived data
    @property
    def num_edges(self) -> int:
        """Number of pairs E."""
        return int(self.edge_candidate.shape[0])

    @property
    def forbidden(self) -> npt.NDArray[np.bool_]:
        """bool (E,): the forbidden mask, all ``False`` when none was given."""
        if self.edge_forbidden is None:
            return self._cached("forbidden", lambda: _readonly(np.zeros(self.num_edges, bool)))
        return self.edge_forbidden

    @property
    def pins(self) -> npt.NDArray[np.int64]:
        """int64: the pinned edge indices (possibly empty)."""
        if self.pinned_edges is None:
            return self._cached("pins", lambda: _readonly(np.zeros(0, np.int64)))
        return self.pinned_edges

    @property
    def preference(self) -> npt.NDArray[np.float64]:
        """float64 (E,): the candidates' preference, the score when none was given."""
        return self.edge_score if self.edge_preference is None else self.edge_preference

    @property
    def scaled_score(self) -> npt.NDArray[np.int64]:
        """int64 (E,): ``round(edge_score * SCORE_SCALE)``, the integers the solvers use."""
        return self._cached(
            "scaled", lambda: _readonly(np.rint(self.edge_score * SCORE_SCALE).astype(np.int64))
        )

    @property
    def floor_fractions(self) -> tuple[tuple[int, int], ...]:
        """Each floor as ``(p, q)`` with ``floor = p/q``, ``q <= FLOOR_DENOMINATOR_LIMIT``."""

        def make() -> tuple[tuple[int, int], ...]:
            out = []
            for f in self.group_floor.tolist():
                fr = Fraction(f).limit_denominator(FLOOR_DENOMINATOR_LIMIT)
                out.append((fr.numerator, fr.denominator))
            return tuple(out)

        return self._cached("floors", make)

    @property
    def pinned(self) -> PinnedTaken:
        """What the pins take before anything is chosen (computed once): see :class:`PinnedTaken`."""
        def make() -> PinnedTaken:
            pins = self.pins
            candidates = np.zeros(self.num_candidates, bool)
            candidates[self.edge_candidate[pins]] = True
            slots = self.place_slots.astype(np.int64) - np.bincount(self.edge_place[pins],
                                                                    minlength=self.num_places)
            per_district = np.bincount(self.candidate_district[self.edge_candidate[pins]],
                                       minlength=self.num_districts).astype(np.int64)
            return PinnedTaken(_readonly(candidates), _readonly(slots), _readonly(per_district))

        return self._cached("pinned", make)

    @property
    def active_groups(self) -> tuple[int, ...]:
        """Groups whose floor is positive (a zero floor constrains nothing)."""
        return tuple(g for g, (p, _) in enumerate(self.floor_fractions) if p > 0)

    def district_name(self, d: int) -> str:
        """Name of district ``d`` for messages (``"district 3"`` when unnamed)."""
        if self.district_names is not None:
            return self.district_names[d]
        return f"district {d}"

    def group_name(self, g: int) -> str:
        """Name of group ``g`` for messages (``"group 1"`` when unnamed)."""
        if self.group_names is not None:
            return self.group_names[g]
        return f"group {g}"

    def _cached(self, key: str, make: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


@dataclass(frozen=True)
class PinnedTaken:
    """What a problem's pins take: ``candidates`` bool (C,) the pinned candidates; ``free_slots``
    int64 (P,) each place's slots less its pins (negative where pins overfill it); ``per_district``
    int64 (D,) pinned candidates per home district."""

    candidates: npt.NDArray[np.bool_]
    free_slots: npt.NDArray[np.int64]
    per_district: npt.NDArray[np.int64]


def build_problem(
    *,
    num_candidates: int,
    num_places: int,
    edge_candidate: npt.ArrayLike,
    edge_place: npt.ArrayLike,
    edge_score: npt.ArrayLike,
    place_slots: npt.ArrayLike,
    candidate_district: npt.ArrayLike | None = None,
    district_lower: npt.ArrayLike | None = None,
    district_upper: npt.ArrayLike | None = None,
    edge_groups: npt.ArrayLike | None = None,
    group_floor: npt.ArrayLike | None = None,
    edge_forbidden: npt.ArrayLike | None = None,
    pinned_edges: npt.ArrayLike | None = None,
    edge_preference: npt.ArrayLike | None = None,
    num_districts: int | None = None,
    num_groups: int | None = None,
    district_names: Sequence[str] | None = None,
    group_names: Sequence[str] | None = None,
) -> AllocationProblem:
    """Build an :class:`AllocationProblem` from array-likes, converting dtypes and filling defaults.

    Defaults: one district holding every candidate with bounds ``[0, C]``; no groups; nothing
    forbidden or pinned. Values that do not convert losslessly to the required dtype are reported
    with every other problem in one :class:`ProblemError`.

    Examples
    --------
    >>> p = build_problem(num_candidates=2, num_places=1, edge_candidate=[0, 1],
    ...                   edge_place=[0, 0], edge_score=[3.0, 5.0], place_slots=[1])
    >>> p.num_edges, p.num_districts, p.num_groups
    (2, 1, 0)
    """
    issues: list[ProblemIssue] = []
    ec = _convert(edge_candidate, np.int32, "edge_candidate", issues)
    e = int(ec.shape[0]) if ec.ndim == 1 else 0
    if candidate_district is None:
        num_districts = 1 if num_districts is None else num_districts
        candidate_district = np.zeros(num_candidates, np.int32)
    if num_districts is None:
        cd_tmp = np.asarray(candidate_district)
        num_districts = int(cd_tmp.max()) + 1 if cd_tmp.size else 0
    if district_lower is None:
        district_lower = np.zeros(num_districts, np.int32)
    if district_upper is None:
        district_upper = np.full(num_districts, num_candidates, np.int32)
    if group_floor is None:
        group_floor = np.zeros(0 if num_groups is None else num_groups, np.float64)
    gf = _convert(group_floor, np.float64, "group_floor", issues)
    if num_groups is None:
        num_groups = int(gf.shape[0]) if gf.ndim == 1 else 0
    if edge_groups is None:
        edge_groups = np.zeros(e, np.uint32)
    problem_arrays = {
        "edge_candidate": ec,
        "edge_place": _convert(edge_place, np.int32, "edge_place", issues),
        "edge_score": _convert(edge_score, np.float64, "edge_score", issues),
        "place_slots": _convert(place_slots, np.int32, "place_slots", issues),
        "candidate_district": _convert(candidate_district, np.int32, "candidate_district", issues),
        "district_lower": _convert(district_lower, np.int32, "district_lower", issues),
        "district_upper": _convert(district_upper, np.int32, "district_upper", issues),
        "edge_groups": _convert(edge_groups, np.uint32, "edge_groups", issues),
        "group_floor": gf,
    }
    forbidden = (
        None if edge_forbidden is None else _convert(edge_forbidden, np.bool_, "edge_forbidden",
                                                     issues)
    )
    pins = None if pinned_edges is None else _convert(pinned_edges, np.int64, "pinned_edges", issues)
    pref = (
        None if edge_preference is None
        else _convert(edge_preference, np.float64, "edge_preference", issues)
    )
    if issues:
        raise ProblemError(issues)
    return AllocationProblem(
        num_candidates=int(num_candidates),
        num_places=int(num_places),
        num_districts=int(num_districts),
        num_groups=int(num_groups),
        edge_forbidden=forbidden,
        pinned_edges=pins,
        edge_preference=pref,
        district_names=None if district_names is None else tuple(district_names),
        group_names=None if group_names is None else tuple(group_names),
        **problem_arrays,
    )


# ---------------------------------------------------------------------------------- helpers
def _readonly(a: Any) -> Any:
    v = a.view()
    v.flags.writeable = False
    return v


def _convert(value: npt.ArrayLike, dtype: Any, name: str, issues: list[ProblemIssue]) -> Any:
    """Convert losslessly to ``dtype``; on failure record an issue and return an empty array."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as exc:
        issues.append(ProblemIssue(name, None, None, f"not an array: {exc}"))
        return np.zeros(0, dtype)
    if a.dtype == dtype:
        return a
    if a.size == 0:
        return a.astype(dtype)
    kind = np.dtype(dtype).kind
    if kind == "b":
        if a.dtype.kind in "iu" and np.isin(a, (0, 1)).all():
            return a.astype(np.bool_)
    elif kind in "iu":
        if a.dtype.kind in "iub" or (a.dtype.kind == "f" and np.all(np.mod(a, 1) == 0)):
            info = np.iinfo(dtype)
            if a.min() >= info.min and a.max() <= info.max:
                return a.astype(dtype)
            issues.append(ProblemIssue(name, None, None, f"values do not fit in {np.dtype(dtype)}"))
            return np.zeros(0, dtype)
    elif kind == "f" and a.dtype.kind in "iuf":
        return a.astype(dtype)
    issues.append(ProblemIssue(name, None, str(a.dtype), f"cannot convert to {np.dtype(dtype)}"))
    return np.zeros(0, dtype)


def _bad(
    issues: list[ProblemIssue], name: str, mask: npt.NDArray[np.bool_], values: Any, reason: str
) -> None:
    """Record the first few offending positions of ``mask`` and how many there are in all."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return
    for i in idx[:_SHOWN_PER_CHECK].tolist():
        issues.append(ProblemIssue(name, int(i), str(values[i]), reason))
    if idx.size > _SHOWN_PER_CHECK:
        issues.append(
            ProblemIssue(name, None, None, f"{reason}: {idx.size} positions in all")
        )


def _validate(p: AllocationProblem, issues: list[ProblemIssue]) -> None:
    """Collect every problem of the round's arrays in ``issues``: sizes, then (if they are right)
    shapes and dtypes, then (if those are right) values and pins."""
    _check_sizes(p, issues)
    if issues:
        return
    if not _check_arrays(p, issues):
        return
    _check_values(p, issues)
    _check_pins(p, issues)


def _check_sizes(p: AllocationProblem, issues: list[ProblemIssue]) -> None:
    """The counts: non-negative integers, at most ``MAX_GROUPS`` groups."""
    sizes = {
        "num_candidates": p.num_candidates,
        "num_places": p.num_places,
        "num_districts": p.num_districts,
        "num_groups": p.num_groups,
    }
    for name, v in sizes.items():
        if not isinstance(v, int | np.integer) or v < 0:
            issues.append(ProblemIssue(name, None, repr(v), "must be a non-negative integer"))
    if isinstance(p.num_groups, int | np.integer) and p.num_groups > MAX_GROUPS:
        issues.append(
            ProblemIssue("num_groups", None, str(p.num_groups), f"at most {MAX_GROUPS} groups")
        )


def _check_arrays(p: AllocationProblem, issues: list[ProblemIssue]) -> bool:
    """Types, dtypes and shapes of the arrays; whether they allow the value checks."""
    e = int(np.asarray(p.edge_candidate).shape[0]) if np.ndim(p.edge_candidate) == 1 else -1
    expected: dict[str, tuple[int, Any]] = {
        "edge_candidate": (e, np.int32),
        "edge_place": (e, np.int32),
        "edge_score": (e, np.float64),
        "edge_groups": (e, np.uint32),
        "place_slots": (p.num_places, np.int32),
        "candidate_district": (p.num_candidates, np.int32),
        "district_lower": (p.num_districts, np.int32),
        "district_upper": (p.num_districts, np.int32),
        "group_floor": (p.num_groups, np.float64),
    }
    optional: dict[str, tuple[int, Any]] = {
        "edge_forbidden": (e, np.bool_),
        "edge_preference": (e, np.float64),
    }
    shape_ok = True
    for name, (n, dtype) in [*expected.items(), *optional.items()]:
        a = getattr(p, name)
        if a is None and name in optional:
            continue
        if not isinstance(a, np.ndarray):
            issues.append(ProblemIssue(name, None, type(a).__name__, "must be a numpy array"))
            shape_ok = False
            continue
        if a.dtype != dtype:
            issues.append(
                ProblemIssue(name, None, str(a.dtype), f"dtype must be {np.dtype(dtype)}")
            )
            shape_ok = False
        if a.ndim != 1 or a.shape[0] != n:
            issues.append(ProblemIssue(name, None, str(a.shape), f"shape must be ({n},)"))
            shape_ok = False
    pins = p.pinned_edges
    if pins is not None and (
        not isinstance(pins, np.ndarray) or pins.dtype != np.int64 or pins.ndim != 1
    ):
        issues.append(ProblemIssue("pinned_edges", None, None, "must be a 1-D int64 array"))
        shape_ok = False
    for name, n in (("district_names", p.num_districts), ("group_names", p.num_groups)):
        names = getattr(p, name)
        if names is not None and len(names) != n:
            issues.append(ProblemIssue(name, None, str(len(names)), f"must have {n} names"))
    return shape_ok


def _check_values(p: AllocationProblem, issues: list[ProblemIssue]) -> None:
    """Indices in range, finite scores, bounds and floors that make sense."""
    ec, ep = p.edge_candidate, p.edge_place
    _bad(issues, "edge_candidate", (ec < 0) | (ec >= p.num_candidates), ec,
         f"candidate index outside 0..{p.num_candidates - 1}")
    _bad(issues, "edge_place", (ep < 0) | (ep >= p.num_places), ep,
         f"place index outside 0..{p.num_places - 1}")
    sc = p.edge_score
    _bad(issues, "edge_score", ~np.isfinite(sc) | (np.abs(sc) > MAX_ABS_SCORE), sc,
         f"score must be finite with |score| <= {MAX_ABS_SCORE:g}")
    if p.edge_preference is not None:
        _bad(issues, "edge_preference", ~np.isfinite(p.edge_preference), p.edge_preference,
             "preference must be finite")
    _bad(issues, "place_slots", p.place_slots < 0, p.place_slots, "slots must be >= 0")
    cd = p.candidate_district
    _bad(issues, "candidate_district", (cd < 0) | (cd >= p.num_districts), cd,
         f"district index outside 0..{p.num_districts - 1}")
    lo, up = p.district_lower, p.district_upper
    _bad(issues, "district_lower", lo < 0, lo, "lower bound must be >= 0")
    _bad(issues, "district_upper", up < lo, up, "upper bound below the lower bound")
    gf = p.group_floor
    _bad(issues, "group_floor", ~((gf >= 0) & (gf <= 1)), gf, "floor must be a share in [0, 1]")
    if p.num_groups < MAX_GROUPS:
        high = p.edge_groups >> np.uint32(p.num_groups)
        _bad(issues, "edge_groups", high != 0, p.edge_groups,
             f"bit set for a group >= num_groups ({p.num_groups})")


def _check_pins(p: AllocationProblem, issues: list[ProblemIssue]) -> None:
    """Pins in range, not forbidden, not twice; at most one per candidate and slots per place."""
    pins = p.pinned_edges
    e = int(p.edge_candidate.shape[0])
    ec, ep = p.edge_candidate, p.edge_place
    if pins is not None and pins.size:
        in_range = (pins >= 0) & (pins < e)
        _bad(issues, "pinned_edges", ~in_range, pins, f"edge index outside 0..{e - 1}")
        ok = pins[in_range]
        if p.edge_forbidden is not None:
            forb = np.zeros(pins.shape[0], bool)
            forb[in_range] = p.edge_forbidden[ok]
            _bad(issues, "pinned_edges", forb, pins, "a pinned pair is also forbidden")
        dup = np.zeros(pins.shape[0], bool)
        if ok.size:
            _, first = np.unique(ok, return_index=True)
            d = np.ones(ok.size, bool)
            d[first] = False
            dup[np.flatnonzero(in_range)[d]] = True
        _bad(issues, "pinned_edges", dup, pins, "edge pinned twice")
        if not issues:
            pc = ec[pins]
            counts = np.bincount(pc, minlength=p.num_candidates)
            twice = counts > 1
            _bad(issues, "candidate (pinned)", twice, counts,
                 "candidate pinned to more than one place")
            per_place = np.bincount(ep[pins], minlength=p.num_places)
            _bad(issues, "place_slots", per_place > p.place_slots, per_place,
                 "more pinned candidates than slots at this place")
