"""``platsa plan``: before procuring, estimate places, the yearly target and the socio-economic effect."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path

from scoring.planning import PlanAssumptions, PlannedProcurement, plan
from scoring.policy import load_policy
from service.cli.common import EXIT_OK, EXIT_PROBLEMS, policy_dirs

#: The CSV's columns; ``requirement_type`` and ``required_places`` may be left out (hard / 0).
COLUMNS = (
    "procurement_id",
    "title",
    "procurement_type",
    "contract_start",
    "contract_end",
    "value_sek",
    "executed_locally",
    "staff_needed",
    "requirement_type",
    "required_places",
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "plan",
        help="before procuring: places, yearly target and socio-economic effect of planned procurements",
        description=(
            "Estimate, for a list of planned procurements (CSV with columns " + ", ".join(COLUMNS) + "), "
            "whether each qualifies under the policy, the places its requirement gives per year, the "
            "yearly target and the socio-economic effect, gross and net of displacement, with every "
            "assumption printed. Definitions: docs/follow-up.md, 'Planning'."
        ),
    )
    p.add_argument("procurements", metavar="CSV", help="the planned procurements")
    p.add_argument("--policy", default="gothenburg", help="policy id or TOML file (default gothenburg)")
    p.add_argument(
        "--social-assistance-share",
        type=float,
        default=0.5,
        help="share of the people placed who live on social assistance (default 0.5)",
    )
    p.add_argument(
        "--activity-support-share",
        type=float,
        default=0.3,
        help="share who live on activity support (default 0.3)",
    )
    p.set_defaults(func=run)


def _read(path: Path) -> tuple[list[PlannedProcurement], list[str]]:
    problems: list[str] = []
    rows: list[PlannedProcurement] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS[:8] if c not in (reader.fieldnames or [])]
        if missing:
            return [], [f"{path.name}: missing column(s) {', '.join(missing)}"]
        for n, raw in enumerate(reader, start=1):
            row_problems: list[str] = []

            def get(
                column: str,
                parse: type | object,
                raw: dict[str, str] = raw,
                n: int = n,
                row_problems: list[str] = row_problems,
            ) -> object:
                value = (raw.get(column) or "").strip()
                try:
                    if parse is dt.date:
                        return dt.date.fromisoformat(value)
                    if parse is bool:
                        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                            raise ValueError(value)
                        return value.lower() in ("true", "1", "yes")
                    if parse is int:
                        return int(value)
                    return value
                except ValueError:
                    row_problems.append(
                        f"{path.name}, row {n}, column {column!r} (value {value!r}): "
                        f"not a {getattr(parse, '__name__', parse)}"
                    )
                    return None

            values = {
                c: get(c, t)
                for c, t in (
                    ("procurement_id", str),
                    ("title", str),
                    ("procurement_type", str),
                    ("contract_start", dt.date),
                    ("contract_end", dt.date),
                    ("value_sek", int),
                    ("executed_locally", bool),
                    ("staff_needed", int),
                )
            }
            values["requirement_type"] = (raw.get("requirement_type") or "hard").strip() or "hard"
            places = (raw.get("required_places") or "0").strip() or "0"
            try:
                values["required_places"] = int(places)
            except ValueError:
                row_problems.append(
                    f"{path.name}, row {n}, column 'required_places' (value {places!r}): not an int"
                )
            problems += row_problems
            if not row_problems:
                rows.append(PlannedProcurement(**values))  # type: ignore[arg-type]
    return rows, problems


def run(args: argparse.Namespace) -> int:
    path = Path(args.procurements)
    if not path.is_file():
        print(f"platsa plan: {path} is not a file", file=sys.stderr)
        return EXIT_PROBLEMS
    policy = load_policy(args.policy, search_dirs=policy_dirs())
    planned, problems = _read(path)
    if not problems:
        try:
            result = plan(
                planned, policy, PlanAssumptions(args.social_assistance_share, args.activity_support_share)
            )
        except ValueError as exc:
            problems = str(exc).split("; ")
    if problems:
        print(f"platsa plan: {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(
        f"Plan under policy {policy.id}: {len(planned)} planned procurement(s), "
        f"{result.total_places} place(s)"
    )
    print()
    print(
        f"  {'procurement':<14} {'qualifies':<9} {'requirement':<11} {'places':>6} "
        f"{'gross SEK':>12} {'net SEK':>12}"
    )
    for row in result.procurements:
        print(
            f"  {row['procurement_id']!s:<14} {'yes' if row['qualifies'] else 'no':<9} "
            f"{row['requirement_type']!s:<11} {row['places']!s:>6} "
            f"{row['gross_sek']:>12,.0f} {row['net_sek']:>12,.0f}"
        )
    print()
    print("  year  companies  places  target  target met     gross SEK      net SEK")
    for y in result.years:
        met = "n/a" if y["target_met"] is None else ("yes" if y["target_met"] else "no")
        print(
            f"  {y['year']}  {y['companies_with_requirement']:>9}  {y['places']:>6}  "
            f"{y['target_places']:>6g}  "
            f"{met:>10}  {y['gross_sek']:>12,.0f} {y['net_sek']:>12,.0f}"
        )
    print()
    print(f"  total: gross {result.gross_sek:,.0f} SEK, net of displacement {result.net_sek:,.0f} SEK")
    print()
    print("Assumptions")
    for text in result.assumptions:
        print(f"  - {text}")
    return EXIT_OK
