"""``platsa report``: the year's follow-up — key figures, requirement status, socio-economic estimate."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys

from scoring.exceptions import ScoringError
from scoring.followup import ROLES, build_report
from scoring.policy import load_policy
from scoring.region import load_region
from scoring.reports import FORMATS, LANGUAGES, render_text, write_report
from service.cli.common import EXIT_OK, EXIT_USAGE, policy_dirs


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="follow-up of a year: requirement status, key figures, socio-economic estimate",
        description=(
            "Follow up a region's year: whether each procurement's employment requirement was met "
            "(met, partly met, not met, with evidence and possible breaches), the key figures per "
            "priority group, district, supplier and placement type, the yearly target, the "
            "anti-creaming figure, and the socio-economic estimate with its assumptions. Prints a "
            "readable summary and writes CSV, XLSX and a PNG chart with --out. Definitions: "
            "docs/follow-up.md."
        ),
    )
    p.add_argument("--data", required=True, metavar="DIR", help="the region folder (with region.toml)")
    p.add_argument("--policy", help="policy id or TOML file (default: the region's policy)")
    p.add_argument("--year", type=int,
                   help="calendar year to follow up (default: the region's reference year); a year the "
                        "data do not cover is refused")
    p.add_argument("--as-of", type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                   help="read the data as of this day (default: the year's last day, or the data's last "
                        "day if earlier)")
    p.add_argument("--role", choices=ROLES, default="coordinator",
                   help="whose view: coordinator (all), orderer, "
                        "researcher (aggregates, small cells suppressed)")
    p.add_argument("--out", metavar="DIR", help="write the report's files to this folder")
    p.add_argument("--format", default=",".join(FORMATS), metavar="LIST",
                   help=f"comma-separated file formats from {', '.join(FORMATS)} (default: all)")
    p.add_argument("--language", choices=LANGUAGES, default="en",
                   help="the workbook's headers, sheet names and the chart's labels: en or sv (default en)")
    p.add_argument("--simulate-year", action="store_true",
                   help="first simulate a year of proposals, answers and placements (demo data)")
    p.add_argument("--seed", type=int, default=7, help="seed of the simulation (default 7)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        print(f"platsa report: unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}",
              file=sys.stderr)
        return EXIT_USAGE
    # The region's own policy must resolve and fit, unless --policy names another (then that one
    # must load).
    dirs = policy_dirs()
    region = load_region(args.data, policy_dirs=None if args.policy else dirs)
    policy = load_policy(args.policy or region.manifest.policy, search_dirs=dirs)
    year = args.year or region.manifest.reference_date.year
    if args.simulate_year:
        from fixtures.simulate import simulate_year  # demo data only: the service may use fixtures here

        try:
            region = simulate_year(region, seed=args.seed, year=year)
        except ValueError as exc:
            raise ScoringError(str(exc)) from None
        # A simulated year is data through its last day: the region's own reference date is earlier.
        through = max(region.manifest.reference_date, dt.date(year, 12, 31))
        region = dataclasses.replace(
            region, manifest=dataclasses.replace(region.manifest, reference_date=through))
        print(f"simulated {year} (seed {args.seed}): {region.proposals.height:,} proposals, "
              f"{region.placements.height:,} placements in the data")
    report = build_report(region, policy, year=year, as_of=args.as_of)
    sys.stdout.write(render_text(report, role=args.role))
    if args.out:
        paths = write_report(report, args.out, formats, role=args.role, language=args.language)
        print(f"\nwrote {len(paths)} file(s) to {args.out}: {', '.join(p.name for p in paths)}")
    return EXIT_OK
