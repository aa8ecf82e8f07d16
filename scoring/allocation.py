"""Region-wide allocation rounds: from a loaded region and a policy to an explained, optimal assignment.

This module is the boundary between the domain and the optimisation core (STYLE.md): it turns the
pool's candidates and places into the flat arrays of :class:`matching.AllocationProblem` (positions,
a sparse edge list of eligible pairs with their scores, district bounds from the policy's keys,
group floors, pins), calls :func:`matching.solve`, and turns the result back into tables of ids
with explanations in words.

The round's graph
-----------------
A region has far too many eligible pairs to hand them all to the solver (100,000 candidates and
10,000 places in one city give hundreds of millions). The round keeps, for each place, its
``per_slot × slots`` best-scored eligible candidates (at least ``min_per_place``), and then, for each
candidate, their ``per_candidate`` best places. The solve is exact on that graph; the pruning and
its numbers are stated in every result (``RoundResult.graph``), and ``prune=False`` keeps every
eligible pair for rounds small enough to allow it.

Finding the graph
-----------------
Checking every hard rule for every pair is 10⁹ tests in such a city, and scoring every eligible pair
hundreds of millions of scores; the round does neither pair by pair. Places are grouped by placement
type and lowest admissible work-ladder step (after a supervisor's bridge). For each group, the
candidates who pass the rules that depend on the place only through those two numbers (not placed,
step, placement type; without held-back candidates, no open proposal) are sorted by the day they are
available, so that a place's availability rule admits a prefix of them. Only the commute rule is
checked pair by pair, in float32; open proposals to the place and recent declines at its supplier
are removed by position. Every rule is read from its one statement in :mod:`scoring.eligibility`
(``admits_from``, ``fails_ladder``, ``availability_deadline``, ``squared_km``, ``fails_commute``, ...),
which :func:`scoring.eligibility.place_eligibility` and :func:`scoring.eligibility.pair_failures`
read too: the three find the same pairs (``tests/scoring/test_eligibility.py``).

Where a place has more eligible candidates than it keeps, a float32 *screen* scores them from parts
computed once per group: a row of the ladder, time-far, priority-group, gender-norm and wishes terms
per kind of place (:func:`scoring.score.place_terms`), the distance, and a competence step for each
of the place's concepts a candidate has. The candidates within twice the screen's error margin of its
``keep``-th best are scored exactly (:func:`scoring.score.score_pairs`, all the group's places at
once) and the place keeps its ``keep`` best exact scores. The margin bounds the screen's rounding, so
these are the place's best; where the ``keep``-th best exact score is tied, the place is scored in full
and ``np.argpartition`` breaks the tie as it did when every place was scored against the whole pool.
The graph is that one, pair for pair (``tests/scoring/test_allocation_edges.py``).

District bounds
---------------
The policy's keys are shares of the places handed out in a round (DOMAIN.md). A round first finds
the largest number of people it can place at all (a bare max-cardinality flow on the same graph),
and the bounds are the policy's shares of that number with its tolerance
(:meth:`scoring.policy.Distribution.bounds`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from matching import (
    AllocationProblem,
    AllocationResult,
    RoundComparison,
    SolveParams,
    Unassigned,
    UnassignedReason,
    build_problem,
    compare_placements,
    export_mps,
    max_placeable,
    solve,
)
from matching import Certificate as MatchingCertificate
from scoring.capacity import STATES
from scoring.domain import PriorityGroup
from scoring.eligibility import (
    OVERRIDABLE_RULES,
    RuleOverride,
    admits_from,
    availability_deadline,
    explain_failures,
    fails_commute,
    fails_ladder,
    fails_placement_type,
    lacks_needed,
    num_available_by,
    squared_km,
    too_short,
    unmet_rules,
)
from scoring.exceptions import Problem, RoundSetupError
from scoring.policy import Policy
from scoring.pool import CandidatePool, PlaceTable, set_bits
from scoring.score import (
    TERMS,
    competence_table,
    norm_breaker_pairs,
    place_terms,
    policy_terms,
    score_pairs,
    term_weight,
)

logger = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
"""``progress(stage, fraction)``: called as the round advances (fraction 0..1 within the stage)."""


@dataclass(frozen=True)
class RoundParams:
    """How to run a round.

    Parameters
    ----------
    objective
        ``"max_placed"`` (default: as many people as possible, then the best total score) or
        ``"score"`` (the best total score).
    method
        ``"optimal"`` or a baseline: ``"greedy"``, ``"serial_dictatorship"``,
        ``"deferred_acceptance"``.
    use_keys, use_floors
        Apply the policy's distribution keys / priority-group floors.
    on_infeasible
        ``"report"``: an infeasible round says which rule fails and by how much. ``"penalise"``:
        it also solves with those rules as soft ones and reports each violation.
    pins
        ``(candidate_id, place_id)`` pairs that must be kept (agreed placements). A pin must pass
        every hard rule, unless ``overrides`` names it.
    overrides
        A coordinator's :class:`~scoring.eligibility.RuleOverride` per pin that breaks hard rules
        of :data:`~scoring.eligibility.OVERRIDABLE_RULES`, with a reason; shown in the result.
    forbidden
        ``(candidate_id, place_id)`` pairs that must not be chosen.
    include_held_back
        Also consider candidates held back from a place (an open proposal elsewhere, or declined by
        the place's supplier recently).
    prune, per_slot, min_per_place, per_candidate
        The round's graph (module docstring).
    time_limit_s, seed
        Solver time limit; seed of the random baseline.
    """

    objective: Literal["score", "max_placed"] = "max_placed"
    method: Literal["optimal", "greedy", "serial_dictatorship", "deferred_acceptance"] = "optimal"
    use_keys: bool = True
    use_floors: bool = True
    on_infeasible: Literal["report", "penalise"] = "report"
    pins: tuple[tuple[str, str], ...] = ()
    overrides: tuple[RuleOverride, ...] = ()
    forbidden: tuple[tuple[str, str], ...] = ()
    include_held_back: bool = False
    prune: bool = True
    per_slot: int = 40
    min_per_place: int = 100
    per_candidate: int = 50
    time_limit_s: float = 120.0
    seed: int = 0

    def solve_params(self) -> SolveParams:
        return SolveParams(
            objective=self.objective,
            time_limit_s=self.time_limit_s,
            seed=self.seed,
            on_infeasible=self.on_infeasible,
            method=self.method,
        )


@dataclass(frozen=True, eq=False)
class Round:
    """A round's problem, with the maps back to ids and each edge's score terms."""

    problem: AllocationProblem
    params: RoundParams
    policy: Policy
    pool: CandidatePool
    places: PlaceTable
    edge_terms: dict[str, npt.NDArray[np.float64]]
    group_ids: tuple[str, ...]
    district_ids: tuple[str, ...]
    planned_total: int
    graph: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    cuts: ScoreCuts | None = None
    """What the graph's pruning left out, bounded for pricing (None: nothing pruned, or unknown)."""
    bare: AllocationResult | None = None
    """The bare max flow that gave ``planned_total`` (its certificate proves it over every pair)."""


@dataclass(frozen=True, eq=False)
class ScoreCuts:
    """What the graph's pruning left out, so that pricing can bound it without scoring it.

    An eligible pair outside the graph was left out either by its place, which kept only its
    ``keep`` best (the pair then scores at most ``place[p]``, the lowest score the place kept;
    ``-inf`` for a place that kept every eligible candidate, ``inf`` for one that kept none), or by
    its candidate, who kept only their ``per_candidate`` best places: those pairs are listed
    (``dropped_cand``, ``dropped_place``, with their exact ``dropped_score``).
    """

    place: npt.NDArray[np.float64]
    dropped_cand: npt.NDArray[np.int64]
    dropped_place: npt.NDArray[np.int64]
    dropped_score: npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class RoundResult:
    """An explained round: tables of ids, the solver's status, objective, bound and gap.

    Attributes
    ----------
    assignments
        One row per assigned candidate: candidate_id, place_id, supplier_id, home_district,
        score, one ``term_<name>`` column per score term (weighted points; they add up to
        ``score``), pinned.
    unassigned
        One row per candidate with an eligible pair but no place: candidate_id, reason (a code),
        explanation (words).
    districts
        Per district: the key's share, lower and upper bound, assigned, within bounds.
    groups
        Per priority group: floor, assigned from the group, share, met.
    """

    status: str
    method: str
    objective: float
    bound: float
    gap: float
    num_assigned: int
    total_score: float
    assignments: pl.DataFrame
    unassigned: pl.DataFrame
    districts: pl.DataFrame
    groups: pl.DataFrame
    infeasibility: tuple[str, ...]
    violations: tuple[str, ...]
    constraints_ignored: tuple[str, ...]
    graph: dict[str, Any]
    timings: dict[str, float]
    overrides: tuple[dict[str, Any], ...] = ()
    """The pins kept by a coordinator's override: pair, rules broken (in words), reason."""
    certification: dict[str, Any] = field(default_factory=dict)
    """What the proof covers (:func:`run_round`): ``scope`` (``eligible``: every eligible pair;
    ``graph``: the round's graph only), ``certified_over`` (pairs the proof covers),
    ``num_eligible``, ``pricing_passes``, ``pairs_added``, ``bound_over_eligible`` and
    ``gap_over_eligible`` (the bound valid over every eligible pair, where one is known), and
    ``stopped`` (why pricing ended before the proof covered every eligible pair)."""
    round: Round | None = field(default=None, repr=False)
    result: AllocationResult | None = field(default=None, repr=False)

    def summary_lines(self) -> list[str]:
        """The round in a few lines of words."""
        head = f"status {self.status} ({self.method}): {self.num_assigned:,} placed"
        if not np.isnan(self.objective):
            head += f", objective {self.objective:,.3f}"
        if not np.isnan(self.bound):
            head += f", bound {self.bound:,.3f}, gap {self.gap:.2%}"
        lines = [head]
        lines += self._certification_lines()
        if "num_places_open" in self.graph:
            closed = ", ".join(f"{n:,} {state.replace('_', ' ')}"
                               for state, n in self.graph["places_not_open"].items())
            lines.append(f"places: {self.graph['num_places_open']:,} open today with "
                         f"{self.graph['free_slots']:,} free slot(s); not open: {closed}")
        lines += [f"cannot be met: {text}" for text in self.infeasibility]
        lines += [f"violated (penalised): {text}" for text in self.violations]
        lines += [f"override: {o['candidate_id']} kept at {o['place_id']} although "
                  f"{'; '.join(r['text'] for r in o['rules'])} (reason: {o['reason']})"
                  for o in self.overrides]
        if self.constraints_ignored:
            lines.append("this method ignores: " + ", ".join(self.constraints_ignored))
        return lines

    def _certification_lines(self) -> list[str]:
        cert = self.certification
        if not cert:
            return []
        how = (f"{cert['pricing_passes']} pricing pass(es), {cert['pairs_added']:,} pair(s) added"
               if cert["pricing_passes"] else "nothing left out" if cert["scope"] == "eligible"
               else "not priced")
        if cert["scope"] == "eligible":
            return [f"proven over every eligible pair: {cert['certified_over']:,} of "
                    f"{cert['num_eligible']:,} ({how})"]
        line = (f"proven over the round's graph only: {cert['certified_over']:,} of "
                f"{cert['num_eligible']:,} eligible pairs ({how}")
        line += f"; {cert['stopped']})" if cert["stopped"] else ")"
        if cert["bound_over_eligible"] is not None:
            line += (f"; over every eligible pair the bound is {cert['bound_over_eligible']:,.3f}, "
                     f"gap {cert['gap_over_eligible']:.2%}")
        return [line]

    def certificate_record(self) -> dict[str, Any] | None:
        """The prices proving the round's bound, by id (:func:`certificate_record`); None without."""
        if self.round is None or self.result is None:
            return None
        return certificate_record(self.round, self.result)

    def to_dict(self, *, include_unassigned: bool = True) -> dict[str, Any]:
        """The result file's content (JSON-ready; ``docs/allocation.md`` describes it)."""
        out: dict[str, Any] = {
            "status": self.status,
            "method": self.method,
            "objective": self.objective,
            "bound": None if np.isnan(self.bound) else self.bound,
            "gap": None if np.isnan(self.gap) else self.gap,
            "num_assigned": self.num_assigned,
            "total_score": self.total_score,
            "certified_over": self.certification.get("certified_over"),
            "pricing_passes": self.certification.get("pricing_passes"),
            "pairs_added": self.certification.get("pairs_added"),
            "certification": dict(self.certification),
            "infeasibility": list(self.infeasibility),
            "violations": list(self.violations),
            "constraints_ignored": list(self.constraints_ignored),
            "summary": {
                "districts": self.districts.to_dicts(),
                "groups": self.groups.to_dicts(),
            },
            "graph": self.graph,
            "timings": self.timings,
            "overrides": [dict(o) for o in self.overrides],
            "assignments": self.assignments.to_dicts(),
            "certificate": self.certificate_record(),
        }
        if include_unassigned:
            out["unassigned"] = self.unassigned.to_dicts()
        return out


# ---------------------------------------------------------------------------------------------
# Building the problem
# ---------------------------------------------------------------------------------------------


def build_round(
    pool: CandidatePool,
    places: PlaceTable,
    policy: Policy,
    params: RoundParams | None = None,
    *,
    progress: Progress | None = None,
) -> Round:
    """Build a round's :class:`matching.AllocationProblem` from the pool and the policy.

    Raises
    ------
    RoundSetupError
        Every problem of :func:`check_round_inputs`: an unknown id, contradictory pins, a pin that
        breaks a hard rule without an override, keys naming districts the region does not have, a
        graph setting (``per_slot``, ``min_per_place``, ``per_candidate``) out of range.
    """
    params = params or RoundParams()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    problems = check_round_inputs(pool, places, policy, params)
    if problems:
        raise RoundSetupError(problems)

    cand, plc, graph = _eligible_edges(pool, places, policy, params, progress)
    cuts = graph.pop("_score_cuts", None)
    timings["edges"] = time.perf_counter() - t0
    return dataclasses.replace(_assemble(pool, places, policy, params, cand, plc, graph, timings,
                                         planned=None), cuts=cuts)


def _assemble(
    pool: CandidatePool, places: PlaceTable, policy: Policy, params: RoundParams,
    cand: npt.NDArray[np.int64], plc: npt.NDArray[np.int64], graph: dict[str, Any],
    timings: dict[str, float], *, planned: int | None,
) -> Round:
    """The round's problem on the pairs ``cand``, ``plc`` (and the pins), scored exactly.

    ``planned`` is the keys' planned total; None computes it on these pairs (a bare max flow).
    Pricing passes them the first graph's, so that every pass solves the same round's rules.
    """
    pin_c, pin_p = _pairs(pool, places, params.pins)
    forb_c, forb_p = _pairs(pool, places, params.forbidden)
    # Pins are agreed placements: they stay in the graph even where pruning dropped them, or an
    # override lets them break a rule (check_round_inputs refused every other broken rule).
    cand, plc = _union_edges(cand, plc, pin_c, pin_p, places.size)

    t1 = time.perf_counter()
    score, terms = score_pairs(pool, places, cand, plc, policy)
    weighted = {name: term_weight(policy, name) * terms[name] for name in policy_terms(policy)}
    timings["scores"] = timings.get("scores", 0.0) + time.perf_counter() - t1

    keys = pair_keys(cand, plc, places.size)
    pinned_edges = np.searchsorted(keys, pair_keys(pin_c, pin_p, places.size)).astype(np.int64)
    forbidden = np.zeros(len(cand), dtype=bool)
    if len(forb_c):
        fk = pair_keys(forb_c, forb_p, places.size)
        pos = np.searchsorted(keys, fk)
        hit = (pos < len(keys)) & (keys[np.minimum(pos, len(keys) - 1)] == fk)
        forbidden[pos[hit]] = True

    group_ids, edge_groups, floors = _groups(pool, places, policy, params, cand, plc)
    district_ids = tuple(pool.district_ids)
    base: dict[str, Any] = {
        "num_candidates": pool.size,
        "num_places": places.size,
        "edge_candidate": cand.astype(np.int32),
        "edge_place": plc.astype(np.int32),
        "edge_score": score,
        # DOMAIN.md, "A region is alive": only free slots of open places are handed out.
        "place_slots": places.free_slots,
        "candidate_district": pool.district.astype(np.int32),
        "num_districts": len(district_ids),
        "edge_groups": edge_groups,
        "edge_forbidden": forbidden if forbidden.any() else None,
        "pinned_edges": pinned_edges if len(pinned_edges) else None,
        "district_names": district_ids,
        "group_names": group_ids,
    }

    bare = None  # no solve behind the planned total: _planned_over_eligible solves if it must
    if planned is None:
        t2 = time.perf_counter()
        planned = _max_placeable(base) if params.use_keys else 0
        timings["planned_total"] = time.perf_counter() - t2
        # The keys' shares are of the most people the eligible pairs can place (DOMAIN.md): the
        # graph's number is that one where it reaches the slots' bound, or nothing was pruned.
        graph["planned_total_over"] = "eligible" if (
            not params.use_keys or not graph.get("pruned") or planned >= graph.get("slot_bound", 0)
        ) else "graph"
    lower = np.zeros(len(district_ids), dtype=np.int32)
    upper = np.full(len(district_ids), max(pool.size, 1), dtype=np.int32)
    if params.use_keys:
        for district, (lo, hi) in policy.distribution.bounds(planned).items():
            d = district_ids.index(district)
            lower[d], upper[d] = lo, hi
    problem = build_problem(
        **base,
        num_groups=len(group_ids),
        district_lower=lower,
        district_upper=upper,
        group_floor=floors,
    )
    graph["num_edges"] = len(cand)
    graph.update(_place_counts(places))
    graph["pinned"] = len(pinned_edges)
    graph["forbidden"] = int(forbidden.sum())
    return Round(
        problem=problem, params=params, policy=policy, pool=pool, places=places, edge_terms=weighted,
        group_ids=group_ids, district_ids=district_ids, planned_total=planned, graph=graph,
        timings=timings, bare=bare,
    )


def pair_keys(cand: npt.ArrayLike, place: npt.ArrayLike, num_places: int) -> npt.NDArray[np.int64]:
    """One int64 per (candidate, place) pair, ordered by candidate then place."""
    return np.asarray(cand, dtype=np.int64) * max(num_places, 1) + np.asarray(place, dtype=np.int64)


def check_round_inputs(
    pool: CandidatePool, places: PlaceTable, policy: Policy, params: RoundParams
) -> list[Problem]:
    """Every problem that stops a round from being set up, all at once; empty when it can run.

    Checked before anything is computed, so that a caller (the CLI, the HTTP service) refuses
    contradictory input up front, by id:

    - pins, forbidden pairs and overrides that name an unknown candidate or place;
    - a pair both pinned and forbidden, a candidate pinned more than once, more pins to a place
      than it has free slots;
    - a pin that breaks a hard rule (:func:`scoring.eligibility.explain_failures`, in words) that
      no override covers; the place's period and free slots, a placement and an open proposal to
      the same place are never overridden;
    - an override that names no pin, names a rule that cannot be overridden, or gives no reason;
    - the policy's keys naming districts the region does not have, a graph setting out of range.
    """
    problems: list[Problem] = []
    if params.use_keys:
        for district in policy.distribution.keys:
            if district not in pool.district_ids:
                problems.append(Problem(f"policy {policy.id}", None, "distribution.keys", district,
                                        "the region has no such district"))
    for field_name, pairs in (("pins", params.pins), ("forbidden", params.forbidden),
                              ("overrides", [(o.candidate_id, o.place_id) for o in params.overrides])):
        for row, (cid, pid) in enumerate(pairs, start=1):
            if cid not in pool.index:
                problems.append(Problem(field_name, row, "candidate_id", cid, "no such candidate"))
            if pid not in places.index:
                problems.append(Problem(field_name, row, "place_id", pid, "no such place"))
    for name, least in (("per_slot", 1), ("min_per_place", 0), ("per_candidate", 1)):
        value = getattr(params, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            problems.append(Problem("params", None, name, repr(value),
                                    f"must be a whole number of at least {least}"))
    pinned = [cid for cid, _ in params.pins]
    for cid in sorted({c for c in pinned if pinned.count(c) > 1}):
        problems.append(
            Problem("pins", None, "candidate_id", cid, "a candidate can be pinned to one place only")
        )
    forbidden = set(params.forbidden)
    for row, pair in enumerate(params.pins, start=1):
        if pair in forbidden:
            problems.append(Problem("pins", row, None, f"{pair[0]}:{pair[1]}",
                                    "the pair is both pinned and forbidden"))
    problems += _check_overrides(pool, places, policy, params)
    return problems


def _check_overrides(
    pool: CandidatePool, places: PlaceTable, policy: Policy, params: RoundParams
) -> list[Problem]:
    """Pins against the hard rules and the free slots; overrides against the pins."""
    problems: list[Problem] = []
    pins = set(params.pins)
    override_of: dict[tuple[str, str], RuleOverride] = {}
    for row, o in enumerate(params.overrides, start=1):
        pair = (o.candidate_id, o.place_id)
        if pair not in pins:
            problems.append(Problem("overrides", row, None, f"{pair[0]}:{pair[1]}",
                                    "an override applies to a pinned pair; this pair is not pinned"))
        if not o.reason.strip():
            problems.append(Problem("overrides", row, "reason", o.reason, "give the reason for the override"))
        for rule in o.rules:
            if rule not in OVERRIDABLE_RULES:
                problems.append(Problem("overrides", row, "rules", rule,
                                        "not a rule that can be overridden (those are: "
                                        + ", ".join(OVERRIDABLE_RULES) + ")"))
        if pair in override_of:
            problems.append(Problem("overrides", row, None, f"{pair[0]}:{pair[1]}",
                                    "a second override of one pin"))
        override_of[pair] = o
    per_place: dict[str, int] = {}
    for row, (cid, pid) in enumerate(params.pins, start=1):
        if cid not in pool.index or pid not in places.index:
            continue
        per_place[pid] = per_place.get(pid, 0) + 1
        failures = explain_failures(pool, places, pool.index[cid], places.index[pid], policy)
        for failure in unmet_rules(failures, override_of.get((cid, pid))):
            if failure.rule == "free_slots":
                continue  # counted per place below, with every pin of the place
            advice = ("; an override with a reason keeps the pin" if failure.rule in OVERRIDABLE_RULES
                      else "; this rule cannot be overridden")
            problems.append(Problem("pins", row, failure.rule, f"{cid}:{pid}", failure.text + advice))
    for pid, count in per_place.items():
        free = int(places.free_slots[places.index[pid]])
        if count > free:
            state = places.states.describe(places.index[pid])
            problems.append(Problem(
                "pins", None, "free_slots", pid,
                f"{count} pin(s) to a place with {free} free slot(s) (the place is {state})"))
    return problems


def _place_counts(places: PlaceTable) -> dict[str, Any]:
    """How many places a round hands out and why the others are left out (``graph`` numbers)."""
    states = places.states
    counts = np.bincount(states.state, minlength=len(STATES))
    return {
        "num_places_open": int(counts[0]),
        "free_slots": int(places.free_slots.sum()),
        "places_not_open": {name: int(counts[i]) for i, name in enumerate(STATES) if i},
    }


def _pairs(
    pool: CandidatePool, places: PlaceTable, pairs: Sequence[tuple[str, str]]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    c = np.array([pool.index[cid] for cid, _ in pairs], dtype=np.int64)
    p = np.array([places.index[pid] for _, pid in pairs], dtype=np.int64)
    return c, p


def _union_edges(
    cand: npt.NDArray[np.int64], plc: npt.NDArray[np.int64],
    extra_c: npt.NDArray[np.int64], extra_p: npt.NDArray[np.int64], num_places: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Edges sorted by (candidate, place), without duplicates."""
    keys = np.unique(
        np.concatenate([pair_keys(cand, plc, num_places), pair_keys(extra_c, extra_p, num_places)])
    )
    n = max(num_places, 1)
    return keys // n, keys % n


class _PlaceScan:
    """Every open place's eligible candidates, group by group (module docstring, "Finding the graph").

    The graph's search and the pricing of the pairs it left out (:func:`price_outside`) walk the
    eligible pairs the same way: one :class:`_CandidateGroup` per placement type and lowest
    admissible step, then each of its places, so that both see exactly the same pairs.
    """

    def __init__(self, pool: CandidatePool, places: PlaceTable, policy: Policy, params: RoundParams) -> None:
        self.pool, self.places, self.policy, self.params = pool, places, policy, params
        rules = policy.eligibility
        # Each place's rule numbers, from the rules' one statement (scoring.eligibility), as
        # place_eligibility and pair_failures read them.
        lowest = admits_from(places, policy)
        self.deadline = availability_deadline(pool, places, policy).tolist()
        short = too_short(places, policy)
        self.keep = np.maximum(params.min_per_place,
                               params.per_slot * places.free_slots.astype(np.int64)).tolist()
        self.supplier = places.supplier.tolist()
        recent = places.decline_day >= pool.reference_day - rules.hold_back_days_after_decline
        self.decline_supplier, self.decline_cand = np.divmod(places.decline_keys[recent], max(pool.size, 1))
        # Rules of the candidate alone: not placed; without held-back candidates, no open proposal (one
        # elsewhere holds a candidate back, one to the place itself makes the pair ineligible).
        admitted = ~pool.placed
        if not params.include_held_back:
            admitted &= pool.open_proposals == 0
        self.admitted = admitted
        # Only places open now, with a free slot (scoring.capacity), take anyone.
        self.open_places = np.flatnonzero(~short & places.states.is_open)
        self.group_keys, group_of = np.unique(
            np.stack([places.placement_type[self.open_places].astype(np.int64),
                      lowest[self.open_places]], axis=1),
            axis=0, return_inverse=True,
        )
        self.group_of = group_of.ravel()

    def groups(self) -> Iterator[tuple[_CandidateGroup, list[int]]]:
        """Each candidate group with its open places, in a fixed order."""
        for g, (placement_type, lowest) in enumerate(self.group_keys.tolist()):
            group = _CandidateGroup(self.pool, self.places, self.policy, self.admitted,
                                    placement_type=placement_type, admits_from=lowest)
            yield group, self.open_places[self.group_of == g].tolist()

    def eligible_at(self, group: _CandidateGroup, p: int) -> _Eligible:
        """The place's eligible members of its group."""
        # Exceptions by position: open proposals to this place, recent declines at its supplier.
        excluded = self.places.open_at(p)
        if not self.params.include_held_back:
            lo, hi = np.searchsorted(self.decline_supplier, [self.supplier[p], self.supplier[p] + 1])
            excluded = np.concatenate([excluded, self.decline_cand[lo:hi]])
        return group.eligible(p, self.deadline[p], excluded)


def _eligible_edges(
    pool: CandidatePool, places: PlaceTable, policy: Policy, params: RoundParams, progress: Progress | None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], dict[str, Any]]:
    """The round's graph: eligible pairs, pruned as the module docstring says ("Finding the graph").

    Returns candidate and place positions, ordered by candidate, then score (best first), then place
    where pruning per candidate applies, else by place, then candidate; and the ``graph`` numbers.
    """
    scan = _PlaceScan(pool, places, policy, params)
    keep = scan.keep
    kept: dict[int, npt.NDArray[np.int64]] = {}
    num_eligible = done = slot_bound = 0
    cut_places: list[int] = []  # places that kept only their best (the others' pairs all stay)
    step = max(1, places.size // 50)
    free = places.free_slots.tolist()
    for group, group_places in scan.groups():
        screened: list[_Screened] = []
        for p in group_places:
            eligible = scan.eligible_at(group, p)
            num_eligible += eligible.count
            slot_bound += min(eligible.count, free[p])
            if params.prune and eligible.count > keep[p]:
                screened.append(group.screen(eligible, keep[p]))
                cut_places.append(p)
            elif eligible.count:
                kept[p] = eligible.candidates()
            done += 1
            if progress is not None and done % step == 0:
                progress("finding eligible pairs", done / max(len(scan.open_places), 1))
        kept.update(group.best(screened, functools.partial(scan.eligible_at, group)))
    if not kept:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, {"num_eligible": 0, "pruned": False}
    order = sorted(kept)
    cand = np.concatenate([np.sort(kept[p]) for p in order])
    plc = np.repeat(np.array(order, dtype=np.int64), [len(kept[p]) for p in order])
    kept_after_places = len(cand)
    cuts = None
    if params.prune and params.per_candidate > 0:
        # Per candidate, the best `per_candidate` places: by candidate, then score descending, then
        # place (a candidate's equal scores are kept in place order).
        score, _ = score_pairs(pool, places, cand, plc, policy)
        # What pruning left out scores at most these (ScoreCuts): a place's lowest kept score where
        # it kept only its best, a candidate's lowest kept where it kept only its best places.
        place_cut = np.full(places.size, np.inf)  # inf: a place that kept no pair bounds nothing
        cut = np.zeros(places.size, dtype=bool)
        cut[cut_places] = True
        at_cut = cut[plc]
        np.minimum.at(place_cut, plc[at_cut], score[at_cut])
        place_cut[~cut] = -np.inf
        by_candidate = np.lexsort((plc, -score, cand))
        cand, plc, score = cand[by_candidate], plc[by_candidate], score[by_candidate]
        starts = np.r_[0, np.flatnonzero(np.diff(cand)) + 1]
        rank = np.arange(len(cand)) - np.repeat(starts, np.diff(np.r_[starts, len(cand)]))
        keep_mask = rank < params.per_candidate
        cuts = ScoreCuts(place_cut, cand[~keep_mask], plc[~keep_mask], score[~keep_mask])
        cand, plc = cand[keep_mask], plc[keep_mask]
    if progress is not None:
        progress("finding eligible pairs", 1.0)
    graph = {
        "num_eligible": int(num_eligible),
        "pruned": bool(params.prune),
        "per_slot": params.per_slot,
        "min_per_place": params.min_per_place,
        "per_candidate": params.per_candidate,
        "kept_after_place_pruning": int(kept_after_places),
        # No assignment over the eligible pairs places more than this (each place its free slots, at
        # most its eligible candidates): where the graph's max flow reaches it, so would all pairs'.
        "slot_bound": int(slot_bound),
        "_score_cuts": cuts,
    }
    return cand, plc, graph


#: The screen's float32 scores are within this many points per point of total weight of the exact
#: float64 ones: each is a handful of float32 roundings of at most 2**-24 of the total weight, about
#: 1e-6 in all; the margin is ten times that.
_SCREEN_MARGIN = 1e-5
#: Added to an ineligible member's screen score: out of reach of any score the screen compares.
_INELIGIBLE = -1e30
#: Above this total weight (a margin near the float32 range) places are scored exactly, unscreened.
_SCREEN_MAX_WEIGHT = 1e20


@dataclass(frozen=True, eq=False)
class _Eligible:
    """A place's eligible candidates in its group: the first ``size`` members, less the ``failed``.

    ``failed`` and ``squared_km`` (each member's squared distance to the place) are the group's
    scratch space: valid until its next :meth:`_CandidateGroup.eligible`.
    """

    place: int
    size: int
    count: int
    failed: npt.NDArray[np.bool_]
    squared_km: npt.NDArray[np.float32]
    members: npt.NDArray[np.int64]

    def candidates(self) -> npt.NDArray[np.int64]:
        """Pool positions, in the group's order."""
        return self.members[: self.size][~self.failed]


@dataclass(frozen=True, eq=False)
class _Screened:
    """A place to keep ``keep`` of: the candidates the screen says may be among them, with their
    screen scores; or (``screen`` None) the ones it keeps, decided without a screen."""

    place: int
    keep: int
    candidates: npt.NDArray[np.int64]
    screen: npt.NDArray[np.float32] | None


def _group_fits(pool: CandidatePool, admitted: npt.NDArray[np.bool_], *, placement_type: int,
                admits_from: int) -> npt.NDArray[np.bool_]:
    """(n,) bool: the ``admitted`` candidates who pass the rules that depend on a place only through its
    placement type and the lowest step it admits (``ladder``, ``placement_type``: scoring.eligibility)."""
    return np.asarray(admitted & ~fails_ladder(pool.ladder_step, admits_from)
                      & ~fails_placement_type(pool.wished_or_any, placement_type))


class _CandidateGroup:
    """The candidates who may take places of one placement type and lowest admissible step.

    The members pass every rule that depends on the place only through those two numbers (not
    placed, work-ladder step, placement type, the caller's ``admitted`` mask) and are sorted by the
    day they are available, so that a place's availability rule admits a prefix of them. What the
    screen needs (rows of terms, concept postings) is built when a place first asks for it and
    kept for the group's other places.
    """

    def __init__(
        self, pool: CandidatePool, places: PlaceTable, policy: Policy, admitted: npt.NDArray[np.bool_],
        *, placement_type: int, admits_from: int,
    ) -> None:
        self.pool, self.places, self.policy = pool, places, policy
        fits = _group_fits(pool, admitted, placement_type=placement_type, admits_from=admits_from)
        members = np.flatnonzero(fits)
        self.members = members[np.argsort(pool.available_day[members], kind="stable")]
        self.position = np.full(pool.size, -1, dtype=np.int64)  # pool position -> member position
        self.position[self.members] = np.arange(len(self.members))
        self.available_day = pool.available_day[self.members]
        self.x_km = pool.x_km[self.members]
        self.y_km = pool.y_km[self.members]
        self.commute_limit_sq = pool.commute_limit_sq[self.members]
        self._squared = np.empty(len(self.members), dtype=np.float32)
        self._scratch = np.empty(len(self.members), dtype=np.float32)
        self._failed = np.empty(len(self.members), dtype=bool)
        total_weight = sum(float(getattr(policy.weights, t)) for t in TERMS)
        self._margin = _SCREEN_MARGIN * total_weight
        # The float32 screen knows the hand-weighted terms only: with the learnt outcome term, every
        # eligible pair is scored exactly (score_pairs), as a group too heavy to screen is.
        self._screens = total_weight < _SCREEN_MAX_WEIGHT and not policy.outcome_model.used
        self._distance_per_km: npt.NDArray[np.float32] | None = None
        self._words: npt.NDArray[np.uint64] | None = None
        self._holders: dict[int, npt.NDArray[np.int64]] = {}
        self._lacking: dict[int, npt.NDArray[np.bool_]] = {}
        self._terms: dict[tuple[object, ...], npt.NDArray[np.float64]] = {}
        self._rows: dict[tuple[object, ...], npt.NDArray[np.float32]] = {}
        self._competence: dict[tuple[int, int], tuple[npt.NDArray[np.float64], tuple[float, ...] | None]] = {}

    def eligible(self, place: int, deadline: int, excluded: npt.NDArray[np.integer]) -> _Eligible:
        """The place's eligible members: available by ``deadline``, within commute, not ``excluded``."""
        # The availability rule admits a prefix of the members, who are sorted by that day.
        size = num_available_by(self.available_day, deadline)
        # The commute rule as scoring.eligibility states it (float32), into the group's scratch space.
        squared = squared_km(self.x_km[:size], self.y_km[:size], self.places.x_km[place],
                             self.places.y_km[place], out=self._squared[:size], scratch=self._scratch[:size])
        failed = fails_commute(squared, self.commute_limit_sq[:size], out=self._failed[:size])
        # Required competences that are a hard rule at the place (place_eligibility's "competence").
        for concept in set_bits(self.places.needed[:, place]):
            np.logical_or(failed, self._lacks(concept)[:size], out=failed)
        at = self.position[excluded]
        failed[at[(at >= 0) & (at < size)]] = True
        count = size - int(np.count_nonzero(failed))
        return _Eligible(place, size, count, failed, squared, self.members)

    def screen(self, eligible: _Eligible, keep: int) -> _Screened:
        """Screen a place's eligible members: keep those whose float32 score is within twice its error
        of the ``keep``-th best float32 score, a superset of the ``keep`` best exact scores."""
        p = eligible.place
        if keep <= 0:
            return _Screened(p, keep, np.zeros(0, dtype=np.int64), None)
        if not self._screens:
            return _Screened(p, keep, self._best_exact(eligible, keep), None)
        screen = self._screen_scores(eligible)
        near = _near_best(screen, keep, np.float32(2 * self._margin))
        return _Screened(p, keep, self.members[near], screen[near])

    def upper_scores(self, eligible: _Eligible) -> npt.NDArray[np.float64]:
        """(count,): for each eligible member (:meth:`_Eligible.candidates` order), a number at least
        its exact score: the screen plus its margin, or the exact score where the group does not
        screen. Pricing reads it to leave out, unscored, the pairs that cannot pay."""
        if not self._screens:
            exact, _ = score_pairs(self.pool, self.places, eligible.candidates(), eligible.place, self.policy)
            return exact
        screen = self._screen_scores(eligible)[~eligible.failed]
        return screen.astype(np.float64) + self._margin

    def _screen_scores(self, eligible: _Eligible) -> npt.NDArray[np.float32]:
        """(size,) float32 scores of the place's first ``size`` members within ``margin`` of the exact
        ones where eligible, far below any where not. Overwrites the eligible's ``squared_km``."""
        p, size, weights = eligible.place, eligible.size, self.policy.weights
        # distance: weight · (1 − d / limit), without the clip at 0 (an eligible pair is within its
        # limit up to rounding, which the margin covers), plus the competence term of no concept.
        screen = np.sqrt(eligible.squared_km, out=eligible.squared_km)
        screen *= self._weight_per_km()[:size]
        table, steps = self._competence_of(p)
        np.subtract(np.float32(weights.distance + table[0, 0]), screen, out=screen)
        screen += self._row(p)[:size]
        self._add_competence(screen, p, table, steps)
        # The ineligible out of reach (an assignment through the boolean mask costs several times this).
        screen += np.multiply(eligible.failed, np.float32(_INELIGIBLE), out=self._scratch[:size])
        return screen

    def best(
        self, screened: Sequence[_Screened], eligible_at: Callable[[int], _Eligible],
    ) -> dict[int, npt.NDArray[np.int64]]:
        """Each screened place's ``keep`` best candidates by exact score, as argpartition picks them.

        The screened candidates of all the places are scored exactly at once (score_pairs). Where a
        place's ``keep``-th best exact score is tied, or the screen was further off than its margin,
        all its eligible candidates are scored and ``np.argpartition`` picks, as the place-by-place
        computation did: a tie at the cut is broken by the candidates' positions in the pool.
        """
        out = {s.place: s.candidates for s in screened if s.screen is None}
        todo = [s for s in screened if s.screen is not None]
        if not todo:
            return out
        sizes = np.array([len(s.candidates) for s in todo])
        keep = np.array([s.keep for s in todo])
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        segment = np.repeat(np.arange(len(todo)), sizes)
        cand = np.concatenate([s.candidates for s in todo])
        plc = np.repeat(np.array([s.place for s in todo], dtype=np.int64), sizes)
        exact, _ = score_pairs(self.pool, self.places, cand, plc, self.policy)
        screen = np.concatenate([s.screen for s in todo if s.screen is not None])
        off = np.bincount(segment, ~(np.abs(exact - screen) <= self._margin), minlength=len(todo))
        # Each place's keep-th best exact score, and how many of its candidates reach it.
        cut = exact[np.lexsort((-exact, segment))][starts + keep - 1]
        top = exact >= cut[segment]
        reach = np.bincount(segment[top], minlength=len(todo))
        for s, part, reached, wrong in zip(todo, np.split(cand[top], np.cumsum(reach)[:-1]), reach, off,
                                           strict=True):
            if wrong:
                logger.warning("place %d: the screen was off by more than %.2g; scored in full",
                               s.place, self._margin)
            out[s.place] = part if reached == s.keep and not wrong else self._best_exact(
                eligible_at(s.place), s.keep)
        return out

    def _best_exact(self, eligible: _Eligible, keep: int) -> npt.NDArray[np.int64]:
        """The place-by-place computation: every eligible candidate scored, argpartition picks."""
        idx = np.sort(eligible.candidates())
        total, _ = score_pairs(self.pool, self.places, idx, eligible.place, self.policy)
        return idx[np.argpartition(-total, keep - 1)[:keep]]

    def _weight_per_km(self) -> npt.NDArray[np.float32]:
        """The weighted distance term lost per km: ``weight / limit`` (0 for a limit of 0 km, where
        only distance 0 is eligible and the term is the full weight)."""
        if self._distance_per_km is None:
            limit = self.pool.commute_limit_km[self.members].astype(np.float64)
            with np.errstate(divide="ignore"):
                scale = np.where(limit > 0, self.policy.weights.distance / limit, 0.0)
            self._distance_per_km = scale.astype(np.float32)
        return self._distance_per_km

    def _row(self, place: int) -> npt.NDArray[np.float32]:
        """Every member's weighted ladder, time-far, priority-group, gender-norm and wishes terms.

        They depend on the place only through its lowest step, gender-norm flags, hours and
        placement type (one per group; scoring.score.place_terms), so one row serves many places.
        """
        places = self.places
        lowest, hours = int(places.lowest_step[place]), int(places.hours[place])
        flags = (bool(places.women_under[place]), bool(places.men_under[place]))
        row = self._rows.get((lowest, hours, *flags))
        if row is None:
            total = self._weighted_terms(place, ("time_far", "priority_group"), ())
            total = total + self._weighted_terms(place, ("ladder",), (lowest,))
            total += self._weighted_terms(place, ("gender_norm",), flags)
            total += self._weighted_terms(place, ("wishes",), (hours,))
            row = self._rows[(lowest, hours, *flags)] = total.astype(np.float32)
        return row

    def _weighted_terms(
        self, place: int, names: tuple[str, ...], depends_on: tuple[object, ...]
    ) -> npt.NDArray[np.float64]:
        """Every member's weighted ``names`` terms, shared by the places alike in ``depends_on``."""
        key = (*names, *depends_on)
        if key not in self._terms:
            terms = place_terms(self.pool, self.places, self.members, place, self.policy, names)
            total = np.zeros(len(self.members))
            for name in names:
                total += float(getattr(self.policy.weights, name)) * terms[name]
            self._terms[key] = total
        return self._terms[key]

    def _competence_of(self, place: int) -> tuple[npt.NDArray[np.float64], tuple[float, ...] | None]:
        """The weighted competence term by (required, wanted) hits for the place's numbers of each,
        and its steps per required and per wanted concept when it is linear in them (``0.75 r +
        0.25 w`` is), else None."""
        key = (int(self.places.num_required[place]), int(self.places.num_wanted[place]))
        if key not in self._competence:
            table = self.policy.weights.competence * competence_table(*key)
            per_req = table[1, 0] - table[0, 0] if key[0] else 0.0
            per_want = table[0, 1] - table[0, 0] if key[1] else 0.0
            r, w = np.indices(table.shape)
            linear = np.allclose(table[0, 0] + r * per_req + w * per_want, table, rtol=0,
                                 atol=self._margin / 100)
            self._competence[key] = (table, (float(per_req), float(per_want)) if linear else None)
        return self._competence[key]

    def _add_competence(
        self, screen: npt.NDArray[np.float32], place: int, table: npt.NDArray[np.float64],
        steps: tuple[float, ...] | None,
    ) -> None:
        """Add each member's competence term less its value at no hit: a step per concept of the
        place the member has (one scatter per concept), or by the table of hits."""
        places, size = self.places, len(screen)
        required, wanted = set_bits(places.required[:, place]), set_bits(places.wanted[:, place])
        if steps is not None:
            for concepts, step in ((required, np.float32(steps[0])), (wanted, np.float32(steps[1]))):
                for concept in concepts:
                    holders = self._holders_of(concept)
                    screen[holders[: np.searchsorted(holders, size)]] += step
            return
        hits = np.zeros(size, dtype=np.int32)  # required hits · (num wanted + 1) + wanted hits
        for concepts, weight in ((required, table.shape[1]), (wanted, 1)):
            for concept in concepts:
                holders = self._holders_of(concept)
                hits[holders[: np.searchsorted(holders, size)]] += weight
        screen += (table - table[0, 0]).ravel().astype(np.float32)[hits]

    def _lacks(self, concept: int) -> npt.NDArray[np.bool_]:
        """(members,) bool: which members lack ``concept`` (kept for the group's other places)."""
        lacks = self._lacking.get(concept)
        if lacks is None:
            if self._words is None:
                self._words = self.pool.competences[:, self.members]
            needed = np.zeros(self._words.shape[0], dtype=np.uint64)
            needed[concept // 64] = np.uint64(1 << (concept % 64))
            lacks = self._lacking[concept] = lacks_needed(self._words, needed)
        return lacks

    def _holders_of(self, concept: int) -> npt.NDArray[np.int64]:
        """Sorted positions of the members who have ``concept`` (a bit of the pool's bitset)."""
        if concept not in self._holders:
            if self._words is None:
                self._words = self.pool.competences[:, self.members]
            bit = np.uint64(1 << (concept % 64))
            self._holders[concept] = np.flatnonzero(self._words[concept // 64] & bit)
        return self._holders[concept]


def _near_best(screen: npt.NDArray[np.float32], keep: int, margin: np.float32) -> npt.NDArray[np.intp]:
    """Positions whose score is at least the ``keep``-th best minus ``margin`` (``keep ≤ len(screen)``).

    The ``keep``-th best is looked for among the few near a guess, the ``2 keep / stride + 2``-th best
    of every ``stride``-th score: when ``keep`` or more reach the guess, the ``keep``-th best is at
    least the guess, so everything within ``margin`` of it is within ``margin`` of the guess; else the
    whole screen is partitioned.
    """
    stride = len(screen) // (16 * keep)
    if stride > 1:
        sample = screen[::stride]
        rank = max(0, len(sample) - 3 - 2 * keep // stride)
        guess = np.partition(sample, rank)[rank]
        near = np.flatnonzero(screen >= guess - margin)
        part = screen[near]
        if np.count_nonzero(part >= guess) >= keep:
            cut = np.partition(part, len(part) - keep)[len(part) - keep]
            return near[part >= cut - margin]
    cut = np.partition(screen, len(screen) - keep)[len(screen) - keep]
    return np.flatnonzero(screen >= cut - margin)




def _groups(
    pool: CandidatePool, places: PlaceTable, policy: Policy, params: RoundParams,
    cand: npt.NDArray[np.int64], plc: npt.NDArray[np.int64],
) -> tuple[tuple[str, ...], npt.NDArray[np.uint32], npt.NDArray[np.float64]]:
    """Per-pair group bits for every enabled group, and the floors (0 where the policy sets none)."""
    group_ids = tuple(g.value for g in policy.groups.enabled)
    floors = np.zeros(len(group_ids), dtype=np.float64)
    if params.use_floors:
        for g, group in enumerate(policy.groups.enabled):
            floors[g] = policy.floors.get(group, 0.0)
    return group_ids, _group_bits(pool, places, policy, cand, plc), floors


def _group_bits(
    pool: CandidatePool, places: PlaceTable, policy: Policy, cand: npt.NDArray[np.int64],
    plc: npt.NDArray[np.int64] | int,
) -> npt.NDArray[np.uint32]:
    """(E,) uint32: bit ``g`` set where the pair counts for the policy's ``g``-th enabled group."""
    bits = np.zeros(len(cand), dtype=np.uint32)
    for g, group in enumerate(policy.groups.enabled):
        if group == PriorityGroup.GENDER_NORM_BREAKER:
            member = norm_breaker_pairs(pool, places, cand, plc)
        else:
            member = pool.groups[group][cand]
        bits |= member.astype(np.uint32) << np.uint32(g)
    return bits


def _max_placeable(base: dict[str, Any]) -> int:
    """The most people the round's graph can place (no keys, no floors): the keys' planned total
    (one max flow, :func:`matching.max_placeable`)."""
    return max_placeable(_bare_problem(base))


def _bare_problem(base: dict[str, Any]) -> AllocationProblem:
    """The round's pairs at score 1, without keys or floors: its optimum is the most it can place."""
    bare = {k: v for k, v in base.items() if k not in ("edge_groups", "group_names")}
    return build_problem(**{**bare, "edge_score": np.ones(len(base["edge_candidate"]))})


def _planned_over_eligible(rnd: Round, progress: Progress | None,
                           should_stop: Callable[[], bool] | None) -> Round:
    """The round with the keys' planned total of every eligible pair, not of its graph alone.

    The bare max flow (score 1 per pair, no keys, no floors) is priced as the round is
    (:func:`price_outside` at unit scores); the pairs that could place one more person join the
    graph until none can, and the round is rebuilt on the proven number.
    """
    current = rnd
    previous: AllocationResult | None = None
    while True:
        problem = current.problem
        if current.bare is not None:  # the flow that gave the planned total, on these very pairs
            result, bare = current.bare, current.bare.problem
        else:
            base = {"num_candidates": problem.num_candidates, "num_places": problem.num_places,
                    "edge_candidate": problem.edge_candidate, "edge_place": problem.edge_place,
                    "place_slots": problem.place_slots, "candidate_district": problem.candidate_district,
                    "num_districts": problem.num_districts, "edge_forbidden": problem.edge_forbidden,
                    "pinned_edges": problem.pinned_edges}
            bare = _bare_problem(base)
            # The previous pass's flow is a flow of these pairs too: the solve starts from it.
            result = solve(bare, SolveParams(objective="max_placed", warm_start=previous))
        previous = result
        certificate = result.certificate
        if certificate is None or result.status.value != "optimal":
            return current
        priced = price_outside(dataclasses.replace(current, problem=bare), certificate,
                               progress=progress, should_stop=should_stop, unit_scores=True)
        current.graph["planned_total_passes"] = current.graph.get("planned_total_passes", 0) + 1
        if not priced.complete:
            return current
        if not len(priced.cand):
            graph = dict(current.graph, planned_total_over="eligible")
            if int(result.num_assigned) == current.planned_total:
                return dataclasses.replace(current, graph=graph)
            return dataclasses.replace(_assemble(
                current.pool, current.places, current.policy, current.params,
                problem.edge_candidate.astype(np.int64), problem.edge_place.astype(np.int64),
                graph, current.timings, planned=int(result.num_assigned)), cuts=current.cuts)
        current = _extend(current, priced.cand, priced.plc)


# ---------------------------------------------------------------------------------------------
# Pricing the pairs left out
# ---------------------------------------------------------------------------------------------


class PairPrices(Protocol):
    """What :func:`price_outside` prices pairs against: a :class:`matching.Certificate`, the LP part of
    one (:func:`verify_round`), or any prices with the same two methods (the tests' LP duals).

    Not a second certificate type: ``matching.Certificate`` is the one certificate; this names only
    the part of it that pricing reads. ``reduced_cost`` of a pair given by positions of the problem
    is > ``tolerance`` where the pair, were it in the problem, could raise the bound; ``bound_over``
    is a bound still valid when pairs outside the problem have positive reduced costs, given the
    largest per candidate.
    """

    @property
    def bound(self) -> float: ...

    @property
    def tolerance(self) -> float: ...

    def reduced_cost(self, edge_candidate: npt.ArrayLike, edge_place: npt.ArrayLike,
                     edge_score: npt.ArrayLike, edge_groups: npt.ArrayLike | None = None, *,
                     candidate_district: npt.ArrayLike) -> npt.NDArray[np.float64]: ...

    def bound_over(self, extra_positive_by_candidate: npt.NDArray[np.float64]) -> float: ...


#: Pairs whose upper-bound reduced cost is positive are scored exactly this many at a time.
_PRICE_BATCH = 1 << 16


@dataclass(frozen=True, eq=False)
class Priced:
    """One pricing pass over every eligible pair outside a round's graph.

    Attributes
    ----------
    cand, plc
        Pool and place positions of the pairs with a positive reduced cost (to add).
    extra
        (num_candidates,) float64: each candidate's largest positive reduced cost outside the
        graph (0 where none): what :meth:`PairPrices.bound_over` needs.
    num_eligible
        Eligible pairs the pass saw (in the graph or not); ``num_priced`` of them were outside it.
    num_scored
        Pairs outside the graph priced at their exact score (the others were ruled out by a bound).
    complete
        False when ``should_stop`` ended the pass before every place was priced.
    """

    cand: npt.NDArray[np.int64]
    plc: npt.NDArray[np.int64]
    extra: npt.NDArray[np.float64]
    num_eligible: int
    num_priced: int
    num_scored: int
    complete: bool


class _PriceParts:
    """A :class:`matching.Certificate`'s reduced cost split into a candidate's and a place's part.

    In score units, ``rc(c, p) = score + M + sum_g lambda_g (q_g [pair in g] - p_g) - u_c - v_p -
    delta_d(c) + slack`` (``matching/certificate.py``). Every group but gender-norm breaking is the
    candidate's, so ``cand[c]`` holds ``M - u_c - delta_d(c)`` and those groups' terms, and
    ``place[p]`` holds ``slack - v_p`` and the pair-level groups' largest term. A pair can pay only
    where its score bound exceeds :meth:`need`; the exact reduced cost decides for those.
    """

    #: Score units: a safety margin for the float64 sums (the prices are exact integers).
    MARGIN = 1e-6

    def __init__(self, cert: MatchingCertificate, pool: CandidatePool, places: PlaceTable, policy: Policy,
                 district: npt.NDArray[np.int32]) -> None:
        cand = cert.placement_weight - cert.candidate_price - cert.district_price[district]
        place = cert.slack_c / cert.units_per_score - cert.place_price
        for g, group in enumerate(policy.groups.enabled):
            lam = float(cert.floor_price[g]) if g < len(cert.floor_price_c) else 0.0
            if not lam:
                continue
            pp, q = cert.floor_pq[g]
            if group == PriorityGroup.GENDER_NORM_BREAKER:
                place = place + lam * (q - pp)  # the larger of in (q - p) and out (-p)
            else:
                cand = cand + lam * (q * pool.groups[group].astype(np.float64) - pp)
        self.cand = np.nan_to_num(cand, neginf=-np.inf)
        self.threshold = float(cert.tolerance) + self.MARGIN - place

    def need(self, cands: npt.NDArray[np.int64], p: int) -> npt.NDArray[np.float64]:
        """The score each pair ``(cands, p)`` must exceed for its reduced cost to be positive."""
        return np.asarray(self.threshold[p] - self.cand[cands])


def price_outside(
    rnd: Round,
    certificate: PairPrices,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    unit_scores: bool = False,
) -> Priced:
    """Price every eligible pair outside the round's graph against ``certificate``.

    A reduced cost is non-decreasing in the score, so a pair priced at an upper bound of its score
    that does not pay cannot pay; only the pairs whose bound pays are scored exactly
    (:func:`scoring.score.score_pairs`) and priced again. Where the round's graph was pruned
    (``rnd.cuts``, :class:`ScoreCuts`): the pairs candidates left out are listed with their scores and
    priced in batches; the others a place left out score at most its lowest kept score, so a place
    whose cut plus its group's best candidate price cannot pay is skipped whole, and the others are
    walked as the graph's search walks them (:class:`_PlaceScan`: group by group, place by place,
    never more than one place's eligible candidates and one batch of pairs in memory). Without cuts
    (:func:`verify_round`: every eligible pair), each place's pairs are bounded by the float32 screen
    plus its margin (module docstring). ``unit_scores`` prices every pair at score 1 (the bare max
    flow of the keys' planned total).
    """
    pool, places, policy, problem = rnd.pool, rnd.places, rnd.policy, rnd.problem
    stage = ("pricing the pairs left out (most placeable)" if unit_scores
             else "pricing the pairs left out")
    scan = _PlaceScan(pool, places, policy, rnd.params)
    # The graph's candidates per place, marked in a scratch mask while the place is priced.
    order = np.argsort(problem.edge_place, kind="stable")
    starts = np.searchsorted(problem.edge_place[order], np.arange(places.size + 1))
    in_graph = problem.edge_candidate[order].astype(np.int64)
    mark = np.zeros(pool.size, dtype=bool)
    forbidden = np.unique(pair_keys(*_pairs(pool, places, rnd.params.forbidden), places.size))
    extra = np.zeros(pool.size, dtype=np.float64)
    district = problem.candidate_district
    tolerance = float(certificate.tolerance)
    parts = _PriceParts(certificate, pool, places, policy, district) if isinstance(
        certificate, MatchingCertificate) else None
    found_c: list[npt.NDArray[np.int64]] = []
    found_p: list[npt.NDArray[np.int64]] = []
    pending_c: list[npt.NDArray[np.int64]] = []
    pending_p: list[npt.NDArray[np.int64]] = []
    pending = [0]
    num_eligible = num_priced = num_scored = done = 0
    if rnd.cuts is not None:
        num_eligible = int(rnd.graph.get("num_eligible", 0))  # the graph's and the priced ones
    total_places = max(len(scan.open_places), 1)
    step = max(1, total_places // 50)

    def flush() -> None:
        if not pending_c:
            return
        c, p = np.concatenate(pending_c), np.concatenate(pending_p)
        pending_c.clear()
        pending_p.clear()
        known = np.concatenate(pending_s) if pending_s else None
        pending_s.clear()
        pending[0] = 0
        if unit_scores:
            score = np.ones(len(c))
        elif known is not None and len(known) == len(c):
            score = known
        else:
            score = score_pairs(pool, places, c, p, policy)[0]
        rc = certificate.reduced_cost(c, p, score, _group_bits(pool, places, policy, c, p),
                                      candidate_district=district)
        pays = rc > tolerance
        if len(forbidden):
            pays &= ~np.isin(pair_keys(c, p, places.size), forbidden)
        found_c.append(c[pays])
        found_p.append(p[pays])
        np.maximum.at(extra, c[pays], rc[pays])

    cuts = rnd.cuts
    pending_s: list[npt.NDArray[np.float64]] = []
    if cuts is not None:
        # Left out by their candidate: listed, with their exact scores (those pricing added are in
        # the graph now).
        graph_keys = np.sort(pair_keys(problem.edge_candidate, problem.edge_place, places.size))
        dropped = ~np.isin(pair_keys(cuts.dropped_cand, cuts.dropped_place, places.size), graph_keys)
        for start in range(0, int(dropped.sum()), _PRICE_BATCH):
            pick = np.flatnonzero(dropped)[start:start + _PRICE_BATCH]
            pending_c.append(cuts.dropped_cand[pick])
            pending_p.append(cuts.dropped_place[pick])
            pending_s.append(cuts.dropped_score[pick])
            pending[0] += len(pick)
            num_priced += len(pick)
            num_scored += len(pick)  # priced at their exact score
            flush()
        d_order = np.argsort(cuts.dropped_place, kind="stable")
        d_starts = np.searchsorted(cuts.dropped_place[d_order], np.arange(places.size + 1))
        d_cand = cuts.dropped_cand[d_order]

    for g, (placement_type, lowest) in enumerate(scan.group_keys.tolist()):
        group_places = scan.open_places[scan.group_of == g].tolist()
        group: _CandidateGroup | None = None
        best_cand = np.inf
        if cuts is not None and parts is not None:
            # The group's best candidate part: a place whose cut plus it cannot pay is skipped whole.
            fits = _group_fits(pool, scan.admitted, placement_type=placement_type, admits_from=lowest)
            best_cand = float(parts.cand[fits].max(initial=-np.inf))
        for p in group_places:
            if should_stop is not None and done % 16 == 0 and should_stop():
                return Priced(np.zeros(0, np.int64), np.zeros(0, np.int64), extra, num_eligible,
                              num_priced, num_scored, complete=False)
            done += 1
            if progress is not None and done % step == 0:
                progress(stage, done / total_places)
            if cuts is not None:
                cut = float(cuts.place[p])
                if cut == -np.inf:
                    continue  # the place kept every eligible candidate: nothing left out by it
                if parts is not None and np.isfinite(cut) and (
                        (1.0 if unit_scores else cut) + best_cand <= parts.threshold[p]):
                    continue  # no pair the place left out can pay
            if group is None:
                group = _CandidateGroup(pool, places, policy, scan.admitted, placement_type=placement_type,
                                        admits_from=lowest)
            eligible = scan.eligible_at(group, p)
            if not eligible.count:
                continue
            if cuts is None:
                num_eligible += eligible.count
            cands = eligible.candidates()
            kept = in_graph[starts[p]:starts[p + 1]]
            mark[kept] = True
            if cuts is not None:
                mark[d_cand[d_starts[p]:d_starts[p + 1]]] = True  # priced above
            outside = ~mark[cands]
            mark[kept] = False
            if cuts is not None:
                mark[d_cand[d_starts[p]:d_starts[p + 1]]] = False
            if not outside.any():
                continue
            cands = cands[outside]
            if unit_scores:
                upper = np.ones(len(cands))
            elif cuts is not None and np.isfinite(cuts.place[p]):
                upper = np.full(len(cands), float(cuts.place[p]))  # below the place's lowest kept score
            else:
                upper = group.upper_scores(eligible)[outside]
            num_priced += len(cands)
            if parts is not None:
                # The prices' own bound first (two float64 operations a pair), then the exact
                # reduced cost of the few it lets through.
                near = upper > parts.need(cands, p)
                cands, upper = cands[near], upper[near]
                if not len(cands):
                    continue
            plc = np.full(len(cands), p, dtype=np.int64)
            rc = certificate.reduced_cost(cands, plc, upper, _group_bits(pool, places, policy, cands, p),
                                          candidate_district=district)
            maybe = rc > tolerance
            if not maybe.any():
                continue
            num_scored += int(maybe.sum())
            pending_c.append(cands[maybe])
            pending_p.append(plc[maybe])
            pending[0] += int(maybe.sum())
            if pending[0] >= _PRICE_BATCH:
                flush()
    flush()
    if progress is not None:
        progress(stage, 1.0)
    cand = np.concatenate(found_c) if found_c else np.zeros(0, np.int64)
    plc_all = np.concatenate(found_p) if found_p else np.zeros(0, np.int64)
    return Priced(cand, plc_all, extra, num_eligible, num_priced, num_scored, complete=True)


#: The version of :func:`certificate_record`'s layout.
CERTIFICATE_FORMAT = 1


def certificate_record(rnd: Round, result: AllocationResult) -> dict[str, Any] | None:
    """The solve's certificate as JSON-ready data keyed by id, to store with the round.

    Prices are integers in the certificate's units (:class:`matching.Certificate`); candidates and
    places whose price is 0 and are not blocked are left out. With the round's district bounds,
    floors and planned total it is all :func:`verify_round` needs: prices, not the solver.
    """
    cert = result.certificate
    if not isinstance(cert, MatchingCertificate):
        return None
    pool, places = rnd.pool, rnd.places

    def by_id(ids: npt.NDArray[Any], prices: npt.NDArray[np.int64]) -> dict[str, int]:
        nz = np.flatnonzero(prices)
        return dict(zip(ids[nz].astype(str).tolist(), prices[nz].tolist(), strict=True))

    problem = rnd.problem
    return {
        "format": CERTIFICATE_FORMAT,
        "bound": float(cert.bound),
        "units_per_score": int(cert.units_per_score),
        "placement_weight_w": int(cert.placement_weight_w),
        "score_scale": int(cert.score_scale),
        "penalty": None if cert.penalty is None else int(cert.penalty),
        "floor_pq": [[int(p), int(q)] for p, q in cert.floor_pq],
        "floor_price_c": [int(x) for x in cert.floor_price_c.tolist()],
        "candidate_price_c": by_id(pool.ids, cert.candidate_price_c),
        "place_price_c": by_id(places.ids, cert.place_price_c),
        "district_price_c": dict(zip(rnd.district_ids, [int(x) for x in cert.district_price_c.tolist()],
                                     strict=True)),
        "blocked_candidates": pool.ids[cert.blocked_candidate].astype(str).tolist(),
        "blocked_places": places.ids[cert.blocked_place].astype(str).tolist(),
        "blocked_districts": [d for d, b in zip(rnd.district_ids, cert.blocked_district.tolist(), strict=True)
                              if b],
        "dual_value_c": int(cert.dual_value_c),
        "slack_c": int(cert.slack_c),
        "offset_c": float(cert.offset_c),
        "groups": list(rnd.group_ids),
        "district_bounds": {d: [int(lo), int(hi)] for d, lo, hi in zip(
            rnd.district_ids, problem.district_lower.tolist(), problem.district_upper.tolist(), strict=True)},
        "planned_total": int(rnd.planned_total),
    }


@dataclass(frozen=True)
class Verification:
    """What :func:`verify_round` found.

    ``holds``: every eligible pair of the region meets the stored prices' dual constraint, so no
    assignment over the eligible pairs exceeds ``dual_bound`` (recomputed from the prices, the
    region's free slots, the round's district bounds, floors and pins). ``violations`` counts the
    eligible pairs that break it, ``largest`` by how much (score units).
    """

    holds: bool
    dual_bound: float
    stored_bound: float
    num_eligible: int
    violations: int
    largest: float

    def summary_lines(self, objective: float | None = None) -> list[str]:
        if not self.holds:
            return [f"the certificate does NOT hold: {self.violations:,} of {self.num_eligible:,} eligible "
                    f"pairs break its prices (the largest by {self.largest:,.3f} score units)"]
        lines = [f"the bound {self.dual_bound:,.3f} holds over every eligible pair: {self.num_eligible:,} "
                 "priced from the region, none breaks the round's prices (no solver used)"]
        if objective is not None:
            gap = max(self.dual_bound - objective, 0.0) / max(abs(objective), 1.0)
            lines.append(f"the round's objective {objective:,.3f} is within {gap:.4%} of it")
        return lines


class _LpPrices:
    """A certificate's reduced costs before the solver's closing of the gap (the dual constraint
    itself): what a check without the solver can rely on."""

    def __init__(self, certificate: Any) -> None:
        self.certificate = certificate
        self.bound = float(certificate.dual_bound)
        self.tolerance = float(certificate.tolerance)

    def reduced_cost(self, edge_candidate: npt.ArrayLike, edge_place: npt.ArrayLike,
                     edge_score: npt.ArrayLike, edge_groups: npt.ArrayLike | None = None, *,
                     candidate_district: npt.ArrayLike) -> npt.NDArray[np.float64]:
        groups = np.zeros(np.shape(edge_score), np.uint32) if edge_groups is None else edge_groups
        rc, blocked = self.certificate.lp_reduced_cost_c(edge_candidate, edge_place, edge_score, groups,
                                                         candidate_district)
        return np.asarray(np.where(blocked, -np.inf, rc / self.certificate.units_per_score))

    def bound_over(self, extra_positive_by_candidate: npt.NDArray[np.float64]) -> float:
        return self.bound + float(np.maximum(extra_positive_by_candidate, 0).sum())


def verify_round(
    pool: CandidatePool, places: PlaceTable, policy: Policy, params: RoundParams, record: dict[str, Any],
    *, progress: Progress | None = None,
) -> Verification:
    """Re-price a stored round's certificate against every eligible pair of the region, solver-free.

    ``record`` is :func:`certificate_record`'s. The certificate is rebuilt by id on this pool; the
    dual bound is recomputed from its prices with the region's free slots and the round's district
    bounds, floors and pins (:meth:`matching.Certificate.verify` on the pins alone); then every
    eligible pair, found from the region as a round finds them (:class:`_PlaceScan`), is priced in
    the same bounded batches as :func:`price_outside`: a pair whose reduced cost is positive would
    break the proof.
    """
    if record.get("format") != CERTIFICATE_FORMAT:
        raise RoundSetupError([Problem("round", None, "certificate.format", repr(record.get("format")),
                                       f"not a certificate of this version ({CERTIFICATE_FORMAT})")])
    group_ids = tuple(g.value for g in policy.groups.enabled)
    problems = []
    if tuple(record["groups"]) != group_ids:
        problems.append(Problem("round", None, "certificate.groups", ", ".join(record["groups"]),
                                f"the policy's groups are {', '.join(group_ids)}"))
    for name, table, index in (("candidate_price_c", "candidate", pool.index),
                               ("place_price_c", "place", places.index)):
        unknown = [k for k in record[name] if k not in index]
        if unknown:
            problems.append(Problem("round", None, f"certificate.{name}", ", ".join(unknown[:5]),
                                    f"{len(unknown)} {table} id(s) the region does not have"))
    if problems:
        raise RoundSetupError(problems)

    def positions(prices: dict[str, int], index: Any, size: int) -> npt.NDArray[np.int64]:
        out = np.zeros(size, dtype=np.int64)
        if prices:
            out[[index[k] for k in prices]] = list(prices.values())
        return out

    def mask(ids: list[str], index: Any, size: int) -> npt.NDArray[np.bool_]:
        out = np.zeros(size, dtype=bool)
        out[[index[k] for k in ids if k in index]] = True
        return out

    district_ids = tuple(pool.district_ids)
    district_index = {d: i for i, d in enumerate(district_ids)}
    cert = MatchingCertificate(
        bound=float(record["bound"]), units_per_score=int(record["units_per_score"]),
        placement_weight_w=int(record["placement_weight_w"]), score_scale=int(record["score_scale"]),
        penalty=record["penalty"], floor_pq=tuple((int(p), int(q)) for p, q in record["floor_pq"]),
        floor_price_c=np.array(record["floor_price_c"], dtype=np.int64),
        candidate_price_c=positions(record["candidate_price_c"], pool.index, pool.size),
        place_price_c=positions(record["place_price_c"], places.index, places.size),
        district_price_c=positions(record["district_price_c"], district_index, len(district_ids)),
        blocked_candidate=mask(record["blocked_candidates"], pool.index, pool.size),
        blocked_place=mask(record["blocked_places"], places.index, places.size),
        blocked_district=mask(record["blocked_districts"], district_index, len(district_ids)),
        dual_value_c=int(record["dual_value_c"]), slack_c=int(record["slack_c"]),
        offset_c=float(record["offset_c"]),
    )
    # The round's rules on its pins alone: the dual bound does not depend on any other pair.
    pin_c, pin_p = _pairs(pool, places, params.pins)
    order = np.argsort(pair_keys(pin_c, pin_p, places.size))
    pin_c, pin_p = pin_c[order], pin_p[order]
    score, _ = score_pairs(pool, places, pin_c, pin_p, policy)
    _, bits, floors = _groups(pool, places, policy, params, pin_c, pin_p)
    lower = np.array([record["district_bounds"][d][0] for d in district_ids], dtype=np.int32)
    upper = np.array([record["district_bounds"][d][1] for d in district_ids], dtype=np.int32)
    pins_only = build_problem(
        num_candidates=pool.size, num_places=places.size, edge_candidate=pin_c.astype(np.int32),
        edge_place=pin_p.astype(np.int32), edge_score=score, place_slots=places.free_slots,
        candidate_district=pool.district.astype(np.int32), num_districts=len(district_ids),
        district_lower=lower, district_upper=upper, edge_groups=bits, num_groups=len(group_ids),
        group_floor=floors, pinned_edges=np.arange(len(pin_c), dtype=np.int64) if len(pin_c) else None,
    )
    dual_bound = float(cert.verify(pins_only))
    rnd = Round(problem=pins_only, params=params, policy=policy, pool=pool, places=places, edge_terms={},
                group_ids=group_ids, district_ids=district_ids, planned_total=int(record["planned_total"]),
                graph={})
    priced = price_outside(rnd, _LpPrices(cert), progress=progress)
    return Verification(
        holds=len(priced.cand) == 0, dual_bound=dual_bound, stored_bound=float(record["bound"]),
        num_eligible=priced.num_eligible, violations=len(priced.cand),
        largest=float(priced.extra.max(initial=0.0)),
    )


# ---------------------------------------------------------------------------------------------
# Solving and explaining
# ---------------------------------------------------------------------------------------------


def run_round(
    pool: CandidatePool,
    places: PlaceTable,
    policy: Policy,
    params: RoundParams | None = None,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RoundResult:
    """Run an allocation round end to end: build, solve, price the pairs left out, explain.

    The round is solved on its graph; then every eligible pair outside the graph is priced against
    the solve's certificate (:func:`price_outside`), the pairs that could raise the bound are added
    and the round is solved again, until no eligible pair can (``certification`` of the result:
    the proof then covers every eligible pair). ``params.time_limit_s`` bounds the whole; where it
    (or ``should_stop``, a cancellation) ends the passes first, the result says the proof covers
    the graph only and gives the bound that holds over every eligible pair.

    Examples
    --------
    >>> result = run_round(pool, places, load_policy("gothenburg"))  # doctest: +SKIP
    >>> result.status, result.num_assigned, result.certification["scope"]  # doctest: +SKIP
    ('optimal', 412, 'eligible')
    """
    params = params or RoundParams()
    started = time.perf_counter()
    rnd = build_round(pool, places, policy, params, progress=progress)
    if params.method == "optimal" and params.prune and rnd.graph.get("planned_total_over") == "graph":
        rnd = _planned_over_eligible(rnd, progress, should_stop)
    result = _solve(rnd, params, params.time_limit_s, progress, should_stop)
    certification = _certification(rnd, result, passes=0, added=0, scope="graph", bound=None,
                                   stopped=None)
    if params.method == "optimal" and params.prune:
        certification, rnd, result = _price_and_resolve(rnd, result, started, progress, should_stop)
    elif params.method == "optimal" and result.status.value in ("optimal", "feasible"):
        certification = _certification(rnd, result, passes=0, added=0, scope="eligible",
                                       bound=float(result.bound), stopped=None)
    t1 = time.perf_counter()
    explained = explain_round(rnd, result, certification=certification)
    rnd.timings["explain"] = time.perf_counter() - t1
    return explained


def _solve(rnd: Round, params: RoundParams, time_limit: float, progress: Progress | None,
           should_stop: Callable[[], bool] | None, warm: AllocationResult | None = None
           ) -> AllocationResult:
    """One solve of the round's problem, its time added to ``rnd.timings["solve"]``; ``warm``: the
    previous solve of the same round on fewer pairs, to start from (``SolveParams.warm_start``)."""
    t0 = time.perf_counter()
    phase_progress = None if progress is None else (
        lambda phase, fraction: progress(f"solving ({phase})", fraction))
    solve_params = dataclasses.replace(params.solve_params(), time_limit_s=max(time_limit, 1.0),
                                       progress=phase_progress, should_stop=should_stop,
                                       warm_start=warm)
    result = solve(rnd.problem, solve_params)
    rnd.timings["solve"] = rnd.timings.get("solve", 0.0) + time.perf_counter() - t0
    return result


def _price_and_resolve(
    rnd: Round, result: AllocationResult, started: float, progress: Progress | None,
    should_stop: Callable[[], bool] | None,
) -> tuple[dict[str, Any], Round, AllocationResult]:
    """Price the pairs left out, add those that pay, solve again, until none pays (or time is up)."""
    params = rnd.params
    passes = added = 0
    while True:
        certificate = result.certificate
        if certificate is None or result.status.value not in ("optimal", "feasible"):
            reason = ("the solve gave no certificate to price against" if result.status.value in
                      ("optimal", "feasible") else f"the solve ended {result.status.value}")
            return _certification(rnd, result, passes=passes, added=added, scope="graph", bound=None,
                                  stopped=reason), rnd, result
        t0 = time.perf_counter()
        priced = price_outside(rnd, certificate, progress=progress, should_stop=should_stop)
        rnd.timings["pricing"] = rnd.timings.get("pricing", 0.0) + time.perf_counter() - t0
        passes += 1
        if not priced.complete:
            return _certification(rnd, result, passes=passes, added=added, scope="graph", bound=None,
                                  stopped="cancelled while pricing"), rnd, result
        if not len(priced.cand):
            return _certification(rnd, result, passes=passes, added=added, scope="eligible",
                                  bound=float(certificate.bound), stopped=None), rnd, result
        remaining = params.time_limit_s - (time.perf_counter() - started)
        if remaining <= 0 or (should_stop is not None and should_stop()):
            bound = float(certificate.bound_over(priced.extra))
            why = "the time limit" if remaining <= 0 else "a cancellation"
            return _certification(rnd, result, passes=passes, added=added, scope="graph", bound=bound,
                                  stopped=f"{why} stopped pricing with {len(priced.cand):,} pair(s) "
                                          "still to add"), rnd, result
        rnd = _extend(rnd, priced.cand, priced.plc)
        added += len(priced.cand)
        # The previous optimum is an assignment of the grown graph and its prices are near the
        # new ones: the re-solve starts from them (docs/allocation.md, section 11).
        result = _solve(rnd, params, remaining, progress, should_stop, warm=result)


def _extend(rnd: Round, cand: npt.NDArray[np.int64], plc: npt.NDArray[np.int64]) -> Round:
    """The round with pairs added to its graph, under the same rules (the same planned total)."""
    problem = rnd.problem
    all_c = np.concatenate([problem.edge_candidate.astype(np.int64), cand])
    all_p = np.concatenate([problem.edge_place.astype(np.int64), plc])
    graph = dict(rnd.graph)
    graph["pairs_added_by_pricing"] = graph.get("pairs_added_by_pricing", 0) + len(cand)
    return dataclasses.replace(_assemble(rnd.pool, rnd.places, rnd.policy, rnd.params, all_c, all_p, graph,
                                         rnd.timings, planned=rnd.planned_total), cuts=rnd.cuts)


def _certification(
    rnd: Round, result: AllocationResult, *, passes: int, added: int, scope: Literal["eligible", "graph"],
    bound: float | None, stopped: str | None,
) -> dict[str, Any]:
    """What the round's proof covers (``RoundResult.certification``, docs/rounds.md)."""
    objective = float(result.objective)
    num_eligible = int(rnd.graph.get("num_eligible", 0))
    gap = None
    if bound is not None and np.isfinite(objective):
        gap = max(bound - objective, 0.0) / max(abs(objective), 1.0)
    return {
        "scope": scope,
        "certified_over": num_eligible if scope == "eligible" else int(rnd.problem.num_edges),
        "num_eligible": num_eligible,
        "pricing_passes": passes + int(rnd.graph.get("planned_total_passes", 0)),
        "pairs_added": int(rnd.graph.get("pairs_added_by_pricing", added)),
        "bound_over_eligible": bound,
        "gap_over_eligible": gap,
        "stopped": stopped,
        "planned_total_over": rnd.graph.get("planned_total_over", "graph"),
    }


def explain_round(rnd: Round, result: AllocationResult, *,
                  certification: dict[str, Any] | None = None) -> RoundResult:
    """Turn a solve's index-based result into tables of ids and words.

    ``certification`` (from :func:`run_round`) says what the proof covers; without it the result
    says the proof covers the round's graph (a caller that solved ``rnd.problem`` itself).
    """
    if certification is None:
        scope: Literal["eligible", "graph"] = "eligible" if not rnd.params.prune else "graph"
        bound = float(result.bound) if scope == "eligible" and np.isfinite(result.bound) else None
        certification = _certification(rnd, result, passes=0, added=0, scope=scope, bound=bound,
                                       stopped=None if scope == "eligible" else "not priced")
    pool, places, problem = rnd.pool, rnd.places, rnd.problem
    edges = result.chosen_edges
    cand = problem.edge_candidate[edges]
    plc = problem.edge_place[edges]
    pinned = np.isin(edges, problem.pins)
    assignments = pl.DataFrame({
        "candidate_id": pool.ids[cand].astype(str),
        "place_id": places.ids[plc].astype(str),
        "supplier_id": np.asarray(places.supplier_ids, dtype=object)[places.supplier[plc]].astype(str),
        "home_district": np.asarray(pool.district_ids, dtype=object)[pool.district[cand]].astype(str),
        "score": problem.edge_score[edges],
        **{f"term_{name}": rnd.edge_terms[name][edges] for name in policy_terms(rnd.policy)},
        "pinned": pinned,
    }, schema_overrides={"candidate_id": pl.String, "place_id": pl.String})
    unassigned = _unassigned_table(rnd, result)
    overrides = _overrides_used(rnd)
    return RoundResult(
        status=result.status.value,
        method=result.method,
        objective=float(result.objective),
        bound=float(result.bound),
        gap=float(result.gap),
        num_assigned=int(result.num_assigned),
        total_score=float(result.total_score),
        assignments=assignments,
        unassigned=unassigned,
        districts=_district_table(rnd, result),
        groups=_group_table(rnd, result),
        infeasibility=tuple(x.describe(problem) for x in result.infeasibility),
        violations=tuple(v.describe(problem) for v in result.violations),
        constraints_ignored=tuple(result.constraints_ignored),
        graph=dict(rnd.graph, planned_total=rnd.planned_total),
        timings={**rnd.timings, **{f"solver_{k}": v for k, v in result.timings.items()}},
        overrides=overrides,
        certification=certification,
        round=rnd,
        result=result,
    )


def _overrides_used(rnd: Round) -> tuple[dict[str, Any], ...]:
    """Each override that keeps a pin breaking hard rules: the pair, the rules (in words), the reason."""
    pool, places, policy = rnd.pool, rnd.places, rnd.policy
    out = []
    for o in rnd.params.overrides:
        cand, place = pool.index[o.candidate_id], places.index[o.place_id]
        failures = explain_failures(pool, places, cand, place, policy)
        broken = [{"rule": f.rule, "text": f.text} for f in failures if o.covers(f.rule)]
        if broken:
            out.append({"candidate_id": o.candidate_id, "place_id": o.place_id, "reason": o.reason,
                        "rules": broken})
    return tuple(out)


_REASON_CODES = {
    UnassignedReason.NO_ELIGIBLE_PLACE: "no_eligible_place",
    UnassignedReason.DISTRICT_UPPER_BOUND_REACHED: "district_upper_bound_reached",
    UnassignedReason.OUTSCORED: "outscored",
    UnassignedReason.CONSTRAINED: "rules_or_objective",
}


def _unassigned_table(rnd: Round, result: AllocationResult) -> pl.DataFrame:
    """Candidates with at least one pair in the graph who got no place, and why, in words."""
    problem = rnd.problem
    has_edge = np.zeros(problem.num_candidates, dtype=bool)
    has_edge[problem.edge_candidate] = True
    who = np.flatnonzero(has_edge & (result.candidate_place < 0))
    ids, codes, words = [], [], []
    for c in who.tolist():
        why = result.explain(c)
        if not isinstance(why, Unassigned):
            continue
        ids.append(str(rnd.pool.ids[c]))
        codes.append(_REASON_CODES.get(why.reason, why.reason.name.lower()))
        words.append(describe_unassigned(rnd, why))
    return pl.DataFrame({"candidate_id": ids, "reason": codes, "explanation": words},
                        schema={"candidate_id": pl.String, "reason": pl.String, "explanation": pl.String})


def describe_unassigned(rnd: Round, why: Unassigned) -> str:
    """An unassigned candidate's reason in a recruiter's words, with place and candidate ids."""
    places, pool = rnd.places, rnd.pool
    if why.reason is UnassignedReason.NO_ELIGIBLE_PLACE:
        return "no eligible place within reach in this round"
    if why.reason is UnassignedReason.DISTRICT_UPPER_BOUND_REACHED:
        district = rnd.district_ids[why.district]
        return f"the home district {district} has reached its upper bound under the distribution key"
    parts = []
    for comp in why.competitions[:3]:
        place = str(places.ids[comp.place])
        if comp.free_slots > 0:
            parts.append(f"{place} has a free slot, but taking it would break a floor or a key")
        elif comp.rival_candidate >= 0:
            rival = str(pool.ids[comp.rival_candidate])
            parts.append(f"{place} went to {rival} with {comp.rival_score:.1f} points "
                         f"against {comp.own_score:.1f} ({comp.difference:+.1f})")
    more = len(why.competitions) - 3
    if more > 0:
        parts.append(f"and {more} more place(s)")
    head = "outscored at every place in reach" if why.reason is UnassignedReason.OUTSCORED else (
        "a place in reach has room, but the floors or keys do not allow taking it")
    return head + (": " + "; ".join(parts) if parts else "")


def _district_table(rnd: Round, result: AllocationResult) -> pl.DataFrame:
    problem = rnd.problem
    placed = result.candidate_place >= 0
    counts = np.bincount(problem.candidate_district[placed], minlength=problem.num_districts)
    keys = rnd.policy.distribution.keys if rnd.params.use_keys else {}
    return pl.DataFrame({
        "district_id": list(rnd.district_ids),
        "key_share": [keys.get(d) for d in rnd.district_ids],
        "lower": problem.district_lower.tolist(),
        "upper": problem.district_upper.tolist(),
        "assigned": counts.tolist(),
        "share": (counts / max(int(placed.sum()), 1)).tolist(),
        "within": ((counts >= problem.district_lower) & (counts <= problem.district_upper)).tolist(),
    }, schema_overrides={"key_share": pl.Float64})


def _group_table(rnd: Round, result: AllocationResult) -> pl.DataFrame:
    problem = rnd.problem
    bits = problem.edge_groups[result.chosen_edges]
    total = len(result.chosen_edges)
    rows = []
    for g, group in enumerate(rnd.group_ids):
        got = int(((bits >> np.uint32(g)) & np.uint32(1)).sum())
        floor = float(problem.group_floor[g])
        share = got / total if total else 0.0
        rows.append({"group": group, "floor": floor, "assigned": got, "share": share,
                     "met": got * 1.0 >= floor * total - 1e-9})
    return pl.DataFrame(rows, schema={"group": pl.String, "floor": pl.Float64, "assigned": pl.Int64,
                                      "share": pl.Float64, "met": pl.Boolean})


# ---------------------------------------------------------------------------------------------
# Comparing, exporting
# ---------------------------------------------------------------------------------------------


def compare_assignments(a: pl.DataFrame, b: pl.DataFrame, *, objective_a: float | None = None,
                        objective_b: float | None = None) -> RoundComparison:
    """Compare two rounds' assignment tables by candidate id (:func:`matching.compare_placements`).

    Parameters
    ----------
    a, b
        One row per assigned candidate: ``candidate_id``, ``place_id``, ``score`` (other columns are
        ignored), as in :attr:`RoundResult.assignments` or a stored round's assignments.
    objective_a, objective_b
        The rounds' objectives, where known; ``None``: the total score.

    Returns
    -------
    matching.RoundComparison
        Over the candidates placed in either round, in the order of their ids (``candidate_ids``;
        places by ``place_ids``), so that ``moved``, ``newly_placed`` and ``dropped`` are in id order.
    """
    candidates = sorted(set(a["candidate_id"].to_list()) | set(b["candidate_id"].to_list()))
    places = sorted(set(a["place_id"].to_list()) | set(b["place_id"].to_list()))
    at = {c: i for i, c in enumerate(candidates)}
    place_at = {p: j for j, p in enumerate(places)}

    def side(table: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        place = np.full(len(candidates), -1, np.int64)
        score = np.zeros(len(candidates), np.float64)
        rows = np.array([at[c] for c in table["candidate_id"].to_list()], np.int64)
        place[rows] = [place_at[p] for p in table["place_id"].to_list()]
        score[rows] = table["score"].cast(pl.Float64).to_numpy()
        return place, score

    (place_a, score_a), (place_b, score_b) = side(a), side(b)
    return compare_placements(place_a, place_b, score_a, score_b, objective_a=objective_a,
                              objective_b=objective_b, candidate_ids=candidates, place_ids=places)


def compare_rounds(a: RoundResult, b: RoundResult) -> RoundComparison:
    """Compare two rounds' assignments by candidate id (:func:`compare_assignments`).

    ``score_change == from_newly_placed + from_dropped + from_moved``; the objectives compared are the
    rounds' total scores.
    """
    return compare_assignments(a.assignments, b.assignments)


def export_round_mps(rnd: Round, path: str, result: RoundResult | None = None) -> int:
    """Write the round as a self-contained MPS model whose optimum equals the round's objective.

    Pass the round's ``result`` (``rnd`` its ``result.round``: the problem the optimum was proven on,
    pairs added by pricing included). In ``max_placed`` mode the model then fixes the number placed
    to the result's and maximises the score (:func:`matching.export_mps`, ``num_placed``); without a
    result it is the one-level form, whose optimum is ``M * num_assigned + objective``.
    """
    placed = None
    proven = result is not None and result.status in ("optimal", "feasible")
    if result is not None and proven and rnd.params.objective == "max_placed":
        placed = result.num_assigned
    return export_mps(rnd.problem, path, rnd.params.solve_params(), num_placed=placed)


__all__ = [
    "PairPrices",
    "Priced",
    "Round",
    "RoundParams",
    "RoundResult",
    "Verification",
    "build_round",
    "certificate_record",
    "check_round_inputs",
    "compare_assignments",
    "compare_rounds",
    "describe_unassigned",
    "explain_round",
    "export_round_mps",
    "pair_keys",
    "price_outside",
    "run_round",
    "verify_round",
]
