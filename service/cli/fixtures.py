"""``platsa fixtures generate``: write a seeded synthetic region."""

from __future__ import annotations

import argparse
import time

from scoring.region import write_region
from service.cli.common import EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from fixtures import REGIONS, SIZES

    p = sub.add_parser("fixtures", help="generate synthetic regions for demos, tests and benchmarks")
    fsub = p.add_subparsers(dest="fixtures_command", metavar="ACTION", required=True)
    g = fsub.add_parser(
        "generate",
        help="write a seeded synthetic region to a folder",
        description=(
            "Generate a realistic synthetic region (districts, occupations, suppliers, procurements, "
            "places, candidates, proposals) and write it as Parquet or CSV. The same region, size and "
            "seed always give byte-identical files."
        ),
    )
    g.add_argument("--region", required=True, choices=sorted(REGIONS), help="which municipality")
    sizes = ", ".join(f"{name} ({s.num_candidates:,} candidates)" for name, s in SIZES.items())
    g.add_argument("--size", required=True, choices=list(SIZES), help=f"named size: {sizes}")
    g.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    g.add_argument("--out", required=True, metavar="DIR", help="folder to write (created if missing)")
    g.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="file format")
    g.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from fixtures import generate_region

    started = time.perf_counter()
    region = generate_region(args.region, args.size, seed=args.seed)
    write_region(region, args.out, fmt=args.format)
    counts = ", ".join(f"{n:,} {name}" for name, n in region.counts().items())
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f} s: {counts}")
    return EXIT_OK
