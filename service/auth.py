"""API keys and roles.

A key is a random token shown once, when it is created (``platsa admin create-key``); the database
keeps only its SHA-256 hash, so a stolen database does not yield usable keys. A token has 256 bits of
entropy, which is why a plain hash (and no salt or slow hash) is enough: nothing can be guessed.

A key's binding is checked when it is created (:func:`create_key`): a labour-market unit key names a
district of the stored region, a supplier key a supplier of it, and no other role takes either. With
no region imported yet there is nothing to check against: the key is created with a warning (an
admin or coordinator key must exist before the first import, and a deployment may create all its keys
first).

Roles (``docs/api.md`` lists what each may do):

``admin``
    Everything, including the audit log.
``coordinator``
    The support function: all region data, imports, allocation rounds, publishing.
``labour_market_unit``
    Bound to one district: its own district's candidates, places, shortlists of its candidates.
``supplier``
    Bound to one supplier: its own places and the proposals to them, never sensitive data.
``researcher``
    Aggregates only, with small cells suppressed.
``orderer``
    The procurer (beställare, upphandlare): procurements with their qualifying verdicts, suppliers, and
    the follow-up at the orderer's level (requirement status, key figures); never data on people.

A serving process keeps the keys it has seen in a :class:`KeyCache` (token hash → principal), so
that a request does not query the database for its key (:meth:`KeyCache.check`). A key revoked
through :func:`revoke_key` in the same process is refused from the next request on; one revoked by
another process (``platsa admin revoke-key``) is refused once its cache entry expires
(``PLATSA_KEY_CACHE_TTL_S``, default 2 s). Unknown and revoked tokens are never cached, so a new key
works at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
import hashlib
import re
import secrets
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import anyio.to_thread
import sqlalchemy as sa

from scoring.schema import ID_PATTERN, ID_RULE
from service.db.tables import REGION_TABLES, api_keys, region_meta

TOKEN_PREFIX = "platsa_"


class Role(StrEnum):
    """Who a key speaks for."""

    ADMIN = "admin"
    COORDINATOR = "coordinator"
    LABOUR_MARKET_UNIT = "labour_market_unit"
    SUPPLIER = "supplier"
    RESEARCHER = "researcher"
    ORDERER = "orderer"


@dataclass(frozen=True)
class Principal:
    """The caller of a request: which key or account, which role, and what it is bound to.

    A person signed in to the pages (:mod:`service.accounts`) has ``key_id`` 0, ``account_id`` their
    account and ``name`` their username; an API key's principal has no ``account_id``.
    """

    key_id: int
    name: str
    role: Role
    district_id: str | None = None
    supplier_id: str | None = None
    account_id: int | None = None


@dataclass(frozen=True)
class CreatedKey:
    principal: Principal
    token: str
    """The secret: shown once, never stored."""
    warnings: tuple[str, ...] = ()
    """What could not be checked (a binding made before any region was imported)."""


class KeyBindingError(ValueError):
    """A key cannot be created as asked: an unknown role, a role without its binding, a binding the
    role cannot have, or one naming a district or supplier the stored region lacks.

    ``problems`` holds every one of them, in words; the message joins them.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


#: Known ids listed in a refusal at most (a region may have hundreds of suppliers).
_LISTED = 20


def _unknown(what: str, wanted: str, known: Sequence[str]) -> str:
    """``no district 'x' in the stored region (did you mean 'y'?); known: a, b, c``."""
    close = difflib.get_close_matches(wanted, known, n=3)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    listed = ", ".join(known[:_LISTED]) + (f", … ({len(known)} in all)" if len(known) > _LISTED else "")
    return f"no {what} {wanted!r} in the stored region{hint}; known: {listed or 'none'}"


def _binding_problems(conn: sa.Connection, role: Role, district_id: str | None,
                      supplier_id: str | None, what: str = "key") -> tuple[list[str], list[str]]:
    """Every problem with the binding of a key (or of a person's account: ``what="account"``), and the
    warnings (what could not be checked)."""
    problems: list[str] = []
    if role == Role.LABOUR_MARKET_UNIT and not district_id:
        problems.append(f"a labour_market_unit {what} needs a district (--district)")
    if role == Role.SUPPLIER and not supplier_id:
        problems.append(f"a supplier {what} needs a supplier (--supplier)")
    if role != Role.LABOUR_MARKET_UNIT and district_id:
        problems.append(f"a {role.value} {what} is not bound to a district")
    if role != Role.SUPPLIER and supplier_id:
        problems.append(f"a {role.value} {what} is not bound to a supplier")
    wanted = [(kind, value, REGION_TABLES[table], column) for kind, value, table, column, bound in (
        ("district", district_id, "districts", "district_id", role == Role.LABOUR_MARKET_UNIT),
        ("supplier", supplier_id, "suppliers", "supplier_id", role == Role.SUPPLIER)) if bound and value]
    not_ids = [w for w in wanted if not re.fullmatch(ID_PATTERN, w[1])]
    problems += [f"{kind} {value!r} is not an id: {ID_RULE}" for kind, value, _, _ in not_ids]
    wanted = [w for w in wanted if w not in not_ids]  # the others are still looked up: every problem at once
    if not wanted:
        return problems, []
    if conn.execute(sa.select(region_meta.c.id)).first() is None:
        return problems, [f"no region is imported yet: {kind} {value!r} is not checked (a {what} bound to a "
                          f"{kind} the region lacks sees nothing of it)" for kind, value, _, _ in wanted]
    for kind, value, table, column in wanted:
        known = conn.execute(sa.select(table.c[column]).order_by(table.c[column])).scalars().all()
        if value not in known:
            problems.append(_unknown(kind, value, known))
    return problems, []


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_key(
    conn: sa.Connection,
    *,
    role: Role | str,
    name: str = "",
    district_id: str | None = None,
    supplier_id: str | None = None,
) -> CreatedKey:
    """Create a key and return its token (the only time the token is seen).

    The binding is checked against the region stored on ``conn`` (module docstring); with no region
    yet, the key is created and :attr:`CreatedKey.warnings` says what was not checked (the caller
    shows them: ``platsa admin create-key`` prints them).

    Raises
    ------
    KeyBindingError
        With every problem: an unknown role; a labour-market unit without a district or a supplier
        key without a supplier; a binding on a role that has none; a district or supplier that the
        stored region lacks (the message lists the known ids). Nothing is created.
    """
    try:
        role = Role(role)
    except ValueError:
        raise KeyBindingError([f"no role {role!r} (roles: {', '.join(r.value for r in Role)})"]) from None
    problems, warnings = _binding_problems(conn, role, district_id, supplier_id)
    if problems:
        raise KeyBindingError(problems)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    name = name or role.value
    key_id = conn.execute(
        api_keys.insert().values(
            name=name,
            role=role.value,
            district_id=district_id,
            supplier_id=supplier_id,
            token_hash=hash_token(token),
            token_prefix=token[: len(TOKEN_PREFIX) + 4],
            created_at=_now(),
        ).returning(api_keys.c.key_id)
    ).scalar_one()
    return CreatedKey(Principal(key_id, name, role, district_id, supplier_id), token, tuple(warnings))


def revoke_key(conn: sa.Connection, key_id: int) -> bool:
    """Revoke a key; True if it existed and was active.

    Every :class:`KeyCache` of this process stops answering for the key at once; from then on the
    key is checked in the database, which refuses it as soon as this transaction commits.
    """
    _revoked_here.add(key_id)
    for cache in list(_caches):
        cache.forget(key_id)
    result = conn.execute(
        api_keys.update()
        .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=_now())
    )
    return result.rowcount == 1


def list_keys(conn: sa.Connection) -> list[dict[str, object]]:
    rows = conn.execute(
        sa.select(
            api_keys.c.key_id, api_keys.c.name, api_keys.c.role, api_keys.c.district_id,
            api_keys.c.supplier_id, api_keys.c.token_prefix, api_keys.c.created_at, api_keys.c.revoked_at,
        ).order_by(api_keys.c.key_id)
    )
    return [dict(row._mapping) for row in rows]


def authenticate(conn: sa.Connection, token: str) -> Principal | None:
    """The principal of an active key with this token, or None."""
    row = conn.execute(
        sa.select(api_keys.c.key_id, api_keys.c.name, api_keys.c.role, api_keys.c.district_id,
                  api_keys.c.supplier_id)
        .where(api_keys.c.token_hash == hash_token(token), api_keys.c.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    return Principal(row.key_id, row.name, Role(row.role), row.district_id, row.supplier_id)


#: Keys revoked by this process: never answered from a cache again (a revocation that is rolled
#: back only costs that key its caching).
_revoked_here: set[int] = set()
_caches: weakref.WeakSet[KeyCache] = weakref.WeakSet()


class KeyCache:
    """The principals of the keys a serving process has seen, by token hash, for ``ttl_s`` seconds.

    Parameters
    ----------
    ttl_s
        How long an entry answers without the database: the longest a key revoked by another
        process keeps working here. 0 turns the cache off.
    max_keys
        Entries kept at most (all are dropped when it is reached: keys are few).
    """

    def __init__(self, ttl_s: float = 2.0, max_keys: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_keys = max_keys
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()
        self._checking: dict[str, asyncio.Future[Principal | None]] = {}
        """Database queries under way, by token hash (touched only from the event loop)."""
        _caches.add(self)

    def get(self, token: str) -> Principal | None:
        """The cached principal of ``token``, or None when the database must be asked."""
        entry = self._entries.get(hash_token(token))
        if entry is None or entry[1] < time.monotonic() or entry[0].key_id in _revoked_here:
            return None
        return entry[0]

    async def check(self, db: sa.Engine, token: str) -> Principal | None:
        """The principal of an active key with this token, or None; from the cache when it can.

        Otherwise the database is asked in a worker thread, once for all the requests that present
        the same token meanwhile (a burst of requests whose entry has just expired waits for one
        query, not one each). An entry in the last quarter of its time still answers, and starts
        that query in the background to renew it, so that a steady stream of requests with one key
        does not wait for the database every ``ttl_s``. Either way no entry answers for longer than
        ``ttl_s`` after the database last confirmed it. Call from the event loop only.
        """
        digest = hash_token(token)
        if self.ttl_s <= 0:  # no cache: every request asks the database itself
            return await anyio.to_thread.run_sync(self._from_database, db, token, digest)
        entry = self._entries.get(digest)
        now = time.monotonic()
        if entry is not None and entry[1] >= now and entry[0].key_id not in _revoked_here:
            if entry[1] - now < self.ttl_s / 4 and digest not in self._checking:
                self._look_up(db, token, digest)
            return entry[0]
        return await asyncio.shield(self._checking.get(digest) or self._look_up(db, token, digest))

    def _look_up(self, db: sa.Engine, token: str, digest: str) -> asyncio.Future[Principal | None]:
        """Start the database query for ``token`` (one at a time per token)."""
        future = asyncio.ensure_future(anyio.to_thread.run_sync(self._from_database, db, token, digest))
        self._checking[digest] = future

        def done(finished: asyncio.Future[Principal | None]) -> None:
            if self._checking.get(digest) is finished:  # not a newer query for the same token
                self._checking.pop(digest, None)
            if not finished.cancelled():
                finished.exception()  # seen: a renewal that fails leaves its entry to expire

        future.add_done_callback(done)
        return future

    def _from_database(self, db: sa.Engine, token: str, digest: str) -> Principal | None:
        """Ask the database (one short connection) and keep, renew or drop the entry accordingly."""
        with db.connect() as conn:
            principal = authenticate(conn, token)
        with self._lock:
            if principal is None or principal.key_id in _revoked_here:
                self._entries.pop(digest, None)
            elif self.ttl_s > 0:
                if len(self._entries) >= self.max_keys:
                    self._entries.clear()
                self._entries[digest] = (principal, time.monotonic() + self.ttl_s)
        return principal

    def forget(self, key_id: int) -> None:
        """Drop the entries of one key; requests from now on share no query started before."""
        with self._lock:
            for digest in [d for d, (p, _) in self._entries.items() if p.key_id == key_id]:
                del self._entries[digest]
        self._checking.clear()  # such a query may have read the key before it was revoked
