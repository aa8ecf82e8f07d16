"""Benchmark: a round certified over every eligible pair, beside today's pruned round and --no-prune.

For each size and seed, a seeded fixture region is generated and written as Parquet (not timed);
then each variant runs in a child process of its own, end to end from the region folder as
``platsa allocate`` runs it (load the region, build the pool, find the graph, solve, explain), so
that its peak memory (``ru_maxrss``) is its own:

``pruned``
    Today's round before pricing: ``build_round`` on the pruned graph, one solve, ``explain_round``:
    proven on the graph only (the same-run baseline).
``certified``
    ``run_round``: the same, then every eligible pair outside the graph priced against the solve's
    certificate, pairs that pay added and the round solved again until none does.
``full`` (``--full``)
    ``run_round`` with ``prune=False``: every eligible pair in the solve (medium sizes only).

Prints a table (seconds, the certified/pruned ratio, peak RSS, objectives, pricing passes and pairs
added, the proof's scope) and writes ``benchmarks/results/certified.json``.

Usage::

    python benchmarks/bench_certified.py --sizes medium --seeds 1 2 3 4 5 --full
    python benchmarks/bench_certified.py --sizes large county --seeds 7
    python benchmarks/bench_certified.py --sizes large --seeds 7 3 --time-limit 1200
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import peak_mib, write_results  # benchmarks/_common.py

RESULTS = Path(__file__).parent / "results" / "certified.json"


def _child(folder: str, variant: str, time_limit: float) -> None:
    """Run inside the child: one variant of the round from the region folder; one JSON line out."""
    import scoring.allocation as allocation
    from matching import solve
    from scoring.allocation import RoundParams, build_round, explain_round, run_round
    from scoring.policy import load_policy
    from scoring.pool import build_pool
    from scoring.region import load_region

    # CPU seconds of every solve (the keys' planned-total passes included) and of every pricing
    # pass: where the certified round's time goes beyond the pruned one's.
    stages = {"solve_cpu_s": 0.0, "solves": 0, "pricing_cpu_s": 0.0}

    def timed(name: str, real: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = time.process_time()
            try:
                return real(*args, **kwargs)
            finally:
                stages[f"{name}_cpu_s"] += time.process_time() - t0
                if name == "solve":
                    stages["solves"] += 1
        return run

    allocation.solve = timed("solve", allocation.solve)  # type: ignore[assignment]
    allocation.price_outside = timed("pricing", allocation.price_outside)  # type: ignore[assignment]
    start, cpu = time.perf_counter(), time.process_time()
    region = load_region(folder)
    policy = load_policy(region.manifest.policy)
    pool, places = build_pool(region, policy)
    if variant == "pruned":
        params = RoundParams(time_limit_s=time_limit)
        rnd = build_round(pool, places, policy, params)
        t0 = time.process_time()
        solved = solve(rnd.problem, params.solve_params())
        stages["solve_cpu_s"] += time.process_time() - t0
        stages["solves"] += 1
        result = explain_round(rnd, solved)
    else:
        result = run_round(pool, places, policy, RoundParams(prune=variant != "full",
                                                             time_limit_s=time_limit))
    cert = result.certification
    print(json.dumps({
        "variant": variant, "candidates": pool.size, "places": places.size,
        "seconds": round(time.perf_counter() - start, 3), "cpu_s": round(time.process_time() - cpu, 3),
        "peak_mib": peak_mib(), "status": result.status, "objective": result.objective,
        "num_assigned": result.num_assigned, "num_eligible": result.graph.get("num_eligible"),
        "num_edges": result.graph.get("num_edges"), "scope": cert.get("scope"),
        "certified_over": cert.get("certified_over"), "pricing_passes": cert.get("pricing_passes"),
        "pairs_added": cert.get("pairs_added"), "bound_over_eligible": cert.get("bound_over_eligible"),
        "stopped": cert.get("stopped"), "time_limit_s": time_limit,
        **{k: round(v, 3) for k, v in stages.items()},
        "timings": {k: round(v, 3) for k, v in result.timings.items() if not k.startswith("solver_")},
    }))


def _run_child(folder: str, variant: str, time_limit: float) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", folder, variant, str(time_limit)],
                         check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["medium"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--region", default="gothenburg")
    parser.add_argument("--full", action="store_true", help="also run every eligible pair (--no-prune)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--time-limit", type=float, default=120.0,
                        help="the round's wall-clock limit (RoundParams.time_limit_s); on a loaded "
                             "machine the default can stop pricing early")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], args.child[1], float(args.child[2]))
        return

    from fixtures import generate_region
    from scoring.region import write_region

    rows: list[dict[str, Any]] = []
    variants = ["pruned", "certified"] + (["full"] if args.full else [])
    print(f"{'size':<8}{'seed':>5} {'variant':<10}{'s':>8}{'cpu s':>8}{'ratio':>7}{'RSS MiB':>9}"
          f"{'objective':>15}{'passes':>7}{'added':>7}  scope     {'load':>5}", flush=True)
    for size in args.sizes:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as folder:
                write_region(generate_region(args.region, size, seed=seed), folder, fmt="parquet")
                runs: dict[str, dict[str, Any]] = {}
                for variant in variants:
                    load = round(os.getloadavg()[0], 2)
                    row = {"region": args.region, "size": size, "seed": seed, "load_average": load,
                           **_run_child(folder, variant, args.time_limit)}
                    runs[variant] = row
                    rows.append(row)
                    ratio = row["seconds"] / runs["pruned"]["seconds"]
                    print(f"{size:<8}{seed:>5} {variant:<10}{row['seconds']:>8.2f}{row['cpu_s']:>8.2f}"
                          f"{ratio:>6.2f}x{row['peak_mib']:>9.0f}{row['objective']:>15,.3f}"
                          f"{row['pricing_passes'] or 0:>7}{row['pairs_added'] or 0:>7}  "
                          f"{row['scope'] or '-':<9} {load:>5.1f}", flush=True)
    write_results(args.out, __file__, {"results": rows}, argv=argv)


if __name__ == "__main__":
    main()
