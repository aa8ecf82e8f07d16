"""Baselines behind the same interface as the exact method, for comparison.

All three respect place slots, one place per candidate, pins and forbidden pairs. What they do with
the side rules differs and is stated in each result's ``constraints_ignored``; whatever they miss
is listed in ``violations``.

- ``greedy``: pairs by score, highest first (ties by edge index); keeps district upper bounds.
- ``serial_dictatorship``: candidates in a random order (``SolveParams.seed``) each take their
  most preferred place with room; keeps district upper bounds.
- ``deferred_acceptance``: candidate-proposing deferred acceptance (Gale–Shapley) with the
  candidates' preferences (``edge_preference``, default the score) and places ranking candidates by
  score; the result is stable and candidate-optimal. District bounds would break stability, so
  none are enforced.
"""

from __future__ import annotations

import heapq
import math
import time
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from matching._violations import find_violations
from matching.problem import SCORE_SCALE, AllocationProblem
from matching.result import AllocationResult, Status, unassigned_reasons

if TYPE_CHECKING:
    from matching.solve import SolveParams

__all__ = ["run_baseline"]


def run_baseline(problem: AllocationProblem, params: SolveParams) -> AllocationResult:
    """Run the baseline named by ``params.method``."""
    t0 = time.perf_counter()
    p = problem
    remaining = p.place_slots.astype(np.int64) - np.bincount(p.edge_place[p.pins],
                                                             minlength=p.num_places)
    taken = np.zeros(p.num_candidates, bool)
    taken[p.edge_candidate[p.pins]] = True
    dist_room = p.district_upper.astype(np.int64) - np.bincount(
        p.candidate_district[p.edge_candidate[p.pins]], minlength=p.num_districts)
    usable = ~p.forbidden
    usable[p.pins] = False
    if params.objective == "score":
        usable &= p.scaled_score > 0  # a pair that does not raise the score is not taken
    if params.method == "greedy":
        chosen = _greedy(p, usable, remaining, taken, dist_room)
        ignored: tuple[str, ...] = ("district_lower", "floors")
    elif params.method == "serial_dictatorship":
        chosen = _serial_dictatorship(p, usable, remaining, taken, dist_room, params.seed)
        ignored = ("district_lower", "floors")
    else:
        chosen = _deferred_acceptance(p, usable, remaining, taken)
        ignored = ("district_lower", "district_upper", "floors")
    chosen_edges = np.sort(np.concatenate([p.pins, np.asarray(chosen, np.int64)]))
    cp = np.full(p.num_candidates, -1, np.int32)
    cp[p.edge_candidate[chosen_edges]] = p.edge_place[chosen_edges]
    total = int(p.scaled_score[chosen_edges].sum()) / SCORE_SCALE
    violations = find_violations(p, chosen_edges)
    t_expl = time.perf_counter()
    reasons = unassigned_reasons(p, chosen_edges, cp)
    done = time.perf_counter()
    return AllocationResult(
        status=Status.HEURISTIC, method=params.method, objective=total, bound=math.nan,
        gap=math.nan, chosen_edges=chosen_edges, candidate_place=cp,
        num_assigned=int(chosen_edges.size), total_score=total, problem=p,
        unassigned_reason=reasons, violations=violations,
        constraints_ignored=ignored, timings={"explain": done - t_expl, "total": done - t0},
    )


def _greedy(p: AllocationProblem, usable: npt.NDArray[np.bool_], remaining: np.ndarray,
            taken: np.ndarray, dist_room: np.ndarray) -> list[int]:
    edges = np.flatnonzero(usable)
    order = edges[np.argsort(-p.scaled_score[edges], kind="stable")]
    cands = p.edge_candidate[order].tolist()
    places = p.edge_place[order].tolist()
    dists = p.candidate_district[p.edge_candidate[order]].tolist()
    rem = remaining.tolist()
    tk = taken.tolist()
    room = dist_room.tolist()
    chosen = []
    for e, c, q, d in zip(order.tolist(), cands, places, dists, strict=True):
        if tk[c] or rem[q] <= 0 or room[d] <= 0:
            continue
        tk[c] = True
        rem[q] -= 1
        room[d] -= 1
        chosen.append(e)
    return chosen


def _by_candidate(p: AllocationProblem, usable: npt.NDArray[np.bool_]) -> list[list[int]]:
    """Each candidate's usable edges, most preferred first (ties by edge index)."""
    edges = np.flatnonzero(usable)
    order = edges[np.lexsort((edges, -p.preference[edges], p.edge_candidate[edges]))]
    lists: list[list[int]] = [[] for _ in range(p.num_candidates)]
    for e, c in zip(order.tolist(), p.edge_candidate[order].tolist(), strict=True):
        lists[c].append(e)
    return lists


def _serial_dictatorship(p: AllocationProblem, usable: npt.NDArray[np.bool_],
                         remaining: np.ndarray, taken: np.ndarray, dist_room: np.ndarray,
                         seed: int) -> list[int]:
    prefs = _by_candidate(p, usable)
    rng = np.random.default_rng(seed)
    rem = remaining.tolist()
    room = dist_room.tolist()
    place_of = p.edge_place.tolist()
    chosen = []
    for c in rng.permutation(p.num_candidates).tolist():
        d = int(p.candidate_district[c])
        if taken[c] or room[d] <= 0:
            continue
        for e in prefs[c]:
            q = place_of[e]
            if rem[q] > 0:
                rem[q] -= 1
                room[d] -= 1
                chosen.append(e)
                break
    return chosen


def _deferred_acceptance(p: AllocationProblem, usable: npt.NDArray[np.bool_],
                         remaining: np.ndarray, taken: np.ndarray) -> list[int]:
    prefs = _by_candidate(p, usable)
    score = p.scaled_score.tolist()
    place_of = p.edge_place.tolist()
    cand_of = p.edge_candidate.tolist()
    # Each place holds its tentatively accepted pairs in a min-heap on (score, -candidate):
    # the weakest (lowest score, then highest index) is rejected first.
    held: list[list[tuple[int, int, int]]] = [[] for _ in range(p.num_places)]
    cap = remaining.tolist()
    nxt = [0] * p.num_candidates
    free = [c for c in range(p.num_candidates) if not taken[c] and prefs[c]]
    free.reverse()
    while free:
        c = free.pop()
        if nxt[c] >= len(prefs[c]):
            continue
        e = prefs[c][nxt[c]]
        nxt[c] += 1
        q = place_of[e]
        if cap[q] <= 0:
            free.append(c)
            continue
        heapq.heappush(held[q], (score[e], -c, e))
        if len(held[q]) > cap[q]:
            _, _, out = heapq.heappop(held[q])
            free.append(cand_of[out])
    return [e for h in held for _, _, e in h]
