"""The app's background workers start in one place and stop in reverse (``service/background.py``).

A server that imported a region (a rebuild, the shortlist cache warming, the suppliers' profiles,
the follow-up warm-up), answered shortlists and ran a round leaves no thread behind once it is
stopped, on both databases; ``GET /ready`` answers 503 ("shutting down") from the moment a
shutdown begins, including in a ``platsa serve`` process between SIGTERM and the port closing.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.background import Background
from service.config import Settings
from service.state import ServiceState
from tests.service.conftest import (
    TEST_ENGINE,
    Api,
    ThreadServer,
    add_keys,
    free_port,
    new_database,
    region_zip,
    serve_process,
    wait_for_job,
)

ZIP = {"Content-Type": "application/zip"}


class Part:
    """A worker that writes down when it starts and stops (and fails to start, if told to)."""

    def __init__(self, name: str, log: list[str], *, fails: bool = False) -> None:
        self.name, self.log, self.fails = name, log, fails

    def start(self) -> None:
        if self.fails:
            raise RuntimeError(f"{self.name} does not start")
        self.log.append(f"start {self.name}")

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")


def test_workers_start_in_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    background = Background()
    for name in ("a", "b", "c"):
        background.add(name, Part(name, log))
    background.start()
    assert not background.stopping.is_set()
    background.stop()
    assert log == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    assert background.stopping.is_set()


def test_a_worker_that_does_not_start_stops_those_started_before_it() -> None:
    log: list[str] = []
    background = Background()
    background.add("a", Part("a", log))
    background.add("b", Part("b", log, fails=True))
    background.add("c", Part("c", log))
    with pytest.raises(RuntimeError, match="b does not start"):
        background.start()
    assert log == ["start a", "stop a"]


def test_the_apps_lifespan_starts_every_worker_in_one_order(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/platsa.db", engine=TEST_ENGINE)
    with TestClient(create_app(settings)) as client:
        state: ServiceState = client.app.state.platsa  # type: ignore[attr-defined]
        assert state.background is not None
        assert state.background.names == ["audit", "snapshots", "rounds", "retention", "deliveries"]


def _threads_after(backend: str, tmp_path_factory: pytest.TempPathFactory, urls: dict[str, str]) -> set[str]:
    """Run a server through a region import, shortlists and a round; the threads left once it stopped."""
    url = new_database(backend, tmp_path_factory, urls, "background")
    tokens = add_keys(url)
    before = set(threading.enumerate())
    # Every part that starts threads: the cache warming, the follow-up warm-up, retention sweeps.
    settings = Settings(database_url=url, port=free_port(), engine=TEST_ENGINE, followup_warm=True,
                        shortlist_warm=True, retention_interval_s=0.2)
    with ThreadServer(settings) as server:
        api = Api(backend, f"http://127.0.0.1:{settings.port}", url, tokens)
        with api.client("admin") as admin:
            assert admin.post("/v1/region/import", content=region_zip(), headers=ZIP).status_code == 201
        with api.client("coordinator") as coordinator:
            assert coordinator.get("/v1/places/pl1/shortlist").status_code == 200
            started = coordinator.post("/v1/rounds", json={})
            assert started.status_code == 202, started.text
            assert wait_for_job(coordinator, started.json()["job"]["job_id"])["status"] == "succeeded"
        state: ServiceState = server.server.config.app.state.platsa  # type: ignore[union-attr]
        during = {t.name for t in set(threading.enumerate()) - before}
        assert {"platsa-audit", "platsa-changes", "platsa-retention", "platsa-deliveries"} <= during
        assert state.background is not None and not state.background.stopping.is_set()
    assert state.background.stopping.is_set()
    # A thread may take a moment to end after it was told (the server loop's own AnyIO workers); a
    # rebuild loop left waiting, as before, lingered 5 s.
    deadline = time.monotonic() + 3
    while (left := set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    return {t.name for t in left}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_every_thread_the_server_started_is_gone_after_shutdown(
        backend: str, tmp_path_factory: pytest.TempPathFactory, database_urls: dict[str, str]) -> None:
    assert _threads_after(backend, tmp_path_factory, database_urls) == set()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/platsa.db", engine=TEST_ENGINE)
    with TestClient(create_app(settings)) as client:
        yield client


def test_ready_answers_503_once_the_shutdown_has_begun(client: TestClient) -> None:
    answer = client.get("/ready")
    assert answer.status_code == 200 and answer.json()["shutting_down"] is False
    state: ServiceState = client.app.state.platsa  # type: ignore[attr-defined]
    assert state.background is not None
    state.background.stopping.set()  # what a SIGTERM to `platsa serve`, or the lifespan's end, does
    answer = client.get("/ready")
    assert answer.status_code == 503
    body = answer.json()
    assert body["shutting_down"] is True and body["ready"] is False
    assert body["database"]["ready"] is True  # each part still says how it is


def test_serve_drains_after_sigterm_with_ready_answering_503(tmp_path: Path) -> None:
    port = free_port()
    with serve_process(f"sqlite:///{tmp_path}/platsa.db", port, PLATSA_SHUTDOWN_DRAIN_S="3",
                       PLATSA_ENGINE=TEST_ENGINE) as process:
        assert httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        draining = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5)
        assert draining.status_code == 503 and draining.json()["shutting_down"] is True
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200  # still serving
        process.wait(timeout=30)  # the drain, then uvicorn's own shutdown
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
