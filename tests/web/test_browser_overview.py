"""The region overview in a real browser (Debian's chromium): a coordinator's start page, read by
eye and by keyboard, with axe-core's check; other roles cannot open it by URL."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from service.auth import Role
from tests.web.conftest import LiveServer

pytestmark = pytest.mark.timeout(120)


def test_a_coordinator_starts_on_the_overview(page: Page, live_server: LiveServer,
                                              browser_sign_in: Callable[..., str],
                                              assert_accessible: Callable[[Page], None]) -> None:
    browser_sign_in(page, live_server, Role.COORDINATOR)
    page.goto(live_server.url + "/")
    expect(page).to_have_url(live_server.url + "/overview")
    expect(page.get_by_role("heading", level=1)).to_have_text("Regionöversikt")
    tile_map = page.get_by_role("img", name="Stadsdelarna som rutor, norr uppåt")
    expect(tile_map).to_be_visible()
    expect(tile_map.locator("g.tile")).to_have_count(page.locator("#districts-table tbody tr").count())
    expect(page.locator("#districts-table")).to_contain_text("Angered")
    expect(page.locator("#procurements-table tbody tr").first).to_be_visible()
    assert_accessible(page)
    # By keyboard: the first procurement's link takes the focus, visibly.
    link = page.locator("#procurements-table tbody a").first
    for _ in range(60):
        page.keyboard.press("Tab")
        if link.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("the procurements' first link never took the focus by Tab")
    outline = link.evaluate("el => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth")
    assert not outline.startswith("none"), outline
    page.goto(live_server.url + "/overview?lang=en")
    expect(page.get_by_role("heading", level=2, name="Districts against the distribution key")).to_be_visible()
    assert_accessible(page)
    page.goto(live_server.url + "/overview?lang=sv")


def test_a_labour_market_unit_cannot_open_it(page: Page, live_server: LiveServer,
                                             browser_sign_in: Callable[..., str]) -> None:
    browser_sign_in(page, live_server, Role.LABOUR_MARKET_UNIT)
    answer = page.goto(live_server.url + "/overview")
    assert answer is not None and answer.status == 403
    expect(page.locator("body")).not_to_contain_text(re.compile("Stadsdelar mot fördelningsnyckeln"))
