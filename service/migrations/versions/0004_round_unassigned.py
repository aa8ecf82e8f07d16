"""allocation rounds: each unassigned candidate's reason and explanation

Revision ID: 0004_round_unassigned
Revises: 0003_region_edits
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_round_unassigned"
down_revision = "0003_region_edits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "round_unassigned",
        sa.Column("round_id", sa.String(), nullable=False),
        sa.Column("candidate_id", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("explanation", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("round_id", "candidate_id", name=op.f("pk_round_unassigned")),
    )


def downgrade() -> None:
    op.drop_table("round_unassigned")
