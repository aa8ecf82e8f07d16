"""Benchmark: an allocation round from a region folder, stage by stage, and its edge generation.

For each size, a seeded fixture region is generated and written as Parquet (not timed), then each
variant runs in its own child process, so that peak memory (``ru_maxrss`` measured inside the child)
belongs to that run alone:

``new``
    ``scoring.allocation`` as it is: load the region and build the pool, find the round's graph
    (``_eligible_edges``), then the rest of ``run_round`` (scores, planned total, solve, explanations).
``old`` (``--baseline``)
    The same, with the graph found place by place as before the screen (every hard rule of each
    place over the whole pool, every eligible pair scored, ``argpartition``): the same-run baseline.

Both variants must find the same graph (the table says so: ``same``). Seconds are wall clock, with
the child's CPU seconds beside the edges; peak RSS is the child's high-water mark after each stage.
Prints a table and writes ``benchmarks/results/round_build.json``.

Usage::

    python benchmarks/bench_round_build.py --sizes medium large --baseline
    python benchmarks/bench_round_build.py --sizes county --no-solve
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import peak_mib, write_results  # benchmarks/_common.py

RESULTS = Path(__file__).parent / "results" / "round_build.json"


def _child(folder: str, variant: str, solve: bool) -> None:
    """Run inside the child: load, find the graph, solve; report one JSON line on stdout."""
    from scoring import allocation
    from scoring.allocation import RoundParams, pair_keys, run_round
    from scoring.policy import load_policy
    from scoring.pool import build_pool
    from scoring.region import load_region

    row: dict[str, Any] = {"variant": variant, "imported_mib": peak_mib()}
    start = time.perf_counter()
    region = load_region(folder)
    policy = load_policy(region.manifest.policy)
    pool, places = build_pool(region, policy)
    loaded = time.perf_counter()
    row.update(candidates=pool.size, places=places.size, load_s=round(loaded - start, 3),
               load_peak_mib=peak_mib())

    params = RoundParams()
    cpu = time.process_time()
    if variant == "old":
        # The round's graph as it was found before the screen (commit 56fae6c): the tests' oracle,
        # from the checkout whose scoring runs (`platsa bench perf` runs a copy of benchmarks/ alone).
        import scoring

        sys.path.insert(0, str(Path(scoring.__file__).resolve().parents[1]))
        from tests.scoring.oracles import edges_place_by_place

        edges = edges_place_by_place(pool, places, policy, params, keep_eligible=False)
    else:
        edges = allocation._eligible_edges(pool, places, policy, params, None)
    found = time.perf_counter()
    cand, plc, graph = edges
    graph = {k: v for k, v in graph.items() if not k.startswith("_")}
    keys = np.sort(pair_keys(cand, plc, places.size))
    row.update(edges_s=round(found - loaded, 3), edges_cpu_s=round(time.process_time() - cpu, 3),
               edges_peak_mib=peak_mib(), num_eligible=graph["num_eligible"], num_edges=len(cand),
               edges_sha1=hashlib.sha1(keys.tobytes()).hexdigest(), graph=graph)

    if solve:
        # The rest of run_round on the graph just found (build_round would find it again).
        allocation._eligible_edges = lambda *_args: edges
        result = run_round(pool, places, policy, params)
        solved = time.perf_counter()
        row.update(solve_s=round(solved - found, 3), solve_peak_mib=peak_mib(), status=result.status,
                   num_assigned=result.num_assigned, objective=result.objective,
                   round_timings={k: round(v, 3) for k, v in result.timings.items() if k != "edges"})
    row["total_s"] = round(time.perf_counter() - start, 3)
    row["peak_mib"] = peak_mib()
    print(json.dumps(row))


def _run_child(folder: str, variant: str, solve: bool) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", folder, variant, "solve" if solve else "-"],
                         check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _load_average() -> float:
    return round(os.getloadavg()[0], 2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["medium", "large"])
    parser.add_argument("--region", default="gothenburg")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline", action="store_true",
                        help="also run the place-by-place graph of before (slow: about 30 s on large)")
    parser.add_argument("--no-solve", dest="solve", action="store_false",
                        help="stop after the graph (no scores, planned total, solve or explanations)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        folder, variant, solve = args.child
        _child(folder, variant, solve == "solve")
        return

    from fixtures import generate_region
    from scoring.region import write_region

    rows: list[dict[str, Any]] = []
    variants = ["new", "old"] if args.baseline else ["new"]
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            write_region(generate_region(args.region, size, seed=args.seed), folder, fmt="parquet")
            for variant in variants:
                load = _load_average()
                row = _run_child(folder, variant, args.solve)
                rows.append({"region": args.region, "size": size, "seed": args.seed, "load_average": load,
                             **row})

    print(f"{'size':<8}{'variant':<8}{'load s':>8}{'edges s':>9}{'edges cpu s':>12}{'solve s':>9}"
          f"{'total s':>9}{'RSS load':>10}{'RSS edges':>11}{'RSS solve':>11}{'pairs':>10}{'same':>6}"
          f"{'load avg':>10}")
    by_size: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_size.setdefault(r["size"], {})[r["variant"]] = r
    for size, runs in by_size.items():
        for variant, r in runs.items():
            same = "" if "old" not in runs else (
                "yes" if r["edges_sha1"] == runs["old"]["edges_sha1"] else "NO")
            solve_s = f"{r['solve_s']:>9.2f}" if "solve_s" in r else f"{'-':>9}"
            solve_mib = f"{r['solve_peak_mib']:>11.0f}" if "solve_peak_mib" in r else f"{'-':>11}"
            print(f"{size:<8}{variant:<8}{r['load_s']:>8.2f}{r['edges_s']:>9.2f}{r['edges_cpu_s']:>12.2f}"
                  f"{solve_s}{r['total_s']:>9.2f}{r['load_peak_mib']:>10.0f}{r['edges_peak_mib']:>11.0f}"
                  f"{solve_mib}{r['num_edges']:>10,}{same:>6}{r['load_average']:>10.2f}")
        if "old" in runs:
            new, old = runs["new"], runs["old"]
            print(f"{size:<8}old/new  edges {old['edges_s'] / new['edges_s']:.1f}x "
                  f"(CPU {old['edges_cpu_s'] / new['edges_cpu_s']:.1f}x), "
                  f"total {old['total_s'] / new['total_s']:.1f}x")
    write_results(args.out, __file__, {"results": rows}, argv=argv)


if __name__ == "__main__":
    main()
