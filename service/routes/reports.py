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
import logging
import math
import tempfile
import threading
import weakref
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from scoring.exceptions import FollowUpPeriodError
from scoring.followup import (
    FollowUpRecords,
    FollowUpReport,
    build_report,
    data_coverage,
    report_tables,
    requirement_history,
    requirement_status,
)
from scoring.reports import CHART_FILE, WORKBOOK_FILE, write_report
from service import audit
from service.auth import Principal, Role
from service.deps import Conn, Loaded, State, require
from service.errors import FieldError, Forbidden, InvalidInput, NotFound, problem_responses
from service.followup_records import load_records, records_fingerprint
from service.routes._common import PathId, StrictQueryRoute
from service.state import ServiceState, Snapshot

logger = logging.getLogger(__name__)

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
    ge=2000, le=2100, description=(
        "The calendar year followed up (default: the region's reference year). A year the data do not "
        "cover (before the first record or after the data's last day) is a 422 on `year`."),
    examples=[2026])]
AsOf = Annotated[dt.date | None, Query(
    description=("Read the data as of this day (default: the year's last day, or the data's last day if "
                 "earlier); not before the year starts, not after the data's last day."),
    examples=["2026-09-30"])]
Lang = Annotated[Literal["en", "sv"], Query(
    description="The workbook's headers and sheet names (and the chart's labels): English or Swedish.",
    examples=["sv"])]
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

    total_sek: float = Field(examples=[1_312_500.0], description="The gross gain, before displacement.")
    people_in_work: int = Field(examples=[21])
    displacement_share: float = Field(default=0.0, examples=[0.65], description=(
        "Share of the gross gain deducted for displacement (policy follow_up.displacement_share)."))
    net_sek: float = Field(default=0.0, examples=[459_375.0], description="The gain less displacement.")


class FollowUpView(BaseModel):
    """The year's follow-up, cut for one view; the estimate's assumptions always travel with it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "region": "gothenburg", "policy_id": "gothenburg", "region_version": 1, "year": 2026,
        "period_start": "2026-01-01", "period_end": "2026-12-31", "as_of": "2026-12-31",
        "data_from": "2025-11-03", "data_through": "2026-12-31", "partial": False, "notes": [],
        "view": "orderer", "min_cell_size": 5,
        "estimate": {"total_sek": 1312500.0, "people_in_work": 21, "displacement_share": 0.65,
                     "net_sek": 459375.0},
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
    data_from: dt.date | None = Field(default=None, description="The first recorded event in the data.")
    data_through: dt.date | None = Field(default=None, description="The data's last day.")
    partial: bool = Field(default=False, description=(
        "The data end before the year does: every figure is for period_start to period_end only."))
    notes: list[str] = Field(default_factory=list, description="What the reader must know, in words.")
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
        "required_places": 2, "judged_on": "2026-12-31", "checkpoint": "2026-12-31", "months_run": 12.0,
        "contract_months": 24.0, "due": 1, "started_in_period": 0, "placements_to_date": 0, "own_hires": 0,
        "not_counted": 0, "delivered": 0, "shortfall": 1,
        "status": "not_met", "final": False, "possible_breach": False, "breach_placements": [],
        "penalty_sek": 100000, "possible_penalty_sek": 0,
        "evidence": "0 of 1 place(s) due at the checkpoint 2026-12-31 delivered (0 placement(s) started "
                    "since the contract began). The contract runs until 2027-12-31.",
        "policy_id": "gothenburg", "year": 2026, "period_start": "2026-01-01", "period_end": "2026-12-31",
        "history": [{"checkpoint": "2026-12-31", "final": False, "due": 1, "delivered": 0,
                     "status": "not_met"}],
    }]})

    procurement_id: str
    title: str
    supplier_id: str
    supplier_name: str | None
    requirement_type: str
    qualifies: bool = Field(description="Whether the policy's rule asks for a requirement here.")
    required_places: int
    judged_on: dt.date = Field(description="The day judged: the period's end or the contract's, if earlier.")
    checkpoint: dt.date | None = Field(description=(
        "The latest checkpoint reached (every follow_up.checkpoint_months of the contract, and its end); "
        "null before the first, when the status is not_due."))
    months_run: float = Field(description="Calendar months of the contract run by judged_on.")
    contract_months: float
    due: int = Field(description=(
        "Hard: places due pro rata at the checkpoint, ⌊N × months run / contract months⌋ (N at the end). "
        "Dialogue: contract years that needed a recorded meeting."))
    started_in_period: int
    placements_to_date: int = Field(description="Placements started since the contract began.")
    own_hires: int = Field(description="The supplier's own hires, confirmed by the municipality, counted.")
    not_counted: int = Field(description="Placements the supplier ended before the agreed minimum.")
    delivered: int = Field(description=(
        "Hard: placements to date + own hires - not counted. Dialogue: contract years with a meeting."))
    shortfall: int
    status: Literal["met", "partly_met", "not_met", "not_due", "not_applicable"]
    final: bool = Field(description="Judged at the contract's last day; otherwise provisional.")
    possible_breach: bool = Field(description=(
        "A hard requirement's placement the supplier ended early, before its agreed end, in the period."))
    breach_placements: list[str]
    penalty_sek: int
    possible_penalty_sek: int = Field(description=(
        "Shortfall × the penalty per place, at the final checkpoint only (0 before); an indication only."))
    evidence: str
    policy_id: str
    year: int
    period_start: dt.date
    period_end: dt.date
    history: list[dict[str, Any]] = Field(default_factory=list, description=(
        "The judgement at every checkpoint reached: checkpoint, final, due, delivered, status."))


# -- computing, once per snapshot -------------------------------------------------------------------

_Key = tuple[int, int, int, dt.date | None, str]
#: Reports by key, each with its snapshot held weakly (a replaced region is not kept alive for this).
_cache: OrderedDict[_Key, tuple[weakref.ref[Snapshot], FollowUpReport]] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 8
#: The reports being computed now, each under its own lock.
_computing: dict[_Key, threading.Lock] = {}
#: matplotlib's pyplot keeps global state: one chart at a time per process.
_chart_lock = threading.Lock()


def _report(state_key: int, snapshot: Snapshot, year: int, as_of: dt.date | None,
            records: FollowUpRecords) -> FollowUpReport:
    """The follow-up of ``year`` on ``snapshot`` and the records (dialogues, own hires), computed once
    while both are current."""
    key = (state_key, id(snapshot), year, as_of, records_fingerprint(records))
    with _cache_lock:
        # Reports of an earlier snapshot of the same server are stale: drop them with the old region.
        for old in [k for k, (s, _) in _cache.items() if k[0] == state_key and s() is not snapshot]:
            del _cache[old]
        hit = _cache.get(key)
        if hit is not None and hit[0]() is snapshot:  # an id of a freed snapshot may be taken again
            _cache.move_to_end(key)
            return hit[1]
        computing = _computing.setdefault(key, threading.Lock())
    with computing:  # one computation per report: a request during the warm-up waits for it
        with _cache_lock:
            hit = _cache.get(key)
        if hit is not None and hit[0]() is snapshot:
            return hit[1]
        try:
            report = build_report(snapshot.region, snapshot.policy, year=year, as_of=as_of, records=records)
        except FollowUpPeriodError as exc:
            raise _period_error(exc) from None
        finally:
            with _cache_lock:
                _computing.pop(key, None)
        with _cache_lock:
            _cache[key] = (weakref.ref(snapshot), report)
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return report


def warm_follow_up(state: ServiceState, snapshot: Snapshot) -> threading.Thread:
    """Compute the follow-up of the snapshot's year, with the records stored now, on a thread of its
    own (``PLATSA_FOLLOWUP_WARM``): the first page or report asked for after a change finds it ready,
    or waits for this computation instead of starting its own."""
    def work() -> None:
        try:
            with state.db.connect() as conn:
                records = load_records(conn)
            _report(id(state), snapshot, _year(snapshot, None, None), None, records)
        except InvalidInput:  # no data for the year: each request says so
            logger.debug("no follow-up report to warm for region version %d", snapshot.version)
        except Exception:  # a report that cannot be made now is made (and its error answered) on request
            logger.exception("warming the follow-up report failed")

    thread = threading.Thread(target=work, name="platsa-warm-followup", daemon=True)
    thread.start()
    return thread


def _period_error(exc: FollowUpPeriodError) -> InvalidInput:
    return InvalidInput("1 invalid field(s)", [FieldError(
        location=f"query.{exc.field}", type="no_data" if exc.field == "year" else "outside_data",
        message=str(exc))])


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
def follow_up(caller: ReportReader, state: State, snapshot: Loaded, conn: Conn, year: Year = None,
              as_of: AsOf = None, view: ViewQuery = None) -> FollowUpView:
    """The tables of your view as JSON, with the socio-economic assumptions beside the figures.

    Definitions of every figure: ``docs/follow-up.md``.
    """
    report, chosen, tables = follow_up_tables(caller, state, snapshot, conn, year=year, as_of=as_of,
                                              view=view, what="json")
    return follow_up_view(report, chosen, tables, snapshot)


def follow_up_view(report: FollowUpReport, chosen: View, tables: dict[str, pl.DataFrame],
                   snapshot: Snapshot) -> FollowUpView:
    """The JSON answer of ``tables`` (the view's tables, or some of them)."""
    est = report.estimate
    return FollowUpView(
        region=report.region, policy_id=report.policy_id, region_version=snapshot.version, year=report.year,
        period_start=report.period_start, period_end=report.period_end, as_of=report.as_of, view=chosen,
        data_from=report.data_from, data_through=report.data_through, partial=report.partial,
        notes=list(report.notes), min_cell_size=report.min_cell_size,
        estimate=None if chosen == "researcher" else EstimateSummary(
            total_sek=est.total_sek, people_in_work=est.people_in_work,
            displacement_share=est.displacement_share, net_sek=est.net_sek),
        assumptions=list(est.assumptions),
        # The assumptions are a member of their own here; the files keep them as a table/sheet.
        tables={name: _table(frame) for name, frame in tables.items() if name != "assumptions"},
    )


def follow_up_tables(caller: Principal, state: ServiceState, snapshot: Snapshot, conn: sa.Connection, *,
                     year: int | None, as_of: dt.date | None, view: View | None,
                     what: str) -> tuple[FollowUpReport, View, dict[str, pl.DataFrame]]:
    """The year's report and the tables of the caller's view, the read audited as ``what`` (the
    JSON operation's own path, which the follow-up page takes too and shows a page of at a time)."""
    chosen = _view(caller, view)
    report = _report(id(state), snapshot, _year(snapshot, year, as_of), as_of, load_records(conn))
    tables = report_tables(report, chosen)
    _audit_person_level(state, caller, chosen, tables, f"follow-up {report.year} {what}")
    return report, chosen, tables


@router.get("/v1/reports/follow-up.xlsx", summary="The year's follow-up as a workbook",
            response_class=Response,
            responses={**_binary(XLSX, "An XLSX workbook: an About sheet, one sheet per table, Assumptions.",
                                 "<the bytes of follow-up-gothenburg-2026-orderer.xlsx>"),
                       **problem_responses(401, 403, 422, 503)})
def follow_up_xlsx(caller: ReportReader, state: State, snapshot: Loaded, conn: Conn, year: Year = None,
                   as_of: AsOf = None, view: ViewQuery = None, lang: Lang = "en") -> Response:
    """One sheet per table of your view, the ``About`` sheet and ``Assumptions``; dates are date cells."""
    chosen = _view(caller, view)
    report = _report(id(state), snapshot, _year(snapshot, year, as_of), as_of, load_records(conn))
    _audit_person_level(state, caller, chosen, report_tables(report, chosen), f"follow-up {report.year} xlsx")
    with tempfile.TemporaryDirectory(prefix="platsa-report-") as tmp:
        write_report(report, tmp, ("xlsx",), role=chosen, language=lang)
        content = (Path(tmp) / WORKBOOK_FILE).read_bytes()
    return _download(content, XLSX, f"follow-up-{report.region}-{report.year}-{chosen}.xlsx")


@router.get("/v1/reports/follow-up.zip", summary="The year's follow-up as CSV files in a zip",
            response_class=Response,
            responses={**_binary(ZIP, "A zip of one UTF-8 CSV per table (list cells `;`-separated).",
                                 "<the bytes of follow-up-gothenburg-2026-orderer.zip>"),
                       **problem_responses(401, 403, 422, 503)})
def follow_up_zip(caller: ReportReader, state: State, snapshot: Loaded, conn: Conn, year: Year = None,
                  as_of: AsOf = None, view: ViewQuery = None) -> Response:
    """``<table>.csv`` for each table of your view, ``assumptions.csv`` among them."""
    chosen = _view(caller, view)
    report = _report(id(state), snapshot, _year(snapshot, year, as_of), as_of, load_records(conn))
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
def follow_up_chart(caller: ReportReader, state: State, snapshot: Loaded, conn: Conn, year: Year = None,
                    as_of: AsOf = None, view: ViewQuery = None, lang: Lang = "en") -> Response:
    """For the coordinator and researcher views; the orderer's view has no group × district table (403)."""
    chosen = _view(caller, view)
    if chosen == "orderer":
        raise Forbidden("the orderer view holds no table by priority group and district to chart")
    report = _report(id(state), snapshot, _year(snapshot, year, as_of), as_of, load_records(conn))
    with tempfile.TemporaryDirectory(prefix="platsa-report-") as tmp, _chart_lock:
        write_report(report, tmp, ("png",), role=chosen, language=lang)
        content = (Path(tmp) / CHART_FILE).read_bytes()
    return Response(content, media_type=PNG)


@router.get("/v1/procurements/{procurement_id}/requirement-status",
            summary="Whether a procurement's employment requirement was met in a year",
            response_model=RequirementStatus, responses=problem_responses(401, 403, 404, 422, 503))
def get_requirement_status(procurement_id: PathId, caller: StatusReader, snapshot: Loaded, conn: Conn,
                           year: Year = None) -> dict[str, Any]:
    """Met, partly met, not met, not due yet or not applicable, with the evidence and the history of
    every checkpoint reached (``docs/follow-up.md``, "Requirement status").

    The period is the part of the calendar year the data cover; the requirement is judged on its end
    (or the contract's, if earlier). A year the data or the contract do not cover is a 422 on ``year``.
    """
    region = snapshot.region
    mine = region.procurements.filter(pl.col("procurement_id") == procurement_id)
    if mine.height == 0:
        raise NotFound(f"no procurement {procurement_id!r} that this key may see")
    year = _year(snapshot, year, None)
    records = load_records(conn)
    try:
        start, end, _ = data_coverage(region, records).period(year)
    except FollowUpPeriodError as exc:
        raise _period_error(exc) from None
    # Only this procurement's row is wanted: the status loop runs over the procurements given.
    only = dataclasses.replace(region, procurements=mine)
    rows = requirement_status(only, snapshot.policy, period_start=start, period_end=end, records=records)
    if rows.height == 0:
        contract = mine.row(0, named=True)
        raise InvalidInput("1 invalid field(s)", [FieldError(
            location="query.year", type="outside_contract",
            message=(f"the contract runs {contract['contract_start'].isoformat()} to "
                     f"{contract['contract_end'].isoformat()}, not in {year}"))])
    row = rows.row(0, named=True)
    history = requirement_history(only, snapshot.policy, through=end, records=records).drop(
        "procurement_id", "requirement_type")
    return {**row, "policy_id": snapshot.policy.id, "year": year, "period_start": start, "period_end": end,
            "history": history.to_dicts()}
