"""Screenshots of the main pages, as ``docs/pages.md`` shows them.

Serves the demo region (``service.demo``, as ``platsa serve --demo`` does) on a free port of
127.0.0.1 from a temporary SQLite database, makes one account per role in :data:`SHOTS`, signs each
in with Debian's chromium (``/usr/bin/chromium``, through Playwright; never a downloaded browser)
and saves each page of :data:`SHOTS` as ``docs/screenshots/<name>.png`` (1280 px wide, the whole
page). Each area adds its pages' lines to :data:`SHOTS`.

Run::

    python docs/screenshots/make_screenshots.py
    python docs/screenshots/make_screenshots.py --only sign-in accounts
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from service import accounts  # noqa: E402
from service.app import create_app  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import make_engine, migrate  # noqa: E402
from service.db.engine import writer  # noqa: E402
from service.demo import load_demo  # noqa: E402

#: Started on /rounds (the default form) and shot once its review shows.
NEW_ROUND = "<a new round>"

#: (file name, role signed in or None, path, language).
SHOTS: list[tuple[str, str | None, str, str]] = [
    ("sign-in", None, "/sign-in", "sv"),
    ("start-researcher", "researcher", "/start", "sv"),
    ("accounts", "admin", "/admin/accounts", "sv"),
    ("accounts-en", "admin", "/admin/accounts", "en"),
    ("overview", "coordinator", "/overview", "sv"),
    ("places", "labour_market_unit", "/places?open=1", "sv"),
    ("place", "coordinator", "/places/P000010?why=C0000001", "sv"),
    ("place-en", "coordinator", "/places/P000010", "en"),
    ("candidate", "coordinator", "/candidates/C0000608", "sv"),
    ("rounds", "coordinator", "/rounds", "sv"),
    ("round", "coordinator", NEW_ROUND, "sv"),
    ("followup", "orderer", "/followup", "sv"),
]

PASSWORD = "screenshot password, long enough"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(folder: Path, roles: set[str]) -> tuple[uvicorn.Server, threading.Thread, str]:
    url = f"sqlite:///{folder / 'platsa.db'}"
    db = make_engine(url)
    migrate(db)
    load_demo(db)
    with writer(db).begin() as conn:
        for role in sorted(roles):
            district = "angered" if role == "labour_market_unit" else None
            accounts.create_account(conn, username=f"demo-{role.replace('_', '-')}", password=PASSWORD,
                                    role=role, district_id=district,
                                    display_name=f"Demo {role.replace('_', ' ')}")
    db.dispose()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(database_url=url, shortlist_warm=False)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit("the server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="names of SHOTS to take (default: all)")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    shots = [s for s in SHOTS if not args.only or s[0] in args.only]
    with tempfile.TemporaryDirectory(prefix="platsa-screenshots-") as folder:
        server, thread, base = serve(Path(folder), {role for _, role, _, _ in shots if role})
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                for name, role, path, lang in shots:
                    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="sv-SE")
                    page = context.new_page()
                    if role:
                        page.goto(base + "/sign-in")
                        page.fill("#username", f"demo-{role.replace('_', '-')}")
                        page.fill("#password", PASSWORD)
                        page.click("button[type=submit].primary")
                        page.wait_for_load_state()
                    if path == NEW_ROUND:
                        page.goto(f"{base}/rounds?lang={lang}")
                        page.click("form.round-form button.primary")
                        page.wait_for_selector("#result-heading", timeout=120_000)
                    else:
                        page.goto(f"{base}{path}{'&' if '?' in path else '?'}lang={lang}")
                    page.wait_for_load_state("networkidle")
                    target = args.out / f"{name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}: {path}")
                    context.close()
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
