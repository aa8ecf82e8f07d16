"""Fair, explained shortlists: "for this supplier's place, who should we propose?"

:func:`shortlist` answers for one place from the in-memory pool (:func:`scoring.pool.build_pool`):

1. **Eligibility** over the whole pool (:func:`scoring.eligibility.place_eligibility`), counted
   per failed rule. A place that is not open for matching today (its period has ended or not yet
   begun, or no slot is free: :mod:`scoring.capacity`) fails the ``period`` or ``free_slots`` rule
   for everyone, so its list is empty and says why (:attr:`Shortlist.place_state`).
2. **Fresh proposals**: candidates with an open proposal elsewhere, or declined by this place's
   supplier within the policy's hold-back period, are held back (left out and counted), or,
   with ``include_held_back=True``, kept and flagged on their line. A ``candidate_mask`` (a
   labour-market unit's district) narrows the candidates here, so that the rest of the steps,
   the fair re-ranking included, work inside it.
3. **Scores** of the eligible candidates (:func:`scoring.score.score_pairs`), column-wise.
4. **Top k**, re-ranked fairly (:func:`scoring.fair_ranking.fair_rerank`): every priority group
   with a floor in the policy (``policy.floors``, used as FA*IR's minimum share, and gender-norm
   breaking for *this* place where the policy enables it) is represented at every prefix of the
   list. Only the top ``k`` of each membership pattern can appear in a fair top ``k``, so the
   pool is cut to those first (:func:`scoring.fair_ranking.select_candidates`): no full sort.
5. **Lines** that say why each candidate stands where it stands ("ranked by score (71.3)" or
   "moved up to meet the youth minimum at rank 4"), with each term's points.

A :class:`Shortlist` holds sensitive data (priority groups): it is for the municipality's own
staff. What a supplier receives is built elsewhere, from ids and support needs only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.domain import PriorityGroup
from scoring.eligibility import (
    PlaceEligibility,
    RuleFailure,
    distance_km,
    explain_failures,
    explain_held_back,
    place_eligibility,
)
from scoring.fair_ranking import ByScore, MovedUp, fair_minimums, fair_rerank, select_candidates
from scoring.policy import Policy
from scoring.pool import CandidatePool, PlaceTable, check_policy
from scoring.score import (
    GROUP_WORDS,
    ScoreBreakdown,
    breakdown_from_values,
    explain_pair,
    group_labels,
    norm_breaker_pairs,
    policy_terms,
    score_pairs,
)

__all__ = [
    "PairExplanation",
    "Shortlist",
    "ShortlistCounts",
    "ShortlistLine",
    "Standing",
    "explain_candidate",
    "shortlist",
]

#: FA*IR significance level for the per-prefix minimums (Zehlike et al.; the paper's default).
FAIR_ALPHA = 0.1


@dataclass(frozen=True)
class ShortlistLine:
    """One line of a shortlist: who, how well, and why here.

    Attributes
    ----------
    rank
        1-based position.
    candidate_id, candidate_index
        The candidate's id and pool position.
    score
        The match score (the sum of ``breakdown``'s points).
    breakdown
        Each term's value, weight, points and words.
    reason
        Why the line stands here: ``"ranked by score (71.3)"`` or
        ``"moved up to meet the youth minimum at rank 4"``.
    moved_up
        True when the line stands ahead of better-scored candidates to meet a group minimum.
    flags
        Held-back rules that apply (only with ``include_held_back``), e.g.
        ``"proposed elsewhere (an open proposal)"``.
    groups
        Readable names of the priority groups the pair belongs to (sensitive).
    distance_km
        Home to workplace, km.
    """

    rank: int
    candidate_id: str
    candidate_index: int
    score: float
    breakdown: ScoreBreakdown
    reason: str
    moved_up: bool
    flags: tuple[str, ...]
    groups: tuple[str, ...]
    distance_km: float

    @property
    def points(self) -> dict[str, float]:
        """Term name → points."""
        return self.breakdown.points()

    def top_terms(self, count: int = 3) -> list[tuple[str, float]]:
        """The ``count`` terms contributing most, as (name, points), largest first."""
        return sorted(self.points.items(), key=lambda item: -item[1])[:count]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "rank": self.rank,
            "candidate_id": self.candidate_id,
            "score": round(self.score, 4),
            "reason": self.reason,
            "moved_up": self.moved_up,
            "flags": list(self.flags),
            "groups": list(self.groups),
            "distance_km": round(self.distance_km, 2),
            "terms": _terms_dict(self.breakdown),
        }


def _terms_dict(breakdown: ScoreBreakdown) -> dict[str, dict[str, Any]]:
    """Each term's value, weight, points and words, as a shortlist line's JSON has them."""
    return {
        t.name: {"value": round(t.value, 4), "weight": t.weight, "points": round(t.points, 4), "text": t.text}
        for t in breakdown.terms
    }


@dataclass(frozen=True)
class ShortlistCounts:
    """How the pool narrowed down to the list.

    ``ineligible_by_rule`` counts candidates failing each hard rule (one failing several counts
    under each); ``held_back_by_rule`` counts *eligible* candidates each held-back rule applies to.
    """

    pool: int
    eligible: int
    held_back: int
    considered: int
    ineligible_by_rule: dict[str, int]
    held_back_by_rule: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "pool": self.pool,
            "eligible": self.eligible,
            "held_back": self.held_back,
            "considered": self.considered,
            "ineligible_by_rule": dict(self.ineligible_by_rule),
            "held_back_by_rule": dict(self.held_back_by_rule),
        }


@dataclass(frozen=True)
class Shortlist:
    """A ranked, fair, explained shortlist for one place (for the municipality's staff).

    Attributes
    ----------
    place_id, place_title, supplier_id
        The place asked about.
    policy_id
        The policy whose rules and weights were used.
    k
        The length asked for; ``lines`` is shorter when fewer candidates are eligible.
    fair
        Whether the list was re-ranked for the group minimums.
    min_shares
        Group name → minimum share used for the re-ranking (empty when not fair).
    lines
        The list, best first.
    shortfalls
        Group minimums the pool could not meet, in words.
    counts
        How the pool narrowed down.
    free_slots
        The place's free slots today (0 where it is not open).
    place_state, place_state_text
        The place's state today (one of :data:`scoring.capacity.STATES`) and the same in words,
        e.g. ``"filled: 2 slots, held by 2 hires"``.
    """

    place_id: str
    place_title: str
    supplier_id: str
    policy_id: str
    k: int
    fair: bool
    include_held_back: bool
    min_shares: dict[str, float]
    lines: tuple[ShortlistLine, ...]
    shortfalls: tuple[str, ...]
    counts: ShortlistCounts
    free_slots: int = 0
    place_state: str = "open"
    place_state_text: str = ""
    unknown_competences: tuple[str, ...] = field(default=())

    @property
    def candidate_ids(self) -> list[str]:
        """The candidates' ids, best first."""
        return [line.candidate_id for line in self.lines]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the CLI's ``--json`` (contains sensitive group membership)."""
        return {
            "place_id": self.place_id,
            "place_title": self.place_title,
            "supplier_id": self.supplier_id,
            "policy": self.policy_id,
            "place_state": self.place_state,
            "place_state_text": self.place_state_text,
            "free_slots": self.free_slots,
            "k": self.k,
            "fair": self.fair,
            "include_held_back": self.include_held_back,
            "min_shares": dict(self.min_shares),
            "counts": self.counts.to_dict(),
            "shortfalls": list(self.shortfalls),
            "lines": [line.to_dict() for line in self.lines],
        }


@dataclass(frozen=True)
class Standing:
    """Where one candidate stands against one place's shortlist of length ``k``: on it, or why not.

    Attributes
    ----------
    k, fair, include_held_back
        The list asked about (as :func:`shortlist` takes them).
    status
        ``"on_list"``; or why not: ``"ineligible"`` (a hard rule fails), ``"held_back"`` (a
        held-back rule applies and the list leaves such candidates out), ``"outscored"`` (considered,
        but ranked below ``k`` by score), ``"displaced"`` (within the top ``k`` by score, but
        candidates moved up to meet the group minimums fill the list), ``"excluded"`` (outside the list's
        ``candidate_mask``).
    rank
        The rank on the list, when on it.
    score_rank, considered
        The candidate's rank by score among the ``considered`` candidates (eligible, and not held
        back unless the list includes them), when considered; ties go to the lower pool position, as
        on the list.
    lowest_score
        The lowest score of a line on the list by its score (not moved up for a minimum): what it
        takes to get on by score. None for a candidate not considered, or a list without such lines.
    text
        The same in words, e.g. ``"not on the list of 10: rank 14 by score of 37 considered; the
        lowest score on the list by score is 52.3 (-4.1)"``.
    """

    k: int
    fair: bool
    include_held_back: bool
    status: str
    rank: int | None
    score_rank: int | None
    considered: int
    lowest_score: float | None
    text: str

    @property
    def on_list(self) -> bool:
        """True when the candidate is on the list."""
        return self.status == "on_list"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "k": self.k, "fair": self.fair, "include_held_back": self.include_held_back,
            "on_list": self.on_list, "status": self.status, "rank": self.rank,
            "score_rank": self.score_rank, "considered": self.considered,
            "lowest_score": None if self.lowest_score is None else round(self.lowest_score, 4),
            "text": self.text,
        }


@dataclass(frozen=True)
class PairExplanation:
    """Why a candidate is, or is not, on a place's list: failed rules, held-back rules, score.

    ``standing`` (when :func:`explain_candidate` was given ``k``) says whether the candidate is on
    the list of that length, at which rank, or why not.
    """

    candidate_id: str
    place_id: str
    eligible: bool
    failures: tuple[RuleFailure, ...]
    held_back: tuple[RuleFailure, ...]
    breakdown: ScoreBreakdown
    policy_id: str = ""
    standing: Standing | None = None

    def describe(self) -> list[str]:
        """Plain-English lines."""
        failed = "; ".join(f.describe() for f in self.failures)
        head = "eligible" if self.eligible else f"not eligible: {failed}"
        lines = [f"{self.candidate_id} for {self.place_id}: {head}"]
        lines += [f"held back: {h.describe()}" for h in self.held_back]
        lines.append(self.breakdown.describe())
        if self.standing is not None:
            lines.append(self.standing.text)
        return lines

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (the score's terms as on a shortlist line; staff only, as a shortlist)."""
        out: dict[str, Any] = {
            "candidate_id": self.candidate_id,
            "place_id": self.place_id,
            "policy": self.policy_id,
            "eligible": self.eligible,
            "failures": [{"rule": f.rule, "text": f.text} for f in self.failures],
            "held_back": [{"rule": h.rule, "text": h.text} for h in self.held_back],
            "score": round(self.breakdown.total, 4),
            "terms": _terms_dict(self.breakdown),
        }
        if self.standing is not None:
            out["standing"] = self.standing.to_dict()
        return out


# ---------------------------------------------------------------------------------------------


def _fair_groups(
    pool: CandidatePool, places: PlaceTable, place: int, policy: Policy, cand: npt.NDArray[np.int64]
) -> tuple[list[str], npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Names, (E, G) membership and minimum shares of the groups with a floor above zero."""
    names: list[str] = []
    columns: list[np.ndarray] = []
    shares: list[float] = []
    for group in policy.groups.enabled:
        share = float(policy.floors.get(group, 0.0))
        if share <= 0.0:
            continue
        if group == PriorityGroup.GENDER_NORM_BREAKER:
            # DOMAIN.md: gender-norm breaking belongs to the candidate–place pair.
            column = norm_breaker_pairs(pool, places, cand, place)
        else:
            column = pool.groups[group][cand]
        names.append(GROUP_WORDS[group.value])
        columns.append(np.asarray(column, dtype=bool))
        shares.append(share)
    groups = np.stack(columns, axis=1) if columns else np.zeros((len(cand), 0), dtype=bool)
    return names, groups, np.asarray(shares, dtype=np.float64)


def _meets_minimums(members: np.ndarray, shares: np.ndarray, k: int, alpha: float) -> bool:
    """Whether a list with (length, G) ``members`` meets every group's FA*IR minimum at every prefix."""
    length = members.shape[0]
    minimums = np.stack([fair_minimums(k, float(s), alpha)[:length] for s in shares])
    return bool(np.all(minimums <= np.cumsum(members, axis=0).T))


def _checked_arguments(
    pool: CandidatePool, k: object, candidate_mask: npt.ArrayLike | None
) -> tuple[int, npt.NDArray[np.bool_] | None]:
    """``k`` as an int and the mask as a bool array, or :class:`ValueError` saying what is wrong."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k={k!r}: must be an integer >= 1")
    if candidate_mask is None:
        return int(k), None
    mask = np.asarray(candidate_mask)
    if mask.dtype != np.bool_ or mask.shape != (pool.size,):
        raise ValueError(f"candidate_mask: must be a bool array of shape ({pool.size},), "
                         f"got {mask.dtype} {mask.shape}")
    return int(k), mask


def _considered(
    pool: CandidatePool,
    places: PlaceTable,
    place: int,
    policy: Policy,
    include_held_back: bool,
    candidate_mask: npt.NDArray[np.bool_] | None,
) -> tuple[PlaceEligibility, npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """The place's eligibility check, and (n,) masks: held back by any rule, eligible, considered."""
    check = place_eligibility(pool, places, place, policy)
    held_any = check.held_back["open_proposal_elsewhere"] | check.held_back["declined_by_supplier"]
    # The rules run over the whole pool (one array operation each); the mask only narrows who
    # may be listed, so everything after this, fair re-ranking included, sees the masked pool.
    eligible = check.eligible if candidate_mask is None else check.eligible & candidate_mask
    considered = eligible if include_held_back else eligible & ~held_any
    return check, held_any, eligible, considered


def _top_by_score(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` best scores, best first, ties to the lower position (no full sort)."""
    n = len(scores)
    if n > k:
        threshold = np.partition(scores, n - k)[n - k]
        above = np.flatnonzero(scores > threshold)
        tied = np.flatnonzero(scores == threshold)[: k - len(above)]
        chosen = np.concatenate([above, tied])
    else:
        chosen = np.arange(n)
    return chosen[np.lexsort((chosen, -scores[chosen]))]


def shortlist(
    pool: CandidatePool,
    places: PlaceTable,
    place_id: str,
    *,
    k: int = 20,
    policy: Policy,
    include_held_back: bool = False,
    fair: bool = True,
    alpha: float = FAIR_ALPHA,
    candidate_mask: npt.NDArray[np.bool_] | None = None,
) -> Shortlist:
    """The ranked, fair, explained top ``k`` candidates for one place.

    Parameters
    ----------
    pool, places
        From :func:`scoring.pool.build_pool` (built with the same ``policy``).
    place_id
        The place asked about.
    k
        Lines wanted, at least 1.
    policy
        Hard-rule numbers, score weights, priority groups and their floors.
    include_held_back
        Keep candidates that a held-back rule applies to, flagged on their line, instead of
        leaving them out.
    fair
        Re-rank so that every group with a floor meets its FA*IR minimum at every prefix.
    alpha
        FA*IR significance level.
    candidate_mask
        (n,) bool over the pool: only these candidates can be on the list (a labour-market
        unit's own district, say). The list is then exactly the top ``k`` of the masked
        candidates, re-ranked fairly among them, and ``counts`` count inside the mask only.
        ``None`` (default) means the whole pool.

    Returns
    -------
    Shortlist
        The lines, best first, with reasons, shortfalls and counts.

    Raises
    ------
    UnknownEntityError
        If ``place_id`` is not in ``places``.
    PoolPolicyMismatchError
        If the pool was built for a policy with other priority groups.
    ValueError
        If ``k`` is below 1, or ``candidate_mask`` is not a bool array of the pool's length.

    Examples
    --------
    >>> pool, places = build_pool(region, policy)  # doctest: +SKIP
    >>> for line in shortlist(pool, places, "P-0001", k=5, policy=policy).lines:  # doctest: +SKIP
    ...     print(line.rank, line.candidate_id, f"{line.score:.1f}", line.reason)
    """
    k, candidate_mask = _checked_arguments(pool, k, candidate_mask)
    check_policy(pool, policy)
    place = places.position(place_id)
    check, held_any, eligible, considered_mask = _considered(pool, places, place, policy, include_held_back,
                                                             candidate_mask)
    cand = np.flatnonzero(considered_mask)
    total, terms = score_pairs(pool, places, cand, place, policy)

    names: list[str] = []
    shares = np.zeros(0)
    reasons: list[ByScore | MovedUp]
    shortfalls: tuple[str, ...] = ()
    if fair:
        names, groups, shares = _fair_groups(pool, places, place, policy, cand)
    plain = _top_by_score(total, k)
    if fair and len(names) and len(cand) and not _meets_minimums(groups[plain], shares, k, alpha):
        subset = select_candidates(total, groups, k=k)
        # The subset already holds the top k of every membership pattern: tell fair_rerank so.
        ranking = fair_rerank(total[subset], groups[subset], k=k, min_shares=shares, alpha=alpha,
                              group_names=names, candidates=np.arange(len(subset)))
        order = subset[ranking.order]
        reasons = list(ranking.reasons)
        shortfalls = tuple(s.describe() for s in ranking.shortfalls)
    else:
        # Not fair, no floors, or the plain ranking already meets every minimum at every prefix:
        # then fair_rerank's greedy (best score first while a completion exists) returns exactly
        # this list, every line "by score", and there is nothing to re-rank.
        order = plain
        reasons = [ByScore(float(total[i])) for i in order]

    lines = []
    distances = distance_km(pool, places, cand[order], place).tolist()
    for rank, (position, reason, km) in enumerate(zip(order.tolist(), reasons, distances, strict=True), 1):
        c = int(cand[position])
        values = {name: float(terms[name][position]) for name in policy_terms(policy)}
        breakdown = breakdown_from_values(pool, places, c, place, policy, values, distance=km)
        flags = tuple(h.describe() for h in explain_held_back(pool, places, c, place, policy)) \
            if include_held_back else ()
        lines.append(ShortlistLine(
            rank=rank,
            candidate_id=str(pool.ids[c]),
            candidate_index=c,
            score=float(total[position]),
            breakdown=breakdown,
            reason=_reason_words(reason, float(total[position])),
            moved_up=isinstance(reason, MovedUp),
            flags=flags,
            groups=tuple(group_labels(pool, places, c, place, policy)),
            distance_km=km,
        ))

    if candidate_mask is None:
        pool_count = pool.size
        ineligible_by_rule = check.failure_counts()
    else:
        pool_count = int(np.count_nonzero(candidate_mask))
        ineligible_by_rule = {rule: int(np.count_nonzero(failed & candidate_mask))
                              for rule, failed in check.failures.items()}
    counts = ShortlistCounts(
        pool=pool_count,
        eligible=int(np.count_nonzero(eligible)),
        held_back=int(np.count_nonzero(eligible & held_any)),
        considered=len(cand),
        ineligible_by_rule=ineligible_by_rule,
        held_back_by_rule=check.held_back_counts(eligible),
    )
    supplier = int(places.supplier[place])
    return Shortlist(
        place_id=place_id,
        place_title=str(places.titles[place]),
        supplier_id=places.supplier_ids[supplier] if supplier >= 0 else "",
        policy_id=policy.id,
        k=k,
        fair=fair,
        include_held_back=include_held_back,
        min_shares=dict(zip(names, shares.tolist(), strict=True)),
        lines=tuple(lines),
        shortfalls=shortfalls,
        counts=counts,
        free_slots=int(places.free_slots[place]),
        place_state=places.states.state_of(place),
        place_state_text=places.states.describe(place),
    )


def _reason_words(reason: ByScore | MovedUp, score: float) -> str:
    if isinstance(reason, MovedUp):
        return f"moved up to meet the {reason.group} minimum at rank {reason.rank} (score {score:.1f})"
    return f"ranked by score ({score:.1f})"


def explain_candidate(
    pool: CandidatePool,
    places: PlaceTable,
    candidate_id: str,
    place_id: str,
    *,
    policy: Policy,
    k: int | None = None,
    include_held_back: bool = False,
    fair: bool = True,
    alpha: float = FAIR_ALPHA,
    candidate_mask: npt.NDArray[np.bool_] | None = None,
) -> PairExplanation:
    """Why one candidate is, or is not, on one place's list.

    Parameters
    ----------
    pool, places, policy
        As for :func:`shortlist`.
    candidate_id, place_id
        The pair asked about.
    k
        With a length, the answer's ``standing`` says whether the candidate is on the list that
        :func:`shortlist` gives with ``k`` and the other arguments below, at which rank, or why
        not (:class:`Standing`). Without one (default) ``standing`` is None and the list is not
        computed.
    include_held_back, fair, alpha, candidate_mask
        The list's other arguments, as :func:`shortlist` takes them (used only with ``k``).

    Returns
    -------
    PairExplanation
        The hard rules the pair fails, the held-back rules that apply, the score's breakdown, and
        (with ``k``) the standing.

    Raises
    ------
    UnknownEntityError
        If either id is unknown.
    PoolPolicyMismatchError
        With ``k``, if the pool was built for a policy with other priority groups.
    ValueError
        With ``k``, as :func:`shortlist` raises it.

    Examples
    --------
    >>> why = explain_candidate(pool, places, "C05", "P02", policy=policy, k=10)  # doctest: +SKIP
    >>> why.standing.status, why.standing.score_rank  # doctest: +SKIP
    ('outscored', 14)
    """
    cand = pool.position(candidate_id)
    place = places.position(place_id)
    failures = tuple(explain_failures(pool, places, cand, place, policy))
    held_back = tuple(explain_held_back(pool, places, cand, place, policy))
    standing = None
    if k is not None:
        standing = _standing(pool, places, cand, place_id, k=k, policy=policy,
                             include_held_back=include_held_back, fair=fair, alpha=alpha,
                             candidate_mask=candidate_mask, failures=failures, held_back=held_back)
    return PairExplanation(
        candidate_id=candidate_id,
        place_id=place_id,
        eligible=not failures,
        failures=failures,
        held_back=held_back,
        breakdown=explain_pair(pool, places, cand, place, policy),
        policy_id=policy.id,
        standing=standing,
    )


def _standing(
    pool: CandidatePool,
    places: PlaceTable,
    cand: int,
    place_id: str,
    *,
    k: int,
    policy: Policy,
    include_held_back: bool,
    fair: bool,
    alpha: float,
    candidate_mask: npt.NDArray[np.bool_] | None,
    failures: tuple[RuleFailure, ...],
    held_back: tuple[RuleFailure, ...],
) -> Standing:
    """Where pool position ``cand`` stands against the list :func:`shortlist` gives."""
    k, candidate_mask = _checked_arguments(pool, k, candidate_mask)
    check_policy(pool, policy)
    place = places.position(place_id)
    check, _held_any, _eligible, considered = _considered(pool, places, place, policy, include_held_back,
                                                          candidate_mask)
    num_considered = int(np.count_nonzero(considered))

    def standing(status: str, text: str, rank: int | None = None, score_rank: int | None = None,
                 lowest: float | None = None) -> Standing:
        return Standing(k=k, fair=fair, include_held_back=include_held_back, status=status, rank=rank,
                        score_rank=score_rank, considered=num_considered, lowest_score=lowest, text=text)

    if candidate_mask is not None and not candidate_mask[cand]:
        return standing("excluded", "not among the candidates the list is drawn from")
    if not check.eligible[cand]:
        return standing("ineligible", "not on the list: not eligible: "
                        + "; ".join(f.describe() for f in failures))
    if not considered[cand]:
        return standing("held_back", "not on the list: held back: "
                        + "; ".join(h.describe() for h in held_back))

    # Rank by score among the considered, ties to the lower position, as _top_by_score breaks them.
    positions = np.flatnonzero(considered)
    total, _terms = score_pairs(pool, places, positions, place, policy)
    own = float(total[int(np.searchsorted(positions, cand))])
    ahead = (total > own) | ((total == own) & (positions < cand))
    score_rank = 1 + int(np.count_nonzero(ahead))
    listing = shortlist(pool, places, place_id, k=k, policy=policy, include_held_back=include_held_back,
                        fair=fair, alpha=alpha, candidate_mask=candidate_mask)
    # The bar to get on the list by score: lines moved up for a minimum may score lower.
    lowest = min((line.score for line in listing.lines if not line.moved_up), default=None)
    line = next((line for line in listing.lines if line.candidate_index == cand), None)
    if line is not None:
        return standing("on_list", f"on the list of {k} at rank {line.rank}: {line.reason}", rank=line.rank,
                        score_rank=score_rank, lowest=lowest)
    by_score = f"rank {score_rank} by score of {num_considered} considered"
    if score_rank <= k:
        return standing("displaced", f"not on the list of {k}: {by_score}, but candidates moved up to "
                        "meet the group minimums fill the list", score_rank=score_rank, lowest=lowest)
    gap = ("" if lowest is None else
           f"; the lowest score on the list by score is {lowest:.1f} ({own - lowest:+.1f})")
    return standing("outscored", f"not on the list of {k}: {by_score}{gap}", score_rank=score_rank,
                    lowest=lowest)
