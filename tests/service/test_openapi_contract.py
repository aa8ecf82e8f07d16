"""The OpenAPI document is complete as ``docs/api.md`` says, and the answers keep to it.

- every operation has a description, and an example of every request body and success answer;
- every error answer is problem details of its own kind: a schema referenced and a matching example
  (a 409 is never documented with a 422's example), under ``application/problem+json``;
- every example validates against its own schema (jsonschema_rs, JSON Schema 2020-12 as OpenAPI 3.1
  uses it, formats checked: a ``date-time`` without a zone is refused);
- every timestamp the API answers carries its zone, stored values read back from SQLite included;
- a method an operation does not take answers 405 with ``Allow``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest
import sqlalchemy as sa

from service.app import create_app
from service.config import Settings
from service.errors import PROBLEM_JSON, PROBLEMS
from service.openapi import missing_examples
from tests.service.conftest import Api, server_with_region


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'platsa.db'}"
    return create_app(Settings(database_url=url)).openapi()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    # The components travel with the schema, so that its "#/components/schemas/..." refs resolve.
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]},
                                              validate_formats=True)


def _examples(media: dict[str, Any]) -> list[Any]:
    if "example" in media:
        return [media["example"]]
    return [e["value"] for e in media.get("examples", {}).values()]


def test_every_operation_has_a_description(document: dict[str, Any]) -> None:
    bare = [name for name, op in _operations(document) if not op.get("description", "").strip()]
    assert bare == []


def test_every_body_and_success_answer_has_an_example(document: dict[str, Any]) -> None:
    lacking = []
    for name, operation in _operations(document):
        contents = [("body", operation.get("requestBody", {}).get("content", {}))]
        contents += [(code, r.get("content", {})) for code, r in operation["responses"].items()
                     if code.startswith("2")]
        if not any(code.startswith("2") for code in operation["responses"]):
            lacking.append(f"{name}: no success answer")
        for code, content in contents:
            for media_type, media in content.items():
                if not _examples(media):
                    lacking.append(f"{name} {code} {media_type}")
    assert lacking == []
    assert missing_examples(document) == []


def test_every_error_answer_has_its_own_problem_schema_and_example(document: dict[str, Any]) -> None:
    wrong = []
    for name, operation in _operations(document):
        for code, response in operation["responses"].items():
            if int(code) < 400:
                continue
            content = response.get("content", {})
            if list(content) != [PROBLEM_JSON]:
                wrong.append(f"{name} {code}: media types {list(content)}")
                continue
            media = content[PROBLEM_JSON]
            if "schema" not in media or not _examples(media):
                wrong.append(f"{name} {code}: no schema or no example")
                continue
            refs = [media["schema"]] if "$ref" in media["schema"] else media["schema"].get("anyOf", [])
            names = {r["$ref"].rsplit("/", 1)[1] for r in refs}
            for example in _examples(media):
                kind = PROBLEMS.get(example["type"].removeprefix("/problems/"))
                if example["status"] != int(code) or kind is None or kind.status != int(code):
                    wrong.append(f"{name} {code}: example of {example['type']} ({example['status']})")
                elif kind.model.__name__ not in names:
                    wrong.append(f"{name} {code}: {example['type']} without its schema {kind.model.__name__}")
    assert wrong == []


def test_conflicts_reference_their_rich_problem_schemas(document: dict[str, Any]) -> None:
    def schemas(path: str, method: str = "post") -> str:
        return json.dumps(document["paths"][path][method]["responses"]["409"])

    assert "TransitionProblem" in schemas("/v1/supplier/proposals/{proposal_id}/transitions")
    assert "ProposalConflictProblem" in schemas("/v1/places/{place_id}/proposals")
    assert "ProposalConflictProblem" in schemas("/v1/rounds/{round_id}/publish")
    answer = schemas("/v1/region/import")
    assert "RegionEditConflictProblem" in answer and "RegionHistoryConflictProblem" in answer
    components = document["components"]["schemas"]
    assert "allowed_actions" in components["TransitionProblem"]["properties"]
    assert "conflicts" in components["ProposalConflictProblem"]["properties"]


def test_every_example_validates_against_its_schema(document: dict[str, Any]) -> None:
    invalid = []
    for name, operation in _operations(document):
        contents = [("body", operation.get("requestBody", {}).get("content", {}))]
        contents += list((code, r.get("content", {})) for code, r in operation["responses"].items())
        for code, content in contents:
            for media_type, media in content.items():
                if "schema" not in media or media["schema"].get("format") == "binary":
                    continue
                validator = _validator(document, media["schema"])
                for example in _examples(media):
                    for error in validator.iter_errors(example):
                        invalid.append(f"{name} {code} {media_type}: {error.message}")
    assert invalid == []


def test_every_timestamp_is_documented_as_date_time_with_a_zone(document: dict[str, Any]) -> None:
    untyped = []
    for name, schema in document["components"]["schemas"].items():
        for prop, sub in schema.get("properties", {}).items():
            if prop == "at" or prop.endswith("_at"):
                options = sub.get("anyOf", [sub])
                if not any(o.get("format") == "date-time" for o in options):
                    untyped.append(f"{name}.{prop}")
    assert untyped == []
    # A format check refuses a moment without its zone, so the examples above carry one.
    validator = _validator(document, {"type": "string", "format": "date-time"})
    assert not validator.is_valid("2026-09-01T08:00:00")
    assert validator.is_valid("2026-09-01T08:00:00Z")


# -- answers ------------------------------------------------------------------------------------


def _aware(value: str) -> bool:
    return dt.datetime.fromisoformat(value).tzinfo is not None


def _moments(body: Any) -> list[str]:
    """Every value under a key named ``at`` or ``*_at`` in ``body``."""
    if isinstance(body, list):
        return [m for item in body for m in _moments(item)]
    if isinstance(body, dict):
        out = []
        for key, value in body.items():
            if (key == "at" or key.endswith("_at")) and isinstance(value, str):
                out.append(value)
            else:
                out += _moments(value)
        return out
    return []


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def own_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            database_urls: dict[str, str]) -> Iterator[Api]:
    """A server of this module's own: the test below proposes and registers, which the shared one's
    tests do not expect."""
    with server_with_region(request.param, tmp_path_factory, database_urls, "zones") as api:
        yield api


def test_timestamps_stored_without_a_zone_are_answered_with_one(own_api: Api) -> None:
    # SQLite keeps no zone: make sure some stored moments are naive, then read every kind back.
    api = own_api
    with api.client("lmu_angered") as lmu:
        made = lmu.post("/v1/places/pl2/proposals", json={"candidate_ids": ["c6"]})
        assert made.status_code == 201, made.text
    with api.client("supplier_s2") as supplier:
        hook = supplier.post("/v1/supplier/webhooks",
                             json={"url": "https://hr.example.se/platsa/zone-test", "event_types": ["proposal.created"]})
        assert hook.status_code == 201, hook.text
        endpoint_id = hook.json()["endpoint_id"]
        if api.backend == "sqlite":
            with api.db().begin() as conn:
                stored = conn.execute(sa.text("SELECT created_at FROM webhook_endpoints WHERE endpoint_id = :e"),
                                      {"e": endpoint_id}).scalar_one()
            assert "+" not in str(stored) and "Z" not in str(stored)  # the database kept no zone
        answers = [supplier.get(f"/v1/supplier/webhooks/{endpoint_id}"), supplier.get("/v1/supplier/webhooks"),
                   supplier.get("/v1/supplier/proposals"), supplier.get("/v1/supplier/deliveries")]
        proposals = answers[2].json()["items"]
        if proposals:
            answers.append(supplier.get(f"/v1/supplier/proposals/{proposals[0]['proposal_id']}/events"))
        answers.append(supplier.post(f"/v1/supplier/webhooks/{endpoint_id}/rotate-secret", json={}))
    with api.client("coordinator") as coordinator:
        mine = coordinator.get("/v1/proposals").json()["items"]
        assert mine
        answers.append(coordinator.get(f"/v1/proposals/{mine[0]['proposal_id']}/events"))
        answers.append(coordinator.get("/v1/rounds"))
    with api.client("admin") as admin:
        answers.append(admin.get("/v1/audit", params={"limit": 20}))
    moments = []
    for answer in answers:
        assert answer.status_code == 200, (answer.request.url, answer.text)
        moments += _moments(answer.json())
    assert len(moments) >= 8
    assert [m for m in moments if not _aware(m)] == []


# -- methods ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("TRACE", "/v1/candidates", {"GET", "POST"}),
    ("TRACE", "/health", {"GET"}),
    ("PUT", "/v1/candidates/c1", {"GET", "PATCH"}),
    ("DELETE", "/v1/places", {"GET", "POST"}),
    ("OPTIONS", "/v1/supplier/webhooks/we_x", {"GET", "DELETE"}),
])
def test_an_unsupported_method_answers_405_with_allow(api: Api, method: str, path: str,
                                                      allowed: set[str]) -> None:
    with api.client("admin") as client:
        answer = client.request(method, path)
    assert answer.status_code == 405, answer.text
    assert {m.strip() for m in answer.headers["Allow"].split(",")} >= allowed
    assert answer.headers["Content-Type"] == PROBLEM_JSON
    assert answer.json()["type"] == "/problems/method-not-allowed"


def test_a_405_without_a_key_names_allow_too(api: Api) -> None:
    # Routing comes before authentication: the 405 tells nothing about the data.
    answer = httpx.request("TRACE", f"{api.base_url}/v1/audit")
    assert answer.status_code == 405
    assert "Allow" in answer.headers


@pytest.mark.parametrize(("since", "status"), [
    ("0.5", 422), ("1700000000", 422), ("yesterday", 422),  # numbers were read as Unix seconds
    ("2026-09-01T08:00:00Z", 200), ("2026-09-01T10:00:00+02:00", 200), ("2026-09-01T08:00:00", 200),
    ("2026-09-01", 200),
])
def test_since_takes_an_iso_time_as_documented_never_a_number(api: Api, since: str, status: int) -> None:
    # Found by schemathesis (negative_data_rejection): `since=0.5` was accepted as 1970-01-01T00:00:00.5Z.
    with api.client("supplier_s1") as client:
        answer = client.get("/v1/supplier/proposals", params={"since": since})
    assert answer.status_code == status, answer.text
    if status == 422:
        assert answer.json()["errors"][0]["location"] == "query.since"
