"""Supplier A against supplier B: whatever id A sends, it can never read, list, answer or replay B's
proposals, endpoints or deliveries. Another supplier's object answers exactly like one that does not
exist. (The same operations against every role are rows of ``test_authorisation.py``.)"""

# ruff: noqa: F811 - the integration_api fixture is imported, then named by the tests that use it

from __future__ import annotations

from typing import Any

import httpx

from tests.service.conftest import Api
from tests.service.integration_support import (  # noqa: F401 - integration_api: a fixture
    Receiver,
    client,
    integration_api,
    new_candidate,
    propose,
    register,
    wait_for,
)

PLACE = {"supplier_s1": "pl1", "supplier_s2": "pl2"}


def objects_of(api: Api, key: str, receiver: Receiver, candidate: str) -> dict[str, str]:
    """A proposal, an endpoint, a delivery and its event, all belonging to ``key``'s supplier."""
    c = client(api, key)
    endpoint = register(c, receiver, event_types=["proposal.created"])
    [pid] = propose(api, PLACE[key], [candidate])
    [delivery] = wait_for(lambda: [d for d in c.get("/v1/supplier/deliveries", params={"limit": 200}).json()["items"]
                                   if d["payload"]["data"]["proposal_id"] == pid and d["status"] == "succeeded"],
                          what="a delivery")
    return {"proposal_id": pid, "endpoint_id": endpoint["endpoint_id"], "delivery_id": delivery["delivery_id"],
            "event_id": delivery["event_id"]}


def attempts(ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation that names an object by id."""
    p, e, d = ids["proposal_id"], ids["endpoint_id"], ids["delivery_id"]
    return [
        ("GET", f"/v1/supplier/proposals/{p}", {}),
        ("GET", f"/v1/supplier/proposals/{p}/events", {}),
        ("POST", f"/v1/supplier/proposals/{p}/transitions", {"json": {"action": "view"}}),
        ("POST", f"/v1/supplier/proposals/{p}/transitions", {"json": {"action": "decline", "reason": "other"}}),
        ("GET", f"/v1/supplier/webhooks/{e}", {}),
        ("POST", f"/v1/supplier/webhooks/{e}/rotate-secret", {}),
        ("DELETE", f"/v1/supplier/webhooks/{e}", {}),
        ("GET", f"/v1/supplier/deliveries/{d}", {}),
        ("POST", f"/v1/supplier/deliveries/{d}/replay", {}),
    ]


def listed(c: httpx.Client) -> tuple[set[str], set[str], set[str], set[str]]:
    proposals = {p["proposal_id"] for p in c.get("/v1/supplier/proposals", params={"limit": 200}).json()["items"]}
    endpoints = {e["endpoint_id"] for e in c.get("/v1/supplier/webhooks").json()}
    log = c.get("/v1/supplier/deliveries", params={"limit": 200}).json()["items"]
    return proposals, endpoints, {d["delivery_id"] for d in log}, {d["event_id"] for d in log}


def test_a_supplier_never_reaches_another_suppliers_objects(integration_api: Api) -> None:
    api = integration_api
    receivers = {"supplier_s1": Receiver(), "supplier_s2": Receiver()}
    shared = new_candidate(api)  # proposed to both suppliers
    mine = {key: objects_of(api, key, r, shared) for key, r in receivers.items()}
    guessed = {"proposal_id": "PR-0000000000000000", "endpoint_id": "we_00000000000000000000",
               "delivery_id": "dlv_00000000000000000000", "event_id": "evt_0"}
    checked = 0
    for me, other in (("supplier_s1", "supplier_s2"), ("supplier_s2", "supplier_s1")):
        c, theirs = client(api, me), mine[other]
        before = client(api, other).get(f"/v1/supplier/proposals/{theirs['proposal_id']}").json()
        secrets_before = client(api, other).get(f"/v1/supplier/webhooks/{theirs['endpoint_id']}").json()
        log_before = listed(client(api, other))
        for (method, path, kwargs), (_, guess, _) in zip(attempts(theirs), attempts(guessed), strict=True):
            answer, unknown = c.request(method, path, **kwargs), c.request(method, guess, **kwargs)
            assert answer.status_code == unknown.status_code == 404, (me, method, path, answer.text)
            body, other_body = answer.json(), unknown.json()
            # The same answer as for an id that does not exist, but for the id itself.
            for key in ("proposal_id", "endpoint_id", "delivery_id"):
                body["detail"] = body["detail"].replace(theirs[key], "<id>")
                other_body["detail"] = other_body["detail"].replace(guessed[key], "<id>")
            assert {k: body[k] for k in ("type", "title", "status", "detail")} == \
                   {k: other_body[k] for k in ("type", "title", "status", "detail")}
            checked += 1
        proposals, endpoints, deliveries, events = listed(c)
        assert theirs["proposal_id"] not in proposals and mine[me]["proposal_id"] in proposals
        assert theirs["endpoint_id"] not in endpoints and mine[me]["endpoint_id"] in endpoints
        assert theirs["delivery_id"] not in deliveries and theirs["event_id"] not in events
        for name in ("event_id", "endpoint_id"):
            assert c.get("/v1/supplier/deliveries", params={name: theirs[name]}).json()["items"] == []
        # Nothing of theirs changed: status, secrets, log.
        assert client(api, other).get(f"/v1/supplier/proposals/{theirs['proposal_id']}").json() == before
        assert client(api, other).get(f"/v1/supplier/webhooks/{theirs['endpoint_id']}").json() == secrets_before
        assert listed(client(api, other)) == log_before
    assert checked == 2 * len(attempts(guessed))
    for key, r in receivers.items():
        client(api, key).delete(f"/v1/supplier/webhooks/{mine[key]['endpoint_id']}")
        r.close()


def test_candidate_references_are_per_supplier(integration_api: Api) -> None:
    api = integration_api
    person = new_candidate(api)
    [first_s1] = propose(api, "pl1", [person])
    [at_s2] = propose(api, "pl2", [person])
    s1, s2 = client(api, "supplier_s1"), client(api, "supplier_s2")
    ref_s1 = s1.get(f"/v1/supplier/proposals/{first_s1}").json()["candidate_reference"]
    ref_s2 = s2.get(f"/v1/supplier/proposals/{at_s2}").json()["candidate_reference"]
    assert ref_s1 != ref_s2
    assert person not in ref_s1 and person not in ref_s2
    # The same person again at the same supplier: the same reference (after the first is closed).
    assert s1.post(f"/v1/supplier/proposals/{first_s1}/transitions",
                   json={"action": "decline", "reason": "position_filled"}).status_code == 200
    [second_s1] = propose(api, "pl1", [person])
    assert s1.get(f"/v1/supplier/proposals/{second_s1}").json()["candidate_reference"] == ref_s1
    # Closed proposals keep the reference but no longer the profile.
    closed = s1.get(f"/v1/supplier/proposals/{first_s1}").json()
    assert closed["candidate_reference"] == ref_s1 and closed["candidate"] is None


def test_only_supplier_keys_use_the_supplier_api(integration_api: Api) -> None:
    for key in ("admin", "coordinator", "lmu_angered", "researcher"):
        answer = client(integration_api, key).get("/v1/supplier/proposals")
        assert answer.status_code == 403, key
        assert answer.json()["type"] == "/problems/forbidden"


def test_polling_with_a_cursor_and_since(integration_api: Api) -> None:
    api = integration_api
    s2 = client(api, "supplier_s2")
    everything, cursor = [], None
    while True:
        page = s2.get("/v1/supplier/proposals", params={"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        everything += page["items"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert len({p["proposal_id"] for p in everything}) == len(everything)
    assert all(p["place_id"] == "pl2" for p in everything)
    # Keep the last cursor: later, exactly what changed since comes back, new and answered ones alike.
    assert s2.get("/v1/supplier/proposals", params={"cursor": cursor}).json()["items"] == []
    answered, new = propose(api, "pl2", [new_candidate(api), new_candidate(api)])
    assert s2.post(f"/v1/supplier/proposals/{answered}/transitions", json={"action": "view"}).status_code == 200
    changed = s2.get("/v1/supplier/proposals", params={"cursor": cursor}).json()
    assert [p["proposal_id"] for p in changed["items"]] == [new, answered]  # in the order they changed
    assert [p["status"] for p in changed["items"]] == ["open", "viewed"]
    since = changed["items"][0]["updated_at"]
    by_time = s2.get("/v1/supplier/proposals", params={"since": since}).json()["items"]
    assert {p["proposal_id"] for p in by_time} == {new, answered}
    assert s2.get("/v1/supplier/proposals", params={"cursor": "garbage"}).status_code == 422
