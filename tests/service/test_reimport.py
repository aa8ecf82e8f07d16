"""Re-importing the region keeps Platsa's proposal history: no event or webhook delivery is left naming
a proposal that no longer exists, hires and declines still feed the follow-up, and an upload that would
drop or contradict that history is refused whole (409, every problem), on SQLite and PostgreSQL.

The tests run in order on a server of their own per backend, with a real webhook receiver.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import polars as pl
import pytest
import sqlalchemy as sa

from service import store
from service.db.engine import writer
from service.db.tables import REGION_TABLES
from service.integration.tables import proposal_events, webhook_deliveries
from tests.service.conftest import (
    TEST_ENGINE,
    Api,
    ThreadServer,
    add_keys,
    new_database,
    region_zip,
    service_region,
    wait_for_job,
)
from tests.service.integration_support import Receiver, integration_settings, register, wait_for

PROBLEM = "application/problem+json"
ZIP = {"Content-Type": "application/zip"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def own_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            database_urls: dict[str, str]) -> Iterator[Api]:
    url = new_database(request.param, tmp_path_factory, database_urls, "reimport")
    tokens = add_keys(url)
    settings = integration_settings(url, engine=TEST_ENGINE)
    with ThreadServer(settings):
        api = Api(request.param, f"http://127.0.0.1:{settings.port}", url, tokens)
        with api.client("admin") as client:
            assert client.post("/v1/region/import", content=region_zip(), headers=ZIP).status_code == 201
        yield api


@pytest.fixture(scope="module")
def history(own_api: Api) -> Iterator[dict[str, Any]]:
    """A history on the fresh region: a hire (with its placement), a decline, a published round
    whose proposals are open (one viewed), and webhooks for all of it."""
    api = own_api
    receiver = Receiver()
    coordinator, s1, s2 = api.client("coordinator"), api.client("supplier_s1"), api.client("supplier_s2")
    register(s1, receiver)
    register(s2, receiver)

    def propose(place: str, candidate: str) -> str:
        answer = coordinator.post(f"/v1/places/{place}/proposals", json={"candidate_ids": [candidate]})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["proposals"][0]["proposal_id"])

    def answer(client: httpx.Client, proposal_id: str, body: dict[str, Any]) -> None:
        got = client.post(f"/v1/supplier/proposals/{proposal_id}/transitions", json=body)
        assert got.status_code == 200, got.text

    hired = propose("pl1", "c1")
    for body in ({"action": "view"}, {"action": "interview"},
                 {"action": "internship", "start_date": "2026-10-01"},
                 {"action": "hire", "start_date": "2026-10-20", "contract_type": "permanent"}):
        answer(s1, hired, body)
    declined = propose("pl2", "c5")
    answer(s2, declined, {"action": "decline", "reason": "distance"})
    started = coordinator.post("/v1/rounds", json={"removals": [
        {"candidate_id": "c1", "place_id": "pl1"}, {"candidate_id": "c1", "place_id": "pl2"}]})
    assert wait_for_job(coordinator, started.json()["job"]["job_id"])["status"] == "succeeded"
    round_id = started.json()["round_id"]
    published = coordinator.post(f"/v1/rounds/{round_id}/publish")
    assert published.status_code == 200, published.text
    by_round = sorted(p["proposal_id"] for p in coordinator.get("/v1/proposals", params={"limit": 500}).json()["items"]
                      if p["round_id"] == round_id)
    assert len(by_round) == 3  # c1's hire holds one of pl1's two slots: pl1 <- c2, pl2 <- c3, c4
    viewed = next(p["proposal_id"] for p in s1.get("/v1/supplier/proposals").json()["items"]
                  if p["proposal_id"] in by_round)
    answer(s1, viewed, {"action": "view"})
    # Every event that was queued for a receiver has arrived before the re-import.
    wait_for(lambda: len({r.event_id for r in receiver.receipts if r.verified}) == webhook_events(api),
             what="the webhooks")
    # The follow-up has seen the hire (the snapshot is rebuilt within about a second of a change).
    wait_for(lambda: coordinator.get("/v1/procurements/p1/requirement-status",
                                     params={"year": 2026}).json()["started_in_period"] >= 1,
             what="the follow-up to count the hire")
    yield {"hired": hired, "declined": declined, "round_id": round_id, "by_round": by_round,
           "viewed": viewed, "receiver": receiver}
    receiver.close()


def webhook_events(api: Api) -> int:
    db = api.db()
    with db.connect() as conn:
        count = conn.execute(sa.select(sa.func.count(sa.distinct(webhook_deliveries.c.event_id)))).scalar_one()
    db.dispose()
    return int(count)


def dangling(api: Api) -> dict[str, list[str]]:
    """References into the region that point at nothing: the thing this file is about."""
    proposals = REGION_TABLES["proposals"]
    placements = REGION_TABLES["placements"]
    db = api.db()
    with db.connect() as conn:
        ids = set(conn.execute(sa.select(proposals.c.proposal_id)).scalars())
        events = set(conn.execute(sa.select(proposal_events.c.event_id)).scalars())
        out = {
            "events": sorted(set(conn.execute(sa.select(proposal_events.c.proposal_id)).scalars()) - ids),
            "placements": sorted(set(conn.execute(sa.select(placements.c.proposal_id)).scalars()) - ids),
            "deliveries": sorted(e for e in conn.execute(sa.select(webhook_deliveries.c.event_id)).scalars()
                                 if e not in events),
            "payloads": sorted(p for p in (json.loads(b)["data"]["proposal_id"] for b in
                                           conn.execute(sa.select(webhook_deliveries.c.body)).scalars())
                               if p not in ids),
        }
    db.dispose()
    return out


def counts(api: Api) -> tuple[int, int]:
    db = api.db()
    with db.connect() as conn:
        events = conn.execute(sa.select(sa.func.count()).select_from(proposal_events)).scalar_one()
        sent = conn.execute(sa.select(sa.func.count()).select_from(webhook_deliveries)).scalar_one()
    db.dispose()
    return int(events), int(sent)


def test_reimport_keeps_the_history_and_nothing_dangles(own_api: Api, history: dict[str, Any]) -> None:
    api = own_api
    coordinator = api.client("coordinator")
    status_before = coordinator.get("/v1/procurements/p1/requirement-status", params={"year": 2026}).json()
    before = counts(api)
    version = coordinator.get("/v1/region").json()["version"]

    answer = coordinator.post("/v1/region/import", content=region_zip(service_region()), headers=ZIP)
    assert answer.status_code == 201, answer.text
    report = answer.json()
    assert report["version"] == version + 1
    # Kept: the hire, the decline and the round's three; the upload's own pr1 is stored beside them.
    assert report["kept"] == {"proposals": 5, "placements": 1}
    assert report["ignored_proposals"] == []
    assert (report["counts"]["proposals"], report["counts"]["placements"]) == (6, 1)
    assert dangling(api) == {"events": [], "placements": [], "deliveries": [], "payloads": []}
    assert counts(api) == before  # no event or delivery was deleted

    proposals = {p["proposal_id"]: p for p in coordinator.get("/v1/proposals", params={"limit": 500}).json()["items"]}
    assert proposals[history["hired"]]["status"] == "hired"
    assert (proposals[history["declined"]]["status"], proposals[history["declined"]]["decline_reason"]) == (
        "declined", "distance")
    assert {proposals[p]["round_id"] for p in history["by_round"]} == {history["round_id"]}
    assert proposals[history["viewed"]]["status"] == "viewed"
    assert proposals["pr1"]["status"] == "declined"
    # The upload says nobody is placed; the kept hire says c1 is.
    assert coordinator.get("/v1/candidates/c1").json()["placed"] is True
    assert coordinator.get("/v1/candidates/c2").json()["placed"] is False
    # The follow-up reads the same hire as before the import.
    status_after = coordinator.get("/v1/procurements/p1/requirement-status", params={"year": 2026}).json()
    assert status_after == status_before and status_after["started_in_period"] >= 1

    # The supplier carries on where it was: its history, and the next answer with its webhook.
    s1 = api.client("supplier_s1")
    events = s1.get(f"/v1/supplier/proposals/{history['hired']}/events").json()
    assert [e["type"] for e in events][-1] == "proposal.hired"
    going_on = s1.post(f"/v1/supplier/proposals/{history['viewed']}/transitions", json={"action": "interview"})
    assert going_on.status_code == 200, going_on.text
    withdrawn = coordinator.post(f"/v1/proposals/{history['by_round'][-1]}/withdraw")
    assert withdrawn.status_code == 200, withdrawn.text
    receiver = history["receiver"]
    wait_for(lambda: len({r.event_id for r in receiver.receipts if r.verified}) == webhook_events(api),
             what="the withdrawal's webhook")
    assert dangling(api) == {"events": [], "placements": [], "deliveries": [], "payloads": []}


def test_an_upload_that_drops_or_contradicts_the_history_is_refused_whole(
        own_api: Api, history: dict[str, Any]) -> None:
    api = own_api
    coordinator = api.client("coordinator")
    region_before = coordinator.get("/v1/region").json()
    proposals_before = coordinator.get("/v1/proposals", params={"limit": 500}).json()
    before = counts(api)
    hired = history["hired"]
    frames = service_region()
    frames["candidates"] = frames["candidates"].filter(pl.col("candidate_id") != "c1")
    frames["places"] = frames["places"].filter(pl.col("place_id") != "pl2")
    frames["proposals"] = pl.concat([frames["proposals"], frames["proposals"].with_columns(
        proposal_id=pl.lit(hired), candidate_id=pl.lit("c2"), status=pl.lit("open"),
        decided_on=pl.lit(None, dtype=pl.Date), decline_reason=pl.lit(None, dtype=pl.String))])
    frames["placements"] = placement(f"PM-{hired}", "pr1", "c3", "pl1")

    answer = coordinator.post("/v1/region/import", content=region_zip(frames), headers=ZIP)
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["type"] == "/problems/region-history-conflict"
    pl2_proposals = 1 + sum(1 for p in proposals_before["items"]
                            if p["round_id"] == history["round_id"] and p["place_id"] == "pl2")
    found = [(p["file"], p["row"], p["column"], p["value"]) for p in problem["problems"]]
    assert sorted(found, key=str) == sorted(
        [("candidates", None, "candidate_id", "c1"), ("proposals", 2, "proposal_id", hired),
         ("placements", 1, "placement_id", f"PM-{hired}")]
        + [("places", None, "place_id", "pl2")] * pl2_proposals, key=str)
    assert all(p["reason"] for p in problem["problems"])
    assert f"{len(found)} problem(s)" in problem["detail"]
    # Nothing changed.
    assert coordinator.get("/v1/region").json() == region_before
    assert coordinator.get("/v1/proposals", params={"limit": 500}).json() == proposals_before
    assert counts(api) == before


def test_the_upload_may_repeat_a_kept_proposal_and_report_its_placement(
        own_api: Api, history: dict[str, Any]) -> None:
    api = own_api
    coordinator = api.client("coordinator")
    hired = history["hired"]
    frames = service_region()
    # The recruiter's own system still has the proposal as it first was, and reports the placement's end.
    frames["proposals"] = pl.concat([frames["proposals"], frames["proposals"].with_columns(
        proposal_id=pl.lit(hired), candidate_id=pl.lit("c1"), status=pl.lit("open"),
        decided_on=pl.lit(None, dtype=pl.Date), decline_reason=pl.lit(None, dtype=pl.String))])
    frames["placements"] = placement(f"PM-{hired}", hired, "c1", "pl1", ended_on=dt.date(2026, 10, 19),
                                     hired_on=dt.date(2026, 10, 20), end_reason="hired",
                                     contract_type="permanent")
    answer = coordinator.post("/v1/region/import", content=region_zip(frames), headers=ZIP)
    assert answer.status_code == 201, answer.text
    assert answer.json()["ignored_proposals"] == [hired]
    assert answer.json()["kept"]["placements"] == 0  # the upload's row of the same placement is stored
    assert coordinator.get(f"/v1/proposals/{hired}").json()["status"] == "hired"  # Platsa's word stands
    db = api.db()
    placements = REGION_TABLES["placements"]
    with db.connect() as conn:
        row = conn.execute(sa.select(placements).where(placements.c.placement_id == f"PM-{hired}")
                           ).mappings().one()
    db.dispose()
    assert row["ended_on"] == dt.date(2026, 10, 19)
    assert dangling(api) == {"events": [], "placements": [], "deliveries": [], "payloads": []}


def test_an_import_waits_for_a_proposal_write_under_way(own_api: Api, history: dict[str, Any]) -> None:
    """A lifecycle write holds the region (store.lock_region) for its whole transaction: an import
    that comes meanwhile waits for it instead of replacing rows under it."""
    api = own_api
    db = api.db()
    results: list[int] = []
    with writer(db).begin() as conn:
        store.lock_region(conn)
        thread = threading.Thread(target=lambda: results.append(api.client("coordinator").post(
            "/v1/region/import", content=region_zip(), headers=ZIP).status_code))
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive() and results == []  # waiting for the write to end
    thread.join(timeout=30)
    db.dispose()
    assert results == [201]


def placement(placement_id: str, proposal_id: str, candidate_id: str, place_id: str, *,
              ended_on: dt.date | None = None, hired_on: dt.date | None = None, end_reason: str = "ongoing",
              contract_type: str | None = None) -> pl.DataFrame:
    return pl.DataFrame({
        "placement_id": [placement_id], "proposal_id": [proposal_id], "candidate_id": [candidate_id],
        "place_id": [place_id], "started_on": [dt.date(2026, 10, 1)], "ended_on": [ended_on],
        "end_reason": [end_reason], "ended_by": [None], "hired_on": [hired_on],
        "contract_type": [contract_type],
    }, schema_overrides={"ended_on": pl.Date, "hired_on": pl.Date, "ended_by": pl.String,
                         "contract_type": pl.String})


def test_a_reminder_does_not_make_an_imported_proposal_platsas(own_api: Api, history: dict[str, Any]) -> None:
    """The delivery worker reminds suppliers of unanswered proposals, imported ones too; such a
    reminder is the service's own doing, not an answer: the next upload's row of the proposal wins,
    without a conflict, and an upload without it drops it."""
    api = own_api
    coordinator = api.client("coordinator")
    made = dt.date.today() - dt.timedelta(days=30)  # unanswered for longer than PLATSA_REMINDER_DAYS (7)
    old = pl.DataFrame({"proposal_id": ["pr-old"], "candidate_id": ["c6"], "place_id": ["pl1"],
                        "created_on": [made], "status": ["open"], "decided_on": [None],
                        "decline_reason": [None]},
                       schema_overrides={"decided_on": pl.Date, "decline_reason": pl.String})
    frames = service_region()
    frames["proposals"] = pl.concat([frames["proposals"], old])
    first = coordinator.post("/v1/region/import", content=region_zip(frames), headers=ZIP)
    assert first.status_code == 201, first.text

    def reminders() -> list[str]:
        db = api.db()
        with db.connect() as conn:
            types = list(conn.execute(sa.select(proposal_events.c.type)
                                      .where(proposal_events.c.proposal_id == "pr-old")).scalars())
        db.dispose()
        return types

    assert wait_for(reminders, what="the reminder of pr-old") == ["proposal.reminder"]
    # The source system has the supplier's answer since: the upload's row is the later word.
    frames["proposals"] = pl.concat([service_region()["proposals"], old.with_columns(
        status=pl.lit("declined"), decided_on=pl.lit(dt.date.today()), decline_reason=pl.lit("distance"))])
    answer = coordinator.post("/v1/region/import", content=region_zip(frames), headers=ZIP)
    assert answer.status_code == 201, answer.text
    assert answer.json()["ignored_proposals"] == []
    assert answer.json()["kept"] == first.json()["kept"]  # Platsa's own proposals, not pr-old
    got = coordinator.get("/v1/proposals/pr-old").json()
    assert (got["status"], got["decided_on"], got["decline_reason"]) == (
        "declined", dt.date.today().isoformat(), "distance")
    # An upload without it drops it; the reminder stays in the event log, as it was sent.
    answer = coordinator.post("/v1/region/import", content=region_zip(), headers=ZIP)
    assert answer.status_code == 201, answer.text
    assert coordinator.get("/v1/proposals/pr-old").status_code == 404
    assert reminders() == ["proposal.reminder"]
    assert dangling(api)["events"] == ["pr-old"]
