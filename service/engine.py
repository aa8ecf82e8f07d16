"""The service's one door into the core: shortlists and allocation rounds.

Routes and the job runner talk to an :class:`Engine`; :class:`CoreEngine` implements it with
:mod:`scoring` (``build_pool``, ``shortlist``, ``explain_candidate``) and the allocation round glue
(``scoring.allocation.run_round``), imported as any other module is, so that the type checker, the
import linter and a reader follow the path. ``PLATSA_ENGINE`` names another implementation
(``module:attribute``), which the tests use to make a round slow enough to kill mid-way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from scoring.allocation import RoundParams
from scoring.allocation import run_round as run_allocation_round
from scoring.candidate_places import candidate_places
from scoring.eligibility import RuleOverride
from scoring.exceptions import UnknownEntityError
from scoring.policy import Policy
from scoring.pool import build_pool, policy_groups_key
from scoring.region import Region
from scoring.score import OUTCOME_TERM, score_pairs
from scoring.shortlist import explain_candidate
from scoring.shortlist import shortlist as fair_shortlist

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
"""``progress(fraction_done, message)``: a round reports how far it is."""


class EngineUnavailable(RuntimeError):
    """The core function behind an operation is not part of this build."""


@dataclass(frozen=True)
class RoundInputs:
    """Everything a round needs besides the region: stored with the job, so a restart can re-run it."""

    policy_id: str
    params: Mapping[str, Any] = field(default_factory=dict)
    pins: tuple[tuple[str, str], ...] = ()
    """(candidate_id, place_id) pairs that must be in the result."""
    removals: tuple[tuple[str, str], ...] = ()
    """(candidate_id, place_id) pairs that must not be."""
    overrides: tuple[RuleOverride, ...] = ()
    """A coordinator's overrides of hard rules for pins, each with its reason."""


@dataclass(frozen=True)
class Assignment:
    candidate_id: str
    place_id: str
    score: float
    explanation: dict[str, Any]
    pinned: bool = False


@dataclass(frozen=True)
class UnassignedCandidate:
    """A candidate with a pair in the round who got no place, and why."""

    candidate_id: str
    reason: str
    """A code: ``outscored``, ``district_upper_bound_reached``, ``rules_or_objective``,
    ``no_eligible_place`` (``docs/rounds.md``)."""
    explanation: str
    """The reason in words, with place and candidate ids."""


@dataclass(frozen=True)
class RoundOutcome:
    """A finished round as the service stores it."""

    assignments: tuple[Assignment, ...]
    solver_status: str
    objective: float | None
    gap: float | None
    summary: dict[str, Any]
    """Counts: per district, per group, unassigned by reason (``unassigned``: how many)."""
    unassigned: tuple[UnassignedCandidate, ...] = ()
    """Each candidate with a pair in the round's graph who got no place (``summary`` counts them)."""
    certificate: dict[str, Any] | None = None
    """The prices that prove the round's bound, by id (:func:`scoring.allocation.certificate_record`),
    stored with the round for ``platsa verify-round``; None where there are none."""


@dataclass(frozen=True)
class PreparedPool:
    """What :class:`CoreEngine` prepares once per snapshot: the pool, the places, district masks."""

    pool: Any
    """:class:`scoring.pool.CandidatePool`."""
    places: Any
    """:class:`scoring.pool.PlaceTable`."""
    district_masks: Mapping[str, npt.NDArray[np.bool_]]
    """District id → (n,) bool: the candidates living there (a labour-market unit's shortlists)."""


class Engine(Protocol):
    """What the service needs from the core."""

    def prepare(self, region: Region, policy: Policy) -> Any:
        """Build whatever in-memory form queries need (the candidate pool); run once per import."""

    def serves(self, prepared: Any, policy: Policy) -> bool:
        """Whether ``prepared`` answers queries under ``policy``; if not, :meth:`prepare` one for it."""

    def shortlist(self, prepared: Any, policy: Policy, place_id: str, *, k: int,
                  district_id: str | None, fair: bool = True,
                  include_held_back: bool = False) -> dict[str, Any]:
        """A ranked shortlist for one place; only ``district_id``'s candidates when it is given."""

    def explain(self, prepared: Any, policy: Policy, place_id: str, candidate_id: str, *, k: int,
                district_id: str | None, fair: bool = True,
                include_held_back: bool = False) -> dict[str, Any]:
        """Why one candidate is, or is not, on the list :meth:`shortlist` gives with these arguments.

        A candidate outside ``district_id`` is unknown here, exactly as one that does not exist
        (``scoring.exceptions.UnknownEntityError``).
        """

    def candidate_places(self, prepared: Any, policy: Policy, candidate_id: str) -> dict[str, Any]:
        """One candidate against every place open now: ``open`` (how many), ``eligible`` (place id,
        score, held-back rules; best first) and ``failure_counts`` (rule → open places failing it).
        An unknown candidate raises ``scoring.exceptions.UnknownEntityError``."""

    def run_round(self, region: Region, prepared: Any, policy: Policy, inputs: RoundInputs,
                  progress: Progress, *, should_stop: Callable[[], bool] | None = None) -> RoundOutcome:
        """Run an allocation round; stop early (a cancellation) once ``should_stop()`` is true."""


def load_engine(spec: str) -> Engine:
    """The engine named ``module:attribute`` (a class or a factory taking no arguments)."""
    module_name, _, attr = spec.partition(":")
    factory = getattr(import_module(module_name), attr or "CoreEngine")
    engine: Engine = factory()
    return engine


class CoreEngine:
    """The engine backed by :mod:`scoring` and :mod:`matching`."""

    def prepare(self, region: Region, policy: Policy) -> Any:
        pool, places = build_pool(region, policy)
        masks = {d: pool.district == i for i, d in enumerate(pool.district_ids)}
        return PreparedPool(pool, places, masks)

    def serves(self, prepared: Any, policy: Policy) -> bool:
        return bool(policy_groups_key(policy) == prepared.pool.policy_key)

    def shortlist(self, prepared: Any, policy: Policy, place_id: str, *, k: int,
                  district_id: str | None, fair: bool = True,
                  include_held_back: bool = False) -> dict[str, Any]:
        # A labour-market unit sees only its district's candidates: exactly their top k, re-ranked
        # fairly among themselves. A district the region does not have has no candidates.
        mask = None if district_id is None else self._mask(prepared, district_id)
        out: dict[str, Any] = fair_shortlist(
            prepared.pool, prepared.places, place_id, k=k, policy=policy, fair=fair,
            include_held_back=include_held_back, candidate_mask=mask).to_dict()
        if district_id is not None:
            out["district_id"] = district_id
        return out

    def explain(self, prepared: Any, policy: Policy, place_id: str, candidate_id: str, *, k: int,
                district_id: str | None, fair: bool = True,
                include_held_back: bool = False) -> dict[str, Any]:
        mask = None if district_id is None else self._mask(prepared, district_id)
        position = prepared.pool.position(candidate_id)  # UnknownEntityError for an unknown id
        if mask is not None and not mask[position]:
            # Another district's candidate is unknown to this unit, as one that does not exist.
            raise UnknownEntityError("candidate", candidate_id)
        out: dict[str, Any] = explain_candidate(
            prepared.pool, prepared.places, candidate_id, place_id, policy=policy, k=k, fair=fair,
            include_held_back=include_held_back, candidate_mask=mask).to_dict()
        if district_id is not None:
            out["district_id"] = district_id
        return out

    def candidate_places(self, prepared: Any, policy: Policy, candidate_id: str) -> dict[str, Any]:
        pool, places = prepared.pool, prepared.places
        found = candidate_places(pool, places, pool.position(candidate_id), policy)
        ids = [str(places.ids[p]) for p in found.open_places.tolist()]
        return {
            "open": len(ids),
            "eligible": [{"place_id": ids[i], "score": float(found.scores[i]),
                          "held_back": [rule for rule, mask in found.held_back.items() if mask[i]]}
                         for i in found.best_eligible().tolist()],
            "failure_counts": found.failure_counts(),
        }

    @staticmethod
    def _mask(prepared: PreparedPool, district_id: str) -> npt.NDArray[np.bool_]:
        """The district's candidates; none for a district the region does not have."""
        mask = prepared.district_masks.get(district_id)
        return mask if mask is not None else np.zeros(prepared.pool.size, dtype=bool)

    def run_round(self, region: Region, prepared: Any, policy: Policy, inputs: RoundInputs,
                  progress: Progress, *, should_stop: Callable[[], bool] | None = None) -> RoundOutcome:
        # The policy may differ from the one the pool was built with: rebuild so that its groups
        # and thresholds are the round's.
        if policy.id != region.manifest.policy:
            progress(0.0, "building the pool")
            prepared = self.prepare(region, policy)
            progress(1.0, "building the pool")
        pool, places = prepared.pool, prepared.places
        known = set(RoundParams.__dataclass_fields__)
        params = RoundParams(
            **{k: v for k, v in inputs.params.items() if k in known},
            pins=tuple(inputs.pins), forbidden=tuple(inputs.removals), overrides=tuple(inputs.overrides),
        )
        result = run_allocation_round(pool, places, policy, params,
                                  progress=lambda stage, fraction: progress(fraction, stage),
                                  should_stop=should_stop)
        return outcome_from_result(result, pinned=set(inputs.pins),
                                   outcome_weight=policy.outcome_model.weight)


def pair_scores(prepared: Any, policy: Policy, pairs: Sequence[tuple[str, str]]
                ) -> dict[tuple[str, str], tuple[float, float | None]]:
    """The (score, outcome probability) of (candidate id, place id) pairs under ``policy``, as a
    shortlist scores them (:func:`scoring.score.score_pairs`): what a proposal made by hand records.

    The probability is None where the policy does not weigh the learnt model. A pair whose
    candidate or place the prepared snapshot does not hold yet (created since) is left out, as is
    every pair where ``prepared`` is another engine's.
    """
    if not isinstance(prepared, PreparedPool):
        return {}
    pool, places = prepared.pool, prepared.places
    known = [(c, p) for c, p in pairs if c in pool.index and p in places.index]
    if not known:
        return {}
    cand = pool.positions([c for c, _ in known])
    plc = np.fromiter((places.index[p] for _, p in known), dtype=np.int64, count=len(known))
    total, terms = score_pairs(pool, places, cand, plc, policy)
    probability = terms.get(OUTCOME_TERM)
    return {pair: (float(total[i]), None if probability is None else float(probability[i]))
            for i, pair in enumerate(known)}


def _number(value: Any) -> float | None:
    return None if value is None or value != value else float(value)  # NaN -> None


def outcome_from_result(result: Any, *, pinned: set[tuple[str, str]], outcome_weight: float = 0.0
                        ) -> RoundOutcome:
    """Turn ``scoring.allocation.RoundResult`` into what the service stores.

    ``outcome_weight``: the round's policy's ``outcome_model.weight``; above 0, each assignment's
    explanation also keeps ``outcome_probability`` (its ``outcome`` points / the weight), which
    publishing the round stores on the proposal."""
    overrides = {(o["candidate_id"], o["place_id"]): o for o in getattr(result, "overrides", ())}
    assignments = []
    for row in result.assignments.to_dicts():
        terms = {k.removeprefix("term_"): v for k, v in row.items() if k.startswith("term_")}
        pair = (row["candidate_id"], row["place_id"])
        explanation = {"terms": terms, "supplier_id": row.get("supplier_id"),
                       "home_district": row.get("home_district")}
        if outcome_weight > 0 and OUTCOME_TERM in terms:
            explanation["outcome_probability"] = float(terms[OUTCOME_TERM]) / outcome_weight
        if pair in overrides:
            explanation["override"] = {"reason": overrides[pair]["reason"], "rules": overrides[pair]["rules"]}
        assignments.append(Assignment(row["candidate_id"], row["place_id"], float(row["score"]),
                                      explanation, bool(row.get("pinned", False)) or pair in pinned))
    summary = {
        "method": result.method,
        "num_assigned": result.num_assigned,
        "total_score": _number(result.total_score),
        "bound": _number(result.bound),
        "districts": result.districts.to_dicts(),
        "groups": result.groups.to_dicts(),
        "infeasibility": list(result.infeasibility),
        "violations": list(result.violations),
        "constraints_ignored": list(result.constraints_ignored),
        "overrides": [dict(o) for o in overrides.values()],
        "certification": dict(getattr(result, "certification", {}) or {}),
        "unassigned": result.unassigned.height,
        "unassigned_by_reason": (
            {str(r["reason"]): int(r["len"]) for r in
             result.unassigned.group_by("reason").len().to_dicts()}
            if result.unassigned.height else {}
        ),
    }
    unassigned = tuple(UnassignedCandidate(str(r["candidate_id"]), str(r["reason"]), str(r["explanation"]))
                       for r in result.unassigned.to_dicts())
    record = getattr(result, "certificate_record", None)
    return RoundOutcome(tuple(assignments), str(result.status), _number(result.objective),
                        _number(result.gap), summary, unassigned,
                        certificate=record() if callable(record) else None)
