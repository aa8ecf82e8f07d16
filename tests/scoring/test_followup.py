"""Follow-up on a hand-built region: every key figure and every requirement status rule, by hand.

The region (year 2026, Gothenburg policy: groups youth, foreign-born, disability; quality minimum
3 months; smallest published cell 5):

procurements                             places (slots, start)          placements
p1 hard 2, s1, 2026-2027, service         pl1 employment (2, 2026-01-01)  m1 c1 2026-01-01 ongoing, hired 01-01 permanent
p2 hard 3, s2, 2025-06 to 2026-12-31      pl2 internship (3, 2025-12-01)  m2 c2 03-01..08-31 completed, hired 03-01 fixed
p3 hard 1, s3, 2026, works                pl3 trainee    (1, 2026-06-01)  m3 c3 04-01..09-30 hired 10-01 permanent
p4 dialogue, s1, 2026, service            pl4 apprentice (1, 2026-05-01)  m4 c4 04-15..05-14 ended early by supplier
p5 dialogue, s2, Jan-Mar 2026 (3 months)  pl5 internship (1, 2026-02-01)  m5 c7 2025-12-01..2026-02-28 hired 03-01 fixed
p6 none, goods; p9 none, service 2026; p8 2024 (outside the year)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook

from scoring.exceptions import FollowUpPeriodError
from scoring.followup import (
    DIALOGUE_SCHEMA,
    OWN_HIRE_SCHEMA,
    FollowUpRecords,
    build_report,
    checkpoints,
    data_coverage,
    key_figures,
    outcomes,
    placement_groups,
    report_tables,
    requirement_history,
    requirement_status,
    socioeconomic_estimate,
    time_to_start,
    yearly_target,
)
from scoring.policy import Policy, load_policy
from scoring.region import Manifest, Region, region_from_frames
from scoring.reports import render_text, write_report

d = dt.date
YEAR = 2026
MANIFEST = Manifest(region="gothenburg", policy="gothenburg", reference_date=d(2026, 12, 31))


def _procurement(pid: str, ptype: str, sup: str, start: dt.date, end: dt.date, staff: int, req: str,
                 places: int = 0, penalty: int = 0) -> dict[str, object]:
    return {"procurement_id": pid, "title": f"Upphandling {pid}", "procurement_type": ptype, "supplier_id": sup,
            "contract_start": start, "contract_end": end, "value_sek": 2_000_000, "executed_locally": True,
            "staff_needed": staff, "requirement_type": req, "required_places": places, "penalty_sek": penalty}


def _place(pid: str, sup: str, proc: str, ptype: str, slots: int, start: dt.date, months: float = 6.0) -> dict[str, object]:
    return {"place_id": pid, "supplier_id": sup, "procurement_id": proc, "placement_type": ptype, "ssyk_code": "9111",
            "title": "Lokalvårdare", "competences_required": [], "competences_wanted": [], "district_id": "centrum",
            "lat": 57.70, "lon": 11.97, "slots": slots, "start_date": start, "duration_months": months,
            "lowest_ladder_step": 2, "supervisor_offered": True, "hours_per_week": 40}


def _candidate(cid: str, home: str, step: int, born: int, foreign: bool, disability: bool, support: str) -> dict[str, object]:
    return {"candidate_id": cid, "home_district": home, "lat": 57.75, "lon": 12.0, "work_ladder_step": step,
            "competences": [], "commute_limit_km": 20.0, "wished_placement_types": [], "wished_hours": 40,
            "support_needs": [], "available_from": d(2025, 9, 1), "registered_since": d(2025, 1, 10), "gender": "F",
            "birth_year": born, "foreign_born": foreign, "disability": disability, "income_support": support,
            "placed": False}


def _proposal(pid: str, cid: str, place: str, created: dt.date, status: str, decided: dt.date | None = None) -> dict[str, object]:
    return {"proposal_id": pid, "candidate_id": cid, "place_id": place, "created_on": created, "status": status,
            "decided_on": decided, "decline_reason": "other" if status == "declined" else None}


def _placement(mid: str, pr: str, cid: str, place: str, start: dt.date, end: dt.date | None, reason: str,
               by: str | None = None, hired: dt.date | None = None, contract: str | None = None) -> dict[str, object]:
    return {"placement_id": mid, "proposal_id": pr, "candidate_id": cid, "place_id": place, "started_on": start,
            "ended_on": end, "end_reason": reason, "ended_by": by, "hired_on": hired, "contract_type": contract}


def hand_frames() -> dict[str, pl.DataFrame]:
    procurements = [
        _procurement("p1", "service", "s1", d(2026, 1, 1), d(2027, 12, 31), 12, "hard", 2, 100_000),
        _procurement("p2", "service", "s2", d(2025, 6, 1), d(2026, 12, 31), 5, "hard", 3, 50_000),
        _procurement("p3", "works", "s3", d(2026, 1, 1), d(2026, 12, 31), 3, "hard", 1, 75_000),
        _procurement("p4", "service", "s1", d(2026, 1, 1), d(2026, 12, 31), 4, "dialogue"),
        _procurement("p5", "service", "s2", d(2026, 1, 1), d(2026, 3, 31), 4, "dialogue"),  # 3 months: no qualify
        _procurement("p6", "goods", "s3", d(2026, 1, 1), d(2026, 12, 31), 4, "none"),
        _procurement("p8", "service", "s3", d(2024, 1, 1), d(2024, 12, 31), 4, "hard", 1, 10_000),
        _procurement("p9", "service", "s3", d(2026, 1, 1), d(2026, 12, 31), 6, "none"),
    ]
    places = [
        _place("pl1", "s1", "p1", "employment", 2, d(2026, 1, 1), 12.0),
        _place("pl2", "s2", "p2", "internship", 3, d(2025, 12, 1), 6.0),
        _place("pl3", "s3", "p3", "trainee", 1, d(2026, 6, 1)),
        _place("pl4", "s1", "p4", "apprenticeship", 1, d(2026, 5, 1)),
        _place("pl5", "s2", "p5", "internship", 1, d(2026, 2, 1)),
    ]
    candidates = [
        _candidate("c1", "angered", 1, 2004, True, False, "social_assistance"),   # youth, foreign-born
        _candidate("c2", "centrum", 2, 1980, False, True, "activity_support"),    # disability
        _candidate("c3", "angered", 4, 1990, False, False, "other"),              # no group
        _candidate("c4", "centrum", 1, 1995, True, False, "social_assistance"),   # foreign-born
        _candidate("c5", "angered", 4, 1985, False, False, "social_assistance"),
        _candidate("c6", "centrum", 1, 2001, False, False, "activity_support"),   # youth (25)
        _candidate("c7", "angered", 2, 1970, False, False, "other"),
        _candidate("c8", "centrum", 3, 1975, False, False, "other"),
    ]
    proposals = [
        _proposal("pr1", "c1", "pl1", d(2025, 12, 2), "hired", d(2025, 12, 20)),
        _proposal("pr2", "c2", "pl1", d(2026, 2, 1), "hired", d(2026, 3, 1)),
        _proposal("pr3", "c3", "pl2", d(2026, 3, 1), "hired", d(2026, 10, 1)),
        _proposal("pr4", "c4", "pl2", d(2026, 3, 15), "internship"),
        _proposal("pr5", "c5", "pl4", d(2026, 4, 1), "declined", d(2026, 4, 10)),
        _proposal("pr6", "c6", "pl5", d(2026, 5, 1), "open"),
        _proposal("pr7", "c7", "pl2", d(2025, 11, 1), "hired", d(2026, 3, 1)),
        _proposal("pr8", "c8", "pl3", d(2026, 6, 1), "hired", d(2026, 7, 1)),  # no placement recorded
    ]
    placements = [
        _placement("m1", "pr1", "c1", "pl1", d(2026, 1, 1), None, "ongoing", hired=d(2026, 1, 1), contract="permanent"),
        _placement("m2", "pr2", "c2", "pl1", d(2026, 3, 1), d(2026, 8, 31), "completed", hired=d(2026, 3, 1),
                   contract="fixed_term"),
        _placement("m3", "pr3", "c3", "pl2", d(2026, 4, 1), d(2026, 9, 30), "hired", hired=d(2026, 10, 1),
                   contract="permanent"),
        _placement("m4", "pr4", "c4", "pl2", d(2026, 4, 15), d(2026, 5, 14), "ended_early", by="supplier"),
        _placement("m5", "pr7", "c7", "pl2", d(2025, 12, 1), d(2026, 2, 28), "hired", hired=d(2026, 3, 1),
                   contract="fixed_term"),
    ]
    return {
        "districts": pl.DataFrame({"district_id": ["angered", "centrum"], "name": ["Angered", "Centrum"],
                                   "municipality": ["Göteborg"] * 2, "lat": [57.79, 57.70], "lon": [12.05, 11.97]}),
        "occupations": pl.DataFrame({"ssyk_code": ["9111"], "name_sv": ["Städare"], "name_en": ["Cleaners"],
                                     "share_women": [0.71]}),
        "suppliers": pl.DataFrame({"supplier_id": ["s1", "s2", "s3"], "name": ["Ett AB", "Två AB", "Tre AB"],
                                   "org_number": ["556677-8899"] * 3}),
        "procurements": pl.DataFrame(procurements),
        "places": pl.DataFrame(places),
        "candidates": pl.DataFrame(candidates),
        "proposals": pl.DataFrame(proposals),
        "placements": pl.DataFrame(placements),
    }


def build(frames: dict[str, pl.DataFrame] | None = None) -> Region:
    return region_from_frames(MANIFEST, frames or hand_frames())


def with_placements(changes: dict[str, dict[str, object]]) -> Region:
    """The hand region with some placements' fields changed (placement id → {column: value})."""
    frames = hand_frames()
    rows = frames["placements"].to_dicts()
    for row in rows:
        row.update(changes.get(row["placement_id"], {}))
    frames["placements"] = pl.DataFrame(rows, schema=frames["placements"].schema)
    return build(frames)


@pytest.fixture(scope="module")
def region() -> Region:
    return build()


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy("gothenburg")


def status_of(table: pl.DataFrame, pid: str) -> dict[str, object]:
    return table.filter(pl.col("procurement_id") == pid).row(0, named=True)


# ---------------------------------------------------------------------------------------------
# Requirement status
# ---------------------------------------------------------------------------------------------


def test_requirement_status_rules(region: Region, policy: Policy) -> None:
    table = requirement_status(region, policy, period_start=d(2026, 1, 1), period_end=d(2026, 12, 31))
    # p8's contract (2024) does not overlap the period: no row.
    assert table["procurement_id"].to_list() == ["p1", "p2", "p3", "p4", "p5", "p6", "p9"]
    assert table["status"].to_list() == ["met", "partly_met", "not_met", "not_met", "not_met", "not_applicable",
                                         "not_applicable"]

    # p1 hard 2 over 24 months: at the first checkpoint (2026-12-31) ⌊2 × 12/24⌋ = 1 place is due; m1, m2 started.
    p1 = status_of(table, "p1")
    assert (p1["checkpoint"], p1["due"], p1["delivered"], p1["shortfall"]) == (d(2026, 12, 31), 1, 2, 0)
    assert (p1["possible_breach"], p1["final"], p1["possible_penalty_sek"]) == (False, False, 0)
    assert p1["evidence"] == ("2 of 1 place(s) due at the checkpoint 2026-12-31 delivered (2 placement(s) started "
                              "since the contract began). The contract runs until 2027-12-31.")

    # p2 hard 3, 2025-06-01 to 2026-12-31: final. Since the contract began m5 (2025-12), m3 and m4 started;
    # m4 was ended by the supplier after 1.0 month < 3 months: 2 delivered of 3.
    p2 = status_of(table, "p2")
    assert (p2["started_in_period"], p2["placements_to_date"], p2["not_counted"], p2["delivered"]) == (2, 3, 1, 2)
    assert (p2["due"], p2["shortfall"], p2["status"]) == (3, 1, "partly_met")
    assert p2["possible_breach"] is True and p2["breach_placements"] == ["m4"]
    assert p2["final"] is True and p2["possible_penalty_sek"] == 1 * 50_000
    assert p2["evidence"] == (
        "2 of 3 place(s) due at the final checkpoint 2026-12-31 delivered (3 placement(s) started since the "
        "contract began; 1 not counted, ended early by the supplier before the agreed minimum of 3 months: m4). "
        "Possible breach: the supplier ended 1 agreed placement(s) early under a hard requirement: m4.")

    p3 = status_of(table, "p3")  # hard 1, nothing started (pr8 says hired, but no placement is recorded)
    assert (p3["delivered"], p3["shortfall"], p3["possible_penalty_sek"]) == (0, 1, 75_000)

    # Dialogue requirements rest on the dialogue log: none is recorded here, answered proposals do not count.
    p4 = status_of(table, "p4")
    assert p4["evidence"] == ("Dialogue recorded in 0 of 1 contract year(s) at the final checkpoint 2026-12-31 "
                              "(meetings on: none).")
    assert status_of(table, "p5")["qualifies"] is False
    assert status_of(table, "p6")["evidence"] == "No employment requirement in the contract."


def test_a_dialogue_is_met_by_a_recorded_meeting_in_every_contract_year(region: Region, policy: Policy) -> None:
    frames = hand_frames()
    frames["procurements"] = frames["procurements"].with_columns(  # p4: 2026-2027, two contract years
        pl.when(pl.col("procurement_id") == "p4").then(d(2027, 12, 31)).otherwise(pl.col("contract_end"))
        .alias("contract_end"))
    two_years = build(frames)
    log = FollowUpRecords(dialogues=pl.DataFrame(
        {"dialogue_id": ["g1"], "procurement_id": ["p4"], "held_on": [d(2026, 3, 4)],
         "participants": [["samordnare", "Ett AB"]], "agreed": ["two internships in May"]},
        schema=DIALOGUE_SCHEMA))
    first = status_of(requirement_status(two_years, policy, period_start=d(2026, 1, 1), period_end=d(2026, 12, 31),
                                         records=log), "p4")
    assert (first["status"], first["due"], first["final"]) == ("met", 0, False)
    assert first["evidence"].startswith("Dialogue recorded in 1 of 1 contract year(s) at the checkpoint 2026-12-31 "
                                        "(meetings on: 2026-03-04).")
    # A year later, the second contract year had no meeting: partly met, and the history shows both years.
    second = status_of(requirement_status(two_years, policy, period_start=d(2027, 1, 1),
                                          period_end=d(2027, 12, 31), records=log), "p4")
    assert second["status"] == "partly_met"
    history = requirement_history(two_years, policy, through=d(2027, 12, 31), records=log).filter(
        pl.col("procurement_id") == "p4")
    assert history.select("checkpoint", "status", "final").rows() == [
        (d(2026, 12, 31), "met", False), (d(2027, 12, 31), "partly_met", True)]
    # Before the first checkpoint nothing is judged.
    early = status_of(requirement_status(two_years, policy, period_start=d(2026, 1, 1), period_end=d(2026, 6, 30),
                                         records=log), "p4")
    assert early["status"] == "not_due"
    assert early["evidence"] == ("Not due yet: 6.0 of the contract's months have run; the first checkpoint is "
                                 "2026-12-31; 1 dialogue meeting(s) recorded so far. The contract runs until "
                                 "2027-12-31.")


def test_a_contract_19_days_old_is_not_due_and_carries_no_penalty(policy: Policy) -> None:
    frames = hand_frames()
    young = _procurement("p7", "service", "s1", d(2026, 12, 13), d(2028, 12, 12), 8, "hard", 2, 150_000)
    frames["procurements"] = pl.concat([frames["procurements"], pl.DataFrame([young])], how="vertical_relaxed")
    row = status_of(requirement_status(build(frames), policy, period_start=d(2026, 1, 1),
                                       period_end=d(2026, 12, 31)), "p7")
    assert (row["status"], row["shortfall"], row["possible_penalty_sek"], row["checkpoint"]) == ("not_due", 0, 0, None)
    assert row["months_run"] == pytest.approx(19 / 31, abs=0.01)
    assert row["evidence"].startswith("Not due yet: 0.6 of the contract's months have run; the first checkpoint "
                                      "is 2027-12-12; 0 place(s) delivered so far.")


def test_pro_rata_due_at_a_yearly_checkpoint(policy: Policy) -> None:
    # Hard 3 over 18 months (2026-01-01 to 2027-06-30): at 2026-12-31, ⌊3 × 12/18⌋ = 2 are due; m1 and m2 on
    # pl1 were moved to this procurement; with m2 removed only 1 is delivered: partly met, no penalty before the end.
    frames = hand_frames()
    frames["procurements"] = frames["procurements"].with_columns(
        pl.when(pl.col("procurement_id") == "p1").then(d(2027, 6, 30)).otherwise(pl.col("contract_end"))
        .alias("contract_end"),
        pl.when(pl.col("procurement_id") == "p1").then(3).otherwise(pl.col("required_places")).alias("required_places"))
    both = status_of(requirement_status(build(frames), policy, period_start=d(2026, 1, 1),
                                        period_end=d(2026, 12, 31)), "p1")
    assert (both["due"], both["delivered"], both["status"]) == (2, 2, "met")
    frames["placements"] = frames["placements"].filter(pl.col("placement_id") != "m2")
    one = status_of(requirement_status(build(frames), policy, period_start=d(2026, 1, 1),
                                       period_end=d(2026, 12, 31)), "p1")
    assert (one["due"], one["delivered"], one["shortfall"], one["status"]) == (2, 1, 1, "partly_met")
    assert (one["final"], one["possible_penalty_sek"]) == (False, 0)
    # At the end of the contract, 3 are due: the history holds both judgements.
    history = requirement_history(build(frames), policy, through=d(2027, 6, 30)).filter(pl.col("procurement_id") == "p1")
    assert history.select("checkpoint", "due", "delivered", "status").rows() == [
        (d(2026, 12, 31), 2, 1, "partly_met"), (d(2027, 6, 30), 3, 1, "partly_met")]


def test_a_confirmed_own_hire_counts_and_a_reported_one_does_not(region: Region, policy: Policy) -> None:
    def own(status: str) -> FollowUpRecords:
        return FollowUpRecords(own_hires=pl.DataFrame(
            {"own_hire_id": ["o1"], "procurement_id": ["p3"], "supplier_id": ["s3"], "hired_on": [d(2026, 8, 1)],
             "contract_type": ["permanent"], "status": [status], "candidate_id": ["c8"]}, schema=OWN_HIRE_SCHEMA))
    period = {"period_start": d(2026, 1, 1), "period_end": d(2026, 12, 31)}
    reported = status_of(requirement_status(region, policy, records=own("reported"), **period), "p3")
    assert (reported["own_hires"], reported["delivered"], reported["status"]) == (0, 0, "not_met")
    confirmed = status_of(requirement_status(region, policy, records=own("confirmed"), **period), "p3")
    assert (confirmed["own_hires"], confirmed["delivered"], confirmed["status"]) == (1, 1, "met")
    assert "1 confirmed own hire(s) of the supplier" in confirmed["evidence"]


def test_supplier_ending_after_the_minimum_counts_but_is_a_possible_breach(policy: Policy) -> None:
    # m4 ended by the supplier after 4 months (≥ 3) of its 6 agreed: delivered, yet still flagged.
    region = with_placements({"m4": {"ended_on": d(2026, 8, 14)}})
    p2 = status_of(requirement_status(region, policy, period_start=d(2026, 1, 1), period_end=d(2026, 12, 31)), "p2")
    assert (p2["delivered"], p2["not_counted"], p2["status"], p2["breach_placements"]) == (3, 0, "met", ["m4"])


def test_supplier_ending_after_the_agreed_end_is_no_breach(policy: Policy) -> None:
    # m4 started 2026-04-15 for 6 months: its agreed end is 2026-10-14; ended 2026-10-20 it is no breach.
    region = with_placements({"m4": {"ended_on": d(2026, 10, 20)}})
    p2 = status_of(requirement_status(region, policy, period_start=d(2026, 1, 1), period_end=d(2026, 12, 31)), "p2")
    assert (p2["possible_breach"], p2["breach_placements"]) == (False, [])


def test_candidate_ending_early_counts_and_is_no_breach(policy: Policy) -> None:
    region = with_placements({"m4": {"ended_by": "candidate"}})
    p2 = status_of(requirement_status(region, policy, period_start=d(2026, 1, 1), period_end=d(2026, 12, 31)), "p2")
    assert (p2["delivered"], p2["possible_breach"], p2["breach_placements"]) == (3, False, [])


def test_agreed_minimum_is_the_shorter_of_place_and_policy(policy: Policy) -> None:
    # A 1-month place: the supplier ending it after 1.0 month is not early against its agreement.
    frames = hand_frames()
    frames["places"] = frames["places"].with_columns(
        pl.when(pl.col("place_id") == "pl2").then(1.0).otherwise(pl.col("duration_months")).alias("duration_months"))
    table = requirement_status(build(frames), policy, period_start=d(2026, 1, 1), period_end=d(2026, 12, 31))
    assert status_of(table, "p2")["delivered"] == 3


def test_the_period_counts_what_started_in_it_and_is_checked(region: Region, policy: Policy) -> None:
    table = requirement_status(region, policy, period_start=d(2026, 1, 1), period_end=d(2026, 6, 30))
    # p1's first checkpoint (2026-12-31) is still to come on 2026-06-30.
    assert status_of(table, "p1")["status"] == "not_due"
    # m5 started in 2025: not in a 2026 period, though it counts toward the contract.
    assert status_of(table, "p2")["started_in_period"] == 2
    with pytest.raises(ValueError, match="ends"):
        requirement_status(region, policy, period_start=d(2026, 2, 1), period_end=d(2026, 1, 1))


def test_checkpoints() -> None:
    assert checkpoints(d(2026, 1, 1), d(2027, 12, 31), 12) == [d(2026, 12, 31), d(2027, 12, 31)]
    assert checkpoints(d(2026, 1, 1), d(2026, 3, 31), 12) == [d(2026, 3, 31)]
    # A yearly checkpoint within a month of the end merges into the final one.
    assert checkpoints(d(2026, 10, 20), d(2027, 10, 21), 12) == [d(2027, 10, 21)]


# ---------------------------------------------------------------------------------------------
# What the data cover
# ---------------------------------------------------------------------------------------------


def test_a_year_without_data_is_refused_and_a_partial_one_marked(region: Region, policy: Policy) -> None:
    coverage = data_coverage(region)
    # The first record is pr7 (2025-11-01); the last day is the reference date, 2026-12-31.
    assert (coverage.data_from, coverage.data_through) == (d(2025, 11, 1), d(2026, 12, 31))
    with pytest.raises(FollowUpPeriodError, match="no data for 2030: the data cover 2025-11-01 to 2026-12-31"):
        build_report(region, policy, year=2030)
    with pytest.raises(FollowUpPeriodError, match="no data for 2024"):
        build_report(region, policy, year=2024)
    with pytest.raises(FollowUpPeriodError, match="after the data's last day") as info:
        build_report(region, policy, year=2026, as_of=d(2027, 1, 5))
    assert info.value.field == "as_of"
    report = build_report(region, policy, year=2026, as_of=d(2026, 6, 30))
    assert (report.partial, report.period_end) == (True, d(2026, 6, 30))
    assert "Partial year" in report.notes[0]
    # The estimate counts work to the period's end only: m1 (ongoing, social assistance) 6 months.
    assert report.estimate.per_person.filter(pl.col("candidate_id") == "c1")["months_in_work"].item() == 6.0
    assert build_report(region, policy, year=2026).partial is False
    nothing = build({**hand_frames(), "proposals": hand_frames()["proposals"].clear(),
                     "placements": hand_frames()["placements"].clear()})
    with pytest.raises(FollowUpPeriodError, match="no proposal, placement, dialogue or own hire is recorded"):
        build_report(nothing, policy, year=2026)


def test_yearly_target_is_not_applicable_without_requirements(policy: Policy) -> None:
    frames = hand_frames()
    frames["procurements"] = frames["procurements"].with_columns(requirement_type=pl.lit("none"))
    y = yearly_target(build(frames), policy, year=YEAR)
    assert (y.met, y.companies_with_requirement) == (None, 0)
    assert y.verdict == "not applicable: no company carries an employment requirement in 2026"


def test_yearly_target_is_pro_rata_in_a_partial_year(region: Region, policy: Policy) -> None:
    # To 2026-06-30: 6 of 12 months; companies s1, s2, s3 (p1-p5, p8 outside) → 0.5 × 3 × 6/12 = 0.75.
    # Places on procurements with a requirement starting by 06-30: pl1 (2), pl3 (1), pl4 (1), pl5 (1) = 5.
    y = yearly_target(region, policy, year=YEAR, period_end=d(2026, 6, 30))
    assert (y.target_places, y.places_requisitioned, y.met) == (0.75, 5, True)
    assert "pro rata" in y.verdict


def test_the_estimate_shows_gross_displacement_and_net(region: Region, policy: Policy) -> None:
    est = socioeconomic_estimate(region, policy, year=YEAR, as_of=d(2026, 6, 30))
    # c1, social assistance, 6 months: 87,500 gross; 65 % displacement → 30,625 net for that row's person.
    assert est.displacement_share == 0.65
    assert est.net_sek == pytest.approx(est.gross_sek * 0.35)
    row = est.by_income_support.filter(pl.col("income_support") == "social_assistance").row(0, named=True)
    assert row["net_gain_sek"] == pytest.approx(row["gain_sek"] * 0.35)
    custom = policy.model_copy(update={"follow_up": policy.follow_up.model_copy(update={"displacement_share": 0.0})})
    assert socioeconomic_estimate(region, custom, year=YEAR, as_of=d(2026, 6, 30)).net_sek == est.gross_sek
    assert any("Displacement" in a and "65 %" in a for a in est.assumptions)


# ---------------------------------------------------------------------------------------------
# Key figures
# ---------------------------------------------------------------------------------------------


def test_key_figures_headline(region: Region, policy: Policy) -> None:
    f = key_figures(region, policy, year=YEAR)
    assert f.procurements_active == 7            # p1-p6, p9
    assert f.qualifying_procurements == 5        # p1, p2, p3, p4, p9 (p5 is 3 months, p6 goods)
    assert f.qualifying_with_requirement == 4    # p9 carries none
    assert f.share_qualifying_with_requirement == pytest.approx(0.8)
    assert f.requirements_not_qualifying == 1    # p5
    assert f.proposals_made == 6                 # pr2-pr6, pr8 (pr1, pr7 in 2025)
    assert f.proposals_answered == 5             # all but pr6
    assert f.proposals_hired_without_placement == 1  # pr8
    assert f.placements_started == 4 and f.people_placed == 4  # m1-m4
    assert f.people_by_placement_type == {"employment": 2, "apprenticeship": 0, "trainee": 0, "internship": 2,
                                          "other_occupation": 0}
    assert f.people_hired == 4                   # c1, c2, c3 and c7 (hired in 2026 after a 2025 start)
    assert f.hired_by_contract_type == {"permanent": 2, "fixed_term": 2, "apprenticeship": 0, "trainee": 0}
    assert (f.completed, f.ended_early, f.ongoing_at_year_end) == (1, 1, 1)
    assert f.ended_early_by == {"supplier": 1, "candidate": 0, "municipality": 0}


def test_time_to_start(region: Region) -> None:
    t = time_to_start(region, year=YEAR)
    # m1 30 days (12-02 → 01-01), m2 28, m3 31, m4 31.
    assert (t.placements, t.median_days, t.mean_days) == (4, 30.5, 30.0)
    assert time_to_start(region, year=2030).median_days is None


def test_yearly_target(region: Region, policy: Policy) -> None:
    y = yearly_target(region, policy, year=YEAR)
    # s1, s2, s3 carry requirements in 2026; slots of places starting in 2026: pl1 2 + pl3 1 + pl4 1 + pl5 1.
    assert (y.companies_with_requirement, y.target_places, y.places_requisitioned, y.met) == (3, 1.5, 5, True)
    assert y.verdict == "met: 5 place(s) requisitioned in 2026 ≥ 0.5 × 3 companies with a requirement = 1.5"
    strict = policy.model_copy(update={"follow_up": policy.follow_up.model_copy(
        update={"yearly_places_per_company": 2.0})})
    y2 = yearly_target(region, strict, year=YEAR)
    assert (y2.target_places, y2.met) == (6.0, False)
    assert y2.verdict.startswith("not met: 5 place(s) requisitioned in 2026 < 2 × 3")


def test_anti_creaming(region: Region, policy: Policy) -> None:
    a = key_figures(region, policy, year=YEAR).anti_creaming
    # placed c1 (1), c2 (2), c3 (4), c4 (1): 3 of 4 low; pool c1, c2, c4, c6, c7: 5 of 8.
    assert (a.num_placed, a.num_placed_low, a.num_pool, a.num_pool_low) == (4, 3, 8, 5)
    assert a.share_placed_low == 0.75 and a.share_pool_low == 0.625 and a.ratio == pytest.approx(1.2)
    assert a.low_steps == (1, 2)


def test_by_group_counts_overlapping_groups(region: Region, policy: Policy) -> None:
    t = key_figures(region, policy, year=YEAR).by_group
    assert t.columns == ["group", "people", "placements", "ongoing", "completed", "ended_early", "hired",
                         "share_of_placed", "pool_share"]
    assert t.rows() == [
        # c1 is youth and foreign-born: counted in both.
        ("youth", 1, 1, 1, 0, 0, 1, 0.25, 0.25),            # pool: c1, c6 of 8
        ("foreign_born", 2, 2, 1, 0, 1, 1, 0.5, 0.25),      # c1, c4
        ("disability", 1, 1, 0, 1, 0, 1, 0.25, 0.125),      # c2
        ("none", 1, 1, 0, 0, 0, 1, 0.25, 0.5),              # c3; pool c3, c5, c7, c8
    ]


def test_groups_at_start_and_gender_norm_per_pair(region: Region) -> None:
    # Östersund adds far from the labour market and gender-norm breakers (seed 001).
    ostersund = load_policy("ostersund-alt1")
    cohort = region.placements.filter(pl.col("started_on").dt.year() == YEAR).sort("placement_id")
    groups = placement_groups(region, ostersund, cohort)
    assert groups.columns == ["placement_id", "far_from_labour_market", "youth", "foreign_born", "disability",
                              "gender_norm_breaker"]
    # Registered 2025-01-10: 11 months at m1's start (aged 22: > 6), 13-15 months for the others (> 12).
    assert groups["far_from_labour_market"].to_list() == [True, True, True, True]
    # Every candidate is a woman; cleaners are 71 % women: nobody breaks the norm there.
    assert groups["gender_norm_breaker"].to_list() == [False] * 4
    frames = hand_frames()
    frames["occupations"] = frames["occupations"].with_columns(share_women=pl.lit(0.10))
    men_only = placement_groups(build(frames), ostersund, cohort)
    assert men_only["gender_norm_breaker"].to_list() == [True] * 4
    by_group = key_figures(build(frames), ostersund, year=YEAR).by_group
    assert dict(by_group.select("group", "people").iter_rows()) == {
        "far_from_labour_market": 4, "youth": 1, "foreign_born": 2, "disability": 1, "gender_norm_breaker": 4,
        "none": 0}


def test_by_district_supplier_and_type(region: Region, policy: Policy) -> None:
    f = key_figures(region, policy, year=YEAR)
    assert f.by_district.select("district_id", "people", "hired", "share_of_placed", "key_share").rows() == [
        ("angered", 2, 2, 0.5, 0.16), ("centrum", 2, 1, 0.5, 0.07)]
    assert f.by_supplier.select("supplier_id", "placements", "hired", "proposals", "proposals_answered",
                                "ended_early_by_supplier").rows() == [
        ("s1", 2, 2, 2, 2, 0), ("s2", 2, 1, 3, 2, 1), ("s3", 0, 0, 1, 1, 0)]
    assert f.by_placement_type.select("placement_type", "people", "completed", "ended_early", "hired").rows() == [
        ("employment", 2, 1, 0, 2), ("apprenticeship", 0, 0, 0, 0), ("trainee", 0, 0, 0, 0),
        ("internship", 2, 0, 1, 1), ("other_occupation", 0, 0, 0, 0)]


def test_outcomes(region: Region) -> None:
    t = outcomes(region, as_of=d(2026, 12, 31))
    assert t.height == 8
    m4 = t.filter(pl.col("proposal_id") == "pr4").row(0, named=True)
    assert (m4["placement_id"], m4["days_to_start"], m4["months_in_place"], m4["ended_by"]) == ("m4", 31, 1.0, "supplier")
    m1 = t.filter(pl.col("proposal_id") == "pr1").row(0, named=True)
    assert m1["months_in_place"] == 12.0  # ongoing, counted to as_of
    open_one = t.filter(pl.col("proposal_id") == "pr6").row(0, named=True)
    assert open_one["placement_id"] is None and open_one["months_in_place"] == 0.0


# ---------------------------------------------------------------------------------------------
# Socio-economic estimate
# ---------------------------------------------------------------------------------------------


def test_socioeconomic_estimate_exact(region: Region, policy: Policy) -> None:
    est = socioeconomic_estimate(region, policy, year=YEAR)
    assert est.per_person.rows() == [
        ("c1", "social_assistance", 12.0, 175_000, 175_000.0),  # employment all year
        ("c2", "activity_support", 6.0, 43_000, 21_500.0),      # March-August
        ("c3", "other", 3.0, 0, 0.0),                           # hired 1 October after an internship
        ("c7", "other", 10.0, 0, 0.0),                          # hired 1 March, started in 2025
    ]  # c4's internship ended early without a hire: no paid work
    assert est.total_sek == 196_500.0 and est.people_in_work == 4
    # Net = gross × (1 - 0.65): 175,000 → 61,250; 21,500 → 7,525.
    assert est.by_income_support.drop("net_gain_sek").rows() == [
        ("social_assistance", 1, 12.0, 175_000, 175_000.0), ("activity_support", 1, 6.0, 43_000, 21_500.0),
        ("other", 2, 13.0, 0, 0.0)]
    assert est.by_income_support["net_gain_sek"].to_list() == pytest.approx([61_250.0, 7_525.0, 0.0])
    assert est.net_sek == pytest.approx(68_775.0)
    assert any("175,000 SEK a year" in a and "Payoff" in a for a in est.assumptions)
    assert any("22,500 SEK a month" in a for a in est.assumptions)


def test_six_months_on_social_assistance_is_87500(region: Region, policy: Policy) -> None:
    est = socioeconomic_estimate(region, policy, year=YEAR, as_of=d(2026, 6, 30))
    c1 = est.per_person.filter(pl.col("candidate_id") == "c1").row(0, named=True)
    assert (c1["months_in_work"], c1["gain_sek"]) == (6.0, 87_500.0)


def test_estimate_follows_the_policy(region: Region, policy: Policy) -> None:
    richer = policy.model_copy(update={"follow_up": policy.follow_up.model_copy(
        update={"social_assistance_to_work_sek": 200_000, "activity_support_to_work_sek": 60_000})})
    est = socioeconomic_estimate(region, richer, year=YEAR)
    assert est.total_sek == 200_000 + 30_000
    assert any("200,000 SEK a year" in a for a in est.assumptions)


def test_overlapping_placements_count_once(policy: Policy) -> None:
    # c1 also takes m2's place for the same months: the months are not counted twice.
    region = with_placements({"m2": {"candidate_id": "c1"}})
    est = socioeconomic_estimate(region, policy, year=YEAR)
    assert est.per_person.filter(pl.col("candidate_id") == "c1")["months_in_work"].item() == 12.0


# ---------------------------------------------------------------------------------------------
# Small cells, roles and files
# ---------------------------------------------------------------------------------------------


def test_researcher_tables_hold_no_people_and_no_small_cells(region: Region, policy: Policy) -> None:
    report = build_report(region, policy, year=YEAR)
    tables = report_tables(report, "researcher")
    assert "outcomes" not in tables and "estimate_per_person" not in tables and "requirements" not in tables
    for name, table in tables.items():
        assert "candidate_id" not in table.columns, name
    by_group = tables["by_group"]
    assert by_group["people"].to_list() == [None, None, None, None]  # 1, 2, 1, 1 < 5
    # The pool of 8 has groups of 2, 2, 1 and 4: pool shares would give them back (0.125 × 8 = 1).
    assert by_group["pool_share"].to_list() == [None, None, None, None]
    figures = tables["key_figures"]
    people = figures.filter(pl.col("figure") == "people_placed").row(0, named=True)
    assert people["value"] is None and people["suppressed"] == ["value"]
    assert figures.filter(pl.col("figure") == "procurements_active")["value"].item() == 7.0
    text = render_text(report, role="researcher")
    assert "people_placed" in text and "suppressed" in text and "c1" not in text
    assert set(report_tables(report, "orderer")) == {"key_figures", "requirements", "requirement_history",
                                                      "displacement_watch", "by_supplier",
                                                      "by_placement_type", "estimate_by_support", "assumptions"}
    with pytest.raises(ValueError, match="unknown role"):
        report_tables(report, "supplier")  # type: ignore[arg-type]


def test_write_report_files(tmp_path: Path, region: Region, policy: Policy) -> None:
    report = build_report(region, policy, year=YEAR)
    paths = write_report(report, tmp_path)
    names = {p.name for p in paths}
    assert {"key_figures.csv", "requirements.csv", "outcomes.csv", "follow-up.xlsx",
            "placements_by_group_district.png"} <= names
    req = pl.read_csv(tmp_path / "requirements.csv")
    assert req.filter(pl.col("procurement_id") == "p2")["breach_placements"].item() == "m4"
    book = load_workbook(tmp_path / "follow-up.xlsx")
    assert {"About", "Key figures", "Requirements", "By group", "Outcomes", "Assumptions"} <= set(book.sheetnames)
    sheet = book["Requirements"]
    assert [c.value for c in sheet[1]][:2] == ["Procurement", "Title"]  # headers in words
    assert sheet.max_row == 1 + 7
    assert (tmp_path / "placements_by_group_district.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="unknown format"):
        write_report(report, tmp_path, ("pdf",))


def test_render_text(region: Region, policy: Policy) -> None:
    text = render_text(build_report(region, policy, year=YEAR))
    assert "qualifying with a requirement: 4 (80.0 %)" in text
    assert "p2  Två AB" in text and "POSSIBLE BREACH" in text
    assert "gross: 196,500 SEK for 4 people in work" in text
    assert "displacement (65%): −127,725 SEK" in text and "net: 68,775 SEK" in text
    assert "Yearly target (seed 001): met: 5 place(s)" in text


def test_the_workbook_has_words_formats_filters_and_explanations(tmp_path: Path, region: Region,
                                                                 policy: Policy) -> None:
    report = build_report(region, policy, year=YEAR)
    for language, sheet_name, share_header, about in (("en", "By district", "Share of placed", "About"),
                                                      ("sv", "Per stadsdel", "Andel av placerade", "Om rapporten")):
        folder = tmp_path / language
        write_report(report, folder, ("xlsx",), language=language)  # type: ignore[arg-type]
        book = load_workbook(folder / "follow-up.xlsx")
        assert book.sheetnames[0] == about and book.sheetnames[-1] in ("Explanations", "Förklaringar")
        sheet = book[sheet_name]
        headers = [c.value for c in sheet[1]]
        assert share_header in headers and "share_of_placed" not in headers
        share_at = headers.index(share_header) + 1
        assert sheet.cell(2, share_at).number_format == "0.0%"
        assert sheet.auto_filter.ref == sheet.dimensions
        people_at = headers.index("People" if language == "en" else "Personer") + 1
        assert sheet.cell(2, people_at).number_format == "#,##0"
    book = load_workbook(tmp_path / "en" / "follow-up.xlsx")
    figures = book["Key figures"]
    rows = {r[0].value: r[1] for r in figures.iter_rows(min_row=2)}
    assert rows["share_qualifying_with_requirement"].number_format == "0.0%"
    assert rows["people_placed"].number_format == "#,##0"
    estimate = book["Estimate by support"]
    heads = [c.value for c in estimate[1]]
    assert estimate.cell(2, heads.index("Gross gain") + 1).number_format == '#,##0 "SEK"'
    requirements = book["Requirements"]
    heads = [c.value for c in requirements[1]]
    assert requirements.cell(2, heads.index("Judged on") + 1).number_format == "yyyy-mm-dd"
    explained = {(r[0].value, r[1].value): r[2].value for r in book["Explanations"].iter_rows(min_row=2)}
    assert explained[("By district", "Distribution key")] == "the policy's key share for the district"
    assert explained[("Key figures", "people placed")] == "distinct people, placement started in the year"
    with pytest.raises(ValueError, match="unknown language"):
        write_report(report, tmp_path, ("xlsx",), language="de")  # type: ignore[arg-type]


def test_displacement_watch_flags_a_falling_headcount_with_rising_placements(region: Region) -> None:
    from scoring.followup import SUPPLIER_FIGURES_SCHEMA, FollowUpRecords, displacement_watch

    # s2's places (pl2, pl5) had m5 start in 2025 and m3, m4 in 2026: placements rose 1 → 2.
    figures = pl.DataFrame({"supplier_id": ["s2", "s2", "s1", "s1"], "year": [2025, 2026, 2025, 2026],
                            "new_hires": [10, 8, 5, 20], "headcount": [120, 110, 50, 40]},
                           schema=SUPPLIER_FIGURES_SCHEMA)
    watch = displacement_watch(region, year=YEAR, records=FollowUpRecords(supplier_figures=figures))
    rows = {r["supplier_id"]: r for r in watch.iter_rows(named=True)}
    s2 = rows["s2"]
    assert (s2["requirement_placements"], s2["requirement_placements_before"]) == (2, 1)
    assert (s2["headcount"], s2["headcount_before"], s2["look_into"]) == (110, 120, True)
    assert s2["requirement_share_of_new_hires"] == 2 / 8
    assert s2["note"].startswith("headcount fell from 120 to 110 while requirement placements rose from 1 to 2")
    # s1: headcount fell too, but its placements (m1, m2 in 2026; none in 2025) rose 0 → 2: flagged as well.
    assert rows["s1"]["look_into"] is True
    # s3 reported nothing: no comparison, no flag.
    assert (rows["s3"]["look_into"], rows["s3"]["new_hires"]) == (False, None)
    assert rows["s3"]["note"] == "headcount not reported for both years: no comparison"
    # A headcount that grew is no flag, whatever the placements did.
    grown = figures.with_columns(headcount=pl.Series([100, 130, 50, 60]))
    again = displacement_watch(region, year=YEAR, records=FollowUpRecords(supplier_figures=grown))
    assert not again["look_into"].any()
