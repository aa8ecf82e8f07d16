"""live state: places' competences learnt on the job, rounds' rule overrides

Revision ID: 0005
Revises: 0004_round_unassigned
Create Date: 2026-12-03 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004_round_unassigned"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.add_column(sa.Column("competences_learnable", sa.JSON(), nullable=True))
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("overrides", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_column("overrides")
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.drop_column("competences_learnable")
