"""One engine behind every group metric: per-group counts and rates, with small and unknown groups kept apart.

Every selection metric in :mod:`scoring.metrics` is a thin function over :func:`group_rates`,
the way fairlearn's ``demographic_parity_difference`` is a thin function over ``MetricFrame``.

Three shapes of sensitive features are understood:

``"values"``
    A 1-D sequence with one value per person (several values allowed). ``None``, NaN and ``""``
    mean *unknown*; unknown people get their own row (``group=None``, ``unknown=True``).
``"intersectional"``
    Several columns, as a mapping ``name -> 1-D sequence`` or a 2-D array that is not boolean;
    a group is a combination of values (a tuple, in column order). A combination with an unknown
    part keeps ``None`` in that position and is flagged ``unknown=True``.
``"overlapping"``
    A boolean membership matrix ``(n, G)`` (or :func:`membership` with names): one person can
    count for several groups. Each group is compared with *the rest*; the engine reports, per
    group ``g``, the members (``group=g``), the non-members (``group="not g"``,
    ``base_group=g``) and, where membership is unknown (NaN in a float matrix), those people
    (``group="g: unknown"``, ``unknown=True``).

A group with fewer than ``min_group_size`` members is reported with ``small=True``; unknown and
small rows are *never* folded into the comparisons, and every comparison says which rows it left
out. This follows common practice in equality statistics: a policy names the minimum count below
which a rate is not published (e.g. the Uniform Guidelines' Q&A 20-21 on small samples).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "FeatureKind",
    "GroupRates",
    "GroupRow",
    "Membership",
    "group_rates",
    "membership",
]

FeatureKind = Literal["values", "intersectional", "overlapping"]


@dataclass(frozen=True, slots=True)
class GroupRow:
    """Counts and rates for one group (one row of a tidy table).

    Attributes
    ----------
    group
        The group's label: a value, a tuple of values (intersectional), a membership column
        name, ``"not <name>"`` for its complement, ``None`` for unknown, ``"(overall)"``.
    num_members
        People in the group.
    num_selected
        Of them, selected (``y_pred == 1``).
    selection_rate
        ``num_selected / num_members``; NaN for an empty group.
    num_qualified, num_selected_qualified, true_positive_rate
        Among the qualified (``y_true == 1``): their number, how many were selected and the
        rate (NaN where nobody is qualified). ``None`` when no ``y_true`` was given.
    small
        ``num_members < min_group_size``: reported, left out of comparisons.
    unknown
        The group stands for unknown values: reported, left out of comparisons.
    base_group
        For overlapping groups: the membership column that a complement or unknown row belongs to.
    """

    group: Hashable
    num_members: int
    num_selected: int
    selection_rate: float
    num_qualified: int | None = None
    num_selected_qualified: int | None = None
    true_positive_rate: float | None = None
    small: bool = False
    unknown: bool = False
    base_group: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict (one table row)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class GroupRates:
    """Per-group counts and rates from :func:`group_rates`.

    Attributes
    ----------
    rows
        One :class:`GroupRow` per group, known groups first (sorted by label), unknown last.
    overall
        The same counts over everybody (label ``"(overall)"``).
    kind
        Which shape the sensitive features had (see the module docstring).
    min_group_size
        The policy minimum below which a group is ``small``.
    """

    rows: tuple[GroupRow, ...]
    overall: GroupRow
    kind: FeatureKind
    min_group_size: int

    def row(self, group: Hashable) -> GroupRow:
        """The row of ``group``; raises ``KeyError`` if there is none."""
        for r in self.rows:
            if r.group == group:
                return r
        raise KeyError(group)

    def by_group(self, attribute: str = "selection_rate") -> dict[Hashable, Any]:
        """``{group: row.<attribute>}`` over all rows, small and unknown included."""
        return {r.group: getattr(r, attribute) for r in self.rows}

    @property
    def small_groups(self) -> tuple[Hashable, ...]:
        """Labels of the rows flagged small (known groups only)."""
        return tuple(r.group for r in self.rows if r.small and not r.unknown)

    @property
    def unknown_groups(self) -> tuple[Hashable, ...]:
        """Labels of the rows that stand for unknown values."""
        return tuple(r.group for r in self.rows if r.unknown)

    def to_rows(self) -> list[dict[str, Any]]:
        """All rows and the overall row as dicts, ready for ``polars.DataFrame(...)``."""
        return [r.as_dict() for r in (*self.rows, self.overall)]


@dataclass(frozen=True, slots=True)
class Membership:
    """Overlapping group membership: a ``(n, G)`` matrix and the groups' names.

    Entries are true/false; in a float matrix NaN means the person's membership is unknown.
    Make one with :func:`membership`.
    """

    matrix: np.ndarray
    names: tuple[str, ...]


def membership(matrix: Any, *, names: Sequence[str] | None = None) -> Membership:
    """Mark a ``(n, G)`` matrix as overlapping group membership.

    Parameters
    ----------
    matrix
        ``(n, G)``: ``True``/1 member, ``False``/0 not, NaN unknown.
    names
        One name per column; default ``"0"``, ``"1"``, ...

    Returns
    -------
    Membership

    Examples
    --------
    >>> m = membership([[1, 0], [1, 1], [0, float("nan")]], names=["youth", "foreign_born"])
    >>> m.names
    ('youth', 'foreign_born')
    """
    arr = np.asarray(matrix, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"a membership matrix is (n, G); got shape {arr.shape}")
    known = ~np.isnan(arr)
    if np.any((arr[known] != 0) & (arr[known] != 1)):
        raise ValueError("a membership matrix holds only 0/1 (or true/false), NaN for unknown")
    if names is None:
        names = [str(j) for j in range(arr.shape[1])]
    if len(names) != arr.shape[1]:
        raise ValueError(f"{len(names)} names for {arr.shape[1]} membership columns")
    return Membership(arr, tuple(str(n) for n in names))


# --------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------


def is_unknown(value: object) -> bool:
    """``None``, NaN (float or numpy) and the empty string are unknown values."""
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return False


def _clean(value: object) -> Hashable:
    # numpy scalars become Python scalars so labels compare and print as users expect.
    if is_unknown(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def as_binary(values: Any, name: str) -> np.ndarray:
    """A 1-D 0/1 (or boolean) sequence as a boolean array; anything else is an error."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    if arr.dtype == bool:
        return arr
    try:
        num = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold 0/1 values") from exc
    if np.any((num != 0) & (num != 1)):
        raise ValueError(f"{name} must hold 0/1 values only")
    return num == 1


def _sort_key(label: Hashable) -> tuple[int, float, str]:
    # Mixed label types cannot be compared directly: numbers first (numerically), then text.
    if isinstance(label, int | float) and not isinstance(label, bool):
        return (0, float(label), "")
    return (1, 0.0, str(label))


def _columns_to_labels(columns: list[np.ndarray], n: int) -> tuple[list[Hashable], list[bool]]:
    labels: list[Hashable] = []
    unknown: list[bool] = []
    for i in range(n):
        parts = tuple(_clean(col[i]) for col in columns)
        labels.append(parts)
        unknown.append(any(p is None for p in parts))
    return labels, unknown


def _row(
    group: Hashable,
    mask: np.ndarray,
    y_pred: np.ndarray,
    y_true: np.ndarray | None,
    *,
    min_group_size: int,
    unknown: bool = False,
    base_group: str | None = None,
) -> GroupRow:
    num = int(mask.sum())
    sel = int((y_pred & mask).sum())
    rate = sel / num if num else math.nan
    q = qs = None
    tpr: float | None = None
    if y_true is not None:
        q = int((y_true & mask).sum())
        qs = int((y_true & y_pred & mask).sum())
        tpr = qs / q if q else math.nan
    return GroupRow(
        group=group,
        num_members=num,
        num_selected=sel,
        selection_rate=rate,
        num_qualified=q,
        num_selected_qualified=qs,
        true_positive_rate=tpr,
        small=num < min_group_size,
        unknown=unknown,
        base_group=base_group,
    )


def group_rates(
    y_pred: Any,
    *,
    sensitive_features: Any,
    y_true: Any = None,
    min_group_size: int = 1,
) -> GroupRates:
    """Count members, selected and qualified per group, and their rates.

    Parameters
    ----------
    y_pred
        ``(n,)`` 0/1: selected (proposed, shortlisted, placed).
    sensitive_features
        ``(n,)`` values, a mapping of several ``(n,)`` columns or a ``(n, k)`` non-boolean array
        (intersectional), or a boolean ``(n, G)`` matrix / :class:`Membership` (overlapping).
        ``None``, NaN and ``""`` are unknown.
    y_true
        ``(n,)`` 0/1: qualified (fits the competence profile); optional.
    min_group_size
        Groups with fewer members are flagged ``small`` (a policy's minimum count).

    Returns
    -------
    GroupRates

    Examples
    --------
    >>> r = group_rates([1, 0, 1, 1, 0], sensitive_features=["a", "a", "b", "b", None])
    >>> [(row.group, row.num_members, row.selection_rate) for row in r.rows]
    [('a', 2, 0.5), ('b', 2, 1.0), (None, 1, 0.0)]
    >>> r.unknown_groups
    (None,)
    """
    pred = as_binary(y_pred, "y_pred")
    n = len(pred)
    true = None if y_true is None else as_binary(y_true, "y_true")
    if true is not None and len(true) != n:
        raise ValueError(f"y_true has {len(true)} entries, y_pred {n}")
    if min_group_size < 0:
        raise ValueError("min_group_size must be >= 0")

    kind: FeatureKind
    rows: list[GroupRow] = []
    m = min_group_size

    sf = sensitive_features
    if isinstance(sf, np.ndarray) and sf.ndim == 2 and sf.dtype == bool:
        sf = membership(sf)
    if isinstance(sf, Membership):
        kind = "overlapping"
        if sf.matrix.shape[0] != n:
            raise ValueError(f"membership has {sf.matrix.shape[0]} rows, y_pred {n}")
        for j, name in enumerate(sf.names):
            col = sf.matrix[:, j]
            unk = np.isnan(col)
            rows.append(_row(name, col == 1, pred, true, min_group_size=m))
            rows.append(_row(f"not {name}", col == 0, pred, true, base_group=name, min_group_size=m))
            if unk.any():
                rows.append(
                    _row(f"{name}: unknown", unk, pred, true, unknown=True, base_group=name, min_group_size=m)
                )
    else:
        if isinstance(sf, Mapping):
            columns = [np.asarray(v, dtype=object) for v in sf.values()]
            kind = "intersectional"
        else:
            arr = np.asarray(sf, dtype=object)
            if arr.ndim == 1:
                columns = [arr]
                kind = "values"
            elif arr.ndim == 2:
                columns = [arr[:, j] for j in range(arr.shape[1])]
                kind = "intersectional"
            else:
                raise ValueError(f"sensitive_features must be 1-D or 2-D; got shape {arr.shape}")
        for col in columns:
            if col.ndim != 1 or len(col) != n:
                raise ValueError(f"a sensitive feature column has shape {col.shape}, y_pred ({n},)")
        if kind == "values":
            labels: list[Hashable] = [_clean(v) for v in columns[0]]
            unknown_flags = [lab is None for lab in labels]
        else:
            labels, unknown_flags = _columns_to_labels(columns, n)
        # Code each label once (a dict, not ``array == label``: tuples would broadcast).
        codes: dict[Hashable, int] = {}
        code_arr = np.fromiter((codes.setdefault(lab, len(codes)) for lab in labels), dtype=np.int64, count=n)
        is_unknown_label = {lab: u for lab, u in zip(labels, unknown_flags, strict=True)}
        ordered = sorted(codes, key=lambda lab: (is_unknown_label[lab], _sort_key(lab)))
        for lab in ordered:
            rows.append(
                _row(lab, code_arr == codes[lab], pred, true, unknown=is_unknown_label[lab], min_group_size=m)
            )

    overall = _row("(overall)", np.ones(n, dtype=bool), pred, true, min_group_size=0)
    return GroupRates(tuple(rows), overall, kind, min_group_size)
