"""A solve warm-started from an earlier solve of the same round on other pairs.

A region's round is solved on a pruned graph; pricing then adds the eligible pairs that could pay
and the round is solved again (docs/allocation.md, section 11). The re-solve is the same round's
rules on a larger set of pairs, so the earlier solve already holds most of what the new one
looks for:

- its **floor prices** (the certificate's ``lambda_g``) are near the new Lagrangian optimum: a few
  pairs more move the per-person floor prices little. They replace the warm-start LP (or the
  sampled sub-round) of :func:`matching._exact.bound._warm_start`, with a smaller first trust
  region;
- its **dual prices** give every pair of the new round a reduced cost; the pairs near tight at
  them (and the pairs pricing added, which pay at them) are the first core, in place of the core
  near tight at zero floor prices;
- its **assignment** is an assignment of the new round (the pairs it uses are still there, under
  the same rules): the first incumbent, once checked against every rule of the new round.

Each is only a starting point: any floor prices give a valid bound, the pricing loop adds every
pair the core lacks, and the incumbent is re-checked exactly; the new solve proves its result as
a cold one would. Anything that does not fit (another round's shape, other floors) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from matching._exact.oracle import initial_core
from matching._exact.params import ExactParams
from matching._exact.prepare import Prepared
from matching._exact.repair import primal_value
from matching._exact.types import I64, BoolArray
from matching.certificate import Certificate
from matching.problem import SCORE_SCALE

if TYPE_CHECKING:
    from matching.result import AllocationResult


@dataclass(frozen=True)
class WarmStart:
    """What an earlier solve gives the next one, in the new round's terms."""

    mu: I64  # floor prices per active group, c-units of the new round's scale
    core: I64  # first core: active pair positions
    incumbent: BoolArray | None  # the earlier assignment on the new round's active pairs


def from_result(prep: Prepared, previous: AllocationResult, params: ExactParams
                ) -> WarmStart | None:
    """The warm start the earlier result ``previous`` gives ``prep``'s round, or ``None``.

    ``previous`` must be a solve of a round with the same candidates, places, districts and
    floors (its pairs may differ); otherwise, or without a certificate, there is no warm start.
    """
    cert = previous.certificate
    old, new = previous.problem, prep.problem
    if not isinstance(cert, Certificate) or prep.penalty_w is not None or cert.penalty is not None:
        return None
    if (old.num_candidates, old.num_places, old.num_districts, old.num_groups) != (
            new.num_candidates, new.num_places, new.num_districts, new.num_groups):
        return None
    if any(cert.floor_pq[g] != prep.pq[i] and cert.floor_price_c[g] != 0
           for i, g in enumerate(prep.groups)):
        return None
    k_new = prep.scale_k * SCORE_SCALE
    k_old = cert.units_per_score
    groups = list(prep.groups)
    mu = np.asarray(cert.floor_price_c, np.int64)[groups] * k_new // k_old

    # Reduced costs of the new round's active pairs at the earlier prices (c-units of the old
    # scale): <= 0 on the earlier pairs (dual feasible), > 0 where a pair added by pricing pays.
    e = prep.edges
    rc, blocked = cert.lp_reduced_cost_c(new.edge_candidate[e], new.edge_place[e],
                                         new.edge_score[e], new.edge_groups[e],
                                         new.candidate_district)
    window = params.core_window * k_old
    near = ~blocked & (rc >= -window)
    x = _mapped_assignment(prep, previous)
    if x is not None:  # the core holds an assignment meeting the keys: no flow can be infeasible
        core = np.flatnonzero(near | x).astype(np.int64)
    else:
        core = np.union1d(np.flatnonzero(near), initial_core(prep, params)).astype(np.int64)
    return WarmStart(mu, core, x)


def _mapped_assignment(prep: Prepared, previous: AllocationResult) -> BoolArray | None:
    """The earlier result's free pairs as a mask of ``prep``'s active pairs, if every one is there
    and the whole meets every rule of the new round; else ``None``."""
    old, new = previous.problem, prep.problem
    chosen = np.asarray(previous.chosen_edges, np.int64)
    free = chosen[~np.isin(chosen, old.pins)]
    if chosen.size == 0:
        return None
    width = np.int64(max(new.num_places, 1))
    keys_new = prep.cand.astype(np.int64) * width + prep.place.astype(np.int64)
    order = np.argsort(keys_new, kind="stable")
    sorted_keys = keys_new[order]
    want = old.edge_candidate[free].astype(np.int64) * width + old.edge_place[free].astype(np.int64)
    pos = np.searchsorted(sorted_keys, want)
    pos = np.minimum(pos, max(sorted_keys.size - 1, 0))
    if sorted_keys.size == 0 or not (sorted_keys[pos] == want).all():
        return None  # a pair it used is not active in the new round (or the pins differ)
    sel = order[pos]
    # The same pair must score the same, or the earlier objective means another thing.
    if not np.array_equal(np.rint(old.edge_score[free] * SCORE_SCALE).astype(np.int64),
                          prep.score_w[sel]):
        return None
    x = np.zeros(prep.edges.size, bool)
    x[sel] = True
    # The rules a flow keeps by construction: one place per candidate, a place's free slots.
    if np.bincount(prep.cand[sel], minlength=new.num_candidates).max(initial=0) > 1:
        return None
    if (np.bincount(prep.place[sel], minlength=new.num_places) > prep.slots).any():
        return None
    _, ok = primal_value(prep, x)  # the keys and floors, exactly
    return x if ok else None
