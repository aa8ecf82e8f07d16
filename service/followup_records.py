"""What the people who do the work record for the follow-up, beside the region's tables (issue 16).

- ``dialogues``: the dialogue log per procurement (meetings: the day, who took part, what was agreed),
  the evidence of a dialogue requirement (dialogkrav, ``docs/follow-up.md``).
- ``supplier_figures``: a supplier's new hires and headcount per year (optional), for the
  displacement watch.
- ``own_hires``: hires a supplier recruited by itself and reported (DOMAIN.md: the supplier may
  recruit by itself), and the municipality's decision: ``confirmed`` when the person the unit links
  (``candidate_id``) belongs to a priority group on the day of hire, else ``rejected``. Only the
  municipality sees the decision and the link; the supplier sees ``reported`` or ``reviewed``.

Both tables are the service's own (migration ``0007_followup``); an import of the region leaves them
as they are. :func:`load_records` reads them as :class:`scoring.followup.FollowUpRecords`.

Personal data: ``own_hires.candidate_id`` links a supplier's report to a person, and
``own_hires.reference`` is the supplier's own reference for the person (free text it chose); the
GDPR export and erasure of a candidate must cover both (``docs/follow-up.md``).
"""

from __future__ import annotations

import hashlib

import polars as pl
import sqlalchemy as sa

from scoring.followup import DIALOGUE_SCHEMA, OWN_HIRE_SCHEMA, SUPPLIER_FIGURES_SCHEMA, FollowUpRecords
from service.db.metadata import metadata

__all__ = ["dialogues", "load_records", "own_hires", "records_fingerprint", "supplier_figures"]

dialogues = sa.Table(
    "dialogues",
    metadata,
    sa.Column("dialogue_id", sa.String, primary_key=True),
    sa.Column("procurement_id", sa.String, nullable=False, index=True),
    sa.Column("held_on", sa.Date, nullable=False),
    sa.Column("participants", sa.JSON, nullable=False),  # names or roles, as the coordinator wrote them
    sa.Column("agreed", sa.String, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_by", sa.Integer, nullable=True),  # the API key
)

own_hires = sa.Table(
    "own_hires",
    metadata,
    sa.Column("own_hire_id", sa.String, primary_key=True),
    sa.Column("procurement_id", sa.String, nullable=False, index=True),
    sa.Column("supplier_id", sa.String, nullable=False, index=True),
    sa.Column("hired_on", sa.Date, nullable=False),
    sa.Column("contract_type", sa.String, nullable=False),
    sa.Column("reference", sa.String, nullable=False),  # the supplier's own reference for the person
    sa.Column("status", sa.String, nullable=False),  # reported | confirmed | rejected
    sa.Column("candidate_id", sa.String, nullable=True, index=True),  # set by the municipality's review
    sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reported_by", sa.Integer, nullable=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("decided_by", sa.Integer, nullable=True),
    sa.Column("decision", sa.String, nullable=True),  # why, in words: for the municipality only
)


supplier_figures = sa.Table(
    "supplier_figures",
    metadata,
    sa.Column("supplier_id", sa.String, primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("new_hires", sa.Integer, nullable=True),  # all its new hires in the year
    sa.Column("headcount", sa.Integer, nullable=True),  # its employees (the year's end, or average)
    sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reported_by", sa.Integer, nullable=True),
)


def load_records(conn: sa.Connection) -> FollowUpRecords:
    """The dialogue log and the own hires as the follow-up reads them."""
    d_rows = conn.execute(
        sa.select(
            dialogues.c.dialogue_id,
            dialogues.c.procurement_id,
            dialogues.c.held_on,
            dialogues.c.participants,
            dialogues.c.agreed,
        ).order_by(dialogues.c.dialogue_id)
    ).all()
    o_rows = conn.execute(
        sa.select(
            own_hires.c.own_hire_id,
            own_hires.c.procurement_id,
            own_hires.c.supplier_id,
            own_hires.c.hired_on,
            own_hires.c.contract_type,
            own_hires.c.status,
            own_hires.c.candidate_id,
        ).order_by(own_hires.c.own_hire_id)
    ).all()
    f_rows = conn.execute(
        sa.select(
            supplier_figures.c.supplier_id,
            supplier_figures.c.year,
            supplier_figures.c.new_hires,
            supplier_figures.c.headcount,
        ).order_by(supplier_figures.c.supplier_id, supplier_figures.c.year)
    ).all()
    return FollowUpRecords(
        supplier_figures=pl.DataFrame(
            [tuple(r) for r in f_rows], schema=SUPPLIER_FIGURES_SCHEMA, orient="row"
        ),
        dialogues=pl.DataFrame([tuple(r) for r in d_rows], schema=DIALOGUE_SCHEMA, orient="row"),
        own_hires=pl.DataFrame([tuple(r) for r in o_rows], schema=OWN_HIRE_SCHEMA, orient="row"),
    )


def records_fingerprint(records: FollowUpRecords) -> str:
    """A digest of the records, so a cached report is recomputed when they change."""
    digest = hashlib.sha256()
    for frame in (records.dialogues, records.own_hires, records.supplier_figures):
        digest.update(repr(frame.rows()).encode())
    return digest.hexdigest()
