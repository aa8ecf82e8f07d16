"""round queue: the job queue's tables on PostgreSQL (procrastinate), and two columns of jobs

Revision ID: 0010_round_queue
Revises: 0009_region_changes
Create Date: 2026-12-05 10:00:00.000000

On PostgreSQL, rounds are carried by procrastinate's queue (``service/queue.py``): its schema
(tables ``procrastinate_*``, their types, functions and triggers) is created here, in the schema
the connection's ``search_path`` names first, as the project's own tables are. It is the schema of
the procrastinate release installed when this revision first runs; a later procrastinate release
that brings SQL migrations of its own (its release notes name them) needs a revision here that
applies them. SQLite has no queue of that kind: the server process runs rounds itself.

``jobs.cancel_requested`` carries a cancellation to whichever process runs the round;
``jobs.worker`` names the process running its current attempt.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager

revision = "0010_round_queue"
down_revision = "0009_region_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
        batch.add_column(sa.Column("worker", sa.String(), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # The schema is many statements with casts and dollar-quoted bodies: run as the driver's
        # text, on the migration's own connection and transaction.
        driver: Any = bind.connection.driver_connection
        driver.execute(SchemaManager.get_schema())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        driver: Any = bind.connection.driver_connection
        driver.execute(
            "DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, "
            "procrastinate_workers CASCADE")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("worker")
        batch.drop_column("cancel_requested")
