"""The supplier's view of a candidate: one allowlist, coarsened and k-anonymous over the region.

Every answer that shows a supplier a proposed person goes through :func:`supplier_profile` (the
integration API's proposals and ``GET /v1/proposals`` for a supplier key alike). The profiles are
computed by :mod:`scoring.privacy` from the snapshot's candidates and the region's policy
(``[privacy]``), once per snapshot, in the background as soon as the snapshot is in place (a request
that comes first waits for them): an import or a change of a candidate makes a new snapshot, and
with it new profiles, since the k counts the region as it is.

A candidate the snapshot does not hold yet (added by another process a moment ago) is looked for
in a fresh snapshot; if still unknown, the profile is withheld whole rather than computed alone (a
profile computed for one person is unique by definition).
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING, Any

import polars as pl

from scoring.domain import WorkLadderStep
from scoring.policy import Privacy
from scoring.privacy import PROFILE_FIELDS, WITHHELD, Profile, coarsen, generalise

if TYPE_CHECKING:
    from service.state import ServiceState, Snapshot

__all__ = ["SupplierProfiles", "supplier_profile", "wire_profile"]


class SupplierProfiles:
    """The generalised profile of each of one snapshot's candidates, computed on first use.

    Most new snapshots change no profile field (a proposal answered, a placement recorded): the
    profiles of the last snapshot are reused while the candidates' profile fields, their ids and
    the policy's ``[privacy]`` are the same (:func:`_fingerprint`).
    """

    #: The last profiles computed in this process, by fingerprint (one entry).
    _last: tuple[tuple[Any, ...], dict[str, Profile]] | None = None
    _last_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Profile] | None = None

    def warm(self, snapshot: Snapshot) -> threading.Thread:
        """Compute the profiles now, on a thread of their own, so that no supplier's request waits;
        the thread is returned for its owner to wait for (:meth:`service.state.ServiceState.close`)."""
        thread = threading.Thread(target=self.get, args=(snapshot, ""), name="platsa-supplier-profiles",
                                  daemon=True)
        thread.start()
        return thread

    def get(self, snapshot: Snapshot, candidate_id: str) -> Profile | None:
        if self._by_id is None:
            with self._lock:
                if self._by_id is None:
                    self._by_id = self._compute(snapshot)
        return self._by_id.get(candidate_id)

    @classmethod
    def _compute(cls, snapshot: Snapshot) -> dict[str, Profile]:
        cands = snapshot.region.candidates
        privacy = snapshot.policy.privacy
        key = _fingerprint(cands, privacy)
        with cls._last_lock:
            last = cls._last
            if last is not None and last[0] == key:
                return last[1]
            shown = generalise(coarsen(cands, privacy), privacy)
            by_id = dict(zip(cands.get_column("candidate_id").to_list(), shown, strict=True))
            cls._last = (key, by_id)
            return by_id


def _fingerprint(cands: pl.DataFrame, privacy: Privacy) -> tuple[Any, ...]:
    """What the profiles depend on: every candidate's id and profile fields, and the policy's rules."""
    rows = cands.select("candidate_id", *PROFILE_FIELDS).hash_rows(seed=0)
    return (cands.height, hashlib.sha256(rows.to_numpy().tobytes()).hexdigest(), privacy.model_dump_json())


def wire_profile(profile: Profile) -> dict[str, Any]:
    """A profile as :class:`service.integration.models.CandidateProfile` answers it."""
    step = profile.work_ladder_step
    ladder = None if step is None else {"step": step, "description": WorkLadderStep(step).describe()}
    return {
        "competences": list(profile.competences),
        "work_ladder": ladder,
        "support_at_work": None if profile.support_at_work is None else list(profile.support_at_work),
        "available_from": profile.available_from,
        "wished_hours_per_week": profile.wished_hours,
        "wished_placement_types": (None if profile.wished_placement_types is None
                                   else list(profile.wished_placement_types)),
        "generalised": dict(profile.generalised),
    }


def supplier_profile(state: ServiceState, candidate_id: str) -> dict[str, Any]:
    """What a supplier may see of ``candidate_id`` (wire form)."""
    snapshot = state.snapshot
    found = None if snapshot is None else snapshot.supplier_profiles.get(snapshot, candidate_id)
    if found is None:  # a candidate added since the snapshot was read: read it again, once
        snapshot = state.fresh_snapshot()
        found = None if snapshot is None else snapshot.supplier_profiles.get(snapshot, candidate_id)
    return wire_profile(WITHHELD if found is None else found)
