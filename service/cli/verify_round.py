"""``platsa verify-round``: re-check a stored round's certificate against the region, without the solver."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scoring.allocation import RoundParams, verify_round
from scoring.eligibility import RuleOverride
from scoring.policy import load_policy
from scoring.pool import build_pool
from scoring.region import load_region
from service.cli.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    add_models_argument,
    models_dir,
    policy_dirs,
)
from service.outcome_models import bind_outcome_model


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify-round",
        help="check, without the solver, that a round's bound holds over every eligible pair",
        description=(
            "Re-price a stored round's certificate (the prices its solve proved the bound with) against "
            "every eligible pair of the region, recomputed from the region folder, and recompute the bound "
            "from the prices, the free slots and the round's district bounds, floors and pins. No solver "
            "runs. FILE is the result file of 'platsa allocate --out' or the answer of "
            "GET /v1/rounds/{id}/certificate. Exit code 0: the bound holds; 1: it does not; 2: bad input. "
            "See docs/rounds.md, 'Verify the optimum yourself'."
        ),
    )
    p.add_argument("--data", required=True, metavar="DIR", help="the region folder the round ran on")
    p.add_argument("--round", required=True, metavar="FILE", help="the round's result file or certificate")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    add_models_argument(p)
    p.set_defaults(func=run)


def _params(stored: dict[str, Any]) -> RoundParams:
    """The round's rules as the result file (or the service's stored round) gives them."""
    params = stored.get("params") or {}
    pins = tuple((p[0], p[1]) for p in stored.get("pins") or params.get("pins") or ())
    forbidden = tuple((p[0], p[1]) for p in stored.get("removals") or params.get("forbidden") or ())
    overrides = tuple(RuleOverride(o["candidate_id"], o["place_id"], o["reason"], tuple(o.get("rules") or ()))
                      for o in params.get("overrides") or ())
    return RoundParams(
        objective=params.get("objective", "max_placed"), use_keys=bool(params.get("use_keys", True)),
        use_floors=bool(params.get("use_floors", True)),
        include_held_back=bool(params.get("include_held_back", False)),
        pins=pins, forbidden=forbidden, overrides=overrides,
    )


def run(args: argparse.Namespace) -> int:
    try:
        stored = json.loads(Path(args.round).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        print(f"platsa verify-round: cannot read {args.round}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    record = stored.get("certificate") if isinstance(stored, dict) else None
    if not isinstance(record, dict):
        print(f"platsa verify-round: {args.round} holds no certificate (a baseline method, a round that "
              "was not solved to a bound, or a file of another kind)", file=sys.stderr)
        return EXIT_USAGE
    policy_id = stored.get("policy") or stored.get("policy_id")
    dirs = policy_dirs()
    region = load_region(args.data, policy_dirs=None if policy_id else dirs)
    policy = bind_outcome_model(load_policy(policy_id or region.manifest.policy, search_dirs=dirs),
                                models_dir(args.data, args.models))
    pool, places = build_pool(region, policy)
    shown = [""]

    def progress(stage: str, fraction: float) -> None:
        if args.quiet or not sys.stderr.isatty():
            return
        line = f"\r{stage}: {fraction:4.0%}"
        if line != shown[0]:
            print(line, end="" if fraction < 1.0 else "\n", file=sys.stderr, flush=True)
            shown[0] = line

    found = verify_round(pool, places, policy, _params(stored), record, progress=progress)
    objective = stored.get("objective")
    for line in found.summary_lines(objective if isinstance(objective, int | float) else None):
        print(line)
    return EXIT_OK if found.holds else EXIT_PROBLEMS
