"""One person against every place open now: where they are eligible, at what score, and what stops them.

The candidate's page (``docs/pages.md``) shows it to the labour-market unit: the places open on the
reference date with a free slot (the rule shortlists and rounds keep, :mod:`scoring.capacity`),
those the person passes every hard rule of, ranked by the pair's score, and for the others the
rules they fail, counted per rule. One call checks the person against all ``m`` places in a few
array operations (:func:`scoring.eligibility.pair_failures` over the places), so it costs about a
millisecond on a region of 10,000 places.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scoring.eligibility import HELD_BACK_RULES, RULES, held_back_pairs, pair_failures
from scoring.policy import Policy
from scoring.pool import CandidatePool, PlaceTable
from scoring.score import score_pairs

__all__ = ["CandidatePlaces", "candidate_places"]


@dataclass(frozen=True, eq=False)
class CandidatePlaces:
    """A candidate against the places open now (in their period, a slot free).

    Attributes
    ----------
    open_places
        (o,) positions of the places open now, in place order.
    eligible
        (o,) bool: the pair passes every hard rule.
    scores
        (o,) the pair's score (also where not eligible: what it would score).
    failures
        Rule of :data:`scoring.eligibility.RULES` → (o,) bool, where the pair fails it.
    held_back
        Rule of :data:`scoring.eligibility.HELD_BACK_RULES` → (o,) bool, where it holds the pair back.
    """

    open_places: npt.NDArray[np.int64]
    eligible: npt.NDArray[np.bool_]
    scores: npt.NDArray[np.float64]
    failures: dict[str, npt.NDArray[np.bool_]]
    held_back: dict[str, npt.NDArray[np.bool_]]

    def failure_counts(self) -> dict[str, int]:
        """Open places failing each rule (a place failing several counts under each); rules that
        no open place fails are left out."""
        counts = {rule: int(np.count_nonzero(mask)) for rule, mask in self.failures.items()}
        return {rule: n for rule, n in counts.items() if n}

    def best_eligible(self) -> npt.NDArray[np.int64]:
        """Indices into :attr:`open_places` of the eligible places, best score first (ties: place order)."""
        found = np.flatnonzero(self.eligible)
        return found[np.argsort(-self.scores[found], kind="stable")]


def candidate_places(pool: CandidatePool, places: PlaceTable, cand: int, policy: Policy) -> CandidatePlaces:
    """Pool position ``cand`` against every place open on the pool's reference date.

    Parameters
    ----------
    pool, places
        From :func:`scoring.pool.build_pool`.
    cand
        The candidate's position (:meth:`scoring.pool.CandidatePool.position`).
    policy
        The rules and weights the pool was built with.
    """
    open_places = np.flatnonzero(places.states.is_open).astype(np.int64)
    cands = np.full(open_places.shape, int(cand), dtype=np.int64)
    failures = pair_failures(pool, places, cands, open_places, policy)
    failures = {rule: np.asarray(failures[rule], dtype=bool) for rule in RULES}
    eligible = np.ones(open_places.shape, dtype=bool)
    for mask in failures.values():
        eligible &= ~mask
    held = held_back_pairs(pool, places, cands, open_places, policy)
    scores, _terms = score_pairs(pool, places, cands, open_places, policy)
    return CandidatePlaces(open_places, eligible, np.asarray(scores, dtype=np.float64), failures,
                           {rule: np.asarray(held[rule], dtype=bool) for rule in HELD_BACK_RULES})
