"""The account functions on both databases: sign-in counting, lockout, sessions, disabling."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from service import accounts
from service.auth import Role
from service.db import make_engine, migrate
from service.db.engine import writer
from tests.service.conftest import drop_postgres_schema, postgres_url_or_skip

PASSWORD = "correct horse battery staple"


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    url = (f"sqlite:///{tmp_path_factory.mktemp('backends') / 'platsa.db'}" if request.param == "sqlite"
           else postgres_url_or_skip())
    engine = make_engine(url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        if request.param == "postgres":
            drop_postgres_schema(url)


def test_sign_in_counts_locks_and_resets(db: sa.Engine) -> None:
    with writer(db).begin() as conn:
        created = accounts.create_account(conn, username="kim", password=PASSWORD, role=Role.COORDINATOR)
    assert created.account.principal.account_id == created.account.account_id
    assert created.account.principal.key_id == 0 and created.account.principal.name == "kim"
    wrong = [accounts.sign_in(db, "kim", "nope", limit=3, lockout_s=60).outcome for _ in range(3)]
    assert wrong == [accounts.Outcome.WRONG, accounts.Outcome.WRONG, accounts.Outcome.LOCKED]
    locked = accounts.sign_in(db, "kim", PASSWORD, limit=3, lockout_s=60)
    assert locked.outcome is accounts.Outcome.LOCKED and 1 <= locked.retry_after_s <= 60
    later = accounts.now() + dt.timedelta(seconds=61)
    signed = accounts.sign_in(db, "kim", PASSWORD, limit=3, lockout_s=60, at=later)
    assert signed.outcome is accounts.Outcome.SIGNED_IN and signed.account is not None
    with writer(db).begin() as conn:
        token = accounts.start_session(conn, signed.account, idle_s=60, max_s=600)
    with db.connect() as conn:
        session = accounts.session_of(conn, token, idle_s=60, max_s=600)
        assert session is not None and session.principal.name == "kim"
        assert accounts.session_of(conn, token, idle_s=60, max_s=600,
                                   at=accounts.now() + dt.timedelta(seconds=61)) is None
        assert accounts.get_account(conn, "kim").locked_until is None  # type: ignore[union-attr]
    with writer(db).begin() as conn:
        assert accounts.disable_account(conn, "kim")
    with db.connect() as conn:
        assert accounts.session_of(conn, token, idle_s=60, max_s=600) is None
    assert accounts.sign_in(db, "kim", PASSWORD, limit=3, lockout_s=60).outcome is accounts.Outcome.WRONG


def test_set_password_lifts_the_lock_and_ends_sessions(db: sa.Engine) -> None:
    with writer(db).begin() as conn:
        account = accounts.create_account(conn, username="ali", password=PASSWORD, role=Role.RESEARCHER).account
        token = accounts.start_session(conn, account, idle_s=60, max_s=600)
    assert accounts.sign_in(db, "ali", "nope", limit=1, lockout_s=600).outcome is accounts.Outcome.LOCKED
    with writer(db).begin() as conn:
        assert accounts.set_password(conn, "ali", "a brand new password")
        assert not accounts.set_password(conn, "nobody", "a brand new password")
        with pytest.raises(accounts.AccountError):
            accounts.set_password(conn, "ali", "short")
    assert accounts.sign_in(db, "ali", "a brand new password", limit=1, lockout_s=600).account is not None
    with db.connect() as conn:
        assert accounts.session_of(conn, token, idle_s=60, max_s=600) is None


def test_concurrent_failures_are_all_counted(db: sa.Engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with writer(db).begin() as conn:
        accounts.create_account(conn, username="sam", password=PASSWORD, role=Role.COORDINATOR)
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: accounts.sign_in(db, "sam", "nope", limit=4, lockout_s=60).outcome,
                                 range(4)))
    assert outcomes.count(accounts.Outcome.LOCKED) == 1  # the fourth failure, whichever came fourth
    assert accounts.sign_in(db, "sam", PASSWORD, limit=4, lockout_s=60).outcome is accounts.Outcome.LOCKED
