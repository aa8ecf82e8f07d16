"""Benchmark: shortlist latency for one place against an in-memory pool, vs. a Python-loop baseline.

For each pool size a seeded fixture region is generated and turned into the in-memory pool once
(:func:`scoring.pool.build_pool`, as the service holds it). Then, for a sample of places, the
benchmark times :func:`scoring.shortlist.shortlist` (eligibility over the whole pool, scores,
fair re-ranking, explanations of the ``k`` lines) and reports the median and p95.

The baseline is the straightforward way: a Python loop over the candidates that checks each hard
rule for the one candidate with :mod:`scoring.eligibility`'s own comparisons (the place's numbers
read once per query) and computes the eligible one's score terms with
:func:`scoring.score.place_terms` (the scorer's own terms, for one candidate), then keeps the top
``k`` with ``heapq`` (no fair re-ranking, no explanations: the baseline is given the easier job). It runs on a
sample of candidates per query and is extrapolated linearly to the pool size; its eligible
candidates are checked against :func:`scoring.eligibility.place_eligibility` and its scores against
the vectorised :func:`scoring.score.score_pairs` on the sample.

Prints a table and writes ``benchmarks/results/shortlist.json``.

Usage::

    python benchmarks/bench_shortlist.py --sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import heapq
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import write_results  # benchmarks/_common.py

from fixtures import SIZES, generate_region
from scoring.eligibility import (
    admits_from,
    availability_deadline,
    fails_availability,
    fails_commute,
    fails_ladder,
    fails_placement_type,
    lacks_needed,
    place_eligibility,
    squared_km,
    too_short,
)
from scoring.policy import Policy, load_policy
from scoring.pool import CandidatePool, PlaceTable, build_pool
from scoring.score import TERMS, place_terms, score_pairs
from scoring.shortlist import shortlist

RESULTS = Path(__file__).parent / "results" / "shortlist.json"
SIZE_BY_COUNT = {spec.num_candidates: name for name, spec in SIZES.items()}


# ---------------------------------------------------------------------------------------------
# The baseline: one Python loop iteration per candidate
# ---------------------------------------------------------------------------------------------


def baseline_place(pool: CandidatePool, places: PlaceTable, place: int, policy: Policy) -> dict[str, Any]:
    """The place's numbers its rules compare with, read once per query from the rules' own statement
    (:mod:`scoring.eligibility`)."""
    return {
        "place": place,
        "takes": bool(places.states.is_open[place]) and not bool(too_short(places, policy, place)),
        "admits_from": int(admits_from(places, policy, place)),
        "deadline": int(availability_deadline(pool, places, policy, place)),
        "type": places.placement_type[place], "x": places.x_km[place], "y": places.y_km[place],
        "needed": places.needed[:, place], "open_here": set(places.open_at(place).tolist()),
    }


def baseline_score(pool: CandidatePool, places: PlaceTable, i: int, p: dict[str, Any],
                   policy: Policy) -> float | None:
    """One candidate, the straightforward way: each hard rule, then the score's terms, for this one
    candidate; None when not eligible.

    The rules are :mod:`scoring.eligibility`'s own comparisons and the terms
    :func:`scoring.score.place_terms`, called for the one candidate: the loop pays per candidate,
    but computes nothing of its own (a re-written copy of the rules and terms drifted from the
    scorer it was checked against, issue 19).
    """
    if not p["takes"] or pool.placed[i] or i in p["open_here"]:  # the place's rules; placed; proposed here
        return None
    if fails_ladder(pool.ladder_step[i], p["admits_from"]) or fails_availability(pool.available_day[i],
                                                                                  p["deadline"]):
        return None
    if fails_placement_type(pool.wished_or_any[i], p["type"]):
        return None
    one = slice(i, i + 1)
    squared = squared_km(pool.x_km[one], pool.y_km[one], p["x"], p["y"])
    if fails_commute(squared, pool.commute_limit_sq[one])[0]:
        return None
    if lacks_needed(pool.competences[:, one], p["needed"])[0]:
        return None
    terms = place_terms(pool, places, np.array([i], dtype=np.int64), p["place"], policy)
    total = 0.0
    for name in TERMS:  # summed as score_pairs sums them
        total += float(getattr(policy.weights, name)) * float(terms[name][0])
    return total


def baseline_shortlist(pool: CandidatePool, places: PlaceTable, positions: list[int], place: dict[str, Any],
                       policy: Policy, k: int) -> list[tuple[float, int]]:
    """Top ``k`` (score, position) by a loop over the candidates at ``positions`` (open proposals held
    back)."""
    scored = []
    for i in positions:
        if pool.open_proposals[i] > 0:  # held back: an open proposal (here, or elsewhere)
            continue
        score = baseline_score(pool, places, i, place, policy)
        if score is not None:
            scored.append((score, -i))
    return [(s, -i) for s, i in heapq.nlargest(k, scored)]


# ---------------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_size(
    n: int, region: str, seed: int, queries: int, repeats: int, k: int, sample: int
) -> dict[str, Any]:
    size = SIZE_BY_COUNT.get(n)
    if size is None:
        raise SystemExit(f"no fixture size with {n:,} candidates: choose from {sorted(SIZE_BY_COUNT)}")
    started = time.perf_counter()
    data = generate_region(region, size, seed=seed)
    generated = time.perf_counter()
    policy = load_policy(data.manifest.policy)
    pool, places = build_pool(data, policy)
    built = time.perf_counter()

    rng = np.random.default_rng(seed)
    # Only places with at least k eligible candidates: a place nobody can take (it started before
    # everyone is available, or it is too short for the policy) answers in no time and would flatter
    # the figures.
    picked: list[int] = []
    for p in rng.permutation(places.size).tolist():
        if np.count_nonzero(place_eligibility(pool, places, p, policy).eligible) >= k:
            picked.append(p)
            if len(picked) == queries:
                break
    chosen = np.asarray(picked, dtype=np.int64)
    eligible_counts = [np.count_nonzero(place_eligibility(pool, places, p, policy).eligible) for p in picked]
    place_ids = [str(places.ids[p]) for p in chosen]
    for pid in place_ids[:3]:  # warm caches (FA*IR tables, numpy)
        shortlist(pool, places, pid, k=k, policy=policy)
    times: list[float] = []
    cpu: list[float] = []
    plain: list[float] = []
    lines = []
    for pid in place_ids:
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            result = shortlist(pool, places, pid, k=k, policy=policy)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            t0 = time.perf_counter()
            shortlist(pool, places, pid, k=k, policy=policy, fair=False)
            plain.append(time.perf_counter() - t0)
        lines.append(len(result.lines))

    # Baseline: a sample of candidates per query, extrapolated to the pool.
    take = min(sample, pool.size)
    positions = rng.choice(pool.size, size=take, replace=False)
    positions.sort()
    sampled = positions.tolist()
    per_candidate: list[float] = []
    max_diff = 0.0
    for p in picked[: min(10, len(picked))]:
        place = baseline_place(pool, places, p, policy)
        t0 = time.perf_counter()
        baseline_shortlist(pool, places, sampled, place, policy, k)
        per_candidate.append((time.perf_counter() - t0) / take)
        # The loop and the vectorised shortlist path agree on the sample: the same eligible candidates
        # (place_eligibility, one place against the pool) and the same scores (score_pairs).
        check = place_eligibility(pool, places, p, policy).eligible[positions]
        loop = [baseline_score(pool, places, i, place, policy) for i in sampled]
        passed = np.array([v is not None for v in loop], dtype=bool)
        if not np.array_equal(passed, check):
            raise SystemExit(f"place {places.ids[p]}: the loop and place_eligibility disagree on "
                             f"{int((passed != check).sum())} of {take} sampled candidates")
        if check.any():
            total, _ = score_pairs(pool, places, positions[check], p, policy)
            scores = np.array([v for v in loop if v is not None], dtype=np.float64)
            max_diff = max(max_diff, float(np.max(np.abs(total - scores))))
    baseline_ms = statistics.median(per_candidate) * pool.size * 1e3
    median_ms = statistics.median(times) * 1e3
    return {
        "candidates": pool.size,
        "places": places.size,
        "fixture": f"{region}/{size}/seed {seed}",
        "generate_s": round(generated - started, 2),
        "build_pool_s": round(built - generated, 2),
        "queries": len(place_ids),
        "mean_eligible": round(float(np.mean(eligible_counts)), 1),
        "repeats": repeats,
        "k": k,
        "mean_lines": round(statistics.mean(lines), 1),
        "shortlist_median_ms": round(median_ms, 2),
        "shortlist_p95_ms": round(_percentile(times, 95) * 1e3, 2),
        "shortlist_cpu_median_ms": round(statistics.median(cpu) * 1e3, 2),
        "unfair_median_ms": round(statistics.median(plain) * 1e3, 2),
        "baseline_sample": take,
        "baseline_extrapolated_ms": round(baseline_ms, 1),
        "speedup": round(baseline_ms / median_ms, 1),
        "baseline_max_score_diff": max_diff,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="pool sizes (fixture sizes by candidate count), comma-separated")
    parser.add_argument("--region", default="gothenburg")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--queries", type=int, default=40, help="places queried per size")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per place")
    parser.add_argument("-k", type=int, default=20)
    parser.add_argument("--baseline-sample", type=int, default=20_000,
                        help="candidates the Python-loop baseline scores per query")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    rows = []
    for n in sizes:
        row = bench_size(n, args.region, args.seed, args.queries, args.repeats, args.k, args.baseline_sample)
        rows.append(row)
        print(f"{n:>9,} candidates: median {row['shortlist_median_ms']} ms, "
              f"baseline ~{row['baseline_extrapolated_ms']} ms", file=sys.stderr)

    header = (f"{'candidates':>10} {'places':>7} {'build s':>8} {'median ms':>10} {'p95 ms':>8} "
              f"{'cpu ms':>7} {'no-fair ms':>10} {'loop ms':>10} {'speedup':>8}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['candidates']:>10,} {r['places']:>7,} {r['build_pool_s']:>8} "
              f"{r['shortlist_median_ms']:>10} "
              f"{r['shortlist_p95_ms']:>8} {r['shortlist_cpu_median_ms']:>7} {r['unfair_median_ms']:>10} "
              f"{r['baseline_extrapolated_ms']:>10} "
              f"{r['speedup']:>7}x")
    print()
    write_results(args.out, __file__, {"benchmark": "shortlist", "results": rows}, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
