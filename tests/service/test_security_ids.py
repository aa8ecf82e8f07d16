"""Issue 14, defect 5: one id grammar for every entry point, and exports that survive old bad ids.

The attacks: ids with control or non-Latin-1 characters were stored, then the ``Location`` header
broke (connection dropped, or 500), and one such procurement id made every coordinator's and
orderer's XLSX export answer 500 until it was removed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import openpyxl
import polars as pl
import pytest
import sqlalchemy as sa

from scoring.schema import ID_PATTERN
from service.db.tables import REGION_TABLES
from tests.service.conftest import Api, region_zip, server_with_region, service_region
from tests.service.integration_support import wait_for

BAD_IDS = ["c\x00", "c\x01x", "c\nx", "c\rLocation: x", "c\u0101", "c\u202e", "c x", "c/x", "c%2fx", "c?x",
           "c#x", "\u200bc", "c\\x", "x" * 201, ""]


def candidate(api: Api, coordinator: object, candidate_id: str) -> dict[str, object]:
    body = {k: v for k, v in coordinator.get("/v1/candidates/c1").json().items()}  # type: ignore[attr-defined]
    return {**body, "candidate_id": candidate_id}


def test_bad_ids_in_bodies_are_refused_up_front(api: Api) -> None:
    with api.client("coordinator") as coordinator:
        for bad in BAD_IDS:
            answer = coordinator.post("/v1/candidates", json=candidate(api, coordinator, bad))
            assert answer.status_code == 422, (bad, answer.text)
            assert [e["location"] for e in answer.json()["errors"]] == ["body.candidate_id"], bad
        # Every bad id of one body is listed, at once.
        procurement = {k: v for k, v in coordinator.get("/v1/procurements/p1").json().items() if k != "verdict"}
        answer = coordinator.post("/v1/procurements", json={**procurement, "procurement_id": "p\u0101",
                                                            "supplier_id": "s 1"})
        assert answer.status_code == 422
        assert {e["location"] for e in answer.json()["errors"]} == {"body.procurement_id", "body.supplier_id"}
        # Ids as they always were are still ids.
        for good in ("C-000001", "örgryte-härlanda", "556123-4567", "PR-r-1a2b3c-0001", "x.y:z@w+1~"):
            assert pl.Series([good]).str.contains(ID_PATTERN).item(), good
        made = coordinator.post("/v1/candidates", json=candidate(api, coordinator, "c-Ö.1"))
        assert made.status_code == 201, made.text
        assert made.headers["Location"].endswith("/c-%C3%96.1") or made.headers["Location"].endswith("/c-Ö.1")


def test_bad_ids_in_paths_and_proposals_are_422(api: Api) -> None:
    with api.client("coordinator") as coordinator:
        for bad in ("c\u0101", "c%01", "c%20x", "c%25"):
            assert coordinator.get(f"/v1/candidates/{bad}").status_code == 422, bad
        answer = coordinator.post("/v1/places/pl1/proposals", json={"candidate_ids": ["c\u0101", "c 2", "c1"]})
        assert answer.status_code == 422, answer.text
        assert len(answer.json()["errors"]) == 2


def test_an_import_lists_every_bad_id(api: Api) -> None:
    frames = service_region()
    ids = frames["candidates"]["candidate_id"].to_list()
    ids[0], ids[2] = "c\u0001", "c/2"
    frames["candidates"] = frames["candidates"].with_columns(candidate_id=pl.Series(ids))
    with api.client("admin") as admin:
        answer = admin.post("/v1/region/import", content=region_zip(frames),
                            headers={"Content-Type": "application/zip"})
    assert answer.status_code == 422, answer.text
    bad = [(p["row"], p["value"]) for p in answer.json()["problems"]
           if p["column"] == "candidate_id" and p["reason"].startswith("not an id")]
    assert bad == [(1, "c\u0001"), (3, "c/2")], answer.json()["problems"]


@pytest.fixture(scope="module")
def with_stored_bad_id(tmp_path_factory: pytest.TempPathFactory, database_urls: dict[str, str]) -> Iterator[Api]:
    with server_with_region("sqlite", tmp_path_factory, database_urls, "stored-bad-id") as api:
        yield api


def test_a_stored_bad_id_does_not_break_the_exports(with_stored_bad_id: Api) -> None:
    api = with_stored_bad_id
    bad = "p\x01\x1b[31m"
    engine = api.db()
    table = REGION_TABLES["procurements"]
    with engine.begin() as conn:  # as an earlier version let it in
        row = dict(conn.execute(sa.select(table).where(table.c.procurement_id == "p1")).mappings().one())
        conn.execute(table.insert().values({**row, "procurement_id": bad, "title": "=HYPERLINK(\"x\")"}))
    engine.dispose()
    with api.client("coordinator") as coordinator:
        body = candidate(api, coordinator, "c-after")
        assert coordinator.post("/v1/candidates", json=body).status_code == 201  # the region is rebuilt

        def exported() -> openpyxl.Workbook | None:
            answer = coordinator.get("/v1/reports/follow-up.xlsx")
            assert answer.status_code == 200, answer.text
            book = openpyxl.load_workbook(io.BytesIO(answer.content))
            cells = [c for ws in book.worksheets for r in ws.iter_rows(values_only=True) for c in r]
            return book if "p\ufffd\ufffd[31m" in cells else None

        book = wait_for(exported, what="the rebuilt region in the export")
        formulas = [c for ws in book.worksheets for r in ws.iter_rows() for c in r if c.data_type == "f"]
        assert formulas == []
    with api.client("orderer") as orderer:
        assert orderer.get("/v1/reports/follow-up.xlsx").status_code == 200


def test_a_key_cannot_be_bound_to_a_bad_id(tmp_path: object) -> None:
    from service.auth import KeyBindingError, create_key
    from service.config import Settings
    from service.db import make_engine, migrate

    engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path}/keys.db").sqlalchemy_url)
    migrate(engine)
    with engine.begin() as conn, pytest.raises(KeyBindingError) as caught:
        create_key(conn, role="supplier", name="x", supplier_id="s\u0101 1")  # no region: not checked else
    assert "not an id" in str(caught.value)
    engine.dispose()
