"""region changes: one count of writes to region data that every process watches

Revision ID: 0009_region_changes
Revises: 0008_accounts
Create Date: 2026-12-03 21:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_region_changes"
down_revision = "0008_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "region_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("counter", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region_changes")),
    )
    op.bulk_insert(table, [{"id": 1, "counter": 0}])


def downgrade() -> None:
    op.drop_table("region_changes")
