"""The round queue behind one interface, on both paths (``service/queue.py``, ``service/jobs.py``).

The same tests run on SQLite (the server's own thread) and PostgreSQL (procrastinate, its worker
in the server process): 20 rounds queued at once each run exactly once; a round and its job commit
together or not at all; a job delivered twice runs once; an attempt that lost its job stores
nothing, and the next one stores without colliding; a stopping process hands its round back;
``/ready`` names each part.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from scoring.region import region_from_frames
from service import store
from service.config import Settings
from service.db import make_engine, migrate
from service.db.engine import writer
from service.db.tables import jobs, round_assignments, rounds
from service.engine import Assignment, RoundInputs, RoundOutcome
from service.jobs import Attempt, claim, create_round, run_attempt, store_outcome
from service.queue import ProcrastinateQueue, make_queue
from service.state import ServiceState
from tests.regions import MANIFEST
from tests.service.conftest import (
    TEST_ENGINE,
    Api,
    new_database,
    server_with_region,
    service_region,
    wait_for_job,
)
from tests.service.engines import SlowEngine

#: Rounds of the test region on the tests' greedy engine: four candidates get a place.
ASSIGNED = 4


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        database_urls: dict[str, str]) -> Iterator[Api]:
    with server_with_region(request.param, tmp_path_factory, database_urls, "queue") as api:
        yield api


@pytest.fixture
def state(api: Api) -> Iterator[ServiceState]:
    """A process's state on the test server's database (no app around it)."""
    settings = Settings(database_url=api.database_url, engine=TEST_ENGINE)
    db = make_engine(settings.sqlalchemy_url, pool_size=2, max_overflow=2)
    state = ServiceState(settings, db, SlowEngine())
    state.reload()
    yield state
    state.close()
    db.dispose()


def _new_round(state: ServiceState) -> tuple[str, str]:
    snapshot = state.snapshot
    assert snapshot is not None
    with state.writer.begin() as conn:
        round_id, job_id = create_round(conn, RoundInputs(policy_id=snapshot.policy.id),
                                        region_version=snapshot.version, created_by=None)
    return round_id, job_id


def _job(state: ServiceState, job_id: str) -> dict[str, object]:
    with state.db.connect() as conn:
        return dict(conn.execute(sa.select(jobs).where(jobs.c.job_id == job_id)).mappings().one())


def _assignments(state: ServiceState, round_id: str) -> int:
    with state.db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(round_assignments)
                                .where(round_assignments.c.round_id == round_id)).scalar_one())


def test_twenty_rounds_queued_at_once_each_run_exactly_once(api: Api) -> None:
    started: list[dict[str, object]] = []
    lock = threading.Lock()

    def start() -> None:
        with api.client("coordinator") as client:
            answer = client.post("/v1/rounds", json={})
            assert answer.status_code == 202, answer.text
            with lock:
                started.append(answer.json())

    threads = [threading.Thread(target=start) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 20
    with api.client("coordinator") as client:
        for one in started:
            job = wait_for_job(client, str(one["job"]["job_id"]))  # type: ignore[index]
            assert (job["status"], job["attempts"], job["recovery"]) == ("succeeded", 1, None)
            assert client.get(f"/v1/rounds/{one['round_id']}/assignments").json()["total"] == ASSIGNED
    if api.backend == "postgres":  # the queue carried each job once, and ran it once
        db = api.db()
        with db.connect() as conn:
            queued = conn.execute(sa.text(
                "SELECT args->>'job_id' AS job_id, status, attempts FROM procrastinate_jobs "
                "WHERE task_name = 'platsa.round'")).all()
        db.dispose()
        mine = {str(one["job"]["job_id"]) for one in started}  # type: ignore[index]
        ours = [row for row in queued if row.job_id in mine]
        assert len(ours) == 20 and {row.job_id for row in ours} == mine
        assert {(row.status, row.attempts) for row in ours} == {("succeeded", 1)}


def test_a_round_and_its_job_commit_together_or_not_at_all(api: Api, state: ServiceState) -> None:
    queue = make_queue(state) if api.backend == "sqlite" else ProcrastinateQueue(state, run_here=False)
    snapshot = state.snapshot
    assert snapshot is not None
    with pytest.raises(RuntimeError), state.writer.begin() as conn:
        round_id, job_id = create_round(conn, RoundInputs(policy_id=snapshot.policy.id),
                                        region_version=snapshot.version, created_by=None)
        queue.enqueue(conn, job_id, round_id)
        raise RuntimeError("the request fails after queuing")
    with state.db.connect() as conn:
        assert conn.execute(sa.select(rounds).where(rounds.c.round_id == round_id)).first() is None
        assert conn.execute(sa.select(jobs).where(jobs.c.job_id == job_id)).first() is None
        if api.backend == "postgres":
            assert conn.execute(sa.text("SELECT count(*) FROM procrastinate_jobs WHERE args->>'job_id' = :j"),
                                {"j": job_id}).scalar_one() == 0


def test_a_job_delivered_twice_runs_once(state: ServiceState) -> None:
    round_id, job_id = _new_round(state)
    assert run_attempt(state, job_id, worker="test:1") == "done"
    assert run_attempt(state, job_id, worker="test:2") == "done"  # the queue delivered it again
    job = _job(state, job_id)
    assert (job["status"], job["attempts"], job["worker"]) == ("succeeded", 1, "test:1")
    assert _assignments(state, round_id) == ASSIGNED


def test_an_attempt_that_lost_its_job_stores_nothing_and_the_next_stores_once(state: ServiceState) -> None:
    round_id, job_id = _new_round(state)
    first = claim(state, job_id, "test:dead")  # its worker dies here, mid-round
    assert first is not None and first.number == 1
    # The queue hands the job to another worker: the cut-off attempt is counted, the round resumed.
    assert run_attempt(state, job_id, worker="test:other") == "done"
    job = _job(state, job_id)
    assert (job["status"], job["attempts"], job["worker"]) == ("succeeded", 2, "test:other")
    assert "resumed after an interrupted run (attempt 2)" in str(job["recovery"])
    # The first attempt comes back to store its result: it no longer holds the job.
    outcome = RoundOutcome((), "greedy", 0.0, 0.0, {})
    with state.writer.begin() as conn:
        assert store_outcome(conn, first, outcome) is False
    assert _assignments(state, round_id) == ASSIGNED
    # The same pairs stored again for the round (an attempt holding the job) do not collide.
    with state.writer.begin() as conn:
        pairs = conn.execute(sa.select(round_assignments).where(round_assignments.c.round_id == round_id)).all()
        again = RoundOutcome(tuple(Assignment(r.candidate_id, r.place_id, r.score, r.explanation, r.pinned)
                                   for r in pairs), "greedy", float(len(pairs)), 0.0, {})
        conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(status="running", attempts=3))
        stored = store_outcome(conn, Attempt(job_id, round_id, 3, first.round), again)
    assert stored is True and _assignments(state, round_id) == ASSIGNED


def test_a_round_cut_off_too_often_is_failed_not_resumed(state: ServiceState) -> None:
    round_id, job_id = _new_round(state)
    for n in range(3):
        assert claim(state, job_id, f"test:{n}") is not None  # three workers, each killed
    assert run_attempt(state, job_id, worker="test:last") == "done"
    job = _job(state, job_id)
    assert (job["status"], job["attempts"]) == ("failed", 3)
    assert job["error"] == "interrupted 3 times: not resumed again"
    assert _assignments(state, round_id) == 0


def test_a_stopping_process_hands_its_round_back_uncounted(state: ServiceState) -> None:
    round_id, job_id = _new_round(state)
    assert run_attempt(state, job_id, worker="test:stopping", stopping=lambda: True) == "handed_back"
    job = _job(state, job_id)
    assert (job["status"], job["attempts"]) == ("queued", 0)
    assert "handed back by a stopping process" in str(job["recovery"])
    assert _assignments(state, round_id) == 0
    assert run_attempt(state, job_id, worker="test:next") == "done"
    job = _job(state, job_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 1)
    assert _assignments(state, round_id) == ASSIGNED


def test_a_cancellation_reaches_the_attempt_through_the_database(state: ServiceState) -> None:
    from service.jobs import cancel

    round_id, job_id = _new_round(state)
    attempt = claim(state, job_id, "test:elsewhere")
    assert attempt is not None
    with state.writer.begin() as conn:
        assert cancel(conn, job_id, round_id) == "stopping"
    with state.writer.begin() as conn:  # the attempt, in another process, comes to store its result
        assert store_outcome(conn, attempt, RoundOutcome((), "greedy", 0.0, 0.0, {})) is False
    job = _job(state, job_id)
    assert (job["status"], job["message"]) == ("cancelled", "cancelled while running")
    assert _assignments(state, round_id) == 0


def test_ready_names_the_database_the_queue_and_the_snapshot(api: Api) -> None:
    answer = httpx.get(f"{api.base_url}/ready", timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ready"] is True
    assert body["database"] == {"ready": True, "detail": "answers"}
    assert body["queue"]["ready"] is True and "in this process" in body["queue"]["detail"]
    assert body["snapshot"]["ready"] is True and body["snapshot"]["detail"].startswith("region version")


def test_a_stall_timeout_below_two_heartbeats_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="must be at least twice PLATSA_QUEUE_HEARTBEAT_S"):
        Settings(queue_heartbeat_s=10, queue_stalled_s=15)


@pytest.fixture(params=["sqlite", "postgres"])
def idle_state(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               database_urls: dict[str, str]) -> Iterator[ServiceState]:
    """A process's state on a database of its own, the test region stored, and no worker anywhere."""
    url = new_database(request.param, tmp_path_factory, database_urls, "idle-queue")
    settings = Settings(database_url=url, engine=TEST_ENGINE)
    db = make_engine(settings.sqlalchemy_url, pool_size=2, max_overflow=2)
    migrate(db)
    with writer(db).begin() as conn:
        store.replace_region(conn, region_from_frames(MANIFEST, service_region()))
    state = ServiceState(settings, db, SlowEngine())
    state.reload()
    yield state
    state.close()
    db.dispose()


def _queue_rows(state: ServiceState, job_id: str) -> list[str]:
    with state.db.connect() as conn:
        return list(conn.execute(sa.text("SELECT status FROM procrastinate_jobs WHERE queueing_lock = :j"),
                                 {"j": job_id}).scalars())


def test_cancelling_a_queued_round_takes_its_job_out_of_the_queue(idle_state: ServiceState) -> None:
    from service.jobs import cancel

    state = idle_state
    postgres = state.db.dialect.name == "postgresql"
    queue = ProcrastinateQueue(state, run_here=False) if postgres else make_queue(state)
    snapshot = state.snapshot
    assert snapshot is not None
    with state.writer.begin() as conn:
        round_id, job_id = create_round(conn, RoundInputs(policy_id=snapshot.policy.id),
                                        region_version=snapshot.version, created_by=None)
        queue.enqueue(conn, job_id, round_id)
    if postgres:
        assert _queue_rows(state, job_id) == ["todo"]
    with state.writer.begin() as conn:
        assert cancel(conn, job_id, round_id) == "cancelled"
    job = _job(state, job_id)
    assert job["status"] == "cancelled"
    if postgres:
        assert _queue_rows(state, job_id) == []  # no worker will fetch it, and the backlog does not count it
    assert run_attempt(state, job_id, worker="test:1") != "handed_back"  # delivered anyway: runs nothing
    assert _job(state, job_id)["status"] == "cancelled" and _assignments(state, round_id) == 0
