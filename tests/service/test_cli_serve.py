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
