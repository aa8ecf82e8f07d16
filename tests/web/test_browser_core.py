"""The shared pages in a real browser (Debian's chromium): signing in and out, errors, lockout,
language, keyboard focus, accessibility, the accounts page and the API documentation offline."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from service.auth import Role
from tests.web.conftest import PASSWORD, LiveServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def console_errors(page: Page) -> list[str]:
    """Errors the page logs (a refused script or style shows here as a CSP violation), except the
    browser's note of an answer's 4xx status (a page that refuses input says so in its text)."""
    errors: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    page.on("console", seen)
    return errors


def test_sign_in_and_out(page: Page, live_server: LiveServer, browser_sign_in: Callable[..., str],
                         assert_accessible: Callable[[Page], None], console_errors: list[str]) -> None:
    page.goto(live_server.url + "/start")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fstart$"))
    assert_accessible(page)
    username = browser_sign_in(page, live_server, Role.RESEARCHER)
    expect(page).to_have_url(live_server.url + "/start")
    expect(page.get_by_role("heading", level=1)).to_have_text("Start")
    expect(page.locator(".who")).to_contain_text(username)
    expect(page.get_by_role("table")).to_contain_text("Angered")
    assert_accessible(page)
    page.get_by_role("button", name="Logga ut").click()
    expect(page).to_have_url(live_server.url + "/sign-in")
    page.goto(live_server.url + "/start")
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    assert console_errors == []


def test_wrong_password_says_so_and_keeps_the_username(page: Page, live_server: LiveServer,
                                                       assert_accessible: Callable[[Page], None]) -> None:
    username, _ = live_server.account(Role.COORDINATOR)
    page.goto(live_server.url + "/sign-in")
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill("not the password")
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("alert")).to_contain_text("Fel användarnamn eller lösenord.")
    expect(page.get_by_label("Användarnamn")).to_have_value(username)
    expect(page.get_by_label("Lösenord")).to_have_value("")
    assert_accessible(page)


def test_lockout_is_explained(page: Page, live_server: LiveServer) -> None:
    username, password = live_server.account(Role.COORDINATOR)
    page.goto(live_server.url + "/sign-in")
    for _ in range(5):
        page.get_by_label("Användarnamn").fill(username)
        page.get_by_label("Lösenord").fill("not the password")
        page.get_by_role("button", name="Logga in").click()
        page.wait_for_load_state()
    expect(page.get_by_role("alert")).to_contain_text("För många misslyckade inloggningar. Försök igen om 15 min")
    page.get_by_label("Lösenord").fill(password)  # the right password waits too
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("alert")).to_contain_text("För många misslyckade inloggningar")


def test_language_switch(page: Page, live_server: LiveServer, browser_sign_in: Callable[..., str]) -> None:
    browser_sign_in(page, live_server, Role.RESEARCHER)
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.goto(live_server.url + "/start")  # kept for the next page
    expect(page.get_by_role("heading", name="Candidates per district and priority group")).to_be_visible()
    page.get_by_role("link", name="Svenska").click()
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.get_by_role("button", name="Logga ut")).to_be_visible()


def _focus_ring(page: Page) -> dict[str, Any]:
    return page.evaluate("""() => {
        const el = document.activeElement, style = getComputedStyle(el), box = el.getBoundingClientRect();
        return {tag: el.tagName, text: el.textContent.trim(), style: style.outlineStyle,
                width: parseFloat(style.outlineWidth), top: box.top, visible: box.width > 0 && box.height > 0};
    }""")


def test_keyboard_focus_is_visible_and_the_skip_link_comes_first(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/sign-in")
    page.keyboard.press("Tab")
    ring = _focus_ring(page)
    assert ring["text"] == "Hoppa till innehållet" and ring["top"] >= 0 and ring["visible"], ring
    assert ring["style"] != "none" and ring["width"] >= 2, ring
    page.keyboard.press("Enter")
    assert urlparse(page.url).fragment == "main"
    seen = []
    for _ in range(10):  # every control the keyboard reaches, in order from the main part, shows where it is
        page.keyboard.press("Tab")
        ring = _focus_ring(page)
        if ring["tag"] == "BODY":  # past the last control
            break
        seen.append(ring["tag"])
        assert ring["style"] != "none" and ring["width"] >= 2, ring
    assert seen[:3] == ["INPUT", "INPUT", "BUTTON"], seen  # the form comes first after the skip link


def test_admin_creates_and_disables_an_account(page: Page, live_server: LiveServer,
                                               browser_sign_in: Callable[..., str],
                                               assert_accessible: Callable[[Page], None],
                                               console_errors: list[str]) -> None:
    browser_sign_in(page, live_server, Role.ADMIN)
    page.goto(live_server.url + "/admin/accounts")
    assert_accessible(page)
    page.get_by_label("Användarnamn").fill("x")
    page.get_by_label("Lösenord").fill("short-but-not-checked-here")
    page.get_by_label("Roll").select_option("labour_market_unit")
    page.get_by_role("button", name="Skapa konto").click()
    expect(page.get_by_role("alert")).to_contain_text("username 'x' is not allowed")
    expect(page.get_by_role("alert")).to_contain_text("a labour_market_unit account needs a district")
    assert_accessible(page)
    page.get_by_label("Användarnamn").fill("eva.recruiter")
    page.get_by_label("Lösenord").fill("a long enough password")
    page.get_by_label("Roll").select_option("labour_market_unit")
    page.get_by_label("Stadsdel (id)").fill("angered")
    page.get_by_role("button", name="Skapa konto").click()
    expect(page.get_by_role("status")).to_have_text("Kontot eva.recruiter skapades.")
    row = page.get_by_role("row").filter(has_text="eva.recruiter")
    expect(row).to_contain_text("arbetsmarknadsenhet")
    row.get_by_role("button", name="Stäng av kontot eva.recruiter").click()
    expect(page.get_by_role("status")).to_contain_text("Kontot eva.recruiter stängdes av")
    expect(page.get_by_role("row").filter(has_text="eva.recruiter")).to_contain_text("avstängt")
    assert console_errors == []


def test_other_roles_get_the_403_page(page: Page, live_server: LiveServer, browser_sign_in: Callable[..., str],
                                      assert_accessible: Callable[[Page], None]) -> None:
    browser_sign_in(page, live_server, Role.SUPPLIER)
    answer = page.goto(live_server.url + "/admin/accounts")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Ingen behörighet")
    assert_accessible(page)


@pytest.mark.parametrize(("path", "ready"), [("/docs", ".swagger-ui .opblock"), ("/redoc", ".api-content h2")])
def test_api_documentation_renders_offline(page: Page, live_server: LiveServer, path: str, ready: str,
                                           assert_accessible: Callable[[Page], None]) -> None:
    """Every request to another host is refused, as on a municipal network without internet; the
    documentation passes the pages' accessibility check (with an operation opened, on /docs)."""
    local = urlparse(live_server.url).netloc
    refused: list[str] = []

    def only_local(route: Any) -> None:
        if urlparse(route.request.url).netloc == local or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(live_server.url + path)
    page.wait_for_selector(ready, timeout=60_000)
    assert page.locator(ready).count() > 0
    assert refused == []
    page.wait_for_timeout(300)  # ReDoc's menu and samples settle after the first heading
    assert_accessible(page)
    if path == "/docs":
        page.locator(".opblock-summary-control").first.click()
        page.wait_for_selector(".opblock-body")
        assert_accessible(page)


def test_the_accessibility_check_finds_what_it_should(page: Page, assert_accessible: Callable[[Page], None]) -> None:
    page.set_content('<html><body><main><img src="data:,"><input type="text"></main></body></html>')
    with pytest.raises(AssertionError) as caught:
        assert_accessible(page)
    assert '"id": "image-alt"' in str(caught.value) and '"id": "html-has-lang"' in str(caught.value)


def test_an_address_with_no_page_gets_the_404_page(page: Page, live_server: LiveServer,
                                                   browser_sign_in: Callable[..., str],
                                                   assert_accessible: Callable[[Page], None]) -> None:
    browser_sign_in(page, live_server, Role.RESEARCHER)
    answer = page.goto(live_server.url + "/no-such-page")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Sidan finns inte")
    expect(page.get_by_role("button", name="Logga ut")).to_be_visible()  # still signed in, menu and all
    assert_accessible(page)


def test_a_form_sent_after_the_session_ended_comes_back_to_its_page(page: Page, live_server: LiveServer,
                                                                   browser_sign_in: Callable[..., str]) -> None:
    username = browser_sign_in(page, live_server, Role.ADMIN)
    page.goto(live_server.url + "/admin/accounts")
    page.context.clear_cookies()  # as when the session has expired: the form still shows
    page.get_by_role("button", name="Logga ut").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fadmin%2Faccounts$"))
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page).to_have_url(live_server.url + "/admin/accounts")
