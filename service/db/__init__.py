"""Persistence: tables, the engine factory and migrations (SQLite by default, PostgreSQL by URL)."""

from service.db.engine import make_engine, migrate
from service.db.tables import REGION_TABLES, metadata

__all__ = ["REGION_TABLES", "make_engine", "metadata", "migrate"]
