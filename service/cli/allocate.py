"""``platsa allocate``: run a region-wide allocation round and write its result file."""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import numpy as np

from scoring.allocation import RoundParams, RoundResult, export_round_mps, run_round
from scoring.dynamic import DynamicRoundParams, run_dynamic_round
from scoring.eligibility import OVERRIDABLE_RULES, RuleOverride
from scoring.exceptions import Problem, RoundSetupError
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

#: The round's defaults, stated once (scoring.allocation.RoundParams); the options show them.
DEFAULTS = RoundParams()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "allocate",
        help="run a region-wide allocation round (optimal, explained)",
        description=(
            "Assign the region's candidates to its open places: each candidate at most one place, "
            "each place at most its slots, each district within the policy's distribution key, each "
            "priority group at least its floor, pins kept and forbidden pairs avoided. The result is "
            "provably optimal over every eligible pair (status, objective, bound, gap and what the proof "
            "covers are reported; the eligible pairs the round's graph left out are priced against the "
            "solve's certificate) and explained: every assignment's score terms and every unassigned "
            "candidate's reason. Ctrl-C stops it with the best assignment so far. See docs/rounds.md."
        ),
    )
    p.add_argument("--data", required=True, metavar="DIR", help="region folder (see 'platsa validate')")
    p.add_argument("--policy", metavar="POLICY", help="policy id or file (default: the region's own)")
    p.add_argument("--out", metavar="FILE", help="write the result as JSON to FILE")
    p.add_argument("--objective", choices=("max-placed", "score"),
                   default=DEFAULTS.objective.replace("_", "-"),
                   help="max-placed: as many people as possible, then the best score (default); "
                        "score: the best total score")
    p.add_argument("--method", choices=("optimal", "greedy", "serial-dictatorship", "deferred-acceptance"),
                   default=DEFAULTS.method.replace("_", "-"),
                   help="the exact optimum (default) or a baseline for comparison")
    p.add_argument("--mode", choices=("round", "dynamic"), default="round",
                   help="round: one batch, every candidate at once (default); dynamic: the candidates "
                        "as arrivals in batches, each placed with prices from sampled futures, keys "
                        "and floors over the year (docs/allocation.md, 'Dynamic mode')")
    p.add_argument("--batch", default="weekly", metavar="weekly|import",
                   help="dynamic mode: weekly batches by the day each candidate is available "
                        "(default), or one batch for this import")
    p.add_argument("--batch-days", type=int, default=7, metavar="DAYS",
                   help="dynamic mode: days per weekly batch (default 7)")
    p.add_argument("-k", "--futures", type=int, default=5, metavar="K",
                   help="dynamic mode: sampled futures per batch (default 5)")
    p.add_argument("--lookback-days", type=int, default=183, metavar="DAYS",
                   help="dynamic mode: the futures are drawn from arrivals of the last DAYS (183)")
    p.add_argument("--expected-arrivals", type=int, default=0, metavar="N",
                   help="dynamic mode, --batch import: arrivals expected after this import over the "
                        "rest of the year (default 0: the year ends with it)")
    p.add_argument("--no-keys", action="store_true", help="ignore the distribution keys")
    p.add_argument("--no-floors", action="store_true", help="ignore the priority-group floors")
    p.add_argument("--penalise", action="store_true",
                   help="when keys or floors cannot be met, solve with penalised, reported violations")
    p.add_argument("--pin", action="append", default=[], metavar="CANDIDATE:PLACE",
                   help="keep this pair (an agreed placement); it must pass every hard rule unless "
                        "--override says otherwise; repeatable")
    p.add_argument("--override", action="append", default=[], metavar="CANDIDATE:PLACE[:RULES]=REASON",
                   help="keep a pinned pair although it breaks hard rules of the person's fit to the place "
                        f"(RULES: comma-separated, of {', '.join(OVERRIDABLE_RULES)}; none named: every one "
                        "it breaks), for REASON, which the result file shows; repeatable")
    p.add_argument("--forbid", action="append", default=[], metavar="CANDIDATE:PLACE",
                   help="never choose this pair; repeatable")
    p.add_argument("--include-held-back", action="store_true",
                   help="also consider candidates with an open proposal elsewhere or recently declined")
    p.add_argument("--no-prune", action="store_true",
                   help="solve with every eligible pair in the graph itself (small regions)")
    p.add_argument("--time-limit", type=float, default=DEFAULTS.time_limit_s, metavar="SECONDS",
                   help="time limit of the round's solves and pricing passes together (default: "
                        f"{DEFAULTS.time_limit_s:g})")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the random baseline")
    p.add_argument("--export-mps", metavar="FILE",
                   help="also write the model the result was proven on as MPS, for any MIP solver "
                        "(its optimum is the round's objective; docs/rounds.md)")
    p.add_argument("--json", action="store_true", help="print the result JSON instead of the summary")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    add_models_argument(p)
    p.set_defaults(func=run)


#: Exit code of a round stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130


def _pairs(values: list[str], flag: str) -> tuple[list[tuple[str, str]], list[str]]:
    pairs, errors = [], []
    for value in values:
        cid, sep, pid = value.partition(":")
        if not sep or not cid or not pid:
            errors.append(f"{flag} {value!r}: expected CANDIDATE:PLACE")
        else:
            pairs.append((cid, pid))
    return pairs, errors


def _overrides(values: list[str]) -> tuple[list[RuleOverride], list[str]]:
    out, errors = [], []
    for value in values:
        pair, sep, reason = value.partition("=")
        parts = pair.split(":")
        if not sep or not reason.strip() or len(parts) not in (2, 3) or not all(parts[:2]):
            errors.append(f"--override {value!r}: expected CANDIDATE:PLACE[:RULE,RULE]=REASON")
            continue
        rules = tuple(r.strip() for r in parts[2].split(",") if r.strip()) if len(parts) == 3 else ()
        unknown = [r for r in rules if r not in OVERRIDABLE_RULES]
        if unknown:
            errors.append(f"--override {value!r}: {', '.join(unknown)} cannot be overridden "
                          f"(rules that can: {', '.join(OVERRIDABLE_RULES)})")
            continue
        out.append(RuleOverride(parts[0], parts[1], reason.strip(), rules))
    return out, errors


class _Progress:
    """A one-line progress display on standard error (only where it is a terminal, or verbose)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.perf_counter()
        self.last = ""

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        line = f"\r{stage}: {fraction:4.0%}  ({time.perf_counter() - self.started:5.1f} s)"
        if line != self.last:
            print(line, end="", file=sys.stderr, flush=True)
            self.last = line
        if fraction >= 1.0:
            print(file=sys.stderr)
            self.last = ""

    def finish(self) -> None:
        """End a line left open (a stage stopped before 100 %)."""
        if self.enabled and self.last:
            print(file=sys.stderr)
            self.last = ""


class _CtrlC:
    """While running: the first Ctrl-C asks the round to stop (the best assignment so far, with its
    gap), a second one interrupts at once. The handler is the command's (it owns the process)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        print("\nstopping: Ctrl-C again to interrupt at once", file=sys.stderr, flush=True)

    def __enter__(self) -> threading.Event:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self.event

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _cancelled_text(result: RoundResult) -> str:
    """What a round stopped by Ctrl-C has to show."""
    if result.num_assigned == 0 and result.status in ("unknown", "infeasible"):
        return ("cancelled: the round was stopped before any assignment meeting its rules was found; "
                "nothing to show")
    gap = "unknown" if np.isnan(result.gap) or np.isinf(result.gap) else f"{result.gap:.2%}"
    return (f"cancelled: the round was stopped; the best assignment found is shown ({result.status}, "
            f"gap {gap} over {result.certification.get('scope', 'graph')} pairs)")


def run(args: argparse.Namespace) -> int:
    pins, errors = _pairs(args.pin, "--pin")
    forbidden, more = _pairs(args.forbid, "--forbid")
    errors += more
    overrides, more = _overrides(args.override)
    errors += more
    if errors:
        for error in errors:
            print(f"platsa allocate: {error}", file=sys.stderr)
        return EXIT_USAGE
    progress = _Progress(enabled=not args.quiet and not args.json and (sys.stderr.isatty() or args.verbose))
    progress("loading the region", 0.0)
    # The region's own policy must resolve and fit, unless --policy names another (then that one
    # must load).
    dirs = policy_dirs()
    region = load_region(args.data, policy_dirs=None if args.policy else dirs)
    policy = bind_outcome_model(load_policy(args.policy or region.manifest.policy, search_dirs=dirs),
                                models_dir(args.data, args.models))
    pool, places = build_pool(region, policy)
    progress("loading the region", 1.0)
    params = RoundParams(
        objective="max_placed" if args.objective == "max-placed" else "score",
        method=args.method.replace("-", "_"),
        use_keys=not args.no_keys,
        use_floors=not args.no_floors,
        on_infeasible="penalise" if args.penalise else "report",
        pins=tuple(pins),
        overrides=tuple(overrides),
        forbidden=tuple(forbidden),
        include_held_back=args.include_held_back,
        prune=not args.no_prune,
        time_limit_s=args.time_limit,
        seed=args.seed,
    )
    if args.mode == "dynamic":
        return _run_dynamic(args, region, policy, pool, places, params)
    with _CtrlC() as interrupted:
        explained = run_round(pool, places, policy, params, progress=progress, should_stop=interrupted.is_set)
    if interrupted.is_set():
        progress.finish()
        print(_cancelled_text(explained), file=sys.stderr)
    if args.export_mps and explained.round is not None:
        columns = export_round_mps(explained.round, args.export_mps, explained)
        print(f"wrote {args.export_mps}: {columns:,} binary columns (the model the result was proven on)",
              file=sys.stderr)

    payload: dict[str, Any] = {
        "region": region.manifest.region,
        "policy": policy.id,
        "params": {
            "objective": params.objective, "method": params.method, "use_keys": params.use_keys,
            "use_floors": params.use_floors, "on_infeasible": params.on_infeasible,
            "include_held_back": params.include_held_back, "prune": params.prune,
            "pins": [list(p) for p in params.pins], "forbidden": [list(p) for p in params.forbidden],
            "overrides": [{"candidate_id": o.candidate_id, "place_id": o.place_id, "reason": o.reason,
                           "rules": list(o.rules)} for o in params.overrides],
        },
        **explained.to_dict(),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if args.json:
        json.dump(payload, sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        _print_summary(explained, args.out)
    if interrupted.is_set():
        return EXIT_INTERRUPTED
    return EXIT_PROBLEMS if explained.status == "infeasible" else EXIT_OK


def _run_dynamic(args: argparse.Namespace, region: Any, policy: Any, pool: Any, places: Any,
                 params: RoundParams) -> int:
    """``--mode dynamic``: the round's candidates placed as arrivals in batches."""
    dyn = DynamicRoundParams(batch=args.batch, batch_days=args.batch_days, k=args.futures,
                             lookback_days=args.lookback_days,
                             expected_arrivals=args.expected_arrivals, seed=args.seed)
    problems = dyn.problems()
    if args.method != "optimal":
        problems.append(Problem("dynamic", None, "method", args.method,
                                "the dynamic mode places each batch exactly (method optimal)"))
    if args.pin or args.override or args.export_mps:
        problems.append(Problem("dynamic", None, "pin/override/export-mps", None,
                                "not available in the dynamic mode"))
    if problems:
        for problem in problems:
            print(f"platsa allocate: --{(problem.column or '').replace('_', '-')} {problem.value}: "
                  f"{problem.reason}", file=sys.stderr)
        return EXIT_USAGE
    params = dataclasses.replace(params, objective="score")
    try:
        result = run_dynamic_round(pool, places, policy, params, dyn)
    except RoundSetupError as exc:
        for problem in exc.problems:
            print(f"platsa allocate: {problem.describe()}", file=sys.stderr)
        return EXIT_USAGE
    payload = {"region": region.manifest.region, "policy": policy.id,
               "params": {"mode": "dynamic", "batch": dyn.batch, "batch_days": dyn.batch_days,
                          "k": dyn.k, "lookback_days": dyn.lookback_days,
                          "expected_arrivals": dyn.expected_arrivals, "seed": dyn.seed,
                          "use_keys": params.use_keys, "use_floors": params.use_floors},
               **result.to_dict()}
    if args.out:
        Path(args.out).write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n",
                                  encoding="utf-8")
    if args.json:
        json.dump(payload, sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        for line in result.summary_lines():
            print(line)
        print(f"{'batch':>6} {'arrivals':>9} {'placed':>7} {'place price':>12}")
        for row in result.batches.iter_rows(named=True):
            print(f"{row['batch']:>6} {row['arrivals']:>9} {row['placed']:>7} "
                  f"{row['mean_place_price']:>12.3f}")
        if args.out:
            print(f"result written to {args.out}")
    return EXIT_PROBLEMS if result.run.infeasibility else EXIT_OK


def _print_summary(result: Any, out: str | None) -> None:
    for line in result.summary_lines():
        print(line)
    print()
    print(f"{'district':24} {'key':>6} {'bounds':>11} {'placed':>7} {'share':>7}  ok")
    for row in result.districts.iter_rows(named=True):
        key = "" if row["key_share"] is None else f"{row['key_share']:.0%}"
        bounds = f"{row['lower']}..{row['upper']}"
        ok = "yes" if row["within"] else "NO"
        share = f"{row['share']:.1%}"
        print(f"{row['district_id']:24} {key:>6} {bounds:>11} {row['assigned']:>7} {share:>7}  {ok}")
    print()
    print(f"{'group':24} {'floor':>6} {'placed':>7} {'share':>7}  ok")
    for row in result.groups.iter_rows(named=True):
        ok = "yes" if row["met"] else "NO"
        print(f"{row['group']:24} {row['floor']:>6.0%} {row['assigned']:>7} {row['share']:>7.1%}  {ok}")
    print()
    reasons = result.unassigned.group_by("reason").len().sort("len", descending=True)
    if reasons.height:
        print("unassigned candidates with a place in reach, by reason:")
        for row in reasons.iter_rows(named=True):
            print(f"  {row['reason']:30} {row['len']:>7,}")
    timings = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items() if not k.startswith("solver_"))
    graph = result.graph
    print(f"graph: {graph['num_edges']:,} pairs kept of {graph['num_eligible']:,} eligible")
    print(f"timings: {timings}")
    if out:
        print(f"result written to {out}")
