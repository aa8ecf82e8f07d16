"""``platsa demo``: a guided tour of Platsa on a generated region, in one command.

It generates a region, validates it, says which procurements qualify for an employment requirement
and why, asks for one fair, explained shortlist, runs an optimal allocation round, and prints the
commands to go further. Nothing leaves the machine; the region is written to ``--out``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from scoring.allocation import RoundParams, run_round
from scoring.policy import load_policy, procurement_qualifies
from scoring.pool import build_pool
from scoring.region import load_region, write_region
from scoring.shortlist import shortlist
from service.cli.common import EXIT_OK
from service.cli.shortlist import render_table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from fixtures import REGIONS

    p = sub.add_parser(
        "demo",
        help="a guided tour on a generated region (start here)",
        description=(
            "Generate a synthetic region, then show a procurement check, a fair shortlist and an "
            "optimal allocation round on it, with the commands to go further."
        ),
    )
    p.add_argument("--region", choices=sorted(REGIONS), default="gothenburg", help="which municipality")
    p.add_argument("--size", default="small", help="named size (default small: 1,000 candidates)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--out", default="platsa-demo", metavar="DIR", help="where to write the region")
    p.set_defaults(func=run)


def _heading(text: str) -> None:
    print()
    print(text)
    print("=" * len(text))


def run(args: argparse.Namespace) -> int:
    from fixtures import generate_region

    _heading(f"1. A synthetic region: {args.region}, size {args.size}, seed {args.seed}")
    started = time.perf_counter()
    write_region(generate_region(args.region, args.size, seed=args.seed), args.out)
    region = load_region(args.out)  # validated on the way in, as any imported region is
    counts = ", ".join(f"{n:,} {name}" for name, n in region.counts().items())
    print(f"wrote and validated {args.out}/ in {time.perf_counter() - started:.1f} s: {counts}")
    policy = load_policy(region.manifest.policy)
    print(f"policy: {policy.name} ({policy.id}); reference date {region.manifest.reference_date}")

    _heading("2. Which procurements qualify for an employment requirement?")
    verdicts = []
    for row in region.procurements.iter_rows(named=True):
        verdict = procurement_qualifies(
            policy,
            procurement_type=row["procurement_type"],
            contract_start=row["contract_start"],
            contract_end=row["contract_end"],
            staff_needed=row["staff_needed"],
            value_sek=row["value_sek"],
            executed_locally=row["executed_locally"],
        )
        verdicts.append((row, verdict))
    qualifying = [v for v in verdicts if v[1].qualifies]
    print(f"{len(qualifying)} of {len(verdicts)} procurements qualify under {policy.id}; for example:")
    # Two that qualify and two that do not, so both kinds of answer show.
    shown = qualifying[:2] + [v for v in verdicts if not v[1].qualifies][:2]
    for row, verdict in shown:
        requirement = {"none": "no requirement", "dialogue": "dialogue requirement",
                       "hard": f"hard requirement, {row['required_places']} places"}[row["requirement_type"]]
        print(f"{row['procurement_id']} {row['title']!r} ({requirement}):")
        print(f"  {verdict.describe()}")

    _heading("3. A fair, explained shortlist for one place")
    pool, places = build_pool(region, policy)
    # The open place with the most free slots makes the liveliest example; ties go to the first.
    place_id = str(places.ids[int(np.argmax(places.free_slots))])
    started = time.perf_counter()
    result = shortlist(pool, places, place_id, k=10, policy=policy)
    elapsed = (time.perf_counter() - started) * 1000
    print(render_table(result))
    print(f"(shortlist in {elapsed:.1f} ms over {pool.size:,} candidates)")

    _heading("4. An optimal allocation round over the whole region")
    round_result = run_round(pool, places, policy, RoundParams())
    for line in round_result.summary_lines():
        print(line)
    districts = round_result.districts
    print(f"districts within their distribution-key bounds: {int(districts['within'].sum())} of "
          f"{districts.height}")
    for row in round_result.groups.iter_rows(named=True):
        share = f"{row['share']:.1%}"
        print(f"  {row['group']:14} floor {row['floor']:.0%}, placed {row['assigned']:>4} ({share})")
    if round_result.unassigned.height:
        first = round_result.unassigned.row(0, named=True)
        print(f"why {first['candidate_id']} got no place: {first['explanation']}")

    _heading("Next")
    print(f"  platsa shortlist --data {args.out} --place {place_id} -k 20 --json")
    print(f"  platsa allocate --data {args.out} --out round.json --export-mps round.mps")
    print(f"  platsa report --data {args.out} --simulate-year --out {args.out}-report")
    print("  platsa serve --demo        # the HTTP service, with one API key per role")
    print("  docs/: rounds.md, shortlists.md, scoring.md, policies.md, data-format.md, glossary.md")
    return EXIT_OK
