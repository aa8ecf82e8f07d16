"""allocation rounds: the certificate (prices) that proves a round's bound, for verify-round

Revision ID: 0006_cert_pricing
Revises: 0005
Create Date: 2026-12-03 17:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_cert_pricing"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rounds") as batch:
        batch.add_column(sa.Column("certificate", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("certificate")
