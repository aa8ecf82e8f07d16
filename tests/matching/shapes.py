"""Shapes of allocation rounds, generated apart from the solver (issue 20, item 4).

Written without looking at how the exact method works and importing nothing from
:mod:`matching`: it returns the keyword arguments of ``matching.build_problem`` as plain numpy
arrays, so the property tests and ``benchmarks/bench_allocation.py`` can draw rounds the
benchmark's own generator does not make:

- scores as integers, as decimals, with negatives, or with heavy ties (a handful of values);
- 0 to 3 overlapping priority-group floors between 0.17 and 0.40 (candidate-level groups and
  one pair-level group), which bind because the group's pairs score lower;
- distribution keys with a tolerance between 5 % and 50 % around each district's share;
- 3 to 50 feasible places per candidate;
- rounds whose floors cannot be met (``infeasible=True``: a floor above the share of group
  pairs any assignment can reach).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ScoreKind = Literal["integer", "decimal", "negative", "ties"]
SCORE_KINDS: tuple[ScoreKind, ...] = ("integer", "decimal", "negative", "ties")


@dataclass(frozen=True)
class Shape:
    """One shape of round. ``k`` is the number of feasible places per candidate."""

    num_candidates: int
    num_places: int
    k: int
    scores: ScoreKind = "decimal"
    num_floors: int = 2
    floor_low: float = 0.17
    floor_high: float = 0.40
    key_tolerance: float = 0.10
    num_districts: int = 12
    infeasible: bool = False
    group_penalty: float = 8.0  # how much lower a group pair scores, in score units

    def label(self) -> str:
        tags = [f"{self.num_candidates}x{self.num_places}x{self.k}", self.scores,
                f"{self.num_floors}fl", f"key{round(100 * self.key_tolerance)}"]
        if self.infeasible:
            tags.append("infeasible")
        return "-".join(tags)


def random_shape(rng: np.random.Generator, num_candidates: int, num_places: int,
                 k_range: tuple[int, int] = (3, 50)) -> Shape:
    """A shape drawn at random within the ranges of the module docstring."""
    k = int(rng.integers(k_range[0], k_range[1] + 1))
    return Shape(
        num_candidates=num_candidates, num_places=num_places, k=min(k, num_places),
        scores=SCORE_KINDS[int(rng.integers(0, len(SCORE_KINDS)))],
        num_floors=int(rng.integers(0, 4)),
        key_tolerance=float(rng.choice([0.05, 0.10, 0.25, 0.50])),
        num_districts=int(rng.integers(1, 13)),
        infeasible=bool(rng.random() < 0.1),
    )


def make_round(shape: Shape, seed: int) -> dict[str, Any]:
    """The arrays of a round of ``shape`` (keyword arguments of ``matching.build_problem``)."""
    rng = np.random.default_rng(seed)
    c, p = shape.num_candidates, shape.num_places
    k = max(1, min(shape.k, p))
    d = max(1, shape.num_districts)
    district = rng.integers(0, d, c).astype(np.int32)
    # k distinct places per candidate.
    ec = np.repeat(np.arange(c, dtype=np.int32), k)
    ep = np.concatenate([rng.choice(p, k, replace=False) for _ in range(c)]).astype(np.int32) \
        if k * 4 > p else _distinct_places(rng, c, p, k)
    e = ec.size
    # Groups: up to two candidate-level (overlapping), then one pair-level.
    num_floors = min(shape.num_floors, 3)
    shares = rng.uniform(0.15, 0.35, 3)
    member = [rng.random(c) < shares[0], rng.random(c) < shares[1]]
    pair_level = rng.random(e) < shares[2]
    groups = np.zeros(e, np.uint32)
    in_group = np.zeros(e, np.int64)
    for g in range(num_floors):
        bit = member[g][ec] if g < 2 else pair_level
        groups |= bit.astype(np.uint32) << np.uint32(g)
        in_group += bit
    floors = np.round(rng.uniform(shape.floor_low, shape.floor_high, num_floors), 2)
    if shape.infeasible and num_floors == 0:
        num_floors = 1
        groups |= member[0][ec].astype(np.uint32)
        in_group += member[0][ec]
        floors = np.array([0.0])
    if shape.infeasible:
        # Only a few candidates can count for group 0: its floor is out of reach.
        few = rng.random(c) < 0.03
        groups = (groups & ~np.uint32(1)) | few[ec].astype(np.uint32)
        floors[0] = 0.40
    score = _scores(rng, shape.scores, e)
    # Group pairs score lower, so the floors bind.
    score = score - shape.group_penalty * in_group * _unit(shape.scores)
    score = np.round(score) if shape.scores in ("integer", "ties") else np.round(score, 3)
    slots = rng.integers(1, 6, p).astype(np.int32)
    # Keys: each district's share of the expected placements, with the tolerance around it.
    expected = min(int(slots.sum()), c) * 0.9
    pop = np.bincount(district, minlength=d) / c
    lower = np.floor(pop * expected * (1 - shape.key_tolerance)).astype(np.int32)
    upper = np.ceil(pop * expected * (1 + shape.key_tolerance)).astype(np.int32)
    upper = np.maximum(upper, lower)
    return dict(
        num_candidates=c, num_places=p, edge_candidate=ec, edge_place=ep, edge_score=score,
        place_slots=slots, candidate_district=district, district_lower=lower,
        district_upper=upper, edge_groups=groups, group_floor=floors.astype(np.float64),
        num_districts=d, num_groups=num_floors,
    )


def _distinct_places(rng: np.random.Generator, c: int, p: int, k: int) -> np.ndarray:
    """k distinct places per candidate when k is small against p (redraw the duplicates)."""
    ep = rng.integers(0, p, (c, k))
    for _ in range(100):
        s = np.sort(ep, axis=1)
        dup = np.zeros_like(ep, bool)
        order = np.argsort(ep, axis=1)
        dup_sorted = np.zeros_like(s, bool)
        dup_sorted[:, 1:] = s[:, 1:] == s[:, :-1]
        np.put_along_axis(dup, order, dup_sorted, axis=1)
        if not dup.any():
            break
        ep[dup] = rng.integers(0, p, int(dup.sum()))
    return ep.reshape(-1).astype(np.int32)


def _unit(kind: ScoreKind) -> float:
    return 1.0 if kind != "ties" else 2.0


def _scores(rng: np.random.Generator, kind: ScoreKind, e: int) -> np.ndarray:
    if kind == "integer":
        return rng.integers(0, 101, e).astype(np.float64)
    if kind == "decimal":
        return rng.uniform(0.0, 100.0, e)
    if kind == "negative":
        return rng.uniform(-50.0, 50.0, e)
    return rng.choice([10.0, 20.0, 30.0, 40.0, 50.0], e)  # heavy ties
