"""Personal accounts against misuse: lockout, CSRF on every form, session expiry, disabling."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service import accounts
from service.app import create_app
from service.auth import Role
from service.db.tables import accounts as accounts_table
from service.db.tables import web_sessions
from tests.web.conftest import PASSWORD, app_db, demo_settings, form_token, make_account, sign_in_client


def attempt(client: TestClient, username: str, password: str) -> int:
    return client.post("/sign-in", data={"username": username, "password": password,
                                         "csrf_token": form_token(client)}, follow_redirects=False).status_code


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app whose per-address limit is small (3), to reach it in a test."""
    settings = demo_settings(tmp_path_factory.mktemp("strict"), sign_in_address_limit=3)
    with TestClient(create_app(settings)) as client:
        yield client


def test_five_failures_lock_the_account_even_for_the_right_password(web: TestClient) -> None:
    web.cookies.clear()
    username = make_account(app_db(web), Role.COORDINATOR)
    assert [attempt(web, username, "wrong password") for _ in range(4)] == [401] * 4
    fifth = web.post("/sign-in", data={"username": username, "password": "wrong password",
                                       "csrf_token": form_token(web)})
    assert fifth.status_code == 429
    assert "För många misslyckade inloggningar. Försök igen om 15 min" in fifth.text
    assert attempt(web, username, PASSWORD) == 429  # locked: the password is not even checked
    with app_db(web).begin() as conn:  # the lock is over: the right password works, the count starts anew
        conn.execute(accounts_table.update().where(accounts_table.c.username == username)
                     .values(locked_until=accounts.now() - dt.timedelta(seconds=1)))
    assert attempt(web, username, PASSWORD) == 303
    with app_db(web).connect() as conn:
        row = conn.execute(sa.select(accounts_table).where(accounts_table.c.username == username)).one()
    assert (row.failed_sign_ins, row.locked_until) == (0, None)


def test_an_unknown_username_is_locked_as_an_account_would_be(web: TestClient) -> None:
    web.cookies.clear()
    answers = [attempt(web, "no-such-person", "wrong password") for _ in range(6)]
    assert answers == [401, 401, 401, 401, 429, 429]


def test_one_address_is_held_up_across_usernames(strict: TestClient) -> None:
    names = [make_account(app_db(strict), Role.COORDINATOR) for _ in range(3)]
    assert [attempt(strict, name, "wrong password") for name in names] == [401, 401, 429]
    # ... even with the right password of a fourth account: the address waits
    assert attempt(strict, make_account(app_db(strict), Role.COORDINATOR), PASSWORD) == 429


def posted_forms(client: TestClient) -> dict[str, dict[str, str]]:
    """Every form of the core pages, filled in as a person would (without the token)."""
    victim = make_account(app_db(client), Role.RESEARCHER)
    return {
        "/admin/accounts": {"username": "made-by-csrf", "password": "a password long enough",
                            "role": "researcher"},
        f"/admin/accounts/{victim}/disable": {},
        "/sign-out": {},
    }


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_every_form_refuses_a_post_without_its_token(web: TestClient, sign_in, token: str | None) -> None:  # type: ignore[no-untyped-def]
    admin = sign_in(web, Role.ADMIN)
    for path, data in posted_forms(web).items():
        sent = data if token is None else {**data, "csrf_token": token}
        answer = web.post(path, data=sent, follow_redirects=False)
        assert answer.status_code == 403, path
        assert "Ingenting har ändrats." in answer.text
    with app_db(web).connect() as conn:  # nothing changed: no account made or disabled, still signed in
        assert accounts.get_account(conn, "made-by-csrf") is None
        assert all(a.disabled_at is None for a in accounts.list_accounts(conn))
    assert f"<strong>{admin}</strong>" in web.get("/admin/accounts").text


def test_a_token_of_another_session_is_refused(web: TestClient, sign_in) -> None:  # type: ignore[no-untyped-def]
    sign_in(web, Role.ADMIN)
    other = form_token(web, "/admin/accounts")
    sign_in(web, Role.ADMIN)
    answer = web.post("/admin/accounts", data={"username": "from-other-session", "password": PASSWORD,
                                               "role": "researcher", "csrf_token": other})
    assert answer.status_code == 403


def age_session(client: TestClient, *, created_s: float = 0, seen_s: float = 0) -> None:
    token = client.cookies["platsa_session"]
    at = accounts.now()
    with app_db(client).begin() as conn:
        conn.execute(web_sessions.update().where(web_sessions.c.token_hash == accounts.hash_token(token))
                     .values(created_at=at - dt.timedelta(seconds=created_s),
                             last_seen_at=at - dt.timedelta(seconds=seen_s)))


def test_a_session_ends_when_idle_too_long(web: TestClient, sign_in) -> None:  # type: ignore[no-untyped-def]
    sign_in(web, Role.RESEARCHER)
    settings = web.app.state.platsa.settings  # type: ignore[attr-defined]
    age_session(web, created_s=settings.session_idle_s - 30, seen_s=settings.session_idle_s - 30)
    assert web.get("/start", follow_redirects=False).status_code == 200  # and it renews the idle time
    age_session(web, created_s=settings.session_idle_s + 5, seen_s=settings.session_idle_s + 5)
    answer = web.get("/start", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in?next=%2Fstart")


def test_a_request_renews_the_idle_time(web: TestClient, sign_in) -> None:  # type: ignore[no-untyped-def]
    sign_in(web, Role.RESEARCHER)
    settings = web.app.state.platsa.settings  # type: ignore[attr-defined]
    age_session(web, created_s=settings.session_idle_s - 30, seen_s=settings.session_idle_s - 30)
    assert web.get("/start", follow_redirects=False).status_code == 200
    with app_db(web).connect() as conn:
        seen = conn.execute(sa.select(web_sessions.c.last_seen_at).where(
            web_sessions.c.token_hash == accounts.hash_token(web.cookies["platsa_session"]))).scalar_one()
    assert accounts.now() - seen.replace(tzinfo=dt.UTC) < dt.timedelta(seconds=30)


def test_a_session_ends_at_its_maximum_age_however_busy(web: TestClient, sign_in) -> None:  # type: ignore[no-untyped-def]
    sign_in(web, Role.RESEARCHER)
    settings = web.app.state.platsa.settings  # type: ignore[attr-defined]
    age_session(web, created_s=settings.session_max_s + 5, seen_s=1)
    assert web.get("/start", follow_redirects=False).status_code == 303


def test_disabling_an_account_ends_its_sessions(web: TestClient, sign_in) -> None:  # type: ignore[no-untyped-def]
    person = TestClient(web.app)
    username = make_account(app_db(web), Role.COORDINATOR)
    sign_in_client(person, username)
    assert person.get("/start", follow_redirects=False).status_code == 200
    sign_in(web, Role.ADMIN)
    answer = web.post(f"/admin/accounts/{username}/disable", data={"csrf_token": form_token(web, "/admin/accounts")})
    assert answer.status_code == 200 and f"Kontot {username} stängdes av" in answer.text
    assert person.get("/start", follow_redirects=False).status_code == 303
    assert attempt(person, username, PASSWORD) == 401  # and it cannot sign in again
    with app_db(web).connect() as conn:
        account = accounts.get_account(conn, username)
        assert account is not None
        assert conn.execute(sa.select(web_sessions).where(
            web_sessions.c.account_id == account.account_id)).first() is None


def test_environment_names_the_session_lifetimes() -> None:
    from service.config import Settings

    settings = Settings.from_env({"PLATSA_SESSION_IDLE_S": "60", "PLATSA_SESSION_MAX_S": "3600"})
    assert (settings.session_idle_s, settings.session_max_s) == (60, 3600)
    assert (Settings().session_idle_s, Settings().session_max_s) == (1800, 43_200)


def test_a_form_sent_after_the_session_ended_leads_to_sign_in_and_back(web: TestClient, sign_in) -> None:  # type: ignore[no-untyped-def]
    sign_in(web, Role.ADMIN)
    token = form_token(web, "/admin/accounts")
    age_session(web, created_s=10**6, seen_s=10**6)
    answer = web.post("/admin/accounts", data={"username": "late-one", "password": PASSWORD, "role": "researcher",
                                               "csrf_token": token},
                      headers={"referer": "http://testserver/admin/accounts?x=1"}, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in?next=%2Fadmin%2Faccounts%3Fx%3D1")
    with app_db(web).connect() as conn:
        assert accounts.get_account(conn, "late-one") is None


def test_the_accounts_page_shows_a_locked_account(web: TestClient, sign_in) -> None:  # type: ignore[no-untyped-def]
    username = make_account(app_db(web), Role.COORDINATOR)
    with app_db(web).begin() as conn:
        conn.execute(accounts_table.update().where(accounts_table.c.username == username)
                     .values(locked_until=accounts.now() + dt.timedelta(minutes=10)))
    sign_in(web, Role.ADMIN)
    page = web.get("/admin/accounts").text
    row = page[page.index(f'<th scope="row">{username}</th>'):]
    assert row[:row.index("</tr>")].count("låst till") == 1
