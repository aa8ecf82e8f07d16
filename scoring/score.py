"""Match scores: a weighted sum of named terms, each explained.

A pair's score is ``Σ weight[t] · term[t]`` over the terms of :data:`TERMS`; every term is a number
in 0..1 and every weight is the policy's (``policy.weights``), so with the shipped policies
(weights summing to 100) a score reads as points out of 100. A term's *contribution* is
``weight · term``; the contributions add up to the score, exactly as they are shown.

The terms (formulas in ``docs/scoring.md``):

``competence``
    ``r`` = share of the place's *required* concepts the candidate has, ``w`` = share of the
    *wanted* ones. ``(1 - WANTED_SHARE) · r + WANTED_SHARE · w`` when the place lists both
    (``WANTED_SHARE`` = 0.25: wanted competences are the smaller part); ``r`` alone or ``w`` alone
    when it lists only one kind; 1 when it lists none (nothing is missing).
``distance``
    ``1 - d / limit``, clipped to 0..1: 1 at home, 0 at the candidate's commute limit (``d`` km as the
    crow flies; a limit of 0 km gives 1 only at distance 0).
``ladder``
    1 when the candidate's work-ladder step is at or above the place's lowest step; for a step
    ``g`` steps below it (eligible only with a supervisor), ``1 - g / (s + 1)`` where ``s`` is
    ``policy.eligibility.steps_below_with_supervisor`` (one step below, s = 1: 0.5).
``time_far``
    months registered with the employment service, capped: ``min(months, cap) / cap`` with
    ``cap`` = 2 × ``policy.far_from_labour_market.older_min_months`` (24 months with the shipped
    policies: twice the time that makes a person aged 26+ "far from the labour market").
``priority_group``
    ``min(count, 2) / 2`` where ``count`` is the number of the policy's enabled candidate-level
    priority groups (youth, foreign-born, disability, far from the labour market) the candidate
    belongs to: 0.5 for one group, 1 for two or more. Gender-norm breaking has its own term.
``gender_norm``
    1 when the pair breaks the gender norm: the candidate's gender is below
    ``policy.groups.gender_norm_threshold`` (40 %) in the place's occupation (DOMAIN.md).
``wishes``
    ``0.5 · type + 0.5 · hours``: ``type`` is 1 when the candidate named this placement type,
    0.5 when they named none (any type); ``hours`` is ``1 - |place hours - wished hours| / 20``,
    clipped to 0..1 (a 20-hour gap or more gives 0).
``outcome``
    Only where the policy gives it a weight (``policy.outcome_model.weight`` > 0, :func:`policy_terms`):
    the learnt model's predicted probability that the person is in work or studies 180 days after the
    placement started (:mod:`scoring.outcome_model`; the model the policy names, loaded and checked by
    :func:`service.outcome_models.bind_outcome_model`). It scores the pairs the hard rules let
    through, as every term does; no priority-group attribute is among its features.

:func:`score_pairs` computes all terms column-wise for arrays of (candidate, place) positions:
one place against a whole pool (a shortlist) or millions of edges at once (an allocation round).
:func:`explain_pair` gives one pair's :class:`ScoreBreakdown`, with each term in words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt

from scoring.domain import WorkLadderStep
from scoring.eligibility import PLACEMENT_WORDS, distance_km, km_words
from scoring.exceptions import PolicyError, Problem
from scoring.policy import Policy
from scoring.pool import PLACEMENT_TYPE_BITS, CandidatePool, PlaceTable, set_bits

__all__ = [
    "HOURS_TOLERANCE",
    "OUTCOME_TERM",
    "PRIORITY_GROUP_SATURATION",
    "TERMS",
    "WANTED_SHARE",
    "OutcomePredictor",
    "ScoreBreakdown",
    "TermContribution",
    "competence_table",
    "explain_pair",
    "group_labels",
    "hand_terms",
    "norm_breaker_pairs",
    "outcome_predictor",
    "outcome_words",
    "place_terms",
    "policy_terms",
    "score_pairs",
    "term_weight",
    "time_far_cap_months",
]

#: The score's terms, in the order they are summed and shown.
TERMS: tuple[str, ...] = (
    "competence", "distance", "ladder", "time_far", "priority_group", "gender_norm", "wishes",
)
#: The learnt outcome model's term: only in the score of a policy that weighs it (:func:`policy_terms`).
OUTCOME_TERM = "outcome"
#: Part of the competence term that wanted (not required) competences make up.
WANTED_SHARE = 0.25
#: A gap of this many hours a week between the place and the wish gives an hours fit of 0.
HOURS_TOLERANCE = 20.0
#: Priority groups counted at most: one group gives half the term, this many or more all of it.
PRIORITY_GROUP_SATURATION = 2
#: The ``type`` part of ``wishes`` when the candidate named no placement type.
ANY_TYPE_FIT = 0.5

#: Readable names of the priority groups, for explanations.
GROUP_WORDS: dict[str, str] = {
    "youth": "youth",
    "foreign_born": "foreign-born",
    "disability": "disability",
    "far_from_labour_market": "far from the labour market",
    "gender_norm_breaker": "gender-norm breaker",
}
_TYPE_OF_BIT = {bit: value for value, bit in PLACEMENT_TYPE_BITS.items()}

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.integer]


class OutcomePredictor(Protocol):
    """What the ``outcome`` term asks of a model (:class:`scoring.outcome_model.OutcomeModel` is one)."""

    def predict(
        self, pool: CandidatePool, places: PlaceTable, cand_idx: npt.ArrayLike, place_idx: npt.ArrayLike,
        policy: Policy,
    ) -> FloatArray:
        """(E,) P(in work or studies 180 days after the placement) of each (candidate, place) pair."""
        ...


def policy_terms(policy: Policy) -> tuple[str, ...]:
    """The terms of ``policy``'s score, in the order they are summed and shown: :data:`TERMS`, then
    ``outcome`` where the policy weighs the learnt model (``policy.outcome_model.weight`` > 0)."""
    return (*TERMS, OUTCOME_TERM) if policy.outcome_model.used else TERMS


def term_weight(policy: Policy, name: str) -> float:
    """The policy's weight of one term (``outcome``: ``policy.outcome_model.weight``)."""
    if name == OUTCOME_TERM:
        return float(policy.outcome_model.weight)
    return float(getattr(policy.weights, name))


def outcome_predictor(policy: Policy) -> OutcomePredictor:
    """The model a policy that weighs the ``outcome`` term has been bound to.

    Raises
    ------
    PolicyError
        The policy weighs the term but no model was bound to it: a score without the term would be
        another policy's, so there is no fallback.
    """
    predictor = policy.outcome_model.predictor
    if predictor is None:
        raise PolicyError([Problem(
            policy.id, None, "outcome_model.model", policy.outcome_model.model,
            "the policy weighs the outcome model, but no model was loaded for it (the service, platsa "
            "shortlist, allocate and verify-round load it from their models folder: docs/policies.md, "
            "'outcome_model')")])
    return cast(OutcomePredictor, predictor)


def time_far_cap_months(policy: Policy) -> int:
    """Months registered at which ``time_far`` reaches 1: twice the 26+ threshold (24 months)."""
    return max(1, 2 * policy.far_from_labour_market.older_min_months)


def norm_breaker_pairs(
    pool: CandidatePool, places: PlaceTable, cand: IndexArray | None, place: IndexArray | int
) -> npt.NDArray[np.bool_]:
    """Whether each pair is a gender-norm breaker (``cand=None``: the whole pool vs one place).

    Same rule as :func:`scoring.domain.is_gender_norm_breaker`, on the pool's gender codes and the
    place's precomputed under-representation flags (gender X never counts).
    """
    gender = pool.gender if cand is None else pool.gender[cand]
    return np.asarray(
        ((gender == 0) & places.women_under[place]) | ((gender == 1) & places.men_under[place])
    )


def score_pairs(
    pool: CandidatePool,
    places: PlaceTable,
    cand_idx: IndexArray,
    place_idx: IndexArray | int,
    policy: Policy,
) -> tuple[FloatArray, dict[str, FloatArray]]:
    """Score (candidate, place) pairs column-wise.

    Parameters
    ----------
    pool, places
        From :func:`scoring.pool.build_pool`.
    cand_idx
        (E,) candidate positions.
    place_idx
        (E,) place positions, or one position (int) for every pair: one place against many.
    policy
        Supplies the weights (``policy.weights``) and the numbers some terms use.

    Returns
    -------
    total : numpy.ndarray
        (E,) float64 ``Σ weight[t] · terms[t]``, summed in the order of :func:`policy_terms`
        (:data:`TERMS`, then ``outcome`` where the policy weighs it).
    terms : dict
        Term name → (E,) float64 value in 0..1, before weighting.

    Raises
    ------
    PolicyError
        The policy weighs the ``outcome`` term but no model is bound to it (:func:`outcome_predictor`).

    Notes
    -----
    The score does not check eligibility: score the pairs that :mod:`scoring.eligibility`
    lets through (an ineligible pair may still get a number, e.g. distance 0 beyond the limit).

    Examples
    --------
    >>> total, terms = score_pairs(pool, places, np.array([0, 5]), np.array([2, 2]), policy)  # doctest: +SKIP
    >>> points = {t: getattr(policy.weights, t) * v for t, v in terms.items()}  # doctest: +SKIP
    """
    cand = np.asarray(cand_idx, dtype=np.int64)
    single = np.ndim(place_idx) == 0
    place: int | npt.NDArray[np.int64] = (
        int(place_idx) if single else np.asarray(place_idx, dtype=np.int64)
    )
    shape = np.broadcast_shapes(cand.shape, np.shape(place))
    terms = hand_terms(pool, places, cand, place, policy)
    if policy.outcome_model.used:
        pairs = np.broadcast_to(np.asarray(place, dtype=np.int64), shape)
        terms[OUTCOME_TERM] = np.asarray(
            outcome_predictor(policy).predict(pool, places, np.broadcast_to(cand, shape), pairs, policy),
            dtype=np.float64)
    total = np.zeros(shape, dtype=np.float64)
    scratch = np.empty(shape, dtype=np.float64)
    for name in policy_terms(policy):
        value = np.broadcast_to(np.asarray(terms[name], dtype=np.float64), shape)
        terms[name] = value
        np.multiply(value, term_weight(policy, name), out=scratch)
        total += scratch
    return total, terms


def hand_terms(
    pool: CandidatePool,
    places: PlaceTable,
    cand_idx: IndexArray,
    place_idx: IndexArray | int,
    policy: Policy,
) -> dict[str, FloatArray]:
    """The hand-weighted terms of :data:`TERMS` of (candidate, place) pairs, unweighted, as
    :func:`score_pairs` gives them (without the learnt ``outcome`` term, whose model reads these)."""
    cand = np.asarray(cand_idx, dtype=np.int64)
    place: int | npt.NDArray[np.int64] = (
        int(place_idx) if np.ndim(place_idx) == 0 else np.asarray(place_idx, dtype=np.int64)
    )
    # Terms of small integers (steps, hours, group counts, competence hits) are read from tables
    # computed once per call with the same float64 formula: one gather per pair instead of a
    # chain of array operations, and the same bits on both paths (one place, or many).
    if isinstance(place, int):
        terms = place_terms(pool, places, cand, place, policy)
    else:
        hits_req, hits_want = _hits(pool, places, cand, place)
        gap = places.lowest_step[place].astype(np.int64) - pool.ladder_step[cand]
        hours_gap = np.abs(places.hours[place].astype(np.int64) - pool.wished_hours[cand])
        terms = {
            "competence": _competence_pairs(hits_req, hits_want, places.num_required[place],
                                            places.num_wanted[place]),
            "distance": _distance(pool, places, cand, place),
            "ladder": _ladder_table(policy)[gap + 4],
            "time_far": _time_far(pool.months_registered[cand], policy),
            "priority_group": _GROUP_TABLE[pool.num_groups[cand]],
            "gender_norm": norm_breaker_pairs(pool, places, cand, place).astype(np.float64),
            "wishes": 0.5 * _type_table(places.placement_type[place], pool.wished_types[cand])
            + 0.5 * _HOURS_TABLE[np.minimum(hours_gap, len(_HOURS_TABLE) - 1)],
        }
    return terms


def place_terms(
    pool: CandidatePool,
    places: PlaceTable,
    cand_idx: IndexArray,
    place: int,
    policy: Policy,
    names: Sequence[str] = TERMS,
) -> dict[str, FloatArray]:
    """Unweighted score terms of many candidates against one place: only the terms named.

    The values (bit for bit) that :func:`score_pairs` gives for ``place_idx=place``, which computes
    its terms here. Apart from the candidate's attributes, ``ladder`` depends only on the place's
    lowest step, ``gender_norm`` on its ``women_under`` / ``men_under`` flags and ``wishes`` on its
    placement type and hours; ``time_far`` and ``priority_group`` not on the place at all.

    Parameters
    ----------
    cand_idx
        (E,) candidate positions.
    place
        One place position.
    names
        Terms of :data:`TERMS` to compute.

    Returns
    -------
    dict
        Term name → (E,) float64 value in 0..1, in the order of ``names``.
    """
    cand = np.asarray(cand_idx, dtype=np.int64)
    compute: dict[str, Callable[[], npt.ArrayLike]] = {
        "competence": lambda: _competence_single(pool, places, cand, place),
        "distance": lambda: _distance(pool, places, cand, place),
        "ladder": lambda: _ladder_table(policy)[places.lowest_step[place] - np.arange(5) + 4][
            pool.ladder_step[cand]
        ],
        "time_far": lambda: _time_far(pool.months_registered[cand], policy),
        "priority_group": lambda: _GROUP_TABLE[pool.num_groups[cand]],
        "gender_norm": lambda: np.array([places.women_under[place], places.men_under[place], False],
                                        dtype=np.float64)[pool.gender[cand]],
        "wishes": lambda: _wishes_single(pool, places, cand, place),
    }
    return {name: np.asarray(compute[name](), dtype=np.float64) for name in names}


def competence_table(num_required: int, num_wanted: int) -> FloatArray:
    """The ``competence`` term by hits, for a place listing so many required and wanted concepts.

    Returns
    -------
    numpy.ndarray
        (num_required + 1, num_wanted + 1) float64: ``[r, w]`` is the term of a candidate who has
        ``r`` of the required and ``w`` of the wanted concepts (the values :func:`score_pairs` gives).

    Examples
    --------
    >>> competence_table(2, 1).tolist()
    [[0.0, 0.25], [0.375, 0.625], [0.75, 1.0]]
    """
    grid_r, grid_w = np.divmod(np.arange((num_required + 1) * (num_wanted + 1)), num_wanted + 1)
    table = _competence_value(grid_r, grid_w, np.int16(num_required), np.int16(num_wanted))
    return table.reshape(num_required + 1, num_wanted + 1)


#: ``priority_group`` by number of groups: ``min(count, 2) / 2``.
_GROUP_TABLE = np.minimum(np.arange(16), PRIORITY_GROUP_SATURATION) / float(PRIORITY_GROUP_SATURATION)
#: ``hours`` part of ``wishes`` by the gap in hours: ``max(0, 1 - gap / 20)`` (gaps up to 60 h).
_HOURS_TABLE = np.maximum(0.0, 1.0 - np.arange(61) / HOURS_TOLERANCE)


def _ladder_table(policy: Policy) -> FloatArray:
    """``ladder`` by ``gap + 4``, gap = lowest step - candidate step in -4..4."""
    gap = np.arange(-4, 5)
    bridge = policy.eligibility.steps_below_with_supervisor + 1.0
    return np.where(gap <= 0, 1.0, np.maximum(0.0, 1.0 - gap / bridge))


def _time_far(months: np.ndarray, policy: Policy) -> FloatArray:
    cap = time_far_cap_months(policy)
    return np.minimum(np.maximum(months, 0), cap) / float(cap)


def _type_table(place_type: np.ndarray | np.integer, wished: np.ndarray) -> FloatArray:
    """``type`` part of ``wishes``: 1 when named, 0.5 when nothing was named, else 0."""
    named = ((wished & place_type) != 0).astype(np.float64)
    return np.where(wished == 0, ANY_TYPE_FIT, named)


def _wishes_single(pool: CandidatePool, places: PlaceTable, cand: np.ndarray, place: int) -> FloatArray:
    # A table over (wished types 0..255, wished hours 0..60) for this place's type and hours.
    type_fit = _type_table(places.placement_type[place], np.arange(256, dtype=np.uint8))
    gaps = np.minimum(np.abs(int(places.hours[place]) - np.arange(61)), len(_HOURS_TABLE) - 1)
    table = (0.5 * type_fit[:, None] + 0.5 * _HOURS_TABLE[gaps][None, :]).ravel()
    index = pool.wished_types[cand].astype(np.int32)
    index *= 61
    index += np.minimum(pool.wished_hours[cand], 60)
    return np.asarray(table[index])


def _hits(
    pool: CandidatePool, places: PlaceTable, cand: np.ndarray, place: np.ndarray | int
) -> tuple[np.ndarray, np.ndarray]:
    shape = np.broadcast_shapes(np.shape(cand), np.shape(place))
    hits_req = np.zeros(shape, dtype=np.int16)
    hits_want = np.zeros(shape, dtype=np.int16)
    # Word by word, and only the words some place's profile uses: one contiguous gather each.
    for w in range(places.required.shape[0]):
        required, wanted = places.required[w], places.wanted[w]
        use_req, use_want = bool(required.any()), bool(wanted.any())
        if not (use_req or use_want):
            continue
        row = pool.competences[w][cand]
        if use_req:
            hits_req += np.bitwise_count(row & required[place])
        if use_want:
            hits_want += np.bitwise_count(row & wanted[place])
    return hits_req, hits_want


def _competence_value(
    hits_req: np.ndarray, hits_want: np.ndarray, num_req: npt.ArrayLike, num_want: npt.ArrayLike
) -> FloatArray:
    num_r = np.asarray(num_req, dtype=np.float64)
    num_w = np.asarray(num_want, dtype=np.float64)
    share_req = hits_req / np.maximum(num_r, 1.0)
    share_want = hits_want / np.maximum(num_w, 1.0)
    return np.asarray(np.where(
        (num_r > 0) & (num_w > 0),
        (1.0 - WANTED_SHARE) * share_req + WANTED_SHARE * share_want,
        np.where(num_r > 0, share_req, np.where(num_w > 0, share_want, 1.0)),
    ))


def _competence_pairs(
    hits_req: np.ndarray, hits_want: np.ndarray, num_req: np.ndarray, num_want: np.ndarray
) -> FloatArray:
    # A table over every (num_req, num_want, hits_req, hits_want), small integers all: one gather
    # per pair, and the same formula (so the same bits) as the one-place table.
    size_r = int(np.max(num_req, initial=0)) + 1
    size_w = int(np.max(num_want, initial=0)) + 1
    nr, nw, hr, hw = np.meshgrid(np.arange(size_r), np.arange(size_w), np.arange(size_r),
                                 np.arange(size_w), indexing="ij")
    table = _competence_value(hr, hw, nr, nw).ravel()
    index = num_req.astype(np.int32) * size_w
    index += num_want
    index *= size_r
    index += hits_req
    index *= size_w
    index += hits_want
    return np.asarray(table[index])


def _competence_single(pool: CandidatePool, places: PlaceTable, cand: np.ndarray, place: int) -> FloatArray:
    required = places.required[:, place]
    wanted = places.wanted[:, place]
    num_req, num_want = int(places.num_required[place]), int(places.num_wanted[place])
    if num_req == 0 and num_want == 0:
        return np.ones(cand.shape, dtype=np.float64)
    # index = hits_req * (num_want + 1) + hits_want into a table of every (hits_req, hits_want).
    index = np.zeros(cand.shape, dtype=np.int32)
    for w in np.flatnonzero(required | wanted).tolist():  # only the words the profile uses
        row = pool.competences[w, cand]
        if required[w]:
            index += np.bitwise_count(row & required[w]) * np.int32(num_want + 1)
        if wanted[w]:
            index += np.bitwise_count(row & wanted[w])
    return np.asarray(competence_table(num_req, num_want).ravel()[index])


def _distance(
    pool: CandidatePool, places: PlaceTable, cand: np.ndarray, place: np.ndarray | int
) -> FloatArray:
    d = distance_km(pool, places, cand, place)
    limit = pool.commute_limit_km[cand].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        near = d / limit
    np.subtract(1.0, near, out=near)
    np.maximum(near, 0.0, out=near)
    np.minimum(near, 1.0, out=near)
    zero = limit <= 0
    if zero.any():  # a limit of 0 km: 1 only at the workplace itself
        near[zero] = d[zero] <= 0
    return near


# ---------------------------------------------------------------------------------------------
# Explanations
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TermContribution:
    """One term of one pair's score.

    ``points = weight · value``; ``text`` says what the value rests on, in a recruiter's words.
    """

    name: str
    value: float
    weight: float
    points: float
    text: str

    def describe(self) -> str:
        """E.g. ``"competence +30.0: has 2 of 3 required competences (...)"``."""
        return f"{self.name} {self.points:+.1f}: {self.text}"


@dataclass(frozen=True)
class ScoreBreakdown:
    """A pair's score and its terms; the terms' points add up to ``total``."""

    total: float
    terms: tuple[TermContribution, ...]

    def points(self) -> dict[str, float]:
        """Term name → contribution."""
        return {t.name: t.points for t in self.terms}

    def describe(self) -> str:
        """One line: the total, then every term with its points and words."""
        return f"score {self.total:.1f} = " + "; ".join(t.describe() for t in self.terms)


def group_labels(pool: CandidatePool, places: PlaceTable, cand: int, place: int, policy: Policy) -> list[str]:
    """Readable names of the enabled priority groups the pair belongs to (sensitive: staff only)."""
    names = [GROUP_WORDS[g.value] for g, mask in pool.groups.items() if mask[cand]]
    if any(g.value == "gender_norm_breaker" for g in policy.groups.enabled) and bool(
        norm_breaker_pairs(pool, places, np.array([cand]), place)[0]
    ):
        names.append(GROUP_WORDS["gender_norm_breaker"])
    return names


def _labels(pool: CandidatePool, codes: list[str]) -> str:
    return ", ".join(pool.concept_labels.get(c, c) for c in codes)


def _term_words(
    pool: CandidatePool,
    places: PlaceTable,
    cand: int,
    place: int,
    policy: Policy,
    values: dict[str, float],
    distance: float | None,
) -> dict[str, str]:
    has = {pool.concepts[b] for b in set_bits(pool.competences[:, cand])}
    required = list(places.required_concepts[place])
    wanted = list(places.wanted_concepts[place])
    if not required and not wanted:
        competence = "the place asks for no particular competence"
    else:
        parts = []
        for kind, codes in (("required", required), ("wanted", wanted)):
            if codes:
                got = [c for c in codes if c in has]
                part = f"has {len(got)} of {len(codes)} {kind}"
                parts.append(part + (f" ({_labels(pool, got)})" if got else ""))
        competence = "; ".join(parts)

    d = float(distance_km(pool, places, np.array([cand]), place)[0]) if distance is None else distance
    limit = float(pool.commute_limit_km[cand])
    step, lowest = int(pool.ladder_step[cand]), int(places.lowest_step[place])
    if step >= lowest:
        ladder = (f"on step {step} of the work ladder ({WorkLadderStep(step).describe()}); "
                  f"the place takes step {lowest} and up")
    else:
        ladder = (f"on step {step} of the work ladder, {lowest - step} below the place's lowest "
                  f"({lowest}); eligible with its supervisor")
    months = int(pool.months_registered[cand])
    groups = [GROUP_WORDS[g.value] for g, mask in pool.groups.items() if mask[cand]]
    share = float(places.share_women[place])
    breaker = values["gender_norm"] > 0
    gender_text = (
        f"breaks the gender norm in this occupation ({share:.0%} women)" if breaker
        else f"does not break the gender norm in this occupation ({share:.0%} women)"
    )
    wished = int(pool.wished_types[cand])
    kind = PLACEMENT_WORDS[_TYPE_OF_BIT[int(places.placement_type[place])]]
    type_text = "named no placement type" if wished == 0 else (
        f"wants {kind}" if wished & int(places.placement_type[place]) else f"did not ask for {kind}"
    )
    words = {
        "competence": competence,
        "distance": f"lives {km_words(d)} away; accepts up to {km_words(limit)}",
        "ladder": ladder,
        "time_far": f"registered {months} months (counts up to {time_far_cap_months(policy)})",
        "priority_group": ("in priority groups: " + ", ".join(groups)) if groups else "in no priority group",
        "gender_norm": gender_text,
        "wishes": f"{type_text}; wishes {int(pool.wished_hours[cand])} h/week, the place has "
        f"{int(places.hours[place])} h",
    }
    if OUTCOME_TERM in values:
        words[OUTCOME_TERM] = outcome_words(values[OUTCOME_TERM])
    return words


def outcome_words(probability: float) -> str:
    """The ``outcome`` term in words.

    Examples
    --------
    >>> outcome_words(0.6234)
    'predicted 62 % in work or studies after 180 days'
    """
    return f"predicted {probability * 100:.0f} % in work or studies after 180 days"




def breakdown_from_values(
    pool: CandidatePool,
    places: PlaceTable,
    cand: int,
    place: int,
    policy: Policy,
    values: dict[str, float],
    *,
    distance: float | None = None,
) -> ScoreBreakdown:
    """The breakdown of one pair whose term values (and distance, km) are already computed."""
    words = _term_words(pool, places, cand, place, policy, values, distance)
    terms = []
    total = 0.0
    for name in policy_terms(policy):
        weight = term_weight(policy, name)
        points = weight * values[name]
        total += points  # the same order and arithmetic as score_pairs: the sum is the score
        terms.append(TermContribution(name, values[name], weight, points, words[name]))
    return ScoreBreakdown(total, tuple(terms))


def explain_pair(
    pool: CandidatePool, places: PlaceTable, cand: int, place: int, policy: Policy
) -> ScoreBreakdown:
    """One pair's score, term by term, in words.

    Examples
    --------
    >>> print(explain_pair(pool, places, 0, 3, policy).describe())  # doctest: +SKIP
    score 71.3 = competence +30.0: has 2 of 2 required (B-körkort, Truckkort); distance +11.2: ...
    """
    _, terms = score_pairs(pool, places, np.array([cand]), place, policy)
    values = {name: float(array[0]) for name, array in terms.items()}
    return breakdown_from_values(pool, places, cand, place, policy, values)
