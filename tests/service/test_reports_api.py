"""Follow-up reports over real HTTP, on SQLite and PostgreSQL.

``reports_api`` serves a generated region (Gothenburg, small, seed 7) with a simulated year 2026 of
proposals and placements, so that every table has rows and the researcher's view has small cells
to suppress. Nothing writes to it: the region read back from the database is the one the server holds,
and the expected figures are :mod:`scoring.followup` computed directly on it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import polars as pl
import pytest

from fixtures.generate import generate_region
from fixtures.simulate import simulate_year
from scoring.followup import (
    SUPPRESSED_COLUMN,
    FollowUpReport,
    Role,
    build_report,
    report_tables,
    requirement_history,
    requirement_status,
)
from scoring.policy import load_policy
from scoring.region import Region, write_region
from scoring.reports import SHEETS, header
from service import store
from service.config import Settings
from tests.service.conftest import TEST_ENGINE, Api, ThreadServer, add_keys, free_port, new_database

YEAR = 2026
#: Columns that name a person or a person's proposal or placement.
PERSON_COLUMNS = {"candidate_id", "proposal_id", "placement_id"}
VIEW_KEY: dict[Role, str] = {"coordinator": "coordinator", "orderer": "orderer", "researcher": "researcher"}


def report_region() -> Region:
    region = generate_region("gothenburg", "small", seed=7)
    return simulate_year(region, seed=7, year=YEAR)


def zipped(region: Region) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        write_region(region, tmp, fmt="csv")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in sorted(Path(tmp).iterdir()):
                archive.write(path, f"region/{path.name}")
        return buffer.getvalue()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def reports_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                database_urls: dict[str, str]) -> Iterator[Api]:
    url = new_database(request.param, tmp_path_factory, database_urls, "reports")
    tokens = add_keys(url)
    settings = Settings(database_url=url, port=free_port(), engine=TEST_ENGINE)
    with ThreadServer(settings):
        api = Api(request.param, f"http://127.0.0.1:{settings.port}", url, tokens)
        with api.client("admin") as client:
            answer = client.post("/v1/region/import", content=zipped(report_region()),
                                 headers={"Content-Type": "application/zip"})
            assert answer.status_code == 201, answer.text
        yield api


@pytest.fixture(scope="module")
def stored(reports_api: Api) -> Region:
    """The region as the database holds it (what the server loaded)."""
    db = reports_api.db()
    with db.connect() as conn:
        loaded = store.load_region(conn)
    db.dispose()
    assert loaded is not None
    return loaded[0]


@pytest.fixture(scope="module")
def expected(stored: Region) -> FollowUpReport:
    return build_report(stored, load_policy("gothenburg"), year=YEAR)


def as_json(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as the API writes them (dates as ISO strings)."""
    rows: list[dict[str, Any]] = json.loads(json.dumps(frame.to_dicts(), default=str))
    return rows


def get(api: Api, key: str, path: str, **params: Any) -> httpx.Response:
    with api.client(key) as client:
        return client.get(path, params=params)


def person_ids(region: Region) -> set[str]:
    return {*region.candidates["candidate_id"].to_list(), *region.proposals["proposal_id"].to_list(),
            *region.placements["placement_id"].to_list()}


def all_values(body: dict[str, Any]) -> set[str]:
    """Every string anywhere in an answer, split at the separators that join id lists."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str):
            found.add(value)
            found.update(part.strip(" .;:()") for part in value.replace(",", " ").split())

    walk(body)
    return found


# -- JSON ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["coordinator", "orderer", "researcher"])
def test_json_figures_equal_the_library_on_the_same_region(reports_api: Api, expected: FollowUpReport,
                                                           view: Role) -> None:
    answer = get(reports_api, VIEW_KEY[view], "/v1/reports/follow-up", year=YEAR)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    tables = report_tables(expected, view)
    assert body["view"] == view
    assert (body["year"], body["period_start"], body["period_end"], body["as_of"]) == (
        YEAR, "2026-01-01", "2026-12-31", "2026-12-31")
    assert body["min_cell_size"] == expected.min_cell_size
    assert set(body["tables"]) == set(tables) - {"assumptions"}
    for name, table in body["tables"].items():
        assert table["columns"] == tables[name].columns, name
        assert table["rows"] == as_json(tables[name]), name
    # The socio-economic assumptions travel beside the figures, whoever asks.
    assert body["assumptions"] == list(expected.estimate.assumptions)
    assert body["assumptions"] == tables["assumptions"]["assumption"].to_list()
    if view == "researcher":
        assert body["estimate"] is None
    else:
        est = expected.estimate
        assert body["estimate"] == {"total_sek": est.total_sek, "people_in_work": est.people_in_work,
                                    "displacement_share": 0.65, "net_sek": pytest.approx(est.net_sek)}


def test_the_simulated_year_has_something_to_report(expected: FollowUpReport) -> None:
    # Guards the other tests against passing on empty tables.
    assert expected.figures.people_placed > 20
    assert expected.requirements.height > 5
    assert expected.estimate.total_sek > 0


def test_as_of_reads_the_data_on_that_day(reports_api: Api, stored: Region) -> None:
    as_of = dt.date(2026, 6, 30)
    body = get(reports_api, "coordinator", "/v1/reports/follow-up", year=YEAR, as_of=as_of.isoformat()).json()
    report = build_report(stored, load_policy("gothenburg"), year=YEAR, as_of=as_of)
    assert body["as_of"] == "2026-06-30"
    assert body["estimate"]["total_sek"] == report.estimate.total_sek
    assert body["tables"]["outcomes"]["rows"] == as_json(report.outcomes)
    assert any("2026-06-30" in text for text in body["assumptions"])


def test_the_year_defaults_to_the_regions_reference_year(reports_api: Api) -> None:
    body = get(reports_api, "orderer", "/v1/reports/follow-up").json()
    assert body["year"] == 2026


def test_researchers_get_no_ids_and_small_cells_suppressed(reports_api: Api, stored: Region) -> None:
    body = get(reports_api, "researcher", "/v1/reports/follow-up", year=YEAR).json()
    for name, table in body["tables"].items():
        named = {c for c in table["columns"] if c.endswith("_id")}
        assert named <= {"district_id"}, (name, named)  # districts are public facts, not people
    assert not all_values(body) & person_ids(stored)
    suppressed = [(name, row) for name, table in body["tables"].items() for row in table["rows"]
                  if row.get(SUPPRESSED_COLUMN)]
    assert suppressed, "the small region must have small cells"
    for name, row in suppressed:
        for column in row[SUPPRESSED_COLUMN]:
            assert row[column] is None, (name, column)
    # No published count of people is below the limit (zero reveals no one).
    k = body["min_cell_size"]
    for table in ("by_group", "by_district", "group_district"):
        for row in body["tables"][table]["rows"]:
            assert row["people"] is None or row["people"] == 0 or row["people"] >= k


def test_orderers_get_no_person_level_data(reports_api: Api, stored: Region) -> None:
    body = get(reports_api, "orderer", "/v1/reports/follow-up", year=YEAR).json()
    assert set(body["tables"]) == {"key_figures", "requirements", "requirement_history", "displacement_watch",
                                   "by_supplier", "by_placement_type", "estimate_by_support"}
    for name, table in body["tables"].items():
        assert not set(table["columns"]) & PERSON_COLUMNS - {"placement_id"}, name
    assert not all_values(body) & set(stored.candidates["candidate_id"].to_list())
    assert not all_values(body) & set(stored.proposals["proposal_id"].to_list())
    # What the orderer is for: a status per procurement, in its words.
    statuses = {row["status"] for row in body["tables"]["requirements"]["rows"]}
    assert statuses <= {"met", "partly_met", "not_met", "not_due", "not_applicable"}
    assert statuses & {"met", "partly_met", "not_met"}


def test_a_coordinator_may_narrow_the_view_and_nobody_may_widen_it(reports_api: Api) -> None:
    narrowed = get(reports_api, "coordinator", "/v1/reports/follow-up", year=YEAR, view="researcher").json()
    own = get(reports_api, "researcher", "/v1/reports/follow-up", year=YEAR).json()
    assert narrowed["tables"] == own["tables"]
    for key, view in (("orderer", "coordinator"), ("orderer", "researcher"), ("researcher", "orderer")):
        answer = get(reports_api, key, "/v1/reports/follow-up", year=YEAR, view=view)
        assert answer.status_code == 403, (key, view)
        assert answer.headers["content-type"] == "application/problem+json"


def test_a_person_level_report_is_audited_with_its_candidates(reports_api: Api, expected: FollowUpReport) -> None:
    assert get(reports_api, "coordinator", "/v1/reports/follow-up", year=YEAR).status_code == 200
    entries = get(reports_api, "admin", "/v1/audit", limit=500).json()["items"]
    mine = [e for e in entries if e["resource"] == "follow-up-report"]
    assert mine
    assert set(mine[-1]["candidate_ids"]) >= set(expected.outcomes["candidate_id"].to_list())


# -- files ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["coordinator", "orderer", "researcher"])
def test_the_workbook_opens_and_has_the_views_sheets(reports_api: Api, expected: FollowUpReport,
                                                    view: Role) -> None:
    answer = get(reports_api, VIEW_KEY[view], "/v1/reports/follow-up.xlsx", year=YEAR)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert answer.headers["content-disposition"] == f'attachment; filename="follow-up-gothenburg-2026-{view}.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(answer.content), read_only=True)
    tables = report_tables(expected, view)
    assert book.sheetnames == ["About", *(SHEETS[n][0] for n in tables), "Explanations"]
    key_figures = list(book["Key figures"].iter_rows(values_only=True))
    assert list(key_figures[0]) == [header(c) for c in tables["key_figures"].columns]
    assert len(key_figures) == tables["key_figures"].height + 1
    swedish = get(reports_api, VIEW_KEY[view], "/v1/reports/follow-up.xlsx", year=YEAR, lang="sv")
    book = openpyxl.load_workbook(io.BytesIO(swedish.content), read_only=True)
    assert book.sheetnames == ["Om rapporten", *(SHEETS[n][1] for n in tables), "Förklaringar"]


@pytest.mark.parametrize("view", ["coordinator", "orderer", "researcher"])
def test_the_zip_holds_one_csv_per_table(reports_api: Api, expected: FollowUpReport, view: Role) -> None:
    answer = get(reports_api, VIEW_KEY[view], "/v1/reports/follow-up.zip", year=YEAR)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    tables = report_tables(expected, view)
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        assert sorted(archive.namelist()) == sorted(f"{name}.csv" for name in tables)
        for name, frame in tables.items():
            csv = pl.read_csv(archive.read(f"{name}.csv"), infer_schema=False)
            assert csv.columns == frame.columns, name
            assert csv.height == frame.height, name


@pytest.mark.parametrize("view", ["coordinator", "researcher"])
def test_the_chart_is_a_png(reports_api: Api, view: Role) -> None:
    answer = get(reports_api, VIEW_KEY[view], "/v1/reports/follow-up/chart.png", year=YEAR)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    assert answer.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_orderer_view_has_no_chart(reports_api: Api) -> None:
    answer = get(reports_api, "orderer", "/v1/reports/follow-up/chart.png", year=YEAR)
    assert answer.status_code == 403
    assert "group" in answer.json()["detail"]


# -- requirement status of one procurement ----------------------------------------------------------


def test_requirement_status_equals_the_library(reports_api: Api, stored: Region) -> None:
    table = requirement_status(stored, load_policy("gothenburg"), period_start=dt.date(YEAR, 1, 1),
                               period_end=dt.date(YEAR, 12, 31))
    hard = table.filter(pl.col("requirement_type") == "hard").sort("procurement_id")
    assert hard.height > 0
    for row in as_json(hard.head(3)) + as_json(table.filter(pl.col("requirement_type") != "hard").head(2)):
        for key in ("coordinator", "orderer", "admin"):
            answer = get(reports_api, key, f"/v1/procurements/{row['procurement_id']}/requirement-status",
                         year=YEAR)
            assert answer.status_code == 200, answer.text
            history = requirement_history(stored, load_policy("gothenburg"), through=dt.date(YEAR, 12, 31)).filter(
                pl.col("procurement_id") == row["procurement_id"]).drop("procurement_id", "requirement_type")
            assert answer.json() == {**row, "policy_id": "gothenburg", "year": YEAR,
                                     "period_start": "2026-01-01", "period_end": "2026-12-31",
                                     "history": as_json(history)}


def test_requirement_status_outside_the_contract_names_the_year(reports_api: Api, stored: Region) -> None:
    proc = stored.procurements.sort("procurement_id").row(0, named=True)
    year = proc["contract_end"].year + 1
    answer = get(reports_api, "orderer", f"/v1/procurements/{proc['procurement_id']}/requirement-status",
                 year=year)
    assert answer.status_code == 422
    assert [e["location"] for e in answer.json()["errors"]] == ["query.year"]


@pytest.mark.parametrize("key", ["lmu_angered", "supplier_s1", "researcher"])
def test_requirement_status_is_for_coordinators_and_orderers(reports_api: Api, stored: Region, key: str) -> None:
    pid = stored.procurements["procurement_id"][0]
    assert get(reports_api, key, f"/v1/procurements/{pid}/requirement-status").status_code == 403


# -- invalid input: problem details, never a 5xx ---------------------------------------------------


@pytest.mark.parametrize(("params", "location"), [
    ({"year": "twenty"}, "query.year"),
    ({"year": "1999"}, "query.year"),
    ({"year": "2101"}, "query.year"),
    ({"year": "2026.5"}, "query.year"),
    ({"as_of": "2026-02-30"}, "query.as_of"),
    ({"as_of": "2025-12-31", "year": "2026"}, "query.as_of"),
    ({"view": "admin"}, "query.view"),
])
@pytest.mark.parametrize("path", ["/v1/reports/follow-up", "/v1/reports/follow-up.xlsx",
                                  "/v1/reports/follow-up.zip", "/v1/reports/follow-up/chart.png"])
def test_invalid_input_is_a_422_listing_the_field(reports_api: Api, path: str, params: dict[str, str],
                                                   location: str) -> None:
    answer = get(reports_api, "coordinator", path, **params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["location"] for e in answer.json()["errors"]] == [location]


@pytest.mark.parametrize("year", ["2000", "2030", "2100"])
def test_a_year_without_data_is_refused_naming_what_the_data_cover(reports_api: Api, year: str) -> None:
    for path in ("/v1/reports/follow-up", "/v1/reports/follow-up.xlsx", "/v1/reports/follow-up.zip",
                 "/v1/reports/follow-up/chart.png"):
        answer = get(reports_api, "coordinator", path, year=year)
        assert answer.status_code == 422, path
        [error] = answer.json()["errors"]
        assert error["location"] == "query.year" and f"no data for {year}: the data cover" in error["message"]
    pid = "2025-00001"
    answer = get(reports_api, "orderer", f"/v1/procurements/{pid}/requirement-status", year="2030")
    assert answer.status_code == 422 and answer.json()["errors"][0]["location"] == "query.year"


def test_as_of_after_the_data_is_refused(reports_api: Api) -> None:
    answer = get(reports_api, "coordinator", "/v1/reports/follow-up", year=YEAR, as_of="2027-03-01")
    assert answer.status_code == 422
    assert [e["location"] for e in answer.json()["errors"]] == ["query.as_of"]


def test_requirement_status_input(reports_api: Api) -> None:
    assert get(reports_api, "orderer", "/v1/procurements/nowhere/requirement-status").status_code == 404
    answer = get(reports_api, "orderer", "/v1/procurements/x/requirement-status", year="soon")
    assert answer.status_code == 422
    assert [e["location"] for e in answer.json()["errors"]] == ["query.year"]


def test_the_openapi_document_has_examples_for_the_reports(reports_api: Api) -> None:
    with reports_api.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    for path, media in (("/v1/reports/follow-up.xlsx",
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                        ("/v1/reports/follow-up.zip", "application/zip"),
                        ("/v1/reports/follow-up/chart.png", "image/png")):
        content = paths[path]["get"]["responses"]["200"]["content"]
        assert media in content and "example" in content[media], path
    with reports_api.client() as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["FollowUpView"]["examples"] and schemas["RequirementStatus"]["examples"]
