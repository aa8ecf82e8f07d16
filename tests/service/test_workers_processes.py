"""Rounds in real processes: N web + M worker processes on PostgreSQL, one process on SQLite.

``postgres``: ``platsa serve --workers 2`` (two web processes on one port) and ``platsa worker
--processes 2`` (two round workers), ``PLATSA_ROUNDS=workers``. ``sqlite``: one ``platsa serve``,
which runs rounds itself. The same tests on both: a ``kill -9`` of the process running a round
mid-round, and the round completes once (on the other worker; on SQLite after the restart);
20 rounds queued at once each run exactly once (on both workers); ``/ready`` says where rounds run.
The tests run in file order: the kill test knows the workers from the 20 rounds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from service.db.tables import jobs, round_assignments
from tests.service.conftest import (
    TEST_ENGINE,
    TEST_POOL_SIZE,
    Api,
    add_keys,
    free_port,
    new_database,
    region_zip,
)

CODE = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"
#: A round of the tests' engine takes two places × this pause: long enough to kill it midway.
PAUSE_S = "0.3"
ASSIGNED = 4


@dataclass
class Deployment:
    backend: str
    api: Api
    env: dict[str, str]
    port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    workers: set[object] = field(default_factory=set)
    """The processes (``host:pid``) seen running rounds."""

    def start(self, name: str, *args: str) -> None:
        self.processes[name] = subprocess.Popen([sys.executable, "-c", CODE, *args], env=self.env)

    def start_web(self) -> None:
        workers = ["--workers", "2"] if self.backend == "postgres" else []
        self.start("web", "serve", "--port", str(self.port), "--log-level", "warning", *workers)
        _until_ready(self.api.base_url, self.processes["web"], status=None)

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _until_ready(base_url: str, process: subprocess.Popen[bytes], status: int | None = 200,
                 within: float = 60) -> httpx.Response:
    """The first answer of ``/ready`` (with ``status``, if given) while ``process`` runs."""
    deadline = time.monotonic() + within
    while True:
        try:
            answer = httpx.get(f"{base_url}/ready", timeout=2)
            if status is None or answer.status_code == status:
                return answer
        except httpx.TransportError:
            pass
        assert process.poll() is None, "the process exited on start"
        assert time.monotonic() < deadline, "not ready in time"
        time.sleep(0.1)


@contextmanager
def deployment(backend: str, tmp_path_factory: pytest.TempPathFactory,
               urls: dict[str, str]) -> Iterator[Deployment]:
    url = new_database(backend, tmp_path_factory, urls, "workers")
    tokens = add_keys(url)
    port = free_port()
    env = {**os.environ, "PLATSA_DATABASE_URL": url, "PLATSA_ENGINE": TEST_ENGINE,
           "PLATSA_TEST_ROUND_PAUSE": PAUSE_S, "PLATSA_DB_POOL_SIZE": str(TEST_POOL_SIZE),
           "PLATSA_DB_MAX_OVERFLOW": "10", "PLATSA_SHORTLIST_WARM": "false",
           "PLATSA_QUEUE_HEARTBEAT_S": "0.5", "PLATSA_QUEUE_STALLED_S": "2", "PLATSA_SHUTDOWN_GRACE_S": "5"}
    if backend == "postgres":
        env["PLATSA_ROUNDS"] = "workers"
    found = Deployment(backend, Api(backend, f"http://127.0.0.1:{port}", url, tokens), env, port)
    try:
        found.start_web()
        with found.api.client("admin") as client:
            answer = client.post("/v1/region/import", content=region_zip(),
                                 headers={"Content-Type": "application/zip"})
            assert answer.status_code == 201, answer.text
        if backend == "postgres":
            assert httpx.get(f"{found.api.base_url}/ready").status_code == 503  # no worker yet
            found.start("workers", "worker", "--processes", "2", "--log-level", "warning")
        _until_ready(found.api.base_url, found.processes["web"])
        if backend == "postgres":  # both workers, not only the first up
            deadline = time.monotonic() + 60
            while not httpx.get(f"{found.api.base_url}/ready").json()["queue"]["detail"].startswith("2 "):
                assert time.monotonic() < deadline, "the second worker did not start"
                time.sleep(0.2)
        yield found
    finally:
        for name in list(found.processes):
            found.stop(name)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def deployed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             database_urls: dict[str, str]) -> Iterator[Deployment]:
    with deployment(request.param, tmp_path_factory, database_urls) as found:
        yield found


def _job_row(api: Api, job_id: str) -> dict[str, object]:
    db = api.db()
    with db.connect() as conn:
        row = dict(conn.execute(sa.select(jobs).where(jobs.c.job_id == job_id)).mappings().one())
        row["pairs"] = conn.execute(sa.select(sa.func.count()).select_from(round_assignments)
                                    .where(round_assignments.c.round_id == row["subject_id"])).scalar_one()
    db.dispose()
    return row


def _wait(client: httpx.Client, job_id: str, within: float = 90) -> dict[str, object]:
    deadline = time.monotonic() + within
    while True:
        job: dict[str, object] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.1)


def test_ready_says_where_rounds_run(deployed: Deployment) -> None:
    body = httpx.get(f"{deployed.api.base_url}/ready").json()
    assert body["ready"] is True
    if deployed.backend == "postgres":
        assert body["queue"]["detail"].startswith("2 worker(s) with a heartbeat")
        # The workers run at the default lower priority (platsa worker --nice 10), lowered once.
        supervisor = deployed.processes["workers"].pid
        children = [int(c) for c in Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()]
        assert len(children) == 2
        base = os.getpriority(os.PRIO_PROCESS, 0)
        assert [os.getpriority(os.PRIO_PROCESS, p) - base for p in (supervisor, *children)] == [10, 10, 10]
    else:
        assert body["queue"]["detail"] == "rounds run in this process"


def test_twenty_rounds_queued_at_once_each_run_exactly_once(deployed: Deployment) -> None:
    api = deployed.api
    started: list[str] = []
    lock = threading.Lock()

    def start() -> None:
        with api.client("coordinator") as client:
            answer = client.post("/v1/rounds", json={})
            assert answer.status_code == 202, answer.text
            with lock:
                started.append(answer.json()["job"]["job_id"])

    threads = [threading.Thread(target=start) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 20
    workers = set()
    with api.client("coordinator") as client:
        for job_id in started:
            job = _wait(client, job_id, within=120)
            assert (job["status"], job["attempts"]) == ("succeeded", 1), job
            row = _job_row(api, job_id)
            assert row["pairs"] == ASSIGNED
            workers.add(row["worker"])
    if deployed.backend == "postgres":
        assert len(workers) == 2  # both worker processes took rounds
    deployed.workers = workers


def test_a_round_whose_process_is_killed_mid_round_completes_once(deployed: Deployment) -> None:
    api = deployed.api
    with api.client("coordinator") as client:
        started = client.post("/v1/rounds", json={})
        assert started.status_code == 202, started.text
        job_id = started.json()["job"]["job_id"]
        deadline = time.monotonic() + 30
        while (row := _job_row(api, job_id))["status"] != "running" or not row["worker"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        killed = int(str(row["worker"]).rsplit(":", 1)[1])
        os.kill(killed, signal.SIGKILL)  # mid-round: nothing of its shutdown runs
        if deployed.backend == "sqlite":  # the one process was the worker: start it again
            deployed.processes["web"].wait(timeout=30)
            deployed.processes.pop("web")
            assert _job_row(api, job_id)["pairs"] == 0  # nothing half-stored
            deployed.start_web()
        job = _wait(client, job_id)
    row = _job_row(api, job_id)
    assert (job["status"], job["attempts"], row["pairs"]) == ("succeeded", 2, ASSIGNED)
    assert "resumed after an interrupted run (attempt 2)" in str(job["recovery"])
    assert int(str(row["worker"]).rsplit(":", 1)[1]) != killed
    if deployed.backend == "postgres":  # the other worker, not the one started in the killed one's place
        assert row["worker"] in deployed.workers
    if deployed.backend == "postgres":
        db = api.db()
        with db.connect() as conn:
            queued = conn.execute(sa.text("SELECT status FROM procrastinate_jobs WHERE args->>'job_id' = :j"),
                                  {"j": job_id}).scalars().all()
        db.dispose()
        assert queued == ["succeeded"]  # one queue job, run again after the kill, then done


def test_a_cancellation_reaches_the_process_running_the_round(deployed: Deployment) -> None:
    api = deployed.api
    with api.client("coordinator") as client:
        started = client.post("/v1/rounds", json={}).json()
        job_id, round_id = started["job"]["job_id"], started["round_id"]
        deadline = time.monotonic() + 30
        while _job_row(api, job_id)["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.post(f"/v1/rounds/{round_id}/cancel").status_code == 202
        job = _wait(client, job_id)
    assert (job["status"], _job_row(api, job_id)["pairs"]) == ("cancelled", 0)


def test_a_stopped_process_finishes_its_round_first(deployed: Deployment) -> None:
    """SIGTERM mid-round (the operator's stop): the round ends within PLATSA_SHUTDOWN_GRACE_S, stored
    once, and the process exits (past the grace it would hand the round back: test_queue)."""
    api = deployed.api
    name = "workers" if deployed.backend == "postgres" else "web"
    with api.client("coordinator") as client:
        job_id = client.post("/v1/rounds", json={}).json()["job"]["job_id"]
        deadline = time.monotonic() + 30
        while _job_row(api, job_id)["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    process = deployed.processes.pop(name)
    process.terminate()
    # uvicorn, its graceful shutdown done, exits by the signal it caught (-15); the worker with 0.
    assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    row = _job_row(api, job_id)
    assert (row["status"], row["attempts"], row["pairs"]) == ("succeeded", 1, ASSIGNED)
