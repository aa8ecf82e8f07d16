"""The follow-up report as files a coordinator opens, and as text a person reads.

- :func:`write_report`: one CSV per table, one XLSX workbook (a sheet per table and an
  ``Assumptions`` sheet), and a PNG chart of the year's placements by priority group and district.
- :func:`render_text`: the key figures, the requirement status and the socio-economic estimate with
  its assumptions, as plain text (the CLI prints it; the library never prints).

Tables are cut per role by :func:`scoring.followup.report_tables` before anything is written, so a
researcher's files never hold a small cell or a person's id.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from scoring.followup import (
    MET,
    NO_GROUP,
    NOT_APPLICABLE,
    NOT_DUE,
    NOT_MET,
    PARTLY_MET,
    SUPPRESSED_COLUMN,
    FollowUpReport,
    Role,
    report_tables,
)

__all__ = ["FORMATS", "plot_group_district", "render_text", "suppressed_count", "write_report"]

logger = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx", "png")
CHART_FILE = "placements_by_group_district.png"
WORKBOOK_FILE = "follow-up.xlsx"
_SHEET_NAME_MAX = 31  # Excel's limit
STATUSES = (MET, PARTLY_MET, NOT_MET, NOT_DUE, NOT_APPLICABLE)


def _flat(table: pl.DataFrame) -> pl.DataFrame:
    """List columns joined with ``;`` (the region's CSV convention) so that CSV and XLSX can hold them."""
    return table.with_columns(
        [pl.col(c).list.join(";") for c, t in table.schema.items() if isinstance(t, pl.List)]
    )


def _sheet_title(name: str) -> str:
    return name.replace("_", " ").capitalize()[:_SHEET_NAME_MAX]


def write_report(
    report: FollowUpReport,
    folder: str | Path,
    formats: Sequence[str] = FORMATS,
    *,
    role: Role = "coordinator",
) -> list[Path]:
    """Write ``report`` as the files ``role`` may receive.

    Parameters
    ----------
    report
        From :func:`scoring.followup.build_report`.
    folder
        Created if missing; existing files of the same names are replaced.
    formats
        Any of ``csv`` (one ``<table>.csv`` each, UTF-8, lists ``;``-separated), ``xlsx``
        (``follow-up.xlsx``) and ``png`` (``placements_by_group_district.png``, for roles that see
        the group × district table).

    Returns
    -------
    list[Path]
        The files written, in writing order.

    Raises
    ------
    ValueError
        An unknown format or role.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(unknown)}: choose from {', '.join(FORMATS)}")
    tables = {name: _flat(t) for name, t in report_tables(report, role).items()}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "csv" in formats:
        for name, table in tables.items():
            path = folder / f"{name}.csv"
            table.write_csv(path)
            written.append(path)
    if "xlsx" in formats:
        path = folder / WORKBOOK_FILE
        _write_workbook(report, tables, path)
        written.append(path)
    if "png" in formats and "group_district" in tables:
        path = folder / CHART_FILE
        plot_group_district(tables["group_district"], path, title=(
            f"People placed in {report.year} by priority group and home district ({report.region})"))
        written.append(path)
    logger.info("wrote %d follow-up file(s) to %s", len(written), folder)
    return written


def _write_workbook(report: FollowUpReport, tables: dict[str, pl.DataFrame], path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    about = book.active
    about.title = "About"
    about.append(["Follow-up report"])
    about["A1"].font = Font(bold=True, size=14)
    for key, value in (("Region", report.region), ("Policy", report.policy_id), ("Year", report.year),
                       ("Period", f"{report.period_start.isoformat()} to {report.period_end.isoformat()}"),
                       ("Data read as of", report.as_of.isoformat()),
                       ("Smallest published cell (researchers)", report.min_cell_size)):
        about.append([key, value])
    about.column_dimensions["A"].width = 38
    about.column_dimensions["B"].width = 40
    for name, table in tables.items():
        sheet = book.create_sheet(_sheet_title(name))
        sheet.append(list(table.columns))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in table.iter_rows():
            sheet.append([_cell(v) for v in row])
        sheet.freeze_panes = "A2"
        for i, col in enumerate(table.columns, start=1):
            longest = max([len(col), *(len(str(v)) for v in table[col].head(200).to_list() if v is not None)])
            sheet.column_dimensions[sheet.cell(1, i).column_letter].width = min(max(10, longest + 2), 80)
    book.save(path)


def _cell(value: object) -> object:
    """A value openpyxl writes as a native cell (dates stay dates, so spreadsheets sort them)."""
    if value is None or isinstance(value, str | int | float | bool | dt.date):
        return value
    return str(value)


def plot_group_district(table: pl.DataFrame, path: str | Path, *, title: str = "") -> Path:
    """A grouped bar chart: people placed per home district, one bar per priority group.

    ``table`` has ``group, district_id, people``; suppressed cells (null) are left out and the chart
    says so. Uses matplotlib's Agg backend (no display needed).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    districts = table["district_id"].unique(maintain_order=True).to_list()
    groups = table["group"].unique(maintain_order=True).to_list()
    width = 0.8 / max(len(groups), 1)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.9 * len(districts) + 3), 5.0), dpi=110)
    x = np.arange(len(districts))
    suppressed = int(table["people"].is_null().sum())
    for i, group in enumerate(groups):
        sub = dict(table.filter(pl.col("group") == group).select("district_id", "people").iter_rows())
        heights = [float(sub[d]) if sub.get(d) is not None else 0.0 for d in districts]
        label = "in no priority group" if group == NO_GROUP else group.replace("_", " ")
        ax.bar(x + (i - (len(groups) - 1) / 2) * width, heights, width, label=label)
    ax.set_xticks(x, districts, rotation=35, ha="right")
    ax.set_ylabel("people placed (a person counts in each of their groups)")
    ax.set_title(title or "People placed by priority group and home district")
    if suppressed:
        ax.annotate(f"{suppressed} small cell(s) suppressed, not drawn", xy=(0.01, 0.97),
                    xycoords="axes fraction", va="top", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def _num(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def render_text(report: FollowUpReport, *, role: Role = "coordinator") -> str:
    """The report as plain text: key figures, requirement status, socio-economic estimate, assumptions.

    A researcher's text is written from the researcher's tables only (:func:`render_research_text`),
    so it holds exactly the protected cells the files hold.
    """
    if role == "researcher":
        return render_research_text(report)
    f, est, req = report.figures, report.estimate, report.requirements
    k = report.min_cell_size

    def people(n: int) -> str:
        return f"<{k}" if role == "researcher" and 0 < n < k else f"{n:,}"

    lines = [
        f"Follow-up {report.year} — {report.region} (policy {report.policy_id}), "
        f"{report.period_start.isoformat()} to {report.period_end.isoformat()}"
        + (" (PARTIAL YEAR)" if report.partial else ""),
        f"  the data cover {report.data_from} to {report.data_through}",
        *(f"  {note}" for note in report.notes),
        "",
        "Procurements",
        f"  active in the year: {f.procurements_active}; "
        f"qualifying under the policy: {f.qualifying_procurements}; "
        f"qualifying with a requirement: {f.qualifying_with_requirement} "
        f"({_pct(f.share_qualifying_with_requirement)})",
        f"  requirements on procurements the rule would not require: {f.requirements_not_qualifying}",
        "",
        "Proposals and placements",
        f"  proposals made: {f.proposals_made:,}; answered by the supplier: {f.proposals_answered:,}",
        f"  placements started: {people(f.placements_started)}; people placed: {people(f.people_placed)}",
        "  people into: " + ", ".join(f"{t.replace('_', ' ')} {people(n)}"
                                      for t, n in f.people_by_placement_type.items()),
        f"  people hired in the year: {people(f.people_hired)} ("
        + ", ".join(f"{c.replace('_', ' ')} {people(n)}" for c, n in f.hired_by_contract_type.items()) + ")",
        f"  of the year's placements: ongoing on {report.period_end.isoformat()} "
        f"{people(f.ongoing_at_year_end)}, "
        f"completed {people(f.completed)}, ended early {people(f.ended_early)} ("
        + ", ".join(f"by {w} {people(n)}" for w, n in f.ended_early_by.items()) + ")",
        f"  days from proposal to start: median {_num(f.time_to_start.median_days, 1)}, "
        f"mean {_num(f.time_to_start.mean_days, 1)} ({f.time_to_start.placements} placements)",
    ]
    if f.proposals_hired_without_placement:
        lines.append(f"  note: {f.proposals_hired_without_placement} proposal(s) marked hired have no "
                     "placement recorded; they are not counted")
    y, a = f.yearly_target, f.anti_creaming
    lines += [
        "",
        f"Yearly target (seed 001): {y.verdict}",
        f"Anti-creaming: {_pct(a.placed_share)} of the placed are on work-ladder steps 1-2, against "
        f"{_pct(a.pool_share)} of the pool (ratio {_num(a.ratio, 2)}; below 1 suggests creaming)",
        "",
        "Per priority group (a person counts in each of their groups)",
    ]
    for row in f.by_group.iter_rows(named=True):
        label = "in no group" if row["group"] == NO_GROUP else row["group"].replace("_", " ")
        lines.append(f"  {label:<24} people {people(row['people']):>6}  hired {people(row['hired']):>6}  "
                     f"pool share {_pct(row['pool_share'])}")
    lines += ["", "Per home district"]
    for row in f.by_district.iter_rows(named=True):
        share = "–" if role == "researcher" and 0 < row["people"] < k else _pct(row["share_of_placed"])
        lines.append(f"  {row['name']:<24} people {people(row['people']):>6}  share {share:>8}  "
                     f"key {_pct(row['key_share'])}")
    if role != "researcher":
        counts = {s: int((req["status"] == s).sum()) for s in STATUSES}
        period = f"{report.period_start.isoformat()} to {report.period_end.isoformat()}"
        lines += ["", f"Requirement status {period}: "
                  + ", ".join(f"{s.replace('_', ' ')} {n}" for s, n in counts.items())]
        for row in req.filter(pl.col("status") != "not_applicable").iter_rows(named=True):
            flag = "  POSSIBLE BREACH" if row["possible_breach"] else ""
            supplier = (row["supplier_name"] or row["supplier_id"])[:28]
            lines.append(f"  {row['procurement_id']}  {supplier:<28} {row['requirement_type']:<8} "
                         f"{row['status']:<10}{flag}")
            lines.append(f"      {row['evidence']}")
    lines += ["", f"Socio-economic estimate {report.year} (municipality's gain)"]
    for row in est.by_income_support.iter_rows(named=True):
        lines.append(f"  {row['income_support'].replace('_', ' '):<18} people {people(row['people']):>6}  "
                     f"months in work {_num(row['months_in_work'], 1):>8}  gain {_num(row['gain_sek'])} SEK")
    if role == "researcher":
        # A total beside suppressed rows could give them back: the researcher gets the rows only.
        lines.append(f"  displacement deducted: {est.displacement_share:.0%} of each row's gross gain")
    else:
        lines.append(f"  gross: {_num(est.gross_sek)} SEK for {people(est.people_in_work)} people in work")
        lines.append(f"  displacement ({est.displacement_share:.0%}): −{_num(est.displacement_sek)} SEK")
        lines.append(f"  net: {_num(est.net_sek)} SEK")
    lines += ["", "Assumptions"]
    lines += [f"  - {text}" for text in est.assumptions]
    if role == "researcher":
        lines += ["", f"Counts of people below {k} are suppressed (shown as <{k}; null in the files)."]
    return "\n".join(lines) + "\n"


def suppressed_count(table: pl.DataFrame) -> int:
    """How many cells of a researcher table were suppressed."""
    if SUPPRESSED_COLUMN not in table.columns:
        return 0
    return int(table[SUPPRESSED_COLUMN].list.len().sum())


def _cell_text(value: object, unit: str = "people") -> str:
    if value is None:
        return "suppressed"
    if unit in ("share",) and isinstance(value, float):
        return _pct(value)
    if isinstance(value, float):
        return f"{value:,.2f}" if not value.is_integer() else f"{int(value):,}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def render_research_text(report: FollowUpReport) -> str:
    """The researcher's view as text: every table of :func:`scoring.followup.report_tables` for the
    researcher, a suppressed cell shown as ``suppressed`` (null in the files)."""
    tables = report_tables(report, "researcher")
    lines = [
        f"Follow-up {report.year} — {report.region} (policy {report.policy_id}), researcher view, "
        f"{report.period_start.isoformat()} to {report.period_end.isoformat()}"
        + (" (PARTIAL YEAR)" if report.partial else ""),
        *(f"  {note}" for note in report.notes),
        "",
        "Key figures",
    ]
    for row in tables["key_figures"].iter_rows(named=True):
        lines.append(f"  {row['figure']:<36} {_cell_text(row['value'], row['unit']):>12}  {row['unit']}")
    for name, table in tables.items():
        if name in ("key_figures", "assumptions"):
            continue
        lines += ["", name.replace("_", " ").capitalize()]
        columns = [c for c in table.columns if c != SUPPRESSED_COLUMN]
        lines.append("  " + "  ".join(f"{c:>16}" for c in columns))
        for row in table.iter_rows(named=True):
            cells = [_cell_text(row[c], "share" if "share" in c else "") for c in columns]
            lines.append("  " + "  ".join(f"{v:>16}" for v in cells))
    lines += ["", "Assumptions"]
    lines += [f"  - {text}" for text in report.estimate.assumptions]
    lines += ["", (f"Counts of people below {report.min_cell_size} are suppressed, and further cells with "
                   "them so that none can be worked out from totals or other tables (docs/follow-up.md).")]
    return "\n".join(lines) + "\n"
