"""Engines for the service tests, plugged in with ``PLATSA_ENGINE``.

:class:`SlowEngine` keeps the core's shortlists but runs rounds with a transparent greedy rule and a
deliberate pause per place, so that a test can watch progress and kill the server mid-round. The
rule (pins first, then each place in id order takes free candidates in id order, never a removed
pair) makes the expected result easy to state. Every candidate left over is unassigned, ``outscored``:
each place was full when the rule reached them, or their pair with it was removed.
"""

from __future__ import annotations

import os
import time
from typing import Any

from scoring.policy import Policy
from scoring.region import Region
from service.engine import Assignment, CoreEngine, Progress, RoundInputs, RoundOutcome, UnassignedCandidate


class SlowEngine(CoreEngine):
    def run_round(self, region: Region, prepared: Any, policy: Policy, inputs: RoundInputs,
                  progress: Progress) -> RoundOutcome:
        pause = float(os.environ.get("PLATSA_TEST_ROUND_PAUSE", "0.05"))
        candidates = sorted(region.candidates.get_column("candidate_id").to_list())
        places = region.places.sort("place_id").select("place_id", "slots").rows()
        removed = set(inputs.removals)
        taken: dict[str, str] = {c: p for c, p in inputs.pins}
        used = {p: sum(1 for q in taken.values() if q == p) for p, _ in places}
        for i, (place, slots) in enumerate(places):
            progress(i / len(places), "assigning")
            time.sleep(pause)
            for cand in candidates:
                if used[place] >= slots:
                    break
                if cand not in taken and (cand, place) not in removed:
                    taken[cand] = place
                    used[place] += 1
        assignments = tuple(
            Assignment(c, p, 1.0, {"rule": "greedy by id"}, (c, p) in set(inputs.pins))
            for c, p in sorted(taken.items()))
        holders = {p: ", ".join(c for c, q in sorted(taken.items()) if q == p) for p, _ in places}
        unassigned = tuple(
            UnassignedCandidate(c, "outscored", "outscored at every place (greedy by id): " + "; ".join(
                f"{p} went to {holders[p]}" if used[p] >= slots else f"{p}: the pair was removed"
                for p, slots in places))
            for c in candidates if c not in taken)
        summary = {"districts": [], "groups": [], "num_assigned": len(assignments),
                   "unassigned": len(unassigned), "unassigned_by_reason": {"outscored": len(unassigned)}
                   if unassigned else {}}
        return RoundOutcome(assignments, "greedy", float(len(assignments)), 0.0, summary, unassigned)
