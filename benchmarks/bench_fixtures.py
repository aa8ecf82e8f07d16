"""Benchmark: generating a fixture region and writing it as Parquet, per named size.

Each size runs in its own child process, so that peak memory (``ru_maxrss`` measured inside the
child) belongs to that size alone and caches do not carry over. Prints a table and writes
``benchmarks/results/fixtures.json``.

Usage::

    python benchmarks/bench_fixtures.py --sizes small medium large county xl --region gothenburg
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write_results  # benchmarks/_common.py

RESULTS = Path(__file__).parent / "results" / "fixtures.json"


def _child(region: str, size: str, seed: int, folder: str) -> None:
    """Run inside the child: generate, write, report one JSON line on stdout."""
    start = time.perf_counter()
    from fixtures import generate_region
    from scoring.region import write_region

    imported = time.perf_counter()
    generated = generate_region(region, size, seed=seed)
    generated_at = time.perf_counter()
    paths = write_region(generated, folder, fmt="parquet")
    written = time.perf_counter()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "region": region,
                "size": size,
                "seed": seed,
                "candidates": generated.candidates.height,
                "places": generated.places.height,
                "import_s": round(imported - start, 3),
                "generate_s": round(generated_at - imported, 3),
                "write_s": round(written - generated_at, 3),
                "total_s": round(written - imported, 3),
                "parquet_bytes": sum(p.stat().st_size for p in paths),
                "candidates_bytes": (Path(folder) / "candidates.parquet").stat().st_size,
                "peak_rss_mib": round(peak_kib / 1024, 1),
            }
        )
    )


def run(region: str, size: str, seed: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        out = subprocess.run(
            [sys.executable, __file__, "--child", region, size, str(seed), folder],
            check=True,
            capture_output=True,
            text=True,
        )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "medium", "large", "county", "xl"])
    parser.add_argument("--region", default="gothenburg")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        region, size, seed, folder = args.child
        _child(region, size, int(seed), folder)
        return

    rows = [run(args.region, size, args.seed) for size in args.sizes]
    header = (
        f"{'size':<8}{'candidates':>12}{'places':>8}{'generate s':>12}{'write s':>9}{'total s':>9}"
        f"{'parquet MB':>12}{'peak RSS MiB':>14}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['size']:<8}{r['candidates']:>12,}{r['places']:>8,}{r['generate_s']:>12.2f}{r['write_s']:>9.2f}"
            f"{r['total_s']:>9.2f}{int(str(r['parquet_bytes'])) / 1e6:>12.1f}{r['peak_rss_mib']:>14.0f}"
        )
    write_results(RESULTS, __file__, {"results": rows}, argv=argv)


if __name__ == "__main__":
    main()
