"""``platsa account`` and the admin page: one set of rules for creating, listing and disabling."""

from __future__ import annotations

import html
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.auth import Role
from service.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main
from service.web.home import START_PAGES
from tests.web.conftest import PASSWORD, demo_settings, form_token, sign_in_client


def assert_starts_on(client: TestClient, role: Role) -> None:
    """``/`` leads to the role's start page, or to /start (which links it) in a build without it."""
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.url.path in (START_PAGES[role], "/start"), answer.url


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = demo_settings(tmp_path).database_url
    monkeypatch.setenv("PLATSA_DATABASE_URL", url)
    return url


def platsa(monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(list(argv))


def test_create_list_set_password_disable(database: str, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert platsa(monkeypatch, "account", "create", "--username", "lena", "--role", "labour_market_unit",
                  "--district", "angered", "--name", "Lena Ek", "--password-stdin", stdin=PASSWORD + "\n") == EXIT_OK
    assert "account lena (labour_market_unit, angered) created" in capsys.readouterr().out
    assert platsa(monkeypatch, "account", "list") == EXIT_OK
    listed = capsys.readouterr().out
    assert "lena" in listed and "angered" in listed and "active" in listed and PASSWORD not in listed
    assert platsa(monkeypatch, "account", "set-password", "lena", "--password-stdin",
                  stdin="another long password\n") == EXIT_OK
    assert platsa(monkeypatch, "account", "disable", "lena") == EXIT_OK
    assert platsa(monkeypatch, "account", "disable", "lena") == EXIT_PROBLEMS  # already disabled
    capsys.readouterr()
    assert platsa(monkeypatch, "account", "list", "--json") == EXIT_OK
    assert '"disabled_at": "20' in capsys.readouterr().out


def test_create_checks_the_binding_as_for_keys(database: str, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = platsa(monkeypatch, "account", "create", "--username", "Bad Name", "--role", "labour_market_unit",
                  "--district", "angerd", "--password-stdin", stdin="short\n")
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "username 'Bad Name' is not allowed" in err
    assert "the password needs at least 12 characters" in err
    assert "no district 'angerd' in the stored region (did you mean 'angered'?)" in err
    assert "no account was created" in err
    assert platsa(monkeypatch, "account", "create", "--username", "sam", "--role", "coordinator",
                  "--supplier", "x", "--password-stdin", stdin=PASSWORD) == EXIT_USAGE
    assert "a coordinator account is not bound to a supplier" in capsys.readouterr().err
    assert platsa(monkeypatch, "account", "list") == EXIT_OK
    assert capsys.readouterr().out == ""


def test_no_terminal_and_no_password_stdin_is_refused(database: str, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert platsa(monkeypatch, "account", "create", "--username", "sam", "--role", "coordinator") == EXIT_USAGE
    assert "use --password-stdin" in capsys.readouterr().err


def test_admin_page_creates_and_refuses_with_every_problem(web: TestClient, sign_in) -> None:  # type: ignore[no-untyped-def]
    sign_in(web, Role.ADMIN)
    token = form_token(web, "/admin/accounts")
    bad = web.post("/admin/accounts", data={"username": "x", "password": "short", "role": "supplier",
                                            "district_id": "angered", "csrf_token": token})
    assert bad.status_code == 422
    for problem in ("username 'x' is not allowed", "the password needs at least 12 characters",
                    "a supplier account needs a supplier", "a supplier account is not bound to a district"):
        assert problem in html.unescape(bad.text), problem
    assert 'value="angered"' in bad.text  # what was typed stays, except the password
    # each problem beside its field, which is marked invalid and described by it
    assert 'aria-describedby="username-hint username-error-1" aria-invalid="true"' in bad.text
    assert 'aria-describedby="district-hint district_id-error-1" aria-invalid="true"' in bad.text
    assert '<span class="field-error" id="password-error-1">the password needs at least 12 characters</span>' in bad.text
    good = web.post("/admin/accounts", data={"username": "ola.recruiter", "password": PASSWORD,
                                             "role": "labour_market_unit", "district_id": "angered",
                                             "display_name": "Ola", "csrf_token": token})
    assert good.status_code == 200 and "Kontot ola.recruiter skapades." in good.text
    assert '<th scope="row">ola.recruiter</th>' in good.text
    person = TestClient(web.app)
    sign_in_client(person, "ola.recruiter")
    assert_starts_on(person, Role.LABOUR_MARKET_UNIT)


def test_serve_demo_prints_how_to_sign_in_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import re

    import uvicorn

    from service.app import create_app
    from service.config import Settings

    apps: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: apps.append(app))
    url = f"sqlite:///{tmp_path / 'platsa.db'}"
    monkeypatch.setenv("PLATSA_DATABASE_URL", url)
    assert main(["serve", "--demo", "--port", "8124"]) == EXIT_OK
    out = capsys.readouterr().out
    found = re.search(r"Pages: open http://127\.0\.0\.1:8124/ and sign in as 'admin' with the password (\S+)", out)
    assert found is not None, out
    with TestClient(create_app(Settings(database_url=url, shortlist_warm=False))) as client:
        sign_in_client(client, "admin", found.group(1))
        assert_starts_on(client, Role.ADMIN)
        assert client.get("/admin/accounts").status_code == 200
    assert main(["serve", "--demo", "--port", "8124"]) == EXIT_OK  # a second start creates nothing
    again = capsys.readouterr().out
    assert found.group(1) not in again and "sign in with your account" in again
