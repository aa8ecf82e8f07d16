"""Issue 14, defect 8: rate limiting on failed authentication, security headers, TRACE, file modes,
logging without parameters or secrets.

The audit: no rate limiting or lockout (777 wrong keys/s, a legitimate key's p99 1.3 → 35.6 ms);
no ``Cache-Control: no-store`` on personal data, no ``X-Content-Type-Options``; the SQLite file
created world-readable; SQL errors logged with bound parameters. The latency figures are measured by
``benchmarks/bench_auth_flood.py`` (``benchmarks/README.md``).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from service.auth import create_key
from service.db import make_engine, migrate
from service.gate import FailureLimiter
from tests.service.conftest import Api, ThreadServer, add_keys, free_port, new_database
from tests.service.integration_support import integration_settings

LIMIT = 5


class Served:
    def __init__(self, server: ThreadServer, base_url: str, tokens: dict[str, str]) -> None:
        self.server, self.base_url, self.tokens = server, base_url, tokens
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def get(self, path: str, token: str | None, address: str) -> httpx.Response:
        # uvicorn takes the client address from X-Forwarded-For sent by 127.0.0.1 (a reverse proxy).
        headers = {"X-Forwarded-For": address, **({"Authorization": f"Bearer {token}"} if token else {})}
        return self.http.get(path, headers=headers)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, database_urls: dict[str, str]) -> Iterator[Served]:
    url = new_database("sqlite", tmp_path_factory, database_urls, "hardening")
    tokens = add_keys(url)
    # A key stays cached for the whole test (a key in steady use is renewed in the background).
    settings = integration_settings(url, auth_failure_limit=LIMIT, auth_failure_window_s=60, key_cache_ttl_s=600)
    server = ThreadServer(settings)
    with server:
        yield Served(server, f"http://127.0.0.1:{settings.port}", tokens)


def test_failed_authentications_are_limited_per_address(served: Served) -> None:
    attacker, bystander = "203.0.113.7", "198.51.100.20"
    assert served.get("/v1/districts", served.tokens["coordinator"], attacker).status_code == 200  # cached now
    keys = served.server.server.config.app.state.platsa.keys
    for i in range(LIMIT):
        assert served.get("/v1/districts", f"platsa_wrong-{i}", attacker).status_code == 401
    looked_up: list[str] = []
    check = keys.check

    async def counting_check(db: sa.Engine, token: str) -> object:
        looked_up.append(token)
        return await check(db, token)

    keys.check = counting_check
    try:
        for i in range(20):
            held = served.get("/v1/districts", f"platsa_wrong-more-{i}", attacker)
            assert held.status_code == 429, held.text
            assert held.headers["content-type"] == "application/problem+json"
            assert 1 <= int(held.headers["Retry-After"]) <= 60
        assert served.get("/v1/districts", None, attacker).status_code == 429
    finally:
        del keys.check
    assert looked_up == []  # held up before the key was looked up: a flood costs no query
    # A key the server checked lately still passes from that address; other addresses are not held up.
    assert served.get("/v1/districts", served.tokens["coordinator"], attacker).status_code == 200
    assert served.get("/v1/districts", "platsa_wrong-x", bystander).status_code == 401


def test_a_presented_key_is_limited_from_any_address(served: Served) -> None:
    for i in range(LIMIT):
        assert served.get("/v1/districts", "platsa_revoked-key", f"192.0.2.{i + 1}").status_code == 401
    assert served.get("/v1/districts", "platsa_revoked-key", "192.0.2.100").status_code == 429


def test_the_limiter_forgets_after_the_window() -> None:
    limiter = FailureLimiter(limit=3, window_s=10, max_tracked=2)
    for t in (0.0, 1.0, 2.0):
        limiter.failed(["address:a"], t)
    assert limiter.retry_after(["address:a"], 3.0) == 7
    assert limiter.retry_after(["address:a"], 10.5) is None  # the first failure left the window
    limiter.failed(["address:b"], 11.0)
    limiter.failed(["address:c"], 11.0)  # memory bounded: the oldest name is forgotten
    assert len(limiter._failures) <= 2


HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY"}


def test_every_answer_carries_the_security_headers(api: Api) -> None:
    with api.client("coordinator") as coordinator, httpx.Client(base_url=api.base_url, timeout=30) as anonymous:
        answers = {
            "/health": anonymous.get("/health"), "/openapi.json": anonymous.get("/openapi.json"),
            "/docs": anonymous.get("/docs"), "401": anonymous.get("/v1/candidates"),
            "/v1/candidates": coordinator.get("/v1/candidates"), "404": coordinator.get("/v1/candidates/nobody"),
            "422": coordinator.get("/v1/candidates?limit=0"), "shortlist": coordinator.get("/v1/places/pl1/shortlist"),
            "xlsx": coordinator.get("/v1/reports/follow-up.xlsx"), "no route": anonymous.get("/nowhere"),
        }
    for name, answer in answers.items():
        for header, value in HEADERS.items():
            assert answer.headers.get(header) == value, (name, header, answer.headers)
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], name
        if name != "/docs":
            assert answer.headers["content-security-policy"].startswith("default-src 'none'"), name
    for name in ("401", "/v1/candidates", "404", "422", "shortlist", "xlsx"):
        assert answers[name].headers["cache-control"] == "no-store", name


def test_trace_is_405_with_allow(api: Api) -> None:
    with api.client("coordinator") as coordinator:
        for path, allowed in (("/v1/candidates", {"GET", "POST"}), ("/health", {"GET"}),
                              ("/v1/candidates/c1", {"GET", "PATCH"})):
            answer = coordinator.request("TRACE", path)
            assert answer.status_code == 405, (path, answer.text)
            assert allowed <= {m.strip() for m in answer.headers["allow"].split(",")}, answer.headers
            assert answer.headers["content-type"] == "application/problem+json"


def test_the_sqlite_file_and_its_journal_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "platsa.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        with engine.begin() as conn:
            create_key(conn, role="admin", name="x")
            files = [p for p in tmp_path.iterdir() if p.name.startswith("platsa.db")]
            assert {p.name for p in files} >= {"platsa.db", "platsa.db-wal", "platsa.db-shm"}
            for file in files:
                assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        engine.dispose()
        loose = tmp_path / "loose.db"
        loose.touch(mode=0o644)
        loose.chmod(0o644)
        make_engine(f"sqlite:///{loose}").dispose()
        assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_sql_errors_carry_no_parameters(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with pytest.raises(sa.exc.OperationalError) as caught, engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM nowhere WHERE personnummer = :p"), {"p": "19121212-1212"})
    assert "19121212-1212" not in str(caught.value)
    engine.dispose()


def test_no_key_or_secret_in_any_log_line(tmp_path_factory: pytest.TempPathFactory,
                                          database_urls: dict[str, str],
                                          caplog: pytest.LogCaptureFixture) -> None:
    url = new_database("sqlite", tmp_path_factory, database_urls, "log-lines")
    tokens = add_keys(url)
    caplog.set_level(logging.DEBUG)
    settings = integration_settings(url, port=free_port())
    with ThreadServer(settings):
        base = f"http://127.0.0.1:{settings.port}"
        headers = {"Authorization": f"Bearer {tokens['supplier_s1']}"}
        created = httpx.post(base + "/v1/supplier/webhooks", json={"url": "http://127.0.0.1:9/hook"},
                             headers=headers, timeout=30)
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        httpx.post(base + f"/v1/supplier/webhooks/{created.json()['endpoint_id']}/rotate-secret", json={},
                   headers=headers, timeout=30)
        httpx.get(base + "/v1/districts", headers={"Authorization": "Bearer platsa_wrong-key-in-log"}, timeout=30)
        httpx.post(base + "/v1/candidates", content=b"{", headers={**headers, "Content-Type": "application/json"},
                   timeout=30)
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records  # the server did log
    for token in [*tokens.values(), secret, "platsa_wrong-key-in-log", "whsec_"]:
        assert token not in text, token
