"""The audit queue: entries keep their time and order, a batch is one transaction, nothing is lost
while the database refuses, and stopping writes what is left."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from service.audit import AuditQueue
from service.auth import Principal, Role
from service.db import make_engine, migrate
from service.db.engine import writer
from service.db.tables import audit_log

WHO = Principal(7, "unit", Role.LABOUR_MARKET_UNIT, district_id="angered")


def rows(db: sa.Engine) -> list[sa.Row[tuple[object, ...]]]:
    with db.connect() as conn:
        return list(conn.execute(sa.select(audit_log.c.key_id, audit_log.c.role, audit_log.c.resource_id,
                                           audit_log.c.candidate_ids, audit_log.c.at)
                                 .order_by(audit_log.c.entry_id)))


def test_flush_writes_every_entry_in_order(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(db)
    queue = AuditQueue(writer(db), interval_s=60)  # no thread: only flush() writes
    for i in range(5):
        queue.add(WHO, "read", "shortlist", f"P{i}", candidate_ids=[f"C{i}"])
    assert rows(db) == [] and queue.pending == 5
    queue.flush()
    got = rows(db)
    assert [(r.key_id, r.role, r.resource_id, r.candidate_ids) for r in got] == [
        (7, "labour_market_unit", f"P{i}", [f"C{i}"]) for i in range(5)]
    assert [r.at for r in got] == sorted(r.at for r in got)  # stamped when added
    assert queue.pending == 0
    db.dispose()


def test_a_refused_batch_stays_queued(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'b.db'}")  # no tables yet: every insert fails
    queue = AuditQueue(writer(db), interval_s=60)
    queue.add(WHO, "read", "shortlist", "P1")
    try:
        queue.flush()
    except sa.exc.OperationalError:
        pass
    else:
        raise AssertionError("the insert should have failed")
    assert queue.pending == 1
    migrate(db)
    queue.add(WHO, "read", "shortlist", "P2")
    queue.flush()
    assert [r.resource_id for r in rows(db)] == ["P1", "P2"]
    db.dispose()


def test_the_thread_writes_and_stop_writes_the_rest(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    migrate(db)
    queue = AuditQueue(writer(db), interval_s=0.01)
    queue.start()
    queue.add(WHO, "read", "shortlist", "P1")
    deadline = time.monotonic() + 10
    while not rows(db):  # the thread writes it, nobody flushes
        assert time.monotonic() < deadline
        time.sleep(0.01)
    queue._stop.set()  # the thread stops; an entry added now waits for stop()
    queue.add(WHO, "read", "shortlist", "P2")
    queue.stop()
    assert [r.resource_id for r in rows(db)] == ["P1", "P2"]
    db.dispose()


def test_batches_share_one_connection(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    migrate(db)
    connects: list[object] = []
    sa.event.listen(db, "connect", lambda *args: connects.append(args))
    queue = AuditQueue(writer(db), interval_s=60)
    for i in range(3):
        queue.add(WHO, "read", "shortlist", f"P{i}")
        queue.flush()
    queue.stop()
    assert [r.resource_id for r in rows(db)] == ["P0", "P1", "P2"]
    assert len(connects) == 2  # the queue's one connection, and the one rows() just opened
    db.dispose()
