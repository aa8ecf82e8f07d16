"""Outcomes recorded where they happen (issue 16) over real HTTP: the labour-market unit's record of a
placement, the supplier's own hires and the municipality's review, the dialogue log, and what the
follow-up reads from them."""

# ruff: noqa: F811 - the integration_api fixture is imported, then named by the tests that use it

from __future__ import annotations

import datetime as dt

from tests.service.conftest import Api
from tests.service.integration_support import (  # noqa: F401 - integration_api: a fixture
    client,
    integration_api,
    new_candidate,
    propose,
    today,
    wait_for,
)


def outcome(api: Api, key: str, proposal_id: str, **body: object) -> tuple[int, dict[str, object]]:
    answer = client(api, key).post(f"/v1/proposals/{proposal_id}/outcome", json=body)
    return answer.status_code, answer.json()


def test_the_unit_records_a_placement_from_start_to_hire_and_the_history_shows_each(integration_api: Api) -> None:
    api = integration_api
    [pid] = propose(api, "pl1", [new_candidate(api, "angered")])
    day = today()
    code, body = outcome(api, "lmu_angered", pid, event="started", on=day.isoformat())
    assert code == 200, body
    assert (body["placement_id"], body["started_on"], body["end_reason"]) == (f"PM-{pid}", day.isoformat(), "ongoing")
    # Starting twice is a conflict, not a second placement.
    assert outcome(api, "lmu_angered", pid, event="started", on=day.isoformat())[0] == 409
    # pl1 is an internship: the hire ends it the day before (or on its first day) and the proposal is hired.
    code, body = outcome(api, "lmu_angered", pid, event="hired", on=day.isoformat(), contract_type="permanent")
    assert code == 200, body
    assert (body["end_reason"], body["hired_on"], body["contract_type"]) == ("hired", day.isoformat(), "permanent")
    events = client(api, "coordinator").get(f"/v1/proposals/{pid}/events").json()
    recorded = [(e["type"], e["actor_role"], e["data"].get("on")) for e in events]
    assert recorded[-2:] == [("placement.started", "labour_market_unit", day.isoformat()),
                             ("placement.hired", "labour_market_unit", day.isoformat())]
    assert events[-1]["to_status"] == "hired"
    proposal = client(api, "coordinator").get(f"/v1/proposals/{pid}").json()
    assert proposal["status"] == "hired"


def test_an_early_end_says_by_whom_and_why_and_the_supplier_never_sees_the_note(integration_api: Api) -> None:
    api = integration_api
    [pid] = propose(api, "pl1", [new_candidate(api, "angered")])
    for action in ({"action": "view"}, {"action": "interview", "interview_on": today().isoformat()},
                   {"action": "internship", "start_date": today().isoformat()}):
        assert client(api, "supplier_s1").post(f"/v1/supplier/proposals/{pid}/transitions",
                                               json=action).status_code == 200
    # The supplier's answer started the placement; the unit records how it ended.
    code, body = outcome(api, "lmu_angered", pid, event="ended_early", on=today().isoformat(),
                         ended_by="supplier", note="the supervisor left; no replacement offered")
    assert code == 200, body
    assert (body["end_reason"], body["ended_by"]) == ("ended_early", "supplier")
    own = client(api, "coordinator").get(f"/v1/proposals/{pid}/events").json()[-1]
    assert (own["data"]["note"], own["data"]["ended_by"]) == ("the supervisor left; no replacement offered", "supplier")
    supplier_events = client(api, "supplier_s1").get(f"/v1/supplier/proposals/{pid}/events").json()
    assert all("note" not in e["data"] for e in supplier_events)
    assert outcome(api, "lmu_angered", pid, event="completed", on=today().isoformat())[0] == 409


def test_outcome_input_is_checked_all_at_once_and_by_district(integration_api: Api) -> None:
    api = integration_api
    [pid] = propose(api, "pl1", [new_candidate(api, "angered")])
    # Another district's unit does not see the proposal.
    assert outcome(api, "lmu_centrum", pid, event="started", on=today().isoformat())[0] == 404
    assert outcome(api, "supplier_s1", pid, event="started", on=today().isoformat())[0] == 403
    code, body = outcome(api, "lmu_angered", pid, event="ended_early", on=today().isoformat())
    assert code == 422 and "ended_by" in str(body) and "note" in str(body)
    future = (today() + dt.timedelta(days=3)).isoformat()
    code, body = outcome(api, "lmu_angered", pid, event="started", on=future)
    assert code == 422 and [e["location"] for e in body["errors"]] == ["body.on"]
    assert outcome(api, "lmu_angered", pid, event="completed", on=today().isoformat())[0] == 409  # not started


def test_own_hires_are_reviewed_by_the_municipality_and_the_supplier_never_learns_the_groups(
        integration_api: Api) -> None:
    api = integration_api
    s1 = client(api, "supplier_s1")
    day = today().isoformat()
    in_group = new_candidate(api, "angered")  # foreign-born and with a disability
    in_none = new_candidate(api, "angered", foreign_born=False, disability=False, birth_year=1980)
    reports = []
    for ref in ("employee 4711", "employee 4712"):
        answer = s1.post("/v1/own-hires", json={"procurement_id": "p1", "hired_on": day,
                                                "contract_type": "fixed_term", "reference": ref})
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "reported"
        reports.append(answer.json()["own_hire_id"])
    # Another supplier's procurement, and a hire outside the contract, are refused at once.
    answer = s1.post("/v1/own-hires", json={"procurement_id": "p2", "hired_on": "2030-01-01",
                                            "contract_type": "permanent", "reference": "x"})
    assert answer.status_code == 422
    assert {e["location"] for e in answer.json()["errors"]} == {"body.procurement_id", "body.hired_on"}

    before = client(api, "orderer").get("/v1/procurements/p1/requirement-status").json()["own_hires"]
    first = client(api, "lmu_angered").post(f"/v1/own-hires/{reports[0]}/review", json={"candidate_id": in_group})
    assert first.status_code == 200 and first.json()["status"] == "confirmed"
    second = client(api, "coordinator").post(f"/v1/own-hires/{reports[1]}/review", json={"candidate_id": in_none})
    assert second.status_code == 200 and second.json()["status"] == "rejected"
    assert client(api, "coordinator").post(f"/v1/own-hires/{reports[1]}/review",
                                           json={"candidate_id": in_none}).status_code == 409
    # The supplier sees both as "reviewed": confirmed and rejected look the same, and no person is named.
    mine = {h["own_hire_id"]: h for h in s1.get("/v1/own-hires").json()}
    for oid in reports:
        assert (mine[oid]["status"], mine[oid]["candidate_id"], mine[oid]["decision"]) == ("reviewed", None, None)
    assert all(h["supplier_id"] == "s1" for h in mine.values())
    assert not [h for h in client(api, "supplier_s2").get("/v1/own-hires").json() if h["own_hire_id"] in reports]
    # The confirmed one counts toward p1's requirement, marked as the supplier's own.
    status = wait_for(lambda: (lambda s: s if s["own_hires"] == before + 1 else None)(
        client(api, "orderer").get("/v1/procurements/p1/requirement-status").json()), what="own hire counted")
    assert status["own_hires"] == before + 1


def test_the_dialogue_log_is_the_evidence_of_a_dialogue(integration_api: Api) -> None:
    api = integration_api
    body = {"held_on": "2026-03-04", "participants": ["samordnare Anna Berg", "Lokalvård Väst AB, HR"],
            "agreed": "two internships from May"}
    answer = client(api, "orderer").post("/v1/procurements/p1/dialogues", json=body)
    assert answer.status_code == 201, answer.text
    logged = answer.json()
    assert (logged["procurement_id"], logged["held_on"], logged["participants"]) == (
        "p1", "2026-03-04", body["participants"])
    assert logged in client(api, "supplier_s1").get("/v1/procurements/p1/dialogues").json()
    assert client(api, "supplier_s2").get("/v1/procurements/p1/dialogues").status_code == 404
    assert client(api, "lmu_angered").post("/v1/procurements/p1/dialogues", json=body).status_code == 403
    bad = client(api, "coordinator").post("/v1/procurements/p1/dialogues",
                                          json={**body, "held_on": "2029-01-01"})
    assert bad.status_code == 422
    assert [e["location"] for e in bad.json()["errors"]] == ["body.held_on", "body.held_on"]


def test_the_plan_over_the_api(integration_api: Api) -> None:
    api = integration_api
    body = {"procurements": [{"procurement_id": "U1", "title": "Lokalvård", "procurement_type": "service",
                              "contract_start": "2027-01-01", "contract_end": "2028-06-30", "value_sek": 4000000,
                              "executed_locally": True, "staff_needed": 12, "required_places": 3}]}
    answer = client(api, "orderer").post("/v1/plan", json=body)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["total_places"], answer.json()["gross_sek"]) == (3, 451800.0)
    bad = client(api, "coordinator").post("/v1/plan", json={"procurements": [
        {**body["procurements"][0], "required_places": 0}]})
    assert bad.status_code == 422 and "required_places" in bad.text
    assert client(api, "supplier_s1").post("/v1/plan", json=body).status_code == 403


def test_suppliers_report_their_yearly_figures_for_the_displacement_watch(integration_api: Api) -> None:
    api = integration_api
    s1 = client(api, "supplier_s1")
    assert s1.put("/v1/supplier-figures/2025", json={"new_hires": 12, "headcount": 90}).status_code == 200
    answer = s1.put("/v1/supplier-figures/2026", json={"new_hires": 10, "headcount": 80})
    assert answer.json() == {"supplier_id": "s1", "year": 2026, "new_hires": 10, "headcount": 80}
    assert s1.put("/v1/supplier-figures/2026", json={"headcount": -1}).status_code == 422
    assert client(api, "supplier_s2").get("/v1/supplier-figures").json() == [] or all(
        r["supplier_id"] == "s2" for r in client(api, "supplier_s2").get("/v1/supplier-figures").json())
    mine = [r for r in client(api, "coordinator").get("/v1/supplier-figures").json() if r["supplier_id"] == "s1"]
    assert {r["year"]: r["headcount"] for r in mine} == {2025: 90, 2026: 80}
    assert client(api, "lmu_angered").get("/v1/supplier-figures").status_code == 403
