"""The year's follow-up report is computed in the background after each new snapshot
(``PLATSA_FOLLOWUP_WARM``), once: a page asked for meanwhile waits for that computation, and a
change of the region warms the report of the new snapshot."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth import Role
from service.routes import reports
from tests.web.conftest import demo_settings, make_account, sign_in_client


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Each call of ``build_report``: (the thread's name, the id of the region it was given), each
    call taking a quarter second at least. (A write elsewhere may bring a new snapshot, warmed in
    turn: the tests count computations per region, not in all.)"""
    calls: list[tuple[str, int]] = []
    real = reports.build_report

    def slow(*args: Any, **kwargs: Any) -> Any:
        calls.append((threading.current_thread().name, id(args[0])))
        time.sleep(0.25)
        return real(*args, **kwargs)

    monkeypatch.setattr(reports, "build_report", slow)
    yield calls


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _cached(state: Any) -> bool:
    snapshot = state.snapshot
    return any(key[0] == id(state) and kept() is snapshot for key, (kept, _r) in reports._cache.items())


def test_the_report_is_ready_before_the_first_page(tmp_path: Path, counted: list[tuple[str, int]]) -> None:
    with TestClient(create_app(demo_settings(tmp_path))) as client:
        state = client.app.state.platsa  # type: ignore[attr-defined]
        _wait(lambda: _cached(state))
        assert {name for name, _region in counted} == {"platsa-warm-followup"}
        sign_in_client(client, make_account(state.writer, Role.COORDINATOR))
        assert client.get("/followup").status_code == 200
        # Answered from a warmed report: no request computed one.
        assert {name for name, _region in counted} == {"platsa-warm-followup"}, counted


def test_a_page_during_the_warm_up_waits_for_it(tmp_path: Path, counted: list[tuple[str, int]]) -> None:
    with TestClient(create_app(demo_settings(tmp_path))) as client:
        state = client.app.state.platsa  # type: ignore[attr-defined]
        sign_in_client(client, make_account(state.writer, Role.COORDINATOR))
        _wait(lambda: _cached(state))
        counted.clear()
        # A new snapshot starts a new warm-up; pages asked for at once share it.
        state.reload()
        answers: list[int] = []
        threads = [threading.Thread(target=lambda: answers.append(client.get("/followup").status_code))
                   for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [200, 200, 200]
        regions = [region for _name, region in counted]
        assert regions and len(regions) == len(set(regions)), counted  # one computation per snapshot


def test_off_computes_on_request(tmp_path: Path, counted: list[tuple[str, int]]) -> None:
    with TestClient(create_app(demo_settings(tmp_path, followup_warm=False))) as client:
        state = client.app.state.platsa  # type: ignore[attr-defined]
        time.sleep(0.5)
        assert counted == []
        sign_in_client(client, make_account(state.writer, Role.ORDERER))
        assert client.get("/followup").status_code == 200
        assert len(counted) == 1 and counted[0][0] != "platsa-warm-followup"
