"""``/followup``: the year's follow-up and each procurement's requirement status, for coordinators,
orderers and admins, over the API's own report functions (:mod:`service.routes.reports`).

The page shows the view the API gives the person's role (``docs/follow-up.md``, "Who sees what"): a
coordinator's has the tables by group and district, an orderer's holds nothing about single people
(requirement status, key figures, the tables by supplier and placement type, the estimate by income
support). The pages show aggregates only; the coordinator's per-person tables stay in the downloads,
which are the API's own files (XLSX, zipped CSV, the PNG chart), answered for the person's view.
Charts are SVG drawn here (:mod:`service.web.charts`), each with a table of the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from service.auth import Principal
from service.deps import Conn, State
from service.errors import FieldError, Forbidden, InvalidInput, NotFound
from service.routes import reports as api
from service.state import ServiceState
from service.web.charts import Bar, bar_chart
from service.web.formats import Formats
from service.web.pages import PageFollowupReader, PageForbidden, PageNotFound, language, render, words

router = APIRouter(prefix="/followup")

STATUSES = ("met", "partly_met", "not_met", "not_due", "not_applicable")
"""A requirement's status at its latest checkpoint (``scoring.followup.requirement_status``)."""


@contextmanager
def _api() -> Iterator[None]:
    """The API's 404 and 403 as the pages' (the same 404 for "not there" and "not yours")."""
    try:
        yield
    except NotFound:
        raise PageNotFound() from None
    except Forbidden:
        raise PageForbidden("forbidden_role") from None


def read_year(value: str | None) -> tuple[int | None, FieldError | None]:
    """The ``year`` of a query string (none: the region's reference year), or what is wrong with it."""
    if value is None or value.strip() == "":
        return None, None
    text = value.strip()
    if not text.isdigit() or not 2000 <= int(text) <= 2100:
        return None, FieldError(location="query.year", type="year", message=text[:20])
    return int(text), None


# --- the year -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FigureLine:
    name: str
    label: str
    value: str
    note: str


def figure_value(value: float | None, unit: str, f: Formats, translate: Callable[..., str]) -> str:
    """A key figure's value in words by its unit (``scoring.followup.KeyFigures.table``)."""
    if value is None:
        return "–"
    if unit == "share":
        return f.pct(value)
    if unit == "ratio":
        return f.num(value, 2)
    if unit == "yes=1":
        return translate("fu_yes") if value >= 1 else translate("fu_no")
    if unit in ("days", "places"):
        return f.num(value, 1)
    return f.num(value, 0)


def figure_label(name: str, translate: Callable[..., str]) -> str:
    """A key figure's name in words (``people_into_<type>`` and the like by their parts)."""
    for prefix, key in (("people_into_", "fu_fig_people_into"), ("people_hired_", "fu_fig_people_hired_as"),
                        ("ended_early_by_", "fu_fig_ended_early_by")):
        if name.startswith(prefix):
            part = name.removeprefix(prefix)
            try:
                return translate(key, what=translate(f"fu_word_{part}"))
            except KeyError:
                return translate(key, what=part.replace("_", " "))
    try:
        return translate(f"fu_fig_{name}")
    except KeyError:
        return name.replace("_", " ")


@dataclass(frozen=True)
class YearPage:
    """The year's follow-up as the page shows it."""

    report: api.FollowUpView
    figures: list[FigureLine]
    target: dict[str, str]
    requirements: list[dict[str, Any]]
    status_counts: list[tuple[str, int]]
    """Procurements per status, over all of them (not only the page's)."""
    tables: dict[str, api.Table]
    page: int
    """The page of requirements shown (``PAGE_SIZE`` a page, in ``procurement_id`` order)."""
    pages: int
    requirements_total: int

    @property
    def view(self) -> str:
        return self.report.view


PAGE_SIZE = 50
#: The view's tables the year page shows besides the requirements (the others are in the downloads).
SHOWN_TABLES = ("key_figures", "by_placement_type", "by_district", "by_supplier")

_TARGET_FIGURES = ("companies_with_requirement", "yearly_target_places", "places_requisitioned",
                   "yearly_target_met")


def year_page(conn: Any, state: ServiceState, person: Principal, year: int | None, lang: str,
              page: int = 1) -> YearPage:
    """The person's view of the year's follow-up (``GET /v1/reports/follow-up``), in words.

    Raises :class:`service.errors.InvalidInput` for a year the data do not cover."""
    snapshot = state.snapshot
    assert snapshot is not None  # the route answers 503 first
    found, chosen, frames = api.follow_up_tables(person, state, snapshot, conn, year=year, as_of=None,
                                                 view=None, what="page")
    # Only what the page shows becomes rows: the requirements a page at a time (the large region has
    # 3,333 procurements), every figure and the small tables in full.
    requirements = frames["requirements"].sort("procurement_id")
    pages = max(1, math.ceil(requirements.height / PAGE_SIZE))
    number = min(max(page, 1), pages)
    shown = {name: frames[name] for name in SHOWN_TABLES if name in frames}
    shown["requirements"] = requirements.slice((number - 1) * PAGE_SIZE, PAGE_SIZE)
    report = api.follow_up_view(found, chosen, shown, snapshot)
    f, translate = Formats(lang), words(lang)
    figures, target = [], {}
    for row in report.tables["key_figures"].rows:
        line = FigureLine(row["figure"], figure_label(row["figure"], translate),
                          figure_value(row["value"], row["unit"], f, translate), row["note"] or "")
        if row["figure"] in _TARGET_FIGURES:
            target[row["figure"]] = line.value
            if row["figure"] == "yearly_target_met":
                target["verdict"] = line.note
                target["met"] = "" if row["value"] is None else ("yes" if row["value"] >= 1 else "no")
        else:
            figures.append(line)
    statuses = dict(requirements.group_by("status").len().iter_rows())
    counts = [(s, int(statuses.get(s, 0))) for s in STATUSES]
    return YearPage(report, figures, target, list(report.tables["requirements"].rows), counts, report.tables,
                    number, pages, requirements.height)


def year_charts(page: YearPage, f: Formats, translate: Callable[..., str]) -> list[dict[str, Any]]:
    """The year's charts: requirement status; people placed by placement type; in the coordinator's
    view, each home district's share of the placed against its distribution key."""
    charts = [{
        "id": "chart-status", "title": translate("fu_chart_status"),
        "svg": bar_chart(translate("fu_chart_status"),
                         [Bar(translate(f"fu_status_{s}"), (float(n),)) for s, n in page.status_counts],
                         [translate("fu_col_procurements")], value_text=lambda v: f.num(v)),
        "head": [translate("fu_col_status"), translate("fu_col_procurements")],
        "rows": [[translate(f"fu_status_{s}"), f.num(n)] for s, n in page.status_counts]}]
    types = page.tables.get("by_placement_type")
    if types is not None:
        rows = types.rows
        charts.append({
            "id": "chart-types", "title": translate("fu_chart_types"),
            "svg": bar_chart(translate("fu_chart_types"),
                             [Bar(translate(f"fu_word_{r['placement_type']}"),
                                  (None if r["people"] is None else float(r["people"]),)) for r in rows],
                             [translate("fu_col_people")], value_text=lambda v: f.num(v)),
            "head": [translate("fu_col_placement_type"), translate("fu_col_people")],
            "rows": [[translate(f"fu_word_{r['placement_type']}"), f.num(r["people"])] for r in rows]})
    districts = page.tables.get("by_district")
    if districts is not None:
        rows = districts.rows
        charts.append({
            "id": "chart-districts", "title": translate("fu_chart_districts"),
            "svg": bar_chart(translate("fu_chart_districts"),
                             [Bar(r["name"] or r["district_id"], (r["share_of_placed"], r["key_share"]))
                              for r in rows],
                             [translate("fu_col_share_of_placed"), translate("fu_col_key_share")],
                             value_text=lambda v: f.pct(v, 0)),
            "head": [translate("fu_col_district"), translate("fu_col_people"),
                     translate("fu_col_share_of_placed"), translate("fu_col_key_share")],
            "rows": [[r["name"] or r["district_id"], f.num(r["people"]), f.pct(r["share_of_placed"]),
                      f.pct(r["key_share"], 0)] for r in rows]})
    return charts


# --- one procurement ------------------------------------------------------------------------------

def procurement_status(conn: Any, state: ServiceState, person: Principal, procurement_id: str,
                       year: int | None) -> dict[str, Any]:
    """One procurement's requirement status with its history
    (``GET /v1/procurements/{id}/requirement-status``)."""
    snapshot = state.snapshot
    assert snapshot is not None  # the route answers 503 first
    return api.get_requirement_status(procurement_id, person, snapshot, conn, year=year)


def history_chart(status: dict[str, Any], f: Formats, translate: Callable[..., str]) -> Any:
    """Due against delivered at every checkpoint reached, or None before the first."""
    history = status.get("history") or []
    if not history:
        return None
    title = translate("fu_chart_history", id=status["procurement_id"])
    return bar_chart(title, [Bar(f.when(h["checkpoint"]), (float(h["due"]), float(h["delivered"])))
                             for h in history],
                     [translate("fu_col_due"), translate("fu_col_delivered")], value_text=lambda v: f.num(v))


# --- routes ---------------------------------------------------------------------------------------

def _context(request: Request, **values: Any) -> dict[str, Any]:
    return {"f": Formats(language(request)), **values}


def _year_or_error(request: Request) -> tuple[int | None, list[FieldError]]:
    year, problem = read_year(request.query_params.get("year"))
    return year, [problem] if problem else []


@router.get("")
def followup_page(request: Request, person: PageFollowupReader, conn: Conn, state: State) -> Response:
    if state.snapshot is None:
        return render(request, "followup/unavailable.html", _context(request), status_code=503)
    lang = language(request)
    year, problems = _year_or_error(request)
    page, charts = None, []
    if not problems:
        try:
            asked = request.query_params.get("page", "1")
            number = int(asked) if asked.isdigit() and len(asked) < 7 else 1
            page = year_page(conn, state, person, year, lang, number)
        except InvalidInput as exc:
            problems = list(exc.errors)
        else:
            charts = year_charts(page, Formats(lang), words(lang))
    return render(request, "followup/year.html", _context(
        request, page=page, charts=charts, problems=problems, year=request.query_params.get("year", ""),
        statuses=STATUSES), status_code=422 if problems else 200)


@router.get("/procurements/{procurement_id}")
def procurement_page(request: Request, procurement_id: str, person: PageFollowupReader, conn: Conn,
                     state: State) -> Response:
    if state.snapshot is None:
        return render(request, "followup/unavailable.html", _context(request), status_code=503)
    lang = language(request)
    year, problems = _year_or_error(request)
    status, chart = None, None
    if not problems:
        with _api():
            try:
                status = procurement_status(conn, state, person, procurement_id, year)
            except InvalidInput as exc:
                problems = list(exc.errors)
            else:
                chart = history_chart(status, Formats(lang), words(lang))
    return render(request, "followup/procurement.html", _context(
        request, status=status, chart=chart, problems=problems, procurement_id=procurement_id,
        year=request.query_params.get("year", "")), status_code=422 if problems else 200)


def _download(request: Request, person: Principal, conn: Any, state: ServiceState,
              make: Callable[..., Response], **extra: Any) -> Response:
    snapshot = state.snapshot
    if snapshot is None:
        return render(request, "followup/unavailable.html", _context(request), status_code=503)
    year, problems = _year_or_error(request)
    with _api():
        try:
            if problems:
                raise InvalidInput("1 invalid field(s)", problems)
            return make(person, state, snapshot, conn, year=year, as_of=None, view=None, **extra)
        except InvalidInput as exc:
            return render(request, "followup/year.html", _context(
                request, page=None, charts=[], problems=list(exc.errors),
                year=request.query_params.get("year", ""), statuses=STATUSES), status_code=422)


@router.get("/report.xlsx")
def report_xlsx(request: Request, person: PageFollowupReader, conn: Conn, state: State) -> Response:
    """The API's workbook (``GET /v1/reports/follow-up.xlsx``) for the person's view, in the page's
    language."""
    lang = language(request)
    return _download(request, person, conn, state, api.follow_up_xlsx, lang="sv" if lang == "sv" else "en")


@router.get("/report.zip")
def report_zip(request: Request, person: PageFollowupReader, conn: Conn, state: State) -> Response:
    """The API's CSV files in a zip (``GET /v1/reports/follow-up.zip``) for the person's view."""
    return _download(request, person, conn, state, api.follow_up_zip)


@router.get("/chart.png")
def report_chart(request: Request, person: PageFollowupReader, conn: Conn, state: State) -> Response:
    """The API's PNG chart by group and district (the coordinator's view; an orderer's has no such table)."""
    lang = language(request)
    return _download(request, person, conn, state, api.follow_up_chart, lang="sv" if lang == "sv" else "en")
