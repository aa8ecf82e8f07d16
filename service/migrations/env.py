"""Alembic environment: runs migrations on the engine the service passes in its Config."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from service.db.tables import FOREIGN_TABLE_PREFIX, metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # run from the alembic command line
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///./platsa.db")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=lambda name, type_, _parents: not (
            type_ == "table" and (name or "").startswith(FOREIGN_TABLE_PREFIX)),
    )
    with context.begin_transaction():
        context.run_migrations()
