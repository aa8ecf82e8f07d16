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
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

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

__all__ = [
    "COLUMNS",
    "FORMATS",
    "LANGUAGES",
    "SHEETS",
    "Language",
    "header",
    "plot_group_district",
    "render_research_text",
    "render_text",
    "suppressed_count",
    "write_report",
]

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


Language = Literal["en", "sv"]
LANGUAGES: tuple[Language, ...] = ("en", "sv")

#: Column headers in words (English, Swedish) and what each column holds (the explanation sheet).
COLUMNS: dict[str, tuple[str, str, str]] = {
    "figure": ("Figure", "Nyckeltal", "the key figure's name"),
    "value": ("Value", "Värde", "the figure's value, in the row's unit"),
    "unit": ("Unit", "Enhet", "what the value counts or measures"),
    "note": ("Note", "Anmärkning", "how the figure is counted"),
    "procurement_id": ("Procurement", "Upphandling", "the procurement's diary number"),
    "title": ("Title", "Benämning", "what is procured"),
    "supplier_id": ("Supplier id", "Leverantörs-id", "the supplier's id"),
    "supplier_name": ("Supplier", "Leverantör", "the winning supplier"),
    "name": ("Name", "Namn", "the name"),
    "requirement_type": ("Requirement", "Krav", "none, dialogue (dialogkrav) or hard (skarpt krav)"),
    "qualifies": ("Qualifies", "Kvalificerar", "whether the policy's rule asks for a requirement here"),
    "required_places": ("Places required", "Krävda platser", "places a hard requirement demands"),
    "judged_on": ("Judged on", "Bedömd per", "the day judged: the period's or the contract's end"),
    "checkpoint": ("Checkpoint", "Avstämning", "the latest checkpoint reached (empty: not due yet)"),
    "months_run": ("Months run", "Månader löpt", "calendar months of the contract run"),
    "contract_months": ("Contract months", "Avtalsmånader", "the contract's length in months"),
    "due": ("Due", "Förfallet", "places due pro rata at the checkpoint (dialogue: contract years)"),
    "started_in_period": ("Started in period", "Startade i perioden", "placements started in the period"),
    "placements_to_date": ("Placements to date", "Placeringar hittills", "started since the contract began"),
    "own_hires": ("Own hires", "Egna anställningar", "the supplier's own hires, confirmed"),
    "not_counted": ("Not counted", "Räknas inte", "ended by the supplier before the agreed minimum"),
    "delivered": ("Delivered", "Levererat", "placements to date + own hires - not counted"),
    "shortfall": ("Shortfall", "Underskott", "due - delivered, at least 0"),
    "status": ("Status", "Status", "met, partly met, not met, not due yet, not applicable"),
    "final": ("Final", "Slutlig", "judged at the contract's last day"),
    "possible_breach": ("Possible breach", "Möjligt avtalsbrott",
                        "an agreed placement ended early by the supplier under a hard requirement"),
    "breach_placements": ("Breach placements", "Placeringar (avtalsbrott)", "the placements concerned"),
    "penalty_sek": ("Penalty per place", "Vite per plats", "the contract's penalty per place (vite)"),
    "possible_penalty_sek": ("Possible penalty", "Möjligt vite", "shortfall × penalty, final only"),
    "evidence": ("Evidence", "Underlag", "the sentence the orderer reads"),
    "group": ("Priority group", "Prioriterad grupp", "the policy's priority group; none: in no group"),
    "district_id": ("District", "Stadsdel", "the home district"),
    "people": ("People", "Personer", "distinct people"),
    "placements": ("Placements", "Placeringar", "placements started"),
    "ongoing": ("Ongoing", "Pågående", "placements going on at the period's end"),
    "completed": ("Completed", "Fullföljda", "placements that ran their course"),
    "ended_early": ("Ended early", "Avbrutna", "placements ended before their time"),
    "hired": ("Hired", "Anställda", "placements with a hire"),
    "share_of_placed": ("Share of placed", "Andel av placerade", "people / all people placed"),
    "pool_share": ("Share of the pool", "Andel av alla kandidater", "the group's share of all candidates"),
    "key_share": ("Distribution key", "Fördelningsnyckel", "the policy's key share for the district"),
    "proposals": ("Proposals", "Förslag", "proposals made in the year"),
    "proposals_answered": ("Answered", "Besvarade", "proposals the supplier answered"),
    "ended_early_by_supplier": ("Ended early by supplier", "Avbrutna av leverantören", "of the cohort"),
    "placement_type": ("Placement type", "Placeringstyp", "employment, apprenticeship, trainee, …"),
    "outcome": ("Outcome", "Utfall", "the first placement's state on the period's last day"),
    "contract_type": ("Contract", "Anställningsform", "the employment contract of a hire"),
    "income_support": ("Income support", "Försörjning", "what the person lived on"),
    "months_in_work": ("Months in work", "Månader i arbete", "calendar months in paid work in the year"),
    "yearly_gain_sek": ("Yearly gain per person", "Årlig vinst per person", "the gain per person-year"),
    "gain_sek": ("Gross gain", "Bruttovinst", "months × yearly gain / 12"),
    "net_gain_sek": ("Net gain", "Nettovinst", "gross gain less the displacement deduction"),
    "candidate_id": ("Candidate", "Kandidat", "the candidate's internal id"),
    "proposal_id": ("Proposal", "Förslag", "the proposal's id"),
    "place_id": ("Place", "Plats", "the place's id"),
    "placement_id": ("Placement", "Placering", "the placement's id"),
    "created_on": ("Proposed on", "Föreslagen", "the day of the proposal"),
    "decided_on": ("Decided on", "Beslutad", "the day declined, withdrawn or hired"),
    "decline_reason": ("Decline reason", "Skäl", "the supplier's reason code"),
    "started_on": ("Started", "Startade", "first day in the place"),
    "ended_on": ("Ended", "Avslutades", "last day in the place"),
    "end_reason": ("End", "Avslut", "ongoing, completed, hired, ended early"),
    "ended_by": ("Ended by", "Avbruten av", "who ended it early"),
    "hired_on": ("Hired on", "Anställd", "the day of hire"),
    "days_to_start": ("Days to start", "Dagar till start", "proposal to start"),
    "months_in_place": ("Months in place", "Månader på platsen", "start to end (or the period's end)"),
    "assumption": ("Assumption", "Antagande", "an assumption of the socio-economic estimate"),
    "suppressed": ("Suppressed", "Dolda", "columns hidden in this row (small cells, researchers)"),
    "requirement_placements": ("Requirement placements", "Placeringar under krav", "started in the period"),
    "requirement_placements_before": ("Placements the year before", "Placeringar året före",
                                      "the year before"),
    "new_hires": ("New hires (all)", "Nyanställda (alla)", "all the supplier's new hires, as it reported"),
    "requirement_share_of_new_hires": ("Share of new hires", "Andel av nyanställda",
                                       "requirement placements / all new hires"),
    "headcount": ("Headcount", "Antal anställda", "as the supplier reported for the year"),
    "headcount_before": ("Headcount the year before", "Anställda året före", "as reported"),
    "look_into": ("Look into", "Granska", "headcount fell while requirement placements rose"),
}
#: Sheet titles in words.
SHEETS: dict[str, tuple[str, str]] = {
    "key_figures": ("Key figures", "Nyckeltal"), "requirements": ("Requirements", "Kravuppfyllelse"),
    "requirement_history": ("Requirement history", "Kravhistorik"), "by_group": ("By group", "Per grupp"),
    "by_district": ("By district", "Per stadsdel"), "by_supplier": ("By supplier", "Per leverantör"),
    "by_placement_type": ("By placement type", "Per placeringstyp"),
    "by_outcome": ("By outcome", "Per utfall"),
    "by_contract_type": ("By contract", "Per anställningsform"),
    "group_district": ("Group × district", "Grupp × stadsdel"),
    "estimate_by_support": ("Estimate by support", "Kalkyl per försörjning"),
    "estimate_per_person": ("Estimate per person", "Kalkyl per person"), "outcomes": ("Outcomes", "Utfall"),
    "assumptions": ("Assumptions", "Antaganden"),
    "displacement_watch": ("Displacement watch", "Undanträngning"),
}
_WORDS: dict[str, tuple[str, str]] = {
    "about": ("About", "Om rapporten"), "explanations": ("Explanations", "Förklaringar"),
    "sheet": ("Sheet", "Flik"), "column": ("Column", "Kolumn"), "meaning": ("Meaning", "Betydelse"),
    "title": ("Follow-up report", "Uppföljningsrapport"), "region": ("Region", "Region"),
    "policy": ("Policy", "Policy"), "year": ("Year", "År"), "period": ("Period", "Period"),
    "data": ("The data cover", "Data täcker"), "partial": ("Partial year", "Del av år"),
    "cell": ("Smallest published cell (researchers)", "Minsta publicerade cell (forskare)"),
    "yes": ("yes", "ja"), "no": ("no", "nej"),
}
#: Number formats by unit (the key figures' ``unit``) and by column.
_PERCENT, _SEK, _WHOLE, _DECIMAL, _DATE = "0.0%", '#,##0 "SEK"', "#,##0", "#,##0.0", "yyyy-mm-dd"
_UNIT_FORMAT = {"share": _PERCENT, "ratio": "0.00", "days": _DECIMAL, "places": "#,##0.##", "yes=1": "0"}


def header(column: str, language: Language = "en") -> str:
    """A column's header in words, in ``language``."""
    words = COLUMNS.get(column)
    if words is None:
        return column.replace("_", " ").capitalize()
    return words[0] if language == "en" else words[1]


def _column_format(column: str, dtype: pl.DataType) -> str | None:
    if "share" in column:
        return _PERCENT
    if column.endswith("_sek"):
        return _SEK
    if dtype == pl.Date:
        return _DATE
    if dtype.is_integer():
        return _WHOLE
    if dtype.is_float():
        return _DECIMAL
    return None


def write_report(
    report: FollowUpReport,
    folder: str | Path,
    formats: Sequence[str] = FORMATS,
    *,
    role: Role = "coordinator",
    language: Language = "en",
) -> list[Path]:
    """Write ``report`` as the files ``role`` may receive.

    Parameters
    ----------
    report
        From :func:`scoring.followup.build_report`.
    folder
        Created if missing; existing files of the same names are replaced.
    formats
        Any of ``csv`` (one ``<table>.csv`` each, UTF-8, lists ``;``-separated, columns by their
        names), ``xlsx`` (``follow-up.xlsx``: headers in words, number formats, autofilter, an
        explanation sheet) and ``png`` (``placements_by_group_district.png``, for roles that see
        the group × district table).
    language
        ``en`` or ``sv``: the workbook's headers, sheet names and chart labels.

    Returns
    -------
    list[Path]
        The files written, in writing order.

    Raises
    ------
    ValueError
        An unknown format, role or language.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(unknown)}: choose from {', '.join(FORMATS)}")
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: one of {', '.join(LANGUAGES)}")
    raw = report_tables(report, role)
    tables = {name: _flat(t) for name, t in raw.items()}
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
        _write_workbook(report, tables, path, language)
        written.append(path)
    if "png" in formats and "group_district" in tables:
        path = folder / CHART_FILE
        names = dict(report.figures.by_district.select("district_id", "name").iter_rows())
        plot_group_district(tables["group_district"], path, title=(
            f"People placed in {report.year} by priority group and home district ({report.region})"
            if language == "en" else
            f"Placerade {report.year} per prioriterad grupp och stadsdel ({report.region})"),
            by_district=raw["by_district"], district_names=names, keys=report.distribution_keys,
            total_placed=_people_placed(raw["key_figures"]), language=language)
        written.append(path)
    logger.info("wrote %d follow-up file(s) to %s", len(written), folder)
    return written


def _people_placed(figures: pl.DataFrame) -> int | None:
    value = figures.filter(pl.col("figure") == "people_placed")["value"]
    return None if value.len() == 0 or value[0] is None else int(value[0])


def _write_workbook(report: FollowUpReport, tables: dict[str, pl.DataFrame], path: Path,
                    language: Language = "en") -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    i = 0 if language == "en" else 1

    def word(key: str) -> str:
        return _WORDS[key][i]

    book = Workbook()
    about = book.active
    about.title = word("about")
    about.append([word("title")])
    about["A1"].font = Font(bold=True, size=14)
    for key, value in (("region", report.region), ("policy", report.policy_id), ("year", report.year),
                       ("period", f"{report.period_start.isoformat()} – {report.period_end.isoformat()}"),
                       ("data", f"{report.data_from} – {report.data_through}"),
                       ("partial", word("yes") if report.partial else word("no")),
                       ("cell", report.min_cell_size)):
        about.append([word(key), value])
    for note in report.notes:
        about.append(["", note])
    about.column_dimensions["A"].width = 40
    about.column_dimensions["B"].width = 60
    explained: list[tuple[str, str, str]] = []
    for name, table in tables.items():
        title = (SHEETS[name][i] if name in SHEETS else _sheet_title(name))[:_SHEET_NAME_MAX]
        sheet = book.create_sheet(title)
        sheet.append([header(c, language) for c in table.columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        formats = [_column_format(c, t) for c, t in table.schema.items()]
        tidy = "unit" in table.columns and "value" in table.columns
        unit_at = table.columns.index("unit") if tidy else None
        value_at = table.columns.index("value") if unit_at is not None else None
        for values_row in table.iter_rows():
            sheet.append([_cell(v) for v in values_row])
            r = sheet.max_row
            for cell in sheet[r]:
                if cell.data_type == "f":  # a text that starts with "=" is a value here, never a formula
                    cell.data_type = "s"
            for position, fmt in enumerate(formats, start=1):
                if position - 1 == value_at and unit_at is not None:
                    fmt = _UNIT_FORMAT.get(str(values_row[unit_at]), _WHOLE)
                if fmt is not None:
                    sheet.cell(r, position).number_format = fmt
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = sheet.dimensions
        for j, col in enumerate(table.columns, start=1):
            shown = header(col, language)
            values = [len(str(v)) for v in table[col].head(200).to_list() if v is not None]
            longest = max([len(shown), *values])
            sheet.column_dimensions[sheet.cell(1, j).column_letter].width = min(max(10, longest + 2), 80)
            explained.append((title, shown, COLUMNS.get(col, ("", "", ""))[2]))
        if name == "key_figures":
            for figure in table.iter_rows(named=True):
                meaning = str(figure["note"] or figure["unit"])
                explained.append((title, str(figure["figure"]).replace("_", " "), meaning))
    sheet = book.create_sheet(word("explanations"))
    sheet.append([word("sheet"), word("column"), word("meaning")])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for entry in explained:
        sheet.append(list(entry))
    sheet.auto_filter.ref = sheet.dimensions
    for letter, width in (("A", 24), ("B", 34), ("C", 90)):
        sheet.column_dimensions[letter].width = width
    book.save(path)


def _cell(value: object) -> object:
    """A value openpyxl writes as a native cell (dates stay dates, so spreadsheets sort them).

    Text is cleaned first: a character a workbook cannot hold (a control character, stored before
    ids had one grammar) becomes U+FFFD, so that one bad value never makes the export fail.

    Examples
    --------
    >>> _cell("p\x01-1")
    'p\ufffd-1'
    """
    if isinstance(value, str):
        return _ILLEGAL_IN_XLSX.sub("\ufffd", value)
    if value is None or isinstance(value, int | float | bool | dt.date):
        return value
    return _ILLEGAL_IN_XLSX.sub("\ufffd", str(value))


#: What openpyxl refuses in a cell (its ``ILLEGAL_CHARACTERS_RE``), and lone surrogates.
_ILLEGAL_IN_XLSX = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def plot_group_district(
    table: pl.DataFrame,
    path: str | Path,
    *,
    title: str = "",
    by_district: pl.DataFrame | None = None,
    district_names: Mapping[str, str] | None = None,
    keys: Mapping[str, float] | None = None,
    total_placed: int | None = None,
    language: Language = "en",
) -> Path:
    """People placed per home district, one bar per priority group; below it, the people placed per
    district beside what the distribution key would give them.

    ``table`` has ``group, district_id, people``; ``by_district`` has ``district_id, people``; the key's
    bar is ``keys[district] × total_placed`` (the published total, so a suppressed district's key still
    shows). A
    suppressed cell (null) is drawn as a hatched, labelled stub, never as a value; counts have whole-
    number axes; districts are named, not ids. Uses matplotlib's Agg backend (no display needed).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    en = language == "en"
    names = dict(district_names or {})
    districts = table["district_id"].unique(maintain_order=True).to_list()
    labels = [names.get(d, d) for d in districts]
    groups = table["group"].unique(maintain_order=True).to_list()
    width = 0.8 / max(len(groups), 1)
    panels = 2 if by_district is not None else 1
    fig, axes = plt.subplots(panels, 1, figsize=(max(8.0, 0.9 * len(districts) + 3), 5.0 * panels), dpi=110,
                             squeeze=False)
    ax = axes[0][0]
    x = np.arange(len(districts))
    top = max([float(v) for v in table["people"].drop_nulls().to_list()] + [1.0])
    stub = max(top * 0.06, 0.3)
    suppressed = 0
    for i, group in enumerate(groups):
        sub = dict(table.filter(pl.col("group") == group).select("district_id", "people").iter_rows())
        label = ("in no priority group" if en else "i ingen prioriterad grupp") if group == NO_GROUP \
            else group.replace("_", " ")
        at = x + (i - (len(groups) - 1) / 2) * width
        heights = [float(sub[d]) if sub.get(d) is not None else 0.0 for d in districts]
        bars = ax.bar(at, heights, width, label=label, color=f"C{i % 10}")
        hidden = [j for j, d in enumerate(districts) if d in sub and sub[d] is None]
        suppressed += len(hidden)
        for j in hidden:
            ax.bar(at[j], stub, width, facecolor="none", edgecolor=bars.patches[0].get_facecolor(),
                   hatch="///")
            ax.text(at[j], stub, "s", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, labels, rotation=35, ha="right")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("people placed (in each of their groups)" if en
                  else "placerade (i var och en av sina grupper)")
    ax.set_title(title or ("People placed by priority group and home district" if en
                           else "Placerade per prioriterad grupp och stadsdel"))
    handles, legend_labels = ax.get_legend_handles_labels()
    if suppressed:
        handles.append(Patch(facecolor="none", edgecolor="grey", hatch="///"))
        legend_labels.append(f"s: suppressed small cell ({suppressed}), value not shown" if en
                              else f"s: dold liten cell ({suppressed}), värdet visas inte")
    ax.legend(handles, legend_labels, fontsize=8)
    if by_district is not None:
        ax2 = axes[1][0]
        people = dict(by_district.select("district_id", "people").iter_rows())
        total = total_placed
        placed = [float(people.get(d) or 0) for d in districts]
        ax2.bar(x - 0.2, placed, 0.4, label="people placed" if en else "placerade", color="C0")
        for j, d in enumerate(districts):
            if people.get(d) is None:
                ax2.bar(x[j] - 0.2, stub, 0.4, facecolor="none", edgecolor="C0", hatch="///")
                ax2.text(x[j] - 0.2, stub, "s", ha="center", va="bottom", fontsize=7)
        if keys and total is not None:
            expected = [float(keys.get(d, 0.0)) * total for d in districts]
            ax2.bar(x + 0.2, expected, 0.4, label=("the distribution key × all placed" if en
                                                   else "fördelningsnyckeln × alla placerade"), color="C7")
        ax2.set_xticks(x, labels, rotation=35, ha="right")
        ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.set_ylabel("people" if en else "personer")
        ax2.set_title("People placed by home district, beside the distribution key" if en
                      else "Placerade per stadsdel, bredvid fördelningsnyckeln")
        ax2.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def _num(value: float | int | None, digits: int = 0) -> str:
    if value is None or value != value:  # None, or a metric's NaN (nothing to divide by)
        return "–"
    return f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None or value != value else f"{100 * value:.1f} %"


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
        f"Anti-creaming: {_pct(a.share_placed_low)} of the placed are on work-ladder steps 1-2, against "
        f"{_pct(a.share_pool_low)} of the pool (ratio {_num(a.ratio, 2)}; below 1 suggests creaming)",
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
