"""The round queue: where a round's job waits, and which process runs it (issue 17).

One interface, :class:`RoundQueue`, two implementations chosen by the database:

:class:`LocalQueue` (SQLite, the embedded default)
    The job's row is the queue: the server process runs rounds itself, one at a time, in a thread
    (:class:`service.jobs.LocalRunner`), and on start takes up every job a previous process left
    unfinished. One process per database.
:class:`ProcrastinateQueue` (PostgreSQL)
    procrastinate's queue (tables ``procrastinate_*``, migration 0010) carries a job per round,
    deferred **in the round's own transaction** (the request's connection is handed to
    procrastinate), so a round and its job are committed together or not at all. Its workers run
    rounds: inside the server process (``PLATSA_ROUNDS=in_process``, the default) or only in
    ``platsa worker`` processes (``PLATSA_ROUNDS=workers``: the servers then serve HTTP only).
    Each worker process runs one round at a time (rounds are CPU-bound), under the job's
    ``lock`` (the round's id: one round never runs in two workers at once) and ``queueing_lock``
    (the job's id: it is queued once). Every worker writes a heartbeat every
    ``PLATSA_QUEUE_HEARTBEAT_S``; every worker also looks, as often, for jobs whose worker has been
    silent for ``PLATSA_QUEUE_STALLED_S`` (killed, its machine gone) and puts them back in the
    queue, where another worker takes them up (:func:`service.jobs.claim` counts the attempt and
    resumes or fails the round, ``PLATSA_JOB_RECOVERY``).

Either way the round's and the job's rows are the truth and every attempt goes through
:func:`service.jobs.run_attempt`: the same claim, cancellation, all-or-nothing store and hand-back
at shutdown, and the same tests over both (``tests/service/test_queue.py``).

Why procrastinate (and not a queue of our own on the jobs table): it is a maintained PostgreSQL
queue on the psycopg 3 driver the project uses, with what this needs and is easy to get wrong by
hand: ``SKIP LOCKED`` fetching with ``LISTEN/NOTIFY`` wake-ups, job locks, worker heartbeats and the
stalled-job query, deferring on a caller's connection, and graceful shutdown with a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import BaseModel

from service.jobs import LocalRunner, run_attempt, worker_name
from service.state import ServiceState

logger = logging.getLogger(__name__)

#: procrastinate's queue and task name for rounds.
QUEUE = "rounds"
TASK = "platsa.round"


class QueueHealth(BaseModel):
    """Whether rounds can run now (a part of ``GET /ready``)."""

    ready: bool
    detail: str


class RoundQueue(Protocol):
    """What the routes and the app's lifespan need of a round queue."""

    def enqueue(self, conn: sa.Connection, job_id: str, round_id: str) -> None:
        """Queue the job inside ``conn``'s transaction (the one that stores the round)."""

    def committed(self, job_id: str) -> None:
        """The transaction that queued ``job_id`` has committed."""

    def start(self) -> None: ...

    def stop(self) -> None:
        """Finish or hand back the running round (``PLATSA_SHUTDOWN_GRACE_S``), then stop."""

    def health(self) -> QueueHealth: ...


def make_queue(state: ServiceState) -> RoundQueue:
    """The queue for ``state``'s database: local on SQLite, procrastinate on PostgreSQL."""
    if state.db.dialect.name == "postgresql":
        return ProcrastinateQueue(state, run_here=state.settings.rounds == "in_process")
    return LocalQueue(state)


class LocalQueue:
    """Rounds in this process's thread (:class:`service.jobs.LocalRunner`); the jobs table is the queue."""

    def __init__(self, state: ServiceState) -> None:
        self.runner = LocalRunner(state, grace_s=state.settings.shutdown_grace_s)

    def enqueue(self, conn: sa.Connection, job_id: str, round_id: str) -> None:
        pass  # the job's row, in the same transaction, is the queue's entry

    def committed(self, job_id: str) -> None:
        self.runner.submit(job_id)

    def start(self) -> None:
        self.runner.start()

    def stop(self) -> None:
        self.runner.stop()

    def health(self) -> QueueHealth:
        if self.runner.alive():
            return QueueHealth(ready=True, detail="rounds run in this process")
        return QueueHealth(ready=False, detail="this process's round runner is not running")


class HandedBack(Exception):
    """A round's attempt was cut short by a shutdown: procrastinate queues the job again."""


def conninfo(state: ServiceState) -> str:
    """The database URL as libpq reads it (the driver's own name dropped; ``options`` kept)."""
    url = state.db.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def procrastinate_app(state: ServiceState, *, max_size: int = 3) -> Any:
    """A procrastinate app on ``state``'s database, with the round task bound to ``state``.

    The pool (``max_size`` connections: the worker's listener, its fetches, its heartbeat) is
    opened only by a worker; deferring uses the caller's connection.
    """
    import procrastinate
    from procrastinate.job_context import AbortReason

    connector = procrastinate.PsycopgConnector(conninfo=conninfo(state), min_size=1, max_size=max_size)
    app = procrastinate.App(connector=connector)
    worker = worker_name()

    @app.task(name=TASK, queue=QUEUE, pass_context=True,
              retry=procrastinate.RetryStrategy(max_attempts=1000, retry_exceptions={HandedBack}))
    def run_round(context: Any, job_id: str) -> None:
        # The round's row decides (attempts, recovery, failure); the queue's own attempts only
        # bring the job back after a hand-back or a stall.
        def stopping() -> bool:
            return bool(context.should_abort() and context.abort_reason() == AbortReason.SHUTDOWN)

        if run_attempt(state, job_id, worker=worker, stopping=stopping) == "handed_back":
            raise HandedBack(job_id)

    return app


class ProcrastinateQueue:
    """Rounds on procrastinate's queue (module docstring); a worker in this process if ``run_here``."""

    def __init__(self, state: ServiceState, *, run_here: bool) -> None:
        self.state = state
        self.run_here = run_here
        self.app = procrastinate_app(state)
        # Deferring runs on the round's own psycopg connection: an app of its own, whose connector
        # is never opened and which knows the task by name only, does that synchronously (the
        # worker's opened, asynchronous connector would not).
        import procrastinate

        connector = procrastinate.SyncPsycopgConnector(conninfo=conninfo(state))
        self._deferrer = procrastinate.App(connector=connector)
        self._worker: Any = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def enqueue(self, conn: sa.Connection, job_id: str, round_id: str) -> None:
        driver = conn.connection.driver_connection  # the psycopg connection of the round's transaction
        self._deferrer.configure_task(TASK, lock=round_id, queueing_lock=job_id, queue=QUEUE,
                                connection=driver).defer(job_id=job_id)

    def committed(self, job_id: str) -> None:
        pass  # procrastinate notifies its workers on commit

    def start(self) -> None:
        if not self.run_here:
            return
        self._thread = threading.Thread(target=self._run, name="platsa-round-worker", daemon=True)
        self._thread.start()
        self._started.wait(timeout=30)

    def _run(self) -> None:
        try:
            asyncio.run(run_worker(self.app, self.state, install_signal_handlers=False, queue=self))
        except Exception:
            logger.exception("the round worker of this process stopped")

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()  # thread-safe: wakes the worker's own loop
        if self._thread is not None:
            self._thread.join(timeout=self.state.settings.shutdown_grace_s + 30)

    def health(self) -> QueueHealth:
        settings = self.state.settings
        if self.run_here:
            if self._thread is not None and self._thread.is_alive() and self._worker is not None:
                return QueueHealth(ready=True, detail="rounds run in this process (procrastinate worker)")
            return QueueHealth(ready=False, detail="this process's round worker is not running")
        alive = live_workers(self.state.db, settings.queue_stalled_s)
        if alive:
            return QueueHealth(ready=True, detail=f"{alive} worker(s) with a heartbeat in the last "
                                                  f"{settings.queue_stalled_s:g} s")
        return QueueHealth(ready=False, detail="no worker has a heartbeat in the last "
                                               f"{settings.queue_stalled_s:g} s: start 'platsa worker'")


def live_workers(db: sa.Engine, within_s: float) -> int:
    """procrastinate workers whose heartbeat is at most ``within_s`` seconds old."""
    with db.connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT count(*) FROM procrastinate_workers "
            "WHERE last_heartbeat > now() - make_interval(secs => :s)"), {"s": within_s}).scalar_one())


async def run_worker(app: Any, state: ServiceState, *, install_signal_handlers: bool,
                     queue: ProcrastinateQueue | None = None) -> None:
    """Run a procrastinate worker for rounds (one at a time) until it is stopped, and the stalled-job
    recovery beside it. With ``install_signal_handlers``, SIGTERM and SIGINT stop it gracefully."""
    from procrastinate.worker import Worker

    settings = state.settings
    async with app.open_async():
        worker = Worker(app, queues=[QUEUE], name=worker_name(), concurrency=1,
                        install_signal_handlers=install_signal_handlers,
                        update_heartbeat_interval=settings.queue_heartbeat_s,
                        stalled_worker_timeout=settings.queue_stalled_s,
                        shutdown_graceful_timeout=settings.shutdown_grace_s,
                        abort_job_polling_interval=1.0,
                        # New jobs come by notification; a job put back after a stall does not.
                        fetch_job_polling_interval=min(2.0, settings.queue_heartbeat_s))
        if queue is not None:
            queue._worker = worker
            queue._started.set()
        recovery = asyncio.create_task(_recover_stalled(app, settings.queue_heartbeat_s,
                                                        settings.queue_stalled_s))
        try:
            await worker.run()
        finally:
            recovery.cancel()


async def _recover_stalled(app: Any, every_s: float, stalled_s: float) -> None:
    """Put back in the queue every round job whose worker has been silent for ``stalled_s``."""
    while True:
        try:
            stalled = await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled_s)
            for job in stalled:
                try:
                    await app.job_manager.retry_job(job)
                except Exception:  # another worker put it back first
                    logger.debug("job %s was retried elsewhere", job.id, exc_info=True)
                else:
                    logger.warning("queue job %s (%s) was left by a silent worker: queued again", job.id,
                                   job.task_kwargs.get("job_id"))
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away for a moment: look again at the next turn
            logger.warning("looking for stalled round jobs failed", exc_info=True)
        await asyncio.sleep(every_s)
