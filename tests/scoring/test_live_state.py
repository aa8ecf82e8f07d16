"""Rounds, shortlists and pins against the region as it is today, over generated histories.

Properties (hypothesis) over regions the fixture generator draws for other seeds, reference dates
and capacity policies than the tests elsewhere use: every history is consistent, no round assignment
or shortlist line exceeds a place's free slots or falls outside its open period, and no pin breaks a
hard rule without an override that covers it. Then a count, per region and fixture size: rounds give
no assignment to a filled or closed place.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures import REGIONS, generate_region
from scoring.allocation import RoundParams, build_round, check_round_inputs, run_round
from scoring.capacity import place_states
from scoring.eligibility import OVERRIDABLE_RULES, RuleOverride, eligible_pairs, explain_failures
from scoring.policy import Policy, load_policy, parse_policy
from scoring.pool import build_pool
from scoring.region import Region
from scoring.shortlist import shortlist

_HISTORIES = settings(max_examples=12, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.too_slow])


@st.composite
def _histories(draw: st.DrawFn) -> tuple[Region, Policy]:
    region = draw(st.sampled_from(sorted(REGIONS)))
    seed = draw(st.integers(0, 10_000))
    ref = dt.date(2026, 9, 1) + dt.timedelta(days=draw(st.integers(-400, 400)))
    generated = generate_region(region, "small", seed=seed, reference_date=ref)
    data = load_policy(generated.manifest.policy).model_dump(mode="json")
    data["capacity"] = {"open_days_before_start": draw(st.integers(0, 200)),
                        "open_proposals_hold_slots": draw(st.booleans())}
    return generated, parse_policy(data)


def _assigned_per_place(assignments: pl.DataFrame, place_ids: list[str]) -> np.ndarray:
    counts = dict(assignments.group_by("place_id").len().iter_rows())
    return np.array([counts.get(p, 0) for p in place_ids])


@_HISTORIES
@given(_histories())
def test_generated_histories_are_consistent(history: tuple[Region, Policy]) -> None:
    region, _policy = history
    ref = region.manifest.reference_date
    # The generator plays its story out with the region's own policy; any policy's reading of
    # the history finds no place holding more than its slots.
    states = place_states(region.places, region.proposals, region.placements, reference_date=ref,
                          policy=load_policy(region.manifest.policy))
    assert int(states.overfilled.sum()) == 0
    taken = region.placements.join(region.places.select("place_id", "start_date", "slots"), on="place_id")
    assert taken.filter(pl.col("started_on") < pl.col("start_date")).height == 0  # none before its place
    assert taken.filter(pl.col("started_on") > ref).height == 0
    ever = taken.group_by("place_id").agg(pl.len(), pl.col("slots").first())
    assert ever.filter(pl.col("len") > pl.col("slots")).height == 0  # none beyond its slots
    open_now = region.proposals.filter(pl.col("status").is_in(["open", "viewed", "interview", "internship"]))
    assert open_now["candidate_id"].is_unique().all()  # one open proposal per candidate
    placed = set(region.candidates.filter("placed")["candidate_id"])
    assert not placed & set(open_now.filter(pl.col("status") != "internship")["candidate_id"])
    lead = load_policy(region.manifest.policy).capacity.open_days_before_start
    made = region.proposals.join(region.places.select("place_id", "start_date"), on="place_id")
    early = made.filter(pl.col("created_on") < pl.col("start_date") - pl.duration(days=lead))
    assert early.height == 0  # proposed while the place was open


@_HISTORIES
@given(_histories())
def test_rounds_and_shortlists_never_exceed_free_slots_or_leave_the_open_period(
    history: tuple[Region, Policy],
) -> None:
    region, policy = history
    pool, places = build_pool(region, policy)
    result = run_round(pool, places, policy, RoundParams(on_infeasible="penalise"))
    place_ids = [str(p) for p in places.ids]
    assigned = _assigned_per_place(result.assignments, place_ids)
    assert (assigned <= places.free_slots).all()
    assert not assigned[~places.states.is_open].any()
    cand = pool.positions(result.assignments["candidate_id"].to_list())
    plc = np.array([places.index[p] for p in result.assignments["place_id"].to_list()], dtype=np.int64)
    assert eligible_pairs(pool, places, cand, plc, policy).all()
    for p in range(places.size):
        listed = shortlist(pool, places, place_ids[p], k=5, policy=policy)
        if not places.states.is_open[p]:
            assert listed.lines == () and listed.place_state != "open"
        assert listed.free_slots == int(places.free_slots[p])
        for line in listed.lines:
            assert explain_failures(pool, places, line.candidate_index, p, policy) == []


@_HISTORIES
@given(_histories(), st.data())
def test_no_pin_breaks_a_hard_rule_without_an_override_that_covers_it(
    history: tuple[Region, Policy], data: st.DataObject,
) -> None:
    region, policy = history
    pool, places = build_pool(region, policy)
    n_pins = data.draw(st.integers(1, 4))
    cands = data.draw(st.lists(st.integers(0, pool.size - 1), min_size=n_pins, max_size=n_pins, unique=True))
    plcs = data.draw(st.lists(st.integers(0, places.size - 1), min_size=n_pins, max_size=n_pins))
    pins = tuple((str(pool.ids[c]), str(places.ids[p])) for c, p in zip(cands, plcs, strict=True))
    overridden = data.draw(st.lists(st.booleans(), min_size=n_pins, max_size=n_pins))
    overrides = tuple(RuleOverride(c, p, reason="agreed with the supplier")
                      for (c, p), yes in zip(pins, overridden, strict=True) if yes)
    params = RoundParams(pins=pins, overrides=overrides, use_keys=False, use_floors=False)
    problems = check_round_inputs(pool, places, policy, params)
    broken: dict[tuple[str, str], list[str]] = {}
    for (c, p), yes in zip(pins, overridden, strict=True):
        rules = [f.rule for f in explain_failures(pool, places, pool.index[c], places.index[p], policy)]
        broken[(c, p)] = [r for r in rules if not (yes and r in OVERRIDABLE_RULES)]
    if any(broken.values()):
        assert problems, "a pin breaks a rule no override covers, and nothing was refused"
        named = {(pr.value, pr.column) for pr in problems}
        for (c, p), rules in broken.items():
            for rule in rules:
                key = (p, rule) if rule == "free_slots" else (f"{c}:{p}", rule)
                assert key in named, (c, p, rule)
        return
    if problems:  # only the slots of a place pinned more often than it has free slots
        assert all(pr.column == "free_slots" for pr in problems)
        return
    rnd = build_round(pool, places, policy, params)
    kept = set(zip(rnd.problem.edge_candidate[rnd.problem.pins].tolist(),
                   rnd.problem.edge_place[rnd.problem.pins].tolist(), strict=True))
    assert kept == {(pool.index[c], places.index[p]) for c, p in pins}


def _closed_or_filled_assignments(region: Region, result: Any) -> int:
    """Assignments to places that are filled or outside their open period, counted from the data."""
    policy = load_policy(region.manifest.policy)
    states = place_states(region.places, region.proposals, region.placements,
                          reference_date=region.manifest.reference_date, policy=policy)
    place_ids = region.places["place_id"].to_list()
    assigned = _assigned_per_place(result.assignments, place_ids)
    return int(assigned[~states.is_open].sum() + np.maximum(assigned - states.free, 0).sum())


@pytest.mark.parametrize("region", sorted(REGIONS))
@pytest.mark.parametrize("size", ["tiny", "small", "medium"])
def test_rounds_on_every_fixture_give_no_assignment_to_a_filled_or_closed_place(region: str, size: str) -> None:
    generated = generate_region(region, size, seed=7)
    policy = load_policy(generated.manifest.policy)
    pool, places = build_pool(generated, policy)
    result = run_round(pool, places, policy, RoundParams(on_infeasible="penalise"))
    assert result.num_assigned > 0
    assert _closed_or_filled_assignments(generated, result) == 0


@pytest.mark.slow
def test_the_large_fixture_gives_no_assignment_to_a_filled_or_closed_place() -> None:
    generated = generate_region("gothenburg", "large", seed=7)
    policy = load_policy("gothenburg")
    pool, places = build_pool(generated, policy)
    result = run_round(pool, places, policy)
    assert result.status == "optimal" and result.num_assigned > 1000
    assert _closed_or_filled_assignments(generated, result) == 0
