"""The proposal lifecycle over real HTTP: every legal and illegal transition, the problem answer that
names the allowed actions, the record of who and when, and what the follow-up reads afterwards."""

# ruff: noqa: F811 - the integration_api fixture is imported, then named by the tests that use it

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from scoring.domain import ProposalStatus
from service.db.tables import REGION_TABLES
from service.integration.lifecycle import MUNICIPALITY_ACTIONS, SUPPLIER_ACTIONS, TRANSITIONS, Action
from tests.service.conftest import Api
from tests.service.integration_support import (  # noqa: F401 - integration_api: a fixture
    client,
    integration_api,
    new_candidate,
    propose,
    today,
)

PROBLEM = "application/problem+json"
#: Supplier actions with the data each needs.
BODIES: dict[str, dict[str, Any]] = {
    "view": {"action": "view"},
    "interview": {"action": "interview", "interview_on": "2026-12-01"},
    "internship": {"action": "internship", "start_date": "2026-12-07"},
    "hire": {"action": "hire", "start_date": "2027-01-04", "contract_type": "permanent"},
    "decline": {"action": "decline", "reason": "competence_mismatch"},
}
#: How to bring a new proposal to each status.
PATHS: dict[str, list[str]] = {
    "open": [], "viewed": ["view"], "interview": ["view", "interview"],
    "internship": ["view", "interview", "internship"], "hired": ["view", "interview", "hire"],
    "declined": ["decline"], "withdrawn": ["withdraw"],
}


def act(api: Api, proposal_id: str, action: str) -> httpx.Response:
    """Take ``action`` as the one who may: the supplier s1 answers, a coordinator withdraws."""
    if action == "withdraw":
        return client(api, "coordinator").post(f"/v1/proposals/{proposal_id}/withdraw",
                                               json={"reason": "placed_elsewhere"})
    return client(api, "supplier_s1").post(f"/v1/supplier/proposals/{proposal_id}/transitions",
                                           json=BODIES[action])


def proposal_in(api: Api, status: str) -> str:
    [proposal_id] = propose(api, "pl1", [new_candidate(api)])
    for action in PATHS[status]:
        answer = act(api, proposal_id, action)
        assert answer.status_code == 200, answer.text
    return proposal_id


def test_every_transition_legal_and_illegal(integration_api: Api) -> None:
    api = integration_api
    checked = 0
    for status in ProposalStatus:
        legal = TRANSITIONS[status]
        shared = proposal_in(api, status.value)  # for the refused actions, which change nothing
        for action in Action:
            proposal_id = proposal_in(api, status.value) if action in legal else shared
            answer = act(api, proposal_id, action.value)
            mine = SUPPLIER_ACTIONS if action in SUPPLIER_ACTIONS else MUNICIPALITY_ACTIONS
            allowed = [a.value for a in legal if a in mine]
            if action in legal:
                assert answer.status_code == 200, (status, action, answer.text)
                assert answer.json()["status"] == legal[action].value
            else:
                assert answer.status_code == 409, (status, action, answer.text)
                assert answer.headers["content-type"] == PROBLEM
                problem = answer.json()
                assert problem["type"] == "/problems/illegal-transition"
                assert problem["current_status"] == status.value
                assert problem["allowed_actions"] == allowed
                assert (", ".join(allowed) if allowed else "none") in problem["detail"]
            checked += 1
    assert checked == len(ProposalStatus) * len(Action)


def test_a_supplier_sees_what_it_may_do_next(integration_api: Api) -> None:
    api = integration_api
    proposal_id = proposal_in(api, "interview")
    with api.client("supplier_s1") as client:
        got = client.get(f"/v1/supplier/proposals/{proposal_id}").json()
        assert got["allowed_actions"] == ["internship", "hire", "decline"]
    with api.client("coordinator") as client:
        assert client.get(f"/v1/proposals/{proposal_id}").json()["status"] == "interview"


def test_history_records_who_and_when_and_feeds_the_follow_up(integration_api: Api) -> None:
    api = integration_api
    candidate = new_candidate(api)
    [proposal_id] = propose(api, "pl1", [candidate])
    for action in ("view", "interview", "internship", "hire"):
        assert act(api, proposal_id, action).status_code == 200
    with api.client("coordinator") as client:
        events = client.get(f"/v1/proposals/{proposal_id}/events").json()
        me = client.get("/v1/me").json()
        proposal = client.get(f"/v1/proposals/{proposal_id}").json()
        assert client.get(f"/v1/candidates/{candidate}").json()["placed"] is True
    with api.client("supplier_s1") as client:
        supplier_key = client.get("/v1/me").json()["key_id"]
        seen = client.get(f"/v1/supplier/proposals/{proposal_id}").json()
        supplier_events = client.get(f"/v1/supplier/proposals/{proposal_id}/events").json()
    assert [e["type"] for e in events] == ["proposal.created", "proposal.viewed", "proposal.interview",
                                           "proposal.internship", "proposal.hired"]
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        (None, "open"), ("open", "viewed"), ("viewed", "interview"), ("interview", "internship"),
        ("internship", "hired")]
    assert events[0]["actor_key_id"] == me["key_id"] and events[0]["actor_role"] == "coordinator"
    assert {e["actor_key_id"] for e in events[1:]} == {supplier_key}
    times = [e["at"] for e in events]
    assert times == sorted(times)
    assert events[-1]["data"] == {"start_date": "2027-01-04", "contract_type": "permanent"}
    assert [e["by"] for e in supplier_events] == ["municipality"] + ["supplier"] * 4
    assert "actor_key_id" not in supplier_events[0]
    assert (proposal["status"], proposal["decided_on"]) == ("hired", today().isoformat())
    assert (seen["start_date"], seen["contract_type"]) == ("2027-01-04", "permanent")
    # The follow-up reads the region's placements: the internship, ended by the hire.
    db = api.db()
    with db.connect() as conn:
        placements = REGION_TABLES["placements"]
        row = conn.execute(sa.select(placements).where(placements.c.proposal_id == proposal_id)
                           ).mappings().one()
    db.dispose()
    assert (row["started_on"].isoformat(), row["end_reason"], row["hired_on"].isoformat(),
            row["contract_type"]) == ("2026-12-07", "hired", "2027-01-04", "permanent")


def test_decline_keeps_the_reason_and_hides_the_profile(integration_api: Api) -> None:
    api = integration_api
    proposal_id = proposal_in(api, "viewed")
    answer = act(api, proposal_id, "decline")
    assert answer.json()["candidate"] is None
    assert answer.json()["decline_reason"] == "competence_mismatch"
    with api.client("coordinator") as client:
        assert client.get(f"/v1/proposals/{proposal_id}").json()["decline_reason"] == "competence_mismatch"


@pytest.mark.parametrize(("body", "location"), [
    ({"action": "hire", "start_date": "2027-01-04"}, "body.hire.contract_type"),
    ({"action": "decline", "reason": "too_old"}, "body.decline.reason"),
    ({"action": "decline"}, "body.decline.reason"),
    ({"action": "internship"}, "body.internship.start_date"),
    ({"action": "promote"}, "body"),
    ({"action": "view", "gender": "F"}, "body.view.gender"),
])
def test_answers_are_validated(integration_api: Api, body: dict[str, Any], location: str) -> None:
    [proposal_id] = propose(integration_api, "pl1", [new_candidate(integration_api)])
    with integration_api.client("supplier_s1") as client:
        answer = client.post(f"/v1/supplier/proposals/{proposal_id}/transitions", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert location in {e["location"] for e in answer.json()["errors"]}


def test_one_open_proposal_per_candidate_unless_the_unit_says_otherwise(integration_api: Api) -> None:
    api = integration_api
    candidate = new_candidate(api)
    propose(api, "pl1", [candidate], allow_multiple_open=False)
    with api.client("coordinator") as client:
        again = client.post("/v1/places/pl2/proposals", json={"candidate_ids": [candidate]})
        assert again.status_code == 409
        assert again.json()["type"] == "/problems/open-proposal-exists"
        allowed = client.post("/v1/places/pl2/proposals",
                              json={"candidate_ids": [candidate], "allow_multiple_open": True})
        assert allowed.status_code == 201, allowed.text
        same_place = client.post("/v1/places/pl1/proposals",
                                 json={"candidate_ids": [candidate], "allow_multiple_open": True})
        assert same_place.status_code == 409
    # Once the first is closed, the candidate is free again.
    with api.client("supplier_s1") as client:
        mine = client.get("/v1/supplier/proposals", params={"status": "open", "limit": 200}).json()["items"]
    with api.client("coordinator") as client:
        opened = [p for p in client.get("/v1/proposals", params={"limit": 500}).json()["items"]
                  if p["candidate_id"] == candidate and p["status"] == "open"]
        for p in opened:
            assert client.post(f"/v1/proposals/{p['proposal_id']}/withdraw").status_code == 200
        fresh = client.post("/v1/places/pl1/proposals", json={"candidate_ids": [candidate]})
        assert fresh.status_code == 201, fresh.text
    assert mine  # the supplier saw its open proposal meanwhile


def test_a_unit_proposes_and_withdraws_only_its_own_district(integration_api: Api) -> None:
    api = integration_api
    angered, centrum = new_candidate(api, "angered"), new_candidate(api, "centrum")
    with api.client("lmu_angered") as client:
        refused = client.post("/v1/places/pl1/proposals", json={"candidate_ids": [angered, centrum]})
        assert refused.status_code == 422
        assert [e["location"] for e in refused.json()["errors"]] == ["body.candidate_ids.1"]
        created = client.post("/v1/places/pl1/proposals", json={"candidate_ids": [angered]})
        assert created.status_code == 201, created.text
        proposal_id = created.json()["proposals"][0]["proposal_id"]
    with api.client("lmu_centrum") as client:
        assert client.post(f"/v1/proposals/{proposal_id}/withdraw").status_code == 404
        assert client.get(f"/v1/proposals/{proposal_id}/events").status_code == 404
    with api.client("lmu_angered") as client:
        withdrawn = client.post(f"/v1/proposals/{proposal_id}/withdraw", json={"reason": "candidate_unavailable"})
        assert withdrawn.status_code == 200
        assert (withdrawn.json()["status"], withdrawn.json()["allowed_actions"]) == ("withdrawn", [])
    with api.client("coordinator") as client:
        placed = new_candidate(api, placed=True)
        answer = client.post("/v1/places/pl1/proposals", json={"candidate_ids": [placed]})
        assert answer.status_code == 422 and answer.json()["errors"][0]["type"] == "placed"
