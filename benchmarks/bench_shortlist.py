"""Benchmark: shortlist latency for one place against an in-memory pool, vs. a Python-loop baseline.

For each pool size a seeded fixture region is generated and turned into the in-memory pool once
(:func:`scoring.pool.build_pool`, as the service holds it). Then, for a sample of places, the
benchmark times :func:`scoring.shortlist.shortlist` (eligibility over the whole pool, scores,
fair re-ranking, explanations of the ``k`` lines) and reports the median and p95.

The baseline is the straightforward way: a Python loop over candidate records that checks the
hard rules and scores each eligible candidate term by term, then keeps the top ``k`` with
``heapq`` (no fair re-ranking, no explanations: the baseline is given the easier job). Its records
are prepared before timing, with competences already mapped to concept codes, so that it pays
only for the per-candidate loop. It runs on a sample of candidates per query and is extrapolated
linearly to the pool size; its scores are checked against :func:`scoring.score.score_pairs` on the
sample, so both compute the same thing.

Prints a table and writes ``benchmarks/results/shortlist.json``.

Usage::

    python benchmarks/bench_shortlist.py --sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from fixtures import SIZES, generate_region
from scoring.eligibility import place_eligibility
from scoring.policy import Policy, load_policy
from scoring.pool import CandidatePool, PlaceTable, build_pool
from scoring.score import (
    ANY_TYPE_FIT,
    HOURS_TOLERANCE,
    PRIORITY_GROUP_SATURATION,
    TERMS,
    WANTED_SHARE,
    score_pairs,
    time_far_cap_months,
)
from scoring.shortlist import shortlist

RESULTS = Path(__file__).parent / "results" / "shortlist.json"
SIZE_BY_COUNT = {spec.num_candidates: name for name, spec in SIZES.items()}


# ---------------------------------------------------------------------------------------------
# The baseline: one Python loop iteration per candidate
# ---------------------------------------------------------------------------------------------


def baseline_records(pool: CandidatePool) -> list[dict[str, Any]]:
    """Plain Python records of every candidate (prepared once, outside the timing)."""
    concepts = pool.concepts
    records = []
    words = pool.competences.T.tolist()
    for i in range(pool.size):
        codes = set()
        for w, word in enumerate(words[i]):
            while word:
                low = word & -word
                codes.add(concepts[w * 64 + low.bit_length() - 1])
                word ^= low
        records.append({
            "x": float(pool.x_km[i]), "y": float(pool.y_km[i]), "step": int(pool.ladder_step[i]),
            "limit": float(pool.commute_limit_km[i]), "available": int(pool.available_day[i]),
            "wished": int(pool.wished_types[i]), "hours": int(pool.wished_hours[i]), "codes": codes,
            "months": int(pool.months_registered[i]), "groups": int(pool.num_groups[i]),
            "gender": int(pool.gender[i]), "placed": bool(pool.placed[i]),
            "open": int(pool.open_proposals[i]),
        })
    return records


def baseline_place(places: PlaceTable, place: int, reference_day: int) -> dict[str, Any]:
    """A place as a plain record (its start as the day it takes people from: a place that has
    already started takes them from the reference date)."""
    return {
        "x": float(places.x_km[place]), "y": float(places.y_km[place]),
        "lowest": int(places.lowest_step[place]), "supervisor": bool(places.supervisor[place]),
        "start": max(int(places.start_day[place]), reference_day), "type": int(places.placement_type[place]),
        "needed": set(places.needed_concepts(place)), "open": bool(places.states.is_open[place]),
        "duration": float(places.duration_months[place]), "hours": int(places.hours[place]),
        "required": set(places.required_concepts[place]), "wanted": set(places.wanted_concepts[place]),
        "women_under": bool(places.women_under[place]), "men_under": bool(places.men_under[place]),
        "open_here": set(places.open_at(place).tolist()),
    }


def baseline_score(c: dict[str, Any], p: dict[str, Any], policy: Policy) -> float | None:
    """One candidate, the straightforward way: rules, then each term; None when not eligible."""
    rules = policy.eligibility
    if c["placed"] or not p["open"]:
        return None
    if not p["needed"] <= c["codes"]:
        return None
    gap = p["lowest"] - c["step"]
    if gap > 0 and not (p["supervisor"] and gap <= rules.steps_below_with_supervisor):
        return None
    d = math.hypot(c["x"] - p["x"], c["y"] - p["y"])
    if d > c["limit"]:
        return None
    if c["available"] > p["start"] + rules.availability_grace_days:
        return None
    if c["wished"] and not c["wished"] & p["type"]:
        return None
    if rules.apply_min_duration and p["duration"] < rules.min_duration_months:
        return None
    required, wanted = p["required"], p["wanted"]
    r = len(required & c["codes"]) / len(required) if required else 0.0
    w = len(wanted & c["codes"]) / len(wanted) if wanted else 0.0
    if required and wanted:
        competence = (1 - WANTED_SHARE) * r + WANTED_SHARE * w
    else:
        competence = r if required else (w if wanted else 1.0)
    distance = max(0.0, min(1.0, 1 - d / c["limit"])) if c["limit"] > 0 else float(d <= 0)
    ladder = 1.0 if gap <= 0 else max(0.0, 1 - gap / (rules.steps_below_with_supervisor + 1))
    cap = time_far_cap_months(policy)
    time_far = min(max(c["months"], 0), cap) / cap
    group = min(c["groups"], PRIORITY_GROUP_SATURATION) / PRIORITY_GROUP_SATURATION
    norm = float((c["gender"] == 0 and p["women_under"]) or (c["gender"] == 1 and p["men_under"]))
    type_fit = ANY_TYPE_FIT if not c["wished"] else float(bool(c["wished"] & p["type"]))
    hours_fit = max(0.0, 1 - abs(p["hours"] - c["hours"]) / HOURS_TOLERANCE)
    values = {"competence": competence, "distance": distance, "ladder": ladder, "time_far": time_far,
              "priority_group": group, "gender_norm": norm, "wishes": 0.5 * type_fit + 0.5 * hours_fit}
    return sum(getattr(policy.weights, t) * values[t] for t in TERMS)


def baseline_shortlist(
    records: list[dict[str, Any]], place: dict[str, Any], policy: Policy, k: int
) -> list[tuple[float, int]]:
    """Top ``k`` (score, position) by a loop over ``records`` (open proposals held back)."""
    scored = []
    for i, c in enumerate(records):
        if i in place["open_here"] or c["open"] > 0:
            continue
        score = baseline_score(c, place, policy)
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
    every = baseline_records(pool)
    records = [every[i] for i in positions.tolist()]
    per_candidate: list[float] = []
    max_diff = 0.0
    for p in picked[: min(10, len(picked))]:
        place = baseline_place(places, p, pool.reference_day)
        t0 = time.perf_counter()
        baseline_shortlist(records, place, policy, k)
        per_candidate.append((time.perf_counter() - t0) / take)
        # Same numbers as the vectorised score on the sample's eligible candidates.
        check = place_eligibility(pool, places, p, policy).eligible[positions]
        total, _ = score_pairs(pool, places, positions[check], p, policy)
        loop = [baseline_score(records[j], place, policy) for j in np.flatnonzero(check).tolist()]
        if loop:
            max_diff = max(max_diff, float(np.max(np.abs(total - np.asarray(loop)))))
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
    report = {
        "benchmark": "shortlist",
        "command": " ".join(["python benchmarks/bench_shortlist.py",
                             *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__, "platform": platform.platform()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
