"""follow-up records: the dialogue log per procurement, suppliers' own hires and yearly figures

Revision ID: 0007_followup
Revises: 0005
Create Date: 2026-12-03 17:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_followup"
down_revision = "0006_cert_pricing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dialogues",
        sa.Column("dialogue_id", sa.String(), nullable=False),
        sa.Column("procurement_id", sa.String(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("agreed", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("dialogue_id", name=op.f("pk_dialogues")),
    )
    op.create_index(op.f("ix_dialogues_procurement_id"), "dialogues", ["procurement_id"])
    op.create_table(
        "own_hires",
        sa.Column("own_hire_id", sa.String(), nullable=False),
        sa.Column("procurement_id", sa.String(), nullable=False),
        sa.Column("supplier_id", sa.String(), nullable=False),
        sa.Column("hired_on", sa.Date(), nullable=False),
        sa.Column("contract_type", sa.String(), nullable=False),
        sa.Column("reference", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("candidate_id", sa.String(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decision", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("own_hire_id", name=op.f("pk_own_hires")),
    )
    op.create_index(op.f("ix_own_hires_procurement_id"), "own_hires", ["procurement_id"])
    op.create_index(op.f("ix_own_hires_supplier_id"), "own_hires", ["supplier_id"])
    op.create_index(op.f("ix_own_hires_candidate_id"), "own_hires", ["candidate_id"])


    op.create_table(
        "supplier_figures",
        sa.Column("supplier_id", sa.String(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("new_hires", sa.Integer(), nullable=True),
        sa.Column("headcount", sa.Integer(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("supplier_id", "year", name=op.f("pk_supplier_figures")),
    )


def downgrade() -> None:
    op.drop_table("supplier_figures")
    op.drop_table("own_hires")
    op.drop_table("dialogues")
