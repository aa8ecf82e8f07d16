"""The supplier's view of a candidate: one allowlist, coarsened and k-anonymous over the region.

Every answer that shows a supplier a proposed person goes through :func:`supplier_profile` (the
integration API's proposals and ``GET /v1/proposals`` for a supplier key alike). The profiles are
computed by :mod:`scoring.privacy` from the snapshot's candidates and the region's policy
(``[privacy]``), once per snapshot: an import or a change of a candidate makes a new snapshot, and
with it new profiles, since the k counts the region as it is.

A candidate the snapshot does not hold yet (added by another process a moment ago) is looked for
in a fresh snapshot; if still unknown, the profile is withheld whole rather than computed alone (a
profile computed for one person is unique by definition).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from scoring.domain import WorkLadderStep
from scoring.privacy import WITHHELD, Profile, coarsen, generalise

if TYPE_CHECKING:
    from service.state import ServiceState, Snapshot

__all__ = ["SupplierProfiles", "supplier_profile", "wire_profile"]


class SupplierProfiles:
    """The generalised profile of each of one snapshot's candidates, computed on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Profile] | None = None

    def get(self, snapshot: Snapshot, candidate_id: str) -> Profile | None:
        if self._by_id is None:
            with self._lock:
                if self._by_id is None:
                    cands = snapshot.region.candidates
                    privacy = snapshot.policy.privacy
                    shown = generalise(coarsen(cands, privacy), privacy)
                    self._by_id = dict(zip(cands.get_column("candidate_id").to_list(), shown, strict=True))
        return self._by_id.get(candidate_id)


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
    for snapshot in (state.snapshot, state.fresh_snapshot()):
        if snapshot is not None:
            found = snapshot.supplier_profiles.get(snapshot, candidate_id)
            if found is not None:
                return wire_profile(found)
    return wire_profile(WITHHELD)
