"""The data subject's rights (GDPR art. 15 and 17): export and erasure, over HTTP and the CLI.

One person is created with values found nowhere else, proposed, answered and hired, read by
several keys; their export must hold every table that names them, and after the erasure no table
may hold any of their values, while the counts over proposals and placements and the audit trail
stay consistent. A later import that still holds the person is handled as ``docs/data-protection.md``
says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from scoring.region import region_from_frames
from service import store, subject
from service.cli import main
from service.db import make_engine, migrate
from service.db.engine import writer
from service.db.tables import metadata
from tests.regions import MANIFEST
from tests.service.conftest import Api, region_zip, server_with_region, service_region
from tests.service.integration_support import wait_for

#: Values of the person that no other row holds.
PERSON = {
    "candidate_id": "cx-erase-me-7f3a", "home_district": "angered", "lat": 57.7777, "lon": 12.0999,
    "work_ladder_step": 3, "competences": ["lokalvård", "Unikt hantverk Qzx"], "commute_limit_km": 1.5,
    "wished_placement_types": [], "wished_hours": 40, "support_needs": ["stöd Qzx-unikt"],
    "available_from": "2026-09-01", "registered_since": "2024-01-10", "gender": "F", "birth_year": 1943,
    "foreign_born": True, "disability": True, "income_support": "activity_support", "placed": False,
}
TEXT_VALUES = ("cx-erase-me-7f3a", "Qzx")
#: Candidates of the test region, before the person is added.
PEOPLE_BEFORE = service_region()["candidates"].height


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def subject_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                database_urls: dict[str, str]) -> Iterator[Api]:
    with server_with_region(request.param, tmp_path_factory, database_urls, "subject") as api:
        yield api


def every_value(db: sa.Engine) -> list[tuple[str, str, Any]]:
    """Every (table, column, value) stored, JSON and bytes as text."""
    found = []
    with db.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    elif isinstance(value, list | dict):
                        value = json.dumps(value, ensure_ascii=False)
                    found.append((table.name, column, value))
    return found


def personal(values: list[tuple[str, str, Any]]) -> list[tuple[str, str, Any]]:
    return [(t, c, v) for t, c, v in values
            if (isinstance(v, str) and any(x in v for x in TEXT_VALUES))
            or (isinstance(v, float) and v in (PERSON["lat"], PERSON["lon"], PERSON["commute_limit_km"]))]


def test_every_table_that_holds_a_candidate_is_exported() -> None:
    """A new table with a candidate column fails here until service/subject.py covers it."""
    assert subject.tables_holding_candidates() <= set(subject.TABLES_WITH_CANDIDATES)
    # The tables that find the person by another column are real tables too.
    assert set(subject.TABLES_WITH_CANDIDATES) <= {t.name for t in metadata.sorted_tables}


def test_export_then_erase(subject_api: Api) -> None:
    api = subject_api
    admin, coordinator, supplier = api.client("admin"), api.client("coordinator"), api.client("supplier_s1")
    cid = PERSON["candidate_id"]
    assert coordinator.post("/v1/candidates", json=PERSON).status_code == 201
    assert coordinator.get(f"/v1/candidates/{cid}").status_code == 200  # an audited read
    # Proposed with an override of the commute rule: the audit entry's detail names the person.
    made = coordinator.post("/v1/places/pl1/proposals", json={
        "candidate_ids": [cid], "overrides": [{"candidate_id": cid, "reason": "drives her own car"}]})
    assert made.status_code == 201, made.text
    proposal_id = made.json()["proposals"][0]["proposal_id"]
    for body in ({"action": "view"}, {"action": "interview"},
                 {"action": "hire", "start_date": "2026-10-01", "contract_type": "fixed_term"}):
        answer = supplier.post(f"/v1/supplier/proposals/{proposal_id}/transitions", json=body)
        assert answer.status_code == 200, answer.text
    # The transitions ask for a rebuild of the snapshot before their transaction commits; under load
    # the rebuild can read the region before the hire. A later write asks again, after it.
    assert coordinator.patch(f"/v1/candidates/{cid}", json={"wished_hours": 40}).status_code == 200

    def status() -> dict[str, Any]:
        return coordinator.get("/v1/procurements/p1/requirement-status", params={"year": 2026}).json()

    # The hire counts once the service's snapshot holds it (rebuilt in the background after a write).
    status_before = wait_for(lambda: (s := status())["delivered"] == 1 and s, what="the hire counted")
    proposals_before = coordinator.get("/v1/proposals", params={"limit": 1}).json()["total"]
    reference_before = supplier.get(f"/v1/supplier/proposals/{proposal_id}").json()["candidate_reference"]

    # Art. 15: only an admin exports; the export names every table that holds the person.
    assert coordinator.get(f"/v1/data-subjects/{cid}/export").status_code == 403
    exported = admin.get(f"/v1/data-subjects/{cid}/export")
    assert exported.status_code == 200, exported.text
    tables = exported.json()["tables"]
    assert set(tables) == set(subject.TABLES_WITH_CANDIDATES) - {"idempotency_keys", "jobs"}
    assert tables["candidates"][0]["birth_year"] == 1943
    assert [p["proposal_id"] for p in tables["proposals"]] == [proposal_id]
    assert {e["to_status"] for e in tables["proposal_events"]} >= {"open", "viewed", "interview", "hired"}
    assert len(tables["placements"]) == 1 and tables["region_edits"][0]["kind"] == "created"
    assert {e["action"] for e in tables["audit_log"]} >= {"create", "read"}
    assert any(cid in (e["detail"] or "") for e in tables["audit_log"])

    # Art. 17: erased by an admin; 404 afterwards, for the export too.
    assert coordinator.post(f"/v1/data-subjects/{cid}/erase").status_code == 403
    erased = admin.post(f"/v1/data-subjects/{cid}/erase")
    assert erased.status_code == 200, erased.text
    pseudonym = erased.json()["pseudonym"]
    assert re.fullmatch(r"erased-[0-9a-f]{16}", pseudonym)
    assert coordinator.get(f"/v1/candidates/{cid}").status_code == 404
    assert admin.get(f"/v1/data-subjects/{cid}/export").status_code == 404
    assert admin.post(f"/v1/data-subjects/{cid}/erase").status_code == 404

    db = api.db()
    try:
        values = every_value(db)
        assert personal(values) == [], personal(values)
        # The history is kept under the pseudonym: the proposal, its placement, the audit entries.
        assert ("proposals", "candidate_id", pseudonym) in values
        assert ("placements", "candidate_id", pseudonym) in values
        with db.connect() as conn:
            entries = conn.execute(sa.text("SELECT action, key_id, resource_id, detail FROM audit_log "
                                           "WHERE action = 'erase'")).all()
    finally:
        db.dispose()
    assert len(entries) == 1 and entries[0].resource_id == pseudonym and entries[0].key_id is not None
    # Counts over proposals and placements are unchanged; the requirement status counts the hire.
    assert coordinator.get("/v1/proposals", params={"limit": 1}).json()["total"] == proposals_before
    snapshot_erased = wait_for(lambda: coordinator.get("/v1/region").json()["counts"]["candidates"]
                               == PEOPLE_BEFORE, what="a snapshot without the person")
    assert snapshot_erased and status() == status_before
    # The supplier keeps its proposal (its own record), without a profile of the person.
    seen = supplier.get(f"/v1/supplier/proposals/{proposal_id}")
    assert seen.status_code == 200 and "Qzx" not in seen.text
    assert seen.json()["candidate"] is None and seen.json()["status"] == "hired"
    assert seen.json()["candidate_reference"] != reference_before

    # A later import: one without the person imports; one that still holds the person's proposal is
    # refused, naming the proposal, and nothing changes.
    frames = service_region()
    answer = admin.post("/v1/region/import", content=region_zip(frames),
                        headers={"Content-Type": "application/zip"})
    assert answer.status_code == 201, answer.text
    with_person = service_region()
    person = pl.DataFrame([PERSON]).with_columns(
        available_from=pl.col("available_from").str.to_date(),
        registered_since=pl.col("registered_since").str.to_date())
    with_person["candidates"] = pl.concat([with_person["candidates"], person.select(
        with_person["candidates"].columns).cast(dict(with_person["candidates"].schema))])
    old = with_person["proposals"].row(0, named=True)
    with_person["proposals"] = pl.concat([with_person["proposals"], pl.DataFrame([{
        **old, "proposal_id": proposal_id, "candidate_id": cid, "status": "hired"}]).cast(
        dict(with_person["proposals"].schema))])
    refused = admin.post("/v1/region/import", content=region_zip(with_person),
                         headers={"Content-Type": "application/zip"})
    assert refused.status_code == 409, refused.text
    assert proposal_id in refused.text and "erased" in refused.text
    # Without the proposal, the same id is a new person, with no link to the erased history.
    with_person["proposals"] = frames["proposals"]
    again = admin.post("/v1/region/import", content=region_zip(with_person),
                       headers={"Content-Type": "application/zip"})
    assert again.status_code == 201, again.text
    fresh = admin.get(f"/v1/data-subjects/{cid}/export").json()["tables"]
    assert fresh["proposals"] == [] and fresh["placements"] == []
    for client in (admin, coordinator, supplier):
        client.close()


def test_the_command_line_exports_and_erases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'platsa.db'}"
    monkeypatch.setenv("PLATSA_DATABASE_URL", url)
    db = make_engine(url)
    migrate(db)
    with writer(db).begin() as conn:
        store.replace_region(conn, region_from_frames(MANIFEST, service_region()))
    db.dispose()

    assert main(["candidate", "export", "c1", "--out", str(tmp_path / "c1.json")]) == 0
    exported = json.loads((tmp_path / "c1.json").read_text(encoding="utf-8"))
    assert exported["tables"]["candidates"][0]["candidate_id"] == "c1"
    assert main(["candidate", "erase", "c1"]) == 2  # --yes is required
    capsys.readouterr()
    assert main(["candidate", "erase", "c1", "--yes"]) == 0
    assert "erased-" in capsys.readouterr().out
    assert main(["candidate", "export", "c1"]) == 1
    assert "no candidate 'c1'" in capsys.readouterr().err
    db = make_engine(url)
    with db.connect() as conn:
        actions = [r.action for r in conn.execute(sa.text("SELECT action FROM audit_log ORDER BY entry_id"))]
        left = conn.execute(sa.text("SELECT count(*) FROM candidates WHERE candidate_id = 'c1'")).scalar()
    db.dispose()
    assert actions[-2:] == ["export", "erase"] and left == 0


def test_an_id_with_pattern_characters_finds_only_itself(subject_api: Api) -> None:
    """``_`` is a wildcard of SQL's LIKE: the export of ``c_`` must not hold c1's audit entries."""
    admin, coordinator = subject_api.client("admin"), subject_api.client("coordinator")
    assert coordinator.get("/v1/candidates/c1").status_code == 200  # an entry about c1
    body = {**PERSON, "candidate_id": "c_", "competences": [], "support_needs": []}
    assert coordinator.post("/v1/candidates", json=body).status_code == 201
    entries = admin.get("/v1/data-subjects/c_/export").json()["tables"]["audit_log"]
    assert entries and all("c_" in (e["candidate_ids"] or []) or e["resource_id"] == "c_" for e in entries)
    assert admin.post("/v1/data-subjects/c_/erase").status_code == 200
    assert coordinator.get("/v1/candidates/c1").status_code == 200  # c1 untouched
    admin.close()
    coordinator.close()
