"""Dynamic allocation: people arrive in batches, each batch is placed with prices learnt from the future.

The method is Ahani et al. (OR 2024)'s "potentials", extended with district keys and priority-group
floors kept over the year (docs/allocation.md, "Dynamic mode"). The *year* is one
:class:`~matching.AllocationProblem` (the template) holding every candidate who may arrive, every
place with its slots for the whole year, the eligible pairs with their scores, and the year's rules:
``district_lower``/``district_upper`` are numbers of people placed *over the year*, ``group_floor``
shares of the year's placements. ``arrival_batch[c]`` says in which batch candidate ``c`` arrives
(``-1``: never). For each batch ``b``, :func:`run_dynamic`:

1. draws ``k`` futures: candidates drawn with replacement from those who arrived in the last
   ``lookback`` batches, as many as are expected to arrive in the rest of the year (``"lookback"``;
   or ``"known"``: the true future, for tests and as a reference);
2. solves the LP relaxation (:func:`lp_prices`) over the places' remaining slots, the batch (each
   candidate once) and the future (each drawn candidate weighted by how often it was drawn); its key
   and floor rows count what earlier batches already placed, so they are the *year's* rows;
3. averages the duals over the ``k`` futures: :class:`Prices`;
4. places the batch exactly (:func:`matching.solve`) with the price-adjusted scores
   (:meth:`Prices.adjust`), under the places' remaining slots and the rules below.

Price convention (score units, all prices ``>= 0``)::

    adjusted(e) = score(e) - place[p] - key_upper[d] + key_lower[d]
                  + sum_g floor[g] * (member(e, g) - floor_share[g])
                  + tie_break * (chosen(e) - 1/2)      (tie_break = 0.002)

with ``p`` the pair's place, ``d`` the candidate's home district, ``member(e, g)`` 1 when the pair
counts for group ``g``, and ``chosen(e)`` the share of the ``k`` LPs' optimal solutions that place
the pair (between 0 and 1). ``place`` is the dual of the place's slot row (what a slot is worth to
the future), ``key_upper``/``key_lower`` the duals of the year's district rows and ``floor`` the
dual of the year's floor row ``sum_e (member(e, g) - floor_share[g]) x_e >= floor_share[g] * A -
A_g`` (``A`` placed so far, ``A_g`` of them counting for ``g``). The tie-break (plus or minus 0.001
score units, the solver's resolution) prefers, among placements of equal adjusted score, those the
LPs chose, and leaves out pairs of zero adjusted score that no LP chose; it moves no pair's score by
more than 0.001.

What is guaranteed, and when
----------------------------
- **Slots**: never more than a place's slots over the year (every batch sees only the remaining).
- **Upper keys**: after *every* batch, each district's placements over the year so far are within
  its upper bound (a hard rule of each batch: ``upper - placed so far``).
- **Lower keys and floors**: *priced* in every batch, *enforced* over the year in the final batch:
  the final batch's exact solve holds the year's placements so far as pinned placements, so its key
  and floor rules are the year's. A per-batch share is never required: a batch may place no one
  from a group and the final batch compensate, and the final batch may place no one from a group
  when the earlier ones already carry the year. Where the final batch cannot meet the year's rules
  the result says so: ``on_infeasible="report"`` leaves the final batch unplaced and lists the
  reasons, ``"penalise"`` (default) places it with the rules soft and lists each violation.
- The LP's key and floor rows are soft (a violation costs ``violation_penalty`` per unit), so
  prices exist even when a sampled future cannot meet the year's rules; a price is then at most the
  penalty.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse

from matching import _highs
from matching.exceptions import ParamsError, SolverError
from matching.problem import SCORE_SCALE, AllocationProblem
from matching.result import AllocationResult, Violation
from matching.solve import DEFAULT_VIOLATION_PENALTY, SolveParams, find_violations, solve

__all__ = [
    "DynamicBatch",
    "DynamicParams",
    "DynamicRun",
    "Prices",
    "YearSoFar",
    "hindsight",
    "lp_prices",
    "place_batch",
    "run_dynamic",
    "run_online_greedy",
    "sample_futures",
    "year_violations",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

TIE_BREAK: float = 2.0 / SCORE_SCALE
"""Times ``chosen - 1/2``: a pair every LP chose gains one unit of the solver's resolution
(1/SCORE_SCALE score units), a pair none chose loses one."""


@dataclass(frozen=True)
class DynamicParams:
    """How to run the dynamic mode.

    Parameters
    ----------
    k
        Number of sampled futures per batch (Ahani et al.: 5). At least 1.
    lookback
        Batches of past arrivals the futures are drawn from (26 weekly batches: about 183 days).
    future
        ``"lookback"``: drawn from past arrivals (the method). ``"known"``: the true future (every
        sample is the candidates who will arrive), a reference that knows what cannot be known.
    pricing
        ``False``: every price is 0, each batch placed exactly on its own scores (batch rounds).
    max_future
        At most this many draws per future; when more arrivals are expected, each draw stands for
        ``expected / max_future`` arrivals (the LP is a fluid one: only its size changes).
    violation_penalty
        Score units per unit of violation of a soft key or floor row (LP and final batch).
    on_infeasible
        What the final batch does when the year's lower keys and floors cannot be met:
        ``"penalise"`` (rules soft, violations listed) or ``"report"``.
    time_limit_s
        Per batch: for each LP and for the exact solve.
    seed
        Seed of the sampling.
    """

    k: int = 5
    lookback: int = 26
    future: Literal["lookback", "known"] = "lookback"
    pricing: bool = True
    max_future: int = 2000
    violation_penalty: float = DEFAULT_VIOLATION_PENALTY
    on_infeasible: Literal["report", "penalise"] = "penalise"
    time_limit_s: float = 60.0
    seed: int = 0

    def __post_init__(self) -> None:
        bad = []
        if not isinstance(self.k, int | np.integer) or self.k < 1:
            bad.append(f"k must be an integer >= 1 (sampled futures), got {self.k!r}")
        if not isinstance(self.lookback, int | np.integer) or self.lookback < 1:
            bad.append(f"lookback must be an integer >= 1 (batches), got {self.lookback!r}")
        if self.future not in ("lookback", "known"):
            bad.append(f"future {self.future!r} is not 'lookback' or 'known'")
        if not isinstance(self.max_future, int | np.integer) or self.max_future < 1:
            bad.append(f"max_future must be an integer >= 1, got {self.max_future!r}")
        if not (self.violation_penalty > 0 and math.isfinite(self.violation_penalty)):
            bad.append(f"violation_penalty must be positive, got {self.violation_penalty}")
        if self.on_infeasible not in ("report", "penalise"):
            bad.append(f"on_infeasible {self.on_infeasible!r} is not 'report' or 'penalise'")
        if not self.time_limit_s > 0:
            bad.append(f"time_limit_s must be positive, got {self.time_limit_s}")
        if bad:
            raise ParamsError("; ".join(bad))


@dataclass(frozen=True)
class YearSoFar:
    """What earlier batches placed: one entry per placement, its candidate's home district and its
    pair's group bits, and the slots taken per place."""

    placed_district: npt.NDArray[np.int32]
    placed_groups: npt.NDArray[np.uint32]
    slots_taken: I64

    @staticmethod
    def empty(problem: AllocationProblem) -> YearSoFar:
        return YearSoFar(np.zeros(0, np.int32), np.zeros(0, np.uint32),
                         np.zeros(problem.num_places, np.int64))

    @property
    def total(self) -> int:
        return int(self.placed_district.size)

    def per_district(self, num_districts: int) -> I64:
        return np.bincount(self.placed_district, minlength=num_districts).astype(np.int64)

    def per_group(self, num_groups: int) -> I64:
        return np.array([int(((self.placed_groups >> np.uint32(g)) & 1).sum())
                         for g in range(num_groups)], dtype=np.int64)

    def add(self, problem: AllocationProblem, edges: I64) -> YearSoFar:
        """This year with the pairs ``edges`` of ``problem`` placed too."""
        d = problem.candidate_district[problem.edge_candidate[edges]]
        taken = self.slots_taken + np.bincount(problem.edge_place[edges],
                                               minlength=problem.num_places)
        return YearSoFar(np.concatenate([self.placed_district, d]).astype(np.int32),
                         np.concatenate([self.placed_groups,
                                         problem.edge_groups[edges]]).astype(np.uint32),
                         taken.astype(np.int64))


@dataclass(frozen=True)
class Prices:
    """The duals of one batch's LP (averaged over its futures), in score units, all ``>= 0``.

    ``place`` (P,), ``key_upper`` and ``key_lower`` (D,), ``floor`` (G,); ``chosen`` (E,) the share
    of the LPs' optima that place each pair (0 for pairs outside the batch). See the module
    docstring for the convention.
    """

    place: F64
    key_upper: F64
    key_lower: F64
    floor: F64
    chosen: F64

    @staticmethod
    def zero(problem: AllocationProblem) -> Prices:
        return Prices(np.zeros(problem.num_places), np.zeros(problem.num_districts),
                      np.zeros(problem.num_districts), np.zeros(problem.num_groups),
                      np.zeros(problem.num_edges))

    def adjust(self, problem: AllocationProblem, edges: I64, *, tie_break: float = TIE_BREAK) -> F64:
        """The price-adjusted scores of the pairs ``edges`` of ``problem``."""
        p = problem.edge_place[edges]
        d = problem.candidate_district[problem.edge_candidate[edges]]
        out = problem.edge_score[edges] - self.place[p] - self.key_upper[d] + self.key_lower[d]
        bits = problem.edge_groups[edges]
        for g in range(problem.num_groups):
            if self.floor[g]:
                member = ((bits >> np.uint32(g)) & 1).astype(np.float64)
                out = out + self.floor[g] * (member - problem.group_floor[g])
        if tie_break:
            out = out + tie_break * (self.chosen[edges] - 0.5)
        return np.asarray(out, np.float64)


@dataclass(frozen=True)
class LpSolution:
    """One LP's optimum: ``x`` per pair of the template (0 outside it), its objective and prices."""

    objective: float
    x: F64
    prices: Prices


def lp_prices(
    problem: AllocationProblem,
    candidate_weight: npt.ArrayLike,
    *,
    year: YearSoFar | None = None,
    violation_penalty: float = DEFAULT_VIOLATION_PENALTY,
    time_limit_s: float = 60.0,
) -> LpSolution:
    """The LP relaxation of what is left of the year, and its duals.

    ``max sum_e score_e x_e`` over the pairs of candidates with a positive weight, subject to

    - candidate ``c``: ``sum x <= weight[c]`` (a future candidate drawn ``n`` times has weight
      ``n``), ``0 <= x_e <= weight[c]``;
    - place ``p``: ``sum x <= slots[p] - taken[p]`` (dual ``place[p]``);
    - district ``d``: ``lower[d] - A_d <= sum x (+ slack) `` and ``sum x (- slack) <= upper[d] - A_d``
      (duals ``key_lower[d]``, ``key_upper[d]``), ``A_d`` the year's placements so far;
    - group ``g`` with a positive floor: ``sum_e (member - floor_g) x_e (+ slack) >= floor_g A - A_g``
      (dual ``floor[g]``);

    each slack costing ``violation_penalty``. Forbidden pairs are left out; pins are not treated
    specially (the template of a dynamic run has none).

    Raises
    ------
    SolverError
        HiGHS did not prove an optimum within ``time_limit_s``.
    """
    year = year if year is not None else YearSoFar.empty(problem)
    w = np.asarray(candidate_weight, np.float64)
    if w.shape != (problem.num_candidates,):
        raise ParamsError(f"candidate_weight must have shape ({problem.num_candidates},)")
    e = np.flatnonzero((w[problem.edge_candidate] > 0) & ~problem.forbidden).astype(np.int64)
    n = int(e.size)
    cand_all = problem.edge_candidate[e].astype(np.int64)
    plc = problem.edge_place[e].astype(np.int64)
    dist = problem.candidate_district[cand_all].astype(np.int64)
    # Only the candidates with a pair here have a row (a region's LP holds a few of its people).
    present, cand = np.unique(cand_all, return_inverse=True)
    cols = np.arange(n)
    nc, npl, nd = int(present.size), problem.num_places, problem.num_districts
    groups = list(problem.active_groups)
    ng = len(groups)
    a_d = year.per_district(nd)
    a_g = year.per_group(problem.num_groups)
    # Rows: candidates, places, districts, floors. Columns: pairs, then slacks.
    blocks = [
        sparse.csr_matrix((np.ones(n), (cand, cols)), shape=(nc, n)),
        sparse.csr_matrix((np.ones(n), (plc, cols)), shape=(npl, n)),
        sparse.csr_matrix((np.ones(n), (dist, cols)), shape=(nd, n)),
    ]
    floor_rhs = []
    bits = problem.edge_groups[e]
    for g in groups:
        member = ((bits >> np.uint32(g)) & 1).astype(np.float64)
        f = float(problem.group_floor[g])
        blocks.append(sparse.csr_matrix((member - f, (np.zeros(n, np.int64), cols)), shape=(1, n)))
        floor_rhs.append(f * year.total - float(a_g[g]))
    a_pairs = sparse.vstack(blocks).tocsc()
    # Slacks: district lower (+1 on district rows), district upper (-1), floors (+1).
    r0 = nc + npl
    s_rows = np.concatenate([r0 + np.arange(nd), r0 + np.arange(nd), r0 + nd + np.arange(ng)])
    s_vals = np.concatenate([np.ones(nd), -np.ones(nd), np.ones(ng)])
    num_rows = nc + npl + nd + ng
    a_slack = sparse.csc_matrix((s_vals, (s_rows, np.arange(2 * nd + ng))),
                                shape=(num_rows, 2 * nd + ng))
    a = sparse.hstack([a_pairs, a_slack]).tocsc()
    remaining = (problem.place_slots.astype(np.float64) - year.slots_taken).clip(min=0)
    inf = np.inf
    row_lo = np.concatenate([np.full(nc, -inf), np.full(npl, -inf),
                             problem.district_lower - a_d, np.asarray(floor_rhs, np.float64)])
    row_hi = np.concatenate([w[present], remaining, problem.district_upper - a_d, np.full(ng, inf)])
    pen = violation_penalty
    cost = np.concatenate([-problem.edge_score[e], np.full(2 * nd + ng, pen)])
    col_lo = np.zeros(n + 2 * nd + ng)
    col_hi = np.concatenate([w[cand_all], np.full(2 * nd + ng, inf)])
    out = _highs.milp(cost, a, row_lo.astype(np.float64), row_hi.astype(np.float64),
                      np.zeros(cost.size), col_lo, col_hi,
                      time.perf_counter() + time_limit_s, presolve=True)
    if out.status != 0 or out.x is None or out.row_dual is None:
        raise SolverError(f"the dynamic mode's LP was not solved: {out.message}")
    y = out.row_dual  # of the minimisation: <= 0 on binding upper rows, >= 0 on binding lower
    x_full = np.zeros(problem.num_edges)
    x_full[e] = out.x[:n]
    dual_d = y[r0:r0 + nd]
    floor = np.zeros(problem.num_groups)
    floor[groups] = np.maximum(y[r0 + nd:], 0.0)
    prices = Prices(
        place=np.maximum(-y[nc:nc + npl], 0.0),
        key_upper=np.maximum(-dual_d, 0.0),
        key_lower=np.maximum(dual_d, 0.0),
        floor=floor,
        chosen=np.zeros(problem.num_edges),
    )
    return LpSolution(objective=-float(out.fun), x=x_full, prices=prices)


@dataclass(frozen=True, eq=False)
class DynamicBatch:
    """One batch of a dynamic run: its candidates, prices, the exact solve and the pairs placed
    (edge indices of the template)."""

    batch: int
    candidates: I64
    prices: Prices
    result: AllocationResult
    placed_edges: I64
    final: bool
    seconds_prices: float
    seconds_place: float


@dataclass(frozen=True, eq=False)
class DynamicRun:
    """A whole year: the batches and the pairs placed (template edge indices, in batch order).

    ``violations`` are the year's rules the final batch could not meet (``"penalise"``), and
    ``infeasibility`` why the final batch was left unplaced (``"report"``).
    """

    batches: tuple[DynamicBatch, ...]
    placed_edges: I64
    violations: list[Violation] = field(default_factory=list)
    infeasibility: list[str] = field(default_factory=list)

    def total_score(self, problem: AllocationProblem) -> float:
        return float(problem.edge_score[self.placed_edges].sum())


def _check_arrivals(problem: AllocationProblem, arrival_batch: npt.ArrayLike) -> I64:
    ab = np.asarray(arrival_batch)
    if ab.shape != (problem.num_candidates,) or ab.dtype.kind not in "iu":
        raise ParamsError(f"arrival_batch must be an integer array of shape ({problem.num_candidates},)")
    if ab.size and int(ab.min()) < -1:
        raise ParamsError("arrival_batch holds a value below -1 (-1 means: never arrives)")
    if problem.pinned_edges is not None and problem.pinned_edges.size:
        raise ParamsError("the year's template must not hold pins (place them in an earlier batch)")
    return ab.astype(np.int64)


def _futures(problem: AllocationProblem, ab: I64, b: int, num_batches: int, params: DynamicParams,
             rng: np.random.Generator, expected_after_last: float,
             expected_remaining: F64 | None) -> list[F64]:
    """The candidate weights of each of the ``k`` futures after batch ``b``."""
    c = problem.num_candidates
    last = b == num_batches - 1
    if params.future == "known" or (last and expected_after_last <= 0):
        w = (ab > b).astype(np.float64)
        return [w] * (1 if last else params.k)
    past = np.flatnonzero((ab < b) & (ab >= b - params.lookback) & (ab >= 0))
    if past.size == 0:
        past = np.flatnonzero(ab == b)
    seen = max(1, min(b, params.lookback))
    expected = past.size / seen * (num_batches - 1 - b) if b > 0 else past.size * (num_batches - 1)
    expected += expected_after_last
    if expected_remaining is not None:
        expected = float(expected_remaining[b])
    return sample_futures(c, past, expected, params, rng)


def sample_futures(num_candidates: int, past: npt.ArrayLike, expected: float,
                   params: DynamicParams, rng: np.random.Generator) -> list[F64]:
    """``params.k`` futures: each ``min(expected, max_future)`` draws with replacement from the
    candidates ``past``, each draw weighing ``expected / draws`` arrivals; as candidate weights."""
    pool = np.asarray(past, np.int64)
    draws = int(min(round(expected), params.max_future))
    out = []
    for _ in range(params.k):
        w = np.zeros(num_candidates)
        if draws > 0 and pool.size:
            picked = rng.choice(pool, size=draws, replace=True)
            np.add.at(w, picked, expected / draws)
        out.append(w)
    return out


def batch_problem(problem: AllocationProblem, year: YearSoFar, batch: I64, score: F64 | None,
                  *, final: bool) -> tuple[AllocationProblem, I64]:
    """The exact problem of one batch: its candidates' pairs with ``score`` (default: the
    template's), the remaining slots, the upper keys less the year so far; in the final batch the
    year's placements so far are pinned (ghost candidates at a ghost place) so that the lower keys
    and floors are the year's. Returns the problem and, per its pair, the template's edge index
    (``-1`` for a ghost pair)."""
    in_batch = np.zeros(problem.num_candidates, bool)
    in_batch[batch] = True
    e = np.flatnonzero(in_batch[problem.edge_candidate] & ~problem.forbidden).astype(np.int64)
    local = np.full(problem.num_candidates, -1, np.int64)
    local[batch] = np.arange(batch.size)
    cand = local[problem.edge_candidate[e]]
    plc = problem.edge_place[e].astype(np.int64)
    sc = problem.edge_score[e] if score is None else score
    remaining = (problem.place_slots.astype(np.int64) - year.slots_taken).clip(min=0)
    nd = problem.num_districts
    a_d = year.per_district(nd)
    groups = problem.edge_groups[e]
    cdist = problem.candidate_district[batch].astype(np.int64)
    num_c, num_p = batch.size, problem.num_places
    pins = None
    floors = np.zeros(problem.num_groups)
    lower = np.zeros(nd, np.int64)
    upper = (problem.district_upper.astype(np.int64) - a_d).clip(min=0)
    if final:
        g = year.total
        cand = np.concatenate([cand, num_c + np.arange(g)])
        plc = np.concatenate([plc, np.full(g, num_p)])
        sc = np.concatenate([sc, np.zeros(g)])
        groups = np.concatenate([groups, year.placed_groups])
        cdist = np.concatenate([cdist, year.placed_district.astype(np.int64)])
        remaining = np.concatenate([remaining, [g]])
        pins = np.arange(e.size, e.size + g, dtype=np.int64) if g else None
        num_c, num_p = num_c + g, num_p + 1
        floors = problem.group_floor
        lower = problem.district_lower.astype(np.int64)
        upper = problem.district_upper.astype(np.int64)
        e = np.concatenate([e, np.full(g, -1, np.int64)])
    sub = AllocationProblem(
        num_candidates=int(num_c), num_places=int(num_p), num_districts=nd,
        num_groups=problem.num_groups, edge_candidate=cand.astype(np.int32),
        edge_place=plc.astype(np.int32), edge_score=np.asarray(sc, np.float64),
        place_slots=remaining.astype(np.int32), candidate_district=cdist.astype(np.int32),
        district_lower=lower.astype(np.int32), district_upper=np.maximum(upper, lower).astype(np.int32),
        edge_groups=groups.astype(np.uint32), group_floor=np.asarray(floors, np.float64),
        pinned_edges=pins, district_names=problem.district_names, group_names=problem.group_names,
    )
    return sub, e


def run_dynamic(
    problem: AllocationProblem,
    arrival_batch: npt.ArrayLike,
    params: DynamicParams | None = None,
    *,
    expected_after_last: float = 0.0,
    expected_remaining: npt.ArrayLike | None = None,
) -> DynamicRun:
    """Place a year's arrivals batch by batch (module docstring).

    Parameters
    ----------
    problem
        The year's template: every candidate who may arrive, the places with the year's slots, the
        year's keys (numbers of people over the year) and floors (shares of the year's placements).
    arrival_batch
        (C,) int: the batch each candidate arrives in, ``0..B-1``; ``-1`` never arrives. The last
        batch with an arrival is the final one.
    params
        :class:`DynamicParams`.
    expected_after_last
        Arrivals expected after the last batch (0: the year ends with it). When positive, the last
        batch is priced against futures of that many more arrivals and is *not* final: the year's
        lower keys and floors are priced, not enforced (the year goes on after it).
    expected_remaining
        (B,) the number of arrivals expected after each batch, when known (Ahani et al.'s main
        experiments know the year's count, not who arrives); default: the look-back window's
        arrivals per batch times the batches left (plus ``expected_after_last``).

    Raises
    ------
    ParamsError
        ``arrival_batch`` of the wrong shape or type, or pins in the template.
    SolverError
        An LP was not solved within the time limit.

    Examples
    --------
    >>> from matching import build_problem
    >>> p = build_problem(num_candidates=2, num_places=1, edge_candidate=[0, 1],
    ...                   edge_place=[0, 0], edge_score=[3.0, 5.0], place_slots=[1])
    >>> run = run_dynamic(p, [0, 1], DynamicParams(future="known"))
    >>> run.placed_edges.tolist()  # the first arrival waits: the second scores higher
    [1]
    """
    params = params or DynamicParams()
    ab = _check_arrivals(problem, arrival_batch)
    if not (math.isfinite(expected_after_last) and expected_after_last >= 0):
        raise ParamsError(f"expected_after_last must be a number >= 0, got {expected_after_last!r}")
    num_batches = int(ab.max()) + 1 if ab.size and ab.max() >= 0 else 0
    remaining = None
    if expected_remaining is not None:
        remaining = np.asarray(expected_remaining, np.float64)
        if remaining.shape != (num_batches,) or not np.all(np.isfinite(remaining) & (remaining >= 0)):
            raise ParamsError(f"expected_remaining must be {num_batches} numbers >= 0, one per batch")
    rng = np.random.default_rng(params.seed)
    year = YearSoFar.empty(problem)
    batches: list[DynamicBatch] = []
    placed: list[I64] = []
    violations: list[Violation] = []
    infeasibility: list[str] = []
    for b in range(num_batches):
        batch = np.flatnonzero(ab == b).astype(np.int64)
        final = b == num_batches - 1 and expected_after_last <= 0
        futures: list[F64] = []
        if params.pricing and batch.size:
            futures = _futures(problem, ab, b, num_batches, params, rng, expected_after_last,
                               remaining)
        done = place_batch(problem, year, batch, futures, params, final=final, number=b)
        result, chosen = done.result, done.placed_edges
        if final:
            violations = list(result.violations)
            infeasibility = [str(r) for r in result.infeasibility]
        year = year.add(problem, chosen)
        placed.append(chosen)
        batches.append(done)
    edges = np.concatenate(placed) if placed else np.zeros(0, np.int64)
    return DynamicRun(tuple(batches), edges.astype(np.int64), violations, infeasibility)


def place_batch(problem: AllocationProblem, year: YearSoFar, batch: npt.ArrayLike,
                futures: Sequence[F64], params: DynamicParams, *, final: bool,
                number: int = 0) -> DynamicBatch:
    """Price one batch against ``futures`` (candidate weights of each sampled future, as
    :func:`sample_futures` gives; none: no prices) and place it exactly.

    The LP of each future holds the batch (weight 1 each) and the future; its duals are averaged
    into :class:`Prices`, and the batch is placed by :func:`matching.solve` with the adjusted scores
    under the remaining slots, the upper keys less the year so far and, when ``final``, the year's
    lower keys and floors (module docstring).
    """
    b_idx = np.asarray(batch, np.int64)
    in_batch = np.zeros(problem.num_candidates, bool)
    in_batch[b_idx] = True
    batch_edge = in_batch[problem.edge_candidate]
    t0 = time.perf_counter()
    prices = Prices.zero(problem)
    if futures:
        parts = []
        for fw in futures:
            w = np.array(fw, np.float64)
            w[b_idx] += 1.0  # a batch candidate drawn into the future stands for both
            parts.append(lp_prices(problem, w, year=year,
                                   violation_penalty=params.violation_penalty,
                                   time_limit_s=params.time_limit_s))

        def mean(arrays: list[F64]) -> F64:
            return np.asarray(np.mean(np.stack(arrays), axis=0), np.float64)

        prices = Prices(
            place=mean([s.prices.place for s in parts]),
            key_upper=mean([s.prices.key_upper for s in parts]),
            key_lower=mean([s.prices.key_lower for s in parts]),
            floor=mean([s.prices.floor for s in parts]),
            chosen=mean([np.where(batch_edge, np.clip(s.x, 0.0, 1.0), 0.0) for s in parts]),
        )
    t1 = time.perf_counter()
    e_batch = np.flatnonzero(batch_edge & ~problem.forbidden).astype(np.int64)
    score = prices.adjust(problem, e_batch, tie_break=TIE_BREAK if futures else 0.0)
    sub, back = batch_problem(problem, year, b_idx, score, final=final)
    result = solve(sub, SolveParams(objective="score", time_limit_s=params.time_limit_s,
                                    on_infeasible=params.on_infeasible,
                                    violation_penalty=params.violation_penalty))
    chosen = back[result.chosen_edges]
    chosen = np.sort(chosen[chosen >= 0]).astype(np.int64)
    return DynamicBatch(number, b_idx, prices, result, chosen, final, t1 - t0,
                        time.perf_counter() - t1)


def hindsight(problem: AllocationProblem, arrival_batch: npt.ArrayLike,
              params: DynamicParams | None = None) -> tuple[AllocationResult, I64]:
    """The hindsight optimum: every arrival of the year known at once, placed exactly under the
    year's slots, keys and floors (objective: total score). Returns the solve and the template's
    edges it chose."""
    params = params or DynamicParams()
    ab = _check_arrivals(problem, arrival_batch)
    sub, back = batch_problem(problem, YearSoFar.empty(problem),
                              np.flatnonzero(ab >= 0).astype(np.int64), None, final=True)
    result = solve(sub, SolveParams(objective="score", time_limit_s=params.time_limit_s,
                                    on_infeasible=params.on_infeasible,
                                    violation_penalty=params.violation_penalty))
    chosen = back[result.chosen_edges]
    return result, np.sort(chosen[chosen >= 0]).astype(np.int64)


def run_online_greedy(problem: AllocationProblem, arrival_order: Sequence[int] | npt.ArrayLike
                      ) -> I64:
    """Each arrival, in ``arrival_order`` (candidate positions), to its best-scored place with a
    slot left and whose district's upper key the year has not reached; no one is placed on a pair
    scoring below 0. Lower keys and floors are not considered. Returns the template edges chosen."""
    order = np.asarray(arrival_order, np.int64)
    slots = problem.place_slots.astype(np.int64).copy()
    room = problem.district_upper.astype(np.int64).copy()
    by_cand = np.argsort(problem.edge_candidate, kind="stable")
    starts = np.searchsorted(problem.edge_candidate[by_cand], np.arange(problem.num_candidates + 1))
    forb = problem.forbidden
    chosen = []
    for c in order.tolist():
        d = int(problem.candidate_district[c])
        if room[d] <= 0:
            continue
        es = by_cand[starts[c]:starts[c + 1]]
        es = es[~forb[es] & (slots[problem.edge_place[es]] > 0) & (problem.edge_score[es] >= 0)]
        if es.size == 0:
            continue
        best = int(es[np.argmax(problem.edge_score[es])])
        slots[problem.edge_place[best]] -= 1
        room[d] -= 1
        chosen.append(best)
    return np.asarray(chosen, np.int64)


def year_violations(problem: AllocationProblem, edges: I64) -> list[Violation]:
    """The year's key and floor violations of the pairs ``edges`` of the template."""
    return find_violations(problem, np.sort(np.asarray(edges, np.int64)))
