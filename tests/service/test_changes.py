"""The watcher of the database's count of writes (``service/changes.py``), on its own.

On PostgreSQL the count's change is announced by ``NOTIFY`` on commit: with reads of the count
30 s apart, the watcher still sees a write of another connection at once. The watcher keeps one
connection of its own, and no more, however long it runs.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from service.changes import ChangeWatcher, count, read
from service.db import make_engine, migrate
from tests.service.conftest import drop_postgres_schema, postgres_url_or_skip


def _engine(backend: str, tmp_path: Path) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path}/changes.db" if backend == "sqlite" else postgres_url_or_skip()
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()
    if backend == "postgres":
        drop_postgres_schema(url)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    yield from _engine(request.param, tmp_path)


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[sa.Engine]:
    yield from _engine("postgres", tmp_path)


def test_the_count_goes_up_by_one_per_writing_transaction_and_not_on_rollback(db: sa.Engine) -> None:
    with db.connect() as conn:
        assert read(conn) == 0
    with db.begin() as conn:
        assert count(conn) == 1
        assert count(conn) == 2
    with pytest.raises(RuntimeError), db.begin() as conn:
        count(conn)
        raise RuntimeError("the write fails")
    with db.connect() as conn:
        assert read(conn) == 2


def _backends() -> int:
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-Atc",
                          "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"],
                         capture_output=True, text=True, check=True).stdout
    return int(out)


def test_a_notification_wakes_the_watcher_before_its_next_read(pg: sa.Engine) -> None:
    """PostgreSQL's NOTIFY (SQLite has none: its count is read every PLATSA_CHANGE_POLL_S)."""
    db = pg
    seen: list[int] = []
    woke = threading.Event()
    held = {"count": 0}

    def changed(n: int) -> None:
        seen.append(n)
        held["count"] = n
        woke.set()

    watcher = ChangeWatcher(db, seen=lambda: held["count"], on_change=changed, poll_s=30.0)
    before = _backends()
    watcher.start()
    try:
        time.sleep(0.5)  # the watcher reads the count once, then listens
        for _ in range(3):
            woke.clear()
            started = time.monotonic()
            with db.begin() as conn:
                count(conn)
            assert woke.wait(5), "the notification did not wake the watcher"
            assert time.monotonic() - started < 5
        assert seen == [1, 2, 3]
        # One connection of its own for listening, besides the pool's (at most one here).
        assert _backends() - before <= 2
    finally:
        watcher.stop()
