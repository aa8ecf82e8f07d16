"""Retention: records older than the policy's periods are deleted (``docs/data-protection.md``).

What is due, per table (``[retention]`` of the region's policy; 0 keeps for ever):

- ``proposals``: declined and withdrawn proposals whose decision (or, without one, creation) lies
  more than ``closed_proposals_months`` calendar months back, with their ``proposal_events``. A
  closed proposal with a placement is kept: the follow-up counts the placement, and it names the
  proposal;
- ``audit_log``: entries written more than ``audit_years`` years back;
- ``webhook_deliveries``: deliveries that finished (succeeded, failed, cancelled) more than
  ``delivery_days`` days back; pending ones are never due;
- ``idempotency_keys``: stored answers older than ``PLATSA_IDEMPOTENCY_TTL_HOURS`` (the replay window
  the API documents; the delivery worker also purges them every minute).

:func:`due` counts what a run would delete and :func:`apply` deletes it, in one transaction, with one
audit entry that gives the counts. :class:`RetentionJob` runs :func:`apply` in the service every
``PLATSA_RETENTION_INTERVAL_S`` (an hour by default); ``platsa retention --dry-run / --apply`` runs it
by hand.

Every server process starts a :class:`RetentionJob`, but one process sweeps: on PostgreSQL, where
several processes share a database (``docs/deploy.md``), the one that holds the session advisory
lock :data:`SWEEPER_LOCK`, on a connection of its own, from its first turn until it stops (or its
connection breaks; another process takes the lock at its next turn). The others look at each turn
whether the lock has become free. On SQLite one process serves a database, and it sweeps.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from scoring.exceptions import PolicyError
from scoring.policy import Retention, load_policy
from service import audit, changes, store
from service.auth import Principal, Role
from service.config import Settings
from service.db.tables import REGION_TABLES, audit_log
from service.integration.tables import idempotency_keys, proposal_events, webhook_deliveries

__all__ = ["RetentionJob", "apply", "cutoffs", "due", "months_before", "retention_for"]

logger = logging.getLogger(__name__)

_proposals = REGION_TABLES["proposals"]
_placements = REGION_TABLES["placements"]
_CLOSED = ("declined", "withdrawn")
_FINISHED = ("succeeded", "failed", "cancelled")
#: The service's own key in the audit log (no API key: key_id empty).
_SERVICE = Principal(None, "retention", Role.ADMIN)  # type: ignore[arg-type]


def months_before(day: dt.date, months: int) -> dt.date:
    """``day`` moved back ``months`` calendar months (the 31st falls on the month's last day).

    Examples
    --------
    >>> months_before(dt.date(2026, 3, 31), 1), months_before(dt.date(2026, 1, 15), 24)
    (datetime.date(2026, 2, 28), datetime.date(2024, 1, 15))
    """
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (following - dt.timedelta(days=1)).day))


def retention_for(conn: sa.Connection, settings: Settings) -> Retention:
    """The stored region's policy's ``[retention]`` (the defaults when there is no region, or its
    policy cannot be loaded)."""
    meta = store.read_manifest(conn)
    if meta is None:
        return Retention()
    try:
        return load_policy(meta[0].policy, search_dirs=settings.policy_dirs).retention
    except PolicyError:
        logger.warning("retention: the region's policy %r does not load; using the default periods",
                       meta[0].policy)
        return Retention()


def cutoffs(retention: Retention, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Per table, the moment (or day) before which a record is due; None where kept for ever."""
    years = retention.audit_years
    audit_day = months_before(now.date(), 12 * years)  # 29 February falls on the 28th
    return {
        "proposals": (months_before(now.date(), retention.closed_proposals_months)
                      if retention.closed_proposals_months else None),
        "audit_log": dt.datetime.combine(audit_day, now.timetz()) if years else None,
        "webhook_deliveries": (now - dt.timedelta(days=retention.delivery_days)
                               if retention.delivery_days else None),
        "idempotency_keys": now - dt.timedelta(hours=settings.idempotency_ttl_hours),
    }


def _due_queries(limits: dict[str, Any]) -> dict[str, sa.Select[Any]]:
    """The keys of the due rows, per table."""
    queries: dict[str, sa.Select[Any]] = {}
    if limits["proposals"] is not None:
        when = sa.func.coalesce(_proposals.c.decided_on, _proposals.c.created_on)
        queries["proposals"] = sa.select(_proposals.c.proposal_id).where(
            _proposals.c.status.in_(_CLOSED), when < limits["proposals"],
            ~sa.exists().where(_placements.c.proposal_id == _proposals.c.proposal_id))
    if limits["audit_log"] is not None:
        queries["audit_log"] = sa.select(audit_log.c.entry_id).where(audit_log.c.at < limits["audit_log"])
    if limits["webhook_deliveries"] is not None:
        t = webhook_deliveries
        queries["webhook_deliveries"] = sa.select(t.c.delivery_id).where(
            t.c.status.in_(_FINISHED), t.c.finished_at < limits["webhook_deliveries"])
    t_idem = idempotency_keys
    queries["idempotency_keys"] = sa.select(t_idem.c.token_hash, t_idem.c.idempotency_key).where(
        t_idem.c.created_at < limits["idempotency_keys"])
    return queries


def due(conn: sa.Connection, retention: Retention, settings: Settings, now: dt.datetime) -> dict[str, int]:
    """How many rows of each table a run at ``now`` deletes (``proposal_events``: those of the due
    proposals)."""
    counts = {name: 0 for name in ("proposals", "proposal_events", "audit_log", "webhook_deliveries",
                                   "idempotency_keys")}
    for name, query in _due_queries(cutoffs(retention, settings, now)).items():
        counted = sa.select(sa.func.count()).select_from(query.subquery())
        counts[name] = int(conn.execute(counted).scalar_one())
        if name == "proposals":
            counts["proposal_events"] = int(conn.execute(sa.select(sa.func.count()).where(
                proposal_events.c.proposal_id.in_(query))).scalar_one())
    return counts


def apply(conn: sa.Connection, retention: Retention, settings: Settings, now: dt.datetime, *,
          who: Principal = _SERVICE) -> dict[str, int]:
    """Delete what is due at ``now``, in the caller's transaction; return the counts (as :func:`due`).

    One audit entry gives the counts when anything was deleted.
    """
    counts = due(conn, retention, settings, now)
    queries = _due_queries(cutoffs(retention, settings, now))
    if "proposals" in queries:
        ids = list(conn.execute(queries["proposals"]).scalars())
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            conn.execute(proposal_events.delete().where(proposal_events.c.proposal_id.in_(chunk)))
            conn.execute(_proposals.delete().where(_proposals.c.proposal_id.in_(chunk)))
    if "audit_log" in queries:
        conn.execute(audit_log.delete().where(audit_log.c.entry_id.in_(queries["audit_log"])))
    if "webhook_deliveries" in queries:
        conn.execute(webhook_deliveries.delete().where(
            webhook_deliveries.c.delivery_id.in_(queries["webhook_deliveries"])))
    conn.execute(idempotency_keys.delete().where(idempotency_keys.c.created_at
                                                 < cutoffs(retention, settings, now)["idempotency_keys"]))
    if counts["proposals"]:
        changes.count(conn)  # proposals feed shortlists and rounds: every server rebuilds
    if any(counts.values()):
        audit.record(conn, who, "delete", "retention", None, detail="retention: " + ", ".join(
            f"{name} {n}" for name, n in counts.items() if n))
    return counts


#: The key of the PostgreSQL advisory lock held by the one process that sweeps (``pg_try_advisory_lock``).
SWEEPER_LOCK = 0x706C_6174_7361_7274  # "platsart": a constant of this service, apart from any other


class RetentionJob:
    """Applies retention in the service, every ``settings.retention_interval_s`` (0: never), on a
    thread of its own, if this process is the one that sweeps (:meth:`is_sweeper`); the first run
    comes one interval after the start."""

    def __init__(self, db: sa.Engine, settings: Settings, *, on_change: Callable[[], None] | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.db = db
        self.settings = settings
        self.on_change = on_change
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_holder: Any = None
        """On PostgreSQL, the connection holding :data:`SWEEPER_LOCK` (None: not held)."""

    def is_sweeper(self) -> bool:
        """Whether this process is the one that sweeps: on SQLite always; on PostgreSQL if it holds
        :data:`SWEEPER_LOCK`, or takes it now (on a connection of its own, out of the pool)."""
        if self.db.dialect.name != "postgresql":
            return True
        if self._lock_holder is not None:
            try:
                self._lock_holder.execute("SELECT 1")  # a broken connection has lost the lock
                return True
            except Exception:
                logger.warning("the connection holding the retention lock broke", exc_info=True)
                self._release()
        raw = self.db.raw_connection()
        holder = raw.driver_connection
        if holder is None:
            raw.close()
            return False
        raw.detach()  # held as long as the lock: never handed back to the pool with it
        try:
            holder.rollback()
            holder.autocommit = True
            taken = bool(holder.execute("SELECT pg_try_advisory_lock(%s)", (SWEEPER_LOCK,)).fetchone()[0])
        except Exception:
            holder.close()
            raise
        if not taken:
            holder.close()
            return False
        self._lock_holder = holder
        logger.info("this process sweeps the retention periods (it holds the retention lock)")
        return True

    def _release(self) -> None:
        holder, self._lock_holder = self._lock_holder, None
        if holder is not None:
            try:
                holder.close()  # the session ends, and the lock with it
            except Exception:
                logger.debug("closing the retention lock's connection failed", exc_info=True)

    def run_once(self) -> dict[str, int]:
        with self.db.begin() as conn:
            store.lock_region(conn)  # never beside an import that replaces proposals
            counts = apply(conn, retention_for(conn, self.settings), self.settings, self.clock())
        if counts["proposals"] and self.on_change is not None:
            self.on_change()  # proposals feed shortlists and rounds
        return counts

    def start(self) -> None:
        interval = self.settings.retention_interval_s
        if interval <= 0:
            return
        self._thread = threading.Thread(target=self._loop, args=(interval,), name="platsa-retention",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._release()

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                if not self.is_sweeper():
                    continue  # another process sweeps
                counts = self.run_once()
                if any(counts.values()):
                    logger.info("retention deleted %s", counts)
            except Exception:  # the next run retries; the service keeps serving
                logger.exception("retention failed")
