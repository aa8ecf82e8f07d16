"""Alembic migrations of the service's database (applied by :func:`service.db.migrate`)."""
