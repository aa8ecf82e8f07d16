"""Hard rules and held-back rules, one test each, on a small hand-built region.

The region (:func:`hand_region`) is shared with the other scoring tests: one district, three
places, a dozen candidates, each built to pass or fail exactly one rule at place P1.
Reference date 2026-03-01. Every place lies at (57.70, 11.97); a candidate 0.05° further north
lives 0.05 · π/180 · 6371.0088 = 5.5598 km away.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from fixtures import generate_region
from scoring import allocation
from scoring.allocation import RoundParams
from scoring.competence import CompetenceNormaliser
from scoring.eligibility import (
    HELD_BACK_RULES,
    RULES,
    eligible_pairs,
    explain_failures,
    explain_held_back,
    held_back_pairs,
    pair_failures,
    place_eligibility,
)
from scoring.policy import Policy, load_policy, parse_policy
from scoring.pool import EARTH_RADIUS_KM, build_pool
from scoring.region import Manifest, Region, region_from_frames
from service.demo import DEMO_REGION

REF = dt.date(2026, 3, 1)
LAT, LON = 57.70, 11.97
KM_PER_DEGREE = math.radians(1.0) * EARTH_RADIUS_KM

VOCABULARY = [
    ("B-körkort", "lic-b"), ("Körkort B", "lic-b"), ("Truckkort", "lic-truck"),
    ("Ställningsbygge", "constr-scaffold"), ("Svetsning", "weld"), ("Barnskötsel", "care-child"),
]


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _candidate(cid: str, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "candidate_id": cid, "home_district": "centrum", "lat": LAT, "lon": LON,
        "work_ladder_step": 4, "competences": [], "commute_limit_km": 20.0,
        "wished_placement_types": [], "wished_hours": 40, "support_needs": [],
        "available_from": _d("2026-03-15"), "registered_since": _d("2024-03-01"),
        "gender": "F", "birth_year": 2000, "foreign_born": False, "disability": False,
        "income_support": "other", "placed": False,
    }
    row.update(over)
    return row


def hand_region() -> Region:
    """The hand-built region every scoring test uses (see the module docstring)."""
    districts = pl.DataFrame({"district_id": ["centrum"], "name": ["Centrum"], "municipality": ["Göteborg"],
                              "lat": [LAT], "lon": [LON]})
    occupations = pl.DataFrame({
        "ssyk_code": ["7119", "4322", "5321"],
        "name_sv": ["Övriga byggnadsarbetare", "Lagerpersonal", "Undersköterskor"],
        "name_en": ["Construction workers", "Warehouse workers", "Assistant nurses"],
        "share_women": [0.10, 0.22, 0.90],
    })
    suppliers = pl.DataFrame({"supplier_id": ["S1", "S2"], "name": ["Bygg AB", "Omsorg AB"],
                              "org_number": ["556000-0001", "556000-0002"]})
    procurements = pl.DataFrame({
        "procurement_id": ["PR1", "PR2"], "title": ["Bygg", "Omsorg"], "procurement_type": ["works", "service"],
        "supplier_id": ["S1", "S2"], "contract_start": [_d("2026-01-01")] * 2,
        "contract_end": [_d("2027-12-31")] * 2, "value_sek": [5_000_000] * 2, "executed_locally": [True] * 2,
        "staff_needed": [10, 10], "requirement_type": ["hard", "dialogue"], "required_places": [2, 0],
        "penalty_sek": [0, 0],
    })
    places = pl.DataFrame({
        "place_id": ["P1", "P2", "P3"], "supplier_id": ["S1", "S1", "S2"],
        "procurement_id": ["PR1", "PR1", "PR2"],
        "placement_type": ["employment", "internship", "apprenticeship"],
        "ssyk_code": ["7119", "4322", "5321"], "title": ["Byggarbetare", "Lagerpraktik", "Vårdlärling"],
        "competences_required": [["B-körkort", "Truckkort"], [], []],
        "competences_wanted": [["Ställningsbygge"], [], ["körkort b"]],
        # P1 teaches its required competences on the job, so that each candidate below fails one
        # rule only; the competence rule has tests of its own (a P1 that does not teach them).
        "competences_learnable": [["B-körkort", "Truckkort"], [], []],
        # P3 takes two: C12's open proposal (held back elsewhere) holds one slot, one stays free.
        "district_id": ["centrum"] * 3, "lat": [LAT] * 3, "lon": [LON] * 3, "slots": [2, 1, 2],
        "start_date": [_d("2026-04-01"), _d("2026-04-01"), _d("2026-05-01")],
        "duration_months": [6.0, 2.0, 12.0], "lowest_ladder_step": [3, 1, 3],
        "supervisor_offered": [False, False, True], "hours_per_week": [40, 30, 30],
    })
    candidates = pl.DataFrame([
        # C1: eligible at P1; every score term has a hand-computed value in test_score.py.
        _candidate("C1", lat=LAT + 0.05, competences=["körkort B", "truck-kort"]),
        _candidate("C2", work_ladder_step=2),                       # ladder at P1 (no supervisor)
        _candidate("C3", lat=LAT + 0.2, commute_limit_km=15.0),    # commute: 22.2 km > 15 km
        _candidate("C4", available_from=_d("2026-04-02")),          # availability: after the start
        _candidate("C5", wished_placement_types=["apprenticeship"]),  # placement type at P1
        _candidate("C6", placed=True),                              # placed
        _candidate("C7"),                                           # open proposal to P1
        _candidate("C8"),                                           # declined by S1 45 days ago
        _candidate("C9"),                                           # declined by S1 151 days ago
        # C10: young, foreign-born man; fuzzy-spelled competence; wishes employment or internship.
        _candidate("C10", work_ladder_step=3, competences=["Ställningsbyggnad", "Svetsare"],
                   gender="M", birth_year=2004, foreign_born=True, registered_since=_d("2025-11-01"),
                   wished_placement_types=["employment", "internship"], wished_hours=30,
                   commute_limit_km=0.0),
        # C11: disabled youth, step 3, 10 km south, commute 40 km.
        _candidate("C11", work_ladder_step=3, lat=LAT - 10 / KM_PER_DEGREE, commute_limit_km=40.0,
                   birth_year=2003, disability=True, registered_since=_d("2025-09-15"),
                   competences=["lic-b"], gender="X"),
        # C12: an older man with an open proposal elsewhere (to P3).
        _candidate("C12", gender="M", birth_year=1980, competences=["B-körkort", "Truckkort"]),
    ])
    proposals = pl.DataFrame({
        "proposal_id": ["PP1", "PP2", "PP3", "PP4"],
        "candidate_id": ["C7", "C8", "C9", "C12"],
        "place_id": ["P1", "P2", "P2", "P3"],
        "created_on": [_d("2026-02-01"), _d("2026-01-05"), _d("2025-09-01"), _d("2026-02-20")],
        "status": ["open", "declined", "declined", "interview"],
        "decided_on": [None, _d("2026-01-15"), _d("2025-10-01"), None],
        "decline_reason": [None, "skills", "skills", None],
    })
    manifest = Manifest(region="hand", policy="gothenburg", reference_date=REF)
    return region_from_frames(manifest, {
        "districts": districts, "occupations": occupations, "suppliers": suppliers,
        "procurements": procurements, "places": places, "candidates": candidates, "proposals": proposals,
    })


def hand_policy() -> Policy:
    """Gothenburg's policy (weights 40/15/10/10/10/5/10; youth, foreign-born, disability)."""
    return load_policy("gothenburg")


def hand_pool(policy: Policy | None = None):  # type: ignore[no-untyped-def]
    policy = policy or hand_policy()
    return build_pool(hand_region(), policy, normaliser=CompetenceNormaliser(VOCABULARY))


@pytest.fixture(scope="module")
def built():  # type: ignore[no-untyped-def]
    policy = hand_policy()
    pool, places = hand_pool(policy)
    return pool, places, policy


def _fails(built, cid: str, pid: str) -> list[str]:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    return [f.rule for f in explain_failures(pool, places, pool.position(cid), places.position(pid), policy)]


def _words(built, cid: str, pid: str) -> list[str]:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    return [f.describe() for f in explain_failures(pool, places, pool.position(cid), places.position(pid), policy)]


def test_eligible_candidate_fails_no_rule(built) -> None:  # type: ignore[no-untyped-def]
    assert _fails(built, "C1", "P1") == []


def test_ladder_below_lowest_step_without_supervisor(built) -> None:  # type: ignore[no-untyped-def]
    assert _words(built, "C2", "P1") == [
        "on step 2 of the work ladder; the place takes step 3 and up and offers no supervisor"
    ]


def test_ladder_one_step_below_with_supervisor_is_eligible(built) -> None:  # type: ignore[no-untyped-def]
    # P3 takes step 3 and offers a supervisor: step 2 passes (one step bridged), step 1 does not.
    assert "ladder" not in _fails(built, "C2", "P3")
    pool, places, policy = built
    strict = policy.model_copy(update={"eligibility": policy.eligibility.model_copy(
        update={"steps_below_with_supervisor": 0})})
    c2, p3 = pool.position("C2"), places.position("P3")
    assert [f.rule for f in explain_failures(pool, places, c2, p3, strict)] == ["ladder"]
    words = explain_failures(pool, places, c2, p3, strict)[0].describe()
    assert words == "on step 2 of the work ladder; the place takes step 3 and up and offers no supervisor"


def test_ladder_two_steps_below_with_supervisor_fails(built) -> None:  # type: ignore[no-untyped-def]
    pool, _places, _policy = built
    lowered = np.array([1], dtype=np.int8)
    original = pool.ladder_step[pool.position("C2")]
    pool.ladder_step[pool.position("C2")] = lowered[0]
    try:
        assert _words(built, "C2", "P3") == [
            "on step 1 of the work ladder; the place takes step 3 and up, or step 2 and up with its supervisor"
        ]
    finally:
        pool.ladder_step[pool.position("C2")] = original


def test_commute_limit(built) -> None:  # type: ignore[no-untyped-def]
    # 0.2° north: 22.24 km, the candidate accepts 15 km.
    assert _words(built, "C3", "P1") == ["lives 22 km away; accepts at most 15 km"]


def test_commute_limit_zero_accepts_only_same_place(built) -> None:  # type: ignore[no-untyped-def]
    # C10 accepts 0 km and lives at the workplace.
    assert "commute" not in _fails(built, "C10", "P1")


def test_availability_after_start(built) -> None:  # type: ignore[no-untyped-def]
    assert _words(built, "C4", "P1") == ["available from 2026-04-02; the place starts 2026-04-01"]


def test_a_started_place_takes_people_from_the_reference_date() -> None:
    # P1 started 2026-04-01; on a reference date after that, it takes people available by that date.
    policy = hand_policy()
    region = hand_region()
    later = Manifest(region="hand", policy="gothenburg", reference_date=_d("2026-06-01"))
    frames = {name: region.table(name) for name in ("districts", "occupations", "suppliers", "procurements",
                                                   "places", "candidates", "proposals")}
    frames["candidates"] = frames["candidates"].with_columns(
        available_from=pl.when(pl.col("candidate_id") == "C1").then(pl.lit(_d("2026-06-10")))
        .otherwise(pl.col("available_from")))
    pool, places = build_pool(region_from_frames(later, frames), policy,
                              normaliser=CompetenceNormaliser(VOCABULARY))
    c4, c1, p1 = pool.position("C4"), pool.position("C1"), places.position("P1")
    assert explain_failures(pool, places, c4, p1, policy) == []  # available 2026-04-02 <= 2026-06-01
    words = [f.describe() for f in explain_failures(pool, places, c1, p1, policy)]
    assert words == ["available from 2026-06-10; the place started 2026-04-01 and takes people now (2026-06-01)"]
    assert not place_eligibility(pool, places, p1, policy).eligible[c1]


def test_availability_grace_days(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    grace = policy.model_copy(update={"eligibility": policy.eligibility.model_copy(
        update={"availability_grace_days": 1})})
    assert explain_failures(pool, places, pool.position("C4"), places.position("P1"), grace) == []


def test_placement_type_not_wished(built) -> None:  # type: ignore[no-untyped-def]
    assert _words(built, "C5", "P1") == ["wants an apprenticeship; the place is a job"]
    assert "placement_type" not in _fails(built, "C5", "P3")  # P3 is an apprenticeship
    assert "placement_type" not in _fails(built, "C1", "P2")  # no wish named: any type


def test_duration_below_policy_minimum(built) -> None:  # type: ignore[no-untyped-def]
    assert _words(built, "C1", "P2") == ["the place lasts 2 months; the policy asks for at least 3 months"]
    pool, places, policy = built
    off = policy.model_copy(update={"eligibility": policy.eligibility.model_copy(
        update={"apply_min_duration": False})})
    assert explain_failures(pool, places, pool.position("C1"), places.position("P2"), off) == []


def test_already_placed(built) -> None:  # type: ignore[no-untyped-def]
    assert _words(built, "C6", "P1") == ["already in a placement"]


def test_open_proposal_to_this_place(built) -> None:  # type: ignore[no-untyped-def]
    assert _words(built, "C7", "P1") == ["already proposed to this place (the proposal is still open)"]
    assert _fails(built, "C7", "P3") == []


def test_place_eligibility_over_pool_matches_pairs(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    everyone = np.arange(pool.size)
    for place in range(places.size):
        check = place_eligibility(pool, places, place, policy)
        pairs = pair_failures(pool, places, everyone, np.full(pool.size, place), policy)
        for rule in RULES:
            np.testing.assert_array_equal(check.failures[rule], pairs[rule], err_msg=rule)
        np.testing.assert_array_equal(check.eligible, eligible_pairs(pool, places, everyone, place, policy))
        held = held_back_pairs(pool, places, everyone, np.full(pool.size, place), policy)
        for rule in HELD_BACK_RULES:
            np.testing.assert_array_equal(check.held_back[rule], held[rule], err_msg=rule)


def test_eligible_set_at_p1(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    check = place_eligibility(pool, places, places.position("P1"), policy)
    assert [pool.ids[i] for i in np.flatnonzero(check.eligible)] == ["C1", "C8", "C9", "C10", "C11", "C12"]
    assert check.failure_counts() == {"period": 0, "free_slots": 0, "placed": 1, "proposed_here": 1,
                                      "ladder": 1, "commute": 1, "availability": 1, "placement_type": 1,
                                      "duration": 0, "competence": 0}


def test_held_back_open_proposal_elsewhere(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    flags = explain_held_back(pool, places, pool.position("C12"), places.position("P1"), policy)
    assert [f.describe() for f in flags] == ["proposed elsewhere (an open proposal)"]
    # At P3 itself the proposal is not "elsewhere": there it is the proposed_here hard rule.
    assert explain_held_back(pool, places, pool.position("C12"), places.position("P3"), policy) == []
    assert _fails(built, "C12", "P3") == ["proposed_here"]


def test_held_back_declined_by_same_supplier_recently(built) -> None:  # type: ignore[no-untyped-def]
    pool, places, policy = built
    c8, c9 = pool.position("C8"), pool.position("C9")
    flags = explain_held_back(pool, places, c8, places.position("P1"), policy)
    assert [f.describe() for f in flags] == [
        "declined at this supplier on 2026-01-15, skills (held back 90 days after a decline)"
    ]
    # Another supplier's place: not held back. A decline 151 days ago: no longer held back.
    assert explain_held_back(pool, places, c8, places.position("P3"), policy) == []
    assert explain_held_back(pool, places, c9, places.position("P1"), policy) == []
    # The period is the policy's: 30 days would release C8 (declined 45 days before the reference date).
    short = policy.model_copy(update={"eligibility": policy.eligibility.model_copy(
        update={"hold_back_days_after_decline": 30})})
    assert explain_held_back(pool, places, c8, places.position("P1"), short) == []


def test_tiny_fixture_expected_eligible() -> None:
    # The tiny fixture lists its eligible pairs by hand; it does not count open proposals, which
    # here are a hard rule of their own (proposed_here), so those pairs are set aside.
    from fixtures import generate_region
    from fixtures.tiny import EXPECTED_ELIGIBLE

    policy = load_policy("gothenburg")
    pool, places = build_pool(generate_region("gothenburg", "tiny", seed=7), policy)
    for place_id, expected in EXPECTED_ELIGIBLE.items():
        check = place_eligibility(pool, places, places.position(place_id), policy)
        passes = np.ones(pool.size, dtype=bool)
        for rule in RULES:
            if rule != "proposed_here":
                passes &= ~check.failures[rule]
        ours = {str(pool.ids[i]) for i in np.flatnonzero(passes)}
        assert ours == set(expected), place_id


# ---------------------------------------------------------------------------------------------
# The place's own rules (period, free slots) and required competences (issue 13)
# ---------------------------------------------------------------------------------------------


def _variant(policy: Policy | None = None, **place_columns: list[object]):  # type: ignore[no-untyped-def]
    """The hand region with some of the places' columns replaced (one value per place P1..P3)."""
    region = hand_region()
    frames = {name: region.table(name) for name in ("districts", "occupations", "suppliers", "procurements",
                                                   "places", "candidates", "proposals")}
    frames["places"] = frames["places"].with_columns(
        pl.Series(name, values, dtype=frames["places"].schema[name]) for name, values in place_columns.items())
    policy = policy or hand_policy()
    pool, places = build_pool(region_from_frames(region.manifest, frames), policy,
                              normaliser=CompetenceNormaliser(VOCABULARY))
    return pool, places, policy


def test_a_required_competence_not_taught_is_a_hard_rule() -> None:
    built = _variant(competences_learnable=[[], [], []])
    # C1 and C12 have both; C11 has only the B licence; the others neither.
    assert _words(built, "C11", "P1") == ["lacks the required Truckkort"]
    assert _words(built, "C8", "P1") == ["lacks the required B-körkort and Truckkort"]
    assert _fails(built, "C1", "P1") == [] and _fails(built, "C12", "P1") == []
    pool, places, policy = built
    check = place_eligibility(pool, places, places.position("P1"), policy)
    assert check.failure_counts()["competence"] == 10
    assert [pool.ids[i] for i in np.flatnonzero(check.eligible)] == ["C1", "C12"]


def test_a_taught_competence_is_a_score_term_only() -> None:
    # Teaching one of the two: only the other is required.
    built = _variant(competences_learnable=[["Truckkort"], [], []])
    assert _words(built, "C11", "P1") == []
    assert _words(built, "C8", "P1") == ["lacks the required B-körkort"]


def test_the_policy_may_make_required_competences_a_score_term() -> None:
    data = hand_policy().model_dump(mode="json")
    data["competences"] = {"required": "score"}
    built = _variant(parse_policy(data), competences_learnable=[[], [], []])
    assert _fails(built, "C8", "P1") == []


def test_the_rule_is_per_competence_kind() -> None:
    # The shipped vocabulary's kinds: "SRY-certifikat" is Yrkesbevis lokalvård (a certificate),
    # "städ" is Lokalvård (a trade). A policy that makes trades a score term keeps the certificate.
    region = hand_region()
    frames = {name: region.table(name) for name in ("districts", "occupations", "suppliers", "procurements",
                                                   "places", "candidates", "proposals")}
    frames["places"] = frames["places"].with_columns(
        competences_required=pl.Series([["SRY-certifikat", "städ"], [], []]),
        competences_learnable=pl.Series([[], [], []], dtype=pl.List(pl.String)))
    data = hand_policy().model_dump(mode="json")
    data["competences"] = {"required": "hard", "by_kind": {"trade": "score"}}
    policy = parse_policy(data)
    pool, places = build_pool(region_from_frames(region.manifest, frames), policy)
    words = [f.describe() for f in explain_failures(pool, places, pool.position("C2"), places.position("P1"),
                                                    policy)]
    assert words == ["on step 2 of the work ladder; the place takes step 3 and up and offers no supervisor",
                     "lacks the required Yrkesbevis lokalvård"]
    shipped = hand_policy()
    pool, places = build_pool(region_from_frames(region.manifest, frames), shipped)
    words = [f.describe() for f in explain_failures(pool, places, pool.position("C1"), places.position("P1"),
                                                    shipped)]
    assert words == ["lacks the required Yrkesbevis lokalvård and Lokalvård"]


def test_a_filled_place_takes_nobody_and_says_why() -> None:
    # P2 has one slot; an open proposal to it (C8's, made open here) holds it.
    region = hand_region()
    frames = {name: region.table(name) for name in ("districts", "occupations", "suppliers", "procurements",
                                                   "places", "candidates", "proposals")}
    frames["proposals"] = frames["proposals"].with_columns(
        status=pl.when(pl.col("proposal_id") == "PP2").then(pl.lit("open")).otherwise(pl.col("status")),
        decided_on=pl.when(pl.col("proposal_id") == "PP2").then(None).otherwise(pl.col("decided_on")))
    policy = hand_policy()
    pool, places = build_pool(region_from_frames(region.manifest, frames), policy,
                              normaliser=CompetenceNormaliser(VOCABULARY))
    check = place_eligibility(pool, places, places.position("P2"), policy)
    assert not check.eligible.any() and check.failure_counts()["free_slots"] == pool.size
    words = [f.describe() for f in explain_failures(pool, places, pool.position("C1"), places.position("P2"),
                                                    policy)]
    assert words[0] == "the place is filled: 1 slot, held by 1 open proposal"


@pytest.mark.parametrize(("start", "ended"), [("2026-07-01", False), ("2025-06-01", True)])
def test_a_place_outside_its_period_takes_nobody(start: str, ended: bool) -> None:
    # P1 lasts 6 months: starting 2025-06-01 it ended on 2025-11-30; starting 2026-07-01 it opens
    # 90 days before, on 2026-04-02, a month after the reference date.
    built = _variant(start_date=[_d(start), _d("2026-04-01"), _d("2026-05-01")])
    pool, places, policy = built
    check = place_eligibility(pool, places, places.position("P1"), policy)
    assert not check.eligible.any() and check.failure_counts()["period"] == pool.size
    expected = ("the place is closed: its period ended on 2025-11-30" if ended else
                "the place is not open yet: opens for matching on 2026-04-02, 90 days before it starts on "
                "2026-07-01")
    assert _words(built, "C1", "P1")[0] == expected


def test_the_place_rules_agree_on_both_paths() -> None:
    built = _variant(start_date=[_d("2025-06-01"), _d("2026-04-01"), _d("2026-05-01")],
                     competences_learnable=[[], [], []])
    test_place_eligibility_over_pool_matches_pairs(built)


# --- the three paths of the hard rules -------------------------------------------------------------

@pytest.mark.parametrize("include_held_back", [True, False])
@pytest.mark.parametrize(("name", "size", "seed"), [DEMO_REGION, ("ostersund", "small", 3)],
                         ids=["demo", "ostersund-small-3"])
def test_the_round_scan_pair_rules_and_place_eligibility_find_the_same_pairs(
        name: str, size: str, seed: int, include_held_back: bool) -> None:
    """One statement of each rule (the functions above _rules in scoring/eligibility.py) read by all
    three paths: every place's eligible candidates are the same pairs, on the demo region and a
    fixture region, with and without the held-back candidates."""
    region = generate_region(name, size, seed=seed)
    policy = load_policy(region.manifest.policy)
    pool, places = build_pool(region, policy)
    everyone = np.arange(pool.size)
    scan = allocation._PlaceScan(pool, places, policy, RoundParams(include_held_back=include_held_back))
    from_scan: dict[int, list[int]] = {}
    for group, group_places in scan.groups():
        for p in group_places:
            from_scan[p] = np.sort(scan.eligible_at(group, p).candidates()).tolist()
    total = 0
    for p in range(places.size):
        check = place_eligibility(pool, places, p, policy)
        want = check.eligible.copy()
        if not include_held_back:
            for held in check.held_back.values():
                want &= ~held
        np.testing.assert_array_equal(eligible_pairs(pool, places, everyone, p, policy), check.eligible)
        assert from_scan.get(p, []) == np.flatnonzero(want).tolist(), f"place {places.ids[p]}"
        total += int(want.sum())
    assert total > 0  # the regions have eligible pairs: the comparison compared something
