"""Hard rules: whether a candidate–place pair *can* be matched, and in words why not.

DOMAIN.md, "Score vs. eligibility": hard rules (readiness, commute limit, availability, duration,
not already placed) decide *whether* a pair can be matched; the score decides *how well*.

The rules, by name (:data:`RULES`), each failing where:

``period``
    the place is not open for matching on the region's reference date: its period has ended, or
    it opens later (``policy.capacity.open_days_before_start`` before its start date;
    :mod:`scoring.capacity`);
``free_slots``
    the place has no free slot: its slots are held by hires, placements going on and (where the
    policy says so) open proposals (:mod:`scoring.capacity`);
``placed``
    the candidate is already in a placement;
``proposed_here``
    the candidate already has an open proposal to this very place;
``ladder``
    the candidate's work-ladder step is below the place's lowest step, and not within
    ``policy.eligibility.steps_below_with_supervisor`` steps of it where the place offers a
    supervisor (DOMAIN.md, "Readiness vs. a place"; :func:`scoring.domain.ladder_step_eligible`);
``commute``
    the distance from home to the workplace (km as the crow flies, on the pool's projection)
    exceeds the candidate's commute limit;
``availability``
    the candidate is available later than the place's start plus
    ``policy.eligibility.availability_grace_days``; a place that has already started (its start
    date is before the region's reference date) and still has slots takes people from the reference
    date, so the rule compares with the later of the two;
``placement_type``
    the candidate named the placement types they want and the place's is not among them (no
    wish named means any type);
``duration``
    the policy applies a minimum duration (``apply_min_duration``; seed 001: a quality placement
    lasts at least 3 months) and the place is shorter than ``min_duration_months``;
``competence``
    the candidate lacks a competence the place requires as a hard rule: of a kind the policy makes
    hard (``policy.competences``) and not marked by the place as learnt on the job
    (:attr:`scoring.pool.PlaceTable.needed`).

The first two are rules of the place alone, the rest of the pair. A coordinator may *override*
the rules of :data:`OVERRIDABLE_RULES` for one pair, with a reason (a pin in a round, a proposal by
hand); the others cannot be overridden (:class:`RuleOverride`).

*Held-back rules* (:data:`HELD_BACK_RULES`) are softer: they keep proposals fresh, so that repeated
shortlists do not send the same few people everywhere. A shortlist leaves such candidates out,
or shows them marked when asked to include them:

``open_proposal_elsewhere``
    the candidate has an open proposal to another place;
``declined_by_supplier``
    a proposal of the candidate to one of this supplier's places was declined (by the supplier
    or by the candidate: either way a fresh proposal there is unlikely to go better) within
    ``policy.eligibility.hold_back_days_after_decline`` days of the reference date.

Everything is vectorised: :func:`place_eligibility` checks one place against the whole pool,
:func:`pair_failures` checks arbitrary (candidate, place) index arrays (the allocation round's
sparse edge list). Each pair rule is stated once, as the place's number it compares with and the
comparison (:func:`admits_from` / :func:`fails_ladder`, :func:`availability_deadline` /
:func:`fails_availability`, :func:`squared_km` / :func:`fails_commute`, :func:`fails_placement_type`,
:func:`too_short`, :func:`lacks_needed`); both functions and the allocation round's grouped scan
(``scoring.allocation``) read those. Words for a recruiter come from :func:`explain_failures` and
:func:`explain_held_back`, for the few lines a person reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.domain import PlacementType, lowest_admitted_step
from scoring.policy import Policy
from scoring.pool import PLACEMENT_TYPE_BITS, CandidatePool, PlaceTable

__all__ = [
    "HELD_BACK_RULES",
    "OVERRIDABLE_RULES",
    "RULES",
    "PlaceEligibility",
    "RuleFailure",
    "RuleOverride",
    "admits_from",
    "availability_deadline",
    "eligible_pairs",
    "explain_failures",
    "explain_held_back",
    "fails_availability",
    "fails_commute",
    "fails_ladder",
    "fails_placement_type",
    "held_back_pairs",
    "lacks_needed",
    "missing_competences",
    "num_available_by",
    "pair_failures",
    "place_eligibility",
    "squared_km",
    "too_short",
    "unmet_rules",
]

#: The hard rules, in the order explanations list them.
RULES: tuple[str, ...] = (
    "period", "free_slots", "placed", "proposed_here", "ladder", "commute", "availability",
    "placement_type", "duration", "competence",
)
#: The hard rules a coordinator may override for one pair, with a reason (issue 13: the fit of a
#: person to a place). A place's period and slots, a placement, and an open proposal to the same
#: place are facts, not judgements, and are never overridden.
OVERRIDABLE_RULES: tuple[str, ...] = (
    "ladder", "commute", "availability", "placement_type", "duration", "competence",
)
#: The held-back rules (fresh proposals), in the order explanations list them.
HELD_BACK_RULES: tuple[str, ...] = ("open_proposal_elsewhere", "declined_by_supplier")

BoolArray = npt.NDArray[np.bool_]
IndexArray = npt.NDArray[np.integer]

#: How a placement type reads in a sentence.
PLACEMENT_WORDS: dict[str, str] = {
    PlacementType.EMPLOYMENT.value: "a job",
    PlacementType.APPRENTICESHIP.value: "an apprenticeship",
    PlacementType.TRAINEE.value: "a trainee post",
    PlacementType.INTERNSHIP.value: "an internship",
    PlacementType.OTHER_OCCUPATION.value: "other occupation",
}
_TYPE_OF_BIT = {bit: value for value, bit in PLACEMENT_TYPE_BITS.items()}


@dataclass(frozen=True)
class RuleFailure:
    """One failed rule of one pair: its name and what it means, in a recruiter's words."""

    rule: str
    text: str

    def describe(self) -> str:
        """The words, e.g. ``"lives 23 km away; accepts at most 15 km"``."""
        return self.text


@dataclass(frozen=True)
class RuleOverride:
    """A coordinator's decision to match one pair although it breaks hard rules.

    Attributes
    ----------
    candidate_id, place_id
        The pair.
    reason
        Why, in the coordinator's words (stored, audited and shown with the pair).
    rules
        The rules overridden, each of :data:`OVERRIDABLE_RULES`; empty means "every overridable
        rule the pair breaks".
    """

    candidate_id: str
    place_id: str
    reason: str
    rules: tuple[str, ...] = ()

    def covers(self, rule: str) -> bool:
        """Whether this override lets the pair break ``rule``."""
        return rule in OVERRIDABLE_RULES and (not self.rules or rule in self.rules)


@dataclass(frozen=True, eq=False)
class PlaceEligibility:
    """One place checked against the whole pool.

    Attributes
    ----------
    place
        The place's position.
    eligible
        (n,) bool: passes every hard rule.
    failures
        Per rule of :data:`RULES`, (n,) bool where it fails.
    held_back
        Per rule of :data:`HELD_BACK_RULES`, (n,) bool where it holds the candidate back.
    """

    place: int
    eligible: BoolArray
    failures: dict[str, BoolArray]
    held_back: dict[str, BoolArray]

    def failure_counts(self) -> dict[str, int]:
        """Candidates failing each rule (one failing several counts under each)."""
        return {rule: int(np.count_nonzero(mask)) for rule, mask in self.failures.items()}

    def held_back_counts(self, among: BoolArray | None = None) -> dict[str, int]:
        """Candidates held back by each rule, optionally only ``among`` a mask (e.g. eligible)."""
        return {
            rule: int(np.count_nonzero(mask if among is None else mask & among))
            for rule, mask in self.held_back.items()
        }


# ---------------------------------------------------------------------------------------------
# The pair rules' one statement
# ---------------------------------------------------------------------------------------------
# Three paths check the hard rules: one place against the pool (place_eligibility, what a shortlist
# reads), arbitrary pairs (pair_failures) and the allocation round's scan, place by place within
# groups of candidates (scoring.allocation._PlaceScan). Each reads a place's numbers from the
# functions below and compares with them, in the same dtypes (float32 distances), so that the three
# give the same pairs bit for bit (tests/scoring/test_eligibility.py pins it on two regions).
# ``place`` is a position, an index array or a slice (every place).


def admits_from(places: PlaceTable, policy: Policy, place: IndexArray | int | slice = slice(None)) -> Any:
    """The lowest work-ladder step each place admits (:func:`scoring.domain.lowest_admitted_step`)."""
    return lowest_admitted_step(places.lowest_step[place], places.supervisor[place],
                                steps_below_with_supervisor=policy.eligibility.steps_below_with_supervisor)


def fails_ladder(step: npt.ArrayLike, admitted_from: npt.ArrayLike) -> BoolArray:
    """``ladder``: the candidate's step is below the lowest the place admits (DOMAIN.md, "Readiness
    vs. a place")."""
    return np.asarray(np.less(step, admitted_from))


def availability_deadline(pool: CandidatePool, places: PlaceTable, policy: Policy,
                          place: IndexArray | int | slice = slice(None)) -> Any:
    """The last day a candidate may become available for each place: the later of its start and the
    reference date (a place that has started takes people from today), plus the grace days."""
    start = np.asarray(places.start_day[place]).astype(np.int64)
    return np.maximum(start, pool.reference_day) + policy.eligibility.availability_grace_days


def fails_availability(available_day: npt.ArrayLike, deadline: npt.ArrayLike) -> BoolArray:
    """``availability``: the candidate is available only after the place's deadline."""
    return np.asarray(np.greater(available_day, deadline))


def num_available_by(sorted_available_day: npt.NDArray[np.integer], deadline: int) -> int:
    """How many of candidates sorted by the day they are available pass :func:`fails_availability`:
    they are a prefix (the same comparison, ``available_day <= deadline``, as a binary search)."""
    return int(np.searchsorted(sorted_available_day, deadline, side="right"))


def too_short(places: PlaceTable, policy: Policy, place: IndexArray | int | slice = slice(None)) -> Any:
    """``duration``: the policy applies a minimum duration and the place is shorter (compared in
    float64)."""
    rules = policy.eligibility
    months = np.asarray(places.duration_months[place]).astype(np.float64)
    return np.asarray(bool(rules.apply_min_duration) & (months < rules.min_duration_months))


def fails_placement_type(wished_or_any: npt.ArrayLike, placement_type: npt.ArrayLike) -> BoolArray:
    """``placement_type``: the place's type is not among the candidate's wished ones
    (``CandidatePool.wished_or_any``: every type where no wish was named)."""
    return np.asarray(np.equal(np.bitwise_and(wished_or_any, placement_type), 0))


def squared_km(x_km: npt.NDArray[np.float32], y_km: npt.NDArray[np.float32], place_x: Any, place_y: Any, *,
               out: npt.NDArray[np.float32] | None = None,
               scratch: npt.NDArray[np.float32] | None = None) -> npt.NDArray[np.float32]:
    """Squared distances (km², float32) from homes to a workplace: no square root over the pool just
    to compare. ``out`` and ``scratch`` (float32, the shape of the result) save the allocations."""
    squared = np.subtract(x_km, place_x, out=out)
    squared *= squared
    dy = np.subtract(y_km, place_y, out=scratch)
    dy *= dy
    squared += dy
    return squared


def fails_commute(squared: npt.NDArray[np.float32], limit_sq: npt.NDArray[np.float32], *,
                  out: BoolArray | None = None) -> BoolArray:
    """``commute``: farther than the candidate's limit (``CandidatePool.commute_limit_sq``)."""
    return np.greater(squared, limit_sq, out=out)


def lacks_needed(has: npt.NDArray[np.uint64], needed: npt.NDArray[np.uint64]) -> BoolArray:
    """``competence``: the candidate lacks a concept the place needs as a hard rule.

    ``has`` is (W, n) concept bitsets (``CandidatePool.competences``, or some of its columns);
    ``needed`` is (W,) for one place (``PlaceTable.needed[:, p]``, or one concept's bit) or (W, n)
    per pair. Returns (n,) bool.
    """
    if needed.ndim == 1:
        # One place: only the words it needs anything from (usually one), a word at a time.
        lacks = np.zeros(has.shape[1], dtype=bool)
        for w in np.flatnonzero(needed).tolist():
            word = needed[w]
            lacks |= (has[w] & word) != word
        return lacks
    if not needed.any():
        return np.zeros(has.shape[1], dtype=bool)
    return np.asarray(((has & needed) != needed).any(axis=0))


# ---------------------------------------------------------------------------------------------
# Vectorised rules
# ---------------------------------------------------------------------------------------------


def _gather(array: np.ndarray, index: IndexArray | None) -> np.ndarray:
    return array if index is None else array[index]


def _rules(
    pool: CandidatePool,
    places: PlaceTable,
    cand: IndexArray | None,
    place: IndexArray | int,
    policy: Policy,
) -> dict[str, BoolArray]:
    """Failure masks of the place-independent-of-proposals rules; ``cand=None`` is the whole pool."""
    step = _gather(pool.ladder_step, cand)
    squared = squared_km(_gather(pool.x_km, cand), _gather(pool.y_km, cand), places.x_km[place],
                         places.y_km[place])
    shape = np.broadcast_shapes(np.shape(step), np.shape(place))
    states = places.states
    return {
        "period": np.broadcast_to(~states.in_period[place], shape),
        "free_slots": np.broadcast_to(states.free[place] <= 0, shape),
        "placed": _gather(pool.placed, cand),
        "ladder": fails_ladder(step, admits_from(places, policy, place)),
        "commute": fails_commute(squared, _gather(pool.commute_limit_sq, cand)),
        "availability": fails_availability(_gather(pool.available_day, cand),
                                           availability_deadline(pool, places, policy, place)),
        "placement_type": fails_placement_type(_gather(pool.wished_or_any, cand),
                                               places.placement_type[place]),
        "duration": np.broadcast_to(too_short(places, policy, place), shape),
        "competence": np.broadcast_to(_lacks_needed(pool, places, cand, place), shape),
    }


def _lacks_needed(
    pool: CandidatePool, places: PlaceTable, cand: IndexArray | None, place: IndexArray | int
) -> BoolArray:
    """Whether each candidate lacks one of the place's hard-required concepts (``places.needed``)."""
    has = pool.competences if cand is None else pool.competences[:, cand]
    return lacks_needed(has, places.needed[:, place])


def _open_here(places: PlaceTable, n: int, cand: IndexArray, place: IndexArray | int) -> BoolArray:
    """Whether each pair has an open proposal: a lookup in the sorted (place, candidate) keys."""
    keys = np.asarray(place, dtype=np.int64) * max(n, 1) + np.asarray(cand, dtype=np.int64)
    if len(places.open_keys) == 0:
        return np.zeros(np.shape(keys), dtype=bool)
    at = np.minimum(np.searchsorted(places.open_keys, keys), len(places.open_keys) - 1)
    return np.asarray(places.open_keys[at] == keys)


def _decline_at(
    places: PlaceTable, n: int, cand: IndexArray, place: IndexArray | int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Day of the latest decline of each pair's candidate at the place's supplier (or INT32_MIN),
    and its row in the declines index (or -1)."""
    keys = places.supplier[place].astype(np.int64) * max(n, 1) + np.asarray(cand, dtype=np.int64)
    out = np.full(np.shape(keys), np.iinfo(np.int32).min, dtype=np.int32)
    row = np.full(np.shape(keys), -1, dtype=np.int64)
    if len(places.decline_keys) == 0:
        return out, row
    at = np.minimum(np.searchsorted(places.decline_keys, keys), len(places.decline_keys) - 1)
    hit = places.decline_keys[at] == keys
    out[hit] = places.decline_day[at[hit]]
    row[hit] = at[hit]
    return out, row


def _recent(pool: CandidatePool, policy: Policy, day: np.ndarray) -> BoolArray:
    # A decline within hold_back_days of the reference date holds the candidate back.
    cutoff = pool.reference_day - policy.eligibility.hold_back_days_after_decline
    return np.asarray(day >= cutoff)


def place_eligibility(
    pool: CandidatePool, places: PlaceTable, place: int, policy: Policy
) -> PlaceEligibility:
    """Every hard rule and held-back rule of one place, over the whole pool.

    Parameters
    ----------
    pool, places
        From :func:`scoring.pool.build_pool`.
    place
        The place's position.
    policy
        Supplies the eligibility numbers.

    Returns
    -------
    PlaceEligibility
        The eligible mask and one mask per rule.
    """
    n = pool.size
    # One place: every place number is a scalar, so each rule is one or two array operations
    # (the rules' one statement above; pair_failures reads the same, tests check both paths).
    short = bool(too_short(places, policy, place))
    here = np.zeros(n, dtype=bool)
    open_here = places.open_at(place)
    here[open_here] = True
    closed = not bool(places.states.in_period[place])
    full = bool(places.states.free[place] <= 0)
    lacks = lacks_needed(pool.competences, places.needed[:, place])
    squared = squared_km(pool.x_km, pool.y_km, places.x_km[place], places.y_km[place])
    failures = {
        "period": np.broadcast_to(np.bool_(closed), (n,)),
        "free_slots": np.broadcast_to(np.bool_(full), (n,)),
        "placed": pool.placed,
        "proposed_here": here,
        "ladder": fails_ladder(pool.ladder_step, int(admits_from(places, policy, place))),
        "commute": fails_commute(squared, pool.commute_limit_sq),
        "availability": fails_availability(pool.available_day,
                                           int(availability_deadline(pool, places, policy, place))),
        "placement_type": fails_placement_type(pool.wished_or_any, places.placement_type[place]),
        "duration": np.broadcast_to(np.bool_(short), (n,)),
        "competence": lacks,
    }
    blocked = failures["placed"] | failures["ladder"]
    blocked |= failures["commute"]
    blocked |= failures["availability"]
    blocked |= failures["placement_type"]
    blocked |= lacks
    blocked[open_here] = True
    eligible = np.zeros(n, dtype=bool) if short or closed or full else ~blocked

    elsewhere = pool.open_proposals > 0
    elsewhere[open_here] = pool.open_proposals[open_here] > 1  # the open proposal here is not "elsewhere"
    declined = np.zeros(n, dtype=bool)
    supplier = int(places.supplier[place])
    lo, hi = np.searchsorted(places.decline_keys, [supplier * max(n, 1), (supplier + 1) * max(n, 1)])
    if hi > lo:
        recent = _recent(pool, policy, places.decline_day[lo:hi])
        declined[places.decline_keys[lo:hi][recent] - supplier * max(n, 1)] = True
    return PlaceEligibility(
        place=place,
        eligible=eligible,
        failures={rule: failures[rule] for rule in RULES},
        held_back={"open_proposal_elsewhere": elsewhere, "declined_by_supplier": declined},
    )


def pair_failures(
    pool: CandidatePool, places: PlaceTable, cand: IndexArray, place: IndexArray | int, policy: Policy
) -> dict[str, BoolArray]:
    """Per rule of :data:`RULES`, where each (candidate, place) pair fails it.

    Parameters
    ----------
    cand, place
        Broadcastable position arrays, e.g. the (E,) edge list of an allocation round.

    Returns
    -------
    dict
        Rule name → (E,) bool, True where the pair fails the rule.
    """
    cand = np.asarray(cand, dtype=np.int64)
    failures = _rules(pool, places, cand, np.asarray(place, dtype=np.int64), policy)
    here = _open_here(places, pool.size, cand, place)
    failures = {"placed": failures.pop("placed"), "proposed_here": here, **failures}
    return {rule: np.broadcast_to(failures[rule], here.shape) for rule in RULES}


def eligible_pairs(
    pool: CandidatePool, places: PlaceTable, cand: IndexArray, place: IndexArray | int, policy: Policy
) -> BoolArray:
    """(E,) bool: the (candidate, place) pairs that pass every hard rule."""
    failures = pair_failures(pool, places, cand, place, policy)
    out = np.ones(np.shape(failures["placed"]), dtype=bool)
    for mask in failures.values():
        out &= ~mask
    return out


def held_back_pairs(
    pool: CandidatePool, places: PlaceTable, cand: IndexArray, place: IndexArray | int, policy: Policy
) -> dict[str, BoolArray]:
    """Per rule of :data:`HELD_BACK_RULES`, where each (candidate, place) pair is held back."""
    cand = np.asarray(cand, dtype=np.int64)
    place_a = np.asarray(place, dtype=np.int64)
    here = _open_here(places, pool.size, cand, place_a)
    elsewhere = (pool.open_proposals[cand] - here) > 0
    declined = _recent(pool, policy, _decline_at(places, pool.size, cand, place_a)[0])
    shape = np.broadcast_shapes(elsewhere.shape, declined.shape)
    return {
        "open_proposal_elsewhere": np.broadcast_to(elsewhere, shape),
        "declined_by_supplier": np.broadcast_to(declined, shape),
    }


# ---------------------------------------------------------------------------------------------
# Words
# ---------------------------------------------------------------------------------------------


def km_words(km: float) -> str:
    """A distance as a recruiter reads it: one decimal below 10 km, whole km above."""
    return f"{km:.1f} km" if km < 10 else f"{km:.0f} km"


def _date(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))).isoformat()


def _types_words(bits: int) -> str:
    names = [PLACEMENT_WORDS[_TYPE_OF_BIT[b]] for b in sorted(_TYPE_OF_BIT) if bits & b]
    return " or ".join(names)


def distance_km(
    pool: CandidatePool, places: PlaceTable, cand: IndexArray, place: IndexArray | int
) -> np.ndarray:
    """Distance home → workplace, km, float64 (on the pool's projection)."""
    dx = pool.x_km[cand].astype(np.float64) - places.x_km[place]
    dy = pool.y_km[cand].astype(np.float64) - places.y_km[place]
    return np.asarray(np.sqrt(dx * dx + dy * dy))


def explain_failures(
    pool: CandidatePool, places: PlaceTable, cand: int, place: int, policy: Policy
) -> list[RuleFailure]:
    """Every hard rule one pair fails, in a recruiter's words (empty when eligible).

    Examples
    --------
    >>> [f.describe() for f in explain_failures(pool, places, 0, 3, policy)]  # doctest: +SKIP
    ['lives 23 km away; accepts at most 15 km']
    """
    failed = pair_failures(pool, places, np.array([cand]), place, policy)
    rules = policy.eligibility
    out: list[RuleFailure] = []
    for rule in RULES:
        if not failed[rule][0]:
            continue
        if rule in ("period", "free_slots"):
            text = "the place is " + places.states.describe(place)
        elif rule == "placed":
            text = "already in a placement"
        elif rule == "proposed_here":
            text = "already proposed to this place (the proposal is still open)"
        elif rule == "ladder":
            step, lowest = int(pool.ladder_step[cand]), int(places.lowest_step[place])
            if places.supervisor[place] and rules.steps_below_with_supervisor > 0:
                reach = max(1, lowest - rules.steps_below_with_supervisor)
                text = (f"on step {step} of the work ladder; the place takes step {lowest} and up, "
                        f"or step {reach} and up with its supervisor")
            else:
                text = (f"on step {step} of the work ladder; the place takes step {lowest} and up "
                        "and offers no supervisor")
        elif rule == "commute":
            d = float(distance_km(pool, places, np.array([cand]), place)[0])
            text = f"lives {km_words(d)} away; accepts at most {km_words(float(pool.commute_limit_km[cand]))}"
        elif rule == "availability":
            start = int(places.start_day[place])
            if start >= pool.reference_day:
                text = f"available from {_date(pool.available_day[cand])}; the place starts {_date(start)}"
            else:
                text = (f"available from {_date(pool.available_day[cand])}; the place started "
                        f"{_date(start)} and takes people now ({_date(pool.reference_day)})")
            if rules.availability_grace_days:
                text += f" (the policy allows {rules.availability_grace_days} days later)"
        elif rule == "placement_type":
            kind = PLACEMENT_WORDS[_TYPE_OF_BIT[int(places.placement_type[place])]]
            text = f"wants {_types_words(int(pool.wished_types[cand]))}; the place is {kind}"
        elif rule == "duration":
            text = (f"the place lasts {float(places.duration_months[place]):g} months; the policy asks "
                    f"for at least {rules.min_duration_months:g} months")
        else:  # competence
            text = "lacks the required " + _and_words(missing_competences(pool, places, cand, place))
        out.append(RuleFailure(rule, text))
    return out


def missing_competences(pool: CandidatePool, places: PlaceTable, cand: int, place: int) -> list[str]:
    """Labels of the competences the place requires as a hard rule and the candidate lacks."""
    has = pool.competences[:, cand]
    out = []
    for code in places.needed_concepts(place):
        bit = pool.concepts.index(code)
        if not int(has[bit // 64]) >> (bit % 64) & 1:
            out.append(pool.concept_labels.get(code, code))
    return out


def _and_words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def unmet_rules(failures: list[RuleFailure], override: RuleOverride | None) -> list[RuleFailure]:
    """The failed rules that ``override`` does not cover: what still stops the pair."""
    return [f for f in failures if override is None or not override.covers(f.rule)]


def explain_held_back(
    pool: CandidatePool, places: PlaceTable, cand: int, place: int, policy: Policy
) -> list[RuleFailure]:
    """Every held-back rule that applies to one pair, in words (the flags on a shortlist line)."""
    out: list[RuleFailure] = []
    here = bool(_open_here(places, pool.size, np.array([cand]), place)[0])
    elsewhere = int(pool.open_proposals[cand]) - here
    if elsewhere > 0:
        what = "an open proposal" if elsewhere == 1 else f"{elsewhere} open proposals"
        out.append(RuleFailure("open_proposal_elsewhere", f"proposed elsewhere ({what})"))
    days, rows = _decline_at(places, pool.size, np.array([cand]), place)
    if _recent(pool, policy, days)[0]:
        hold = policy.eligibility.hold_back_days_after_decline
        reason = places.decline_reason[rows[0]] if len(places.decline_reason) else None
        why = f", {str(reason).replace('_', ' ')}" if reason else ""
        out.append(RuleFailure(
            "declined_by_supplier",
            f"declined at this supplier on {_date(int(days[0]))}{why} "
            f"(held back {hold} days after a decline)",
        ))
    return out
