"""Benchmark of region-wide allocation rounds (issue 8): exact method vs a bare min-cost flow.

Random rounds of the stated shape: about 30 districts, ``k`` feasible places per candidate, 1–5
slots per place, distribution keys with a tolerance, and three overlapping priority-group floors
(two candidate-level, one pair-level) that bind. Each instance runs in its own subprocess so that
peak memory (``ru_maxrss``) is per instance; the bare OR-Tools min-cost flow on the same network
(no floors, keys as arc bounds) runs in the same subprocess for the ratio.

Usage::

    python benchmarks/bench_allocation.py --sizes 10000x1000x50 100000x10000x50
    python benchmarks/bench_allocation.py --sizes 10000x1000x50 --seed 0 1 2 3 4 5 6 7

Several seeds give several rounds of each size and a line per size with the spread (a round's
time depends on whether the fixed-count phase needs its exact model). Prints a table and writes
``benchmarks/results/allocation.json``.

``--shapes`` draws the rounds from ``tests/matching/shapes.py`` instead, the generator written
apart from the solver (issue 20, item 4): ``decimal1`` (one tight floor), ``loose3`` (three
floors, keys +-25 %), ``integer3``, ``ties3``, ``negative3`` (keys +-5 %), ``tight3`` (the
issue's 100k x 10k shape: floors 0.25 / 0.33 / 0.17, keys +-10 %) and ``infeasible`` (a floor
no assignment meets)::

    python benchmarks/bench_allocation.py --sizes 10000x1000x50 --shapes decimal1 loose3 \
        --seed 0 1 2 3 4 5 6 7 --time-limit 120
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path
from queue import Empty
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import write_results  # benchmarks/_common.py

from tests.matching.shapes import Shape
from tests.matching.shapes import make_round as make_shape_round

NUM_DISTRICTS = 30
KEY_TOLERANCE = 0.10
FLOORS = (0.24, 0.34, 0.17)  # youth, foreign-born, gender-norm breaker (pair-level)
GROUP_NAMES = ("youth", "foreign_born", "norm_breaker")


def make_round(num_candidates: int, num_places: int, k: int, seed: int = 0) -> dict[str, Any]:
    """Arrays of a random round (the keyword arguments of ``matching.build_problem``)."""
    rng = np.random.default_rng(seed)
    c, p = num_candidates, num_places
    district = rng.integers(0, NUM_DISTRICTS, c).astype(np.int32)
    slots = rng.integers(1, 6, p).astype(np.int32)
    # k distinct places per candidate: draw with replacement, drop the few duplicates.
    key = np.unique(np.repeat(np.arange(c, dtype=np.int64), k) * p + rng.integers(0, p, c * k))
    ec = (key // p).astype(np.int32)
    ep = (key % p).astype(np.int32)
    youth = rng.random(c) < 0.20
    foreign = rng.random(c) < 0.30
    breaker = rng.random(ec.size) < 0.15
    groups = (youth[ec].astype(np.uint32) | (foreign[ec].astype(np.uint32) << 1)
              | (breaker.astype(np.uint32) << 2))
    # Group pairs and some districts score lower on average, so that floors and keys bind.
    district_offset = rng.uniform(-4.0, 4.0, NUM_DISTRICTS)
    score = rng.uniform(0.0, 100.0, ec.size) + district_offset[district[ec]]
    score -= 1.5 * (youth[ec] + foreign[ec] + breaker)
    score = np.round(np.clip(score, 0.0, 100.0), 3)
    # Keys proportional to population, as absolute bounds on the round's expected placements.
    expected = min(c, int(slots.sum()))
    share = np.bincount(district, minlength=NUM_DISTRICTS) / c
    lower = np.floor(share * expected * (1 - KEY_TOLERANCE)).astype(np.int32)
    upper = np.ceil(share * expected * (1 + KEY_TOLERANCE)).astype(np.int32)
    return dict(
        num_candidates=c, num_places=p, edge_candidate=ec, edge_place=ep, edge_score=score,
        place_slots=slots, candidate_district=district, district_lower=lower,
        district_upper=upper, edge_groups=groups, group_floor=np.array(FLOORS),
        num_districts=NUM_DISTRICTS, group_names=GROUP_NAMES,
    )


SHAPES = {
    "decimal1": dict(scores="decimal", num_floors=1),
    "loose3": dict(scores="decimal", num_floors=3, key_tolerance=0.25),
    "integer3": dict(scores="integer", num_floors=3),
    "ties3": dict(scores="ties", num_floors=3),
    "negative3": dict(scores="negative", num_floors=3, key_tolerance=0.05),
    "tight3": dict(scores="decimal", num_floors=3, floor_low=0.17, floor_high=0.33),
    "infeasible": dict(scores="decimal", num_floors=2, infeasible=True),
}


def shape_round(name: str, c: int, p: int, k: int, seed: int) -> dict[str, Any]:
    """A round from the solver-independent generator (``tests/matching/shapes.py``)."""
    return make_shape_round(Shape(c, p, k, num_districts=NUM_DISTRICTS, **SHAPES[name]), seed)


def _bare_flow(arrays: dict[str, Any]) -> tuple[float, float]:
    """The same network solved by OR-Tools alone (keys as arc bounds, no floors)."""
    from ortools.graph.python import min_cost_flow

    c, p, d = arrays["num_candidates"], arrays["num_places"], arrays["num_districts"]
    ec, ep = arrays["edge_candidate"], arrays["edge_place"]
    lo, up = arrays["district_lower"].astype(np.int64), arrays["district_upper"].astype(np.int64)
    t0 = time.perf_counter()
    s, t, d0, c0 = 0, 1, 2, 2 + d
    p0 = c0 + c
    tails = np.concatenate([np.full(d, s), d0 + arrays["candidate_district"], c0 + ec,
                            p0 + np.arange(p), [s]]).astype(np.int32)
    heads = np.concatenate([d0 + np.arange(d), c0 + np.arange(c), p0 + ep, np.full(p, t),
                            [t]]).astype(np.int32)
    caps = np.concatenate([up - lo, np.ones(c), np.ones(ec.size), arrays["place_slots"],
                           [c]]).astype(np.int64)
    costs = np.concatenate([np.zeros(d + c), -np.rint(arrays["edge_score"] * 1000),
                            np.zeros(p + 1)]).astype(np.int64)
    mcf = min_cost_flow.SimpleMinCostFlow()
    mcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    supply = np.zeros(p0 + p, np.int64)
    supply[d0:d0 + d] = lo
    supply[s] = c - lo.sum()
    supply[t] = -c
    mcf.set_nodes_supplies(np.arange(p0 + p, dtype=np.int32), supply)
    status = mcf.solve()
    if status != mcf.OPTIMAL:
        raise RuntimeError(f"bare flow: {status}")
    return time.perf_counter() - t0, -mcf.optimal_cost() / 1000


def _run_instance(spec: tuple[int, int, int], seed: int, queue: Any, shape: str = "bench",
                  time_limit: float = 600.0, objective: str = "score") -> None:
    import matching

    c, p, k = spec
    arrays = make_round(c, p, k, seed) if shape == "bench" else shape_round(shape, c, p, k, seed)
    problem = matching.build_problem(**arrays)
    cpu0 = time.process_time()
    bare_s, bare_obj = _bare_flow(arrays)
    bare_cpu = time.process_time() - cpu0
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = matching.solve(problem, matching.SolveParams(time_limit_s=time_limit,
                                                          objective=objective))
    total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB on Linux
    shares = [float(x) for x in _shares(problem, result)]
    queue.put(dict(
        candidates=c, places=p, k=k, pairs=problem.num_edges, seed=seed,
        status=result.status.value, objective=result.objective, bound=result.bound,
        gap=result.gap, assigned=result.num_assigned, seconds=total, bare_flow_seconds=bare_s,
        bare_flow_objective=bare_obj, ratio=total / bare_s, peak_gib=rss,
        # CPU seconds: on a shared machine the figure the load inflates least.
        cpu_seconds=cpu, bare_flow_cpu_seconds=bare_cpu, ratio_cpu=cpu / max(bare_cpu, 1e-9),
        group_shares=shares, floors=[float(f) for f in problem.group_floor],
        timings=result.timings, shape=shape, objective_mode=objective,
        time_limit=time_limit, reasons=[r.describe(problem) for r in result.infeasibility],
        stats={k_: v for k_, v in result.stats.items()},
    ))


def _shares(problem: Any, result: Any) -> list[float]:
    g = problem.edge_groups[result.chosen_edges]
    n = max(result.num_assigned, 1)
    return [int(((g >> np.uint32(i)) & 1).sum()) / n for i in range(problem.num_groups)]


def _run_subprocess(ctx: Any, spec: tuple[int, ...], seed: int, *extra: Any) -> dict[str, Any]:
    """One instance in its own process (its own peak memory); a dead process is a failed row."""
    queue = ctx.Queue()
    proc = ctx.Process(target=_run_instance, args=(spec, seed, queue, *extra))
    proc.start()
    row = None
    while row is None:
        try:
            row = queue.get(timeout=5)
        except Empty:
            if not proc.is_alive():  # the instance died (e.g. out of memory): say so
                row = dict(size="x".join(map(str, spec)), seed=seed, failed=True,
                           exitcode=proc.exitcode)
    proc.join()
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+",
                    default=["10000x1000x50", "100000x5000x20", "100000x10000x50",
                             "300000x10000x50"],
                    help="CANDIDATESxPLACESxK")
    ap.add_argument("--seed", type=int, nargs="+", default=[0],
                    help="one or more seeds: one round per size and seed")
    ap.add_argument("--shapes", nargs="+", default=["bench"],
                    choices=["bench", *SHAPES], help="round generators (see the docstring)")
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--objective", default="score", choices=["score", "max_placed"])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "allocation.json"))
    args = ap.parse_args(argv)
    rows = []
    ctx = mp.get_context("spawn")
    for size, shape in [(s, sh) for sh in args.shapes for s in args.sizes]:
        spec = tuple(int(x) for x in size.split("x"))
        done = []
        label = size if shape == "bench" else f"{shape} {size}"
        for seed in args.seed:
            row = _run_subprocess(ctx, spec, seed, shape, args.time_limit, args.objective)
            rows.append(row)
            if row.get("failed"):
                print(f"{label:>18}  seed {seed}  FAILED (exit code {row['exitcode']})", flush=True)
                continue
            done.append(row)
            print(f"{label:>18}  seed {seed}  pairs {row['pairs']:>10,}  {row['status']:>8}  "
                  f"gap {row['gap']:.1e}  {row['seconds']:7.2f} s  "
                  f"bare flow {row['bare_flow_seconds']:6.2f} s  ratio {row['ratio']:4.2f}  "
                  f"cpu {row['cpu_seconds']:6.2f} s / {row['bare_flow_cpu_seconds']:5.2f} s "
                  f"= {row['ratio_cpu']:4.1f}  "
                  f"peak {row['peak_gib']:5.2f} GiB  exact models {row['stats'].get('mip_rounds', 0)} "
                  f"({row['stats'].get('exact_model_edges', 0):,} pairs, "
                  f"{row['stats'].get('solver_model_edges', 0):,} to the MIP solver)",
                  flush=True)
        if len(done) > 1:
            proved = all((r["status"] == "optimal" and r["gap"] == 0)
                         or (r["status"] == "infeasible" and r["reasons"]) for r in done)
            secs = sorted(r["seconds"] for r in done)
            ratios = sorted(r["ratio"] for r in done)
            cpu_ratios = sorted(r["ratio_cpu"] for r in done)
            print(f"{label:>18}  {len(done)} seeds: time median {np.median(secs):.2f} s, "
                  f"max {secs[-1]:.2f} s; ratio median {np.median(ratios):.2f}, "
                  f"max {ratios[-1]:.2f}; CPU ratio median {np.median(cpu_ratios):.2f}, "
                  f"max {cpu_ratios[-1]:.2f}; all optimal (or infeasible with a reason): "
                  f"{proved}",
                  flush=True)
    write_results(args.out, __file__, {"rows": rows}, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
