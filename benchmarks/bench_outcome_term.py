"""What the learnt ``outcome`` term costs a shortlist and a round (issue 18, item 2).

A model is fitted on a small simulated Gothenburg year (seed 7) and judged by a lenient copy of the
policy (``min_group_outcomes = 1``, ``max_group_calibration_error = 1.0``: the small year has too few
outcomes for the shipped rules; this measures speed, not the model). Then, on a generated
Gothenburg region of the size asked, the same shortlists and the same round are timed under the
policy as it is (weight 0) and with ``outcome_model.weight = 10`` bound to the model, in one run, and
the ratio is printed. Run::

    python benchmarks/bench_outcome_term.py --size medium --places 20

Results go to ``benchmarks/results/outcome_term.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from fixtures import generate_region
from fixtures.outcomes import simulate_person_outcomes
from fixtures.simulate import simulate_year
from scoring.allocation import RoundParams, run_round
from scoring.outcome_model import fit_outcome_model
from scoring.policy import Policy, load_policy
from scoring.pool import build_pool
from scoring.shortlist import shortlist

RESULTS = Path(__file__).parent / "results" / "outcome_term.json"


def _rules(policy: Policy, **update: object) -> Policy:
    return policy.model_copy(update={"outcome_model": policy.outcome_model.model_copy(update=update)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="medium")
    parser.add_argument("--places", type=int, default=20, help="shortlists timed")
    parser.add_argument("--weight", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS.name})")
    args = parser.parse_args()

    small = simulate_year(generate_region("gothenburg", "small", seed=7), seed=7, year=2026)
    lenient = _rules(load_policy("gothenburg"), max_group_calibration_error=1.0, min_group_outcomes=1)
    pool, places = build_pool(small, lenient)
    model, _ = fit_outcome_model(pool, places, simulate_person_outcomes(small, seed=7), lenient,
                                 region="gothenburg")
    weighted = lenient.model_copy(update={"outcome_model": lenient.outcome_model.model_copy(
        update={"weight": args.weight, "model": model.version}).bound_to(model)})

    region = generate_region("gothenburg", args.size, seed=7)
    pool, places = build_pool(region, lenient)
    rng = np.random.default_rng(0)
    picked = rng.choice(places.size, min(args.places, places.size), replace=False)
    chosen = [str(places.ids[p]) for p in picked]
    figures: dict[str, dict[str, float]] = {}
    for name, policy in (("weight 0", lenient), (f"weight {args.weight:g}", weighted)):
        t0 = time.perf_counter()
        for place_id in chosen:
            shortlist(pool, places, place_id, k=20, policy=policy)
        t1 = time.perf_counter()
        result = run_round(pool, places, policy, RoundParams())
        t2 = time.perf_counter()
        figures[name] = {"shortlists_s": t1 - t0, "round_s": t2 - t1, "assigned": float(result.num_assigned)}
    base, term = figures["weight 0"], figures[f"weight {args.weight:g}"]
    out = {
        "size": args.size, "candidates": pool.size, "places": places.size, "shortlists": len(chosen),
        "figures": figures,
        "ratio_shortlists": term["shortlists_s"] / base["shortlists_s"],
        "ratio_round": term["round_s"] / base["round_s"],
        "load": os.getloadavg(),
    }
    print(f"{args.size}: {pool.size:,} candidates, {places.size:,} places; load {out['load'][0]:.1f}")
    print(f"{'':<12} {'shortlists (s)':>15} {'round (s)':>10} {'assigned':>9}")
    for name, f in figures.items():
        print(f"{name:<12} {f['shortlists_s']:>15.2f} {f['round_s']:>10.2f} {int(f['assigned']):>9,}")
    print(f"ratio with the term: shortlists {out['ratio_shortlists']:.2f}x, round {out['ratio_round']:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
