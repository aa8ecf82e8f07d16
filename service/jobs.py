"""Allocation rounds as background jobs: one attempt at a time, and what happens when one is cut off.

A round is created ``queued`` with every input it needs (policy id, solver parameters, pinned and
removed pairs, the region version) and a job row, in the request's transaction; the job is put on
the round queue in that same transaction (:mod:`service.queue`), so a round is never stored without
its job, nor a job queued for a round that was rolled back. The round's and the job's rows are the
truth (status, attempts, progress, result); the queue only carries the work to a runner.

Runners (:mod:`service.queue`): on SQLite the server process runs rounds itself, one at a time, in
a thread (:class:`LocalRunner`); on PostgreSQL, procrastinate's workers run them, in the server
process or in ``platsa worker`` processes. Every runner goes through :func:`run_attempt`:

1. **claim** (:func:`claim`): in one transaction, the job goes ``running`` and its ``attempts`` up
   by one, naming the process (``worker``). A job found already ended is left alone (the queue
   delivered it twice: it runs once). A job found ``running`` was cut off: its runner died (the
   queue saw its heartbeat stop) or the process restarted. ``PLATSA_JOB_RECOVERY`` decides:
   ``resume`` (default) runs it again from its stored inputs, ``recovery`` says so; ``fail`` marks it
   failed with the reason. A job cut off :data:`MAX_ATTEMPTS` times, or whose region was replaced
   since, is failed instead.
2. **run**: the engine, on the region as it is when the attempt starts
   (:meth:`service.state.ServiceState.fresh_snapshot`), writing progress as it goes.
3. **store** (:func:`store_outcome`): the whole result (assignments, each unassigned candidate's
   reason, summary, solver status) and the round's and job's final status in **one transaction**,
   and only if this attempt still holds the job (same ``attempts``, still ``running``, not
   cancelled). A crash before that commit leaves no assignment at all; an attempt that lost the
   job stores nothing; a second attempt finds nothing of the first to collide with.

Cancelling (``POST /v1/rounds/{id}/cancel``, :func:`cancel`): a queued job is marked ``cancelled``
at once and never starts; a running one gets ``cancel_requested``, which its runner, in whichever
process, reads at least every :data:`CANCEL_POLL_S` and stops at the engine's next check
(``should_stop``), storing nothing.

Stopping (a process shutting down): the runner waits up to ``PLATSA_SHUTDOWN_GRACE_S`` for the
running round to finish; past that the engine is asked to stop and the job is **handed back**:
``queued`` again, the attempt not counted, for the next runner (another worker, or this process
after its restart).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from scoring.eligibility import RuleOverride
from scoring.exceptions import ScoringError
from service import store
from service.db.tables import jobs, round_assignments, round_unassigned, rounds
from service.engine import EngineUnavailable, RoundInputs, RoundOutcome
from service.state import ServiceState

logger = logging.getLogger(__name__)

#: Attempts after which a round cut off again is failed, not resumed.
MAX_ATTEMPTS = 3
#: How often a running attempt reads whether it was cancelled (seconds; another process may ask).
CANCEL_POLL_S = 0.5
#: Progress is written at most this often (seconds): enough to follow, cheap for the database.
PROGRESS_INTERVAL = 0.2


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def jsonable(value: Any) -> Any:
    """``value`` with NaN and infinities as None and numpy scalars as Python ones (JSON columns)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def override_record(override: RuleOverride, by: int | None) -> dict[str, Any]:
    """How a round stores a coordinator's override of a pin (``rounds.overrides``)."""
    return {"candidate_id": override.candidate_id, "place_id": override.place_id,
            "reason": override.reason, "rules": list(override.rules), "by": by}


def overrides_of(stored: Any) -> tuple[RuleOverride, ...]:
    """The overrides a round stored (:func:`override_record`)."""
    return tuple(RuleOverride(o["candidate_id"], o["place_id"], o["reason"], tuple(o.get("rules") or ()))
                 for o in stored or ())


def create_round(conn: sa.Connection, inputs: RoundInputs, *, region_version: int, created_by: int | None,
                 parent_round_id: str | None = None) -> tuple[str, str]:
    """Store a queued round and its job; return (round_id, job_id). The caller then queues the job
    in the same transaction (:meth:`service.queue.RoundQueue.enqueue`)."""
    round_id, job_id = new_id("r"), new_id("j")
    now = _now()
    conn.execute(rounds.insert().values(
        round_id=round_id, status="queued", policy_id=inputs.policy_id, params=dict(inputs.params),
        pins=[list(p) for p in inputs.pins], removals=[list(p) for p in inputs.removals],
        overrides=[override_record(o, created_by) for o in inputs.overrides],
        parent_round_id=parent_round_id, region_version=region_version, created_by=created_by,
        created_at=now,
    ))
    conn.execute(jobs.insert().values(
        job_id=job_id, kind="round", subject_id=round_id, status="queued", progress=0.0,
        message="queued", attempts=0, created_at=now,
    ))
    return round_id, job_id


def _drop_queue_job(conn: sa.Connection, job_id: str) -> None:
    """Delete the procrastinate job of a queued round that was cancelled, in the same transaction.

    On PostgreSQL a queued round also waits in procrastinate's queue (:mod:`service.queue`), under
    the ``queueing_lock`` of its job's id. Left there it would stay ``todo`` until a worker fetched
    it only to find the round cancelled, and it would count in the queue's backlog meanwhile. A job
    a worker has already fetched (``doing``) is left to that worker, which finds the round
    cancelled and runs nothing. This is what ``procrastinate_cancel_job(id, abort => false,
    delete_job => true)`` does, done by ``queueing_lock`` inside the cancelling transaction.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("DELETE FROM procrastinate_jobs "
                             "WHERE queueing_lock = :lock AND status = 'todo'"), {"lock": job_id})


def worker_name() -> str:
    """This process, as a job's ``worker`` names it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def cancel(conn: sa.Connection, job_id: str, round_id: str) -> str:
    """Cancel a round's job: ``"cancelled"`` (it was queued: it never starts), ``"stopping"`` (it is
    running, in this process or another: it stops at the engine's next check, nothing stored) or its
    final status."""
    now = _now()
    done = conn.execute(jobs.update().where(jobs.c.job_id == job_id, jobs.c.status == "queued").values(
        status="cancelled", message="cancelled before it started", finished_at=now, cancel_requested=True))
    if done.rowcount:
        conn.execute(rounds.update().where(rounds.c.round_id == round_id).values(
            status="cancelled", error="cancelled before it started", finished_at=now))
        _drop_queue_job(conn, job_id)
        return "cancelled"
    asked = conn.execute(jobs.update().where(jobs.c.job_id == job_id, jobs.c.status == "running").values(
        cancel_requested=True, message="stopping: cancelled"))
    if asked.rowcount:
        return "stopping"
    return str(conn.execute(sa.select(jobs.c.status).where(jobs.c.job_id == job_id)).scalar_one())


@dataclass(frozen=True)
class Attempt:
    """One claimed attempt at a round's job: the job's ``attempts`` is ``number`` while it holds it."""

    job_id: str
    round_id: str
    number: int
    round: dict[str, Any]


def _held(job_id: str, number: int) -> Any:
    """The job's row while the attempt ``number`` still holds it."""
    return sa.and_(jobs.c.job_id == job_id, jobs.c.status == "running", jobs.c.attempts == number)


def _fail(conn: sa.Connection, job_id: str, round_id: str, reason: str, *, recovery: str | None = None,
          where: Any = None) -> None:
    now = _now()
    values: dict[str, Any] = {"status": "failed", "error": reason, "finished_at": now, "message": "failed"}
    if recovery is not None:
        values["recovery"] = recovery
    done = conn.execute(jobs.update().where(where if where is not None else jobs.c.job_id == job_id)
                        .values(**values))
    if done.rowcount:
        conn.execute(rounds.update().where(rounds.c.round_id == round_id).values(
            status="failed", error=reason, finished_at=now))


def _cancelled(conn: sa.Connection, job_id: str, round_id: str, where: Any) -> None:
    """A running attempt stopped on request: cancelled, nothing of its result stored."""
    now = _now()
    done = conn.execute(jobs.update().where(where).values(
        status="cancelled", message="cancelled while running", finished_at=now))
    if done.rowcount:
        conn.execute(rounds.update().where(rounds.c.round_id == round_id).values(
            status="cancelled", error="cancelled while running", finished_at=now))
        logger.info("round %s cancelled while running; nothing stored", round_id)


def claim(state: ServiceState, job_id: str, worker: str) -> Attempt | None:
    """Start an attempt at ``job_id`` (step 1 of the module's docstring); None: nothing to run."""
    with state.writer.begin() as conn:
        query = sa.select(jobs).where(jobs.c.job_id == job_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # a cancellation waits for the claim, and the claim for it
        job = conn.execute(query).mappings().first()
        if job is None or job["status"] not in ("queued", "running"):
            return None  # ended (or unknown): a job runs once, however often it is delivered
        rnd = dict(conn.execute(sa.select(rounds).where(rounds.c.round_id == job["subject_id"]))
                   .mappings().one())
        round_id = rnd["round_id"]
        if job["cancel_requested"]:
            _cancelled(conn, job_id, round_id, jobs.c.job_id == job_id)
            return None
        recovery = job["recovery"]
        if job["status"] == "running":  # its runner was cut off (died, or the process restarted)
            attempts = job["attempts"]
            reason = None
            if state.settings.job_recovery == "fail":
                reason = "interrupted by a restart or a stopped worker (PLATSA_JOB_RECOVERY=fail)"
            elif rnd["region_version"] != store.region_version(conn):
                reason = "interrupted by a restart, and the region was replaced since: not resumed"
            elif attempts >= MAX_ATTEMPTS:
                reason = f"interrupted {attempts} times: not resumed again"
            if reason is not None:
                logger.warning("round %s was interrupted; marked failed: %s", round_id, reason)
                _fail(conn, job_id, round_id, reason, recovery=reason)
                return None
            recovery = f"resumed after an interrupted run (attempt {attempts + 1})"
            logger.warning("round %s was interrupted (attempt %d, %s); resuming it", round_id, attempts,
                           job["worker"])
        number = job["attempts"] + 1
        conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(
            status="running", started_at=_now(), attempts=number, message="starting", progress=0.0,
            worker=worker, recovery=recovery))
        conn.execute(rounds.update().where(rounds.c.round_id == round_id).values(status="running"))
    return Attempt(job_id, round_id, number, rnd)


class _CancelCheck:
    """Whether the attempt was cancelled: the job's ``cancel_requested``, read at most every
    :data:`CANCEL_POLL_S` (the engine asks far more often, from its solver's callback)."""

    def __init__(self, state: ServiceState, job_id: str) -> None:
        self.state = state
        self.job_id = job_id
        self._at = 0.0
        self._asked = False

    def __call__(self) -> bool:
        if not self._asked and time.monotonic() - self._at >= CANCEL_POLL_S:
            self._at = time.monotonic()
            try:
                with self.state.db.connect() as conn:
                    self._asked = bool(conn.execute(sa.select(jobs.c.cancel_requested)
                                                    .where(jobs.c.job_id == self.job_id)).scalar())
            except Exception:  # the database is away for a moment: ask again at the next poll
                logger.warning("reading job %s's cancellation failed", self.job_id, exc_info=True)
        return self._asked


#: How an attempt ended for its runner: its job ended (stored, failed, cancelled, or not run at
#: all), or it was handed back at a shutdown and is queued again.
AttemptEnd = Literal["done", "handed_back"]


def run_attempt(state: ServiceState, job_id: str, *, worker: str,
                stopping: Callable[[], bool] = lambda: False) -> AttemptEnd:
    """Claim, run and store one attempt at ``job_id`` (the module's docstring).

    Parameters
    ----------
    state
        The process's state: its settings, database, engine and region snapshot.
    job_id
        The job, as the queue delivered it (delivered twice, it runs once).
    worker
        This process's name for the job's ``worker`` column (:func:`worker_name`).
    stopping
        True once the process is shutting down and its grace period is over: the engine stops at
        its next check and the job is handed back.
    """
    attempt = claim(state, job_id, worker)
    if attempt is None:
        return "done"
    round_id, rnd, held = attempt.round_id, attempt.round, _held(job_id, attempt.number)
    try:
        snapshot = state.fresh_snapshot()  # the region as it is now, with every write made before
    except Exception as exc:
        logger.exception("round %s: the region could not be read", round_id)
        with state.writer.begin() as conn:
            _fail(conn, job_id, round_id, f"the region could not be read: {type(exc).__name__}", where=held)
        return "done"
    if snapshot is None or snapshot.version != rnd["region_version"]:
        with state.writer.begin() as conn:
            _fail(conn, job_id, round_id, "the region was replaced after the round was created", where=held)
        return "done"
    inputs = RoundInputs(
        policy_id=rnd["policy_id"], params=rnd["params"] or {},
        pins=tuple((p[0], p[1]) for p in rnd["pins"]),
        removals=tuple((p[0], p[1]) for p in rnd["removals"]),
        overrides=overrides_of(rnd["overrides"]),
    )
    cancelled = _CancelCheck(state, job_id)
    last: dict[str, Any] = {"at": 0.0, "stage": "", "stopped": False}

    def should_stop() -> bool:
        if cancelled():
            return True
        if stopping():
            last["stopped"] = True  # the engine was cut short by the shutdown: hand the job back
            return True
        return False

    def progress(fraction: float, message: str) -> None:
        # Each stage's first report is written at once (the stage changed), later ones at most
        # every PROGRESS_INTERVAL seconds.
        now = time.monotonic()
        if now - last["at"] < PROGRESS_INTERVAL and fraction < 1.0 and message == last["stage"]:
            return
        if cancelled():
            return  # the job's message says it is stopping
        last["stage"] = message
        last["at"] = now
        with state.writer.begin() as conn:
            conn.execute(jobs.update().where(held).values(
                progress=max(0.0, min(1.0, float(fraction))), message=message[:500]))

    try:
        policy = state.policy(inputs.policy_id)
        outcome = state.engine.run_round(snapshot.region, snapshot.prepared, policy, inputs, progress,
                                         should_stop=should_stop)
    except (EngineUnavailable, ScoringError, ValueError) as exc:
        outcome, error = None, str(exc)
    except Exception as exc:
        logger.exception("round %s failed", round_id)
        outcome, error = None, f"internal error: {type(exc).__name__}"
    with state.writer.begin() as conn:
        if cancelled():
            _cancelled(conn, job_id, round_id, held)
        elif last["stopped"]:
            _hand_back(conn, attempt)
            return "handed_back"
        elif outcome is None:
            _fail(conn, job_id, round_id, error, where=held)
        else:
            store_outcome(conn, attempt, outcome)
    return "done"


def _hand_back(conn: sa.Connection, attempt: Attempt) -> None:
    """Queue the job again, its attempt not counted: the process stopped before the round ended."""
    done = conn.execute(jobs.update().where(_held(attempt.job_id, attempt.number)).values(
        status="queued", attempts=attempt.number - 1, progress=0.0, message="queued again after a restart",
        recovery=f"handed back by a stopping process ({worker_name()}); not counted as an attempt"))
    if done.rowcount:
        conn.execute(rounds.update().where(rounds.c.round_id == attempt.round_id).values(status="queued"))
        logger.warning("round %s handed back unfinished: the process is stopping", attempt.round_id)


def store_outcome(conn: sa.Connection, attempt: Attempt, outcome: RoundOutcome) -> bool:
    """Write the whole result, the round's status and the job's, in ``conn``'s transaction, if the
    attempt still holds the job; whether it did."""
    job_id, round_id, held = attempt.job_id, attempt.round_id, _held(attempt.job_id, attempt.number)
    query = sa.select(jobs.c.cancel_requested).where(held)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # a cancellation now waits for this commit, or wins before it
    still = conn.execute(query).first()
    if still is None:
        logger.warning("round %s: attempt %d no longer holds its job; nothing stored", round_id,
                       attempt.number)
        return False
    if still.cancel_requested:  # asked while the engine returned: nothing is stored
        _cancelled(conn, job_id, round_id, held)
        return False
    if store.region_version(conn) != attempt.round["region_version"]:
        _fail(conn, job_id, round_id, "the region was replaced while the round ran", where=held)
        return False
    # An attempt stores all or nothing, so an earlier one left no rows; this makes sure of it.
    conn.execute(round_assignments.delete().where(round_assignments.c.round_id == round_id))
    conn.execute(round_unassigned.delete().where(round_unassigned.c.round_id == round_id))
    rows = [
        {"round_id": round_id, "candidate_id": a.candidate_id, "place_id": a.place_id,
         "score": float(a.score), "pinned": a.pinned, "explanation": jsonable(a.explanation)}
        for a in outcome.assignments
    ]
    for start in range(0, len(rows), 2_000):
        conn.execute(round_assignments.insert(), rows[start:start + 2_000])
    left = [{"round_id": round_id, "candidate_id": u.candidate_id, "reason": u.reason,
             "explanation": u.explanation} for u in outcome.unassigned]
    for start in range(0, len(left), 2_000):
        conn.execute(round_unassigned.insert(), left[start:start + 2_000])
    now = _now()
    conn.execute(rounds.update().where(rounds.c.round_id == round_id).values(
        status="succeeded", solver_status=outcome.solver_status, objective=outcome.objective,
        gap=outcome.gap, summary=jsonable(outcome.summary), finished_at=now, error=None,
        certificate=jsonable(outcome.certificate)))
    conn.execute(jobs.update().where(held).values(
        status="succeeded", progress=1.0, message=f"{len(rows)} assignment(s)", finished_at=now))
    logger.info("round %s stored: %d assignments, %d unassigned, %s", round_id, len(rows), len(left),
                outcome.solver_status)
    return True


def unfinished(conn: sa.Connection) -> list[str]:
    """The jobs not ended (queued, or running when a process stopped), oldest first."""
    return list(conn.execute(sa.select(jobs.c.job_id).where(jobs.c.status.in_(("queued", "running")))
                             .order_by(jobs.c.created_at)).scalars())


class LocalRunner:
    """Rounds run by this process itself, one at a time, in a thread: the embedded (SQLite) path.

    Jobs come from :meth:`submit` (after the round's transaction commits) and, on start, from the
    database (:meth:`start`: every job a previous process left unfinished, which :func:`claim`
    resumes or fails). One process per database runs them (``docs/deploy.md``).
    """

    def __init__(self, state: ServiceState, *, grace_s: float = 30.0) -> None:
        self.state = state
        self.grace_s = grace_s
        self.worker = worker_name()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stopping = threading.Event()
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._work, name="platsa-rounds", daemon=True)

    def start(self) -> None:
        with self.state.db.connect() as conn:
            for job_id in unfinished(conn):
                self.submit(job_id)
        self._thread.start()

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def alive(self) -> bool:
        """Whether the thread runs (for ``/ready``)."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Finish the running round within the grace period, or hand it back; queued ones wait in
        the database for the next start."""
        self._queue.put(None)
        self._thread.join(timeout=self.grace_s)
        if self._thread.is_alive():
            self._stopping.set()  # the engine stops at its next check; the job is handed back
            self._thread.join(timeout=30)

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                run_attempt(self.state, job_id, worker=self.worker, stopping=self._stopping.is_set)
            except Exception:  # the worker must survive any one job
                logger.exception("job %s crashed the worker's loop", job_id)
