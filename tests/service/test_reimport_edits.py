"""A re-import loses nothing done through the API since the last import: procurements, places and
candidates that the API created or changed, and that the upload would drop or overwrite, are refused
with the list (no ``mode``), kept (``mode=merge``) or replaced with the list reported
(``mode=replace``); never silently lost. Over real HTTP, on SQLite and PostgreSQL.

The tests share one server per backend; each starts from the test region, imported afresh. The last
leaves a proposal made through Platsa, which no later import could drop.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from service import store
from service.db.engine import writer
from service.db.tables import REGION_TABLES, region_edits, region_meta
from tests.service.conftest import Api, region_zip, server_with_region, service_region

PROBLEM = "application/problem+json"
ZIP = {"Content-Type": "application/zip"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def own_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            database_urls: dict[str, str]) -> Iterator[Api]:
    with server_with_region(request.param, tmp_path_factory, database_urls, "reimport-edits") as api:
        yield api


@pytest.fixture(scope="module")
def key_ids(own_api: Api) -> dict[str, int]:
    out = {}
    for name in ("coordinator", "lmu_angered", "lmu_centrum", "supplier_s1"):
        with own_api.client(name) as client:
            out[name] = client.get("/v1/me").json()["key_id"]
    return out


def wire(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in row.items()}


def post_import(api: Api, frames: dict[str, pl.DataFrame] | None = None, mode: str | None = None) -> Any:
    with api.client("coordinator") as client:
        params = {"mode": mode} if mode else {}
        return client.post("/v1/region/import", content=region_zip(frames), headers=ZIP, params=params)


def afresh(api: Api) -> None:
    """The test region as the last import, and no API edits since."""
    answer = post_import(api, mode="replace")
    assert answer.status_code == 201, answer.text
    assert recorded(api) == []


def recorded(api: Api) -> list[tuple[str, str, str]]:
    db = api.db()
    with db.connect() as conn:
        rows = [(r.table_name, r.row_id, r.kind) for r in conn.execute(
            sa.select(region_edits).order_by(region_edits.c.table_name, region_edits.c.row_id))]
    db.dispose()
    return rows


def stored(api: Api) -> dict[str, list[dict[str, Any]]]:
    db = api.db()
    tables = {**REGION_TABLES, "region_meta": region_meta, "region_edits": region_edits}
    with db.connect() as conn:
        rows = {name: [dict(r) for r in conn.execute(
                    sa.select(table).order_by(*table.primary_key.columns)).mappings()]
                for name, table in tables.items()}
    db.dispose()
    return rows


def new_rows() -> dict[str, dict[str, Any]]:
    """The rows edit_through_the_api creates, by table."""
    frames = service_region()
    return {
        "procurements": frames["procurements"].row(0, named=True) | {"procurement_id": "p9", "supplier_id": "s2"},
        "places": frames["places"].row(0, named=True) | {"place_id": "pl9", "procurement_id": "p9",
                                                         "supplier_id": "s2", "district_id": "angered"},
        "candidates": frames["candidates"].row(0, named=True) | {"candidate_id": "c9"},
    }


def edit_through_the_api(api: Api) -> tuple[dt.datetime, dt.datetime]:
    """Create a procurement, a place and a candidate; change a place (its supplier) and a candidate
    (a labour-market unit). Returns the moments before and after."""
    rows = new_rows()
    procurement, place, candidate = rows["procurements"], rows["places"], rows["candidates"]
    before = dt.datetime.now(dt.UTC)
    with api.client("coordinator") as coordinator:
        assert coordinator.post("/v1/procurements", json=wire(procurement)).status_code == 201
        assert coordinator.post("/v1/places", json=wire(place)).status_code == 201
    with api.client("lmu_angered") as lmu:
        assert lmu.post("/v1/candidates", json=wire(candidate)).status_code == 201
    with api.client("supplier_s1") as supplier:
        assert supplier.patch("/v1/places/pl1", json={"slots": 5}).status_code == 200
    with api.client("lmu_centrum") as lmu:
        assert lmu.patch("/v1/candidates/c2", json={"commute_limit_km": 12.5}).status_code == 200
    return before, dt.datetime.now(dt.UTC)


def expected_edits(key_ids: dict[str, int]) -> list[dict[str, Any]]:
    """What edit_through_the_api did, as the import lists it against the test region's upload."""
    created: dict[str, Any] = {"edit": "created", "fields": [], "upload": "drop", "differs": []}
    return [
        {"table": "procurements", "id": "p9", **created, "key_id": key_ids["coordinator"]},
        {"table": "places", "id": "pl1", "edit": "changed", "key_id": key_ids["supplier_s1"],
         "fields": ["slots"], "upload": "overwrite", "differs": ["slots"]},
        {"table": "places", "id": "pl9", **created, "key_id": key_ids["coordinator"]},
        {"table": "candidates", "id": "c2", "edit": "changed", "key_id": key_ids["lmu_centrum"],
         "fields": ["commute_limit_km"], "upload": "overwrite", "differs": ["commute_limit_km"]},
        {"table": "candidates", "id": "c9", **created, "key_id": key_ids["lmu_angered"]},
    ]


def without_times(edits: list[dict[str, Any]], within: tuple[dt.datetime, dt.datetime]) -> list[dict[str, Any]]:
    """``edits`` without ``edited_at``, once each is checked to lie ``within`` the writes."""
    for e in edits:
        at = dt.datetime.fromisoformat(e["edited_at"])
        assert at.tzinfo is not None and within[0] <= at <= within[1], e
    return [{k: v for k, v in e.items() if k != "edited_at"} for e in edits]


def get(api: Api, path: str) -> Any:
    with api.client("coordinator") as client:
        return client.get(path)


def test_an_upload_that_would_lose_api_rows_is_refused_with_the_list(own_api: Api,
                                                                      key_ids: dict[str, int]) -> None:
    afresh(own_api)
    when = edit_through_the_api(own_api)
    before = stored(own_api)
    answer = post_import(own_api)  # the municipality's export, which knows nothing of the API's rows
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["type"] == "/problems/region-edit-conflict"
    assert without_times(problem["edits"], when) == expected_edits(key_ids)
    assert "problems" not in problem
    assert problem["detail"].startswith(
        "5 row(s) created or changed through the API since the last import would be lost: procurements p9 "
        "(created through the API, dropped by the upload); places pl1 (changed through the API, overwritten "
        "(slots) by the upload);")
    assert problem["detail"].endswith("Import with mode=merge to keep what the API did, or mode=replace to "
                                      "take the upload's rows; nothing was imported")
    assert stored(own_api) == before  # nothing changed, the record of the API's rows included


def test_an_upload_that_agrees_with_the_api_is_imported(own_api: Api) -> None:
    afresh(own_api)
    edit_through_the_api(own_api)
    # The source system has caught up with the API, and changes another column of its own.
    upload = service_region()
    for name, row in new_rows().items():
        upload[name] = pl.concat([upload[name], pl.DataFrame([row], schema=upload[name].schema)])
    upload["places"] = upload["places"].with_columns(
        slots=pl.when(pl.col("place_id") == "pl1").then(5).otherwise("slots"),
        title=pl.when(pl.col("place_id") == "pl1").then(pl.lit("Lokalvårdare, skolor")).otherwise("title"))
    upload["candidates"] = upload["candidates"].with_columns(
        commute_limit_km=pl.when(pl.col("candidate_id") == "c2").then(12.5).otherwise("commute_limit_km"))
    answer = post_import(own_api, upload)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["merged"], answer.json()["discarded"]) == ([], [])
    assert get(own_api, "/v1/places/pl1").json()["title"] == "Lokalvårdare, skolor"
    assert recorded(own_api) == []


def test_mode_merge_keeps_what_the_api_did_and_the_record_starts_afresh(own_api: Api,
                                                                         key_ids: dict[str, int]) -> None:
    afresh(own_api)
    when = edit_through_the_api(own_api)
    with own_api.client("lmu_centrum") as lmu:  # a candidate the upload then lacks
        assert lmu.patch("/v1/candidates/c5", json={"wished_hours": 20}).status_code == 200
    when = (when[0], dt.datetime.now(dt.UTC))
    assert [t for t, _, _ in recorded(own_api)] == ["candidates"] * 3 + ["places"] * 2 + ["procurements"]
    upload = service_region()
    upload["candidates"] = upload["candidates"].filter(pl.col("candidate_id") != "c5")
    # The source system changed columns of its own in the rows the API changed.
    upload["places"] = upload["places"].with_columns(
        title=pl.when(pl.col("place_id") == "pl1").then(pl.lit("Lokalvårdare, skolor")).otherwise("title"))
    upload["candidates"] = upload["candidates"].with_columns(
        wished_hours=pl.when(pl.col("candidate_id") == "c2").then(30).otherwise("wished_hours"))
    answer = post_import(own_api, upload, mode="merge")
    assert answer.status_code == 201, answer.text
    report = answer.json()
    c5 = {"table": "candidates", "id": "c5", "edit": "changed", "key_id": key_ids["lmu_centrum"],
          "fields": ["wished_hours"], "upload": "drop", "differs": []}
    assert without_times(report["merged"], when) == [*expected_edits(key_ids)[:4], c5,
                                                      expected_edits(key_ids)[4]]
    assert report["discarded"] == []
    assert report["counts"]["procurements"] == 3 and report["counts"]["places"] == 3
    assert report["counts"]["candidates"] == 7
    assert get(own_api, "/v1/candidates/c5").json()["wished_hours"] == 20
    # The API's rows and values, and the upload's everywhere else.
    pl1 = get(own_api, "/v1/places/pl1").json()
    assert (pl1["slots"], pl1["title"]) == (5, "Lokalvårdare, skolor")
    c2 = get(own_api, "/v1/candidates/c2").json()
    assert (c2["commute_limit_km"], c2["wished_hours"]) == (12.5, 30)
    assert get(own_api, "/v1/places/pl9").json()["procurement_id"] == "p9"
    assert get(own_api, "/v1/procurements/p9").json()["supplier_id"] == "s2"
    assert get(own_api, "/v1/candidates/c9").json()["home_district"] == "angered"
    # What was merged is now the last import: an upload without it drops it, with no conflict.
    assert recorded(own_api) == []
    answer = post_import(own_api)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["merged"], answer.json()["discarded"]) == ([], [])
    assert get(own_api, "/v1/places/pl9").status_code == 404
    assert get(own_api, "/v1/places/pl1").json()["slots"] == 2


def test_a_created_row_the_upload_holds_otherwise_keeps_the_api_values_in_a_merge(own_api: Api) -> None:
    afresh(own_api)
    created = new_rows()["procurements"]
    with own_api.client("coordinator") as coordinator:
        assert coordinator.post("/v1/procurements", json=wire(created)).status_code == 201
    upload = service_region()
    theirs = created | {"title": "Lokalvård förskolor", "value_sek": 3_000_000}
    upload["procurements"] = pl.concat([upload["procurements"],
                                        pl.DataFrame([theirs], schema=upload["procurements"].schema)])
    answer = post_import(own_api, upload)
    assert answer.status_code == 409, answer.text
    assert [(e["id"], e["edit"], e["upload"], e["differs"]) for e in answer.json()["edits"]] == [
        ("p9", "created", "overwrite", ["title", "value_sek"])]
    answer = post_import(own_api, upload, mode="merge")
    assert answer.status_code == 201, answer.text
    assert [(e["id"], e["differs"]) for e in answer.json()["merged"]] == [("p9", ["title", "value_sek"])]
    p9 = get(own_api, "/v1/procurements/p9").json()
    assert (p9["title"], p9["value_sek"]) == (created["title"], created["value_sek"])


def test_mode_replace_takes_the_upload_and_lists_what_is_gone(own_api: Api, key_ids: dict[str, int]) -> None:
    afresh(own_api)
    when = edit_through_the_api(own_api)
    answer = post_import(own_api, mode="replace")
    assert answer.status_code == 201, answer.text
    assert without_times(answer.json()["discarded"], when) == expected_edits(key_ids)
    assert answer.json()["merged"] == []
    assert get(own_api, "/v1/places/pl1").json()["slots"] == 2
    assert get(own_api, "/v1/candidates/c2").json()["commute_limit_km"] == 5.0
    for path in ("/v1/places/pl9", "/v1/procurements/p9", "/v1/candidates/c9"):
        assert get(own_api, path).status_code == 404
    assert recorded(own_api) == []
    # The audit log names them too.
    with own_api.client("admin") as admin:
        entries = admin.get("/v1/audit", params={"limit": 500}).json()["items"]
    detail = next(e["detail"] for e in entries if e["action"] == "import" and "discarded" in (e["detail"] or ""))
    assert "API rows discarded: ['procurements p9', 'places pl1', 'places pl9', 'candidates c2', " \
           "'candidates c9']" in detail


def test_an_unknown_mode_is_refused(own_api: Api) -> None:
    before = stored(own_api)
    answer = post_import(own_api, mode="union")
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"] == "/problems/invalid-input"
    assert [e["location"] for e in answer.json()["errors"]] == ["query.mode"]
    assert stored(own_api) == before


def test_an_api_write_of_region_rows_waits_for_an_import_under_way(own_api: Api) -> None:
    """The API's writes of procurements, places and candidates hold the region (store.lock_region)
    as the proposal lifecycle's do: one that comes during an import waits for it, then is recorded
    against the new region, instead of being wiped by it unrecorded."""
    afresh(own_api)
    db = own_api.db()
    results: list[int] = []
    with writer(db).begin() as conn:
        store.lock_region(conn, exclusive=True)  # as an import holds it
        thread = threading.Thread(target=lambda: results.append(own_api.client("supplier_s1").patch(
            "/v1/places/pl1", json={"slots": 3}).status_code))
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive() and results == []  # waiting for the import to end
    thread.join(timeout=30)
    db.dispose()
    assert results == [200]
    assert recorded(own_api) == [("places", "pl1", "changed")]


def test_a_merge_that_does_not_hold_together_is_refused_by_id(own_api: Api) -> None:
    """A place created through the API on a procurement the upload drops: kept by mode=merge, it would
    name nothing. The same place named by a proposal made through Platsa: only mode=merge keeps both."""
    afresh(own_api)
    place = service_region()["places"].row(0, named=True) | {
        "place_id": "pl9", "procurement_id": "p2", "supplier_id": "s2"}
    with own_api.client("coordinator") as coordinator:
        assert coordinator.post("/v1/places", json=wire(place)).status_code == 201
        proposed = coordinator.post("/v1/places/pl9/proposals", json={"candidate_ids": ["c2"]})
        assert proposed.status_code == 201, proposed.text
    proposal_id = proposed.json()["proposals"][0]["proposal_id"]
    without_p2 = service_region()
    without_p2["procurements"] = without_p2["procurements"].filter(pl.col("procurement_id") != "p2")
    without_p2["places"] = without_p2["places"].filter(pl.col("place_id") != "pl2")
    before = stored(own_api)

    answer = post_import(own_api, without_p2)  # no mode: the API's place would be lost
    assert answer.status_code == 409, answer.text
    assert answer.json()["type"] == "/problems/region-edit-conflict"
    assert [(e["table"], e["id"], e["upload"]) for e in answer.json()["edits"]] == [("places", "pl9", "drop")]

    answer = post_import(own_api, without_p2, mode="merge")
    assert answer.status_code == 409, answer.text
    problem = answer.json()
    assert problem["type"] == "/problems/region-edit-conflict"
    assert [(e["table"], e["id"], e["upload"]) for e in problem["edits"]] == [("places", "pl9", "drop")]
    assert problem["problems"] == [{
        "file": "places", "row": None, "column": "procurement_id", "value": "p2",
        "reason": "place_id pl9 (created through the API, kept whole by mode=merge): no such procurement_id "
                  "in procurements"}]
    assert problem["detail"].startswith("1 problem(s): the region that mode=merge makes does not hold together")

    answer = post_import(own_api, without_p2, mode="replace")  # the place goes, but a proposal names it
    assert answer.status_code == 409, answer.text
    assert answer.json()["type"] == "/problems/region-history-conflict"
    assert [(p["file"], p["value"]) for p in answer.json()["problems"]] == [("places", "pl9")]
    assert stored(own_api) == before

    # With the procurement in the upload, mode=merge keeps the place, and the proposal with it.
    answer = post_import(own_api, mode="merge")
    assert answer.status_code == 201, answer.text
    assert [(e["table"], e["id"]) for e in answer.json()["merged"]] == [("places", "pl9")]
    assert answer.json()["kept"]["proposals"] == 1
    assert get(own_api, f"/v1/proposals/{proposal_id}").json()["place_id"] == "pl9"
