"""The audit log: who read or changed candidate data, and when.

Entries hold ids, never values: the log itself must not become a copy of sensitive data.

Three ways to write an entry: :func:`record` inside the caller's transaction (changes: no change
without its entry), :func:`record_apart` in a transaction of its own before the answer leaves, and
:class:`AuditQueue` for hot reads (shortlists): the entry is taken, with its time, before the answer
leaves, and a background thread writes the queue in batches, one transaction per batch, on a
connection of its own that it keeps between batches. A crash loses at most the entries of the last
flush interval (``PLATSA_AUDIT_FLUSH_INTERVAL_S``, 0.05 s by default); readers of the log flush
first, and so does a clean shutdown.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from service.auth import Principal
from service.db.tables import audit_log
from service.errors import Unavailable

logger = logging.getLogger(__name__)


def record(
    conn: sa.Connection,
    who: Principal,
    action: str,
    resource: str,
    resource_id: str | None = None,
    *,
    candidate_ids: Iterable[str] | None = None,
    detail: str | None = None,
) -> None:
    """Add one entry, inside the caller's transaction (so a failed change leaves no entry)."""
    entry = _entry(who, action, resource, resource_id, candidate_ids, detail)
    conn.execute(audit_log.insert().values(**entry))


def record_apart(
    db: sa.Engine,
    who: Principal,
    action: str,
    resource: str,
    resource_id: str | None = None,
    *,
    candidate_ids: Iterable[str] | None = None,
    detail: str | None = None,
) -> None:
    """Add one entry in a transaction of its own (for reads, whose own transaction writes nothing).

    ``db`` is the writing engine (:attr:`service.state.ServiceState.writer`). The entry is committed
    before the answer leaves: a read that cannot be logged is not answered.
    """
    with db.begin() as conn:
        record(conn, who, action, resource, resource_id, candidate_ids=candidate_ids, detail=detail)


def _entry(who: Principal, action: str, resource: str, resource_id: str | None,
           candidate_ids: Iterable[str] | None, detail: str | None) -> dict[str, Any]:
    # A person's entry names their account; a key's names the key (docs/security.md).
    key_id = who.key_id if who.account_id is None else None
    return {"at": dt.datetime.now(dt.UTC), "key_id": key_id, "account_id": who.account_id,
            "role": who.role.value, "action": action,
            "resource": resource, "resource_id": resource_id,
            "candidate_ids": None if candidate_ids is None else list(candidate_ids), "detail": detail}


class AuditQueue:
    """Audit entries taken on the request path and written in batches by a background thread.

    Parameters
    ----------
    db
        The writing engine (:attr:`service.state.ServiceState.writer`).
    interval_s
        How often the thread writes what is queued: the most a crash can lose.
    max_pending
        Entries held while the database cannot take them; beyond this, :meth:`add` refuses
        (a read that cannot be logged is not answered).
    """

    def __init__(self, db: sa.Engine, *, interval_s: float = 0.05, max_pending: int = 100_000) -> None:
        self.db = db
        self.interval_s = interval_s
        self.max_pending = max_pending
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards _pending
        self._writing = threading.Lock()  # one batch at a time, so that flush() waits for the thread's
        # Kept open between batches (used under _writing only): on SQLite, whose engine does not pool,
        # a connection per batch costs a connect and, when it is the last one open, a WAL checkpoint
        # on close. Measured, 100 entries a batch: 23-28 ms (4-5.5 ms CPU) against 3-4 ms (1.6-1.8).
        self._conn: sa.Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(
        self,
        who: Principal,
        action: str,
        resource: str,
        resource_id: str | None = None,
        *,
        candidate_ids: Iterable[str] | None = None,
        detail: str | None = None,
    ) -> None:
        """Queue one entry, stamped now.

        Raises
        ------
        Unavailable
            When ``max_pending`` entries already wait for a database that does not take them.
        """
        entry = _entry(who, action, resource, resource_id, candidate_ids, detail)
        with self._lock:
            if len(self._pending) >= self.max_pending:
                raise Unavailable("the audit log cannot be written at the moment; try again shortly")
            self._pending.append(entry)

    @property
    def pending(self) -> int:
        """Entries queued and not yet written."""
        return len(self._pending)

    def flush(self) -> None:
        """Write every entry queued so far, in one transaction; return when it is committed.

        Raises
        ------
        sqlalchemy.exc.SQLAlchemyError
            When the database refuses the batch (the entries stay queued for the next attempt).
        """
        with self._writing:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                if self._conn is None:
                    self._conn = self.db.connect()
                with self._conn.begin():
                    self._conn.execute(audit_log.insert(), batch)
            except BaseException:
                self._close()  # a broken connection is not used again: the next batch opens a new one
                with self._lock:
                    self._pending[:0] = batch
                raise

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken: nothing more to release
                logger.debug("closing the audit connection failed", exc_info=True)

    def start(self) -> None:
        """Start the writing thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="platsa-audit", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is left (logged, not raised, if the database refuses)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        try:
            self.flush()
        except Exception:  # shutting down: say how much is lost, and let the rest shut down
            logger.exception("%d audit entries could not be written at shutdown", self.pending)
        with self._writing:
            self._close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.flush()
            except Exception:  # the batch stays queued; the next interval retries
                logger.exception("writing %d audit entries failed; retrying", self.pending)
