"""``platsa serve`` runs uvicorn with httptools and uvloop, which ``uvicorn[standard]`` brings.

uvicorn falls back to its pure-Python h11 parser on asyncio without a word when they do not
import; the benchmark (``benchmarks/README.md``, "HTTP service") measures the difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.cli import EXIT_OK, main
from tests.service.conftest import free_port, serve_process


def test_serve_lets_uvicorn_pick_its_fastest_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("PLATSA_DATABASE_URL", f"sqlite:///{tmp_path / 'platsa.db'}")
    assert main(["serve", "--port", "8123"]) == EXIT_OK
    (kwargs,) = calls
    assert kwargs["loop"] == "auto" and kwargs["http"] == "auto"
    assert kwargs["port"] == 8123 and kwargs["access_log"] is False


def test_auto_picks_httptools() -> None:
    from uvicorn.config import Config

    config = Config(lambda *_args: None, http="auto", loop="auto")
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="reads /proc/<pid>/maps")
def test_a_running_server_is_served_by_httptools_on_uvloop(tmp_path: Path) -> None:
    with serve_process(f"sqlite:///{tmp_path / 'platsa.db'}", free_port()) as process:
        # The extension modules the serving process has loaded, as bench_service.py reads them.
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        assert "/httptools/" in maps
        assert "/uvloop/" in maps


def test_several_processes_or_workers_are_refused_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """On SQLite one process serves and runs rounds (docs/deploy.md): the other shapes say why not."""
    import uvicorn

    from service.cli import EXIT_USAGE

    monkeypatch.setattr(uvicorn, "run", lambda *_a, **_k: pytest.fail("nothing may be served"))
    monkeypatch.setenv("PLATSA_DATABASE_URL", f"sqlite:///{tmp_path / 'platsa.db'}")
    assert main(["serve", "--workers", "2"]) == EXIT_USAGE
    assert "--workers needs PostgreSQL" in capsys.readouterr().err
    assert main(["worker"]) == EXIT_USAGE
    assert "workers need PostgreSQL" in capsys.readouterr().err
    monkeypatch.setenv("PLATSA_ROUNDS", "workers")
    assert main(["serve"]) == EXIT_USAGE
    assert "PLATSA_ROUNDS=workers needs PostgreSQL" in capsys.readouterr().err


def test_a_worker_priority_outside_nice_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from service.cli import EXIT_USAGE

    monkeypatch.setenv("PLATSA_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    for nice in ("20", "-1"):
        assert main(["worker", "--nice", nice]) == EXIT_USAGE
        assert f"--nice must be from 0 to 19, not {nice}" in capsys.readouterr().err


def test_serve_workers_runs_uvicorns_processes_from_the_app_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from tests.service.conftest import drop_postgres_schema, postgres_url_or_skip

    url = postgres_url_or_skip()
    try:
        calls: list[tuple[Any, dict[str, Any]]] = []
        monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
        monkeypatch.setenv("PLATSA_DATABASE_URL", url)
        assert main(["serve", "--workers", "3"]) == EXIT_OK
        ((app, kwargs),) = calls
        # The factory of serve's process setup (the collector, the signals), around create_app.
        assert app == "service.cli.serve:app_factory" and kwargs["factory"] is True and kwargs["workers"] == 3
    finally:
        drop_postgres_schema(url)
