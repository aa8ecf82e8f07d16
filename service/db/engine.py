"""The database engine and the migrations applied on start."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

logger = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets request threads read while the job worker writes; NORMAL sync is durable across a
    # process crash (the kill test), which is what matters for half-stored rounds.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN cannot be
    # IMMEDIATE), see _sqlite_begin.
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: sa.Connection) -> None:
    # A deferred transaction that reads and then writes cannot wait for the write lock: if another
    # writer committed meanwhile, SQLite fails it at once ("database is locked"). Transactions that
    # will write therefore take the lock up front, where the busy timeout makes them wait instead.
    immediate = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


#: Execution option marking an engine whose transactions write (see :func:`writer`).
WRITE_OPTION = "platsa_writes"


def writer(engine: sa.Engine) -> sa.Engine:
    """The same engine, for transactions that write (on SQLite they take the write lock at BEGIN)."""
    return engine.execution_options(**{WRITE_OPTION: True})


#: The database holds personal data: only its owner may read it (SQLite gives its -wal and -shm
#: files the database file's mode).
FILE_MODE = 0o600


def _private_file(url: sa.URL) -> None:
    """Create a SQLite database file as ``FILE_MODE``, or narrow an existing one to it."""
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:") or url.query.get("mode"):
        return
    path = Path(database)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            try:
                if stat.S_IMODE(file.stat().st_mode) & 0o077:
                    logger.warning("%s was readable by others: narrowed to owner only (0600)", file)
                    file.chmod(FILE_MODE)
            except FileNotFoundError:
                continue  # absent, or removed meanwhile by the connection that last closed it
    except FileNotFoundError:
        return  # no such folder: SQLite says so when it connects
    else:
        os.close(fd)


def make_engine(url: str, *, pool_size: int = 20, max_overflow: int = 75) -> sa.Engine:
    """An engine for ``url`` (SQLite or PostgreSQL), configured for concurrent requests.

    On PostgreSQL, ``pool_size`` connections are kept open between requests and up to
    ``max_overflow`` more are opened for a burst (``PLATSA_DB_POOL_SIZE``, ``PLATSA_DB_MAX_OVERFLOW``).

    SQL errors are logged and raised without their bound parameters (``hide_parameters``): a
    failed statement's values may be personal data or a key's hash.
    """
    if url.startswith("sqlite"):
        _private_file(sa.make_url(url))
        # No pool limit: a request can hold its connection while it waits for another (audit,
        # key check), and a bounded pool then deadlocks under many concurrent clients. SQLite
        # connections are cheap to open.
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, poolclass=sa.pool.NullPool,
            hide_parameters=True,
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    # By default up to ~100 connections (PostgreSQL's default limit) for as many concurrent requests.
    return sa.create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True,
                            hide_parameters=True)


def alembic_config(engine: sa.Engine) -> Config:
    """An Alembic configuration built in code (no ``alembic.ini`` needed in a deployment)."""
    config = Config()
    config.set_main_option("script_location", "service:migrations")
    # configparser treats "%" as interpolation: double it (URLs carry %-escapes).
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["engine"] = engine
    return config


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` (idempotent)."""
    logger.info("applying migrations up to %s", revision)
    command.upgrade(alembic_config(engine), revision)
