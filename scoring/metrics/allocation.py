"""Outcome metrics of an allocation round: districts, priority-group floors, readiness, suppliers.

Every function returns :class:`ShareRow` rows (count, share, target, difference, bounds, within),
one per district / group / supplier, so that a follow-up report or the benchmark can put them in a
table as they are. The rules they check are the project's reading of the seed documents
(``DOMAIN.md``, "How the project reads what the documents leave open"):

* distribution key (seed 000): each district's share of the round's placements, counted by the
  candidate's home district, within ``key ± tolerance``, with the same whole-number bounds as
  :meth:`scoring.policy.Distribution.bounds`;
* priority-group floor: a minimum share of the assigned from a group; groups overlap;
* anti-creaming: the share of placed candidates from the low work-ladder steps (arbetstrappan,
  seed 001, steps 1-2), against that share in the pool, so that a round that places only the
  most ready ("creaming") shows up;
* placements per supplier against a hard requirement's number of places (skarpt krav, seed 001):
  met / partly met / not met, as the recruiter reports back.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from scoring.domain import LOW_LADDER_STEPS
from scoring.metrics._engine import Membership, _clean, membership

__all__ = [
    "AntiCreaming",
    "ShareRow",
    "anti_creaming_share",
    "district_share_vs_key",
    "group_share_vs_floor",
    "placements_per_supplier",
]

Status = Literal["met", "partly met", "not met"]


@dataclass(frozen=True, slots=True)
class ShareRow:
    """One line of an allocation follow-up.

    Attributes
    ----------
    label
        District, group or supplier (``None`` = unknown).
    count
        Placements counted for it.
    share
        ``count / total`` (NaN for an empty round).
    target
        The key, floor or required number (share for districts and groups, count for suppliers);
        NaN where none is set.
    difference
        ``share − target`` (districts, groups) or ``count − target`` (suppliers).
    lower, upper
        The bounds ``count`` must keep (whole numbers; ``upper`` is ``None`` when unbounded).
    within
        ``lower <= count <= upper``; ``None`` where no target is set.
    status
        Suppliers only: ``"met"``, ``"partly met"`` or ``"not met"``.
    """

    label: Hashable
    count: int
    share: float
    target: float
    difference: float
    lower: int | None
    upper: int | None
    within: bool | None
    status: Status | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict."""
        return asdict(self)


def _labels(values: Any, name: str) -> list[Hashable]:
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    return [_clean(v) for v in arr]


def _ordered(targets: Iterable[Hashable], seen: Iterable[Hashable]) -> list[Hashable]:
    """Targets in their own order, then labels seen without a target (unknown last)."""
    out = list(targets)
    extra = {s for s in seen if s not in set(out)}
    out += sorted(extra, key=lambda s: (s is None, str(s)))
    return out


def district_share_vs_key(
    assigned_district: Any,
    *,
    keys: Mapping[Hashable, float],
    tolerance: float,
) -> tuple[ShareRow, ...]:
    """Each district's share of a round's placements against its distribution key.

    Bounds are ``floor((key − tolerance) · total)`` and ``ceil((key + tolerance) · total)``,
    clipped to ``[0, total]``: the rounding of :meth:`scoring.policy.Distribution.bounds`, so that
    this follow-up and the allocation agree on what "within" means.

    Parameters
    ----------
    assigned_district
        ``(m,)`` home district of each placed candidate (one entry per placement); ``None`` or
        ``""`` = unknown, reported as its own row without a target.
    keys
        ``{district: share}``, summing to 1 (geografiska fördelningsnycklar, seed 000).
    tolerance
        Allowed deviation in share units (a policy number, e.g. 0.05).

    Returns
    -------
    tuple of ShareRow
        Districts in the order of ``keys``, then districts without a key, unknown last.

    Examples
    --------
    >>> rows = district_share_vs_key(["a"] * 7 + ["b"] * 3, keys={"a": 0.6, "b": 0.4}, tolerance=0.05)
    >>> [(r.label, r.count, r.share, r.lower, r.upper, r.within) for r in rows]
    [('a', 7, 0.7, 5, 7, True), ('b', 3, 0.3, 3, 5, True)]
    """
    labels = _labels(assigned_district, "assigned_district")
    total = len(labels)
    key_sum = sum(keys.values())
    if keys and not math.isclose(key_sum, 1.0, abs_tol=1e-6):
        raise ValueError(f"distribution keys must sum to 1; they sum to {key_sum:.6f}")
    rows = []
    for d in _ordered(keys, labels):
        count = sum(1 for lab in labels if lab == d)
        share = count / total if total else math.nan
        if d in keys:
            key = keys[d]
            # Same rounding as scoring.policy.Distribution.bounds (the 1e-9 absorbs float noise).
            lo = max(0, math.floor((key - tolerance) * total + 1e-9))
            hi = min(total, math.ceil((key + tolerance) * total - 1e-9))
            rows.append(ShareRow(d, count, share, key, share - key, lo, hi, lo <= count <= hi))
        else:
            rows.append(ShareRow(d, count, share, math.nan, math.nan, None, None, None))
    return tuple(rows)


def group_share_vs_floor(
    assigned_groups: Any,
    *,
    floors: Mapping[str, float] | Sequence[float],
    group_names: Sequence[str] | None = None,
) -> tuple[ShareRow, ...]:
    """Each priority group's share of the assigned against its floor (minimum share).

    Groups overlap: one person counts for every group they belong to, so shares may sum to more
    than 1. The lower bound is ``ceil(floor · total)`` people; there is no upper bound.
    Unknown membership (NaN) counts neither as member nor toward ``total``'s members, and is
    reported as its own row ``"<group>: unknown"``.

    Parameters
    ----------
    assigned_groups
        ``(m, G)`` membership of each assigned candidate (bool/0-1, NaN unknown), or a
        :class:`~scoring.metrics.Membership`.
    floors
        ``{group name: floor}`` or ``(G,)`` floors in column order.
    group_names
        Column names when ``assigned_groups`` is a plain matrix.

    Returns
    -------
    tuple of ShareRow

    Examples
    --------
    >>> m = [[1, 0], [1, 1], [0, 0], [0, 0]]
    >>> names = ["youth", "disability"]
    >>> rows = group_share_vs_floor(m, floors={"youth": 0.3, "disability": 0.3}, group_names=names)
    >>> [(r.label, r.count, r.share, r.lower, r.within) for r in rows]  # ceil(0.3 * 4) = 2
    [('youth', 2, 0.5, 2, True), ('disability', 1, 0.25, 2, False)]
    """
    mem = (
        assigned_groups
        if isinstance(assigned_groups, Membership)
        else membership(assigned_groups, names=group_names)
    )
    total = mem.matrix.shape[0]
    if isinstance(floors, Mapping):
        unknown_names = [g for g in floors if g not in mem.names]
        if unknown_names:
            raise ValueError(f"floors name groups not in the membership columns: {unknown_names}")
        floor_of = dict(floors)
    else:
        if len(floors) != len(mem.names):
            raise ValueError(f"{len(floors)} floors for {len(mem.names)} groups")
        floor_of = dict(zip(mem.names, floors, strict=True))
    rows = []
    for j, name in enumerate(mem.names):
        col = mem.matrix[:, j]
        count = int((col == 1).sum())
        share = count / total if total else math.nan
        if name in floor_of:
            f = floor_of[name]
            lo = math.ceil(f * total - 1e-9)
            rows.append(ShareRow(name, count, share, f, share - f, lo, None, count >= lo))
        else:
            rows.append(ShareRow(name, count, share, math.nan, math.nan, None, None, None))
        num_unknown = int(np.isnan(col).sum())
        if num_unknown:
            rows.append(
                ShareRow(
                    f"{name}: unknown", num_unknown, num_unknown / total, math.nan, math.nan, None, None, None
                )
            )
    return tuple(rows)


@dataclass(frozen=True, slots=True)
class AntiCreaming:
    """Share of placed candidates from the low work-ladder steps, against the pool.

    Attributes
    ----------
    low_steps
        The steps counted as low (default 1 and 2: large or very large need of support).
    num_placed, num_placed_low
        Placed candidates with a known step, and of them on a low step.
    share_placed_low
        ``num_placed_low / num_placed``: the anti-creaming figure.
    num_pool, num_pool_low, share_pool_low
        The same for the pool, when given (NaN otherwise).
    difference
        ``share_placed_low − share_pool_low``: negative means the round creams (places the
        ready ones more than their share of the pool).
    ratio
        ``share_placed_low / share_pool_low``.
    num_placed_unknown, num_pool_unknown
        Candidates whose step is unknown: reported, not counted in either share.
    """

    low_steps: tuple[int, ...]
    num_placed: int
    num_placed_low: int
    share_placed_low: float
    num_pool: int | None
    num_pool_low: int | None
    share_pool_low: float
    difference: float
    ratio: float
    num_placed_unknown: int
    num_pool_unknown: int | None

    def as_dict(self) -> dict[str, Any]:
        """The result as one table row."""
        return asdict(self)


def _steps(values: Any, name: str) -> tuple[np.ndarray, int]:
    """Known steps as ints, and the number of unknown entries (NaN/None)."""
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    labels = [_clean(v) for v in arr]
    known = [int(v) for v in labels if v is not None]  # type: ignore[call-overload]
    bad = [v for v in known if v not in (1, 2, 3, 4)]
    if bad:
        raise ValueError(f"{name}: work-ladder steps are 1..4; got {sorted(set(bad))}")
    return np.asarray(known, dtype=np.int64), len(labels) - len(known)


def anti_creaming_share(
    placed_ladder_step: Any,
    *,
    pool_ladder_step: Any = None,
    low_steps: Sequence[int] = LOW_LADDER_STEPS,
) -> AntiCreaming:
    """Share of placements that went to candidates on low work-ladder steps (anti-creaming).

    The work ladder (arbetstrappan, seed 001) runs from step 1 (very large need of support) to
    step 4 (does most tasks independently). Those high on the ladder suit placements first, so a
    round left alone places them ("creaming"); this figure shows how far down the ladder the
    round reached, and how that compares with the pool it drew from.

    Parameters
    ----------
    placed_ladder_step
        ``(m,)`` step (1-4) of each placed candidate; NaN/None unknown.
    pool_ladder_step
        ``(n,)`` steps of every candidate in the pool, optional.
    low_steps
        Steps that count as low (default :data:`scoring.domain.LOW_LADDER_STEPS`, steps 1-2).

    Returns
    -------
    AntiCreaming

    Examples
    --------
    >>> r = anti_creaming_share([4, 4, 3, 2], pool_ladder_step=[1, 2, 2, 3, 4, 4, 4, 3])
    >>> r.share_placed_low, r.share_pool_low, r.difference   # 1/4 vs 3/8
    (0.25, 0.375, -0.125)
    """
    low = tuple(sorted(set(int(s) for s in low_steps)))
    placed, placed_unknown = _steps(placed_ladder_step, "placed_ladder_step")
    n_low = int(np.isin(placed, low).sum())
    share = n_low / len(placed) if len(placed) else math.nan
    if pool_ladder_step is None:
        pool_n = pool_low = pool_unknown = None
        pool_share = math.nan
    else:
        pool, pool_unknown = _steps(pool_ladder_step, "pool_ladder_step")
        pool_n = len(pool)
        pool_low = int(np.isin(pool, low).sum())
        pool_share = pool_low / pool_n if pool_n else math.nan
    ratio = share / pool_share if pool_share and not math.isnan(pool_share) else math.nan
    return AntiCreaming(
        low_steps=low,
        num_placed=len(placed),
        num_placed_low=n_low,
        share_placed_low=share,
        num_pool=pool_n,
        num_pool_low=pool_low,
        share_pool_low=pool_share,
        difference=share - pool_share,
        ratio=ratio,
        num_placed_unknown=placed_unknown,
        num_pool_unknown=pool_unknown,
    )


def placements_per_supplier(
    assigned_supplier: Any,
    *,
    required: Mapping[Hashable, int] | None = None,
) -> tuple[ShareRow, ...]:
    """Placements per supplier, against the number of places a hard requirement asks for.

    Status (the recruiter's follow-up, DOMAIN.md "The process"): ``"met"`` when the count reaches
    the required number, ``"partly met"`` when some but not all places were filled, ``"not met"``
    when none were. Suppliers in ``required`` with no placement get a row with count 0.

    Parameters
    ----------
    assigned_supplier
        ``(m,)`` supplier of each placement.
    required
        ``{supplier: places required}`` (skarpt krav, seed 001, e.g. 4), optional.

    Returns
    -------
    tuple of ShareRow
        ``share`` is the supplier's share of all placements; ``target`` the required count;
        ``lower`` the required count, no upper bound.

    Examples
    --------
    >>> rows = placements_per_supplier(["s1", "s1", "s2"], required={"s1": 2, "s2": 4, "s3": 1})
    >>> [(r.label, r.count, r.difference, r.status) for r in rows]
    [('s1', 2, 0.0, 'met'), ('s2', 1, -3.0, 'partly met'), ('s3', 0, -1.0, 'not met')]
    """
    labels = _labels(assigned_supplier, "assigned_supplier")
    total = len(labels)
    req = dict(required or {})
    rows = []
    for s in _ordered(req, labels):
        count = sum(1 for lab in labels if lab == s)
        share = count / total if total else math.nan
        if s in req:
            need = int(req[s])
            status: Status = "met" if count >= need else ("partly met" if count > 0 else "not met")
            rows.append(
                ShareRow(s, count, share, float(need), float(count - need), need, None, count >= need, status)
            )
        else:
            rows.append(ShareRow(s, count, share, math.nan, math.nan, None, None, None))
    return tuple(rows)
