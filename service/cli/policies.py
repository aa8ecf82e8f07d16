"""``platsa policies``: list the shipped policies, show one, or check a procurement against one."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from scoring.domain import ProcurementType
from scoring.policy import builtin_policy_ids, load_policy, procurement_qualifies
from service.cli.common import EXIT_OK, EXIT_PROBLEMS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "policies",
        help="list, show or apply municipal policies",
        description=(
            "Policies are TOML files (docs/policies.md). POLICY is a shipped id (see 'platsa policies "
            "list') or the path of your own file."
        ),
    )
    psub = p.add_subparsers(dest="policies_command", metavar="ACTION", required=True)
    ls = psub.add_parser("list", help="list the shipped policies")
    ls.set_defaults(func=run_list)
    show = psub.add_parser("show", help="print a policy, validated, as JSON")
    show.add_argument("policy", metavar="POLICY")
    show.set_defaults(func=run_show)
    q = psub.add_parser("qualifies", help="does a procurement qualify for an employment requirement?")
    q.add_argument("policy", metavar="POLICY")
    q.add_argument("--type", required=True, choices=[t.value for t in ProcurementType], dest="ptype")
    q.add_argument("--start", required=True, type=dt.date.fromisoformat, help="contract start, YYYY-MM-DD")
    q.add_argument("--end", required=True, type=dt.date.fromisoformat, help="contract end, YYYY-MM-DD")
    q.add_argument("--staff", required=True, type=int, help="employees the assignment needs")
    q.add_argument("--value", type=int, default=0, help="contract value in SEK")
    q.add_argument("--local", action=argparse.BooleanOptionalAction, default=True,
                   help="executed within the municipality (default yes)")
    q.set_defaults(func=run_qualifies)


def run_list(args: argparse.Namespace) -> int:
    for pid in builtin_policy_ids():
        policy = load_policy(pid)
        print(f"{pid:16} {policy.name} (region {policy.region})")
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    json.dump(policy.model_dump(mode="json"), sys.stdout, ensure_ascii=False, indent=2)
    print()
    return EXIT_OK


def run_qualifies(args: argparse.Namespace) -> int:
    verdict = procurement_qualifies(
        load_policy(args.policy),
        procurement_type=args.ptype,
        contract_start=args.start,
        contract_end=args.end,
        staff_needed=args.staff,
        value_sek=args.value,
        executed_locally=args.local,
    )
    print(verdict.describe())
    return EXIT_OK if verdict.qualifies else EXIT_PROBLEMS
