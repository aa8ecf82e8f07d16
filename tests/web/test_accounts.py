"""Personal accounts over HTTP: signing in and out, sessions, CSRF, roles, words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service import accounts
from service.auth import Role
from service.db.tables import audit_log, web_sessions
from service.web import pages
from tests.web.conftest import PASSWORD, app_db, csrf_token, form_token, make_account, sign_in_client


def test_every_word_has_both_languages_and_one_definition(tmp_path: Path) -> None:
    found = pages.load_words()
    assert all(set(pages.LANGUAGES) <= set(entry) for entry in found.values())
    (tmp_path / "a.toml").write_text('[hello]\nsv = "Hej"\nen = "Hello"\n[only_sv]\nsv = "Bara"\n')
    (tmp_path / "b.toml").write_text('[hello]\nsv = "Hej igen"\nen = "Hello again"\n')
    with pytest.raises(pages.WordsError) as caught:
        pages.load_words(tmp_path)
    assert caught.value.problems == ("a.toml: key 'only_sv' has no text for en",
                                     "b.toml: key 'hello' is defined in a.toml already")


def test_every_page_template_extends_base_and_fills_title_and_main() -> None:
    """A page extends base.html and fills its title and main; a partial (a macro file, an included
    piece, an htmx fragment) extends nothing and is no document of its own."""
    pages_seen = 0
    for template in pages.TEMPLATES.rglob("*.html"):
        if template.name == "base.html":
            continue
        text = template.read_text(encoding="utf-8")
        if "{% extends" in text:
            pages_seen += 1
            assert text.startswith('{% extends "base.html" %}'), template
            assert "{% block title %}" in text and "{% block main %}" in text, template
        else:
            assert "<html" not in text and "<body" not in text, f"{template}: a document outside base.html"
    assert pages_seen >= 6


def test_signed_out_person_is_sent_to_sign_in_and_back(web: TestClient) -> None:
    web.cookies.clear()
    answer = web.get("/", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in")
    answer = web.get("/admin/accounts?x=1", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in?next=%2Fadmin%2Faccounts%3Fx%3D1")
    page = web.get("/sign-in")
    assert page.status_code == 200
    assert '<html lang="sv">' in page.text and "Logga in" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "same-origin"
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_sign_in_sets_a_safe_cookie_and_goes_where_asked(web: TestClient) -> None:
    web.cookies.clear()
    username = make_account(app_db(web), Role.ADMIN)
    answer = web.post("/sign-in", data={"username": username, "password": PASSWORD, "next": "/admin/accounts",
                                        "csrf_token": form_token(web)}, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/admin/accounts")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("platsa_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; over https the cookie is Secure
    token = web.cookies["platsa_session"]
    with app_db(web).connect() as conn:  # only the token's hash is stored
        stored = conn.execute(sa.select(web_sessions.c.token_hash)).scalars().all()
        entry = conn.execute(sa.select(audit_log).where(audit_log.c.action == "sign_in")
                             .order_by(audit_log.c.entry_id.desc())).first()
    assert token not in stored and accounts.hash_token(token) in stored
    assert entry is not None and entry.key_id is None and entry.account_id is not None
    assert f"<strong>{username}</strong>" in web.get("/admin/accounts").text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"])
def test_sign_in_never_sends_a_person_to_another_site(web: TestClient, target: str) -> None:
    web.cookies.clear()
    username = make_account(app_db(web), Role.COORDINATOR)
    answer = web.post("/sign-in", data={"username": username, "password": PASSWORD, "next": target,
                                        "csrf_token": form_token(web)}, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/")


def test_wrong_password_and_unknown_name_get_the_same_answer(web: TestClient) -> None:
    web.cookies.clear()
    username = make_account(app_db(web), Role.COORDINATOR)
    answers = [web.post("/sign-in", data={"username": name, "password": "not the password",
                                          "csrf_token": form_token(web)}, follow_redirects=False)
               for name in (username, "nobody-here")]
    for answer in answers:
        assert answer.status_code == 401
        assert "Fel användarnamn eller lösenord." in answer.text
        assert "platsa_session" not in answer.headers.get("set-cookie", "")
    assert 'value="nobody-here"' in answers[1].text  # the username stays filled in; the password never


def test_sign_out_ends_the_session_on_the_server(web: TestClient) -> None:
    web.cookies.clear()
    sign_in_client(web, make_account(app_db(web), Role.COORDINATOR))
    token = web.cookies["platsa_session"]
    answer = web.post("/sign-out", data={"csrf_token": form_token(web, "/start")}, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in")
    web.cookies.set("platsa_session", token)  # a copy of the cookie kept from before no longer works
    assert web.get("/start", follow_redirects=False).status_code == 303
    with app_db(web).connect() as conn:
        assert conn.execute(sa.select(web_sessions).where(
            web_sessions.c.token_hash == accounts.hash_token(token))).first() is None


def test_a_role_outside_the_page_gets_the_403_page(web: TestClient, sign_in) -> None:  # type: ignore[no-untyped-def]
    sign_in(web, Role.SUPPLIER)
    answer = web.get("/admin/accounts")
    assert answer.status_code == 403
    assert "Din roll har inte tillgång till den här sidan." in answer.text


def test_language_switch_is_kept_in_a_cookie(web: TestClient, sign_in) -> None:  # type: ignore[no-untyped-def]
    sign_in(web, Role.RESEARCHER)
    english = web.get("/start?lang=en")
    assert '<html lang="en">' in english.text and "Sign out" in english.text
    assert 'href="/start?lang=sv"' in english.text
    assert '<html lang="en">' in web.get("/start").text
    assert '<html lang="sv">' in web.get("/start?lang=sv").text
    assert '<html lang="sv">' in web.get("/start").text


def test_pages_are_not_in_the_openapi_document(web: TestClient) -> None:
    paths = web.get("/openapi.json").json()["paths"]
    assert all(path.startswith(("/v1/", "/health", "/ready")) for path in paths), sorted(paths)


def test_researcher_start_page_shows_the_apis_aggregates(web: TestClient, sign_in) -> None:  # type: ignore[no-untyped-def]
    sign_in(web, Role.RESEARCHER)
    answer = web.get("/", follow_redirects=False)
    assert answer.headers["location"] == "/start"
    page = web.get("/start")
    assert "Kandidater per stadsdel och prioriterad grupp" in page.text
    assert re.search(r'<th scope="row">Angered</th>\s*<td class="number">\d+</td>', page.text)
    assert '<th scope="col" class="number">utrikes födda</th>' in page.text


def test_a_browser_gets_the_404_page_and_the_api_its_problem(web: TestClient) -> None:
    web.cookies.clear()
    page = web.get("/no-such-page", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404 and "Sidan finns inte" in page.text
    for path, accept in (("/no-such-page", "*/*"), ("/v1/nothing", "text/html")):
        answer = web.get(path, headers={"accept": accept})
        assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json"


def test_csrf_token_is_needed_on_sign_in(web: TestClient) -> None:
    web.cookies.clear()
    username = make_account(app_db(web), Role.COORDINATOR)
    csrf_token(web.get("/sign-in").text)
    for token in (None, "wrong"):
        data = {"username": username, "password": PASSWORD}
        if token:
            data["csrf_token"] = token
        answer = web.post("/sign-in", data=data, follow_redirects=False)
        assert answer.status_code == 403
        assert "platsa_session" not in web.cookies


def test_a_session_opens_no_api_operation(web: TestClient, sign_in) -> None:  # type: ignore[no-untyped-def]
    sign_in(web, Role.ADMIN)
    assert web.get("/admin/accounts").status_code == 200
    assert web.get("/v1/me").status_code == 401


def test_home_leads_each_role_to_a_page_it_may_open(web: TestClient, sign_in) -> None:  # type: ignore[no-untyped-def]
    from service.web.home import START_PAGES

    for role in Role:
        sign_in(web, role)
        answer = web.get("/")
        assert answer.status_code == 200, role
        assert answer.url.path in (START_PAGES[role], "/start"), (role, answer.url)
        if answer.url.path == "/start" and role != Role.RESEARCHER:  # the role's pages, linked
            assert f'<li><a href="{START_PAGES[role]}">' in answer.text, role
