"""A coordinator's allocation round in a real browser (Debian's chromium): start a round, watch it
finish, pin a pair, re-run, compare, publish; axe-core on every page visited."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from service.auth import Role
from tests.web.conftest import LiveServer

pytestmark = pytest.mark.timeout(180)
ROUND_PAGE = re.compile(r"/rounds/(r-[0-9a-f]+)$")


def finished(page: Page) -> str:
    """Wait on a round's page until its result shows (htmx reloads it when the job ends); its id."""
    expect(page.get_by_role("heading", name="Resultat")).to_be_visible(timeout=90_000)
    found = ROUND_PAGE.search(page.url)
    assert found is not None, page.url
    return found.group(1)


def test_a_coordinator_runs_pins_reruns_compares_and_publishes(
        page: Page, live_server: LiveServer, browser_sign_in: Callable[..., str],
        assert_accessible: Callable[[Page], None]) -> None:
    errors: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    page.on("console", seen)
    browser_sign_in(page, live_server, Role.COORDINATOR)
    page.goto(live_server.url + "/rounds")
    expect(page.get_by_role("heading", level=1)).to_have_text("Fördelningsomgångar")
    assert_accessible(page)

    # Start a round with the keys and floors on; its page follows the job until it is done.
    expect(page.get_by_label("Håll varje stadsdel inom fördelningsnyckeln")).to_be_checked()
    page.get_by_role("button", name="Starta omgången").click()
    expect(page).to_have_url(ROUND_PAGE)
    assert_accessible(page)  # the progress box, or the review if it was quicker than the page
    first = finished(page)
    expect(page.get_by_role("table", name="Stadsdelar mot fördelningsnycklar")).to_contain_text("Angered")
    expect(page.get_by_role("table", name="Målgrupper mot lägsta andelar")).to_contain_text("Unga")
    assert_accessible(page)

    # Pin the first assignment and re-run.
    page.get_by_role("link", name=re.compile(r"^Se de \d+ tilldelningarna$")).click()
    assert_accessible(page)
    pin = page.locator('input[name="pins"]').first
    pair = pin.get_attribute("value")
    assert pair is not None
    pin.check()
    page.get_by_role("button", name="Kör om omgången").click()
    second = finished(page)
    assert second != first
    expect(page.locator("dl.facts").first).to_contain_text(pair.replace(":", " → "))
    assert_accessible(page)

    # Compare the re-run with the first round.
    page.get_by_role("navigation", name="Omgångens sidor").get_by_role("link", name="Jämför med en annan omgång").click()
    page.get_by_label("Jämför med omgång").select_option(first)
    page.get_by_role("button", name="Jämför").click()
    expect(page.get_by_role("heading", name="Vem som flyttade")).to_be_visible()
    expect(page.get_by_role("table", name="Placerade per stadsdel")).to_contain_text("Angered")
    assert_accessible(page)

    # Publish: the conflicts (if the region has moved) come first, then the confirm step.
    page.get_by_role("navigation", name="Omgångens sidor").get_by_role("link", name="Publicera").click()
    assert_accessible(page)
    page.get_by_role("button", name="Kontrollera konflikter").click()
    expect(page.get_by_role("heading", name="Konflikter")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Hoppa över tilldelningar med konflikt och publicera resten").check()
    page.get_by_role("button", name=re.compile(r"^Publicera \d+ förslag$")).click()
    expect(page).to_have_url(re.compile(rf"/rounds/{second}\?published=\d+&skipped=\d+$"))
    expect(page.get_by_role("status")).to_contain_text("Omgången är publicerad")
    assert_accessible(page)
    assert errors == []


def test_without_javascript_the_round_page_still_works(browser: object, live_server: LiveServer) -> None:
    """With scripts off the progress box reloads the page by itself and every form still posts (axe
    needs scripts: the same pages pass it in the test above)."""
    context = browser.new_context(java_script_enabled=False, locale="sv-SE")  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        username, password = live_server.account(Role.COORDINATOR)
        page.goto(live_server.url + "/sign-in")
        page.get_by_label("Användarnamn").fill(username)
        page.get_by_label("Lösenord").fill(password)
        page.get_by_role("button", name="Logga in").click()
        page.goto(live_server.url + "/rounds")
        page.get_by_label("Bästa sammanlagda matchning").check()
        page.get_by_role("button", name="Starta omgången").click()
        expect(page).to_have_url(ROUND_PAGE)
        finished(page)  # the <noscript> refresh brought the review
        expect(page.get_by_role("table", name="Stadsdelar mot fördelningsnycklar")).to_contain_text("Angered")
        page.get_by_role("link", name=re.compile(r"^Se de \d+ som inte fick någon plats")).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Ej tilldelade")
    finally:
        context.close()
