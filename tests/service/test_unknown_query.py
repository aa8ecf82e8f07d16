"""Every /v1 operation refuses query parameters it does not declare (FastAPI would ignore them)."""

from __future__ import annotations

from service.app import create_app
from tests.service.conftest import Api

SHORTLIST_TAKES = "unknown query parameter; this operation takes k, fair, include_held_back, policy"


def test_an_unknown_parameter_is_named(api: Api) -> None:
    with api.client("coordinator") as client:
        answer = client.get("/v1/places/pl1/shortlist?k=3&fiar=false&colour=blue")
        listing = client.get("/v1/candidates?limt=5")
        start = client.post("/v1/rounds?dry_run=1", json={})
        known = client.get("/v1/candidates?limit=5&offset=0")
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"] == [
        {"location": "query.fiar", "message": SHORTLIST_TAKES, "type": "extra_forbidden"},
        {"location": "query.colour", "message": SHORTLIST_TAKES, "type": "extra_forbidden"}]
    assert listing.json()["errors"] == [{"location": "query.limt", "type": "extra_forbidden",
                                         "message": "unknown query parameter; this operation takes limit, "
                                                    "offset, district"}]
    assert start.status_code == 422  # every /v1 operation, not only reads
    assert start.json()["errors"] == [{"location": "query.dry_run", "type": "extra_forbidden",
                                       "message": "unknown query parameter; this operation takes none"}]
    assert known.status_code == 200
    with api.client("supplier_s1") as supplier:  # the supplier integration too
        answer = supplier.get("/v1/supplier/proposals?status=open&colour=blue")
        assert supplier.get("/v1/supplier/proposals?status=open").status_code == 200
    assert answer.status_code == 422
    assert [e["location"] for e in answer.json()["errors"]] == ["query.colour"]


def test_every_problem_is_listed_at_once(api: Api) -> None:
    with api.client("coordinator") as client:
        answer = client.get("/v1/places/pl1/shortlist?k=0&colour=blue")
        body = client.post("/v1/rounds?dry_run=1", json={"params": {"colour": "blue"}})
    assert sorted(e["location"] for e in answer.json()["errors"]) == ["query.colour", "query.k"]
    assert sorted(e["location"] for e in body.json()["errors"]) == ["body.params.colour", "query.dry_run"]


def test_the_key_and_the_role_are_checked_first(api: Api) -> None:
    with api.client() as anonymous:
        assert anonymous.get("/v1/places/pl1/shortlist?colour=blue").status_code == 401
    with api.client("supplier_s1") as supplier:
        assert supplier.get("/v1/places/pl1/shortlist?colour=blue").status_code == 403
    with api.client("coordinator") as client:
        assert client.get("/health?probe=1").status_code == 200  # outside /v1: not refused


def test_the_openapi_document_stays_as_it_was() -> None:
    # The check is a hidden dependency: no parameter, no schema of its own, and a documented 422.
    document = create_app().openapi()
    shortlist = document["paths"]["/v1/places/{place_id}/shortlist"]["get"]
    assert [(p["name"], p["in"]) for p in shortlist["parameters"]] == [
        ("place_id", "path"), ("k", "query"), ("fair", "query"), ("include_held_back", "query"), ("policy", "query")]
    assert not [name for name in document["components"]["schemas"] if "Known" in name]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/v1/"):
                assert "422" in operation["responses"], f"{method.upper()} {path}"
