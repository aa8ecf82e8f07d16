"""Publishing a round keeps issue 5's rule: a candidate holds at most one open proposal unless the
coordinator says otherwise; and the region as it is at publication (issue 13): the places' free slots,
every hard rule, placements and withdrawals since the round ran. Conflicts are refused all at once,
and a refused publication writes nothing.

The rounds run on the tests' greedy engine (``tests/service/engines.py``): each place in id order takes,
up to its free slots, the eligible candidates in id order, so a round on the fresh region gives
pl1 ← c1, c2 and pl2 ← c3, c4 (two slots each; open proposals hold slots under Gothenburg's policy).
These tests change proposals and placements, so they have a server of their own per backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.db.tables import REGION_TABLES
from service.integration.tables import proposal_events, webhook_deliveries
from tests.service.conftest import (
    TEST_ENGINE,
    Api,
    server_with_region,
    wait_for_job,
)
from tests.service.integration_support import integration_settings

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def own_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            database_urls: dict[str, str]) -> Iterator[Api]:
    with server_with_region(request.param, tmp_path_factory, database_urls, "publication",
                            lambda url: integration_settings(url, engine=TEST_ENGINE)) as api:
        yield api


def run_round(client: httpx.Client, **body: Any) -> str:
    started = client.post("/v1/rounds", json=body)
    assert started.status_code == 202, started.text
    assert wait_for_job(client, started.json()["job"]["job_id"])["status"] == "succeeded"
    return str(started.json()["round_id"])


def propose(client: httpx.Client, place_id: str, candidate_id: str) -> str:
    answer = client.post(f"/v1/places/{place_id}/proposals", json={"candidate_ids": [candidate_id]})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["proposals"][0]["proposal_id"])


def open_proposals(client: httpx.Client) -> dict[str, list[dict[str, Any]]]:
    """Each candidate's open proposals, from the coordinator's list."""
    items = client.get("/v1/proposals", params={"limit": 500}).json()["items"]
    out: dict[str, list[dict[str, Any]]] = {}
    for p in items:
        if p["status"] in ("open", "viewed", "interview", "internship"):
            out.setdefault(p["candidate_id"], []).append(p)
    return out


def withdraw_all_open(client: httpx.Client) -> None:
    for held in open_proposals(client).values():
        for p in held:
            assert client.post(f"/v1/proposals/{p['proposal_id']}/withdraw").status_code == 200


def written_by_round(api: Api, round_id: str) -> tuple[int, int, int]:
    """Proposals, events and webhook deliveries that name the round's proposals."""
    db = api.db()
    proposals = REGION_TABLES["proposals"]
    mine = sa.select(proposals.c.proposal_id).where(proposals.c.round_id == round_id)
    with db.connect() as conn:
        made = conn.execute(sa.select(sa.func.count()).select_from(mine.subquery())).scalar_one()
        events = conn.execute(sa.select(sa.func.count()).select_from(proposal_events)
                              .where(proposal_events.c.proposal_id.like(f"PR-{round_id}-%"))).scalar_one()
        sent = conn.execute(sa.select(sa.func.count()).select_from(webhook_deliveries).where(
            webhook_deliveries.c.event_id.in_(sa.select(proposal_events.c.event_id).where(
                proposal_events.c.proposal_id.like(f"PR-{round_id}-%"))))).scalar_one()
    db.dispose()
    return int(made), int(events), int(sent)


def test_a_publication_that_conflicts_is_refused_whole_then_skips_or_allows(own_api: Api) -> None:
    api = own_api
    coordinator = api.client("coordinator")
    s1, s2 = api.client("supplier_s1"), api.client("supplier_s2")
    # s2 gets a receiver, so that a refused publication could be caught queueing webhooks.
    assert s2.post("/v1/supplier/webhooks", json={"url": "http://127.0.0.1:9/hook"}).status_code == 201
    first = run_round(coordinator)
    assert {a["candidate_id"]: a["place_id"] for a in
            coordinator.get(f"/v1/rounds/{first}/assignments").json()["items"]} == {
        "c1": "pl1", "c2": "pl1", "c3": "pl2", "c4": "pl2"}

    # Since the round ran: c1 got an open proposal elsewhere, c3 one to its very place, c4 was hired.
    by_hand_c1 = propose(coordinator, "pl2", "c1")
    by_hand_c3 = propose(coordinator, "pl2", "c3")
    hired = propose(coordinator, "pl1", "c4")
    for body in ({"action": "view"}, {"action": "interview"},
                 {"action": "hire", "start_date": "2026-10-01", "contract_type": "permanent"}):
        assert s1.post(f"/v1/supplier/proposals/{hired}/transitions", json=body).status_code == 200
    before = coordinator.get("/v1/proposals", params={"limit": 500}).json()["total"]

    refused = coordinator.post(f"/v1/rounds/{first}/publish")
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == PROBLEM
    problem = refused.json()
    assert problem["type"] == "/problems/open-proposal-exists"
    assert [(c["candidate_id"], c["place_id"], c["reason"]) for c in problem["conflicts"]] == [
        ("c1", "pl1", "open_proposal_elsewhere"), ("c3", "pl2", "open_proposal_here"), ("c4", "pl2", "placed")]
    assert problem["conflicts"][0]["open_proposals"] == [
        {"proposal_id": by_hand_c1, "place_id": "pl2", "status": "open"}]
    assert problem["conflicts"][1]["open_proposals"] == [
        {"proposal_id": by_hand_c3, "place_id": "pl2", "status": "open"}]
    assert "3 pair(s)" in problem["detail"] and "on_open_proposal" in problem["detail"]
    # Nothing at all was written: no proposal, no event, no webhook, and the round is unpublished.
    assert written_by_round(api, first) == (0, 0, 0)
    assert coordinator.get("/v1/proposals", params={"limit": 500}).json()["total"] == before
    assert coordinator.get(f"/v1/rounds/{first}").json()["published_at"] is None

    # "allow" lets c1 hold a second open proposal, but never a second one to pl2 nor a placed c4; and
    # pl1 has one slot free now (c4 was hired there): c1, proposed after all, takes it from c2.
    allowed = coordinator.post(f"/v1/rounds/{first}/publish", json={"on_open_proposal": "allow"})
    assert allowed.status_code == 409, allowed.text
    assert [(c["candidate_id"], c["reason"]) for c in allowed.json()["conflicts"]] == [
        ("c2", "no_free_slot"), ("c3", "open_proposal_here"), ("c4", "placed")]
    assert allowed.json()["conflicts"][0]["detail"] == (
        "the place is open: 1 of 2 slots free (1 hire), until 2027-03-31; 2 of this round's assignments "
        "to it are still proposed, 1 can be")
    assert written_by_round(api, first) == (0, 0, 0)

    bad = coordinator.post(f"/v1/rounds/{first}/publish", json={"on_open_proposal": "maybe", "x": 1})
    assert bad.status_code == 422
    assert {e["location"] for e in bad.json()["errors"]} == {"body.on_open_proposal", "body.x"}

    # "skip" proposes the others and says which were skipped, and why.
    skipped = coordinator.post(f"/v1/rounds/{first}/publish", json={"on_open_proposal": "skip"})
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["proposals_created"] == 1
    assert [(c["candidate_id"], c["reason"]) for c in skipped.json()["skipped"]] == [
        ("c1", "open_proposal_elsewhere"), ("c3", "open_proposal_here"), ("c4", "placed")]
    made = [p for p in coordinator.get("/v1/proposals", params={"limit": 500}).json()["items"]
            if p["round_id"] == first]
    assert [(p["proposal_id"], p["candidate_id"], p["status"]) for p in made] == [
        (f"PR-{first}-00002", "c2", "open")]
    assert written_by_round(api, first) == (1, 1, 0)  # s1, c2's supplier, has no receiver
    assert coordinator.post(f"/v1/rounds/{first}/publish").status_code == 409  # published already
    held = open_proposals(coordinator)
    assert [p["proposal_id"] for p in held["c1"]] == [by_hand_c1]  # one open proposal each, still
    assert all(len(v) == 1 for v in held.values())


def test_allow_gives_a_candidate_a_second_open_proposal(own_api: Api) -> None:
    api = own_api
    coordinator = api.client("coordinator")
    withdraw_all_open(coordinator)
    by_hand = propose(coordinator, "pl2", "c1")
    # c4 was hired at pl1 in the previous test and c1's open proposal holds one of pl2's slots: one
    # slot is free at each. The round, run with the held-back candidates, gives pl1 to c1 and pl2 to c2.
    second = run_round(coordinator, params={"include_held_back": True},
                       removals=[{"candidate_id": "c4", "place_id": "pl2"}])
    assert coordinator.post(f"/v1/rounds/{second}/publish").status_code == 409
    published = coordinator.post(f"/v1/rounds/{second}/publish", json={"on_open_proposal": "allow"})
    assert published.status_code == 200, published.text
    assert (published.json()["proposals_created"], published.json()["skipped"]) == (2, [])
    held = open_proposals(coordinator)
    assert sorted((p["place_id"], p["round_id"]) for p in held["c1"]) == [("pl1", second), ("pl2", None)]
    assert [p["proposal_id"] for p in held["c1"] if p["round_id"] is None] == [by_hand]
    # Each of the round's proposals was announced once, like one made by hand.
    assert written_by_round(api, second)[:2] == (2, 2)
    # Both places are full now: by hand, no say-so proposes anyone to them (422, nothing written).
    again = coordinator.post("/v1/places/pl1/proposals", json={"candidate_ids": ["c3"], "allow_multiple_open": True})
    assert again.status_code == 422, again.text
    assert [(e["location"], e["type"]) for e in again.json()["errors"]] == [("body.candidate_ids", "free_slots")]
    assert again.json()["errors"][0]["message"] == (
        "the place is filled: 2 slots, held by 1 hire, 1 open proposal: 1 candidate(s) proposed, 0 free slot(s)")


def test_a_publication_without_conflicts_needs_no_option(own_api: Api) -> None:
    coordinator = own_api.client("coordinator")
    withdraw_all_open(coordinator)
    third = run_round(coordinator, removals=[{"candidate_id": "c4", "place_id": "pl2"}])
    published = coordinator.post(f"/v1/rounds/{third}/publish")
    assert published.status_code == 200, published.text
    # pl1 keeps c4's hire: one slot there (c1), two at pl2 (c2, c3).
    assert (published.json()["proposals_created"], published.json()["skipped"]) == (3, [])
    assert all(len(v) == 1 for v in open_proposals(coordinator).values())
