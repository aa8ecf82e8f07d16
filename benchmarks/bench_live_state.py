"""Benchmark: what the live state (free slots, open periods, required competences) costs a round.

For each size a seeded Gothenburg fixture region is generated (not timed) and the round is run in
three ways, each in its own child process so that peak memory belongs to that run alone:

``live``
    ``scoring.allocation.run_round`` as it is: only the free slots of places open today, the
    competence rule, everything (issue 13).
``off``
    The same code and region with the live state switched off after the pool is built: every place
    open with all its slots free, no required competence a hard rule (``PlaceTable.states`` and
    ``needed`` replaced). This is the round as it was before the live state: the baseline,
    measured in the same run.
``checks``
    The live state's own work, timed alone on the same pool: computing the places' states
    (``scoring.capacity.place_states``, done once per pool) and the competence rule inside the
    round's pair search (every open place's ``_CandidateGroup.eligible`` with the place's hard
    competences against the same call without them; the difference is the rule's cost).

Each round also counts its assignments beyond today's free slots of their places (``beyond``:
to a filled or closed place, or more than it has free): 0 for ``live`` on every size, and what
the round of before the live state handed out wrongly for ``off``. Prints a table and writes
``benchmarks/results/live_state.json``. The ratio that matters is the
checks' seconds against the live round's: the live round itself is usually *faster* than ``off``,
because places that are filled or closed take no pairs.

Usage::

    python benchmarks/bench_live_state.py --sizes medium large
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import peak_mib, write_results  # benchmarks/_common.py

RESULTS = Path(__file__).parent / "results" / "live_state.json"


def _all_open(places: Any) -> Any:
    """The place table with the live state switched off: every place open, every slot free, no
    required competence a hard rule."""
    from scoring.capacity import PlaceStates

    m = places.size
    zeros = np.zeros(m, dtype=np.int32)
    states = PlaceStates(slots=places.slots.copy(), hires=zeros, placements=zeros, proposals=zeros,
                         free=places.slots.copy(), overfilled=zeros,
                         opens_day=np.full(m, -(10**6), dtype=np.int32),
                         last_day=np.full(m, 10**6, dtype=np.int32), state=np.zeros(m, dtype=np.int8),
                         reference_day=places.states.reference_day, proposals_hold_slots=False,
                         lead_days=0)
    return dataclasses.replace(places, states=states, needed=np.zeros_like(places.needed))


def _checks(pool: Any, places: Any, policy: Any, region: Any) -> dict[str, float]:
    """Seconds of the live state's own work on this pool (the module docstring, ``checks``)."""
    from scoring import allocation
    from scoring.capacity import place_states

    started = time.perf_counter()
    place_states(region.places, region.proposals, region.placements,
                 reference_date=region.manifest.reference_date, policy=policy)
    states_s = time.perf_counter() - started

    rules = policy.eligibility
    admits_from = places.lowest_step.astype(np.int64) - np.where(
        places.supervisor, rules.steps_below_with_supervisor, 0)
    deadline = (np.maximum(places.start_day.astype(np.int64), pool.reference_day)
                + rules.availability_grace_days)
    admitted = ~pool.placed & (pool.open_proposals == 0)
    open_places = np.flatnonzero(places.states.is_open)
    keys, group_of = np.unique(np.stack([places.placement_type[open_places].astype(np.int64),
                                         admits_from[open_places]], axis=1), axis=0, return_inverse=True)
    without = dataclasses.replace(places, needed=np.zeros_like(places.needed))
    timed = {"with": 0.0, "without": 0.0}
    for g, (placement_type, lowest) in enumerate(keys.tolist()):
        members = open_places[group_of.ravel() == g].tolist()
        for name, table in (("without", without), ("with", places)):
            group = allocation._CandidateGroup(pool, table, policy, admitted, placement_type=placement_type,
                                               admits_from=lowest)
            group.eligible(members[0], int(deadline[members[0]]), np.zeros(0, dtype=np.int64))  # warm
            started = time.perf_counter()
            for p in members:
                group.eligible(p, int(deadline[p]), places.open_at(p))
            timed[name] += time.perf_counter() - started
    return {"place_states_s": round(states_s, 4),
            "competence_rule_s": round(max(timed["with"] - timed["without"], 0.0), 4),
            "pair_search_with_s": round(timed["with"], 4),
            "pair_search_without_s": round(timed["without"], 4)}


def _child(folder: str, variant: str) -> None:
    """Run inside the child: load, build the pool, run the round (or time the checks); one JSON line."""
    from scoring.allocation import run_round
    from scoring.policy import load_policy
    from scoring.pool import build_pool
    from scoring.region import load_region

    row: dict[str, Any] = {"variant": variant}
    region = load_region(folder)
    policy = load_policy(region.manifest.policy)
    started = time.perf_counter()
    pool, places = build_pool(region, policy)
    row["pool_s"] = round(time.perf_counter() - started, 3)
    if variant == "checks":
        row.update(_checks(pool, places, policy, region))
    else:
        live = places  # today's free slots, to count what a round hands out beyond them
        if variant == "off":
            places = _all_open(places)
        started = time.perf_counter()
        result = run_round(pool, places, policy)
        round_s = time.perf_counter() - started
        taken = result.assignments.group_by("place_id").len()
        at = np.array([live.index[p] for p in taken["place_id"].to_list()], dtype=np.int64)
        over = np.maximum(taken["len"].to_numpy() - live.free_slots[at], 0)
        row["to_filled_or_closed"] = int(over.sum())  # assignments beyond today's free slots
        row.update(round_s=round(round_s, 3), status=result.status,
                   num_assigned=result.num_assigned, num_edges=result.graph["num_edges"],
                   num_eligible=result.graph["num_eligible"], places_open=int(places.states.is_open.sum()),
                   timings={k: round(v, 3) for k, v in result.timings.items()})
    row["peak_mib"] = peak_mib()
    print(json.dumps(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["medium", "large"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    import tempfile

    from fixtures import generate_region
    from scoring.region import write_region

    rows = []
    print(f"{'size':8} {'variant':8} {'round s':>8} {'pairs':>10} {'open places':>11} {'placed':>7} "
          f"{'beyond':>7} {'states s':>9} {'competence s':>12} {'peak MiB':>9}")
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="platsa-live-") as tmp:
            write_region(generate_region("gothenburg", size, seed=args.seed), tmp)
            for variant in ("live", "off", "checks"):
                out = subprocess.run([sys.executable, __file__, "--child", tmp, variant], check=True,
                                     capture_output=True, text=True, env={**os.environ}).stdout
                row = {"size": size, **json.loads(out.strip().splitlines()[-1])}
                rows.append(row)
                print(f"{size:8} {variant:8} {row.get('round_s', ''):>8} {row.get('num_edges', ''):>10} "
                      f"{row.get('places_open', ''):>11} {row.get('num_assigned', ''):>7} "
                      f"{row.get('to_filled_or_closed', ''):>7} "
                      f"{row.get('place_states_s', ''):>9} {row.get('competence_rule_s', ''):>12} "
                      f"{row['peak_mib']:>9}")
        live = next(r for r in rows if r["size"] == size and r["variant"] == "live")
        off = next(r for r in rows if r["size"] == size and r["variant"] == "off")
        checks = next(r for r in rows if r["size"] == size and r["variant"] == "checks")
        cost = checks["place_states_s"] + checks["competence_rule_s"]
        print(f"{size:8} checks {cost:.3f} s = {cost / live['round_s']:.1%} of the live round "
              f"({live['round_s']:.2f} s; off: {off['round_s']:.2f} s)")
    write_results(args.out, __file__, {"results": rows})


if __name__ == "__main__":
    main()
