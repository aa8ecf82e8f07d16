"""A round as a file to download: its assignments (with every score term) and its unassigned
candidates (with the reason), as CSV or as an XLSX workbook, headers in the page's words.

The file holds internal candidate ids, like the result file of ``platsa allocate`` (docs/rounds.md,
"The result file"): it is for the municipality's own staff, so its route admits exactly whom the
round's page admits, reads the round through the API's own access check, and is audited as the API
audits a read of assignments (every candidate id in the file).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from scoring.score import OUTCOME_TERM, TERMS
from service import audit
from service.auth import Principal
from service.db.tables import round_assignments, round_unassigned
from service.routes import rounds as api
from service.state import ServiceState
from service.web.round_views import explanation_words

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def _assignment_rows(conn: sa.Connection, round_id: str) -> Iterator[dict[str, Any]]:
    t = round_assignments
    query = (sa.select(t.c.candidate_id, t.c.place_id, t.c.score, t.c.pinned, t.c.explanation)
             .where(t.c.round_id == round_id).order_by(t.c.candidate_id))
    for r in conn.execute(query).mappings():
        yield dict(r)


def _unassigned_rows(conn: sa.Connection, round_id: str) -> list[dict[str, Any]]:
    t = round_unassigned
    query = (sa.select(t.c.candidate_id, t.c.reason, t.c.explanation)
             .where(t.c.round_id == round_id).order_by(t.c.candidate_id))
    return [dict(r) for r in conn.execute(query).mappings()]


def round_tables(conn: sa.Connection, person: Principal, round_id: str, translate: Callable[..., str],
                 decimal: str = ".") -> tuple[list[str], list[list[Any]], list[str], list[list[Any]]]:
    """The round's two tables in words: (assignment headers, rows, unassigned headers, rows).
    Raises :class:`service.errors.NotFound` for a round the person may not read."""
    api.get_round(round_id, person, conn)
    assigned = list(_assignment_rows(conn, round_id))
    # The learnt outcome term is a column where the round's policy weighed it (docs/scoring.md).
    names = [*TERMS, *([OUTCOME_TERM] if any(OUTCOME_TERM in ((r["explanation"] or {}).get("terms") or {})
                                             for r in assigned) else [])]
    head = [translate("rd_col_candidate"), translate("rd_col_place"), translate("rd_col_supplier"),
            translate("rd_col_home_district"), translate("rd_col_score"), translate("rd_col_pinned"),
            *[translate(f"rd_term_{t}") for t in names], translate("rd_col_override")]
    yes, no = translate("rd_yes"), translate("rd_no")
    rows = []
    for r in assigned:
        explanation = r["explanation"] or {}
        terms = explanation.get("terms") or {}
        override = explanation.get("override") or {}
        rows.append([r["candidate_id"], r["place_id"], explanation.get("supplier_id") or "",
                     explanation.get("home_district") or "", round(float(r["score"]), 3),
                     yes if r["pinned"] else no, *[round(float(terms.get(t, 0.0)), 3) for t in names],
                     override.get("reason", "")])
    left_head = [translate("rd_col_candidate"), translate("rd_col_reason"), translate("rd_col_explanation")]
    left = [[u["candidate_id"], translate(f"rd_reason_{u['reason']}"),
             explanation_words(u["explanation"], translate, decimal) or u["explanation"]]
            for u in _unassigned_rows(conn, round_id)]
    return head, rows, left_head, left


def _audit(state: ServiceState, person: Principal, round_id: str, rows: list[list[Any]],
           left: list[list[Any]], what: str) -> None:
    audit.record_apart(state.writer, person, "read", "round_assignments", round_id,
                       candidate_ids=sorted({str(r[0]) for r in rows} | {str(u[0]) for u in left}),
                       detail=f"download {what}")


def round_csv(conn: sa.Connection, state: ServiceState, person: Principal, round_id: str,
              translate: Callable[..., str], decimal: str = ".") -> bytes:
    """The assignments, then an empty line and the unassigned, as one UTF-8 CSV (with a BOM, so that a
    spreadsheet reads å, ä and ö right)."""
    head, rows, left_head, left = round_tables(conn, person, round_id, translate, decimal)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(head)
    writer.writerows(rows)
    writer.writerow([])
    writer.writerow(left_head)
    writer.writerows(left)
    _audit(state, person, round_id, rows, left, "csv")
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def round_xlsx(conn: sa.Connection, state: ServiceState, person: Principal, round_id: str,
               translate: Callable[..., str], decimal: str = ".") -> bytes:
    """A workbook: a sheet of assignments and one of the unassigned, header row frozen and filtered."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    head, rows, left_head, left = round_tables(conn, person, round_id, translate, decimal)
    book = Workbook()
    sheets = ((book.active, translate("rd_sheet_assignments"), head, rows),
              (book.create_sheet(), translate("rd_sheet_unassigned"), left_head, left))
    for sheet, title, header, body in sheets:
        sheet.title = title[:31]
        sheet.append(header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in body:
            sheet.append(row)
            for cell in sheet[sheet.max_row]:
                if cell.data_type == "f":  # a text starting with "=" is a value, never a formula
                    cell.data_type = "s"
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = sheet.dimensions
        for j, name in enumerate(header, start=1):
            sheet.column_dimensions[sheet.cell(1, j).column_letter].width = max(12, min(len(name) + 4, 60))
    buffer = io.BytesIO()
    book.save(buffer)
    _audit(state, person, round_id, rows, left, "xlsx")
    return buffer.getvalue()
