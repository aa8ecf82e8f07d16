"""Webhooks against a real receiver on 127.0.0.1 that fails, times out and recovers: every event
arrives, verified, exactly once per event id; retries keep the id, replays are marked, secrets rotate
without a gap, and reminders come once."""

# ruff: noqa: F811 - the integration_api fixture is imported, then named by the tests that use it

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.db.tables import REGION_TABLES
from service.integration import signing
from tests.service.conftest import Api
from tests.service.integration_support import (  # noqa: F401 - integration_api: a fixture
    Receiver,
    client,
    integration_api,
    new_candidate,
    propose,
    register,
    today,
    wait_for,
)


@pytest.fixture
def receiver(integration_api: Api) -> Iterator[Receiver]:
    """A receiver; every endpoint pointing at it is deleted afterwards."""
    r = Receiver()
    yield r
    for key in ("supplier_s1", "supplier_s2"):
        c = client(integration_api, key)
        for endpoint in c.get("/v1/supplier/webhooks").json():
            if endpoint["url"] == r.url:
                c.delete(f"/v1/supplier/webhooks/{endpoint['endpoint_id']}")
    r.close()


def deliveries_of(c: httpx.Client, proposal_ids: set[str]) -> list[dict[str, Any]]:
    """Every delivery of this supplier about ``proposal_ids`` (walking the log's pages)."""
    out, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = c.get("/v1/supplier/deliveries", params=params).json()
        out += [d for d in page["items"] if d["payload"]["data"]["proposal_id"] in proposal_ids]
        if not page["has_more"]:
            return out
        cursor = page["next_cursor"]


def backdate(api: Api, proposal_id: str, days: int) -> None:
    db = api.db()
    proposals = REGION_TABLES["proposals"]
    with db.begin() as conn:
        conn.execute(proposals.update().where(proposals.c.proposal_id == proposal_id)
                     .values(created_on=today() - dt.timedelta(days=days)))
    db.dispose()


def test_every_event_arrives_verified_exactly_once(integration_api: Api, receiver: Receiver) -> None:
    api = integration_api
    receiver.script = ["fail", "slow", "fail", "slow", "fail", "slow", "fail"]
    receiver.slow_s = 1.0  # past the sender's 0.4 s timeout: it gives up and retries
    s2 = client(api, "supplier_s2")
    register(s2, receiver)
    ids = propose(api, "pl2", [new_candidate(api) for _ in range(5)])
    coordinator = client(api, "coordinator")
    for pid in ids[:2]:
        assert coordinator.post(f"/v1/proposals/{pid}/withdraw", json={"reason": "placed_elsewhere"}
                                ).status_code == 200
    backdate(api, ids[2], days=10)  # unanswered for 10 days > PLATSA_REMINDER_DAYS (7)
    expected = ({(pid, "proposal.created") for pid in ids} | {(pid, "proposal.withdrawn") for pid in ids[:2]}
                | {(ids[2], "proposal.reminder")})

    def all_delivered() -> list[dict[str, Any]] | None:
        found = deliveries_of(s2, set(ids))
        done = {(d["payload"]["data"]["proposal_id"], d["event_type"]) for d in found if d["status"] == "succeeded"}
        return found if done == expected else None

    log = wait_for(all_delivered, timeout=30, what="every event delivered")
    time.sleep(1.2)  # let the stalled answers finish, so that every receipt is counted
    mine = [r for r in receiver.receipts if r.body["data"]["proposal_id"] in ids]
    ids_per_event: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in mine:
        ids_per_event[(r.body["data"]["proposal_id"], r.body["type"])].add(r.event_id)
    # One id per event, however often it was sent: retries are the same event, never a new one.
    assert set(ids_per_event) == expected
    assert all(len(v) == 1 for v in ids_per_event.values()), ids_per_event
    event_ids = {next(iter(v)) for v in ids_per_event.values()}
    assert all(r.verified for r in mine)
    # Processed once each by a receiver that dedupes, and acknowledged once: no resend after a 2xx.
    assert {e: receiver.processed[e] for e in event_ids} == dict.fromkeys(event_ids, 1)
    assert {e: receiver.acknowledged[e] for e in event_ids} == dict.fromkeys(event_ids, 1)
    # The failures really happened, and the log shows them.
    assert {r.mode for r in mine} == {"fail", "slow", "ok"}
    assert len(mine) == len(expected) + 7
    errors = [a["error"] for d in log for a in d["attempt_log"] if a["error"]]
    assert "HTTP 500" in errors and any(e.startswith("timed out") for e in errors)
    assert all(d["status"] == "succeeded" and d["replay"] is False for d in log)
    reminder = next(r.body for r in mine if r.body["type"] == "proposal.reminder")
    assert reminder["data"]["days_unanswered"] == 10
    withdrawn = next(r.body for r in mine if r.body["type"] == "proposal.withdrawn")
    assert withdrawn["data"]["reason"] == "placed_elsewhere"


def test_a_reminder_comes_once_per_proposal(integration_api: Api) -> None:
    api = integration_api
    [pid] = propose(api, "pl1", [new_candidate(api)])
    backdate(api, pid, days=30)
    s1 = client(api, "supplier_s1")

    def reminders() -> list[dict[str, Any]]:
        events = s1.get(f"/v1/supplier/proposals/{pid}/events").json()
        return [e for e in events if e["type"] == "proposal.reminder"]

    wait_for(reminders, what="a reminder")
    time.sleep(0.3)  # many more worker passes
    assert len(reminders()) == 1
    assert reminders()[0]["by"] == "service"


def test_replay_sends_the_same_event_marked_as_a_replay(integration_api: Api, receiver: Receiver) -> None:
    api = integration_api
    s1 = client(api, "supplier_s1")
    register(s1, receiver, event_types=["proposal.created"])
    [pid] = propose(api, "pl1", [new_candidate(api)])
    [first] = wait_for(lambda: [d for d in deliveries_of(s1, {pid}) if d["status"] == "succeeded"],
                       what="the first delivery")
    answer = s1.post(f"/v1/supplier/deliveries/{first['delivery_id']}/replay")
    assert answer.status_code == 202, answer.text
    replay = answer.json()
    assert (replay["event_id"], replay["replay"], replay["replay_number"]) == (first["event_id"], True, 1)
    wait_for(lambda: s1.get(f"/v1/supplier/deliveries/{replay['delivery_id']}").json()["status"] == "succeeded",
             what="the replay")
    got = [r for r in receiver.receipts if r.event_id == first["event_id"]]
    assert [r.replay for r in got] == [False, True]
    assert got[0].body == got[1].body == first["payload"]
    assert receiver.processed[first["event_id"]] == 1  # the receiver deduped it
    same_event = s1.get("/v1/supplier/deliveries", params={"event_id": first["event_id"]}).json()["items"]
    assert sorted(d["replay_number"] for d in same_event) == [0, 1]


def test_secrets_rotate_without_downtime(integration_api: Api, receiver: Receiver) -> None:
    api = integration_api
    s1 = client(api, "supplier_s1")
    endpoint = register(s1, receiver, event_types=["proposal.created"])
    old = receiver.secrets[0]

    def deliver_one() -> Any:
        [pid] = propose(api, "pl1", [new_candidate(api)])
        wait_for(lambda: any(r.body["data"]["proposal_id"] == pid and r.verified for r in receiver.receipts),
                 what="a verified delivery")
        return next(r for r in receiver.receipts if r.body["data"]["proposal_id"] == pid)

    rotated = s1.post(f"/v1/supplier/webhooks/{endpoint['endpoint_id']}/rotate-secret").json()
    new = rotated["secret"]
    assert new != old
    assert len(s1.get(f"/v1/supplier/webhooks/{endpoint['endpoint_id']}").json()["active_secrets"]) == 2
    deliver_one()  # the receiver still knows only the old secret: verified
    receiver.secrets = [new]
    deliver_one()  # switched to the new one whenever it liked: verified
    # The grace period ends at once: only the newest secret signs.
    newest = s1.post(f"/v1/supplier/webhooks/{endpoint['endpoint_id']}/rotate-secret",
                     json={"previous_secret_expires_in_s": 0}).json()["secret"]
    assert len(s1.get(f"/v1/supplier/webhooks/{endpoint['endpoint_id']}").json()["active_secrets"]) == 1
    receiver.secrets = [newest]
    receipt = deliver_one()
    assert receipt.verified
    body = receipt.body
    assert body["id"] == receipt.event_id


def test_a_delivery_is_given_up_after_the_last_attempt(integration_api: Api, receiver: Receiver) -> None:
    api = integration_api
    receiver.script = ["fail"] * 50
    s1 = client(api, "supplier_s1")
    register(s1, receiver, event_types=["proposal.created"])
    [pid] = propose(api, "pl1", [new_candidate(api)])
    [failed] = wait_for(lambda: [d for d in deliveries_of(s1, {pid}) if d["status"] == "failed"],
                        timeout=30, what="the delivery to fail for good")
    assert failed["attempts"] == 8 and len(failed["attempt_log"]) == 8
    gaps = [b - a for a, b in zip(
        [dt.datetime.fromisoformat(a["at"]) for a in failed["attempt_log"]][:-1],
        [dt.datetime.fromisoformat(a["at"]) for a in failed["attempt_log"]][1:], strict=True)]
    # Backing off: 50 ms doubled up to the 400 ms cap (±20 %). A busy machine can only delay an
    # attempt, so each gap is at least its backoff, and the last at least the cap's (not the
    # first gap doubled: a first retry delayed by a snapshot rebuild would make that fail).
    floor = [dt.timedelta(seconds=min(0.05 * 2**i, 0.4) * 0.8) for i in range(len(gaps))]
    assert all(gap >= least for gap, least in zip(gaps, floor, strict=True)), gaps
    assert gaps[-1] >= dt.timedelta(seconds=0.32) > 2 * dt.timedelta(seconds=0.05 * 1.2)


def test_deleting_an_endpoint_cancels_its_pending_deliveries(integration_api: Api, receiver: Receiver) -> None:
    api = integration_api
    receiver.script = ["fail"] * 50
    s1 = client(api, "supplier_s1")
    endpoint = register(s1, receiver, event_types=["proposal.created"])
    [pid] = propose(api, "pl1", [new_candidate(api)])
    [pending] = wait_for(lambda: [d for d in deliveries_of(s1, {pid}) if d["attempts"] >= 1],
                         what="a first failed attempt")
    assert s1.delete(f"/v1/supplier/webhooks/{endpoint['endpoint_id']}").status_code == 204
    assert s1.get(f"/v1/supplier/deliveries/{pending['delivery_id']}").json()["status"] == "cancelled"
    assert s1.post(f"/v1/supplier/deliveries/{pending['delivery_id']}/replay").status_code == 409
    assert s1.get(f"/v1/supplier/webhooks/{endpoint['endpoint_id']}").status_code == 404


def test_webhook_urls_must_be_https(integration_api: Api) -> None:
    s1 = client(integration_api, "supplier_s1")
    for url in ("http://example.se/hook", "ftp://example.se/hook", "https://user:pw@example.se/hook",
                "http://10.0.0.1/hook", "https://10.0.0.1/hook", "https://169.254.169.254/latest",
                "https://192.168.1.5/hook"):
        answer = s1.post("/v1/supplier/webhooks", json={"url": url})
        assert answer.status_code == 422, url
        assert answer.json()["errors"][0]["location"] == "body.url"
    created = s1.post("/v1/supplier/webhooks", json={"url": "https://hr.example.se/platsa"})
    assert created.status_code == 201
    assert created.json()["secret"].startswith("whsec_")
    assert "secret" not in s1.get(f"/v1/supplier/webhooks/{created.json()['endpoint_id']}").json()
    assert s1.delete(f"/v1/supplier/webhooks/{created.json()['endpoint_id']}").status_code == 204


def test_plain_http_to_localhost_needs_the_setting(api: Api) -> None:
    # Without PLATSA_WEBHOOK_ALLOW_HTTP_LOCALHOST, not even 127.0.0.1 may be plain http.
    with api.client("supplier_s1") as plain:
        assert plain.post("/v1/supplier/webhooks", json={"url": "http://127.0.0.1:9/hook"}).status_code == 422


def test_publishing_a_round_announces_each_proposal(integration_api: Api, receiver: Receiver) -> None:
    api = integration_api
    register(client(api, "supplier_s1"), receiver, event_types=["proposal.created"])
    register(client(api, "supplier_s2"), receiver, event_types=["proposal.created"])
    coordinator = client(api, "coordinator")
    accepted = coordinator.post("/v1/rounds", json={"params": {"method": "greedy", "use_floors": False,
                                                                 "use_keys": False}})
    assert accepted.status_code == 202, accepted.text
    round_id = accepted.json()["round_id"]
    wait_for(lambda: coordinator.get(f"/v1/rounds/{round_id}").json()["status"] in ("succeeded", "failed"),
             what="the round")
    published = coordinator.post(f"/v1/rounds/{round_id}/publish")
    assert published.status_code == 200, published.text
    made = {p["proposal_id"] for p in coordinator.get("/v1/proposals", params={"limit": 500}).json()["items"]
            if p["round_id"] == round_id}
    assert len(made) == published.json()["proposals_created"] > 0
    wait_for(lambda: made <= {r.body["data"]["proposal_id"] for r in receiver.receipts if r.verified},
             what="a proposal.created for each published proposal")
    created = [r for r in receiver.receipts if r.body["data"]["proposal_id"] in made]
    assert len({r.event_id for r in created}) == len(made)


def test_signatures_verify_and_refuse() -> None:
    body = b'{"id":"evt_1","type":"proposal.created"}'
    now = 1_800_000_000
    headers = signing.headers(["whsec_old", "whsec_new"], "evt_1", body, timestamp=now)
    assert headers[signing.SIGNATURE_HEADER].count("v1=") == 2
    assert signing.verify("whsec_new", body, headers, now=now) == "evt_1"
    assert signing.verify("whsec_old", body, headers, now=now + 299) == "evt_1"
    for secret, raw, at in (("whsec_other", body, now), ("whsec_new", body + b" ", now),
                            ("whsec_new", body, now + 301), ("whsec_new", body, now - 301)):
        with pytest.raises(signing.SignatureError):
            signing.verify(secret, raw, headers, now=at)
    with pytest.raises(signing.SignatureError):
        signing.verify("whsec_new", body, {}, now=now)
    # The documented recipe, by hand: HMAC-SHA256 of "<timestamp>.<body>", hex.
    import hashlib
    import hmac
    expected = hmac.new(b"whsec_new", f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    assert f"v1={expected}" in headers[signing.SIGNATURE_HEADER]


def test_candidate_references_are_stable_per_supplier_and_differ_between_suppliers() -> None:
    from service.integration.pseudonyms import candidate_reference

    key = b"k" * 32
    assert candidate_reference(key, "s1", "c1") == candidate_reference(key, "s1", "c1")
    assert candidate_reference(key, "s1", "c1") != candidate_reference(key, "s2", "c1")
    assert candidate_reference(key, "s1", "c1") != candidate_reference(b"x" * 32, "s1", "c1")
    assert "c1" not in candidate_reference(key, "s1", "c1")[5:]


def test_backoff_doubles_and_is_capped() -> None:
    import random

    from service.config import Settings
    from service.integration.worker import backoff_s

    settings = Settings(webhook_backoff_base_s=30, webhook_backoff_max_s=3600)
    rng = random.Random(1)
    waits = [backoff_s(n, settings, rng) for n in range(1, 10)]
    assert 24 <= waits[0] <= 36 and 48 <= waits[1] <= 72
    assert all(w <= 3600 * 1.2 for w in waits) and waits[-1] >= 3600 * 0.8


def test_a_synchronous_pass_for_tests_and_tools(integration_api: Api) -> None:
    from service.integration.worker import DeliveryWorker
    from tests.service.integration_support import integration_settings

    api = integration_api
    [pid] = propose(api, "pl1", [new_candidate(api)])
    backdate(api, pid, days=8)
    db = api.db()
    worker = DeliveryWorker(db, integration_settings(api.database_url))  # not started: no thread
    try:
        worker.run_once(wait=True, reminders=True)
    finally:
        worker.stop()
        db.dispose()
    events = client(api, "supplier_s1").get(f"/v1/supplier/proposals/{pid}/events").json()
    assert [e["type"] for e in events].count("proposal.reminder") == 1


def test_two_passes_recording_one_reminder_at_once_record_it_once(integration_api: Api) -> None:
    # Two reminder passes (the server's delivery loop and a synchronous pass, or two processes) both
    # read "not reminded yet" under the shared region lock; on PostgreSQL the second used to fail on
    # the unique dedupe key (an IntegrityError, its whole pass lost). Now the key decides: the second
    # waits for the first's commit and records nothing.
    import threading

    from service import store
    from service.db.engine import writer
    from service.integration import lifecycle
    from tests.service.integration_support import integration_settings

    api = integration_api
    [pid] = propose(api, "pl1", [new_candidate(api)])
    settings = integration_settings(api.database_url)
    # Both passes write as the delivery worker does, through the writer engine (on SQLite a
    # transaction that takes the write lock at BEGIN; a deferred one that read before the other's
    # commit would fail on its first write, a race of the test's own making, not the service's).
    db = writer(api.db())
    proposal = {"proposal_id": pid, "supplier_id": "s1"}
    key = f"reminder:{pid}-race"
    second: list[Any] = []
    try:
        with db.begin() as first:
            store.lock_region(first)
            made = lifecycle.record_event(first, proposal, lifecycle.REMINDER, actor=None, settings=settings,
                                          from_status="proposed", to_status="proposed", dedupe_key=key)
            assert made is not None

            def other_pass() -> None:
                with db.begin() as conn:
                    store.lock_region(conn)  # shared: it does not wait for the first pass
                    second.append(lifecycle.record_event(
                        conn, proposal, lifecycle.REMINDER, actor=None, settings=settings,
                        from_status="proposed", to_status="proposed", dedupe_key=key))

            thread = threading.Thread(target=other_pass)
            thread.start()
            thread.join(timeout=1.0 if api.backend == "postgres" else 0.0)  # it waits on the key (or lock)
        thread.join(timeout=30)
        assert not thread.is_alive() and second == [None]
        events = client(api, "supplier_s1").get(f"/v1/supplier/proposals/{pid}/events").json()
        assert [e["type"] for e in events].count("proposal.reminder") == 1
    finally:
        db.dispose()
