"""Allocation rounds as background jobs, and what happens to them after a crash.

A round is created ``queued`` with every input it needs (policy id, solver parameters, pinned and
removed pairs, the region version) and a job row. One worker thread in the server process runs jobs
one at a time (rounds are CPU-bound; two at once would only share the cores), writing progress to the
job row as the engine reports it. The result (assignments, each unassigned candidate's reason,
summary, solver status) is written in **one transaction** at the end, together with the round's and
the job's final status: a crash before
that commit leaves no assignment at all, never half of them.

Recovery, on start (``PLATSA_JOB_RECOVERY``):

``resume`` (default)
    A job left ``running`` by a crash or restart is queued again and re-run from its stored inputs;
    its ``attempts`` count goes up and ``recovery`` says it was resumed. If the region was replaced
    since the round was created, its inputs no longer describe the data, so it is marked ``failed``
    with that reason instead. A job that fails :data:`MAX_ATTEMPTS` times is not retried again.
``fail``
    A job left ``running`` is marked ``failed``, with the reason "interrupted by a restart".

Jobs that were still ``queued`` had not started and are simply queued again. The worker is one per
process: run one server process per database (``docs/deploy.md``).

Cancelling (``POST /v1/rounds/{id}/cancel``, :meth:`JobRunner.cancel`): a queued job is marked
``cancelled`` at once and never starts; a running one is asked to stop (the engine's
``should_stop``, which the round's solve and pricing poll) and is marked ``cancelled`` when it has,
with nothing of its result stored.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import queue
import threading
import time
import uuid
from typing import Any

import sqlalchemy as sa

from scoring.eligibility import RuleOverride
from scoring.exceptions import ScoringError
from service import store
from service.db.tables import jobs, round_assignments, round_unassigned, rounds
from service.engine import EngineUnavailable, RoundInputs, RoundOutcome
from service.state import ServiceState

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
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
    """Store a queued round and its job; return (round_id, job_id). The caller then submits the job."""
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


class JobRunner:
    """The worker thread that runs rounds, and the recovery of interrupted ones on start."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="platsa-rounds", daemon=True)

    def start(self) -> None:
        self.recover()
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def cancel(self, conn: sa.Connection, job_id: str, round_id: str) -> str:
        """Cancel a round's job: ``"cancelled"`` (it was queued: it never starts), ``"stopping"`` (it
        is running: it stops at the engine's next check, nothing stored) or its final status."""
        now = _now()
        done = conn.execute(jobs.update().where(jobs.c.job_id == job_id, jobs.c.status == "queued").values(
            status="cancelled", message="cancelled before it started", finished_at=now))
        if done.rowcount:
            conn.execute(rounds.update().where(rounds.c.round_id == round_id).values(
                status="cancelled", error="cancelled before it started", finished_at=now))
            return "cancelled"
        with self._lock:
            self._cancelled.add(job_id)  # before the status is read: a job storing its result sees it
        status = conn.execute(sa.select(jobs.c.status).where(jobs.c.job_id == job_id)).scalar_one()
        if status == "running":
            conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(message="stopping: cancelled"))
            return "stopping"
        with self._lock:
            self._cancelled.discard(job_id)
        return str(status)

    def _cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancelled

    # -- recovery ---------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Requeue or fail the jobs a previous process left unfinished; return the requeued ids."""
        resume = self.state.settings.job_recovery == "resume"
        requeued: list[str] = []
        with self.state.writer.begin() as conn:
            version = store.region_version(conn)
            rows = conn.execute(
                sa.select(jobs.c.job_id, jobs.c.status, jobs.c.attempts, jobs.c.subject_id,
                          rounds.c.region_version)
                .join(rounds, rounds.c.round_id == jobs.c.subject_id)
                .where(jobs.c.status.in_(("queued", "running")))
                .order_by(jobs.c.created_at)
            ).all()
            for row in rows:
                if row.status == "queued":
                    requeued.append(row.job_id)
                    continue
                if not resume:
                    reason = "interrupted by a restart (PLATSA_JOB_RECOVERY=fail)"
                elif row.region_version != version:
                    reason = "interrupted by a restart, and the region was replaced since: not resumed"
                elif row.attempts >= MAX_ATTEMPTS:
                    reason = f"interrupted {row.attempts} times: not resumed again"
                else:
                    conn.execute(jobs.update().where(jobs.c.job_id == row.job_id).values(
                        status="queued", progress=0.0, message="queued again after a restart",
                        recovery=f"resumed after an interrupted run (attempt {row.attempts + 1} next)"))
                    conn.execute(rounds.update().where(rounds.c.round_id == row.subject_id)
                                 .values(status="queued"))
                    requeued.append(row.job_id)
                    logger.warning("round %s was interrupted; resuming it", row.subject_id)
                    continue
                logger.warning("round %s was interrupted; marked failed: %s", row.subject_id, reason)
                self._fail(conn, row.job_id, row.subject_id, reason, recovery=reason)
        for job_id in requeued:
            self.submit(job_id)
        return requeued

    # -- running ----------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self._run(job_id)
            except Exception:  # the worker must survive any one job
                logger.exception("job %s crashed the worker's loop", job_id)

    def _fail(self, conn: sa.Connection, job_id: str, round_id: str, reason: str,
              recovery: str | None = None) -> None:
        now = _now()
        values: dict[str, Any] = {"status": "failed", "error": reason, "finished_at": now,
                                  "message": "failed"}
        if recovery is not None:
            values["recovery"] = recovery
        conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(**values))
        conn.execute(rounds.update().where(rounds.c.round_id == round_id).values(
            status="failed", error=reason, finished_at=now))

    def _run(self, job_id: str) -> None:
        state = self.state
        with state.writer.begin() as conn:
            job = conn.execute(sa.select(jobs).where(jobs.c.job_id == job_id)).mappings().first()
            if job is None or job["status"] != "queued":
                return
            rnd = conn.execute(
                sa.select(rounds).where(rounds.c.round_id == job["subject_id"])).mappings().one()
            conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(
                status="running", started_at=_now(), attempts=job["attempts"] + 1, message="starting"))
            conn.execute(rounds.update().where(rounds.c.round_id == rnd["round_id"]).values(status="running"))
        round_id = rnd["round_id"]
        try:
            snapshot = state.fresh_snapshot()  # the region as it is now, with every write made before
        except Exception as exc:
            logger.exception("round %s: the region could not be read", round_id)
            with state.writer.begin() as conn:
                self._fail(conn, job_id, round_id, f"the region could not be read: {type(exc).__name__}")
            return
        if snapshot is None or snapshot.version != rnd["region_version"]:
            with state.writer.begin() as conn:
                self._fail(conn, job_id, round_id, "the region was replaced after the round was created")
            return
        inputs = RoundInputs(
            policy_id=rnd["policy_id"], params=rnd["params"] or {},
            pins=tuple((p[0], p[1]) for p in rnd["pins"]),
            removals=tuple((p[0], p[1]) for p in rnd["removals"]),
            overrides=overrides_of(rnd["overrides"]),
        )
        last: dict[str, Any] = {"at": 0.0, "stage": ""}

        def progress(fraction: float, message: str) -> None:
            # Each stage's first report is written at once (the stage changed), later ones at most
            # every PROGRESS_INTERVAL seconds.
            now = time.monotonic()
            if now - last["at"] < PROGRESS_INTERVAL and fraction < 1.0 and message == last["stage"]:
                return
            if self._cancel_requested(job_id):
                return  # the job's message says it is stopping
            last["stage"] = message
            last["at"] = now
            with state.writer.begin() as conn:
                conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(
                    progress=max(0.0, min(1.0, float(fraction))), message=message[:500]))

        try:
            policy = state.policy(inputs.policy_id)
            outcome = state.engine.run_round(snapshot.region, snapshot.prepared, policy, inputs, progress,
                                             should_stop=lambda: self._cancel_requested(job_id))
        except (EngineUnavailable, ScoringError, ValueError) as exc:
            with state.writer.begin() as conn:
                self._fail(conn, job_id, round_id, str(exc))
            return
        except Exception as exc:
            logger.exception("round %s failed", round_id)
            with state.writer.begin() as conn:
                if self._cancel_requested(job_id):
                    self._cancelled_now(conn, job_id, round_id)
                else:
                    self._fail(conn, job_id, round_id, f"internal error: {type(exc).__name__}")
            return
        if self._cancel_requested(job_id):
            with state.writer.begin() as conn:
                self._cancelled_now(conn, job_id, round_id)
            return
        self._store(job_id, round_id, rnd["region_version"], outcome)

    def _cancelled_now(self, conn: sa.Connection, job_id: str, round_id: str) -> None:
        """A running job stopped on request: cancelled, nothing of its result stored."""
        now = _now()
        conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(
            status="cancelled", message="cancelled while running", finished_at=now))
        conn.execute(rounds.update().where(rounds.c.round_id == round_id).values(
            status="cancelled", error="cancelled while running", finished_at=now))
        with self._lock:
            self._cancelled.discard(job_id)
        logger.info("round %s cancelled while running; nothing stored", round_id)

    def _store(self, job_id: str, round_id: str, region_version: int, outcome: RoundOutcome) -> None:
        """Write the whole result, the round's status and the job's, in one transaction."""
        now = _now()
        with self.state.writer.begin() as conn:
            if self._cancel_requested(job_id):  # asked while the engine returned: nothing is stored
                self._cancelled_now(conn, job_id, round_id)
                return
            if store.region_version(conn) != region_version:
                self._fail(conn, job_id, round_id, "the region was replaced while the round ran")
                return
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
            conn.execute(rounds.update().where(rounds.c.round_id == round_id).values(
                status="succeeded", solver_status=outcome.solver_status, objective=outcome.objective,
                gap=outcome.gap, summary=jsonable(outcome.summary), finished_at=now, error=None,
                certificate=jsonable(outcome.certificate)))
            conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(
                status="succeeded", progress=1.0, message=f"{len(rows)} assignment(s)", finished_at=now))
        logger.info("round %s stored: %d assignments, %d unassigned, %s", round_id, len(rows), len(left),
                    outcome.solver_status)
