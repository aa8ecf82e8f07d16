"""An orderer reads a requirement status in a real browser (Debian's chromium); axe-core on every
page visited."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from service.auth import Role
from tests.web.conftest import LiveServer

pytestmark = pytest.mark.timeout(120)


def test_an_orderer_reads_a_requirement_status(page: Page, live_server: LiveServer,
                                               browser_sign_in: Callable[..., str],
                                               assert_accessible: Callable[[Page], None]) -> None:
    browser_sign_in(page, live_server, Role.ORDERER)
    page.goto(live_server.url + "/")
    expect(page).to_have_url(live_server.url + "/followup")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Uppföljning \d{4}$"))
    requirements = page.get_by_role("table", name="Kravuppfyllelse per upphandling")
    expect(requirements).to_be_visible()
    expect(page.get_by_role("img", name="Upphandlingar per status")).to_be_visible()
    assert_accessible(page)
    link = requirements.get_by_role("link").first
    procurement = link.inner_text()
    link.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Upphandling {procurement}")
    expect(page.locator(".status-line")).to_contain_text("Kravet är")
    expect(page.get_by_role("heading", name="Underlag")).to_be_visible()
    assert_accessible(page)
    # An orderer's account cannot open the round pages (they name people), by URL either.
    page.goto(live_server.url + "/rounds")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("behörighet|Forbidden|Åtkomst", re.I))
    assert_accessible(page)


def test_a_coordinator_sees_the_year_with_charts_and_switches_to_english(
        page: Page, live_server: LiveServer, browser_sign_in: Callable[..., str],
        assert_accessible: Callable[[Page], None]) -> None:
    browser_sign_in(page, live_server, Role.COORDINATOR)
    page.goto(live_server.url + "/followup")
    expect(page.get_by_role("img", name="Andel av placerade per hemstadsdel mot fördelningsnyckeln")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="The yearly target")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Svenska").click()
