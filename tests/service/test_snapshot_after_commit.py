"""A write counted before its commit cannot hide from the next round (issue 13, seen under load).

A route counts its write (``ServiceState.request_reload``) inside its transaction, before the commit.
A background rebuild that reads the rows between the count and the commit would hold a snapshot that
passes for current without the write, and a round started next would run on it: ``get_conn`` counts
the write again once it is committed, so ``fresh_snapshot`` rebuilds.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from service.config import Settings
from service.db import make_engine
from service.db.tables import REGION_TABLES
from service.deps import get_conn
from service.engine import load_engine
from service.state import ServiceState
from tests.service.conftest import TEST_ENGINE, Api, server_with_region

_candidates = REGION_TABLES["candidates"]


@pytest.fixture
def stored(tmp_path_factory: pytest.TempPathFactory, database_urls: dict[str, str]) -> Iterator[Api]:
    with server_with_region("sqlite", tmp_path_factory, database_urls, "after-commit") as api:
        yield api


def _step(state: ServiceState, candidate_id: str) -> int:
    snapshot = state.fresh_snapshot()
    assert snapshot is not None
    candidates = snapshot.region.candidates
    row = candidates.filter(candidates["candidate_id"] == candidate_id)
    return int(row["work_ladder_step"][0])


def test_a_rebuild_between_the_count_and_the_commit_is_not_taken_for_current(stored: Api) -> None:
    settings = Settings(database_url=stored.database_url, engine=TEST_ENGINE, shortlist_warm=False)
    db = make_engine(settings.sqlalchemy_url)
    state = ServiceState(settings, db, load_engine(settings.engine))
    try:
        assert state.reload() is not None
        before = _step(state, "c1")
        request = SimpleNamespace(method="PATCH")
        transaction = get_conn(state, request)  # type: ignore[arg-type]
        conn = next(transaction)
        conn.execute(_candidates.update().where(_candidates.c.candidate_id == "c1")
                     .values(work_ladder_step=before % 4 + 1))
        state.request_reload()  # as a route does, inside its transaction
        state.reload()  # a background rebuild that reads the rows before the commit
        with pytest.raises(StopIteration):
            next(transaction)  # the commit
        assert _step(state, "c1") == before % 4 + 1
        # A read counts nothing and rebuilds nothing.
        snapshot = state.fresh_snapshot()
        read = get_conn(state, SimpleNamespace(method="GET"))  # type: ignore[arg-type]
        next(read)
        with pytest.raises(StopIteration):
            next(read)
        assert state.fresh_snapshot() is snapshot
    finally:
        state.close()
        db.dispose()
