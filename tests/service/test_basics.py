"""Keys, problem details, resources and the import, over real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.db.tables import REGION_TABLES, region_meta
from tests.service.conftest import (
    Api,
    region_zip,
    server_with_region,
    service_region,
)

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def own_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            database_urls: dict[str, str]) -> Iterator[Api]:
    """A server of its own, with the test region imported, that no other test writes to.

    The shared ``api`` server rebuilds its in-memory region in the background after a write (within
    about a second, ``ServiceState.request_reload``), so ``GET /v1/region`` there can change in the
    middle of a test because of an earlier test's write (``test_candidate_lifecycle_is_audited``
    adds a candidate).
    """
    with server_with_region(request.param, tmp_path_factory, database_urls, "basics") as api:
        yield api


def stored_region(api: Api) -> dict[str, list[dict[str, Any]]]:
    """Every row of the region's tables, and its version row, as the database holds them."""
    db = api.db()
    tables = {**REGION_TABLES, "region_meta": region_meta}
    with db.connect() as conn:
        stored = {name: [dict(r) for r in conn.execute(
                      sa.select(table).order_by(*table.primary_key.columns)).mappings()]
                  for name, table in tables.items()}
    db.dispose()
    return stored


def test_health_and_me(api: Api) -> None:
    with api.client() as anonymous:
        assert anonymous.get("/health").json() == {"status": "ok", "region_loaded": True}
        answer = anonymous.get("/v1/me")
        assert answer.status_code == 401
        assert answer.headers["content-type"] == PROBLEM
        assert answer.json()["type"] == "/problems/unauthorized"
    with api.client("lmu_angered") as client:
        assert client.get("/v1/me").json()["district_id"] == "angered"
    with httpx.Client(base_url=api.base_url, headers={"Authorization": "Bearer platsa_guess"}) as bad:
        assert bad.get("/v1/me").status_code == 401


def test_region_info_and_districts(api: Api) -> None:
    with api.client("coordinator") as client:
        info = client.get("/v1/region").json()
        assert info["region"] == "gothenburg"
        assert info["counts"]["candidates"] == 6
        assert [d["district_id"] for d in client.get("/v1/districts").json()] == [
            "angered", "askim-frolunda-hogsbo", "centrum", "lundby", "majorna-linne", "norra-hisingen",
            "orgryte-harlanda", "ostra-goteborg", "vastra-goteborg", "vastra-hisingen"]


def test_422_lists_every_invalid_field(api: Api) -> None:
    with api.client("coordinator") as client:
        answer = client.get("/v1/candidates", params={"limit": 0, "offset": -1})
        assert answer.status_code == 422
        assert answer.headers["content-type"] == PROBLEM
        locations = {e["location"] for e in answer.json()["errors"]}
        assert locations == {"query.limit", "query.offset"}
        body = {"candidate_id": "c9", "home_district": "angered", "lat": 99, "work_ladder_step": 7}
        answer = client.post("/v1/candidates", json=body)
        assert answer.status_code == 422
        locations = {e["location"] for e in answer.json()["errors"]}
        assert {"body.lat", "body.work_ladder_step", "body.lon", "body.gender"} <= locations


def test_candidate_lifecycle_is_audited(api: Api) -> None:
    new = service_region()["candidates"].row(0, named=True) | {"candidate_id": f"new-{api.backend}"}
    new = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in new.items()}
    with api.client("lmu_angered") as client:
        created = client.post("/v1/candidates", json=new)
        assert created.status_code == 201, created.text
        assert client.post("/v1/candidates", json=new).status_code == 409
        changed = client.patch(f"/v1/candidates/{new['candidate_id']}", json={"work_ladder_step": 4})
        assert changed.json()["work_ladder_step"] == 4
        assert client.get(f"/v1/candidates/{new['candidate_id']}").json()["work_ladder_step"] == 4
        moved = client.patch(f"/v1/candidates/{new['candidate_id']}", json={"home_district": "centrum"})
        assert moved.status_code == 403
        nulled = client.patch(f"/v1/candidates/{new['candidate_id']}", json={"gender": None, "competences": None})
        assert nulled.status_code == 422
    with api.client("admin") as admin:
        entries = admin.get("/v1/audit", params={"resource_id": new["candidate_id"]}).json()["items"]
        assert [e["action"] for e in entries] == ["read", "update", "create"]
        assert all(e["role"] == "labour_market_unit" for e in entries)


def test_procurement_verdicts(api: Api) -> None:
    with api.client("coordinator") as client:
        p1 = client.get("/v1/procurements/p1").json()
        assert p1["verdict"]["qualifies"] is True
        p2 = client.get("/v1/procurements/p2").json()
        assert p2["verdict"]["qualifies"] is False
        assert any(r.startswith("fails: contract period") for r in p2["verdict"]["reasons"])
        other = client.get("/v1/procurements/p1", params={"policy": "ostersund-alt2"}).json()
        assert other["verdict"]["policy_id"] == "ostersund-alt2"
        assert client.get("/v1/procurements/p1", params={"policy": "atlantis"}).status_code == 404


def test_policies_and_keys(api: Api) -> None:
    with api.client("researcher") as client:
        ids = {p["id"]: p["active"] for p in client.get("/v1/policies").json()}
        assert ids["gothenburg"] is True
        keys = client.get("/v1/policies/gothenburg/distribution-keys", params={"total": 100}).json()
        angered = next(k for k in keys["keys"] if k["district_id"] == "angered")
        assert (angered["share"], angered["lower"], angered["upper"]) == (0.16, 11, 21)
        assert client.get("/v1/policies/atlantis").status_code == 404


def test_researcher_sees_suppressed_aggregates(api: Api) -> None:
    with api.client("researcher") as client:
        body = client.get("/v1/aggregates/candidates").json()
        assert body["min_cell_size"] == 5
        # Every cell of the 7-candidate region is below 5: all suppressed, no counts leak.
        assert all(c["suppressed"] and c["count"] is None for c in body["cells"])
        assert client.get("/v1/candidates").status_code == 403


def test_invalid_import_lists_every_problem_and_changes_nothing(own_api: Api) -> None:
    api = own_api
    frames = service_region()
    frames["candidates"] = frames["candidates"].with_columns(
        home_district=frames["candidates"]["home_district"].replace({"centrum": "nowhere"}))
    frames["places"] = frames["places"].with_columns(slots=frames["places"]["slots"] * 0)
    stored_before = stored_region(api)
    with api.client("coordinator") as client:
        before = client.get("/v1/region").json()
        answer = client.post("/v1/region/import", content=region_zip(frames),
                             headers={"Content-Type": "application/zip"})
        assert answer.status_code == 422
        assert answer.headers["content-type"] == PROBLEM
        problems = answer.json()["problems"]
        assert {(p["file"], p["column"]) for p in problems} == {
            ("candidates.csv", "home_district"), ("places.csv", "slots")}
        assert {p["row"] for p in problems if p["column"] == "home_district"} == {2, 4, 5}
        assert client.get("/v1/region").json() == before
        garbage = client.post("/v1/region/import", content=b"not a zip",
                              headers={"Content-Type": "application/zip"})
        assert garbage.status_code == 422
        assert client.post("/v1/region/import", content=b"{}",
                           headers={"Content-Type": "application/json"}).status_code == 415
        assert client.get("/v1/region").json() == before
    # The served region is only rebuilt from the database after a write, so check the database too.
    assert stored_region(api) == stored_before


def test_multipart_import_of_table_files(api: Api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from scoring.region import region_from_frames, write_region
    from tests.regions import MANIFEST

    write_region(region_from_frames(MANIFEST, service_region()), tmp_path, fmt="parquet")
    files = [("files", (p.name, p.read_bytes())) for p in sorted(tmp_path.iterdir())]
    with api.client("coordinator") as client:
        before = client.get("/v1/region").json()["version"]
        # The shared server holds rows other tests created through the API: the upload replaces them
        # (without a mode it is refused, listing them: tests/service/test_reimport_edits.py).
        answer = client.post("/v1/region/import", files=files, params={"mode": "replace"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["version"] == before + 1
        assert client.get("/v1/region").json()["counts"]["candidates"] == 6
