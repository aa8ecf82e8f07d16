"""The fairness benchmark: allocation and shortlist methods behind one interface, and tidy results.

A researcher (följeforskare, DOMAIN.md) asks what fairness costs in match quality. This module
runs every registered method on one *instance* (a region's pool, places and policy) and turns each
result into rows of a long ("tidy") table, one row per metric and, where the metric is per priority
group, per group:

======== =====================================================================================
column   meaning
======== =====================================================================================
region   the region's name (a label the caller gives)
size     the fixture size (a label)
seed     the seed that made the region (also the seed of random baselines and list sampling)
method   a registered method's name
kind     ``"allocation"`` or ``"shortlist"``
metric   the metric's name (:data:`ALLOCATION_METRICS`, :data:`SHORTLIST_METRICS`)
group    the priority group a per-group metric is about; null for the whole result
value    the number (float; NaN where the metric is undefined, e.g. a ratio over an empty group)
======== =====================================================================================

Only aggregates enter the table (counts, shares, rates, ratios), never a candidate's id or
membership: pool data is sensitive, the results table is not.

Methods
-------
Allocation methods take an :class:`Instance` and return an :class:`Allocation` (candidate and
place positions); shortlist methods take an :class:`Instance`, a place position and ``k`` and
return the ranked candidate positions. The built-in ones (:data:`BUILTIN_METHODS`) are the exact
round with and without keys and floors, the three baselines of :mod:`matching`, and the FA*IR
shortlist with and without the group minimums. A new method is one function and one call::

    def random_round(instance, *, seed):
        ...  # any rule; instance.round_graph() gives the same eligible pairs as the built-ins
        return Allocation(candidate=cand, place=plc)

    register_method("random_round", "allocation", random_round, description="...")

The evaluation recomputes every score with :func:`scoring.score.score_pairs` and checks that no
candidate is placed twice and no place over its free slots (``PlaceTable.free_slots``: a place's
slots less its hires, placements and held proposals, 0 where it is not open; :mod:`scoring.capacity`),
so a new method cannot report its own
match quality; it also counts pairs that break a hard rule (``num_ineligible_pairs``).

``docs/research.md`` is the protocol: what is run, each metric's definition and how to reproduce
every chart with one command.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from matching import SolveParams, solve
from scoring.allocation import Round, RoundParams, build_round
from scoring.domain import PriorityGroup
from scoring.eligibility import eligible_pairs, place_eligibility
from scoring.metrics import (
    anti_creaming_share,
    demographic_parity_difference,
    demographic_parity_ratio,
    disparate_impact_ratio,
    district_share_vs_key,
    group_share_vs_floor,
    membership,
    ndkl,
    selection_rate_by_group,
    skew_at_k,
)
from scoring.policy import Policy
from scoring.pool import CandidatePool, PlaceTable
from scoring.score import norm_breaker_pairs, score_pairs
from scoring.shortlist import shortlist

__all__ = [
    "ALLOCATION_METRICS",
    "BUILTIN_METHODS",
    "CHART_MEASURES",
    "CHART_REFERENCES",
    "RESULT_SCHEMA",
    "SHORTLIST_METRICS",
    "SKEW_EPSILON",
    "Allocation",
    "AllocationMethod",
    "Instance",
    "Method",
    "MethodKind",
    "ShortlistMethod",
    "evaluate_allocation",
    "evaluate_shortlists",
    "get_method",
    "list_methods",
    "plot_tradeoffs",
    "register_method",
    "run_instance",
    "sample_places",
    "summarise",
    "unregister_method",
]

logger = logging.getLogger(__name__)

MethodKind = Literal["allocation", "shortlist"]

#: The results table's columns and types (long format: one row per metric and group).
RESULT_SCHEMA: dict[str, Any] = {
    "region": pl.String,
    "size": pl.String,
    "seed": pl.Int64,
    "method": pl.String,
    "kind": pl.String,
    "metric": pl.String,
    "group": pl.String,
    "value": pl.Float64,
}

#: Smoothing of Skew@k in the benchmark: ``ln((share + ε) / (target + ε))``. Without it a group
#: absent from one list gives ``-inf`` and the mean over a sample of lists is ``-inf`` too, which
#: hides how often that happens; ``share_in_list`` shows absence directly (docs/metrics.md).
SKEW_EPSILON = 0.01

#: Allocation metrics: name → definition (docs/research.md repeats them with formulas).
ALLOCATION_METRICS: dict[str, str] = {
    "num_placed": "candidates placed",
    "total_score": "sum of the placed pairs' match scores (recomputed)",
    "mean_score": "total_score / num_placed: match quality per placement (0-100 points)",
    "placement_rate": "num_placed / eligible candidates",
    "num_ineligible_pairs": "placed pairs that break a hard rule (0 for every built-in method)",
    "num_violations": "rules the solver reported as violated (penalised rounds)",
    "runtime_s": "seconds in the method (the shared round graph is built before timing)",
    "district_max_abs_deviation": "max over keyed districts of |share of placements - key|",
    "districts_outside_bounds": "keyed districts whose count lies outside the key's bounds",
    "group_share": "per group: share of placements in the group (pair-level for gender-norm breakers)",
    "group_floor_gap": "per group: group_share - the policy's floor (negative: floor not met)",
    "floor_gap_min": "min over groups with a floor of group_floor_gap",
    "floors_unmet": "groups with a floor whose whole-number lower bound is not reached",
    "low_step_share_placed": "share of placed on work-ladder steps 1-2",
    "low_step_share_eligible": "share of eligible candidates on steps 1-2",
    "anti_creaming_difference": "low_step_share_placed - low_step_share_eligible (negative: creaming)",
    "placement_rate_group": "per group: placement rate of eligible members",
    "placement_rate_difference": "per group: placement rate of members - of non-members (signed)",
    "demographic_parity_difference": "max over groups of |rate(g) - rate(not g)| among eligible",
    "demographic_parity_ratio": "min over groups of min/max of rate(g), rate(not g) among eligible",
    "impact_ratio": "per group: rate(g) / rate(not g) among eligible",
    "four_fifths_ratio": "the smallest impact ratio",
    "passes_four_fifths": "1 if no group's impact ratio is below 4/5, 0 if one is, NaN undefined",
}

#: Shortlist metrics (means over the sampled places' lists).
SHORTLIST_METRICS: dict[str, str] = {
    "num_lists": "places whose list was evaluated",
    "list_length": "mean length of the lists (k, or fewer where fewer are eligible)",
    "mean_score": "mean match score of the listed candidates (recomputed)",
    "runtime_s": "mean seconds per list",
    "share_in_list": "per group: share of the list in the group",
    "skew_at_k": "per group: ln((share_in_list + eps) / (eligible share + eps))",
    "min_skew_at_k": "min over groups of skew_at_k (most under-represented)",
    "max_skew_at_k": "max over groups of skew_at_k (most over-represented)",
    "ndkl": "per group: NDKL of the list's member / non-member labels vs the eligible shares",
    "ndkl_mean": "mean over groups of ndkl",
    "exposure_ratio": "per group: mean exposure of eligible members / of eligible non-members",
    "exposure_ratio_min": "min over groups of exposure_ratio",
}

#: The fairness measures each chart puts on its x axis, per kind, with axis labels.
CHART_MEASURES: dict[MethodKind, dict[str, str]] = {
    "allocation": {
        "district_max_abs_deviation": "max |district share - key|",
        "districts_outside_bounds": "districts outside their key's bounds",
        "floor_gap_min": "worst group share - floor",
        "anti_creaming_difference": "low-step share placed - eligible (anti-creaming)",
        "demographic_parity_difference": "demographic parity difference (placement among eligible)",
        "four_fifths_ratio": "smallest impact ratio (four-fifths rule at 0.8)",
    },
    "shortlist": {
        "min_skew_at_k": "MinSkew@k (worst under-representation)",
        "max_skew_at_k": "MaxSkew@k (worst over-representation)",
        "ndkl_mean": "NDKL (mean over groups)",
        "exposure_ratio_min": "smallest exposure ratio, members / non-members",
    },
}

#: Where each chart draws a dashed reference line: the value that means "fair" or "rule met".
CHART_REFERENCES: dict[str, float] = {
    "district_max_abs_deviation": 0.0,
    "floor_gap_min": 0.0,
    "anti_creaming_difference": 0.0,
    "demographic_parity_difference": 0.0,
    "four_fifths_ratio": 0.8,
    "min_skew_at_k": 0.0,
    "max_skew_at_k": 0.0,
    "ndkl_mean": 0.0,
    "exposure_ratio_min": 1.0,
}

IntArray = npt.NDArray[np.int64]


# ---------------------------------------------------------------------------------------------
# Instances and results of methods
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Instance:
    """One benchmark instance: a region's pool and places under its policy, with labels.

    The eligible mask and the round's graph are computed once, on first use, and shared by every
    method run on the instance.

    Parameters
    ----------
    pool, places, policy
        From :func:`scoring.pool.build_pool` with ``policy``.
    region, size, seed
        Labels of the results' rows; ``seed`` also seeds random baselines and the sample of places.
    objective
        The round's objective (:class:`scoring.allocation.RoundParams`).
    time_limit_s
        Solver time limit per round.
    """

    pool: CandidatePool
    places: PlaceTable
    policy: Policy
    region: str = ""
    size: str = ""
    seed: int = 0
    objective: Literal["score", "max_placed"] = "max_placed"
    time_limit_s: float = 120.0
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def eligible(self) -> npt.NDArray[np.bool_]:
        """(n,) bool: candidates with at least one place they are eligible for and not held back.

        The denominator of the placement rates: a candidate no rule lets anyone place is not a
        candidate a method could have chosen.
        """
        if "eligible" not in self._cache:
            mask = np.zeros(self.pool.size, dtype=bool)
            for p in range(self.places.size):
                mask |= _considered(place_eligibility(self.pool, self.places, p, self.policy))
            self._cache["eligible"] = mask
        result: npt.NDArray[np.bool_] = self._cache["eligible"]
        return result

    def round_graph(self) -> Round:
        """The round with keys and floors, built once: its pairs, scores, bounds and floors.

        Built-in allocation methods solve variants of this round's problem (bounds or floors
        removed), so they all choose from the same pruned graph of eligible pairs.
        """
        if "round" not in self._cache:
            params = RoundParams(objective=self.objective, on_infeasible="penalise",
                                 time_limit_s=self.time_limit_s, seed=self.seed)
            self._cache["round"] = build_round(self.pool, self.places, self.policy, params)
        rnd: Round = self._cache["round"]
        return rnd

    def considered(self, place: int) -> npt.NDArray[np.bool_]:
        """(n,) bool: candidates a shortlist for ``place`` may list (eligible, not held back)."""
        key = f"considered:{place}"
        if key not in self._cache:
            self._cache[key] = _considered(place_eligibility(self.pool, self.places, place, self.policy))
        mask: npt.NDArray[np.bool_] = self._cache[key]
        return mask


def _considered(check: Any) -> npt.NDArray[np.bool_]:
    held = check.held_back["open_proposal_elsewhere"] | check.held_back["declined_by_supplier"]
    return np.asarray(check.eligible & ~held)


@dataclass(frozen=True)
class Allocation:
    """An allocation method's answer: which candidate goes to which place.

    Parameters
    ----------
    candidate, place
        (m,) positions in the pool and the place table, one entry per placement.
    status
        The method's own word for the result (``"optimal"``, ``"heuristic"``, ...), for logs.
    num_violations
        Rules the method knowingly broke (a penalised round's violations); 0 if none.
    """

    candidate: npt.ArrayLike
    place: npt.ArrayLike
    status: str = "heuristic"
    num_violations: int = 0


class AllocationMethod(Protocol):
    """``fn(instance, *, seed) -> Allocation``."""

    def __call__(self, instance: Instance, *, seed: int) -> Allocation: ...


class ShortlistMethod(Protocol):
    """``fn(instance, place, *, k, seed) -> ranked candidate positions`` (best first, at most k)."""

    def __call__(self, instance: Instance, place: int, *, k: int, seed: int) -> npt.ArrayLike: ...


@dataclass(frozen=True)
class Method:
    """A registered method."""

    name: str
    kind: MethodKind
    fn: Callable[..., Any]
    description: str = ""


_REGISTRY: dict[str, Method] = {}


def register_method(
    name: str, kind: MethodKind, fn: Callable[..., Any], *, description: str = "", replace: bool = False
) -> Method:
    """Add a method to the benchmark.

    Parameters
    ----------
    name
        Its name in the results table and on the command line (``--methods``).
    kind
        ``"allocation"`` (``fn(instance, *, seed) -> Allocation``) or ``"shortlist"``
        (``fn(instance, place, *, k, seed) -> ranked candidate positions``).
    fn
        The method.
    description
        One line for ``docs/research.md`` and ``platsa bench fairness --list``.
    replace
        Allow replacing a method of the same name.

    Returns
    -------
    Method

    Raises
    ------
    ValueError
        Unknown kind, empty or comma-holding name, or a name already taken (without ``replace``).

    Examples
    --------
    >>> def nobody(instance, *, seed):
    ...     return Allocation(candidate=[], place=[])
    >>> register_method("nobody", "allocation", nobody).kind
    'allocation'
    >>> unregister_method("nobody")
    """
    if kind not in ("allocation", "shortlist"):
        raise ValueError(f"kind must be 'allocation' or 'shortlist', not {kind!r}")
    if not name or "," in name or name != name.strip():
        raise ValueError(f"method name {name!r}: non-empty, no commas, no surrounding spaces")
    if name in _REGISTRY and not replace:
        raise ValueError(f"a method named {name!r} is already registered (pass replace=True)")
    method = Method(name=name, kind=kind, fn=fn, description=description)
    _REGISTRY[name] = method
    return method


def unregister_method(name: str) -> None:
    """Remove a method (tests, or a researcher replacing a built-in under another name)."""
    _REGISTRY.pop(name, None)


def get_method(name: str) -> Method:
    """The method registered under ``name``.

    Raises
    ------
    KeyError
        With the registered names, if there is none.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no method {name!r}; registered: {', '.join(_REGISTRY)}") from None


def list_methods(kind: MethodKind | None = None) -> list[Method]:
    """Registered methods in registration order (built-ins first), optionally of one kind."""
    return [m for m in _REGISTRY.values() if kind is None or m.kind == kind]


# ---------------------------------------------------------------------------------------------
# Built-in methods
# ---------------------------------------------------------------------------------------------


def _round_method(
    *, use_keys: bool, use_floors: bool, method: str = "optimal"
) -> Callable[..., Allocation]:
    """An allocation method that solves the instance's round with or without keys and floors.

    Equivalent to :func:`scoring.allocation.run_round` with ``use_keys`` / ``use_floors`` (the
    tests check it), but the graph is built once per instance and the explanations are skipped:
    the benchmark needs the pairs, not the words.
    """

    def run(instance: Instance, *, seed: int) -> Allocation:
        rnd = instance.round_graph()
        problem = rnd.problem
        changes: dict[str, Any] = {}
        if not use_keys:
            # Same bounds as build_round with use_keys=False: none.
            changes["district_lower"] = np.zeros(problem.num_districts, dtype=np.int32)
            changes["district_upper"] = np.full(problem.num_districts, max(problem.num_candidates, 1),
                                                dtype=np.int32)
        if not use_floors:
            changes["group_floor"] = np.zeros(problem.num_groups, dtype=np.float64)
        if changes:
            problem = dataclasses.replace(problem, **changes)
        params = SolveParams(objective=instance.objective, time_limit_s=instance.time_limit_s, seed=seed,
                             on_infeasible="penalise", method=method)  # type: ignore[arg-type]
        result = solve(problem, params)
        edges = result.chosen_edges
        return Allocation(
            candidate=problem.edge_candidate[edges],
            place=problem.edge_place[edges],
            status=result.status.value,
            num_violations=len(result.violations),
        )

    return run


def _shortlist_method(*, fair: bool) -> Callable[..., npt.ArrayLike]:
    def run(instance: Instance, place: int, *, k: int, seed: int) -> npt.ArrayLike:
        result = shortlist(instance.pool, instance.places, str(instance.places.ids[place]), k=k,
                           policy=instance.policy, fair=fair)
        return np.array([line.candidate_index for line in result.lines], dtype=np.int64)

    return run


#: The built-in methods, in the order the charts list them.
BUILTIN_METHODS: tuple[Method, ...] = (
    register_method("optimal", "allocation", _round_method(use_keys=True, use_floors=True),
                    description="exact round: distribution keys and group floors"),
    register_method("optimal_no_floors", "allocation", _round_method(use_keys=True, use_floors=False),
                    description="exact round: keys, no floors"),
    register_method("optimal_no_keys", "allocation", _round_method(use_keys=False, use_floors=True),
                    description="exact round: floors, no keys"),
    register_method("optimal_unconstrained", "allocation", _round_method(use_keys=False, use_floors=False),
                    description="exact round: neither keys nor floors (the price-of-fairness reference)"),
    register_method("greedy", "allocation",
                    _round_method(use_keys=True, use_floors=True, method="greedy"),
                    description="baseline: best-scored pair first, keeps upper bounds only"),
    register_method("serial_dictatorship", "allocation",
                    _round_method(use_keys=True, use_floors=True, method="serial_dictatorship"),
                    description="baseline: candidates in random order take their best free place"),
    register_method("deferred_acceptance", "allocation",
                    _round_method(use_keys=True, use_floors=True, method="deferred_acceptance"),
                    description="baseline: candidate-proposing deferred acceptance, no keys or floors"),
    register_method("fair_topk", "shortlist", _shortlist_method(fair=True),
                    description="FA*IR multi-group shortlist: the policy's floors at every prefix"),
    register_method("plain_topk", "shortlist", _shortlist_method(fair=False),
                    description="top k by score only"),
)


# ---------------------------------------------------------------------------------------------
# Evaluation: one result into tidy rows
# ---------------------------------------------------------------------------------------------


def _row(instance: Instance, method: str, kind: MethodKind, metric: str, value: float | int | None,
         group: str | None = None) -> dict[str, Any]:
    v = math.nan if value is None else float(value)
    return {"region": instance.region, "size": instance.size, "seed": instance.seed, "method": method,
            "kind": kind, "metric": metric, "group": group, "value": v}


def _candidate_groups(policy: Policy) -> list[PriorityGroup]:
    """Enabled groups that belong to the candidate alone (gender-norm breaking is per pair)."""
    return [g for g in policy.groups.enabled if g != PriorityGroup.GENDER_NORM_BREAKER]


def _pair_membership(
    instance: Instance, cand: IntArray, plc: IntArray | int
) -> tuple[list[str], npt.NDArray[np.bool_]]:
    """(names, (m, G) bool) membership of pairs in every enabled group, in the policy's order."""
    names, columns = [], []
    for group in instance.policy.groups.enabled:
        if group == PriorityGroup.GENDER_NORM_BREAKER:
            # DOMAIN.md: gender-norm breaking belongs to the candidate–place pair.
            column = norm_breaker_pairs(instance.pool, instance.places, cand, plc)
        else:
            column = instance.pool.groups[group][cand]
        names.append(group.value)
        columns.append(np.asarray(column, dtype=bool))
    matrix = np.stack(columns, axis=1) if columns else np.zeros((len(cand), 0), dtype=bool)
    return names, matrix


def _check_allocation(instance: Instance, cand: IntArray, plc: IntArray) -> None:
    pool, places = instance.pool, instance.places
    problems = []
    if cand.shape != plc.shape or cand.ndim != 1:
        problems.append(f"candidate and place must be 1-D of one length; got {cand.shape} and {plc.shape}")
    else:
        if len(cand) and (cand.min() < 0 or cand.max() >= pool.size):
            problems.append(f"candidate positions outside 0..{pool.size - 1}")
        if len(plc) and (plc.min() < 0 or plc.max() >= places.size):
            problems.append(f"place positions outside 0..{places.size - 1}")
        if len(np.unique(cand)) != len(cand):
            problems.append("a candidate is placed more than once")
        if not problems and len(plc):
            over = np.flatnonzero(np.bincount(plc, minlength=places.size) > places.free_slots)
            if len(over):
                problems.append(f"{len(over)} place(s) over their free slots, e.g. position {int(over[0])}")
    if problems:
        raise ValueError("invalid allocation: " + "; ".join(problems))


def evaluate_allocation(
    instance: Instance, allocation: Allocation, *, method: str, runtime_s: float = math.nan
) -> list[dict[str, Any]]:
    """The tidy rows of one allocation: match quality, keys, floors, anti-creaming, parity.

    Parameters
    ----------
    instance
        The instance the allocation was made for.
    allocation
        The method's answer.
    method
        The method's name (the rows' ``method``).
    runtime_s
        Seconds the method took.

    Returns
    -------
    list of dict
        Rows with the columns of :data:`RESULT_SCHEMA`; metrics as in :data:`ALLOCATION_METRICS`.

    Raises
    ------
    ValueError
        If the allocation places a candidate twice, a place over its slots, or positions out of
        range.
    """
    pool, places, policy = instance.pool, instance.places, instance.policy
    cand = np.asarray(allocation.candidate, dtype=np.int64).reshape(-1)
    plc = np.asarray(allocation.place, dtype=np.int64).reshape(-1)
    _check_allocation(instance, cand, plc)
    rows: list[dict[str, Any]] = []

    def add(metric: str, value: float | int | None, group: str | None = None) -> None:
        rows.append(_row(instance, method, "allocation", metric, value, group))

    eligible = instance.eligible()
    placed = np.zeros(pool.size, dtype=bool)
    placed[cand] = True
    num_placed = len(cand)
    scores = score_pairs(pool, places, cand, plc, policy)[0] if num_placed else np.zeros(0)
    total = float(scores.sum())
    num_eligible = int(eligible.sum())
    add("num_placed", num_placed)
    add("total_score", total)
    add("mean_score", total / num_placed if num_placed else math.nan)
    add("placement_rate", num_placed / num_eligible if num_eligible else math.nan)
    ok = eligible_pairs(pool, places, cand, plc, policy) if num_placed else np.zeros(0, dtype=bool)
    add("num_ineligible_pairs", int((~ok).sum()))
    add("num_violations", allocation.num_violations)
    add("runtime_s", runtime_s)

    # Distribution keys (seed 000): shares by the candidate's home district.
    keys = policy.distribution.keys
    districts = np.asarray(pool.district_ids, dtype=object)[pool.district[cand]]
    if keys and num_placed:
        key_map: dict[Hashable, float] = {d: share for d, share in keys.items()}
        shares = district_share_vs_key(districts, keys=key_map, tolerance=policy.distribution.tolerance)
        key_rows = [r for r in shares if r.within is not None]
        add("district_max_abs_deviation", max(abs(r.difference) for r in key_rows))
        add("districts_outside_bounds", sum(1 for r in key_rows if not r.within))
    else:
        add("district_max_abs_deviation", math.nan)
        add("districts_outside_bounds", math.nan)

    # Priority-group floors: shares of the placed pairs (groups overlap).
    names, matrix = _pair_membership(instance, cand, plc)
    floors = {g.value: float(share) for g, share in policy.floors.items() if share > 0}
    gaps, unmet = [], 0
    if num_placed and names:
        for r in group_share_vs_floor(matrix, floors=floors, group_names=names):
            add("group_share", r.share, str(r.label))
            if r.within is not None:  # a group with a floor
                add("group_floor_gap", r.difference, str(r.label))
                gaps.append(r.difference)
                unmet += 0 if r.within else 1
    add("floor_gap_min", min(gaps) if gaps else math.nan)
    add("floors_unmet", unmet if num_placed else math.nan)

    # Anti-creaming (seed 001, work ladder): low steps among the placed vs among the eligible.
    creaming = anti_creaming_share(pool.ladder_step[cand], pool_ladder_step=pool.ladder_step[eligible])
    add("low_step_share_placed", creaming.share_placed_low)
    add("low_step_share_eligible", creaming.share_pool_low)
    add("anti_creaming_difference", creaming.difference)

    rows += _parity_rows(instance, placed, eligible, method)
    return rows


def _parity_rows(
    instance: Instance, placed: npt.NDArray[np.bool_], eligible: npt.NDArray[np.bool_], method: str
) -> list[dict[str, Any]]:
    """Placement among the eligible, per candidate-level group against its complement."""
    rows: list[dict[str, Any]] = []

    def add(metric: str, value: float | int | None, group: str | None = None) -> None:
        rows.append(_row(instance, method, "allocation", metric, value, group))

    groups = _candidate_groups(instance.policy)
    if not groups or not eligible.any():
        for metric in ("demographic_parity_difference", "demographic_parity_ratio", "four_fifths_ratio",
                       "passes_four_fifths"):
            add(metric, math.nan)
        return rows
    names = [g.value for g in groups]
    matrix = np.stack([instance.pool.groups[g][eligible] for g in groups], axis=1)
    features = membership(matrix, names=names)
    y = placed[eligible].astype(np.int8)
    # The policy's minimum cell size: a smaller group is reported, never compared (docs/metrics.md).
    min_size = instance.policy.follow_up.min_cell_size
    rates = selection_rate_by_group(y, sensitive_features=features, min_group_size=min_size)
    by_group = {r.group: r for r in rates.rows}
    for name in names:
        member, rest = by_group.get(name), by_group.get(f"not {name}")
        comparable = member is not None and rest is not None and not member.small and not rest.small
        add("placement_rate_group", member.selection_rate if member is not None else math.nan, name)
        add("placement_rate_difference",
            member.selection_rate - rest.selection_rate if comparable and member and rest else math.nan, name)
    dpd = demographic_parity_difference(y, sensitive_features=features, min_group_size=min_size)
    dpr = demographic_parity_ratio(y, sensitive_features=features, min_group_size=min_size)
    four = disparate_impact_ratio(y, sensitive_features=features, min_group_size=min_size)
    add("demographic_parity_difference", dpd.value)
    add("demographic_parity_ratio", dpr.value)
    for group, ratio in four.impact_ratios:
        add("impact_ratio", ratio, str(group))
    add("four_fifths_ratio", four.value)
    add("passes_four_fifths", None if four.passes_four_fifths is None else int(four.passes_four_fifths))
    return rows


def sample_places(instance: Instance, num_lists: int) -> list[int]:
    """Places whose shortlists the benchmark evaluates: a seeded sample of places with candidates.

    Places are drawn in a random order (seeded by ``instance.seed``) and kept when at least one
    candidate may be listed, until ``num_lists`` are found.
    """
    rng = np.random.default_rng(instance.seed)
    chosen: list[int] = []
    for p in rng.permutation(instance.places.size).tolist():
        if len(chosen) >= num_lists:
            break
        if instance.considered(p).any():
            chosen.append(int(p))
    return chosen


def evaluate_shortlists(
    instance: Instance,
    lists: Mapping[int, npt.ArrayLike],
    *,
    method: str,
    k: int,
    runtime_s: float = math.nan,
) -> list[dict[str, Any]]:
    """The tidy rows of one shortlist method over a sample of places: means over the lists.

    Each group is compared with the place's *considered* candidates (eligible, not held back): its
    target share is its share among them. Per list and group: the share in the list, Skew@k
    (smoothed by :data:`SKEW_EPSILON`), NDKL of the member / non-member labels, and the exposure
    ratio: mean exposure ``1 / log2(1 + rank)`` (0 beyond the list) of the considered members over
    that of the considered non-members. The rows hold the means over the lists.

    Parameters
    ----------
    instance
        The instance.
    lists
        Place position → ranked candidate positions (best first).
    method
        The method's name.
    k
        The length asked for.
    runtime_s
        Mean seconds per list.

    Returns
    -------
    list of dict
        Rows with the columns of :data:`RESULT_SCHEMA`; metrics as in :data:`SHORTLIST_METRICS`.
    """
    pool, places, policy = instance.pool, instance.places, instance.policy
    per_list: dict[tuple[str, str | None], list[float]] = {}

    def note(metric: str, value: float, group: str | None = None) -> None:
        per_list.setdefault((metric, group), []).append(value)

    for place, ranked_like in lists.items():
        ranked = np.asarray(ranked_like, dtype=np.int64).reshape(-1)[:k]
        considered = np.flatnonzero(instance.considered(place))
        if len(ranked) == 0 or len(considered) == 0:
            continue
        length = len(ranked)
        note("list_length", length)
        note("mean_score", float(score_pairs(pool, places, ranked, place, policy)[0].mean()))
        names, in_pool = _pair_membership(instance, considered, place)
        _, in_list = _pair_membership(instance, ranked, place)
        # Exposure of each considered candidate: 1/log2(1 + rank) inside the list, 0 outside.
        exposure = np.zeros(pool.size)
        exposure[ranked] = 1.0 / np.log2(np.arange(2, length + 2))
        exp_considered = exposure[considered]
        skews, ndkls, ratios = [], [], []
        for j, name in enumerate(names):
            target = float(in_pool[:, j].mean())
            labels = in_list[:, j]
            note("share_in_list", float(labels.mean()), name)
            if target > 0.0:
                skew = skew_at_k(labels, k=length, group=True, target_share=target, epsilon=SKEW_EPSILON)
                note("skew_at_k", skew, name)
                skews.append(skew)
            div = ndkl(labels.tolist(), target_distribution={True: target, False: 1.0 - target})
            note("ndkl", div, name)
            ndkls.append(div)
            members, others = in_pool[:, j], ~in_pool[:, j]
            if members.any() and others.any() and exp_considered[others].mean() > 0:
                ratio = float(exp_considered[members].mean() / exp_considered[others].mean())
                note("exposure_ratio", ratio, name)
                ratios.append(ratio)
        note("min_skew_at_k", min(skews) if skews else math.nan)
        note("max_skew_at_k", max(skews) if skews else math.nan)
        note("ndkl_mean", float(np.mean(ndkls)) if ndkls else math.nan)
        note("exposure_ratio_min", min(ratios) if ratios else math.nan)

    num_lists = len(per_list.get(("list_length", None), []))
    rows = [_row(instance, method, "shortlist", "num_lists", num_lists),
            _row(instance, method, "shortlist", "runtime_s", runtime_s)]
    for (metric, group), values in per_list.items():
        finite = [v for v in values if not math.isnan(v)]
        mean = float(np.mean(finite)) if finite else math.nan
        rows.append(_row(instance, method, "shortlist", metric, mean, group))
    return rows


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def run_instance(
    instance: Instance,
    methods: Iterable[str] | None = None,
    *,
    k: int = 20,
    num_lists: int = 20,
) -> pl.DataFrame:
    """Run methods on one instance and evaluate each: the instance's part of the results table.

    Parameters
    ----------
    instance
        The instance.
    methods
        Registered method names; default every registered method.
    k
        Shortlist length.
    num_lists
        Places sampled for the shortlist methods (:func:`sample_places`); the same places for
        every shortlist method.

    Returns
    -------
    polars.DataFrame
        Columns as :data:`RESULT_SCHEMA`.
    """
    chosen = [get_method(name) for name in methods] if methods is not None else list_methods()
    rows: list[dict[str, Any]] = []
    builtin = {m.name for m in BUILTIN_METHODS}
    if any(m.kind == "allocation" and m.name in builtin for m in chosen):
        # Build the shared graph before timing, so no method's runtime includes it.
        started = time.perf_counter()
        instance.round_graph()
        logger.info("%s %s seed %d: round graph in %.1f s", instance.region, instance.size, instance.seed,
                    time.perf_counter() - started)
    places = sample_places(instance, num_lists) if any(m.kind == "shortlist" for m in chosen) else []
    for m in chosen:
        started = time.perf_counter()
        if m.kind == "allocation":
            allocation = m.fn(instance, seed=instance.seed)
            elapsed = time.perf_counter() - started
            rows += evaluate_allocation(instance, allocation, method=m.name, runtime_s=elapsed)
        else:
            lists = {p: m.fn(instance, p, k=k, seed=instance.seed) for p in places}
            elapsed = (time.perf_counter() - started) / max(len(places), 1)
            rows += evaluate_shortlists(instance, lists, method=m.name, k=k, runtime_s=elapsed)
        logger.info("%s %s seed %d: %s in %.2f s", instance.region, instance.size, instance.seed, m.name,
                    time.perf_counter() - started)
    return pl.DataFrame(rows, schema=RESULT_SCHEMA)


def summarise(table: pl.DataFrame) -> pl.DataFrame:
    """Mean, min, max and count over seeds per (region, size, method, kind, metric, group).

    NaN values (undefined metrics) are left out of the statistics; ``num_seeds`` counts the seeds
    with a defined value.
    """
    finite = table.filter(pl.col("value").is_not_nan())
    keys = ["region", "size", "method", "kind", "metric", "group"]
    return (
        finite.group_by(keys, maintain_order=True)
        .agg(
            pl.col("value").mean().alias("mean"),
            pl.col("value").min().alias("min"),
            pl.col("value").max().alias("max"),
            pl.col("value").count().alias("num_seeds"),
        )
    )


# ---------------------------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------------------------


def plot_tradeoffs(
    table: pl.DataFrame,
    out_dir: str | Path,
    *,
    measures: Mapping[MethodKind, Mapping[str, str]] | None = None,
    quality_metric: str = "mean_score",
    method_order: Sequence[str] | None = None,
) -> list[Path]:
    """One PNG per fairness measure: match quality against it, per method, one panel per instance.

    Each marker is a method's mean over seeds; the error bars span the seeds' minimum to maximum
    on both axes (no bar: one seed, or every seed agreed). Uses matplotlib's Agg backend.

    Parameters
    ----------
    table
        The results table (:data:`RESULT_SCHEMA`).
    out_dir
        Folder for the PNGs (created).
    measures
        Kind → {metric: axis label}; default :data:`CHART_MEASURES`.
    quality_metric
        The y axis: a metric both kinds report (``mean_score``, points per placement / listed).
    method_order
        Legend order; default the registry's order.

    Returns
    -------
    list of Path
        The files written: ``<kind>_<measure>.png``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(table.filter(pl.col("group").is_null()))
    order = list(method_order or [m.name for m in list_methods()])
    markers = "osD^v<>pP*Xh"
    written: list[Path] = []
    for kind, chosen in (measures or CHART_MEASURES).items():
        part = summary.filter(pl.col("kind") == kind)
        if part.is_empty():
            continue
        panels = part.select("region", "size").unique(maintain_order=True).rows()
        methods = [m for m in order if m in set(part["method"].to_list())]
        methods += sorted(set(part["method"].to_list()) - set(methods))
        for metric, label in chosen.items():
            if part.filter(pl.col("metric") == metric).is_empty():
                continue
            cols = min(len(panels), 3)
            nrows = math.ceil(len(panels) / cols)
            fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.8 * nrows + 0.8), dpi=100,
                                     squeeze=False)
            for ax, (region, size) in zip(axes.flat, panels, strict=False):
                here = part.filter((pl.col("region") == region) & (pl.col("size") == size))
                for i, method in enumerate(methods):
                    x = here.filter((pl.col("method") == method) & (pl.col("metric") == metric))
                    y = here.filter((pl.col("method") == method) & (pl.col("metric") == quality_metric))
                    if x.is_empty() or y.is_empty():
                        continue
                    xm, xlo, xhi = x.row(0, named=True)["mean"], x["min"][0], x["max"][0]
                    ym, ylo, yhi = y.row(0, named=True)["mean"], y["min"][0], y["max"][0]
                    # Methods often agree exactly (a constraint that does not bind): later methods
                    # get smaller markers on top, so that coinciding points stay visible.
                    ax.errorbar([xm], [ym], xerr=[[xm - xlo], [xhi - xm]], yerr=[[ym - ylo], [yhi - ym]],
                                fmt=markers[i % len(markers)], color=f"C{i % 10}", capsize=3, label=method,
                                markersize=max(4.0, 12.0 - 1.2 * i), alpha=0.9, zorder=2 + i)
                instance_rows = table.filter((pl.col("region") == region) & (pl.col("size") == size))
                seeds = instance_rows["seed"].n_unique()
                if metric in CHART_REFERENCES:
                    ax.axvline(CHART_REFERENCES[metric], color="grey", linestyle="--", linewidth=0.8)
                ax.set_title(f"{region} {size} ({seeds} seed{'s' if seeds != 1 else ''})", fontsize=10)
                ax.set_xlabel(label, fontsize=8)
                ax.set_ylabel("mean match score" + (" per placement" if kind == "allocation" else " in list"),
                              fontsize=8)
                ax.tick_params(labelsize=8)
                ax.grid(alpha=0.3)
            for ax in list(axes.flat)[len(panels):]:
                ax.set_visible(False)
            legend: dict[str, Any] = {}
            for ax in axes.flat:  # a panel may lack a method whose measure is undefined there
                for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
                    legend.setdefault(name, handle)
            if legend:
                names = [m for m in methods if m in legend]
                fig.legend([legend[m] for m in names], names, loc="lower center", ncol=min(len(names), 4),
                           fontsize=8, frameon=False)
            fig.suptitle(f"{kind}: match quality vs {label}\n(marker: mean over seeds; bars: min to max; "
                         "coinciding markers: methods with equal results)", fontsize=10)
            fig.tight_layout(rect=(0, 0.08 if nrows == 1 else 0.05, 1, 1))
            path = out / f"{kind}_{metric}.png"
            fig.savefig(path, format="png")
            plt.close(fig)
            written.append(path)
    return written
