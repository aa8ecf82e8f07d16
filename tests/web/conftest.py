"""Fixtures for the page tests: an app with the demo region, accounts, and a browser.

- ``web``: an HTTP client (``fastapi.testclient.TestClient``) on a started app over the demo region
  (:mod:`service.demo`) on SQLite in a tmp folder, one per test module; cookies stay on the client.
- ``sign_in(client, role, district_id=None, supplier_id=None) -> username``: makes an account and
  signs ``client`` in through the sign-in form. A labour-market unit without a district gets the
  demo's first district, a supplier without a supplier the demo's first supplier.
- ``live_server``: a real server (uvicorn in a thread) on a free port over the demo region, one per
  session: ``.url`` and ``.account(role, district_id=None, supplier_id=None) -> (username, password)``.
- ``page``: a Playwright page in Debian's chromium (``/usr/bin/chromium``, never a downloaded
  browser); the browser tests are skipped where it is absent, unless ``CI`` is set (then they fail).
- ``browser_sign_in(page, live_server, role, ...) -> username`` and ``assert_accessible(page)``
  (vendored axe-core: fails listing every serious or critical violation).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from service import accounts
from service.app import create_app
from service.auth import Role
from service.config import Settings
from service.db import make_engine, migrate
from service.db.engine import writer
from service.db.tables import REGION_TABLES
from service.demo import load_demo
from tests.service.conftest import free_port

#: Every test account's password.
PASSWORD = "correct horse battery staple"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"

_serial = itertools.count(1)


def demo_settings(folder: Path, **overrides: Any) -> Settings:
    """Settings for an app over a new demo database in ``folder`` (the demo region imported)."""
    url = f"sqlite:///{folder / 'platsa.db'}"
    db = make_engine(url)
    migrate(db)
    load_demo(db)
    db.dispose()
    return Settings(database_url=url, shortlist_warm=False, **overrides)


def first_id(db: sa.Engine, table: str, column: str) -> str:
    t = REGION_TABLES[table]
    with db.connect() as conn:
        return str(conn.execute(sa.select(t.c[column]).order_by(t.c[column]).limit(1)).scalar_one())


def make_account(db: sa.Engine, role: Role | str, district_id: str | None = None,
                 supplier_id: str | None = None, username: str | None = None,
                 password: str = PASSWORD) -> str:
    """Create an account on ``db`` (a lone labour-market unit or supplier gets the demo's first
    district or supplier); returns its username."""
    role = Role(role)
    if role == Role.LABOUR_MARKET_UNIT and district_id is None:
        district_id = first_id(db, "districts", "district_id")
    if role == Role.SUPPLIER and supplier_id is None:
        supplier_id = first_id(db, "suppliers", "supplier_id")
    username = username or f"{role.value.replace('_', '-')}-{next(_serial)}"
    with writer(db).begin() as conn:
        accounts.create_account(conn, username=username, password=password, role=role,
                                district_id=district_id, supplier_id=supplier_id)
    return username


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    found = _CSRF.search(html)
    assert found is not None, "no form with a CSRF token on the page"
    return found.group(1)


def form_token(client: TestClient, path: str = "/sign-in") -> str:
    """The CSRF token a form on ``path`` carries for ``client`` now."""
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    return csrf_token(answer.text)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = demo_settings(tmp_path_factory.mktemp("web"))
    with TestClient(create_app(settings)) as client:
        yield client


def app_db(client: TestClient) -> sa.Engine:
    """The writing engine of the app behind ``client``."""
    engine: sa.Engine = client.app.state.platsa.writer  # type: ignore[attr-defined]
    return engine


def sign_in_client(client: TestClient, username: str, password: str = PASSWORD) -> None:
    """Sign ``client`` in through the sign-in form (it keeps the session cookie)."""
    client.cookies.delete("platsa_session")
    answer = client.post("/sign-in", data={"username": username, "password": password,
                                           "csrf_token": form_token(client)}, follow_redirects=False)
    assert answer.status_code == 303, (answer.status_code, answer.text[:500])


@pytest.fixture
def sign_in() -> Callable[..., str]:
    def sign(client: TestClient, role: Role | str, district_id: str | None = None,
             supplier_id: str | None = None) -> str:
        username = make_account(app_db(client), role, district_id, supplier_id)
        sign_in_client(client, username)
        return username
    return sign


# --- a live server and a browser ------------------------------------------------------------------

@dataclass
class LiveServer:
    url: str
    db: sa.Engine
    made: list[str] = field(default_factory=list)

    def account(self, role: Role | str, district_id: str | None = None,
                supplier_id: str | None = None) -> tuple[str, str]:
        """A new account of ``role`` on the server: (username, password)."""
        username = make_account(self.db, role, district_id, supplier_id)
        self.made.append(username)
        return username, PASSWORD


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = demo_settings(tmp_path_factory.mktemp("live"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    db = make_engine(settings.sqlalchemy_url)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", writer(db))
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        db.dispose()


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it with apt")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch arguments: Debian's chromium, never a browser Playwright downloads."""
    _require_chromium()
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS,
            "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "locale": "sv-SE", "viewport": {"width": 1280, "height": 900}}


def _browser_sign_in(page: Any, server: LiveServer, role: Role | str, district_id: str | None = None,
                     supplier_id: str | None = None) -> str:
    username, password = server.account(role, district_id, supplier_id)
    page.goto(server.url + "/sign-in")
    page.get_by_label(re.compile("Användarnamn|Username")).fill(username)
    page.get_by_label(re.compile("Lösenord|Password")).fill(password)
    page.get_by_role("button", name=re.compile("^(Logga in|Sign in)$")).click()
    page.wait_for_load_state()
    assert "/sign-in" not in page.url, f"signing in as {username} failed: {page.url}"
    return username


@pytest.fixture
def browser_sign_in() -> Callable[..., str]:
    """``browser_sign_in(page, live_server, role, district_id=None, supplier_id=None) -> username``."""
    return _browser_sign_in


def _assert_accessible(page: Any) -> None:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated, not added as a <script>: the pages' CSP refuses inline scripts, as it should.
        page.evaluate("() => { " + AXE.read_text(encoding="utf-8") + "\n}")
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
    }""")
    assert result == [], f"accessibility violations on {page.url}:\n" + json.dumps(result, indent=2)


@pytest.fixture
def assert_accessible() -> Callable[[Any], None]:
    """``assert_accessible(page)``: axe-core on the page; fails listing each serious/critical violation."""
    return _assert_accessible
