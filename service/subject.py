"""The data subject's rights (GDPR): a candidate's data exported (Art. 15) or erased (Art. 17).

:func:`export` gathers every row that holds the person, as JSON-ready data: the candidate row, its
record of API edits, proposals with their history (events) and webhook deliveries, placements,
allocation rounds' assignments, unassigned entries and the rounds whose pins, removals or overrides
name the person, and the audit entries about them. :data:`TABLES_WITH_CANDIDATES` names, per table,
how the person is found in it; a test fails when a table of the metadata holds a candidate id and is
not named there.

:func:`erase` removes the person in one transaction:

- the candidate row and its record of API edits are deleted;
- everywhere the person's history is kept (proposals, placements, rounds, their assignments and
  unassigned entries, round jobs' messages, the audit log, its details included), the id is
  replaced by a fresh random pseudonym (``erased-`` and 16 hex digits,
  :data:`scoring.schema.ERASED_PREFIX`) that is derived from nothing and names no candidate:
  counts over proposals, placements and hires stay as they were, the audit trail keeps its
  entries, and nothing leads back to the person;
- the proposals' event data is cut to reason codes and dates, webhook deliveries about the person
  are deleted (their bodies carry the supplier's reference of the person), and so are stored
  idempotent answers that name the id;
- one audit entry says that an erasure happened, when and by which key, naming only the pseudonym.

Figures that read the person's own attributes (a target group's counts, income support in the
socio-economic estimate) no longer count them: those attributes are what the erasure removes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from typing import Any

import sqlalchemy as sa

from scoring.schema import ERASED_PREFIX
from service import audit, changes
from service.auth import Principal
from service.db.tables import (
    REGION_TABLES,
    audit_log,
    jobs,
    metadata,
    person_outcomes,
    region_edits,
    round_assignments,
    round_unassigned,
    rounds,
)
from service.followup_records import own_hires
from service.integration.tables import idempotency_keys, proposal_events, webhook_deliveries

__all__ = ["TABLES_WITH_CANDIDATES", "NoSuchCandidate", "erase", "export"]

_cands = REGION_TABLES["candidates"]
_proposals = REGION_TABLES["proposals"]
_placements = REGION_TABLES["placements"]

#: Every table that can hold a person, and how they are found in it (the export's sections).
TABLES_WITH_CANDIDATES: dict[str, str] = {
    "candidates": "candidate_id",
    "region_edits": "row_id of table_name 'candidates'",
    "proposals": "candidate_id",
    "proposal_events": "proposal_id of the person's proposals",
    "webhook_deliveries": "event body naming one of the person's proposals",
    "placements": "candidate_id",
    "person_outcomes": "candidate_id (the 180-day follow-up of a placement)",
    "round_assignments": "candidate_id",
    "round_unassigned": "candidate_id",
    "rounds": "pins, removals, overrides, summary or error naming the id",
    "jobs": "a round job's message or error naming the id (pseudonymised, not exported: about the round)",
    "audit_log": "resource_id or candidate_ids",
    "own_hires": "candidate_id (the municipality's link of a supplier's own hire to the person)",
    "idempotency_keys": "a stored answer naming the id (erased, not exported: a replay copy)",
}
#: Event data an erased person's proposal history keeps: codes and dates, no free text.
#: Rounds' columns that can name a candidate (ids, or ids in words).
_ROUND_TEXT = ("pins", "removals", "overrides", "summary", "error")
_EVENT_DATA_KEPT = ("start_date", "contract_type", "reason", "interview_on", "days_unanswered", "on",
                    "ended_by")


class NoSuchCandidate(LookupError):
    """No candidate with that id is stored (never was, or was erased)."""


def _json_text(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    return sa.cast(column, sa.Text)


def _names(column: sa.ColumnElement[Any], candidate_id: str) -> sa.ColumnElement[bool]:
    """A JSON column whose text holds ``candidate_id`` as a string of its own."""
    return _json_text(column).contains(json.dumps(candidate_id), autoescape=True)


def _rows(conn: sa.Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(query).mappings()]


def _proposal_ids(conn: sa.Connection, candidate_id: str) -> list[str]:
    return list(conn.execute(sa.select(_proposals.c.proposal_id)
                             .where(_proposals.c.candidate_id == candidate_id)).scalars())


def _deliveries(conn: sa.Connection, proposal_ids: list[str]) -> list[dict[str, Any]]:
    if not proposal_ids:
        return []
    t = webhook_deliveries
    named = [t.c.body.contains(json.dumps(p), autoescape=True) for p in proposal_ids]
    return _rows(conn, sa.select(t).where(sa.or_(*named)))


def export(conn: sa.Connection, candidate_id: str) -> dict[str, Any]:
    """Everything stored about ``candidate_id``, by table (Art. 15), JSON-ready after ``jsonable``.

    Raises
    ------
    NoSuchCandidate
        No such candidate is stored.
    """
    person = _rows(conn, sa.select(_cands).where(_cands.c.candidate_id == candidate_id))
    if not person:
        raise NoSuchCandidate(candidate_id)
    proposal_ids = _proposal_ids(conn, candidate_id)
    return {
        "candidate_id": candidate_id,
        "exported_at": dt.datetime.now(dt.UTC),
        "tables": {
            "candidates": person,
            "region_edits": _rows(conn, sa.select(region_edits).where(
                region_edits.c.table_name == "candidates", region_edits.c.row_id == candidate_id)),
            "proposals": _rows(conn, sa.select(_proposals).where(_proposals.c.candidate_id == candidate_id)
                               .order_by(_proposals.c.proposal_id)),
            "proposal_events": _rows(conn, sa.select(proposal_events).where(
                proposal_events.c.proposal_id.in_(proposal_ids)).order_by(proposal_events.c.event_seq)),
            "webhook_deliveries": [{**d, "body": json.loads(d["body"])}
                                   for d in _deliveries(conn, proposal_ids)],
            "placements": _rows(conn, sa.select(_placements).where(
                _placements.c.candidate_id == candidate_id)),
            "person_outcomes": _rows(conn, sa.select(person_outcomes).where(
                person_outcomes.c.candidate_id == candidate_id)),
            "round_assignments": _rows(conn, sa.select(round_assignments).where(
                round_assignments.c.candidate_id == candidate_id)),
            "round_unassigned": _rows(conn, sa.select(round_unassigned).where(
                round_unassigned.c.candidate_id == candidate_id)),
            "rounds": _rows(conn, sa.select(rounds.c.round_id, rounds.c.created_at,
                                            *[rounds.c[c] for c in _ROUND_TEXT]).where(sa.or_(
                *[_json_text(rounds.c[c]).contains(candidate_id, autoescape=True) for c in _ROUND_TEXT]))),
            "own_hires": _rows(conn, sa.select(own_hires).where(own_hires.c.candidate_id == candidate_id)
                               .order_by(own_hires.c.own_hire_id)),
            "audit_log": _rows(conn, sa.select(audit_log).where(sa.or_(
                audit_log.c.resource_id == candidate_id, _names(audit_log.c.candidate_ids, candidate_id)))
                .order_by(audit_log.c.entry_id)),
        },
    }


def _swap(text: str, old: str, new: str) -> str:
    """``text`` with the id ``old`` replaced where it stands as an id of its own (``c1`` in
    "override for c1:", not in "c10")."""
    return re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w-])", new, text)


def _replace(value: Any, old: str, new: str) -> Any:
    """``value`` (JSON data) with every string ``old`` replaced, and ``old`` inside strings too."""
    if isinstance(value, str):
        return new if value == old else _swap(value, old, new)
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, old, new) for k, v in value.items()}
    return value


def erase(conn: sa.Connection, candidate_id: str, who: Principal) -> str:
    """Erase ``candidate_id`` (Art. 17) inside the caller's transaction; return the pseudonym.

    Raises
    ------
    NoSuchCandidate
        No such candidate is stored (nothing changed).
    """
    found = conn.execute(sa.select(_cands.c.candidate_id).where(_cands.c.candidate_id == candidate_id)
                         .with_for_update()).first()
    if found is None:
        raise NoSuchCandidate(candidate_id)
    pseudonym = ERASED_PREFIX + secrets.token_hex(8)
    proposal_ids = _proposal_ids(conn, candidate_id)
    for table in (_proposals, _placements, person_outcomes, round_assignments):
        conn.execute(table.update().where(table.c.candidate_id == candidate_id)
                     .values(candidate_id=pseudonym))
    unassigned = sa.select(round_unassigned).where(round_unassigned.c.candidate_id == candidate_id)
    for row in _rows(conn, unassigned):
        conn.execute(round_unassigned.update().where(
            round_unassigned.c.round_id == row["round_id"], round_unassigned.c.candidate_id == candidate_id)
            .values(candidate_id=pseudonym, explanation=_swap(row["explanation"], candidate_id, pseudonym)))
    for row in _rows(conn, sa.select(round_assignments).where(round_assignments.c.candidate_id == pseudonym)):
        conn.execute(round_assignments.update().where(
            round_assignments.c.round_id == row["round_id"], round_assignments.c.candidate_id == pseudonym)
            .values(explanation=_replace(row["explanation"], candidate_id, pseudonym)))
    named = sa.or_(*[_json_text(rounds.c[c]).contains(candidate_id, autoescape=True) for c in _ROUND_TEXT])
    for row in _rows(conn, sa.select(rounds.c.round_id, *[rounds.c[c] for c in _ROUND_TEXT]).where(named)):
        conn.execute(rounds.update().where(rounds.c.round_id == row["round_id"]).values(
            **{c: _replace(row[c], candidate_id, pseudonym) for c in _ROUND_TEXT}))
    for row in _rows(conn, sa.select(jobs.c.job_id, jobs.c.message, jobs.c.error).where(
            sa.or_(jobs.c.message.contains(candidate_id, autoescape=True),
                   jobs.c.error.contains(candidate_id, autoescape=True)))):
        conn.execute(jobs.update().where(jobs.c.job_id == row["job_id"]).values(
            message=_replace(row["message"], candidate_id, pseudonym),
            error=_replace(row["error"], candidate_id, pseudonym)))
    for row in _rows(conn, sa.select(proposal_events.c.event_seq, proposal_events.c.data)
                     .where(proposal_events.c.proposal_id.in_(proposal_ids))):
        kept = {k: v for k, v in (row["data"] or {}).items() if k in _EVENT_DATA_KEPT}
        conn.execute(proposal_events.update().where(proposal_events.c.event_seq == row["event_seq"])
                     .values(data=kept))
    # An own hire keeps its status (it still counts toward the requirement), not the person: the
    # supplier's reference and the decision's words can name or describe them.
    conn.execute(own_hires.update().where(own_hires.c.candidate_id == candidate_id).values(
        candidate_id=pseudonym, reference=pseudonym, decision="erased"))
    for delivery in _deliveries(conn, proposal_ids):
        conn.execute(webhook_deliveries.delete().where(
            webhook_deliveries.c.delivery_id == delivery["delivery_id"]))
    for row in _rows(conn, sa.select(audit_log.c.entry_id, audit_log.c.resource_id, audit_log.c.candidate_ids,
                                     audit_log.c.detail)
                     .where(sa.or_(audit_log.c.resource_id == candidate_id,
                                   _names(audit_log.c.candidate_ids, candidate_id),
                                   audit_log.c.detail.contains(candidate_id, autoescape=True)))):
        conn.execute(audit_log.update().where(audit_log.c.entry_id == row["entry_id"]).values(
            resource_id=pseudonym if row["resource_id"] == candidate_id else row["resource_id"],
            candidate_ids=_replace(row["candidate_ids"], candidate_id, pseudonym),
            detail=_replace(row["detail"], candidate_id, pseudonym)))
    needle = candidate_id.encode()
    for stored in conn.execute(sa.select(idempotency_keys.c.token_hash, idempotency_keys.c.idempotency_key,
                                         idempotency_keys.c.body)).mappings().all():
        if stored["body"] is not None and needle in stored["body"]:
            conn.execute(idempotency_keys.delete().where(
                idempotency_keys.c.token_hash == stored["token_hash"],
                idempotency_keys.c.idempotency_key == stored["idempotency_key"]))
    conn.execute(region_edits.delete().where(region_edits.c.table_name == "candidates",
                                             region_edits.c.row_id == candidate_id))
    conn.execute(_cands.delete().where(_cands.c.candidate_id == candidate_id))
    audit.record(conn, who, "erase", "candidate", pseudonym, candidate_ids=[pseudonym],
                 detail="erased (GDPR art. 17): personal data removed, history kept under this pseudonym")
    changes.count(conn)  # every server on the database drops the person (service/changes.py)
    return pseudonym


def tables_holding_candidates() -> set[str]:
    """Tables of the metadata with a column that names a candidate (for the completeness test)."""
    return {t.name for t in metadata.sorted_tables
            if {"candidate_id", "candidate_ids"} & set(t.c.keys())}
