"""Ranking metrics for shortlists: representation in the top k and exposure by position.

A ranking is given as ``ranking_groups``: the group label of the candidate at each position,
top first (position 1 is index 0). For overlapping groups pass one membership column as a boolean
sequence and ask about ``group=True``.

* Skew@k, MinSkew@k, MaxSkew@k and NDKL follow Geyik, Ambler & Kenthapadi, "Fairness-Aware
  Ranking in Search & Recommendation Systems with Application to LinkedIn Talent Search",
  KDD 2019, Sec. 3 (Eqs. 1-4).
* Exposure and the disparate treatment ratio follow Singh & Joachims, "Fairness of Exposure in
  Rankings", KDD 2018, Sec. 3-4, with the DCG position bias ``v_j = 1 / log2(1 + j)``.

Zero counts. Skew@k is ``ln(0) = -inf`` for a group absent from the top k: we report ``-inf``
(the honest value; a benchmark table shows it) unless ``epsilon > 0`` is passed, in which case
``ln((share + eps) / (target + eps))`` as in common implementations (e.g. Credo AI's lens uses
``eps = 1e-12``). NDKL needs no smoothing for groups absent from a prefix (``0 · ln 0 = 0``);
a group present in the ranking with a target share of 0 makes NDKL ``+inf``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from scoring.metrics._engine import _clean

__all__ = [
    "GroupExposure",
    "SkewAtK",
    "disparate_treatment_ratio",
    "exposure_by_group",
    "max_skew_at_k",
    "min_skew_at_k",
    "ndkl",
    "skew_at_k",
    "skew_by_group",
]


def _labels(ranking_groups: Any) -> list[Hashable]:
    arr = np.asarray(ranking_groups, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"ranking_groups must be 1-D (one label per position); got shape {arr.shape}")
    return [_clean(v) for v in arr]


def _check_k(k: int, n: int) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n} (the ranking's length); got {k}")


def _check_target(target: Mapping[Hashable, float]) -> None:
    if any(v < 0 for v in target.values()):
        raise ValueError("target shares must be >= 0")
    total = sum(target.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(f"target shares must sum to 1; they sum to {total:.6f}")


def _skew(share: float, target: float, epsilon: float) -> float:
    if target + epsilon <= 0:
        raise ValueError("a target share of 0 makes Skew@k undefined; pass epsilon > 0")
    num = share + epsilon
    if num == 0:
        return -math.inf
    return math.log(num / (target + epsilon))


def skew_at_k(
    ranking_groups: Any,
    *,
    k: int,
    group: Hashable,
    target_share: float,
    epsilon: float = 0.0,
) -> float:
    """Skew@k of one group: ``ln(share of the group in the top k / target share)``.

    Geyik et al. 2019, Eq. 1. 0 means the group has exactly its target share of the top ``k``;
    negative means under-represented, positive over-represented.

    Parameters
    ----------
    ranking_groups
        ``(n,)`` group label per position, top first.
    k
        Prefix length, ``1 <= k <= n``.
    group
        The group asked about (a label; ``True`` for a membership column).
    target_share
        The desired share in ``(0, 1]`` (e.g. the group's share of the pool, or a floor).
    epsilon
        Smoothing; 0 (default) gives ``-inf`` when the group is absent from the top ``k``.

    Returns
    -------
    float

    Examples
    --------
    >>> round(skew_at_k(["a", "b", "a", "a"], k=4, group="b", target_share=0.5), 4)  # ln(0.25 / 0.5)
    -0.6931
    >>> skew_at_k(["a", "a", "b"], k=2, group="b", target_share=0.5)
    -inf
    """
    labels = _labels(ranking_groups)
    _check_k(k, len(labels))
    share = sum(1 for lab in labels[:k] if lab == group) / k
    return _skew(share, target_share, epsilon)


@dataclass(frozen=True, slots=True)
class SkewAtK:
    """Skew@k for every group of a target distribution, and the extremes.

    Attributes
    ----------
    k
        Prefix length.
    skews
        ``((group, skew), ...)`` in the target's order.
    min_skew, min_group
        MinSkew@k (Geyik et al., Eq. 2) and the group that has it (the most under-represented).
    max_skew, max_group
        MaxSkew@k (Eq. 3) and its group (the most over-represented).
    """

    k: int
    skews: tuple[tuple[Hashable, float], ...]
    min_skew: float
    min_group: Hashable
    max_skew: float
    max_group: Hashable

    def as_dict(self) -> dict[str, Any]:
        """The result as one table row."""
        return asdict(self)


def skew_by_group(
    ranking_groups: Any,
    *,
    k: int,
    target_distribution: Mapping[Hashable, float],
    epsilon: float = 0.0,
) -> SkewAtK:
    """Skew@k of every group in ``target_distribution``, with MinSkew@k and MaxSkew@k.

    Parameters
    ----------
    ranking_groups
        ``(n,)`` group label per position, top first.
    k
        Prefix length.
    target_distribution
        ``{group: target share}``, shares summing to 1; positions whose label is not a key are
        counted in ``k`` but belong to no listed group.
    epsilon
        Smoothing (see :func:`skew_at_k`).

    Returns
    -------
    SkewAtK

    Examples
    --------
    >>> s = skew_by_group(["a", "a", "a", "b"], k=4, target_distribution={"a": 0.5, "b": 0.5})
    >>> round(s.min_skew, 4), s.min_group, round(s.max_skew, 4), s.max_group  # ln(.25/.5), ln(.75/.5)
    (-0.6931, 'b', 0.4055, 'a')
    """
    labels = _labels(ranking_groups)
    _check_k(k, len(labels))
    _check_target(target_distribution)
    top = labels[:k]
    skews = tuple(
        (g, _skew(sum(1 for lab in top if lab == g) / k, t, epsilon)) for g, t in target_distribution.items()
    )
    lo = min(skews, key=lambda gs: gs[1])
    hi = max(skews, key=lambda gs: gs[1])
    return SkewAtK(k=k, skews=skews, min_skew=lo[1], min_group=lo[0], max_skew=hi[1], max_group=hi[0])


def min_skew_at_k(
    ranking_groups: Any,
    *,
    k: int,
    target_distribution: Mapping[Hashable, float],
    epsilon: float = 0.0,
) -> float:
    """MinSkew@k = ``min_g Skew_g@k`` (Geyik et al. 2019, Eq. 2): the worst under-representation.

    Parameters
    ----------
    ranking_groups
        ``(n,)`` group label per position, top first.
    k
        Prefix length.
    target_distribution
        ``{group: target share}``, summing to 1.
    epsilon
        Smoothing (see :func:`skew_at_k`).

    Returns
    -------
    float

    Examples
    --------
    >>> round(min_skew_at_k(list("aaab"), k=4, target_distribution={"a": 0.5, "b": 0.5}), 4)
    -0.6931
    """
    return skew_by_group(
        ranking_groups, k=k, target_distribution=target_distribution, epsilon=epsilon
    ).min_skew


def max_skew_at_k(
    ranking_groups: Any,
    *,
    k: int,
    target_distribution: Mapping[Hashable, float],
    epsilon: float = 0.0,
) -> float:
    """MaxSkew@k = ``max_g Skew_g@k`` (Geyik et al. 2019, Eq. 3): the largest over-representation.

    Parameters
    ----------
    ranking_groups
        ``(n,)`` group label per position, top first.
    k
        Prefix length.
    target_distribution
        ``{group: target share}``, summing to 1.
    epsilon
        Smoothing (see :func:`skew_at_k`).

    Returns
    -------
    float

    Examples
    --------
    >>> round(max_skew_at_k(list("aaab"), k=4, target_distribution={"a": 0.5, "b": 0.5}), 4)
    0.4055
    """
    return skew_by_group(
        ranking_groups, k=k, target_distribution=target_distribution, epsilon=epsilon
    ).max_skew


def ndkl(ranking_groups: Any, *, target_distribution: Mapping[Hashable, float]) -> float:
    """Normalised discounted KL divergence of a ranking from a target distribution.

    Geyik et al. 2019, Eq. 4::

        NDKL = (1/Z) Σ_{i=1..n} d_KL(D_i || D) / log2(i + 1),   Z = Σ_{i=1..n} 1 / log2(i + 1)

    where ``D_i`` is the group distribution of the top ``i`` and ``d_KL(P || Q) = Σ P ln(P/Q)``
    (natural log; ``0 ln 0 = 0``). 0 means every prefix has exactly the target distribution.

    Parameters
    ----------
    ranking_groups
        ``(n,)`` group label per position, top first. Every label (unknown = ``None``
        included) must be a key of ``target_distribution``.
    target_distribution
        ``{group: target share}``, summing to 1.

    Returns
    -------
    float
        ``+inf`` if a group with target share 0 appears in the ranking.

    Examples
    --------
    Prefix 1 is all "a": KL = 1 * ln(1/0.5) = ln 2, weight 1; prefix 2 matches the target: KL = 0.

    >>> round(ndkl(["a", "b"], target_distribution={"a": 0.5, "b": 0.5}), 4)  # ln 2 / (1 + 1/log2 3)
    0.425
    """
    labels = _labels(ranking_groups)
    _check_target(target_distribution)
    if not labels:
        raise ValueError("an empty ranking has no NDKL")
    names = list(target_distribution)
    index = {g: j for j, g in enumerate(names)}
    missing = sorted({repr(lab) for lab in labels if lab not in index})
    if missing:
        raise ValueError(f"labels not in target_distribution: {', '.join(missing)} (unknown values are None)")
    n = len(labels)
    onehot = np.zeros((n, len(names)))
    onehot[np.arange(n), [index[lab] for lab in labels]] = 1.0
    prefix = np.cumsum(onehot, axis=0) / np.arange(1, n + 1)[:, None]  # D_i, one row per prefix
    q = np.array([target_distribution[g] for g in names], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(prefix > 0, prefix * np.log(prefix / q), 0.0)
    kl = terms.sum(axis=1)
    weights = 1.0 / np.log2(np.arange(2, n + 2))
    return float((weights * kl).sum() / weights.sum())


# --------------------------------------------------------------------------------------
# Exposure (Singh & Joachims 2018)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupExposure:
    """Exposure of one group in a ranking (one table row).

    Attributes
    ----------
    group
        The label.
    num_items
        Candidates of the group in the ranking.
    total_exposure
        ``Σ v_j`` over the group's positions.
    share_of_exposure
        ``total_exposure`` over all positions' exposure.
    mean_exposure
        ``Exposure(G) = total_exposure / |G|`` (Singh & Joachims, Eq. 5 for a deterministic
        ranking).
    mean_relevance
        ``U(G)``, the group's mean relevance; NaN when no relevance was given.
    exposure_per_relevance
        ``Exposure(G) / U(G)``: the quantity the disparate treatment constraint equalises.
    """

    group: Hashable
    num_items: int
    total_exposure: float
    share_of_exposure: float
    mean_exposure: float
    mean_relevance: float
    exposure_per_relevance: float

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict."""
        return asdict(self)


def _position_weights(n: int, position_bias: Literal["log"] | Sequence[float], k: int | None) -> np.ndarray:
    if isinstance(position_bias, str):
        if position_bias != "log":
            raise ValueError(f"position_bias must be 'log' or a sequence of weights, not {position_bias!r}")
        # Singh & Joachims 2018, Sec. 4: v_j = 1 / log2(1 + j), the DCG discount.
        v = 1.0 / np.log2(1.0 + np.arange(1, n + 1))
    else:
        v = np.asarray(position_bias, dtype=float)
        if v.shape != (n,):
            raise ValueError(f"position_bias has shape {v.shape}; the ranking has {n} positions")
    if k is not None:
        _check_k(k, n)
        v = v.copy()
        v[k:] = 0.0  # a shortlist of k: nobody looks further
    return v


def exposure_by_group(
    ranking_groups: Any,
    *,
    relevance: Any = None,
    position_bias: Literal["log"] | Sequence[float] = "log",
    k: int | None = None,
) -> tuple[GroupExposure, ...]:
    """Exposure per group in one ranking (Singh & Joachims, KDD 2018).

    Position ``j`` (1-based) gets exposure ``v_j = 1 / log2(1 + j)``, or the weights given.
    A group's exposure is the mean over its members; with ``relevance`` also its mean relevance
    and their ratio.

    Parameters
    ----------
    ranking_groups
        ``(n,)`` group label per position, top first; unknown (``None``) is its own row.
    relevance
        ``(n,)`` relevance of the candidate at each position (e.g. match score), optional.
    position_bias
        ``"log"`` or ``(n,)`` weights.
    k
        Positions after ``k`` get exposure 0 (a shortlist of ``k``).

    Returns
    -------
    tuple of GroupExposure
        Sorted by label, unknown last.

    Examples
    --------
    >>> rows = exposure_by_group(["a", "b", "a"])
    >>> [(r.group, round(r.mean_exposure, 4)) for r in rows]  # a: (1 + 1/2) / 2, b: 1/log2(3)
    [('a', 0.75), ('b', 0.6309)]
    """
    labels = _labels(ranking_groups)
    n = len(labels)
    v = _position_weights(n, position_bias, k)
    rel = None if relevance is None else np.asarray(relevance, dtype=float)
    if rel is not None and rel.shape != (n,):
        raise ValueError(f"relevance has shape {rel.shape}; the ranking has {n} positions")
    total = float(v.sum())
    groups = sorted(set(labels), key=lambda g: (g is None, str(g)))
    out = []
    for g in groups:
        mask = np.fromiter((lab == g for lab in labels), dtype=bool, count=n)
        m = int(mask.sum())
        exp_sum = float(v[mask].sum())
        mean_exp = exp_sum / m
        mean_rel = math.nan if rel is None else float(rel[mask].mean())
        per_rel = math.nan if (rel is None or mean_rel == 0) else mean_exp / mean_rel
        out.append(
            GroupExposure(
                group=g,
                num_items=m,
                total_exposure=exp_sum,
                share_of_exposure=exp_sum / total if total > 0 else math.nan,
                mean_exposure=mean_exp,
                mean_relevance=mean_rel,
                exposure_per_relevance=per_rel,
            )
        )
    return tuple(out)


def disparate_treatment_ratio(
    ranking_groups: Any,
    *,
    relevance: Any,
    group: Hashable,
    reference_group: Hashable,
    position_bias: Literal["log"] | Sequence[float] = "log",
    k: int | None = None,
) -> float:
    """Disparate treatment ratio (Singh & Joachims 2018, Sec. 5.1).

    ``DTR = (Exposure(G0) / U(G0)) / (Exposure(G1) / U(G1))`` with ``G0 = group``,
    ``G1 = reference_group``, exposure as in :func:`exposure_by_group` and ``U`` the mean
    relevance. 1 means exposure proportional to relevance; below 1, ``group`` gets less exposure
    than its relevance merits.

    Parameters
    ----------
    ranking_groups
        ``(n,)`` group label per position, top first.
    relevance
        ``(n,)`` relevance per position (> 0 on average in both groups).
    group, reference_group
        The two groups.
    position_bias
        ``"log"`` or ``(n,)`` weights.
    k
        Positions after ``k`` get exposure 0.

    Returns
    -------
    float
        NaN if either group is absent or has mean relevance 0.

    Examples
    --------
    >>> disparate_treatment_ratio(["a", "b"], relevance=[1.0, 1.0], group="b", reference_group="a",
    ...                           position_bias=[1.0, 0.5])
    0.5
    """
    rows = {
        r.group: r
        for r in exposure_by_group(ranking_groups, relevance=relevance, position_bias=position_bias, k=k)
    }
    if group not in rows or reference_group not in rows:
        return math.nan
    num, den = rows[group].exposure_per_relevance, rows[reference_group].exposure_per_relevance
    if math.isnan(num) or math.isnan(den) or den == 0:
        return math.nan
    return num / den
