"""The delivery worker: sends queued webhooks with retries, and makes reminder events.

One background thread per server process (started with the app, like the round worker of
:mod:`service.jobs`) wakes every ``PLATSA_WEBHOOK_POLL_INTERVAL_S`` and

1. records a ``proposal.reminder`` event for each proposal still unanswered (open or viewed)
   ``PLATSA_REMINDER_DAYS`` after it was made, at most once per proposal (a unique ``dedupe_key``
   in ``proposal_events``, so not even two processes can make two); it looks once a minute at most;
2. sends every due delivery on a small thread pool, so that one slow receiver does not hold up the
   others. A delivery is *claimed* by moving its ``next_attempt_at`` forward by a lease (a
   conditional update: only one claimer wins), then sent with the endpoint's active secrets'
   signatures. A 2xx answer ends it; anything else (an error status, a refused connection, a
   timeout) schedules the next attempt after an exponential backoff with jitter
   (``base · 2^(attempt-1)``, capped), until ``PLATSA_WEBHOOK_MAX_ATTEMPTS`` have failed;
3. drops idempotency keys older than their time to live.

A crash between sending and recording an answer leaves the delivery claimed; when the lease runs
out it is sent again with the same event id, which the receiver dedupes. Delivery is therefore *at
least once per event*, and *once per event id* at a receiver that dedupes, as the guide says.
:meth:`DeliveryWorker.run_once` does one pass synchronously (tests, and a CLI could use it).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import sqlalchemy as sa

from service import store
from service.config import Settings
from service.db.engine import writer
from service.db.tables import REGION_TABLES
from service.integration import lifecycle, sealing, signing, webhooks
from service.integration.tables import (
    idempotency_keys,
    proposal_events,
    webhook_deliveries,
    webhook_endpoints,
)
from service.integration.webhooks import ATTEMPT_LOG_SIZE, active_secrets

logger = logging.getLogger(__name__)

_proposals = REGION_TABLES["proposals"]
_places = REGION_TABLES["places"]
#: Deliveries claimed per pass.
BATCH = 100
#: Reminders are looked for once per this many passes (and at least once a minute).
REMINDER_EVERY_POLLS = 30
#: Unanswered: the supplier has not said yes or no (follow-up's "answered" is beyond ``open``; a
#: reminder also nudges a proposal that was only viewed).
UNANSWERED = ("open", "viewed")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def backoff_s(attempts: int, settings: Settings, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: doubled each time, capped, ±20 %.

    The jitter spreads retries of many deliveries that failed together (a receiver that was down)
    so that they do not all come back in the same second.
    """
    base = settings.webhook_backoff_base_s * 2 ** max(0, attempts - 1)
    jitter = (rng or random).uniform(0.8, 1.2)
    return float(min(settings.webhook_backoff_max_s, base) * jitter)


class DeliveryWorker:
    """The thread that sends webhooks and makes reminders (one per server process)."""

    def __init__(self, db: sa.Engine, settings: Settings, *, max_concurrency: int = 8) -> None:
        self.db = db
        self.writer = writer(db)  # transactions that write (SQLite: the lock at BEGIN, see writer)
        self.settings = settings
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="platsa-webhook")
        self._thread = threading.Thread(target=self._loop, name="platsa-deliveries", daemon=True)
        # Connects only to addresses it has checked, at each connection (issue 14: SSRF).
        self._client = webhooks.guarded_client(settings)
        self._last_purge = 0.0
        self._last_reminders = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def wake(self) -> None:
        """Look for work now instead of at the next poll (after a commit that queued deliveries)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once(wait=False)
            except Exception:  # the worker must outlive a database hiccup
                logger.exception("the delivery worker's pass failed")
            self._wake.wait(self.settings.webhook_poll_interval_s)
            self._wake.clear()

    # -- one pass ---------------------------------------------------------------------------

    def run_once(self, *, wait: bool = True, reminders: bool | None = None) -> int:
        """Make due reminders, start every due delivery; return how many deliveries were started.

        Parameters
        ----------
        wait
            Return only once the started deliveries' attempts are recorded (the synchronous test
            hook; the worker's own loop does not wait).
        reminders
            Look for due reminders now (True), never (False), or when it is time (None).

        Returns
        -------
        int
            Deliveries attempted in this pass.
        """
        # Reminders are counted in days: looking every REMINDER_EVERY_POLLS passes (at most a minute)
        # spares the database a scan of every open proposal each second.
        due = time.monotonic() - self._last_reminders >= min(
            60.0, self.settings.webhook_poll_interval_s * REMINDER_EVERY_POLLS)
        if reminders or (reminders is None and due):
            self._last_reminders = time.monotonic()
            self.make_reminders()
        started = [self._pool.submit(self._attempt, d) for d in self._claim_due()]
        if time.monotonic() - self._last_purge > 60:
            self._purge_idempotency_keys()
            self._last_purge = time.monotonic()
        if wait:
            for future in started:
                future.result()
        return len(started)

    def make_reminders(self, now: dt.datetime | None = None) -> int:
        """Record a reminder for each proposal unanswered for ``PLATSA_REMINDER_DAYS``; return how many."""
        now = now or _now()
        cutoff = now.date() - dt.timedelta(days=self.settings.reminder_days)
        reminded = proposal_events.alias("reminded")
        query = (
            sa.select(_proposals, _places.c.supplier_id)
            .join(_places, _places.c.place_id == _proposals.c.place_id)
            .outerjoin(reminded, reminded.c.dedupe_key == sa.literal("reminder:") + _proposals.c.proposal_id)
            .where(_proposals.c.status.in_(UNANSWERED), _proposals.c.created_on <= cutoff,
                   reminded.c.event_seq.is_(None))
            .order_by(_proposals.c.proposal_id)
            .limit(500)
        )
        count = 0
        with self.writer.begin() as conn:
            store.lock_region(conn)  # a reminder of a proposal that a re-import is replacing would dangle
            for row in conn.execute(query).mappings().all():
                days = (now.date() - row["created_on"]).days
                event = lifecycle.record_event(
                    conn, dict(row), lifecycle.REMINDER, actor=None, settings=self.settings,
                    from_status=row["status"], to_status=row["status"], data={"days_unanswered": days},
                    dedupe_key=f"reminder:{row['proposal_id']}", now=now)
                count += event is not None
        if count:
            logger.info("%d reminder event(s) recorded", count)
        return count

    def _claim_due(self) -> list[dict[str, Any]]:
        now = _now()
        lease = now + dt.timedelta(seconds=self.settings.webhook_timeout_s * 2 + 30)
        claimed: list[dict[str, Any]] = []
        with self.db.begin() as conn:
            due = conn.execute(
                sa.select(webhook_deliveries.c.delivery_id, webhook_deliveries.c.next_attempt_at)
                .where(webhook_deliveries.c.status == "pending", webhook_deliveries.c.next_attempt_at <= now)
                .order_by(webhook_deliveries.c.next_attempt_at).limit(BATCH)
            ).all()
        for row in due:
            with self.writer.begin() as conn:
                won = conn.execute(webhook_deliveries.update().where(
                    webhook_deliveries.c.delivery_id == row.delivery_id,
                    webhook_deliveries.c.status == "pending",
                    webhook_deliveries.c.next_attempt_at == row.next_attempt_at,
                ).values(next_attempt_at=lease)).rowcount == 1
                if not won:
                    continue
                delivery = conn.execute(
                    sa.select(webhook_deliveries, webhook_endpoints.c.url)
                    .join(webhook_endpoints,
                          webhook_endpoints.c.endpoint_id == webhook_deliveries.c.endpoint_id)
                    .where(webhook_deliveries.c.delivery_id == row.delivery_id)).mappings().one()
                secrets = active_secrets(conn, delivery["endpoint_id"], now,
                                         box=sealing.load_box(conn, self.settings))
            claimed.append({**delivery, "secrets": secrets})
        return claimed

    def _attempt(self, delivery: dict[str, Any]) -> None:
        try:
            self._send_and_record(delivery)
        except Exception:  # the lease runs out and the delivery is tried again
            logger.exception("delivery %s: recording the attempt failed", delivery["delivery_id"])

    def _send_and_record(self, delivery: dict[str, Any]) -> None:
        body = delivery["body"].encode("utf-8")
        headers = signing.headers(delivery["secrets"], delivery["event_id"], body,
                                  delivery_id=delivery["delivery_id"], replay=delivery["replay_number"] > 0)
        started = _now()
        clock = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        if not delivery["secrets"]:
            # Unsigned, a delivery would only be refused: say why in the log, and retry (with backoff)
            # until the supplier rotates the secret.
            error = ("not sent: no signing secret of this endpoint can be opened with the server's key "
                     "(was it changed?); rotate the endpoint's secret")
        else:
            try:
                # Streamed and closed unread: a receiver's answer body is never needed, nor buffered.
                with self._client.stream("POST", delivery["url"], content=body, headers=headers) as answer:
                    status_code = answer.status_code
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except httpx.InvalidURL:  # stored before registration checked it as it does now
                error = "not sent: the endpoint's URL is not valid; register it again"
            except httpx.TimeoutException:
                error = f"timed out after {self.settings.webhook_timeout_s:g} s"
            except httpx.HTTPError as exc:
                # The supplier's log gets a generic reason: the raw error (refused, reset, no route)
                # would tell open ports from closed ones. The operator's log keeps the kind.
                refused = isinstance(exc.__cause__ or exc.__context__, webhooks.RefusedAddress)
                error = ("not sent: the endpoint's host has an address that is not public" if refused
                         else "the connection failed")
                logger.info("delivery %s: %s (%s)", delivery["delivery_id"], error, type(exc).__name__)
        entry = {"at": started.isoformat(), "status_code": status_code, "error": error,
                 "duration_ms": round((time.monotonic() - clock) * 1000)}
        attempts = int(delivery["attempts"]) + 1
        values: dict[str, Any] = {"attempts": attempts,
                                  "attempt_log": [*delivery["attempt_log"], entry][-ATTEMPT_LOG_SIZE:]}
        now = _now()
        if error is None:
            values.update(status="succeeded", finished_at=now, next_attempt_at=None)
        elif attempts >= self.settings.webhook_max_attempts:
            values.update(status="failed", finished_at=now, next_attempt_at=None)
            logger.warning("delivery %s given up after %d attempts: %s", delivery["delivery_id"], attempts,
                           error)
        else:
            values["next_attempt_at"] = now + dt.timedelta(seconds=backoff_s(attempts, self.settings))
        with self.writer.begin() as conn:
            # Only while still pending: a deletion of the endpoint meanwhile cancelled it.
            conn.execute(webhook_deliveries.update().where(
                webhook_deliveries.c.delivery_id == delivery["delivery_id"],
                webhook_deliveries.c.status == "pending").values(**values))

    def _purge_idempotency_keys(self) -> None:
        cutoff = _now() - dt.timedelta(hours=self.settings.idempotency_ttl_hours)
        with self.writer.begin() as conn:
            conn.execute(idempotency_keys.delete().where(idempotency_keys.c.created_at < cutoff))
