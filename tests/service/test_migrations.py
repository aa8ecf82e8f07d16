"""The migrations create exactly the tables the code declares, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from service.config import Settings
from service.db import make_engine, metadata, migrate
from service.db.tables import FOREIGN_TABLE_PREFIX
from tests.service.conftest import new_database


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migrations_match_the_tables(backend: str, tmp_path_factory: pytest.TempPathFactory,
                                     database_urls: dict[str, str]) -> None:
    url = new_database(backend, tmp_path_factory, database_urls, "migrations")
    db = make_engine(Settings(database_url=url).sqlalchemy_url)
    migrate(db)
    migrate(db)  # applying twice is harmless: the service does it on every start
    with db.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            # The job queue's tables on PostgreSQL are procrastinate's (migration 0010), not ours.
            "include_name": lambda name, type_, _parents: not (
                type_ == "table" and (name or "").startswith(FOREIGN_TABLE_PREFIX))})
        diff = compare_metadata(context, metadata)
    db.dispose()
    assert diff == [], f"the tables changed without a migration in service/migrations: {diff}"
