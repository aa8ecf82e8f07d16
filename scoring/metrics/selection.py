"""Selection metrics: who gets selected (proposed, shortlisted, placed), per group.

Two sign conventions are offered, because the two reference toolkits differ:

``convention="fairlearn"`` (default)
    Unsigned, over all comparable groups: a *difference* is ``max − min`` of the group rates
    (≥ 0, 0 is parity), a *ratio* is ``min / max`` (≤ 1, 1 is parity). This is fairlearn's
    ``demographic_parity_difference`` / ``_ratio`` and ``equal_opportunity_difference`` /
    ``_ratio`` with ``method="between_groups"``.
``convention="aif360"``
    Signed, one named pair: a difference is ``rate(unprivileged) − rate(privileged)`` (negative
    means the unprivileged group is selected less), a ratio is
    ``rate(unprivileged) / rate(privileged)``. This is AIF360's ``statistical_parity_difference``,
    ``disparate_impact`` and ``equal_opportunity_difference``. It needs ``privileged_group=``
    (for overlapping groups: ``unprivileged_group=``, compared with the rest).

For overlapping groups (a membership matrix) each group is compared with its complement, and the
fairlearn convention reports the worst group: the largest ``|rate(g) − rate(not g)|`` and the
smallest ``min/max`` over the pairs.

Groups flagged small (fewer than ``min_group_size`` members, or for equal opportunity fewer
qualified) and unknown values are left out of every comparison and listed in the result's
``excluded_small`` / ``excluded_unknown``. When fewer than two groups remain the value is NaN and
``note`` says why; fairlearn would report 0 (difference) or 1 (ratio) for a single group.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Literal

from scoring.metrics._engine import GroupRates, GroupRow, group_rates

__all__ = [
    "Convention",
    "Disparity",
    "FourFifths",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "disparate_impact_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
    "selection_rate_by_group",
]

Convention = Literal["fairlearn", "aif360"]
_Rate = Literal["selection_rate", "true_positive_rate"]
_Denominator = {"selection_rate": "num_members", "true_positive_rate": "num_qualified"}
_Numerator = {"selection_rate": "num_selected", "true_positive_rate": "num_selected_qualified"}


@dataclass(frozen=True, slots=True)
class Disparity:
    """One disparity figure and what it compared.

    Attributes
    ----------
    metric
        The function that made it, e.g. ``"demographic_parity_difference"``.
    value
        The figure (NaN when fewer than two comparable groups remain, see ``note``).
    convention
        ``"fairlearn"`` or ``"aif360"``.
    group, reference_group
        fairlearn: the groups with the lowest and the highest rate (the worst pair);
        aif360: the unprivileged and the privileged group.
    group_rate, reference_rate
        Their rates.
    excluded_small, excluded_unknown
        Rows left out because they were small or stood for unknown values.
    note
        Why ``value`` is NaN, if it is.
    """

    metric: str
    value: float
    convention: Convention
    group: Hashable | None
    reference_group: Hashable | None
    group_rate: float
    reference_rate: float
    excluded_small: tuple[Hashable, ...] = ()
    excluded_unknown: tuple[Hashable, ...] = ()
    note: str = ""

    def __float__(self) -> float:
        return self.value

    def as_dict(self) -> dict[str, Any]:
        """The result as one table row."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FourFifths:
    """The four-fifths (80 %) rule of the Uniform Guidelines, 29 CFR 1607.4(D).

    Attributes
    ----------
    value
        The smallest impact ratio (a group's selection rate over the reference rate).
    reference_group
        The group every rate is divided by: the one named, else the comparable group with the
        highest rate; for overlapping groups each group's own complement (``"not <g>"``).
    threshold
        The rule's fraction, 0.8.
    passes_four_fifths
        No comparable group's ratio is below ``threshold``, decided in exact rational arithmetic
        on the counts (so 48 % vs 60 % is exactly 4/5 and passes); ``None`` when undefined
        (nobody in the reference group selected, or fewer than two comparable groups).
    impact_ratios
        ``(group, ratio)`` per comparable group other than its reference.
    adverse_impact_groups
        Groups whose ratio is below ``threshold``.
    excluded_small, excluded_unknown
        Rows left out of the comparison.
    """

    value: float
    reference_group: Hashable | None
    threshold: float
    passes_four_fifths: bool | None
    impact_ratios: tuple[tuple[Hashable, float], ...]
    adverse_impact_groups: tuple[Hashable, ...]
    excluded_small: tuple[Hashable, ...] = ()
    excluded_unknown: tuple[Hashable, ...] = ()

    def __float__(self) -> float:
        return self.value

    def as_dict(self) -> dict[str, Any]:
        """The result as one table row."""
        return asdict(self)


# --------------------------------------------------------------------------------------
# Shared comparison logic
# --------------------------------------------------------------------------------------


def _split(
    rates: GroupRates, rate: _Rate
) -> tuple[list[GroupRow], tuple[Hashable, ...], tuple[Hashable, ...]]:
    """Comparable rows, and the labels of the small and the unknown ones."""
    need = max(rates.min_group_size, 1)  # a rate needs at least one person in its denominator
    denominator = _Denominator[rate]
    ok: list[GroupRow] = []
    small: list[Hashable] = []
    unknown: list[Hashable] = []
    for r in rates.rows:
        if r.unknown:
            unknown.append(r.group)
        elif getattr(r, denominator) < need:
            small.append(r.group)
        else:
            ok.append(r)
    return ok, tuple(small), tuple(unknown)


def _combine(kind: Literal["difference", "ratio"], low: float, high: float) -> float:
    if kind == "difference":
        return high - low
    if high == 0:
        return math.nan  # 0/0: nobody selected in either group; fairlearn also gives NaN
    return low / high


def _compare(
    rates: GroupRates,
    *,
    metric: str,
    rate: _Rate,
    kind: Literal["difference", "ratio"],
    convention: Convention,
    privileged_group: Hashable | None,
    unprivileged_group: Hashable | None,
) -> Disparity:
    ok, small, unknown = _split(rates, rate)
    by_label = {r.group: r for r in ok}

    def result(group: Hashable | None, ref: Hashable | None, value: float, note: str = "") -> Disparity:
        g = by_label.get(group)
        rf = by_label.get(ref)
        return Disparity(
            metric=metric,
            value=value,
            convention=convention,
            group=group,
            reference_group=ref,
            group_rate=math.nan if g is None else getattr(g, rate),
            reference_rate=math.nan if rf is None else getattr(rf, rate),
            excluded_small=small,
            excluded_unknown=unknown,
            note=note,
        )

    if convention == "aif360":
        unpriv, priv = _resolve_pair(rates, ok, privileged_group, unprivileged_group)
        missing = [g for g in (unpriv, priv) if g not in by_label]
        if missing:
            why = ", ".join(
                f"{g!r} is {'small or unknown' if _has_row(rates, g) else 'absent'}" for g in missing
            )
            return result(unpriv, priv, math.nan, f"not comparable: {why}")
        u, p = getattr(by_label[unpriv], rate), getattr(by_label[priv], rate)
        value = u - p if kind == "difference" else _combine("ratio", u, p)
        return result(unpriv, priv, value)

    if convention != "fairlearn":
        raise ValueError(f"convention must be 'fairlearn' or 'aif360', not {convention!r}")

    if rates.kind == "overlapping":
        # Each group against its complement; report the worst pair.
        best: tuple[float, Hashable, Hashable] | None = None
        for r in ok:
            if r.base_group is not None:
                continue
            comp = by_label.get(f"not {r.group}")
            if comp is None:
                continue
            a, b = getattr(r, rate), getattr(comp, rate)
            lo_row, hi_row = (r, comp) if a <= b else (comp, r)
            v = _combine(kind, getattr(lo_row, rate), getattr(hi_row, rate))
            worse = best is None or (
                v > best[0] if kind == "difference" else v < best[0] or math.isnan(best[0])
            )
            if worse:
                best = (v, lo_row.group, hi_row.group)
        if best is None:
            return result(None, None, math.nan, "no group with a comparable complement")
        return result(best[1], best[2], best[0])

    if len(ok) < 2:
        return result(None, None, math.nan, f"{len(ok)} comparable group(s); need 2")
    lo_row = min(ok, key=lambda r: getattr(r, rate))
    hi_row = max(ok, key=lambda r: getattr(r, rate))
    return result(lo_row.group, hi_row.group, _combine(kind, getattr(lo_row, rate), getattr(hi_row, rate)))


def _has_row(rates: GroupRates, group: Hashable) -> bool:
    return any(r.group == group for r in rates.rows)


def _resolve_pair(
    rates: GroupRates,
    ok: list[GroupRow],
    privileged_group: Hashable | None,
    unprivileged_group: Hashable | None,
) -> tuple[Hashable, Hashable]:
    """(unprivileged, privileged) labels for the AIF360 convention."""
    if rates.kind == "overlapping":
        if unprivileged_group is None:
            raise ValueError(
                "convention='aif360' with overlapping groups needs unprivileged_group=<group name>"
            )
        priv = f"not {unprivileged_group}" if privileged_group is None else privileged_group
        return unprivileged_group, priv
    if privileged_group is None:
        raise ValueError("convention='aif360' needs privileged_group=")
    if unprivileged_group is None:
        others = [r.group for r in ok if r.group != privileged_group]
        if len(others) != 1:
            raise ValueError(
                f"convention='aif360' with {len(others)} other comparable groups needs unprivileged_group= "
                f"(one of {others})"
            )
        unprivileged_group = others[0]
    return unprivileged_group, privileged_group


# --------------------------------------------------------------------------------------
# Public metrics
# --------------------------------------------------------------------------------------


def selection_rate_by_group(
    y_pred: Any,
    *,
    sensitive_features: Any,
    y_true: Any = None,
    min_group_size: int = 1,
) -> GroupRates:
    """Selection rate ``P(selected | group)`` per group, with small and unknown groups flagged.

    Parameters
    ----------
    y_pred
        ``(n,)`` 0/1: selected.
    sensitive_features
        Group values, several columns, or a membership matrix (see :func:`group_rates`).
    y_true
        ``(n,)`` 0/1 qualified, optional: adds the rate among the qualified per group.
    min_group_size
        The policy's minimum count; smaller groups are flagged ``small``.

    Returns
    -------
    GroupRates
        Per-group rows; ``row.selection_rate`` equals fairlearn's
        ``MetricFrame(metrics=selection_rate, ...).by_group``.

    Examples
    --------
    >>> r = selection_rate_by_group([1, 1, 0, 1, 0, 0], sensitive_features=list("aabbbc"), min_group_size=2)
    >>> r.by_group()
    {'a': 1.0, 'b': 0.3333333333333333, 'c': 0.0}
    >>> r.small_groups
    ('c',)
    """
    return group_rates(
        y_pred, sensitive_features=sensitive_features, y_true=y_true, min_group_size=min_group_size
    )


def demographic_parity_difference(
    y_pred: Any,
    *,
    sensitive_features: Any,
    min_group_size: int = 1,
    convention: Convention = "fairlearn",
    privileged_group: Hashable | None = None,
    unprivileged_group: Hashable | None = None,
) -> Disparity:
    """Demographic (statistical) parity difference of selection rates.

    fairlearn: ``max_g P(sel | g) − min_g P(sel | g)`` (≥ 0). AIF360 ("statistical parity
    difference"): ``P(sel | unprivileged) − P(sel | privileged)`` (signed).

    Parameters
    ----------
    y_pred
        ``(n,)`` 0/1: selected.
    sensitive_features
        Group values, several columns, or a membership matrix (see :func:`group_rates`).
    min_group_size
        Smaller groups are left out and listed in ``excluded_small``.
    convention
        ``"fairlearn"`` (unsigned, all groups) or ``"aif360"`` (signed, one pair).
    privileged_group, unprivileged_group
        The pair for ``convention="aif360"`` (see the module docstring).

    Returns
    -------
    Disparity

    Examples
    --------
    >>> y = [1, 1, 1, 0, 1, 0, 0, 0]
    >>> g = ["a"] * 4 + ["b"] * 4
    >>> demographic_parity_difference(y, sensitive_features=g).value   # 3/4 - 1/4
    0.5
    >>> d = demographic_parity_difference(y, sensitive_features=g, convention="aif360", privileged_group="a")
    >>> d.value
    -0.5
    """
    rates = group_rates(y_pred, sensitive_features=sensitive_features, min_group_size=min_group_size)
    return _compare(
        rates,
        metric="demographic_parity_difference",
        rate="selection_rate",
        kind="difference",
        convention=convention,
        privileged_group=privileged_group,
        unprivileged_group=unprivileged_group,
    )


def demographic_parity_ratio(
    y_pred: Any,
    *,
    sensitive_features: Any,
    min_group_size: int = 1,
    convention: Convention = "fairlearn",
    privileged_group: Hashable | None = None,
    unprivileged_group: Hashable | None = None,
) -> Disparity:
    """Demographic parity ratio of selection rates.

    fairlearn: ``min_g P(sel | g) / max_g P(sel | g)`` (≤ 1). AIF360 ("disparate impact"):
    ``P(sel | unprivileged) / P(sel | privileged)`` (may exceed 1). NaN when the denominator
    rate is 0.

    Parameters
    ----------
    y_pred
        ``(n,)`` 0/1: selected.
    sensitive_features
        Group values, several columns, or a membership matrix (see :func:`group_rates`).
    min_group_size
        Smaller groups are left out and listed in ``excluded_small``.
    convention
        ``"fairlearn"`` or ``"aif360"``.
    privileged_group, unprivileged_group
        The pair for ``convention="aif360"``.

    Returns
    -------
    Disparity

    Examples
    --------
    >>> y = [1, 1, 1, 0, 1, 0, 0, 0]
    >>> g = ["a"] * 4 + ["b"] * 4
    >>> demographic_parity_ratio(y, sensitive_features=g).value   # (1/4) / (3/4)
    0.3333333333333333
    """
    rates = group_rates(y_pred, sensitive_features=sensitive_features, min_group_size=min_group_size)
    return _compare(
        rates,
        metric="demographic_parity_ratio",
        rate="selection_rate",
        kind="ratio",
        convention=convention,
        privileged_group=privileged_group,
        unprivileged_group=unprivileged_group,
    )


def equal_opportunity_difference(
    y_pred: Any,
    *,
    y_true: Any,
    sensitive_features: Any,
    min_group_size: int = 1,
    convention: Convention = "fairlearn",
    privileged_group: Hashable | None = None,
    unprivileged_group: Hashable | None = None,
) -> Disparity:
    """Equal opportunity difference: selection rates among the qualified (true positive rates).

    fairlearn: ``max_g TPR_g − min_g TPR_g`` with ``TPR_g = P(sel | qualified, g)``
    (Hardt, Price & Srebro, NeurIPS 2016). AIF360: ``TPR_unprivileged − TPR_privileged``.
    A group is small here when it has fewer than ``min_group_size`` *qualified* members; a group
    with nobody qualified is always left out (fairlearn would count its TPR as 0).

    Parameters
    ----------
    y_pred
        ``(n,)`` 0/1: selected.
    y_true
        ``(n,)`` 0/1: qualified (fits the place's competence profile).
    sensitive_features
        Group values, several columns, or a membership matrix (see :func:`group_rates`).
    min_group_size
        Minimum number of qualified members for a group to be compared.
    convention
        ``"fairlearn"`` or ``"aif360"``.
    privileged_group, unprivileged_group
        The pair for ``convention="aif360"``.

    Returns
    -------
    Disparity

    Examples
    --------
    >>> sel = [1, 1, 0, 0, 1, 0, 0, 0]
    >>> qual = [1, 1, 1, 0, 1, 1, 1, 1]
    >>> g = ["a"] * 4 + ["b"] * 4
    >>> round(equal_opportunity_difference(sel, y_true=qual, sensitive_features=g).value, 4)  # 2/3 - 1/4
    0.4167
    """
    rates = group_rates(
        y_pred, sensitive_features=sensitive_features, y_true=y_true, min_group_size=min_group_size
    )
    return _compare(
        rates,
        metric="equal_opportunity_difference",
        rate="true_positive_rate",
        kind="difference",
        convention=convention,
        privileged_group=privileged_group,
        unprivileged_group=unprivileged_group,
    )


def equal_opportunity_ratio(
    y_pred: Any,
    *,
    y_true: Any,
    sensitive_features: Any,
    min_group_size: int = 1,
    convention: Convention = "fairlearn",
    privileged_group: Hashable | None = None,
    unprivileged_group: Hashable | None = None,
) -> Disparity:
    """Equal opportunity ratio: ``min_g TPR_g / max_g TPR_g`` (fairlearn) or unprivileged/privileged.

    Parameters
    ----------
    y_pred
        ``(n,)`` 0/1: selected.
    y_true
        ``(n,)`` 0/1: qualified.
    sensitive_features
        Group values, several columns, or a membership matrix (see :func:`group_rates`).
    min_group_size
        Minimum number of qualified members for a group to be compared.
    convention
        ``"fairlearn"`` or ``"aif360"``.
    privileged_group, unprivileged_group
        The pair for ``convention="aif360"``.

    Returns
    -------
    Disparity

    Examples
    --------
    >>> sel = [1, 1, 0, 0, 1, 0, 0, 0]
    >>> qual = [1, 1, 1, 0, 1, 1, 1, 1]
    >>> g = ["a"] * 4 + ["b"] * 4
    >>> equal_opportunity_ratio(sel, y_true=qual, sensitive_features=g).value  # (1/4) / (2/3)
    0.375
    """
    rates = group_rates(
        y_pred, sensitive_features=sensitive_features, y_true=y_true, min_group_size=min_group_size
    )
    return _compare(
        rates,
        metric="equal_opportunity_ratio",
        rate="true_positive_rate",
        kind="ratio",
        convention=convention,
        privileged_group=privileged_group,
        unprivileged_group=unprivileged_group,
    )


def disparate_impact_ratio(
    y_pred: Any,
    *,
    sensitive_features: Any,
    reference_group: Hashable | None = None,
    min_group_size: int = 1,
    threshold: float = 0.8,
) -> FourFifths:
    """Impact ratios and the four-fifths rule (disparate impact, 29 CFR 1607.4(D)).

    Each comparable group's selection rate is divided by the reference rate: the named
    ``reference_group``'s, else the highest group rate (the Uniform Guidelines compare "with the
    rate for the group with the highest rate"). For overlapping groups without a reference each
    group is divided by its complement. A ratio below ``threshold`` (4/5) indicates adverse
    impact. The pass/fail decision uses exact fractions of the counts, so a ratio of exactly 0.8
    passes even where floating point would give 0.7999….

    Parameters
    ----------
    y_pred
        ``(n,)`` 0/1: selected.
    sensitive_features
        Group values, several columns, or a membership matrix (see :func:`group_rates`).
    reference_group
        The group to divide by; default the highest-rate comparable group.
    min_group_size
        Smaller groups are left out (the Guidelines, Q&A 20-21, warn against the rule on small
        samples) and listed in ``excluded_small``.
    threshold
        The fraction, 0.8.

    Returns
    -------
    FourFifths

    Examples
    --------
    48 of 80 applicants of one group hired (60 %), 12 of 40 of the other (30 %):
    30/60 = 0.5 < 0.8, adverse impact.

    >>> y = [1] * 48 + [0] * 32 + [1] * 12 + [0] * 28
    >>> g = ["w"] * 80 + ["b"] * 40
    >>> r = disparate_impact_ratio(y, sensitive_features=g)
    >>> r.value, r.reference_group, r.passes_four_fifths, r.adverse_impact_groups
    (0.5, 'w', False, ('b',))
    """
    rates = group_rates(y_pred, sensitive_features=sensitive_features, min_group_size=min_group_size)
    ok, small, unknown = _split(rates, "selection_rate")
    by_label = {r.group: r for r in ok}
    limit = Fraction(str(threshold))  # "0.8" -> 4/5 exactly

    pairs: list[tuple[GroupRow, GroupRow]] = []  # (group, its reference)
    ref_label: Hashable | None = reference_group
    if reference_group is not None:
        if reference_group not in by_label:
            raise ValueError(
                f"reference_group {reference_group!r} is "
                f"{'small or unknown' if _has_row(rates, reference_group) else 'absent'}"
            )
        ref = by_label[reference_group]
        pairs = [(r, ref) for r in ok if r.group != reference_group and r.base_group is None]
    elif rates.kind == "overlapping":
        ref_label = None
        for r in ok:
            comp = by_label.get(f"not {r.group}")
            if r.base_group is None and comp is not None:
                pairs.append((r, comp))
    elif ok:
        ref = max(ok, key=lambda r: r.selection_rate)
        ref_label = ref.group
        pairs = [(r, ref) for r in ok if r is not ref]

    ratios: list[tuple[Hashable, float]] = []
    adverse: list[Hashable] = []
    undefined = not pairs
    for r, ref in pairs:
        if ref.num_selected == 0:
            ratios.append((r.group, math.nan))
            undefined = True
            continue
        ratios.append((r.group, r.selection_rate / ref.selection_rate))
        if Fraction(r.num_selected, r.num_members) < limit * Fraction(ref.num_selected, ref.num_members):
            adverse.append(r.group)
    finite = [v for _, v in ratios if not math.isnan(v)]
    value = min(finite) if finite else math.nan
    passes: bool | None = None if (undefined and not adverse) else not adverse
    return FourFifths(
        value=value,
        reference_group=ref_label,
        threshold=threshold,
        passes_four_fifths=passes,
        impact_ratios=tuple(ratios),
        adverse_impact_groups=tuple(adverse),
        excluded_small=small,
        excluded_unknown=unknown,
    )
