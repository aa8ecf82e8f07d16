"""Each person's outcome in a round: the unassigned candidates with why, and one candidate's outcome.

A server of its own per backend (the tests add a candidate and rounds). Rounds run on the test
engine (``tests/service/engines.py``): places in id order take free candidates in id order, so with
pl1 and pl2 of 2 slots each, c1 and c2 go to pl1, c3 and c4 to pl2, and c5 and c6 are left over.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from fixtures import generate_region
from scoring.allocation import RoundParams, run_round
from scoring.policy import load_policy
from scoring.pool import build_pool
from service.db.tables import audit_log, rounds
from service.engine import RoundInputs, outcome_from_result
from service.jobs import create_round
from tests.service.conftest import Api, server_with_region, wait_for_job

LEFT_OVER = "outscored at every place in reach (greedy by id): pl1 went to c1, c2; pl2 went to c3, c4"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           database_urls: dict[str, str]) -> Iterator[Api]:
    with server_with_region(request.param, tmp_path_factory, database_urls, "outcomes") as api:
        yield api


@pytest.fixture(scope="module")
def round_id(server: Api) -> str:
    with server.client("coordinator") as client:
        started = client.post("/v1/rounds", json={})
        assert started.status_code == 202, started.text
        assert wait_for_job(client, started.json()["job"]["job_id"])["status"] == "succeeded"
        return str(started.json()["round_id"])


def audited(api: Api, resource: str) -> list[tuple[object, ...]]:
    db = api.db()
    with db.connect() as conn:
        rows = conn.execute(sa.select(audit_log.c.action, audit_log.c.resource_id, audit_log.c.candidate_ids)
                            .where(audit_log.c.resource == resource).order_by(audit_log.c.entry_id)).all()
    db.dispose()
    return [tuple(r) for r in rows]


def test_the_unassigned_are_listed_with_why(server: Api, round_id: str) -> None:
    with server.client("coordinator") as client:
        answer = client.get(f"/v1/rounds/{round_id}/unassigned")
        second = client.get(f"/v1/rounds/{round_id}/unassigned", params={"limit": 1, "offset": 1})
        summary = client.get(f"/v1/rounds/{round_id}").json()["summary"]
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"items": [
        {"candidate_id": "c5", "reason": "outscored", "explanation": LEFT_OVER},
        {"candidate_id": "c6", "reason": "outscored", "explanation": LEFT_OVER}],
        "total": 2, "limit": 50, "offset": 0}
    assert [i["candidate_id"] for i in second.json()["items"]] == ["c6"] and second.json()["total"] == 2
    # The round's summary keeps its counts by reason.
    assert (summary["unassigned"], summary["unassigned_by_reason"]) == (2, {"outscored": 2})
    assert audited(server, "round_unassigned")[-2:] == [("read", round_id, ["c5", "c6"]),
                                                        ("read", round_id, ["c6"])]


def test_the_unassigned_filtered_by_reason(server: Api, round_id: str) -> None:
    with server.client("coordinator") as client:
        outscored = client.get(f"/v1/rounds/{round_id}/unassigned", params={"reason": "outscored"}).json()
        none = client.get(f"/v1/rounds/{round_id}/unassigned", params={"reason": "no_eligible_place"}).json()
        bad = client.get(f"/v1/rounds/{round_id}/unassigned", params={"reason": "unlucky", "limit": 0})
        missing = client.get("/v1/rounds/r-none/unassigned")
    assert outscored["total"] == 2
    assert none == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert bad.status_code == 422
    assert sorted(e["location"] for e in bad.json()["errors"]) == ["query.limit", "query.reason"]
    assert missing.status_code == 404


def test_one_candidates_outcome(server: Api, round_id: str) -> None:
    with server.client("coordinator") as client:
        assigned = client.get(f"/v1/rounds/{round_id}/candidates/c1")
        left = client.get(f"/v1/rounds/{round_id}/candidates/c5")
    assert assigned.status_code == 200, assigned.text
    assert assigned.json() == {
        "round_id": round_id, "candidate_id": "c1", "outcome": "assigned",
        "text": "assigned to pl1 with 1.0 points", "unassigned": None,
        "assignment": {"candidate_id": "c1", "place_id": "pl1", "score": 1.0, "pinned": False,
                       "explanation": {"rule": "greedy by id"}}}
    assert left.json() == {
        "round_id": round_id, "candidate_id": "c5", "outcome": "unassigned", "text": LEFT_OVER,
        "assignment": None, "unassigned": {"candidate_id": "c5", "reason": "outscored", "explanation": LEFT_OVER}}
    assert audited(server, "round_candidate")[-2:] == [("read", round_id, ["c1"]), ("read", round_id, ["c5"])]


def test_a_candidate_not_in_the_round(server: Api, round_id: str) -> None:
    with server.client("coordinator") as client:
        new = client.post("/v1/candidates", json={
            "candidate_id": "c7", "home_district": "centrum", "lat": 57.7, "lon": 11.97, "work_ladder_step": 3,
            "commute_limit_km": 15.0, "wished_hours": 40, "available_from": "2026-09-01",
            "registered_since": "2025-01-10", "gender": "F", "birth_year": 1990, "foreign_born": False,
            "disability": False, "income_support": "other", "placed": False})
        assert new.status_code == 201, new.text
        later = client.get(f"/v1/rounds/{round_id}/candidates/c7")  # added after the round ran
        unknown = client.get(f"/v1/rounds/{round_id}/candidates/nobody")
        no_round = client.get("/v1/rounds/r-none/candidates/c1")
    assert later.status_code == 200, later.text
    assert later.json()["outcome"] == "not_in_round"
    assert later.json()["text"] == (
        "not in this round: no pair of this candidate was in the round's graph (no eligible place, held back, "
        "or not among the best-scored candidates the round kept for any place)")
    assert later.json()["assignment"] is None and later.json()["unassigned"] is None
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == f"no candidate 'nobody' in round {round_id!r} or in the region"
    assert no_round.status_code == 404


def test_a_round_without_outcomes_answers_409(server: Api) -> None:
    db = server.db()
    with db.begin() as conn:
        version = conn.execute(sa.select(rounds.c.region_version)).scalars().first()
        queued, _job = create_round(conn, RoundInputs(policy_id="gothenburg"), region_version=version,
                                    created_by=None)  # never submitted: it stays queued
        stored_before, _job = create_round(conn, RoundInputs(policy_id="gothenburg"), region_version=version,
                                           created_by=None)
        # As a round stored before migration 0004: counts in its summary, no row per person.
        conn.execute(rounds.update().where(rounds.c.round_id == stored_before).values(
            status="succeeded", summary={"unassigned": 2, "unassigned_by_reason": {"outscored": 2}}))
    db.dispose()
    with server.client("coordinator") as client:
        waiting = client.get(f"/v1/rounds/{queued}/candidates/c1")
        old = client.get(f"/v1/rounds/{stored_before}/candidates/c5")
        listed = client.get(f"/v1/rounds/{queued}/unassigned")
    assert waiting.status_code == 409
    assert waiting.json()["detail"] == f"round {queued!r} is queued, not succeeded: it has no outcomes"
    assert old.status_code == 409
    assert old.json()["detail"] == (f"round {stored_before!r} was stored before Platsa kept each unassigned "
                                    "candidate's reason: its summary counts them by reason only")
    assert listed.json()["total"] == 0  # as /assignments of a round without a result


def test_outcomes_are_for_staff(server: Api, round_id: str) -> None:
    for key, status in (("lmu_angered", 403), ("supplier_s1", 403), ("researcher", 403), ("orderer", 403),
                        ("admin", 200), (None, 401)):
        with server.client(key) as client:
            for path in (f"/v1/rounds/{round_id}/unassigned", f"/v1/rounds/{round_id}/candidates/c1"):
                assert client.get(path).status_code == status, (key, path)


def test_a_rerun_keeps_its_own_outcomes(server: Api, round_id: str) -> None:
    with server.client("coordinator") as client:
        again = client.post(f"/v1/rounds/{round_id}/rerun", json={"pins": [{"candidate_id": "c6", "place_id": "pl2"}]})
        assert again.status_code == 202, again.text
        assert wait_for_job(client, again.json()["job"]["job_id"])["status"] == "succeeded"
        second = again.json()["round_id"]
        left: httpx.Response = client.get(f"/v1/rounds/{second}/unassigned")
        first = client.get(f"/v1/rounds/{round_id}/unassigned")
    # c6 pinned to pl2: pl2 takes c3 beside it, and c4, c5 (and c7, if added since) are left over.
    left_over = [i["candidate_id"] for i in left.json()["items"]]
    assert left_over[:2] == ["c4", "c5"] and set(left_over[2:]) <= {"c7"}
    assert left.json()["items"][0]["explanation"] == ("outscored at every place in reach (greedy by id): pl1 went to c1, "
                                                      "c2; pl2 went to c3, c6")
    assert [i["candidate_id"] for i in first.json()["items"]] == ["c5", "c6"]


def test_the_core_engines_outcome_keeps_each_unassigned_candidate() -> None:
    region = generate_region("gothenburg", "tiny", seed=7)
    policy = load_policy(region.manifest.policy)
    pool, places = build_pool(region, policy)
    result = run_round(pool, places, policy, RoundParams(time_limit_s=10))
    outcome = outcome_from_result(result, pinned=set())
    assert [u.candidate_id for u in outcome.unassigned] == result.unassigned["candidate_id"].to_list()
    assert [u.explanation for u in outcome.unassigned] == result.unassigned["explanation"].to_list()
    assert len(outcome.unassigned) == outcome.summary["unassigned"] > 0
    assert dict(Counter(u.reason for u in outcome.unassigned)) == outcome.summary["unassigned_by_reason"]
