"""The key cache behind every request's key check (:meth:`service.auth.KeyCache.check`).

A burst of requests with one token whose entry is missing or expired asks the database once; an
entry in the last quarter of its time answers and is renewed in the background; a key revoked
elsewhere stops answering at the latest ``ttl_s`` after the database last confirmed it (here: at
its renewal); a key revoked in this process stops at once; ``ttl_s=0`` asks on every request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from service.auth import KeyCache, Role, create_key, revoke_key
from service.db import make_engine, migrate
from service.db.tables import api_keys


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: the test process may have a loop running already
    (Playwright's, when a browser test ran before in the same worker)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def count_key_queries(engine: sa.Engine) -> list[str]:
    """The statements on ``api_keys`` that ``engine`` runs from now on."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM api_keys" in statement:
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", note)
    return seen


def new_key(db: sa.Engine) -> tuple[int, str]:
    with db.begin() as conn:
        key = create_key(conn, role=Role.COORDINATOR, name="cache test")
    return key.principal.key_id, key.token


def revoke_elsewhere(db: sa.Engine, key_id: int) -> None:
    """Revoke as another process does: in the database only, no cache of this process told."""
    with db.begin() as conn:
        conn.execute(api_keys.update().where(api_keys.c.key_id == key_id)
                     .values(revoked_at=dt.datetime.now(dt.UTC)))


def test_a_burst_asks_the_database_once(db: sa.Engine) -> None:
    key_id, token = new_key(db)
    queries = count_key_queries(db)
    cache = KeyCache(ttl_s=60)

    async def burst() -> list[Any]:
        return await asyncio.gather(*(cache.check(db, token) for _ in range(50)))

    found = run(burst())
    assert {p.key_id for p in found} == {key_id}
    assert len(queries) == 1
    assert run(cache.check(db, token)).key_id == key_id  # type: ignore[union-attr]
    assert len(queries) == 1  # cached


def test_unknown_tokens_are_never_cached(db: sa.Engine) -> None:
    queries = count_key_queries(db)
    cache = KeyCache(ttl_s=60)
    for _ in range(3):
        assert run(cache.check(db, "platsa_unknown")) is None
    assert len(queries) == 3


def test_an_entry_is_renewed_before_it_expires_and_a_revocation_elsewhere_ends_it(db: sa.Engine) -> None:
    key_id, token = new_key(db)
    queries = count_key_queries(db)
    cache = KeyCache(ttl_s=2.0)

    async def scenario() -> None:
        assert (await cache.check(db, token)) is not None
        assert len(queries) == 1
        digest, (principal, expires) = next(iter(cache._entries.items()))
        # Move the entry into the last quarter of its time: it answers, and a renewal starts.
        cache._entries[digest] = (principal, expires - 1.6)
        assert (await cache.check(db, token)) == principal
        for _ in range(200):  # the renewal runs in a worker thread
            if len(queries) == 2 and cache._entries[digest][1] > expires - 1.6:
                break
            await asyncio.sleep(0.01)
        assert len(queries) == 2
        assert cache._entries[digest][1] > expires - 1.6  # renewed for another ttl_s
        # Revoked by another process: the next renewal finds out and drops the entry.
        revoke_elsewhere(db, key_id)
        assert (await cache.check(db, token)) == principal  # still confirmed less than ttl_s ago
        cache._entries[digest] = (principal, cache._entries[digest][1] - 1.6)
        assert (await cache.check(db, token)) == principal  # answers once more; renewal starts
        for _ in range(200):
            if digest not in cache._entries:
                break
            await asyncio.sleep(0.01)
        assert digest not in cache._entries
        assert (await cache.check(db, token)) is None

    run(scenario())


def test_a_key_revoked_in_this_process_is_refused_at_once(db: sa.Engine) -> None:
    key_id, token = new_key(db)
    cache = KeyCache(ttl_s=60)
    assert run(cache.check(db, token)) is not None
    with db.begin() as conn:
        assert revoke_key(conn, key_id)
    assert cache.get(token) is None
    assert run(cache.check(db, token)) is None


def test_without_a_cache_every_request_asks(db: sa.Engine) -> None:
    _, token = new_key(db)
    queries = count_key_queries(db)
    cache = KeyCache(ttl_s=0)

    async def burst() -> list[Any]:
        return await asyncio.gather(*(cache.check(db, token) for _ in range(5)))

    assert all(p is not None for p in run(burst()))
    assert len(queries) == 5
    assert cache._entries == {}
