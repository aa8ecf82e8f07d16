"""The 180-day person outcome (issue 18, item 2): recorded by the labour-market unit or a
coordinator, validated (a placement, 180 days after its start, not in the future, once), kept from
the supplier, and learnt from by ``platsa model train --from-db``."""

# ruff: noqa: F811 - the integration_api fixture is imported, then named by the tests that use it

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from service import store
from service.cli import main
from service.cli.common import EXIT_OK, EXIT_USAGE
from service.db import make_engine, migrate
from service.db.tables import REGION_TABLES, person_outcomes
from tests.service.conftest import Api
from tests.service.integration_support import (  # noqa: F401 - integration_api: a fixture
    client,
    integration_api,
    new_candidate,
    propose,
    today,
)
from tests.service.outcome_support import Trained, trained  # noqa: F401 - trained: a fixture

# --- the 180-day person outcome --------------------------------------------------------------


def _record(api: Api, key: str, proposal_id: str, **body: object) -> tuple[int, dict[str, Any]]:
    answer = client(api, key).post(f"/v1/proposals/{proposal_id}/person-outcome", json=body)
    return answer.status_code, answer.json()


def _backdate(api: Api, proposal_id: str, days: int) -> dt.date:
    """Move the proposal and its placement ``days`` into the past (a test cannot wait 180 days)."""
    start = today() - dt.timedelta(days=days)
    db = api.db()
    with db.begin() as conn:
        conn.execute(REGION_TABLES["proposals"].update().where(
            REGION_TABLES["proposals"].c.proposal_id == proposal_id).values(created_on=start))
        conn.execute(REGION_TABLES["placements"].update().where(
            REGION_TABLES["placements"].c.proposal_id == proposal_id).values(started_on=start))
    db.dispose()
    return start


def test_the_180_day_outcome_is_validated_recorded_once_and_kept_from_the_supplier(integration_api: Api) -> None:
    api = integration_api
    [pid] = propose(api, "pl1", [new_candidate(api, "angered")])
    day = today().isoformat()
    # No placement yet: refused.
    code, body = _record(api, "lmu_angered", pid, followed_up_on=day, in_work_or_studies=True)
    assert code == 409 and "has no placement" in body["detail"], body
    assert client(api, "lmu_angered").post(f"/v1/proposals/{pid}/outcome",
                                           json={"event": "started", "on": day}).status_code == 200
    # Started today: today is before start + 180 days.
    code, body = _record(api, "lmu_angered", pid, followed_up_on=day, in_work_or_studies=True)
    assert code == 422 and [e["location"] for e in body["errors"]] == ["body.followed_up_on"]
    assert "+ 180 days" in body["errors"][0]["message"]
    start = _backdate(api, pid, 200)
    early = (start + dt.timedelta(days=179)).isoformat()
    code, body = _record(api, "lmu_angered", pid, followed_up_on=early, in_work_or_studies=True)
    assert code == 422 and early in body["errors"][0]["message"]
    future = (today() + dt.timedelta(days=1)).isoformat()
    code, body = _record(api, "lmu_angered", pid, followed_up_on=future, in_work_or_studies=True)
    assert code == 422 and "in the future" in body["errors"][0]["message"]
    code, body = _record(api, "lmu_angered", pid, followed_up_on="not a day", in_work_or_studies=True)
    assert code == 422
    code, body = _record(api, "lmu_angered", pid, followed_up_on=day, in_work_or_studies="maybe", extra=1)
    assert code == 422 and len(body["errors"]) == 2
    # Another district's unit does not see it; a supplier may not record it.
    assert _record(api, "lmu_centrum", pid, followed_up_on=day, in_work_or_studies=True)[0] == 404
    assert _record(api, "supplier_s1", pid, followed_up_on=day, in_work_or_studies=True)[0] == 403
    on = (start + dt.timedelta(days=180)).isoformat()
    code, body = _record(api, "lmu_angered", pid, followed_up_on=on, in_work_or_studies=False)
    assert code == 201, body
    assert (body["placement_id"], body["started_on"], body["followed_up_on"], body["in_work_or_studies"]) == (
        f"PM-{pid}", start.isoformat(), on, False)
    code, body = _record(api, "coordinator", pid, followed_up_on=day, in_work_or_studies=True)
    assert code == 409 and "followed up already" in body["detail"]
    db = api.db()
    with db.connect() as conn:
        rows = conn.execute(sa.select(person_outcomes).where(person_outcomes.c.proposal_id == pid)).mappings().all()
    db.dispose()
    assert [(r["followed_up_on"].isoformat(), r["in_work_or_studies"]) for r in rows] == [(on, False)]
    # Not in the history the supplier reads, nor anywhere in its view of the proposal.
    events = client(api, "supplier_s1").get(f"/v1/supplier/proposals/{pid}/events").json()
    assert not any("in_work_or_studies" in json.dumps(e) or "followed_up_on" in json.dumps(e) for e in events)


def test_the_model_trains_on_the_outcomes_recorded_in_the_database(
        trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    t = trained
    url = f"sqlite:///{tmp_path / 'platsa.db'}"
    db = make_engine(url)
    migrate(db)
    with db.begin() as conn:
        store.replace_region(conn, t.region)
        # The simulated year's follow-ups, written as the route writes them (a year of records by
        # hand through HTTP would take minutes), plus one of a person erased since (a pseudonym).
        rows = [{**r, "proposal_id": r["placement_id"].removeprefix("PM-"), "recorded_at": dt.datetime.now(dt.UTC),
                 "recorded_by": None} for r in t.outcomes.to_dicts()]
        rows.append({**rows[0], "placement_id": "PM-gone", "candidate_id": "erased-0123456789abcdef"})
        conn.execute(person_outcomes.insert(), rows)
    db.dispose()
    monkeypatch.setenv("PLATSA_DATABASE_URL", url)
    monkeypatch.setenv("PLATSA_POLICY_DIR", str(t.policies))
    monkeypatch.delenv("PLATSA_MODELS_DIR", raising=False)
    capsys.readouterr()
    assert main(["model", "train", "--from-db", "--policy", "gothenburg-lenient"]) == EXIT_USAGE
    assert "--out DIR or PLATSA_MODELS_DIR" in capsys.readouterr().err
    assert main(["model", "train", "--from-db", "--data", "x", "--policy", "gothenburg-lenient"]) == EXIT_USAGE
    models = tmp_path / "models"
    monkeypatch.setenv("PLATSA_MODELS_DIR", str(models))
    assert main(["model", "train", "--from-db", "--policy", "gothenburg-lenient"]) == EXIT_OK
    said = capsys.readouterr().out
    assert f"{len(rows):,} person outcome(s) recorded in the database, 1 of them left out" in said
    [manifest] = models.glob("*.json")
    meta = json.loads(manifest.read_text(encoding="utf-8"))
    assert meta["usable"] and meta["policy"] == "gothenburg-lenient"
    assert sum(meta["windows"][p]["outcomes"] for p in ("train", "calibration", "evaluation")) == t.outcomes.height
    # The same outcomes from a file give the same model: the database's records are the outcomes.
    assert meta["version"] == t.model.version
