"""Retention: exactly what the policy's periods make due is deleted, nothing else, in time order.

A database holds, per table, a record just past its period and one just within it (and records that
are never due: open proposals, closed ones with a placement, pending deliveries). A run before the
periods end deletes nothing; a dry run counts without deleting; a run after deletes exactly the
records past their period; a second run finds nothing more.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from scoring.policy import Retention
from scoring.region import region_from_frames
from scoring.schema import TABLES
from service import store
from service.cli import main
from service.config import Settings
from service.db import make_engine, migrate
from service.db.engine import writer
from service.db.tables import REGION_TABLES, audit_log
from service.integration.tables import idempotency_keys, proposal_events, webhook_deliveries
from service.retention import RetentionJob, apply, due, months_before
from tests.regions import MANIFEST
from tests.service.conftest import postgres_url_or_skip, service_region

NOW = dt.datetime(2028, 8, 20, 12, 0, tzinfo=dt.UTC)
POLICY = Retention()  # 24 months, 5 years, 90 days (the shipped policies' periods)
SETTINGS = Settings(idempotency_ttl_hours=24)
SECOND = dt.timedelta(seconds=1)


def _region() -> dict[str, pl.DataFrame]:
    frames = service_region()
    d = dt.date
    frames["proposals"] = pl.DataFrame({
        # pr1 declined 24 months and 5 days before NOW: due; pr2 4 days within: kept; pr3 open for
        # years: never due; pr4 withdrawn long ago, but with a placement: kept.
        "proposal_id": ["pr1", "pr2", "pr3", "pr4"], "candidate_id": ["c3", "c2", "c4", "c5"],
        "place_id": ["pl1"] * 4,
        "created_on": [d(2026, 8, 1), d(2026, 8, 1), d(2020, 1, 1), d(2020, 1, 1)],
        "status": ["declined", "declined", "open", "withdrawn"],
        "decided_on": [d(2026, 8, 15), d(2026, 8, 24), None, d(2020, 3, 1)],
        "decline_reason": ["not_suitable", "distance", None, None],
    }, schema=frames["proposals"].schema)
    frames["placements"] = pl.DataFrame({
        "placement_id": ["pm4"], "proposal_id": ["pr4"], "candidate_id": ["c5"], "place_id": ["pl1"],
        "started_on": [d(2020, 2, 1)], "ended_on": [d(2020, 2, 20)], "end_reason": ["ended_early"],
        "ended_by": ["candidate"], "hired_on": [None], "contract_type": [None],
    }, schema=TABLES["placements"].polars_schema)
    return frames


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path / 'platsa.db'}" if request.param == "sqlite" else postgres_url_or_skip()
    engine = make_engine(Settings(database_url=url).sqlalchemy_url)
    migrate(engine)
    at = NOW - dt.timedelta(days=5 * 365 + 2)
    with writer(engine).begin() as conn:
        store.replace_region(conn, region_from_frames(MANIFEST, _region()))
        for i, pid in enumerate(["pr1", "pr1", "pr2", "pr3"]):
            conn.execute(proposal_events.insert().values(
                event_id=f"evt{i}", proposal_id=pid, supplier_id="s1", type="proposal.created",
                from_status=None, to_status="open", at=at, actor_key_id=None, actor_role="coordinator", data={}))
        audit_cut = NOW.replace(year=2023)
        for entry_id, when in ((1001, audit_cut - SECOND), (1002, audit_cut + SECOND)):
            conn.execute(audit_log.insert().values(entry_id=entry_id, at=when, key_id=None, role="admin",
                                                   action="read", resource="candidate"))
        days90 = NOW - dt.timedelta(days=90)
        for delivery_id, status, finished, created in (
                ("dl-old", "succeeded", days90 - SECOND, days90 - dt.timedelta(days=1)),
                ("dl-new", "failed", days90 + SECOND, days90 - dt.timedelta(days=1)),
                ("dl-pending", "pending", None, NOW - dt.timedelta(days=200))):
            conn.execute(webhook_deliveries.insert().values(
                delivery_id=delivery_id, endpoint_id="we1", supplier_id="s1", event_id=f"evt-{delivery_id}",
                event_type="proposal.created", replay_number=0, body="{}", status=status, attempts=1,
                attempt_log=[], next_attempt_at=None, created_at=created, finished_at=finished))
        for key, when in (("old", NOW - dt.timedelta(hours=24) - SECOND), ("new", NOW - dt.timedelta(hours=23))):
            conn.execute(idempotency_keys.insert().values(token_hash="a" * 64, idempotency_key=key,
                                                          created_at=when))
    yield writer(engine)
    engine.dispose()


def contents(engine: sa.Engine) -> dict[str, set[str]]:
    with engine.connect() as conn:
        return {
            "proposals": set(conn.execute(sa.select(REGION_TABLES["proposals"].c.proposal_id)).scalars()),
            "proposal_events": set(conn.execute(sa.select(proposal_events.c.event_id)).scalars()),
            "audit_log": {str(i) for i in conn.execute(sa.select(audit_log.c.entry_id).where(
                audit_log.c.action == "read")).scalars()},
            "webhook_deliveries": set(conn.execute(sa.select(webhook_deliveries.c.delivery_id)).scalars()),
            "idempotency_keys": set(conn.execute(sa.select(idempotency_keys.c.idempotency_key)).scalars()),
        }


DUE = {"proposals": 1, "proposal_events": 2, "audit_log": 1, "webhook_deliveries": 1, "idempotency_keys": 1}
KEPT = {"proposals": {"pr2", "pr3", "pr4"}, "proposal_events": {"evt2", "evt3"}, "audit_log": {"1002"},
        "webhook_deliveries": {"dl-new", "dl-pending"}, "idempotency_keys": {"new"}}


def test_retention_deletes_what_is_due_and_nothing_else(db: sa.Engine) -> None:
    everything = contents(db)
    # A year earlier nothing had reached its period.
    with db.begin() as conn:
        assert apply(conn, POLICY, SETTINGS, NOW - dt.timedelta(days=365)) == dict.fromkeys(DUE, 0)
    assert contents(db) == everything
    # A dry run counts and deletes nothing.
    with db.begin() as conn:
        assert due(conn, POLICY, SETTINGS, NOW) == DUE
    assert contents(db) == everything
    with db.begin() as conn:
        assert apply(conn, POLICY, SETTINGS, NOW) == DUE
    assert contents(db) == KEPT
    with db.connect() as conn:
        logged = conn.execute(sa.select(audit_log.c.detail).where(audit_log.c.resource == "retention")).scalars()
        assert [d for d in logged if "proposals 1" in d]
    with db.begin() as conn:
        assert apply(conn, POLICY, SETTINGS, NOW) == dict.fromkeys(DUE, 0)
    # A period of 0 keeps for ever.
    with db.begin() as conn:
        assert due(conn, Retention(closed_proposals_months=0, audit_years=0, delivery_days=0),
                   SETTINGS, NOW + dt.timedelta(days=36500))["proposals"] == 0


def test_the_service_job_and_the_command_line(db: sa.Engine, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    if db.dialect.name != "sqlite":
        pytest.skip("the command line reads PLATSA_DATABASE_URL: one backend is enough")
    monkeypatch.setenv("PLATSA_DATABASE_URL", str(db.url))
    assert main(["retention", "--dry-run", "--json", "--at", NOW.isoformat()]) == 0
    counted = json.loads(capsys.readouterr().out)
    assert counted["applied"] is False and counted["counts"]["proposals"] == 1
    assert main(["retention", "--apply", "--at", NOW.isoformat()]) == 2  # never deletes early
    assert len(contents(db)["proposals"]) == 4
    changed: list[bool] = []
    job = RetentionJob(db, SETTINGS, on_change=lambda: changed.append(True), clock=lambda: NOW)
    assert job.run_once()["proposals"] == 1 and changed == [True]
    assert contents(db)["proposals"] == KEPT["proposals"]
    assert main(["retention", "--apply"]) == 0  # now: whatever is due today
    assert "deleted" in capsys.readouterr().out


def test_months_are_calendar_months() -> None:
    assert months_before(dt.date(2028, 8, 20), 24) == dt.date(2026, 8, 20)
    assert months_before(dt.date(2028, 2, 29), 12) == dt.date(2027, 2, 28)
    assert months_before(dt.date(2026, 5, 31), 3) == dt.date(2026, 2, 28)


class CountingJob(RetentionJob):
    """A retention job that counts its sweeps."""

    sweeps = 0

    def run_once(self) -> dict[str, int]:
        self.sweeps += 1
        return super().run_once()


def test_one_process_sweeps(db: sa.Engine) -> None:
    """Two processes' jobs on one database (two engines): on PostgreSQL only the one holding the lock
    sweeps, and the other takes over once it stops; on SQLite (one process per database) it sweeps."""
    other_db = make_engine(str(db.url.render_as_string(hide_password=False)), pool_size=1, max_overflow=0)
    settings = SETTINGS.model_copy(update={"retention_interval_s": 0.05})
    first = CountingJob(db, settings, clock=lambda: NOW)
    second = CountingJob(other_db, settings, clock=lambda: NOW)
    try:
        first.start()
        deadline = dt.datetime.now() + dt.timedelta(seconds=10)
        while first.sweeps < 3 and dt.datetime.now() < deadline:
            threading.Event().wait(0.05)
        assert first.sweeps >= 3 and first.is_sweeper()
        if db.dialect.name == "sqlite":
            assert second.is_sweeper()  # one process per SQLite database: it sweeps
            return
        second.start()
        threading.Event().wait(0.5)  # ten turns of the second
        assert second.sweeps == 0 and not second.is_sweeper()
        first.stop()  # its session ends, and the lock with it
        while second.sweeps < 1 and dt.datetime.now() < deadline:
            threading.Event().wait(0.05)
        assert second.sweeps >= 1 and second.is_sweeper()
    finally:
        first.stop()
        second.stop()
        other_db.dispose()
