"""Writes to region data seen by every process on the database (issue 17).

A server process answers from an in-memory snapshot of the region (:class:`service.state.Snapshot`).
Another process may write to the same database: a second server, or a command of the same
deployment (``platsa candidate erase``, ``platsa retention``, ``platsa account``…). So that no process
keeps answering from rows another has changed, the database keeps one count of writes to region data,
``region_changes.counter``:

- every transaction that changes region data, or data that shortlists and rounds read (candidates,
  places, procurements, proposals and their answers, placements and outcomes, an import, an erasure,
  a retention pass), adds one to it inside itself (:func:`count`); on PostgreSQL it also sends
  ``NOTIFY platsa_region``, which PostgreSQL delivers when (and only if) the transaction commits;
- a snapshot remembers the count it was read at (read before its rows, so a snapshot never claims a
  later count than its rows hold);
- each server process has a :class:`ChangeWatcher`: it waits for the notification (PostgreSQL) or
  for ``PLATSA_CHANGE_POLL_S`` (0.5 s by default), reads the count, and asks for a rebuild when the
  count passed its snapshot's. A lost notification is caught by the next read: the reads are the
  safety net, the notification what makes it quick.

A round that starts reads the count first (:meth:`service.state.ServiceState.fresh_snapshot`), so
it runs on every write committed before it, whichever process made it. Shortlists are answered from
the previous snapshot while the new one is built, as after a write in the same process
(``docs/deploy.md`` gives the figures).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from service.db.tables import region_changes

logger = logging.getLogger(__name__)

#: The PostgreSQL channel the count's changes are announced on.
CHANNEL = "platsa_region"


def count(conn: sa.Connection) -> int:
    """Count one write to region data, inside the writing transaction ``conn``; the new count."""
    counted = conn.execute(region_changes.update().where(region_changes.c.id == 1)
                           .values(counter=region_changes.c.counter + 1)
                           .returning(region_changes.c.counter)).scalar()
    if counted is None:  # the row is seeded by the migration; a deleted one is made again
        conn.execute(region_changes.insert().values(id=1, counter=1))
        counted = 1
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    return int(counted)


def read(conn: sa.Connection) -> int:
    """The count of writes to region data committed so far (0 before the first)."""
    found = conn.execute(sa.select(region_changes.c.counter).where(region_changes.c.id == 1)).scalar()
    return int(found or 0)


class ChangeWatcher:
    """A thread that calls ``on_change(count)`` when the database's count of writes passes ``seen()``.

    ``seen`` gives the count the process holds or has asked a rebuild for; ``on_change`` asks for one.
    On PostgreSQL the thread keeps one connection of its own, out of the pool, that listens on
    :data:`CHANNEL`; if it breaks, the thread reads the count every ``poll_s`` and listens again
    on a new connection.
    """

    def __init__(self, db: sa.Engine, *, seen: Callable[[], int], on_change: Callable[[int], None],
                 poll_s: float = 0.5) -> None:
        self.db = db
        self.seen = seen
        self.on_change = on_change
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: Any = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="platsa-changes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            if self._listener is not None:
                self._wake()
            self._thread.join(timeout=self.poll_s + 10)
        self._close_listener()

    def _wake(self) -> None:
        """Wake the listening thread (a notification; other processes' watchers read the count once)."""
        try:
            with self.db.begin() as conn:
                conn.execute(sa.text("SELECT pg_notify(:channel, 'stop')"), {"channel": CHANNEL})
        except Exception:
            logger.debug("waking the watcher failed; it stops at its next read", exc_info=True)

    def check(self) -> int:
        """Read the count once and ask for a rebuild if it passed the process's (returns the count)."""
        with self.db.connect() as conn:
            current = read(conn)
        if current > self.seen():
            self.on_change(current)
        return current

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # the database is away for a moment: try again at the next turn
                logger.warning("reading the count of region changes failed", exc_info=True)
            self._wait()
        self._close_listener()

    def _wait(self) -> None:
        """Until a notification arrives, ``poll_s`` passes, or the watcher is stopped."""
        if self.db.dialect.name != "postgresql":
            self._stop.wait(self.poll_s)
            return
        try:
            listener = self._listen()
            for _ in listener.notifies(timeout=self.poll_s, stop_after=1):
                pass
        except Exception:
            logger.warning("listening for region changes failed; reading the count meanwhile", exc_info=True)
            self._close_listener()
            self._stop.wait(self.poll_s)

    def _listen(self) -> Any:
        if self._listener is None:
            raw = self.db.raw_connection()
            listener = raw.driver_connection  # the psycopg connection (None once detached)
            if listener is None:
                raw.close()
                raise RuntimeError("the pool gave a connection without its driver's connection")
            raw.detach()  # a connection of the watcher's own, never handed back to the pool
            try:
                listener.rollback()
                listener.autocommit = True
                listener.execute(f"LISTEN {CHANNEL}")
            except Exception:
                listener.close()  # detached: nothing else would close it
                raise
            self._listener = listener
        return self._listener

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.close()
            except Exception:
                logger.debug("closing the listening connection failed", exc_info=True)
