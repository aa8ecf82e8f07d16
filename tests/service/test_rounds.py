"""Rounds as jobs: create (202), follow, review, re-run with pins and removals, compare, publish."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from scoring.region import region_from_frames, write_region
from scoring.schema import SENSITIVE_COLUMNS
from service.cli import main
from service.config import Settings
from tests.regions import MANIFEST
from tests.service.conftest import Api, free_port, server_with_region, service_region, wait_for_job


def _pairs(client, round_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    items = client.get(f"/v1/rounds/{round_id}/assignments").json()["items"]
    return {a["candidate_id"]: a["place_id"] for a in items}


def test_round_review_rerun_compare_publish(api: Api) -> None:
    with api.client("coordinator") as client:
        started = client.post("/v1/rounds", json={"pins": [{"candidate_id": "c6", "place_id": "pl2"}]})
        assert started.status_code == 202, started.text
        job_id = started.json()["job"]["job_id"]
        assert started.headers["location"] == f"/v1/jobs/{job_id}"
        job = wait_for_job(client, job_id)
        assert (job["status"], job["progress"], job["attempts"]) == ("succeeded", 1.0, 1)
        first = started.json()["round_id"]
        rnd = client.get(f"/v1/rounds/{first}").json()
        assert (rnd["status"], rnd["solver_status"], rnd["objective"]) == ("succeeded", "greedy", 4.0)
        assert _pairs(client, first) == {"c1": "pl1", "c2": "pl1", "c3": "pl2", "c6": "pl2"}

        again = client.post(f"/v1/rounds/{first}/rerun",
                            json={"removals": [{"candidate_id": "c1", "place_id": "pl1"}]})
        assert again.status_code == 202
        second = again.json()["round_id"]
        assert wait_for_job(client, again.json()["job"]["job_id"])["status"] == "succeeded"
        assert client.get(f"/v1/rounds/{second}").json()["parent_round_id"] == first
        # c1 may not go to pl1 any more, so pl1 takes the next free ones (not c3: s1 declined c3 45 days
        # ago, so it is held back from s1's places) and c1 goes to pl2.
        assert _pairs(client, second) == {"c1": "pl2", "c2": "pl1", "c4": "pl1", "c6": "pl2"}

        diff = client.get(f"/v1/rounds/{first}/compare/{second}").json()
        assert diff["same"] == 2
        assert diff["moved"] == [{"candidate_id": "c1", "place_a": "pl1", "place_b": "pl2"}]
        assert diff["only_a"] == [{"candidate_id": "c3", "place_id": "pl2"}]
        assert diff["only_b"] == [{"candidate_id": "c4", "place_id": "pl1"}]

        # Nothing is proposed until a round is published.
        before = client.get("/v1/proposals").json()["total"]
        published = client.post(f"/v1/rounds/{second}/publish")
        assert published.status_code == 200, published.text
        assert published.json()["proposals_created"] == 4
        assert client.post(f"/v1/rounds/{second}/publish").status_code == 409
        assert client.get("/v1/proposals").json()["total"] == before + 4

        bad = client.post("/v1/rounds", json={"pins": [{"candidate_id": "nobody", "place_id": "nowhere"}],
                                              "params": {"time_limit_s": -1, "colour": "blue"}})
        assert bad.status_code == 422
        assert {e["location"] for e in bad.json()["errors"]} == {"body.params.time_limit_s",
                                                                 "body.params.colour"}
        unknown = client.post("/v1/rounds", json={"pins": [{"candidate_id": "nobody", "place_id": "pl1"}]})
        assert [e["location"] for e in unknown.json()["errors"]] == ["body.pins.0.candidate_id"]

    # A supplier sees the proposals to its own places, without candidate ids or sensitive data.
    with api.client("supplier_s2") as client:
        items = client.get("/v1/proposals").json()["items"]
        mine = [p for p in items if p["round_id"] == second]
        assert {p["place_id"] for p in items} == {"pl2"} and len(mine) == 2
        for proposal in mine:
            assert proposal["candidate_id"] is None
            assert not SENSITIVE_COLUMNS & set(proposal["candidate"])
            assert "groups" not in proposal["candidate"]
    with api.client("lmu_centrum") as client:
        mine = [p for p in client.get("/v1/proposals").json()["items"] if p["round_id"] == second]
        assert {p["candidate_id"] for p in mine} == {"c2", "c4"}
    with api.client("admin") as client:
        entries = client.get("/v1/audit", params={"resource_id": second}).json()["items"]
        assert "publish" in [e["action"] for e in entries]


def _until(client: httpx.Client, job_id: str, statuses: set[str], timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, object] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_a_queued_or_running_round_can_be_cancelled_and_stores_nothing(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATSA_TEST_ROUND_PAUSE", "0.5")  # the test engine pauses per place (two places)
    with api.client("coordinator") as client:
        running = client.post("/v1/rounds", json={}).json()
        queued = client.post("/v1/rounds", json={}).json()  # one worker: it waits behind the first
        assert _until(client, running["job"]["job_id"], {"running"})["status"] == "running"

        # Queued: cancelled at once, and it never runs.
        answer = client.post(f"/v1/rounds/{queued['round_id']}/cancel")
        assert answer.status_code == 200, answer.text
        assert (answer.json()["status"], answer.json()["job"]["status"]) == ("cancelled", "cancelled")

        # Running: asked to stop (202), then cancelled with nothing stored.
        answer = client.post(f"/v1/rounds/{running['round_id']}/cancel")
        assert answer.status_code == 202, answer.text
        assert answer.json()["job"]["message"] == "stopping: cancelled"
        job = _until(client, running["job"]["job_id"], {"succeeded", "failed", "cancelled"})
        assert job["status"] == "cancelled"
        for rnd in (running, queued):
            stored = client.get(f"/v1/rounds/{rnd['round_id']}").json()
            assert (stored["status"], stored["objective"], stored["summary"]) == ("cancelled", None, None)
            assert client.get(f"/v1/rounds/{rnd['round_id']}/assignments").json()["total"] == 0
            assert client.post(f"/v1/rounds/{rnd['round_id']}/cancel").status_code == 409
        assert client.get(f"/v1/jobs/{queued['job']['job_id']}").json()["started_at"] is None

        # The worker goes on with the next round.
        monkeypatch.setenv("PLATSA_TEST_ROUND_PAUSE", "0")
        after = client.post("/v1/rounds", json={}).json()
        assert wait_for_job(client, after["job"]["job_id"])["status"] == "succeeded"
        assert client.post(f"/v1/rounds/{after['round_id']}/cancel").status_code == 409
    with api.client("supplier_s2") as client:
        assert client.post(f"/v1/rounds/{after['round_id']}/cancel").status_code == 403


def test_a_core_round_states_its_proof_and_its_certificate_checks_out(
        tmp_path_factory: pytest.TempPathFactory, database_urls: dict[str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """With the core engine: the round's proof scope is stored and served, and the certificate it
    serves passes `platsa verify-round` on the region folder, without the solver."""
    def core(url: str) -> Settings:
        return Settings(database_url=url, port=free_port(), engine="service.engine:CoreEngine")

    with server_with_region("sqlite", tmp_path_factory, database_urls, "core-round", settings=core) as api, \
            api.client("coordinator") as client:
        started = client.post("/v1/rounds", json={"params": {"time_limit_s": 30}}).json()
        assert wait_for_job(client, started["job"]["job_id"])["status"] == "succeeded"
        rnd = client.get(f"/v1/rounds/{started['round_id']}").json()
        assert rnd["certification"]["scope"] == "eligible"
        assert rnd["certification"]["certified_over"] == rnd["certification"]["num_eligible"] > 0
        certificate = client.get(f"/v1/rounds/{started['round_id']}/certificate")
        assert certificate.status_code == 200, certificate.text
        (tmp_path / "certificate.json").write_text(certificate.text, "utf-8")
    write_region(region_from_frames(MANIFEST, service_region()), tmp_path / "region")
    capsys.readouterr()
    assert main(["verify-round", "--data", str(tmp_path / "region"), "--round",
                 str(tmp_path / "certificate.json")]) == 0
    assert "holds over every eligible pair" in capsys.readouterr().out
