"""``platsa validate DIR``: check a region folder and report every problem at once."""

from __future__ import annotations

import argparse
import json
import sys

from scoring.region import validate_region
from service.cli import EXIT_OK, EXIT_PROBLEMS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "validate",
        help="check a region folder (CSV or Parquet) and list every problem",
        description=(
            "Read every table of a region folder, check each value against the data format "
            "(docs/data-format.md) and the references between tables, and list every problem with its "
            "file, row, column and value. Exits 0 when the folder is valid, 1 when it is not."
        ),
    )
    p.add_argument("folder", metavar="DIR", help="the region folder (with region.toml)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    region, problems = validate_region(args.folder)
    if args.json:
        report = {
            "valid": region is not None,
            "counts": region.counts() if region is not None else None,
            "problems": [
                {"file": p.file, "row": p.row, "column": p.column, "value": p.value, "reason": p.reason}
                for p in problems
            ],
        }
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return EXIT_OK if region is not None else EXIT_PROBLEMS
    if region is None:
        print(f"{args.folder}: {len(problems)} problem(s), nothing loaded", file=sys.stderr)
        for problem in problems:
            print(f"  {problem.describe()}", file=sys.stderr)
        return EXIT_PROBLEMS
    counts = ", ".join(f"{n:,} {name}" for name, n in region.counts().items())
    print(f"{args.folder}: valid ({region.manifest.region}, policy {region.manifest.policy}): {counts}")
    return EXIT_OK
