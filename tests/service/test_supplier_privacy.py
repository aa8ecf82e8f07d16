"""No supplier-facing answer carries a sensitive attribute: by schema, and by scanning real answers.

The region behind ``integration_api`` has every sensitive attribute set on every candidate (gender,
birth year 1961, foreign born, disability, income support). Here every supplier-facing operation is
called on proposals in every status (and every other GET a supplier key may call), webhooks are
received, and every JSON answer, problem answer and webhook body is scanned, keys and values.
"""

# ruff: noqa: F811 - the integration_api fixture is imported, then named by the tests that use it

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from typing import Any

import httpx
import polars as pl
import pytest

from fixtures import generate_region
from scoring.policy import load_policy
from scoring.privacy import coarsen, generalise
from scoring.schema import SENSITIVE_COLUMNS, TABLES
from service.app import create_app
from service.auth import Role, create_key
from service.demo import DEMO_REGION
from service.privacy import wire_profile
from tests.service.conftest import Api, server_with_region
from tests.service.integration_support import (  # noqa: F401 - integration_api: a fixture
    SENSITIVE_BIRTH_YEAR,
    Receiver,
    candidate_ids,
    client,
    integration_api,
    new_candidate,
    propose,
    register,
    wait_for,
)
from tests.service.test_webhooks import backdate

#: Keys that name a sensitive attribute or a priority group.
FORBIDDEN_KEYS = SENSITIVE_COLUMNS | {
    "age", "birth_country", "country_of_birth", "priority_groups", "groups", "group", "youth",
    "gender_norm_breaker", "norm_breaker",
}
#: In the integration's own schemas, also nothing that locates or identifies a person internally.
#: (In answers, a place's or a district's coordinates are not a person's; an internal id is caught
#: by its value.)
FORBIDDEN_SCHEMA_KEYS = FORBIDDEN_KEYS | {"candidate_id", "home_district", "registered_since",
                                         "commute_limit_km", "lat", "lon"}
FORBIDDEN_KEY_TOKENS = {"gender", "birth", "age", "foreign", "disability", "income", "priority", "group",
                        "groups", "youth", "ethnicity", "health"}
FORBIDDEN_TEXT = ("social_assistance", "activity_support", "foreign_born", "foreign-born", "disabilit",
                  "youth", "norm_breaker", "priority")
#: The birth year as a number of its own, not four digits inside another (a timestamp's
#: microseconds, '...33.861961Z', once matched '1961').
BIRTH_YEAR_TEXT = re.compile(rf"(?<!\d){SENSITIVE_BIRTH_YEAR}(?!\d)")


def forbidden_key(key: str, names: frozenset[str] | set[str] = FORBIDDEN_KEYS) -> bool:
    return key in names or bool(set(key.lower().split("_")) & FORBIDDEN_KEY_TOKENS)


def forbidden_schema_key(key: str) -> bool:
    return forbidden_key(key, FORBIDDEN_SCHEMA_KEYS)


def leaks(value: Any, internal_ids: set[str], where: str = "$") -> list[str]:
    """Every place in a JSON value where something sensitive shows."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if forbidden_key(str(key)):
                found.append(f"{where}.{key}: a sensitive key")
            found += leaks(item, internal_ids, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += leaks(item, internal_ids, f"{where}[{i}]")
    elif isinstance(value, str):
        text = value.lower()
        found += [f"{where}: {value!r} mentions {t!r}" for t in FORBIDDEN_TEXT if t in text]
        if BIRTH_YEAR_TEXT.search(text):
            found.append(f"{where}: {value!r} mentions the birth year")
        if value in internal_ids:
            found.append(f"{where}: {value!r} is an internal candidate id")
    elif isinstance(value, int) and not isinstance(value, bool) and value == SENSITIVE_BIRTH_YEAR:
        found.append(f"{where}: the birth year")
    return found


class Recorder:
    """Calls the API as one supplier and keeps every answer for the scan."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.answers: list[tuple[str, int, Any]] = []

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = self.http.request(method, path, **kwargs)
        body = answer.json() if answer.content and "json" in answer.headers.get("content-type", "") else None
        self.answers.append((f"{method} {path} {kwargs.get('params', '')}", answer.status_code, body))
        return answer


def supplier_operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in schema["paths"].items() for method, op in ops.items()
            if path.startswith("/v1/supplier/")]


def property_names(schema: dict[str, Any], node: Any, seen: set[str] | None = None) -> set[str]:
    """Every property name reachable from ``node`` (following ``$ref``s)."""
    seen = set() if seen is None else seen
    names: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            target: Any = schema
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
            names |= property_names(schema, target, seen)
        names |= set(node.get("properties", {}))
        for value in node.values():
            names |= property_names(schema, value, seen)
    elif isinstance(node, list):
        for value in node:
            names |= property_names(schema, value, seen)
    return names


def test_no_supplier_facing_schema_names_a_sensitive_field() -> None:
    schema = create_app().openapi()
    operations = supplier_operations(schema)
    assert len(operations) == 12
    for method, path, op in operations:
        names = property_names(schema, op.get("responses", {}))
        names |= property_names(schema, op.get("requestBody", {}))
        assert not {n for n in names if forbidden_schema_key(n)}, (method, path)
        assert "candidate_reference" in names or "proposal" not in path or path.endswith("/events")
    webhooks = schema["webhooks"]
    assert set(webhooks) == {"proposal.created", "proposal.withdrawn", "proposal.reminder"}
    names = property_names(schema, webhooks)
    assert "candidate_reference" in names
    assert not {n for n in names if forbidden_schema_key(n)}
    # The municipality's own view of a candidate does have them: the check would notice a leak.
    assert {n for n in property_names(schema, schema["components"]["schemas"]["Candidate"]) if forbidden_key(n)}


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "x"), path)


def test_no_supplier_facing_answer_carries_a_sensitive_value(integration_api: Api) -> None:
    api = integration_api
    internal = set(candidate_ids())
    receiver = Receiver()
    s1 = Recorder(client(api, "supplier_s1"))
    created = s1("POST", "/v1/supplier/webhooks", json={"url": receiver.url})
    assert created.status_code == 201
    receiver.secrets.append(created.json()["secret"])
    endpoint_id = created.json()["endpoint_id"]
    fresh = [new_candidate(api) for _ in range(4)]
    internal |= set(fresh)
    ids = propose(api, "pl1", [*fresh, "c1"])
    coordinator = client(api, "coordinator")
    steps = {ids[0]: [{"action": "view"}, {"action": "interview"},
                      {"action": "internship", "start_date": "2026-12-01"},
                      {"action": "hire", "start_date": "2027-01-10", "contract_type": "fixed_term"}],
             ids[1]: [{"action": "decline", "reason": "distance"}],
             ids[3]: [{"action": "view"}]}
    for pid, bodies in steps.items():
        for body in bodies:
            assert s1("POST", f"/v1/supplier/proposals/{pid}/transitions", json=body).status_code == 200
    assert coordinator.post(f"/v1/proposals/{ids[2]}/withdraw").status_code == 200
    backdate(api, ids[4], days=9)
    wait_for(lambda: {"proposal.created", "proposal.withdrawn", "proposal.reminder"}
             <= {r.body["type"] for r in receiver.receipts if r.body["data"]["proposal_id"] in ids},
             what="every kind of event")
    # Every supplier-facing operation, on proposals in every status.
    s1("POST", f"/v1/supplier/proposals/{ids[0]}/transitions", json={"action": "view"})  # 409 problem
    s1("POST", f"/v1/supplier/proposals/{ids[3]}/transitions", json={"action": "hire"})  # 422 problem
    cursor = None
    while True:
        page = s1("GET", "/v1/supplier/proposals", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        cursor = page.json()["next_cursor"]
        if not page.json()["has_more"]:
            break
    s1("GET", "/v1/supplier/proposals", params={"since": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()})
    s1("GET", "/v1/supplier/proposals", params={"status": ["hired", "declined", "withdrawn", "open", "viewed"]})
    for pid in ids:
        s1("GET", f"/v1/supplier/proposals/{pid}")
        s1("GET", f"/v1/supplier/proposals/{pid}/events")
    s1("GET", "/v1/supplier/webhooks")
    s1("GET", f"/v1/supplier/webhooks/{endpoint_id}")
    deliveries = s1("GET", "/v1/supplier/deliveries", params={"limit": 200}).json()["items"]
    assert deliveries
    for d in deliveries[:5]:
        s1("GET", f"/v1/supplier/deliveries/{d['delivery_id']}")
    s1("POST", f"/v1/supplier/deliveries/{deliveries[0]['delivery_id']}/replay")
    s1("POST", f"/v1/supplier/webhooks/{endpoint_id}/rotate-secret", json={"previous_secret_expires_in_s": 0})
    # Every other GET a supplier key may call (policies describe the groups by design, not people).
    schema = create_app().openapi()
    fill = {"proposal_id": ids[0], "place_id": "pl1", "supplier_id": "s1", "procurement_id": "p1",
            "endpoint_id": endpoint_id, "delivery_id": deliveries[0]["delivery_id"]}
    for path, ops in schema["paths"].items():
        if "get" in ops and not path.startswith("/v1/policies"):
            s1("GET", _fill(path, fill))
    s1("DELETE", f"/v1/supplier/webhooks/{endpoint_id}")
    receiver.close()

    assert {status for _, status, _ in s1.answers} >= {200, 201, 202, 204, 403, 409, 422}
    called = {what.split(" ")[1] for what, status, _ in s1.answers if status < 300}
    assert {"/v1/supplier/proposals", "/v1/proposals", "/v1/places"} <= called
    profiles = [p for _, _, body in s1.answers if isinstance(body, dict)
                for p in body.get("items", []) if isinstance(p, dict) and p.get("candidate")
                and "candidate_reference" in p]
    assert profiles and all(p["candidate"]["support_at_work"] for p in profiles)  # the data is there
    problems = [f"{what} → {status}: {leak}" for what, status, body in s1.answers
                for leak in leaks(body, internal)]
    for r in receiver.receipts:
        problems += [f"webhook {r.body['type']}: {leak}" for leak in leaks(r.body, internal)]
    assert problems == [], "\n".join(problems)
    # A positive control: the scan does see what a coordinator may read about the same person.
    assert len(leaks(coordinator.get("/v1/candidates/c1").json(), internal)) >= 6
    assert len(receiver.receipts) >= 6


def test_the_birth_year_is_caught_as_a_number_not_inside_a_timestamp() -> None:
    year = SENSITIVE_BIRTH_YEAR
    assert leaks({"note": f"born {year}"}, set())
    assert leaks({"when": f"{year}-05-01"}, set())
    assert leaks({"year": year}, set())
    assert not leaks({"finished_at": f"2026-12-03T09:38:33.86{year}Z"}, set())


# -- defect 9: proxy attributes and linkability, through the API on the demo region ------------------


def test_a_supplier_sees_no_proxy_value_and_only_profiles_shared_by_k(
        tmp_path_factory: pytest.TempPathFactory, database_urls: dict[str, str]) -> None:
    """The attack of issue 14 on the demo region, over HTTP: a foreign-born candidate who needs an
    interpreter and speaks Arabic is proposed; the supplier reads neither, and every profile it can
    read (integration API and ``/v1/proposals`` alike, one view) is shared by k of the region."""
    region = generate_region(*DEMO_REGION[:2], seed=DEMO_REGION[2])
    frames = {name: region.table(name) for name in TABLES}
    cands = frames["candidates"]
    target = (cands.filter(pl.col("foreign_born") & pl.col("support_needs").list.contains("tolk")
                           & ~pl.col("placed")).row(0, named=True))
    cands = cands.with_columns(
        competences=pl.when(pl.col("candidate_id") == target["candidate_id"])
        .then(pl.lit(["Arabiska", "SFI", "B-körkort"], dtype=pl.List(pl.String)))
        .otherwise(pl.col("competences")))
    frames["candidates"] = cands
    # One place open on the test manifest's reference date (2026-09-01), with room.
    frames["places"] = frames["places"].with_columns(
        start_date=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(dt.date(2026, 9, 15)))
        .otherwise(pl.col("start_date")),
        slots=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(50, dtype=pl.Int32)).otherwise(pl.col("slots")))
    place = frames["places"].row(0, named=True)
    with server_with_region("sqlite", tmp_path_factory, database_urls, "privacy-demo", frames=frames) as api:
        db = api.db()
        with db.begin() as conn:
            token = create_key(conn, role=Role.SUPPLIER, name="demo supplier",
                               supplier_id=place["supplier_id"]).token
        db.dispose()
        coordinator = api.client("coordinator")
        answer = coordinator.post(f"/v1/places/{place['place_id']}/proposals", json={
            "candidate_ids": [target["candidate_id"]], "allow_multiple_open": True,
            "overrides": [{"candidate_id": target["candidate_id"], "reason": "privacy test"}]})
        assert answer.status_code == 201, answer.text
        proposal_id = answer.json()["proposals"][0]["proposal_id"]
        supplier = httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        seen = supplier.get(f"/v1/supplier/proposals/{proposal_id}").json()["candidate"]
        other_view = supplier.get(f"/v1/proposals/{proposal_id}").json()["candidate"]
        listed = supplier.get("/v1/supplier/proposals", params={"limit": 200}).json()["items"]
        supplier.close()
        coordinator.close()
    assert seen == other_view  # one view of a candidate for a supplier
    text = json.dumps(seen, ensure_ascii=False).lower()
    assert "tolk" not in text and "arabiska" not in text and "sfi" not in text
    assert seen["support_at_work"] is None or "stöd i arbetet" in seen["support_at_work"]
    # Every profile the supplier can read is shared by at least k candidates of the region.
    policy = load_policy("gothenburg")
    shown = [wire_profile(p) for p in generalise(coarsen(cands, policy.privacy), policy.privacy)]
    counts = Counter(json.dumps(p, default=str, sort_keys=True) for p in shown)
    profiles = [item["candidate"] for item in listed if item["candidate"]]
    assert seen in profiles and len(profiles) >= 2
    assert min(counts[json.dumps(p, default=str, sort_keys=True)] for p in profiles) >= policy.privacy.k


def test_profiles_are_reused_while_no_profile_field_changes() -> None:
    """A new snapshot after an answered proposal reuses the profiles; a changed candidate does not."""
    from types import SimpleNamespace

    from service.privacy import SupplierProfiles

    cands = generate_region("gothenburg", "small", seed=3).candidates
    policy = load_policy("gothenburg")

    def snapshot(frame: pl.DataFrame) -> Any:
        return SimpleNamespace(region=SimpleNamespace(candidates=frame), policy=policy)

    first, second = SupplierProfiles(), SupplierProfiles()
    cid = cands["candidate_id"][0]
    assert first.get(snapshot(cands), cid) is second.get(snapshot(cands.clone()), cid)
    first._by_id = None
    assert first._compute(snapshot(cands)) is second._by_id  # the same dict: nothing recomputed
    changed = cands.with_columns(wished_hours=pl.when(pl.col("candidate_id") == cid).then(11)
                                 .otherwise(pl.col("wished_hours")))
    assert SupplierProfiles._compute(snapshot(changed)) is not second._by_id
    # Only the placed flag changed (a hire): the profiles stay.
    hired = changed.with_columns(placed=~pl.col("placed"))
    assert SupplierProfiles._compute(snapshot(hired)) is SupplierProfiles._compute(snapshot(changed))
