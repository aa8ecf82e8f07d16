"""``Idempotency-Key`` on POST: a retry returns the first answer and does nothing twice; the same key
for a different request is refused; keys belong to one API key."""

# ruff: noqa: F811 - the integration_api fixture is imported, then named by the tests that use it

from __future__ import annotations

import threading
import uuid

import httpx

from service.app import create_app
from tests.service.conftest import Api
from tests.service.integration_support import (  # noqa: F401 - integration_api: a fixture
    client,
    integration_api,
    new_candidate,
)


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def proposals_of(api: Api, candidate: str) -> list[str]:
    items = client(api, "coordinator").get("/v1/proposals", params={"limit": 500}).json()["items"]
    return [p["proposal_id"] for p in items if p["candidate_id"] == candidate]


def test_a_retry_gets_the_first_answer_and_changes_nothing(integration_api: Api) -> None:
    api = integration_api
    coordinator, candidate, headers = client(api, "coordinator"), new_candidate(api), key()
    body = {"candidate_ids": [candidate]}
    first = coordinator.post("/v1/places/pl1/proposals", json=body, headers=headers)
    retry = coordinator.post("/v1/places/pl1/proposals", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.content == first.content
    assert retry.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(proposals_of(api, candidate)) == 1  # proposed once
    # Without a key, the same request is a new request (here: refused, one open proposal already).
    assert coordinator.post("/v1/places/pl1/proposals", json=body).status_code == 409


def test_a_refusal_is_the_first_answer_too(integration_api: Api) -> None:
    api = integration_api
    s1, coordinator = client(api, "supplier_s1"), client(api, "coordinator")
    [pid] = coordinator.post("/v1/places/pl1/proposals", json={"candidate_ids": [new_candidate(api)]}).json()[
        "proposals"]
    pid = pid["proposal_id"]
    headers = key()
    path, hire = f"/v1/supplier/proposals/{pid}/transitions", {"action": "hire", "start_date": "2027-01-01",
                                                              "contract_type": "permanent"}
    refused = s1.post(path, json=hire, headers=headers)
    assert refused.status_code == 409
    assert s1.post(path, json={"action": "view"}).status_code == 200
    assert s1.post(path, json={"action": "interview"}).status_code == 200
    # Now a hire would be allowed, but this key named the request that was refused.
    again = s1.post(path, json=hire, headers=headers)
    assert (again.status_code, again.json()) == (409, refused.json())
    assert s1.get(f"/v1/supplier/proposals/{pid}").json()["status"] == "interview"


def test_the_same_key_for_a_different_request_is_refused(integration_api: Api) -> None:
    api = integration_api
    s1, headers = client(api, "supplier_s1"), key()
    created = s1.post("/v1/supplier/webhooks", json={"url": "https://hr.example.se/a"}, headers=headers)
    assert created.status_code == 201
    for path, body in (("/v1/supplier/webhooks", {"url": "https://hr.example.se/b"}),
                       (f"/v1/supplier/webhooks/{created.json()['endpoint_id']}/rotate-secret", {})):
        answer = s1.post(path, json=body, headers=headers)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "/problems/idempotency-key-reused"
    assert len([e for e in s1.get("/v1/supplier/webhooks").json() if e["url"].startswith("https://hr.example.se/")
                ]) == 1
    s1.delete(f"/v1/supplier/webhooks/{created.json()['endpoint_id']}")


def test_keys_belong_to_one_api_key(integration_api: Api) -> None:
    api = integration_api
    headers = key()
    a = client(api, "supplier_s1").post("/v1/supplier/webhooks", json={"url": "https://s1.example.se/h"},
                                        headers=headers)
    b = client(api, "supplier_s2").post("/v1/supplier/webhooks", json={"url": "https://s2.example.se/h"},
                                        headers=headers)
    assert a.status_code == b.status_code == 201
    assert a.json()["endpoint_id"] != b.json()["endpoint_id"]
    client(api, "supplier_s1").delete(f"/v1/supplier/webhooks/{a.json()['endpoint_id']}")
    client(api, "supplier_s2").delete(f"/v1/supplier/webhooks/{b.json()['endpoint_id']}")


def test_other_posts_honour_the_key(integration_api: Api) -> None:
    api = integration_api
    body = {"candidate_id": f"cx-{uuid.uuid4().hex[:8]}", "home_district": "angered", "lat": 57.79, "lon": 12.05,
            "work_ladder_step": 3, "commute_limit_km": 15.0, "wished_hours": 40, "available_from": "2026-09-01",
            "registered_since": "2025-01-10", "gender": "F", "birth_year": 1990, "foreign_born": False,
            "disability": False, "income_support": "other", "placed": False}
    headers, coordinator = key(), client(api, "coordinator")
    first = coordinator.post("/v1/candidates", json=body, headers=headers)
    retry = coordinator.post("/v1/candidates", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201  # not 409: the retry is the same request
    assert retry.headers["Location"] == first.headers["Location"]


def test_simultaneous_retries_do_it_once(integration_api: Api) -> None:
    api = integration_api
    candidate, headers = new_candidate(api), key()
    answers: list[httpx.Response] = []

    def send() -> None:
        with api.client("coordinator") as c:
            answers.append(c.post("/v1/places/pl2/proposals", json={"candidate_ids": [candidate]}, headers=headers))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(proposals_of(api, candidate)) == 1
    created = [a for a in answers if a.status_code == 201]
    assert created and all(a.json() == created[0].json() for a in created)
    busy = [a for a in answers if a.status_code != 201]
    assert all(a.status_code == 409 and a.json()["type"] == "/problems/idempotency-key-in-progress"
               and a.headers["Retry-After"] for a in busy)


def test_invalid_keys_and_unauthenticated_requests(integration_api: Api) -> None:
    s1 = client(integration_api, "supplier_s1")
    answer = s1.post("/v1/supplier/webhooks", json={"url": "https://x.example.se"}, headers={"Idempotency-Key": "x" * 300})
    assert answer.status_code == 422
    with httpx.Client(base_url=integration_api.base_url) as anonymous:
        for _ in range(2):
            assert anonymous.post("/v1/supplier/webhooks", json={}, headers={"Idempotency-Key": "k"}).status_code == 401


def test_every_post_documents_the_header() -> None:
    schema = create_app().openapi()
    posts = [(path, ops["post"]) for path, ops in schema["paths"].items() if "post" in ops]
    assert len(posts) >= 10
    for path, op in posts:
        assert "Idempotency-Key" in {p["name"] for p in op.get("parameters", [])}, path
