"""``platsa shortlist``: a fair, explained, ranked shortlist of candidates for one place."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import time

from scoring.policy import load_policy
from scoring.pool import build_pool
from scoring.region import load_region
from scoring.shortlist import PairExplanation, Shortlist, explain_candidate, shortlist
from service.cli.common import EXIT_OK, EXIT_USAGE, add_models_argument, models_dir, policy_dirs
from service.outcome_models import bind_outcome_model

#: Short column names for the score terms in the table.
_TERM_ABBREVIATIONS = {
    "competence": "comp", "distance": "dist", "ladder": "ladder", "time_far": "time",
    "priority_group": "group", "gender_norm": "norm", "wishes": "wish", "outcome": "outc",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "shortlist",
        help="rank the best candidates for one place, fairly, with reasons",
        description=(
            "Check every candidate of the region against the place's hard rules, score the eligible "
            "ones, and list the top K, re-ranked so that each priority group with a floor in the policy "
            "is represented at every rank. Each line shows the score, the terms that make it and why the "
            "line stands where it stands. Candidates with an open proposal elsewhere or recently declined "
            "by the same supplier are held back. See docs/shortlists.md. The output holds sensitive data "
            "(priority groups): it is for the municipality's own staff."
        ),
    )
    p.add_argument("--data", required=True, metavar="DIR", help="region folder (see 'platsa validate')")
    p.add_argument("--place", required=True, metavar="ID", help="the place to propose candidates for")
    p.add_argument("-k", type=int, default=20, metavar="K", help="number of candidates (default 20)")
    p.add_argument("--policy", metavar="POLICY", help="policy id or file (default: the region's own)")
    p.add_argument("--include-held-back", action="store_true",
                   help="also list candidates held back (open proposal elsewhere, recent decline), marked")
    p.add_argument("--no-fair", action="store_true", help="rank by score only, without group minimums")
    p.add_argument("--explain", metavar="CANDIDATE",
                   help="instead of the list, say why this candidate is or is not on it: failed rules, "
                        "held-back rules, the score's terms, and rank or reason")
    p.add_argument("--json", action="store_true", help="print the shortlist (or the explanation) as JSON")
    add_models_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.k < 1:
        print(f"platsa shortlist: -k {args.k}: must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    started = time.perf_counter()
    # The region's own policy must resolve and fit, unless --policy names another (then that one
    # must load).
    dirs = policy_dirs()
    region = load_region(args.data, policy_dirs=None if args.policy else dirs)
    policy = bind_outcome_model(load_policy(args.policy or region.manifest.policy, search_dirs=dirs),
                                models_dir(args.data, args.models))
    pool, places = build_pool(region, policy)
    loaded = time.perf_counter()
    for what, wanted, known in (("place", args.place, places.index),
                                ("candidate", args.explain, pool.index)):
        if wanted is not None and wanted not in known:
            close = difflib.get_close_matches(wanted, [str(i) for i in known], n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            print(f"platsa shortlist: no {what} {wanted!r} in {args.data}{hint}; "
                  f"{len(known):,} {what}s are known", file=sys.stderr)
            return EXIT_USAGE
    if args.explain is not None:
        why = explain_candidate(pool, places, args.explain, args.place, k=args.k, policy=policy,
                                include_held_back=args.include_held_back, fair=not args.no_fair)
        if args.json:
            json.dump(why.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
            print()
        else:
            print(render_explanation(why))
        return EXIT_OK
    result = shortlist(pool, places, args.place, k=args.k, policy=policy,
                       include_held_back=args.include_held_back, fair=not args.no_fair)
    query_ms = (time.perf_counter() - loaded) * 1e3
    if args.json:
        json.dump(result.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
        print()
        return EXIT_OK
    print(render_table(result))
    print(f"\n(loaded {pool.size:,} candidates in {loaded - started:.1f} s; shortlist in {query_ms:.1f} ms)")
    return EXIT_OK


def render_table(result: Shortlist) -> str:
    """The shortlist as a plain-text table a recruiter reads in a terminal."""
    counts = result.counts
    out = [
        f"Shortlist for {result.place_id} ({result.place_title}), supplier {result.supplier_id}, "
        f"policy {result.policy_id}",
        f"the place is {result.place_state_text}",
        f"{counts.pool:,} candidates, {counts.eligible:,} eligible, {counts.held_back:,} of them held back"
        + (" (listed, marked)" if result.include_held_back else "")
        + f", {counts.considered:,} considered",
    ]
    if result.min_shares:
        shares = ", ".join(f"{name} {share:.0%}" for name, share in result.min_shares.items())
        out.append(f"group minimums at every rank: {shares}")
    elif not result.fair:
        out.append("ranked by score only (no group minimums)")
    out.append("")
    if not result.lines and result.place_state != "open":
        out.append(f"No candidate can be proposed: the place is {result.place_state_text}.")
    elif not result.lines:
        out.append("No candidate can be proposed for this place.")
    else:
        header = f"{'rank':>4}  {'candidate':<12} {'score':>6}  {'top terms':<38}  reason"
        out += [header, "-" * len(header)]
        for line in result.lines:
            terms = ", ".join(f"{_TERM_ABBREVIATIONS.get(n, n)} {p:.1f}" for n, p in line.top_terms(3))
            reason = line.reason + "".join(f"; {flag}" for flag in line.flags)
            out.append(f"{line.rank:>4}  {line.candidate_id:<12} {line.score:>6.1f}  {terms:<38}  {reason}")
    failing = {rule: n for rule, n in counts.ineligible_by_rule.items() if n}
    if failing:
        out.append("")
        out.append("not eligible, by rule: " + ", ".join(f"{rule} {n:,}" for rule, n in failing.items()))
    held = {rule: n for rule, n in counts.held_back_by_rule.items() if n}
    if held:
        out.append("held back, by rule: " + ", ".join(f"{rule} {n:,}" for rule, n in held.items()))
    for shortfall in result.shortfalls:
        out.append(f"shortfall: {shortfall}")
    return "\n".join(out)


def render_explanation(why: PairExplanation) -> str:
    """Why one candidate is, or is not, on the list: rules, score terms, standing, in words."""
    head = "eligible" if why.eligible else "not eligible"
    out = [f"{why.candidate_id} for {why.place_id}, policy {why.policy_id}: {head}"]
    out += [f"  fails {f.rule}: {f.text}" for f in why.failures]
    out += [f"  held back ({h.rule}): {h.text}" for h in why.held_back]
    out.append(f"score {why.breakdown.total:.1f}:")
    out += [f"  {t.name:<15} {t.points:>5.1f}  {t.text}" for t in why.breakdown.terms]
    if why.standing is not None:
        out.append(why.standing.text)
    return "\n".join(out)
