"""The most candidates a round can place: one max flow, written once.

The keys' planned total (DOMAIN.md), the diagnosis of a district that cannot reach its lower
bound, and the exact method's range of numbers placed all ask the same question: how many
candidates can the pairs place at most, under the places' slots and the districts' upper bounds,
with every pinned pair placed? The floors and the keys' lower bounds do not limit it, and scores
play no part.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from ortools.graph.python import max_flow

from matching import _network as net
from matching.exceptions import SolverError
from matching.problem import AllocationProblem


def max_placeable(problem: AllocationProblem, pairs: npt.ArrayLike | None = None) -> int:
    """The most candidates the round's pairs (or the subset ``pairs``) can place.

    Every pinned pair is placed and takes its slot (its candidate's other pairs are not usable);
    forbidden pairs are not usable; each place takes at most its slots and each district at most
    its upper bound (pins counted against it). Lower bounds and floors do not limit the number.

    Parameters
    ----------
    problem
        The round.
    pairs
        A boolean mask over the round's pairs, or their indices: only these may be used (the
        pins among them are counted; pins outside it still take their slots). ``None``: all.

    Returns
    -------
    int
        The most candidates placed (pinned ones among ``pairs`` included).

    Examples
    --------
    >>> from matching import build_problem
    >>> p = build_problem(num_candidates=3, num_places=2, edge_candidate=[0, 1, 2, 2],
    ...                   edge_place=[0, 0, 0, 1], edge_score=[1.0, 1.0, 1.0, 1.0],
    ...                   place_slots=[1, 1])
    >>> max_placeable(p), max_placeable(p, [True, True, False, False])
    (2, 1)
    """
    p = problem
    subset = np.ones(p.num_edges, bool)
    if pairs is not None:
        chosen = np.asarray(pairs)
        subset = chosen if chosen.dtype == bool else np.isin(np.arange(p.num_edges), chosen)
    pins = p.pins
    pinned, slots = p.pinned.candidates, p.pinned.free_slots
    room = p.district_upper.astype(np.int64) - p.pinned.per_district
    usable = subset & ~p.forbidden & ~pinned[p.edge_candidate] & (slots[p.edge_place] > 0) \
        & (room[p.candidate_district[p.edge_candidate]] > 0)
    counted_pins = int(subset[pins].sum())
    cand = p.edge_candidate[usable].astype(np.int64)
    if cand.size == 0:
        return counted_pins
    place = p.edge_place[usable].astype(np.int64)
    lay = net.Layout(p.num_candidates, p.num_places, p.num_districts)
    cands = np.unique(cand)
    d = np.arange(p.num_districts)
    tails = np.concatenate([np.full(d.size, net.SOURCE), lay.district0 + p.candidate_district[cands],
                            lay.candidate0 + cand, lay.place0 + np.arange(p.num_places)])
    heads = np.concatenate([lay.district0 + d, lay.candidate0 + cands, lay.place0 + place,
                            np.full(p.num_places, net.SINK)])
    caps = np.concatenate([np.maximum(room, 0), np.ones(cands.size + cand.size, np.int64),
                           np.maximum(slots, 0)])
    mf = max_flow.SimpleMaxFlow()
    mf.add_arcs_with_capacity(tails.astype(np.int32), heads.astype(np.int32), caps.astype(np.int64))
    if mf.solve(net.SOURCE, net.SINK) != mf.OPTIMAL:
        raise SolverError("OR-Tools max flow failed on the round's network")
    return int(mf.optimal_flow()) + counted_pins
