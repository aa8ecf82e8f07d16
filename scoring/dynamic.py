"""Dynamic rounds over a region: the year's arrivals placed batch by batch (issue 18, item 3).

The region → problem path is the round's (:func:`scoring.allocation.build_round`): the eligible
pairs with their scores, the policy's keys as numbers of people (shares of the most people the
eligible pairs can place) and the policy's floors. In the dynamic mode those numbers hold over the
*year*, and :func:`matching.run_dynamic` places the arrivals batch by batch
(docs/allocation.md, "Dynamic mode", states what holds per batch and over the year).

A candidate's *arrival* is the first day they are available (``available_from``, the pool's
``available_day``): ``batch="weekly"`` groups arrivals into weeks (``batch_days`` days each, from
the earliest arrival), ``batch="import"`` places every candidate of the round as one batch (the
arrivals of one import), with futures drawn from the same candidates and scaled to
``expected_arrivals`` (the arrivals expected for the rest of the year; 0: the year ends with this
import, so its lower keys and floors are enforced).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from matching import AllocationProblem, DynamicParams, DynamicRun, run_dynamic
from scoring.allocation import Round, RoundParams, build_round
from scoring.exceptions import Problem, RoundSetupError
from scoring.policy import Policy
from scoring.pool import CandidatePool, PlaceTable

__all__ = [
    "BATCH_MODES",
    "DynamicRoundParams",
    "DynamicRoundResult",
    "arrival_batches",
    "run_dynamic_round",
    "with_scores",
]

BATCH_MODES: tuple[str, ...] = ("weekly", "import")


@dataclass(frozen=True)
class DynamicRoundParams:
    """How a dynamic round batches and prices.

    ``batch``: ``"weekly"`` or ``"import"`` (module docstring); ``batch_days`` the length of a
    weekly batch (7); ``k`` sampled futures per batch; ``lookback_days`` the window of past arrivals
    the futures are drawn from (183, as Ahani et al.); ``expected_arrivals`` the arrivals expected
    after an import (import mode only); ``seed`` the sampling's seed.
    """

    batch: str = "weekly"
    batch_days: int = 7
    k: int = 5
    lookback_days: int = 183
    expected_arrivals: int = 0
    pricing: bool = True
    seed: int = 0

    def problems(self) -> list[Problem]:
        """Every value out of range, as :class:`~scoring.exceptions.Problem` (field, value, why)."""
        out = []

        def bad(name: str, value: Any, reason: str) -> None:
            out.append(Problem("dynamic", None, name, repr(value), reason))

        if self.batch not in BATCH_MODES:
            bad("batch", self.batch, f"unknown batch mode: one of {', '.join(BATCH_MODES)}")
        if not isinstance(self.batch_days, int) or self.batch_days < 1:
            bad("batch_days", self.batch_days, "a batch must be at least 1 day long")
        if not isinstance(self.k, int) or self.k < 1:
            bad("k", self.k, "at least 1 sampled future")
        if not isinstance(self.lookback_days, int) or self.lookback_days < 1:
            bad("lookback_days", self.lookback_days, "the look-back window must be at least 1 day")
        if not isinstance(self.expected_arrivals, int) or self.expected_arrivals < 0:
            bad("expected_arrivals", self.expected_arrivals, "must be a whole number >= 0")
        return out

    def matching_params(self, time_limit_s: float) -> DynamicParams:
        lookback = max(1, -(-self.lookback_days // self.batch_days))
        return DynamicParams(k=self.k, lookback=lookback, pricing=self.pricing, seed=self.seed,
                             time_limit_s=time_limit_s)


def arrival_batches(days: npt.ArrayLike, *, batch_days: int = 7,
                    start_day: int | None = None) -> npt.NDArray[np.int64]:
    """The batch of each arrival day: ``(day - start_day) // batch_days`` (start: the earliest).

    Raises
    ------
    RoundSetupError
        ``batch_days`` below 1, or a day before ``start_day``.
    """
    if not isinstance(batch_days, int) or batch_days < 1:
        raise RoundSetupError([Problem("dynamic", None, "batch_days", repr(batch_days),
                                       "a batch must be at least 1 day long")])
    d = np.asarray(days, np.int64)
    if d.size == 0:
        return np.zeros(0, np.int64)
    start = int(d.min()) if start_day is None else int(start_day)
    if int(d.min()) < start:
        raise RoundSetupError([Problem("dynamic", None, "start_day", str(start),
                                       "an arrival falls before the first batch")])
    return np.asarray((d - start) // batch_days, np.int64)


def with_scores(problem: AllocationProblem, scores: npt.ArrayLike) -> AllocationProblem:
    """The same problem with other pair scores (e.g. an outcome model's probability × 100)."""
    s = np.asarray(scores, np.float64)
    if s.shape != (problem.num_edges,):
        raise ValueError(f"scores must have shape ({problem.num_edges},)")
    return AllocationProblem(
        num_candidates=problem.num_candidates, num_places=problem.num_places,
        num_districts=problem.num_districts, num_groups=problem.num_groups,
        edge_candidate=problem.edge_candidate, edge_place=problem.edge_place, edge_score=s,
        place_slots=problem.place_slots, candidate_district=problem.candidate_district,
        district_lower=problem.district_lower, district_upper=problem.district_upper,
        edge_groups=problem.edge_groups, group_floor=problem.group_floor,
        edge_forbidden=problem.edge_forbidden, pinned_edges=problem.pinned_edges,
        district_names=problem.district_names, group_names=problem.group_names,
    )


@dataclass(frozen=True, eq=False)
class DynamicRoundResult:
    """A dynamic round: the year's template round, the batches and the placements.

    ``assignments``: candidate_id, place_id, batch, score, adjusted_score (the price-adjusted score
    the batch was placed with). ``batches``: per batch its number, arrivals, placed, the mean place
    price over the places, and seconds spent pricing and placing.
    """

    round: Round
    run: DynamicRun
    arrival_batch: npt.NDArray[np.int64]
    assignments: pl.DataFrame
    batches: pl.DataFrame

    def summary_lines(self) -> list[str]:
        problem = self.round.problem
        lines = [f"dynamic round: {self.batches.height} batch(es), {self.assignments.height:,} placed, "
                 f"total score {self.run.total_score(problem):,.3f}"]
        lines += [f"violated over the year (penalised): {v}" for v in self.run.violations]
        lines += [f"cannot be met over the year: {r}" for r in self.run.infeasibility]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": "dynamic",
            "num_assigned": self.assignments.height,
            "total_score": self.run.total_score(self.round.problem),
            "violations": [str(v) for v in self.run.violations],
            "infeasibility": list(self.run.infeasibility),
            "batches": self.batches.to_dicts(),
            "assignments": self.assignments.to_dicts(),
        }


def run_dynamic_round(
    pool: CandidatePool,
    places: PlaceTable,
    policy: Policy,
    round_params: RoundParams | None = None,
    params: DynamicRoundParams | None = None,
    *,
    scores: npt.ArrayLike | None = None,
    template: Round | None = None,
) -> DynamicRoundResult:
    """Place the round's candidates batch by batch in the dynamic mode.

    Parameters
    ----------
    pool, places, policy
        As for :func:`scoring.allocation.build_round`.
    round_params
        The round's graph, keys and floors (pins are refused: a dynamic round has none).
    params
        :class:`DynamicRoundParams`.
    scores
        (E,) other pair scores for the template's pairs (default: the policy's score).
    template
        An already built round to use (its pairs, keys and floors), instead of building one.

    Raises
    ------
    RoundSetupError
        Every bad parameter, or pins.
    """
    round_params = round_params or RoundParams(objective="score")
    params = params or DynamicRoundParams()
    problems = params.problems()
    if round_params.pins:
        problems.append(Problem("dynamic", None, "pins", str(len(round_params.pins)),
                                "a dynamic round keeps no pins"))
    if problems:
        raise RoundSetupError(problems)
    rnd = template if template is not None else build_round(pool, places, policy, round_params)
    problem = rnd.problem if scores is None else with_scores(rnd.problem, scores)
    has_pair = np.zeros(pool.size, bool)
    has_pair[problem.edge_candidate] = True
    mp = params.matching_params(round_params.time_limit_s)
    expected_after = 0.0
    if params.batch == "weekly":
        ab = arrival_batches(pool.available_day, batch_days=params.batch_days)
    else:
        ab = np.zeros(pool.size, np.int64)
        expected_after = float(params.expected_arrivals)
    ab = np.where(has_pair, ab, -1).astype(np.int64)
    if (ab >= 0).any():
        first = int(ab[ab >= 0].min())
        ab = np.where(ab >= 0, ab - first, -1)
    run = run_dynamic(problem, ab, mp, expected_after_last=expected_after)
    return _result(rnd, problem, run, ab, pool, places)


def _result(rnd: Round, problem: AllocationProblem, run: DynamicRun, ab: npt.NDArray[np.int64],
            pool: CandidatePool, places: PlaceTable) -> DynamicRoundResult:
    rows: dict[str, list[Any]] = {"candidate_id": [], "place_id": [], "batch": [], "score": [],
                                  "adjusted_score": []}
    batch_rows: dict[str, list[Any]] = {"batch": [], "arrivals": [], "placed": [],
                                        "mean_place_price": [], "seconds_prices": [],
                                        "seconds_place": []}
    for b in run.batches:
        edges = b.placed_edges
        adjusted = b.prices.adjust(problem, edges)
        rows["candidate_id"] += [str(pool.ids[c]) for c in problem.edge_candidate[edges]]
        rows["place_id"] += [str(places.ids[p]) for p in problem.edge_place[edges]]
        rows["batch"] += [b.batch] * edges.size
        rows["score"] += problem.edge_score[edges].tolist()
        rows["adjusted_score"] += adjusted.tolist()
        batch_rows["batch"].append(b.batch)
        batch_rows["arrivals"].append(int(b.candidates.size))
        batch_rows["placed"].append(int(edges.size))
        batch_rows["mean_place_price"].append(float(b.prices.place.mean()) if b.prices.place.size
                                              else 0.0)
        batch_rows["seconds_prices"].append(b.seconds_prices)
        batch_rows["seconds_place"].append(b.seconds_place)
    assignments = pl.DataFrame(rows, schema={"candidate_id": pl.String, "place_id": pl.String,
                                             "batch": pl.Int64, "score": pl.Float64,
                                             "adjusted_score": pl.Float64})
    batches = pl.DataFrame(batch_rows, schema={"batch": pl.Int64, "arrivals": pl.Int64,
                                               "placed": pl.Int64, "mean_place_price": pl.Float64,
                                               "seconds_prices": pl.Float64,
                                               "seconds_place": pl.Float64})
    return DynamicRoundResult(rnd, run, ab, assignments, batches)

