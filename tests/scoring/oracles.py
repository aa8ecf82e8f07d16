"""Oracles shared by the tests and the benchmarks (written once: a copy in ``benchmarks/`` drifted).

:func:`edges_place_by_place` is the round's edge generation as it was first written (one place at a
time: every hard rule over the whole pool, then the scores of the eligible, ``argpartition`` for the
place's best): the specification ``scoring.allocation``'s fast path reproduces pair for pair
(``tests/scoring/test_allocation_edges.py``), and the baseline of ``benchmarks/bench_round_build.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.allocation import RoundParams
from scoring.eligibility import place_eligibility
from scoring.policy import Policy
from scoring.pool import CandidatePool, PlaceTable
from scoring.score import score_pairs

__all__ = ["Edges", "edges_place_by_place"]

Edges = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], dict[str, Any]]


def edges_place_by_place(
    pool: CandidatePool, places: PlaceTable, policy: Policy, params: RoundParams, *,
    keep_eligible: bool = True,
) -> Edges:
    """The oracle: each place against the whole pool, its best by ``argpartition``, then per candidate.

    ``graph["_eligible"]`` holds every place's eligible candidates with their scores, for the tests
    that check what pruning left out; ``keep_eligible=False`` leaves it empty (the benchmark's
    baseline, whose peak memory is measured).
    """
    cand_parts, place_parts, score_parts = [], [], []
    num_eligible = slot_bound = 0
    all_eligible: list[tuple[npt.NDArray[np.int64], int, npt.NDArray[np.float64]]] = []
    for p in range(places.size):
        elig = place_eligibility(pool, places, p, policy)
        mask = elig.eligible
        if not params.include_held_back:
            for held in elig.held_back.values():
                mask = mask & ~held
        idx = np.flatnonzero(mask)
        num_eligible += len(idx)
        if len(idx) == 0:
            continue
        slot_bound += min(len(idx), int(places.free_slots[p]))
        # A round hands out a place's free slots only (scoring.capacity): it keeps per_slot per free slot.
        keep = max(params.min_per_place, params.per_slot * int(places.free_slots[p]))
        total, _ = score_pairs(pool, places, idx, p, policy)
        if keep_eligible:
            all_eligible.append((idx, p, total))
        if params.prune and len(idx) > keep:
            top = np.argpartition(-total, keep - 1)[:keep]
            idx, total = idx[top], total[top]
        cand_parts.append(idx.astype(np.int64))
        place_parts.append(np.full(len(idx), p, dtype=np.int64))
        score_parts.append(total)
    if not cand_parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, {"num_eligible": 0, "pruned": False}
    cand, plc, score = np.concatenate(cand_parts), np.concatenate(place_parts), np.concatenate(score_parts)
    kept_after_places = len(cand)
    if params.prune and params.per_candidate > 0:
        order = np.lexsort((-score, cand))
        cand, plc = cand[order], plc[order]
        starts = np.r_[0, np.flatnonzero(np.diff(cand)) + 1]
        rank = np.arange(len(cand)) - np.repeat(starts, np.diff(np.r_[starts, len(cand)]))
        cand, plc = cand[rank < params.per_candidate], plc[rank < params.per_candidate]
    graph = {
        "num_eligible": int(num_eligible), "pruned": bool(params.prune), "per_slot": params.per_slot,
        "min_per_place": params.min_per_place, "per_candidate": params.per_candidate,
        "kept_after_place_pruning": int(kept_after_places), "slot_bound": slot_bound,
        "_eligible": all_eligible,
    }
    return cand, plc, graph
