"""``platsa validate DIR``: check a region folder (or a zip of one) and report every problem at once.

A zip is unpacked as the HTTP import unpacks it (:class:`scoring.region.RegionUpload`), so both
refuse the same uploads with the same words.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from scoring.exceptions import Problem
from scoring.region import Region, RegionUpload, validate_region
from service.cli.common import EXIT_OK, EXIT_PROBLEMS, policy_dirs


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "validate",
        help="check a region folder (CSV or Parquet) and list every problem",
        description=(
            "Read every table of a region folder, check each value against the data format "
            "(docs/data-format.md) and the references between tables, and list every problem with its "
            "file, row, column and value, and that the policy region.toml names exists (shipped, or in "
            "PLATSA_POLICY_DIR) and fits the region's districts. A zip is checked as POST "
            "/v1/region/import checks it. Exits 0 when the region is valid, 1 when it is not."
        ),
    )
    p.add_argument("folder", metavar="DIR", help="the region folder (with region.toml), or a zip of it")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def _validate(source: Path) -> tuple[Region | None, list[Problem]]:
    dirs = policy_dirs()
    if not source.is_file() or source.suffix.lower() != ".zip":
        return validate_region(source, policy_dirs=dirs)
    with tempfile.TemporaryDirectory(prefix="platsa-validate-") as tmp:
        upload = RegionUpload(Path(tmp))
        archive = upload.open_zip(source, source.name)
        if archive is None:
            return None, upload.problems
        with archive:
            upload.add_zip(archive)
        region, problems = validate_region(upload.folder, policy_dirs=dirs)
        problems = upload.problems + problems
        return (None if problems else region), problems


def run(args: argparse.Namespace) -> int:
    region, problems = _validate(Path(args.folder))
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
