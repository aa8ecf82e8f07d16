"""Follow-up reports over the API: JSON for programs, XLSX and zipped CSV for a spreadsheet, a PNG chart.

Each answer is :func:`scoring.followup.report_tables` for one *view*, the cut a role may see
(``docs/follow-up.md``, "Who sees what"):

- ``coordinator`` (coordinators and admins): everything, including each proposal's outcome and the
  socio-economic estimate per person;
- ``orderer`` (the procurer, beställare/upphandlare): requirement status, key figures, the tables by
  supplier and placement type and the estimate by income support; nothing about single people;
- ``researcher``: aggregates only, small cells suppressed, no ids of people, suppliers or procurements.

A caller gets its own role's view and may ask for a narrower one (``view=``), never a wider one.
Labour-market units and suppliers get 403: a unit follows its people up one by one, and the
requirement status is the orderer's basis for a contractual judgement (possible breach, indicative
penalty), which the orderer, not this service, takes up with the supplier.

Reports are computed from the region the service holds in memory (:class:`service.state.Snapshot`),
which follows every write within about a second, and kept for the current snapshot, so that the JSON,
the workbook, the CSVs and the chart of one year cost one computation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import math
import tempfile
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from scoring.followup import FollowUpReport, build_report, report_tables, requirement_status
from scoring.reports import CHART_FILE, WORKBOOK_FILE, write_report
from service import audit
from service.auth import Principal, Role
from service.deps import Loaded, State, require
from service.errors import FieldError, Forbidden, InvalidInput, NotFound, problem_responses
from service.routes._common import PathId, StrictQueryRoute
from service.state import Snapshot

router = APIRouter(tags=["reports"], route_class=StrictQueryRoute)

View = Literal["coordinator", "orderer", "researcher"]
ReportReader = Annotated[
    Principal, Depends(require(Role.COORDINATOR, Role.ORDERER, Role.RESEARCHER))
]
StatusReader = Annotated[Principal, Depends(require(Role.COORDINATOR, Role.ORDERER))]

#: The widest view each role may have; a caller may narrow it (a coordinator checks what an orderer
#: or a researcher receives) but never widen it.
_OWN_VIEW: dict[Role, View] = {
    Role.ADMIN: "coordinator", Role.COORDINATOR: "coordinator", Role.ORDERER: "orderer",
    Role.RESEARCHER: "researcher",
}
_NARROWER: dict[View, frozenset[View]] = {
    "coordinator": frozenset({"coordinator", "orderer", "researcher"}),
    "orderer": frozenset({"orderer"}),
    "researcher": frozenset({"researcher"}),
}

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP = "application/zip"
PNG = "image/png"

Year = Annotated[int | None, Query(
    ge=2000, le=2100, description="The calendar year followed up (default: the region's reference year).",
    examples=[2026])]
AsOf = Annotated[dt.date | None, Query(
    description="Read the data as of this day (default: the year's last day); not before the year starts.",
    examples=["2026-09-30"])]
ViewQuery = Annotated[View | None, Query(
    description="Whose cut of the report: your own role's (the default) or a narrower one.",
    examples=["orderer"])]


# -- wire models ------------------------------------------------------------------------------------


class Table(BaseModel):
    """One table of the report: its columns in order, and its rows (null where a cell is suppressed)."""

    columns: list[str] = Field(examples=[["figure", "value", "unit", "note"]])
    rows: list[dict[str, Any]] = Field(examples=[[
        {"figure": "people_placed", "value": 93.0, "unit": "people",
         "note": "distinct people, placement started in the year"}]])


class EstimateSummary(BaseModel):
    """The socio-economic estimate's total (coordinator and orderer views; researchers get the table by
    income support only, since a total beside suppressed rows could give them back)."""

    total_sek: float = Field(examples=[1_312_500.0])
    people_in_work: int = Field(examples=[21])


class FollowUpView(BaseModel):
    """The year's follow-up, cut for one view; the estimate's assumptions always travel with it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "region": "gothenburg", "policy_id": "gothenburg", "region_version": 1, "year": 2026,
        "period_start": "2026-01-01", "period_end": "2026-12-31", "as_of": "2026-12-31",
        "view": "orderer", "min_cell_size": 5,
        "estimate": {"total_sek": 1312500.0, "people_in_work": 21},
        "assumptions": ["A person moving from social assistance (försörjningsstöd) to work gains the "
                        "municipality 175,000 SEK a year (...)"],
        "tables": {
            "key_figures": {"columns": ["figure", "value", "unit", "note"], "rows": [
                {"figure": "people_placed", "value": 93.0, "unit": "people",
                 "note": "distinct people, placement started in the year"}]},
            "requirements": {"columns": ["procurement_id", "supplier_id", "requirement_type", "status",
                                         "evidence"], "rows": [
                {"procurement_id": "U-2026-0001", "supplier_id": "S-0001", "requirement_type": "hard",
                 "status": "partly_met", "evidence": "1 of 2 required place(s) delivered (...)"}]},
        },
    }]})

    region: str
    policy_id: str
    region_version: int = Field(description="The imported region's version the report was computed on.")
    year: int
    period_start: dt.date
    period_end: dt.date
    as_of: dt.date = Field(description="The day the data are read (ongoing placements count up to it).")
    view: View
    min_cell_size: int = Field(
        description="Counts of people below this are suppressed in the researcher view.")
    estimate: EstimateSummary | None
    assumptions: list[str] = Field(description="The socio-economic estimate's assumptions, in words.")
    tables: dict[str, Table] = Field(description="The view's tables by name (as the CSV files and sheets).")


class RequirementStatus(BaseModel):
    """Whether one procurement's employment requirement was met in a year, with the evidence."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "procurement_id": "U-2026-0001", "title": "Lokalvård skolor", "supplier_id": "S-0001",
        "supplier_name": "Städbolaget Väst AB", "requirement_type": "hard", "qualifies": True,
        "required_places": 2, "started_in_period": 1, "not_counted": 0, "delivered": 1, "shortfall": 1,
        "status": "partly_met", "final": False, "possible_breach": False, "breach_placements": [],
        "penalty_sek": 100000, "possible_penalty_sek": 100000,
        "evidence": "1 of 2 required place(s) delivered (1 placement(s) started in the period). "
                    "Provisional: the contract runs until 2027-12-31.",
        "policy_id": "gothenburg", "year": 2026, "period_start": "2026-01-01", "period_end": "2026-12-31",
    }]})

    procurement_id: str
    title: str
    supplier_id: str
    supplier_name: str | None
    requirement_type: str
    qualifies: bool = Field(description="Whether the policy's rule asks for a requirement here.")
    required_places: int
    started_in_period: int
    not_counted: int = Field(description="Placements the supplier ended before the agreed minimum.")
    delivered: int
    shortfall: int
    status: Literal["met", "partly_met", "not_met", "not_applicable"]
    final: bool = Field(description="The contract ended by the period's end; otherwise provisional.")
    possible_breach: bool
    breach_placements: list[str]
    penalty_sek: int
    possible_penalty_sek: int = Field(description="Shortfall × the penalty per place; an indication only.")
    evidence: str
    policy_id: str
    year: int
    period_start: dt.date
    period_end: dt.date


# -- computing, once per snapshot -------------------------------------------------------------------

_cache: OrderedDict[tuple[int, int, int, dt.date | None], tuple[Snapshot, FollowUpReport]] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 8
#: matplotlib's pyplot keeps global state: one chart at a time per process.
_chart_lock = threading.Lock()


def _report(state_key: int, snapshot: Snapshot, year: int, as_of: dt.date | None) -> FollowUpReport:
    """The follow-up of ``year`` on ``snapshot``, computed once while the snapshot is current."""
    key = (state_key, id(snapshot), year, as_of)
    with _cache_lock:
        # Reports of an earlier snapshot of the same server are stale: drop them with the old region.
        for old in [k for k, (s, _) in _cache.items() if k[0] == state_key and s is not snapshot]:
            del _cache[old]
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit[1]
    report = build_report(snapshot.region, snapshot.policy, year=year, as_of=as_of)
    with _cache_lock:
        _cache[key] = (snapshot, report)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return report


def _year(snapshot: Snapshot, year: int | None, as_of: dt.date | None) -> int:
    year = year if year is not None else snapshot.region.manifest.reference_date.year
    if as_of is not None and as_of < dt.date(year, 1, 1):
        raise InvalidInput("1 invalid field(s)", [FieldError(
            location="query.as_of", type="before_period",
            message=f"as_of {as_of.isoformat()} is before the year {year} starts")])
    return year


def _view(caller: Principal, asked: View | None) -> View:
    own = _OWN_VIEW[caller.role]
    if asked is None:
        return own
    if asked not in _NARROWER[own]:
        raise Forbidden(f"a {caller.role.value} key may not have the {asked} view (yours: {own})")
    return asked


def _jsonable(value: Any) -> Any:
    # JSON has no NaN or infinity; a figure that is not a number is unknown, like a suppressed one.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _table(frame: pl.DataFrame) -> Table:
    rows = [{k: _jsonable(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]
    return Table(columns=frame.columns, rows=rows)


def _audit_person_level(state: State, caller: Principal, view: View, tables: dict[str, pl.DataFrame],
                        what: str) -> None:
    """Log a read of the coordinator's view, the one that names people (``candidate_id``)."""
    if view != "coordinator":
        return
    ids: set[str] = set()
    for frame in tables.values():
        if "candidate_id" in frame.columns:
            ids.update(c for c in frame["candidate_id"].drop_nulls().to_list())
    audit.record_apart(state.writer, caller, "read", "follow-up-report", None,
                       candidate_ids=sorted(ids), detail=what)


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _binary(media_type: str, what: str, example: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": what, "content": {
        media_type: {"schema": {"type": "string", "format": "binary"}, "example": example}}}}


# -- routes ------------------------------------------------------------------------------------------


@router.get("/v1/reports/follow-up",
            summary="The year's follow-up: key figures, requirement status, estimate",
            response_model=FollowUpView, responses=problem_responses(401, 403, 422, 503))
def follow_up(caller: ReportReader, state: State, snapshot: Loaded, year: Year = None, as_of: AsOf = None,
              view: ViewQuery = None) -> FollowUpView:
    """The tables of your view as JSON, with the socio-economic assumptions beside the figures.

    Definitions of every figure: ``docs/follow-up.md``.
    """
    chosen = _view(caller, view)
    report = _report(id(state), snapshot, _year(snapshot, year, as_of), as_of)
    tables = report_tables(report, chosen)
    _audit_person_level(state, caller, chosen, tables, f"follow-up {report.year} json")
    est = report.estimate
    return FollowUpView(
        region=report.region, policy_id=report.policy_id, region_version=snapshot.version, year=report.year,
        period_start=report.period_start, period_end=report.period_end, as_of=report.as_of, view=chosen,
        min_cell_size=report.min_cell_size,
        estimate=None if chosen == "researcher" else EstimateSummary(total_sek=est.total_sek,
                                                                     people_in_work=est.people_in_work),
        assumptions=list(est.assumptions),
        # The assumptions are a member of their own here; the files keep them as a table/sheet.
        tables={name: _table(frame) for name, frame in tables.items() if name != "assumptions"},
    )


@router.get("/v1/reports/follow-up.xlsx", summary="The year's follow-up as a workbook",
            response_class=Response,
            responses={**_binary(XLSX, "An XLSX workbook: an About sheet, one sheet per table, Assumptions.",
                                 "<the bytes of follow-up-gothenburg-2026-orderer.xlsx>"),
                       **problem_responses(401, 403, 422, 503)})
def follow_up_xlsx(caller: ReportReader, state: State, snapshot: Loaded, year: Year = None,
                   as_of: AsOf = None, view: ViewQuery = None) -> Response:
    """One sheet per table of your view, the ``About`` sheet and ``Assumptions``; dates are date cells."""
    chosen = _view(caller, view)
    report = _report(id(state), snapshot, _year(snapshot, year, as_of), as_of)
    _audit_person_level(state, caller, chosen, report_tables(report, chosen), f"follow-up {report.year} xlsx")
    with tempfile.TemporaryDirectory(prefix="platsa-report-") as tmp:
        write_report(report, tmp, ("xlsx",), role=chosen)
        content = (Path(tmp) / WORKBOOK_FILE).read_bytes()
    return _download(content, XLSX, f"follow-up-{report.region}-{report.year}-{chosen}.xlsx")


@router.get("/v1/reports/follow-up.zip", summary="The year's follow-up as CSV files in a zip",
            response_class=Response,
            responses={**_binary(ZIP, "A zip of one UTF-8 CSV per table (list cells `;`-separated).",
                                 "<the bytes of follow-up-gothenburg-2026-orderer.zip>"),
                       **problem_responses(401, 403, 422, 503)})
def follow_up_zip(caller: ReportReader, state: State, snapshot: Loaded, year: Year = None,
                  as_of: AsOf = None, view: ViewQuery = None) -> Response:
    """``<table>.csv`` for each table of your view, ``assumptions.csv`` among them."""
    chosen = _view(caller, view)
    report = _report(id(state), snapshot, _year(snapshot, year, as_of), as_of)
    _audit_person_level(state, caller, chosen, report_tables(report, chosen), f"follow-up {report.year} zip")
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="platsa-report-") as tmp:
        paths = write_report(report, tmp, ("csv",), role=chosen)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in paths:
                archive.write(path, path.name)
    return _download(buffer.getvalue(), ZIP, f"follow-up-{report.region}-{report.year}-{chosen}.zip")


@router.get("/v1/reports/follow-up/chart.png",
            summary="Chart: people placed in the year by priority group and home district",
            response_class=Response,
            responses={**_binary(PNG, "A PNG bar chart; in the researcher view small cells are left out.",
                                 "<the bytes of placements_by_group_district.png>"),
                       **problem_responses(401, 403, 422, 503)})
def follow_up_chart(caller: ReportReader, state: State, snapshot: Loaded, year: Year = None,
                    as_of: AsOf = None, view: ViewQuery = None) -> Response:
    """For the coordinator and researcher views; the orderer's view has no group × district table (403)."""
    chosen = _view(caller, view)
    if chosen == "orderer":
        raise Forbidden("the orderer view holds no table by priority group and district to chart")
    report = _report(id(state), snapshot, _year(snapshot, year, as_of), as_of)
    with tempfile.TemporaryDirectory(prefix="platsa-report-") as tmp, _chart_lock:
        write_report(report, tmp, ("png",), role=chosen)
        content = (Path(tmp) / CHART_FILE).read_bytes()
    return Response(content, media_type=PNG)


@router.get("/v1/procurements/{procurement_id}/requirement-status",
            summary="Whether a procurement's employment requirement was met in a year",
            response_model=RequirementStatus, responses=problem_responses(401, 403, 404, 422, 503))
def get_requirement_status(procurement_id: PathId, caller: StatusReader, snapshot: Loaded,
                           year: Year = None) -> dict[str, Any]:
    """Met, partly met, not met or not applicable, with the evidence (``docs/follow-up.md``).

    The period is the calendar year; a year in which the contract does not run is a 422 on ``year``.
    """
    region = snapshot.region
    mine = region.procurements.filter(pl.col("procurement_id") == procurement_id)
    if mine.height == 0:
        raise NotFound(f"no procurement {procurement_id!r} that this key may see")
    year = _year(snapshot, year, None)
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    # Only this procurement's row is wanted: the status loop runs over the procurements given.
    rows = requirement_status(dataclasses.replace(region, procurements=mine), snapshot.policy,
                              period_start=start, period_end=end)
    if rows.height == 0:
        contract = mine.row(0, named=True)
        raise InvalidInput("1 invalid field(s)", [FieldError(
            location="query.year", type="outside_contract",
            message=(f"the contract runs {contract['contract_start'].isoformat()} to "
                     f"{contract['contract_end'].isoformat()}, not in {year}"))])
    row = rows.row(0, named=True)
    return {**row, "policy_id": snapshot.policy.id, "year": year, "period_start": start, "period_end": end}
