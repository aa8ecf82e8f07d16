"""Backtest of the dynamic mode (issue 18, item 4): a simulated year replayed in its real order.

For each fixture region and seed: generate the region, simulate a year of history
(:func:`fixtures.simulate.simulate_year`) and its recorded person outcomes
(:func:`fixtures.outcomes.simulate_person_outcomes`), fit the outcome model on them, and build the
year's round (:func:`scoring.allocation.build_round`, objective score: the eligible pairs, the
policy's keys as numbers of people over the year and its floors). The arrivals are the round's
candidates on the day they are first available, in weekly batches. Each policy places them:

- ``hindsight``: every arrival known at once, placed exactly (the yardstick);
- ``greedy``: each arrival, in order, to its best-scored open place (upper keys held);
- ``batch``: each weekly batch placed exactly on its own scores (no prices), the year's upper keys
  held after every batch, lower keys and floors enforced in the final batch;
- ``dynamic``: the dynamic mode (:func:`matching.run_dynamic`, k futures from a 26-week look-back,
  the number still to arrive known, as in Ahani et al.'s main experiments);
- ``dynamic_rate``: the same, the number still to arrive estimated from the look-back's rate;
- ``known_future``: the dynamic mode with the true future (a reference no real run can have).

with the pair scores either ``hand`` (the policy's hand-weighted score) or ``learnt`` (100 × the
outcome model's probability). Every placement is judged by the *true* probability of the pair
(:func:`fixtures.outcomes.truth_terms`), which no policy sees: ``true_in_work`` is the expected
number in work or studies at 180 days. It is reported as a fraction of the same score's hindsight
optimum (``true_vs_hindsight``) and of the truth's own hindsight optimum (``true_vs_oracle``: the
year placed knowing the true probabilities), beside the score's own fraction
(``score_vs_hindsight``, what the optimiser achieves on what it optimises).

Usage (from the repository root)::

    python benchmarks/bench_backtest.py                       # the committed figures
    python benchmarks/bench_backtest.py --seeds 1 --regions gothenburg --no-timing   # quick

``platsa bench backtest`` runs this script with the same options.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import command, machine, write_results
from fixtures import generate_region
from fixtures.outcomes import simulate_person_outcomes, truth_terms
from fixtures.simulate import simulate_year
from matching import (
    AllocationProblem,
    DynamicParams,
    YearSoFar,
    hindsight,
    place_batch,
    run_dynamic,
    run_online_greedy,
    sample_futures,
    year_violations,
)
from scoring.allocation import RoundParams, build_round
from scoring.dynamic import arrival_batches, with_scores
from scoring.outcome_model import fit_outcome_model
from scoring.policy import load_policy
from scoring.pool import build_pool

SCRIPT = "bench_backtest.py"
RESULTS = Path(__file__).resolve().parent / "results"
POLICIES = ("hindsight", "greedy", "batch", "dynamic", "dynamic_rate", "known_future")


def _replay(problem: AllocationProblem, ab: np.ndarray, order: np.ndarray, policy: str, k: int,
            seed: int) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    cnt = np.bincount(ab[ab >= 0])
    remaining = (cnt[::-1].cumsum()[::-1] - cnt).astype(np.float64)
    if policy == "hindsight":
        edges = hindsight(problem, ab)[1]
    elif policy == "greedy":
        edges = run_online_greedy(problem, order)
    elif policy == "batch":
        edges = run_dynamic(problem, ab, DynamicParams(pricing=False)).placed_edges
    elif policy == "dynamic":
        edges = run_dynamic(problem, ab, DynamicParams(k=k, seed=seed),
                            expected_remaining=remaining).placed_edges
    elif policy == "dynamic_rate":
        edges = run_dynamic(problem, ab, DynamicParams(k=k, seed=seed)).placed_edges
    else:
        edges = run_dynamic(problem, ab, DynamicParams(future="known")).placed_edges
    return np.asarray(edges, np.int64), time.perf_counter() - t0


def _fairness(problem: AllocationProblem, edges: np.ndarray, group_ids: tuple[str, ...]
              ) -> dict[str, Any]:
    n = max(int(edges.size), 1)
    bits = problem.edge_groups[edges]
    shares = {g: float(((bits >> np.uint32(i)) & 1).sum()) / n for i, g in enumerate(group_ids)}
    per_d = np.bincount(problem.candidate_district[problem.edge_candidate[edges]],
                        minlength=problem.num_districts)
    within = int(((per_d >= problem.district_lower) & (per_d <= problem.district_upper)).sum())
    floors_met = int(sum(shares[g] >= float(problem.group_floor[i]) - 1e-12
                         for i, g in enumerate(group_ids)))
    return {"group_share": shares, "floors_met": floors_met, "num_floors": len(group_ids),
            "districts_within": within, "num_districts": int(problem.num_districts),
            "violations": len(year_violations(problem, edges))}


def run_one(region_name: str, size: str, seed: int, k: int,
            orders: tuple[str, ...] = ("real",)) -> list[dict[str, Any]]:
    region = generate_region(region_name, size, seed=seed)
    policy = load_policy(region.manifest.policy)
    history = simulate_year(region, seed=seed, year=2026)
    outcomes = simulate_person_outcomes(history, seed=seed)
    hpool, hplaces = build_pool(history, policy)
    model, _ = fit_outcome_model(hpool, hplaces, outcomes, policy, region=region_name)
    pool, places = build_pool(region, policy)
    rnd = build_round(pool, places, policy, RoundParams(objective="score"))
    base = rnd.problem
    truth = truth_terms(region, pool, places, base.edge_candidate, base.edge_place, seed=seed,
                        policy=policy).probability
    learnt = model.predict(pool, places, base.edge_candidate, base.edge_place, policy)
    rows = []
    for arrival_order in orders:
        rows += _replay_year(region_name, size, seed, k, arrival_order, pool, base, truth, learnt,
                             rnd.group_ids)
    return rows


def _replay_year(region_name: str, size: str, seed: int, k: int, arrival_order: str, pool: Any,
                 base: AllocationProblem, truth: np.ndarray, learnt: np.ndarray,
                 group_ids: tuple[str, ...]) -> list[dict[str, Any]]:
    has_pair = np.zeros(pool.size, bool)
    has_pair[base.edge_candidate] = True
    ab = np.where(has_pair, arrival_batches(pool.available_day), -1)
    ab = np.where(ab >= 0, ab - ab[ab >= 0].min(), -1).astype(np.int64)
    order = np.lexsort((np.arange(pool.size), pool.available_day))
    order = order[ab[order] >= 0]
    if arrival_order == "shuffled":
        # The same weekly batch sizes, filled with the arrivals in a seeded random order:
        # arrivals exchangeable over the year (Ahani et al.'s stationary setting).
        order = np.random.default_rng([seed, 99]).permutation(order)
        sizes = np.bincount(ab[ab >= 0])
        ab = np.full(pool.size, -1, np.int64)
        ab[order] = np.repeat(np.arange(sizes.size), sizes)
    oracle_edges = hindsight(with_scores(base, 100 * truth), ab)[1]
    oracle = float(truth[oracle_edges].sum())
    rows = []
    for score_name, problem in (("hand", base), ("learnt", with_scores(base, 100 * learnt))):
        best_edges = hindsight(problem, ab)[1]
        best_score = float(problem.edge_score[best_edges].sum())
        best_true = float(truth[best_edges].sum())
        for name in POLICIES:
            edges, seconds = _replay(problem, ab, order, name, k, seed)
            true_in_work = float(truth[edges].sum())
            rows.append({
                "region": region_name, "size": size, "seed": seed, "order": arrival_order,
                "score": score_name,
                "policy": name, "arrivals": int((ab >= 0).sum()),
                "batches": int(ab.max()) + 1, "slots": int(base.place_slots.sum()),
                "placed": int(edges.size), "score_total": float(problem.edge_score[edges].sum()),
                "score_vs_hindsight": float(problem.edge_score[edges].sum()) / best_score,
                "true_in_work": true_in_work, "true_vs_hindsight": true_in_work / best_true,
                "true_vs_oracle": true_in_work / oracle, "seconds": seconds,
                **_fairness(problem, edges, group_ids),
            })
            print(f"{region_name:11} seed {seed} {arrival_order:8} {score_name:6} {name:13} "
                  f"placed {edges.size:4} "
                  f"score {rows[-1]['score_vs_hindsight']:.3f} true/hind "
                  f"{rows[-1]['true_vs_hindsight']:.3f} true/oracle {rows[-1]['true_vs_oracle']:.3f} "
                  f"({seconds:.1f} s)", flush=True)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, min and max over seeds per (region, score, policy); the learnt model's gain."""
    out: dict[str, Any] = {"by_policy": [], "learnt_gain": []}
    keys = sorted({(r["order"], r["region"], r["score"], r["policy"]) for r in rows},
                  key=lambda t: (t[0] != "real", t[1], t[2], POLICIES.index(t[3])))
    for order, region, score, policy in keys:
        sel = [r for r in rows
               if (r["order"], r["region"], r["score"], r["policy"]) == (order, region, score, policy)]
        entry: dict[str, Any] = {"order": order, "region": region, "score": score,
                                 "policy": policy, "seeds": len(sel)}
        for metric in ("score_vs_hindsight", "true_vs_hindsight", "true_vs_oracle", "placed",
                       "floors_met", "districts_within", "seconds"):
            vals = [float(r[metric]) for r in sel]
            entry[metric] = {"mean": statistics.fmean(vals), "min": min(vals), "max": max(vals)}
        out["by_policy"].append(entry)
    for order, region in sorted({(r["order"], r["region"]) for r in rows},
                                key=lambda t: (t[0] != "real", t[1])):
        for policy in POLICIES:
            gains = []
            for seed in sorted({r["seed"] for r in rows if r["region"] == region}):
                got = {r["score"]: r["true_in_work"] for r in rows
                       if (r["order"], r["region"], r["seed"], r["policy"])
                       == (order, region, seed, policy)}
                if "hand" in got and "learnt" in got:
                    gains.append(got["learnt"] / got["hand"] - 1.0)
            if gains:
                out["learnt_gain"].append({
                    "order": order, "region": region, "policy": policy, "seeds": len(gains),
                    "mean": statistics.fmean(gains), "min": min(gains), "max": max(gains),
                    "sd": statistics.stdev(gains) if len(gains) > 1 else 0.0})
    return out


def batch_timing(size: str, seed: int, batch: int, k: int) -> dict[str, Any]:
    """One weekly batch of ``batch`` arrivals over a ``size`` region, priced (k LPs) and placed.

    The year's template is the region's round (built once; its time is reported apart). The batch
    is ``batch`` of the round's candidates, the look-back 26 weeks of ``batch`` arrivals each (other
    candidates of the round), and 26 more such weeks are expected: each future is ``max_future``
    (2,000) draws from the look-back standing for the 13,000 expected arrivals. Nothing is placed
    yet (the whole year's slots are open: the largest LPs). Timed: pricing and placing the batch.
    """
    load_before = machine()["load"]
    region = generate_region("gothenburg", size, seed=seed)
    policy = load_policy(region.manifest.policy)
    pool, places = build_pool(region, policy)
    t0 = time.perf_counter()
    rnd = build_round(pool, places, policy, RoundParams(objective="score"))
    build_s = time.perf_counter() - t0
    problem = rnd.problem
    cands = np.unique(problem.edge_candidate)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(cands, size=min(cands.size, 27 * batch), replace=False)
    now, past = chosen[:batch], chosen[batch:]
    params = DynamicParams(k=k, seed=seed)
    t1, c1 = time.perf_counter(), time.process_time()
    futures = sample_futures(problem.num_candidates, past, 26.0 * batch, params, rng)
    done = place_batch(problem, YearSoFar.empty(problem), now, futures, params, final=False)
    total, cpu = time.perf_counter() - t1, time.process_time() - c1
    return {"size": size, "seed": seed, "candidates": int(problem.num_candidates),
            "places": int(problem.num_places), "edges": int(problem.num_edges),
            "batch_arrivals": int(now.size), "lookback": int(past.size), "k": k,
            "round_build_s": build_s, "prices_s": done.seconds_prices,
            "place_s": done.seconds_place, "batch_s": total, "batch_cpu_s": cpu,
            "max_future": params.max_future, "placed": int(done.placed_edges.size),
            "load_before": load_before, "load_after": machine()["load"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--regions", default="gothenburg,ostersund,sodertalje")
    ap.add_argument("--size", default="small")
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--orders", default="real,shuffled",
                    help="arrival orders: real (availability dates), shuffled (same batch sizes, "
                         "random order)")
    ap.add_argument("--no-timing", action="store_true", help="skip the 500-arrival batch timing")
    ap.add_argument("--timing-only", action="store_true",
                    help="only the 500-arrival batch timing, into --timing-out")
    ap.add_argument("--timing-out", type=Path, default=RESULTS / "backtest-timing.json")
    ap.add_argument("--timing-size", default="large")
    ap.add_argument("--timing-batch", type=int, default=500)
    ap.add_argument("--out", type=Path, default=RESULTS / "backtest.json")
    ap.add_argument("--no-charts", action="store_true")
    args = ap.parse_args(argv)
    regions = [r for r in args.regions.split(",") if r]
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        ap.error(f"--seeds {args.seeds!r}: expected whole numbers, comma-separated")
    orders = tuple(o for o in args.orders.split(",") if o)
    if not set(orders) <= {"real", "shuffled"}:
        ap.error(f"--orders {args.orders!r}: real and/or shuffled")
    started = time.perf_counter()
    if args.timing_only:
        timing = batch_timing(args.timing_size, 7, args.timing_batch, args.k)
        print(f"timing: {timing['batch_arrivals']} arrivals over {timing['candidates']:,} candidates: "
              f"priced {timing['prices_s']:.2f} s + placed {timing['place_s']:.2f} s = "
              f"{timing['batch_s']:.2f} s wall, {timing['batch_cpu_s']:.2f} s CPU")
        write_results(args.timing_out, SCRIPT, {
            "batch_timing": timing, "seconds": time.perf_counter() - started,
            "command": command(SCRIPT, argv if argv is not None else sys.argv[1:]),
            "machine": machine()})
        return 0
    rows: list[dict[str, Any]] = []
    partial = args.out.with_suffix(".partial.jsonl")
    partial.unlink(missing_ok=True)
    for region in regions:
        for seed in seeds:
            got = run_one(region, args.size, seed, args.k, orders)
            rows += got
            with partial.open("a", encoding="utf-8") as fh:  # kept should a long run be cut short
                fh.writelines(json.dumps(r) + "\n" for r in got)
    summary = summarise(rows)
    payload: dict[str, Any] = {"size": args.size, "regions": regions, "seeds": seeds, "k": args.k,
                               "summary": summary, "rows": rows}
    if not args.no_timing:
        timing = batch_timing(args.timing_size, 7, args.timing_batch, args.k)
        payload["batch_timing"] = timing
        print(f"timing: {timing['batch_arrivals']} arrivals over {timing['candidates']:,} candidates: "
              f"priced {timing['prices_s']:.2f} s + placed {timing['place_s']:.2f} s = "
              f"{timing['batch_s']:.2f} s")
    payload["seconds"] = time.perf_counter() - started
    payload["command"] = command(SCRIPT, argv if argv is not None else sys.argv[1:])
    payload["machine"] = machine()
    write_results(args.out, SCRIPT, payload)
    partial.unlink(missing_ok=True)
    if not args.no_charts:
        _charts(summary, args.out.with_suffix(""))
    _print_table(summary)
    return 0


def _print_table(summary: dict[str, Any]) -> None:
    print(f"\n{'order':8} {'region':11} {'score':6} {'policy':13} {'score/hind':>18} {'true/hind':>18} "
          f"{'true/oracle':>18} {'floors':>6} {'keys':>5}")
    def f(e: dict[str, Any], m: str) -> str:
        v = e[m]
        return f"{v['mean']:.3f} [{v['min']:.3f},{v['max']:.3f}]"

    for e in summary["by_policy"]:
        print(f"{e['order']:8} {e['region']:11} {e['score']:6} {e['policy']:13} "
              f"{f(e, 'score_vs_hindsight'):>18} "
              f"{f(e, 'true_vs_hindsight'):>18} {f(e, 'true_vs_oracle'):>18} "
              f"{e['floors_met']['mean']:6.2f} {e['districts_within']['mean']:5.1f}")
    print("\nlearnt over hand (true in work): region policy mean [min, max]")
    for g in summary["learnt_gain"]:
        print(f"{g['order']:8} {g['region']:11} {g['policy']:13} {g['mean']:+.3f} "
              f"[{g['min']:+.3f}, {g['max']:+.3f}]")


def _charts(summary: dict[str, Any], stem: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for order, metric, title in (
            (o, m, t) for o in ("real", "shuffled")
            for m, t in (("true_vs_oracle", "true in work / truth's hindsight optimum"),
                         ("score_vs_hindsight", "score / same score's hindsight optimum"))):
        entries = [e for e in summary["by_policy"] if e["order"] == order]
        if not entries:
            continue
        labels = sorted({(e["region"], e["score"]) for e in entries})
        fig, ax = plt.subplots(figsize=(10, 4.5))
        width = 0.8 / len(POLICIES)
        for i, policy in enumerate(POLICIES):
            means, lo, hi = [], [], []
            for lab in labels:
                e = next(x for x in entries if (x["region"], x["score"], x["policy"]) == (*lab, policy))
                v = e[metric]
                means.append(v["mean"])
                lo.append(v["mean"] - v["min"])
                hi.append(v["max"] - v["mean"])
            xs = np.arange(len(labels)) + i * width
            ax.bar(xs, means, width, yerr=[lo, hi], capsize=2, label=policy)
        ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2)
        ax.set_xticklabels([f"{r}\n{s}" for r, s in labels], fontsize=8)
        ax.set_ylim(0.6, 1.05)
        ax.set_title(f"{title}, {order} arrival order (mean, min-max over seeds)", fontsize=9)
        ax.legend(fontsize=7, ncol=3)
        fig.tight_layout()
        path = Path(f"{stem}-{order}-{metric}.svg")
        fig.savefig(path)
        plt.close(fig)
        print(f"chart -> {path}")


if __name__ == "__main__":
    raise SystemExit(main())
