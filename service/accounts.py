"""Personal accounts of the web pages: passwords, lockout and signed-in sessions.

An account is one person (a coordinator, a recruiter of a labour-market unit, …) with a username, a
role and, where the role needs it, its district or supplier: the same roles and bindings as API keys,
checked by the same function (:func:`service.auth._binding_problems`). API keys stay for integrations.

- Passwords are hashed with argon2id (``argon2-cffi``'s defaults, RFC 9106's second recommended
  profile); a hash made with older parameters is replaced at the next sign-in.
- :func:`sign_in` counts failures per account in the database: ``limit`` failures in a row lock the
  account for ``lockout_s`` (``PLATSA_SIGN_IN_FAILURE_LIMIT``, ``PLATSA_SIGN_IN_LOCKOUT_S``); a
  locked account's password is not even checked, so a guess during the lock tells nothing.
- A session is a random 256-bit token in a cookie; the database keeps only its SHA-256 (as for API
  keys: a stolen database yields no usable session). A session ends at sign-out, after
  ``idle_s`` without a request, ``max_s`` after sign-in, and when its account is disabled or its
  password set anew.
- A signed-in person is a :class:`~service.auth.Principal` with ``key_id`` 0 and ``account_id``
  set: every access check of the API applies to them unchanged.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.auth import Principal, Role, _binding_problems, hash_token
from service.db.engine import writer
from service.db.tables import accounts, web_sessions

USERNAME_RULE = "2 to 64 characters: lower-case letters a-z, digits, '.', '_' or '-'"
USERNAME_PATTERN = r"[a-z0-9][a-z0-9._-]{1,63}"
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 hashes any length; a bound keeps a megabyte "password" from costing more

_hasher = PasswordHasher()
#: Checked when the username is unknown, so that an unknown name costs the time a known one does.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """An account cannot be created or changed as asked; ``problems`` holds every reason, in words.

    :meth:`field_of` says which field of the account each problem is about (a form marks it).
    """

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)

    @staticmethod
    def field_of(problem: str) -> str:
        """``username``, ``password``, ``role``, ``district_id`` or ``supplier_id``."""
        for field, words in (("username", "username"), ("password", "password"), ("role", "no role"),
                             ("district_id", "district"), ("supplier_id", "supplier")):
            if words in problem:
                return field
        return "role"  # a binding the role cannot have is about the role


@dataclass(frozen=True)
class Account:
    account_id: int
    username: str
    display_name: str
    role: Role
    district_id: str | None
    supplier_id: str | None
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    locked_until: dt.datetime | None

    @property
    def principal(self) -> Principal:
        return Principal(0, self.username, self.role, self.district_id, self.supplier_id,
                         account_id=self.account_id)


@dataclass(frozen=True)
class CreatedAccount:
    account: Account
    warnings: tuple[str, ...] = ()
    """What could not be checked (a binding made before any region was imported)."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives back naive datetimes: every moment stored here is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)


def _account(row: sa.Row[tuple[object, ...]]) -> Account:
    m = row._mapping
    return Account(m["account_id"], m["username"], m["display_name"], Role(m["role"]), m["district_id"],
                   m["supplier_id"], _utc(m["created_at"]),  # type: ignore[arg-type]
                   _utc(m["disabled_at"]), _utc(m["locked_until"]))


def password_problems(password: str) -> list[str]:
    if len(password) < MIN_PASSWORD:
        return [f"the password needs at least {MIN_PASSWORD} characters"]
    if len(password) > MAX_PASSWORD:
        return [f"the password may have at most {MAX_PASSWORD} characters"]
    return []


def create_account(conn: sa.Connection, *, username: str, password: str, role: Role | str,
                   district_id: str | None = None, supplier_id: str | None = None,
                   display_name: str = "") -> CreatedAccount:
    """Create an account; the binding is checked exactly as an API key's (:func:`service.auth.create_key`).

    Raises
    ------
    AccountError
        With every problem: a username that breaks :data:`USERNAME_RULE` or is taken, a short
        password, an unknown role, a binding the role cannot have or lacks, an unknown district or
        supplier. Nothing is created.
    """
    problems: list[str] = []
    username = username.strip()
    if not re.fullmatch(USERNAME_PATTERN, username):
        problems.append(f"username {username!r} is not allowed: {USERNAME_RULE}")
    elif conn.execute(sa.select(accounts.c.account_id).where(accounts.c.username == username)).first():
        problems.append(f"username {username!r} is taken")
    problems += password_problems(password)
    warnings: list[str] = []
    try:
        role = Role(role)
    except ValueError:
        problems.append(f"no role {role!r} (roles: {', '.join(r.value for r in Role)})")
    else:
        binding, warnings = _binding_problems(conn, role, district_id or None, supplier_id or None,
                                              what="account")
        problems += binding
    if problems:
        raise AccountError(problems)
    row = conn.execute(accounts.insert().values(
        username=username, display_name=display_name.strip() or username, role=Role(role).value,
        district_id=district_id or None, supplier_id=supplier_id or None,
        password_hash=_hasher.hash(password), failed_sign_ins=0, created_at=now(),
    ).returning(*accounts.c)).one()
    return CreatedAccount(_account(row), tuple(warnings))


def list_accounts(conn: sa.Connection) -> list[Account]:
    return [_account(r) for r in conn.execute(sa.select(accounts).order_by(accounts.c.username))]


def get_account(conn: sa.Connection, username: str) -> Account | None:
    row = conn.execute(sa.select(accounts).where(accounts.c.username == username)).first()
    return None if row is None else _account(row)


def disable_account(conn: sa.Connection, username: str) -> bool:
    """Disable an account and end its sessions; True if it existed and was active."""
    row = conn.execute(accounts.update().where(accounts.c.username == username,
                                               accounts.c.disabled_at.is_(None))
                       .values(disabled_at=now()).returning(accounts.c.account_id)).first()
    if row is None:
        return False
    conn.execute(web_sessions.delete().where(web_sessions.c.account_id == row.account_id))
    return True


def set_password(conn: sa.Connection, username: str, password: str) -> bool:
    """Give an account a new password, lift its lockout and end its sessions; False if no such account.

    Raises
    ------
    AccountError
        When the password breaks the rule (nothing is changed).
    """
    problems = password_problems(password)
    if problems:
        raise AccountError(problems)
    row = conn.execute(accounts.update().where(accounts.c.username == username)
                       .values(password_hash=_hasher.hash(password), failed_sign_ins=0, locked_until=None)
                       .returning(accounts.c.account_id)).first()
    if row is None:
        return False
    conn.execute(web_sessions.delete().where(web_sessions.c.account_id == row.account_id))
    return True


class Outcome(Enum):
    SIGNED_IN = "signed_in"
    WRONG = "wrong"
    """Unknown username, disabled account or wrong password: the person is told the same for each."""
    LOCKED = "locked"


@dataclass(frozen=True)
class SignIn:
    outcome: Outcome
    account: Account | None = None
    """The account signed in (only then)."""
    retry_after_s: int = 0
    """For a locked account: seconds until it may try again."""
    known: bool = False
    """Whether the username names an account (never shown: the caller limits unknown names itself)."""


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def sign_in(db: sa.Engine, username: str, password: str, *, limit: int, lockout_s: float,
            at: dt.datetime | None = None) -> SignIn:
    """Check a username and password; count a failure, or reset the count on success.

    ``limit`` failures in a row lock the account for ``lockout_s`` seconds (0: no lockout). The
    password is checked outside any transaction (argon2 takes tens of milliseconds on purpose: held
    inside a write, it would hold up every other writer of a SQLite database), and the count is
    raised in the database itself, so that concurrent failures are all counted.
    """
    at = at or now()
    with db.connect() as conn:
        row = conn.execute(sa.select(accounts).where(accounts.c.username == username.strip())).first()
    if row is None or row.disabled_at is not None or len(password) > MAX_PASSWORD:
        _verify(_DUMMY_HASH, password[:MAX_PASSWORD])
        return SignIn(Outcome.WRONG, known=row is not None)
    account = _account(row)
    if account.locked_until is not None and account.locked_until > at:
        return SignIn(Outcome.LOCKED, retry_after_s=_seconds(account.locked_until - at), known=True)
    where = accounts.c.account_id == account.account_id
    right = _verify(row.password_hash, password)
    with writer(db).begin() as conn:
        if not right:
            failures = conn.execute(accounts.update().where(where)
                                    .values(failed_sign_ins=accounts.c.failed_sign_ins + 1)
                                    .returning(accounts.c.failed_sign_ins)).scalar_one()
            if limit > 0 and failures >= limit:
                until = at + dt.timedelta(seconds=lockout_s)
                conn.execute(accounts.update().where(where).values(failed_sign_ins=0, locked_until=until))
                return SignIn(Outcome.LOCKED, retry_after_s=_seconds(until - at), known=True)
            return SignIn(Outcome.WRONG, known=True)
        values: dict[str, object] = {"failed_sign_ins": 0, "locked_until": None}
        if _hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = _hasher.hash(password)
        # Still enabled and not locked meanwhile (by an admin, or by concurrent failures).
        changed = conn.execute(accounts.update().where(
            where, accounts.c.disabled_at.is_(None),
            sa.or_(accounts.c.locked_until.is_(None), accounts.c.locked_until <= at)).values(**values))
    if changed.rowcount != 1:
        return SignIn(Outcome.WRONG, known=True)
    return SignIn(Outcome.SIGNED_IN, account=account, known=True)


def _seconds(delta: dt.timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf_token: str
    last_seen_at: dt.datetime


def start_session(conn: sa.Connection, account: Account, *, idle_s: float, max_s: float) -> str:
    """A new session for ``account``; returns its token (the cookie's value, never stored).

    Sessions of anyone that have expired are deleted on the way, which keeps the table to the
    sessions that can still be used.
    """
    at = now()
    conn.execute(web_sessions.delete().where(sa.or_(
        web_sessions.c.last_seen_at < at - dt.timedelta(seconds=idle_s),
        web_sessions.c.created_at < at - dt.timedelta(seconds=max_s))))
    token = secrets.token_urlsafe(32)
    conn.execute(web_sessions.insert().values(
        token_hash=hash_token(token), account_id=account.account_id, csrf_token=secrets.token_urlsafe(32),
        created_at=at, last_seen_at=at))
    return token


def session_of(conn: sa.Connection, token: str, *, idle_s: float, max_s: float,
               at: dt.datetime | None = None) -> Session | None:
    """The live session of ``token``: None when unknown, ended, expired, or its account disabled."""
    at = at or now()
    row = conn.execute(
        sa.select(web_sessions.c.csrf_token, web_sessions.c.created_at.label("session_created"),
                  web_sessions.c.last_seen_at.label("session_seen"), accounts)
        .join(accounts, accounts.c.account_id == web_sessions.c.account_id)
        .where(web_sessions.c.token_hash == hash_token(token), accounts.c.disabled_at.is_(None))
    ).first()
    if row is None:
        return None
    created, seen = _utc(row.session_created), _utc(row.session_seen)
    assert created is not None and seen is not None
    if at - seen > dt.timedelta(seconds=idle_s) or at - created > dt.timedelta(seconds=max_s):
        return None
    return Session(_account(row).principal, row.csrf_token, seen)


def touch_session(conn: sa.Connection, token: str) -> None:
    """Record a request of the session now (its idle time starts again)."""
    conn.execute(web_sessions.update().where(web_sessions.c.token_hash == hash_token(token))
                 .values(last_seen_at=now()))


def end_session(conn: sa.Connection, token: str) -> None:
    conn.execute(web_sessions.delete().where(web_sessions.c.token_hash == hash_token(token)))
