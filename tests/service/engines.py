"""Engines for the service tests, plugged in with ``PLATSA_ENGINE``.

:class:`SlowEngine` keeps the core's shortlists but runs rounds with a transparent greedy rule and a
deliberate pause per place, so that a test can watch progress and kill the server mid-round. The
rule (pins first, then each place in id order takes, up to its free slots, the candidates in id order
who are not taken, not a removed pair, pass every hard rule and are not held back, as the core's
rounds leave them out unless asked) makes the expected result easy to state; like every round it
hands out only what is free today (scoring.capacity). Every candidate left over is unassigned:
``no_eligible_place`` where no place would take them, else ``outscored``, with each place in words.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from scoring.eligibility import eligible_pairs, held_back_pairs
from scoring.policy import Policy
from scoring.region import Region
from service.engine import Assignment, CoreEngine, Progress, RoundInputs, RoundOutcome, UnassignedCandidate


class SlowEngine(CoreEngine):
    def run_round(self, region: Region, prepared: Any, policy: Policy, inputs: RoundInputs,
                  progress: Progress, *, should_stop: Callable[[], bool] | None = None) -> RoundOutcome:
        pause = float(os.environ.get("PLATSA_TEST_ROUND_PAUSE", "0.05"))
        candidates = sorted(region.candidates.get_column("candidate_id").to_list())
        pool, table = prepared.pool, prepared.places
        places = sorted((str(p), int(table.free_slots[i])) for i, p in enumerate(table.ids))
        removed = set(inputs.removals)
        taken: dict[str, str] = {c: p for c, p in inputs.pins}
        used = {p: sum(1 for q in taken.values() if q == p) for p, _ in places}
        fitting: dict[str, set[str]] = {}
        for i, (place, slots) in enumerate(places):
            if should_stop is not None and should_stop():
                return RoundOutcome((), "cancelled", None, None, {})  # the job stores none of it
            progress(i / len(places), "assigning")
            time.sleep(pause)
            everyone = np.arange(pool.size)
            fits = eligible_pairs(pool, table, everyone, table.index[place], policy)
            if not inputs.params.get("include_held_back", False):
                for held in held_back_pairs(pool, table, everyone, table.index[place], policy).values():
                    fits &= ~held
            fitting[place] = {c for c in candidates if fits[pool.index[c]] and (c, place) not in removed}
            for cand in candidates:
                if used[place] >= slots:
                    break
                if cand not in taken and cand in fitting[place]:
                    taken[cand] = place
                    used[place] += 1
        assignments = tuple(
            Assignment(c, p, 1.0, {"rule": "greedy by id"}, (c, p) in set(inputs.pins))
            for c, p in sorted(taken.items()))
        holders = {p: ", ".join(c for c, q in sorted(taken.items()) if q == p) for p, _ in places}
        unassigned = tuple(
            UnassignedCandidate(c, "outscored", "outscored at every place in reach (greedy by id): " + "; ".join(
                f"{p} went to {holders[p]}" for p, _ in places if c in fitting[p]))
            if any(c in fitting[p] for p, _ in places) else
            UnassignedCandidate(c, "no_eligible_place", "no eligible place within reach in this round")
            for c in candidates if c not in taken)
        by_reason: dict[str, int] = {}
        for u in unassigned:
            by_reason[u.reason] = by_reason.get(u.reason, 0) + 1
        summary = {"districts": [], "groups": [], "num_assigned": len(assignments),
                   "unassigned": len(unassigned), "unassigned_by_reason": by_reason}
        return RoundOutcome(assignments, "greedy", float(len(assignments)), 0.0, summary, unassigned)
