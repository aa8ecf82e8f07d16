"""A server killed mid-round leaves no half-stored round: after a restart it is resumed, or failed.

The server is a real subprocess (``platsa serve``) on a free port; it is killed with SIGKILL while
the round's job is running, so nothing of the service's shutdown code runs.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import sqlalchemy as sa

from service.config import Settings
from service.db import make_engine
from service.db.tables import jobs, round_assignments, rounds
from tests.service.conftest import (
    TEST_ENGINE,
    add_keys,
    free_port,
    new_database,
    region_zip,
    serve_process,
    wait_for_job,
)


@contextmanager
def server(url: str, port: int, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    # On PostgreSQL the restarted server's round worker takes up the killed one's job once that
    # worker has been silent for PLATSA_QUEUE_STALLED_S (service/queue.py).
    with serve_process(url, port, PLATSA_ENGINE=TEST_ENGINE, PLATSA_TEST_ROUND_PAUSE="0.5",
                       PLATSA_QUEUE_HEARTBEAT_S="0.5", PLATSA_QUEUE_STALLED_S="2", **env) as process:
        yield process


def _start_round_and_kill(url: str, port: int, token: str) -> tuple[str, str]:
    with server(url, port) as process, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                                     headers={"Authorization": f"Bearer {token}"}) as client:
        if client.get("/v1/region").status_code == 503:
            answer = client.post("/v1/region/import", content=region_zip(),
                                 headers={"Content-Type": "application/zip"})
            assert answer.status_code == 201, answer.text
        started = client.post("/v1/rounds", json={}).json()
        job_id, round_id = started["job"]["job_id"], started["round_id"]
        deadline = time.monotonic() + 30
        while client.get(f"/v1/jobs/{job_id}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)  # well inside the round (two places, 0.5 s each)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    return round_id, job_id


def _stored(url: str, round_id: str, job_id: str) -> tuple[str, str, int]:
    db = make_engine(Settings(database_url=url).sqlalchemy_url)
    with db.connect() as conn:
        status = conn.execute(sa.select(rounds.c.status).where(rounds.c.round_id == round_id)).scalar_one()
        job = conn.execute(sa.select(jobs.c.status).where(jobs.c.job_id == job_id)).scalar_one()
        n = conn.execute(sa.select(sa.func.count()).select_from(round_assignments)
                         .where(round_assignments.c.round_id == round_id)).scalar_one()
    db.dispose()
    return status, job, n


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_killed_round_is_resumed_or_failed_never_half_stored(
        backend: str, tmp_path_factory: pytest.TempPathFactory, database_urls: dict[str, str]) -> None:
    url = new_database(backend, tmp_path_factory, database_urls, "recovery")
    token = add_keys(url)["coordinator"]
    port = free_port()

    # Killed mid-round: the round is running and holds no assignment at all.
    round_id, job_id = _start_round_and_kill(url, port, token)
    assert _stored(url, round_id, job_id) == ("running", "running", 0)

    # Restarted with the default recovery: the round is run again from its stored inputs.
    with server(url, port), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                         headers={"Authorization": f"Bearer {token}"}) as client:
        job = wait_for_job(client, job_id)
        assert job["status"] == "succeeded"
        assert job["attempts"] == 2
        assert "resumed" in str(job["recovery"])
        assert client.get(f"/v1/rounds/{round_id}").json()["status"] == "succeeded"
        assert client.get(f"/v1/rounds/{round_id}/assignments").json()["total"] == 4
    assert _stored(url, round_id, job_id) == ("succeeded", "succeeded", 4)

    # Killed again, restarted with PLATSA_JOB_RECOVERY=fail: failed, with the reason, still no pairs.
    round_id, job_id = _start_round_and_kill(url, port, token)
    with server(url, port, PLATSA_JOB_RECOVERY="fail"), httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=30,
            headers={"Authorization": f"Bearer {token}"}) as client:
        # At once on SQLite (the server takes up unfinished jobs on start); on PostgreSQL once the
        # killed server's worker has been silent for PLATSA_QUEUE_STALLED_S.
        assert wait_for_job(client, job_id)["status"] == "failed"
        rnd = client.get(f"/v1/rounds/{round_id}").json()
        assert rnd["status"] == "failed"
        assert "interrupted by a restart" in rnd["error"]
        assert rnd["job"]["recovery"] == rnd["error"]
    assert _stored(url, round_id, job_id) == ("failed", "failed", 0)
