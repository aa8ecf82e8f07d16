"""The learnt outcome probability end to end in the service (issue 18, item 2): a policy that weighs
a stored model gets it bound by name, shortlists and rounds carry the ``outcome`` term, every
proposal stores the score and probability it was made with, and a supplier never sees them.

The model is fitted on a small simulated Gothenburg year and judged by a lenient test policy
(``tests/service/outcome_support.py`` says why).
"""

# ruff: noqa: F811 - the integration_api fixture is imported, then named by the tests that use it

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scoring.exceptions import PolicyError
from scoring.region import load_region
from service.cli import main
from service.cli.common import EXIT_OK
from service.db.tables import REGION_TABLES
from service.outcome_models import bind_outcome_model
from tests.service.conftest import Api, ThreadServer, add_keys, free_port, region_zip, wait_for_job
from tests.service.integration_support import (  # noqa: F401 - integration_api: a fixture
    client,
    integration_api,
    integration_settings,
    propose,
)
from tests.service.outcome_support import (  # noqa: F401 - trained: a fixture
    WEIGHT,
    Trained,
    lenient_text,
    trained,
    write_policy,
)

# --- binding a policy's model by name -------------------------------------------------------


def test_a_policy_binds_its_model_by_name_and_refuses_a_missing_or_refused_one(trained: Trained) -> None:
    t = trained
    weighted = write_policy(t.policies, "weighted", weight=WEIGHT, model=t.model.version)
    bound = bind_outcome_model(weighted, t.models)
    assert bound.outcome_model.predictor is not None and bound.outcome_model.weight == WEIGHT
    assert weighted.outcome_model.predictor is None  # the loaded policy itself is not changed
    # Weight 0: the model is not read at all (no folder needed).
    assert bind_outcome_model(t.lenient, None) is t.lenient
    with pytest.raises(PolicyError, match="no models folder is configured"):
        bind_outcome_model(weighted, None)
    unknown = write_policy(t.policies, "unknown-model", weight=WEIGHT, model="om-logistic-000000000000")
    with pytest.raises(PolicyError, match="no stored outcome model 'om-logistic-000000000000'"):
        bind_outcome_model(unknown, t.models)
    # A policy stricter than the model's calibration refuses it, with each group's reason.
    strict = write_policy(t.policies, "strict", weight=WEIGHT, model=t.model.version, max_error=0.0001)
    with pytest.raises(PolicyError) as refused:
        bind_outcome_model(strict, t.models)
    reasons = [p.reason for p in refused.value.problems]
    assert reasons and all(r.startswith("the policy refuses the model: ") for r in reasons)
    assert any("calibration error" in r and "above the policy's 0.000" in r for r in reasons)
    assert all(p.column == "outcome_model.model" and p.value == t.model.version for p in refused.value.problems)


def test_the_shortlist_command_uses_the_models_folder_and_refuses_a_refused_model(
        trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    t = trained
    monkeypatch.setenv("PLATSA_POLICY_DIR", str(t.policies))
    data = tmp_path / "region"
    assert main(["fixtures", "generate", "--region", "gothenburg", "--size", "small", "--seed", "3",
                 "--out", str(data)]) == EXIT_OK
    region = load_region(data)
    place = region.places["place_id"][0]
    write_policy(t.policies, "weighted", weight=WEIGHT, model=t.model.version)
    capsys.readouterr()
    assert main(["shortlist", "--data", str(data), "--place", place, "--policy", "weighted",
                 "--models", str(t.models), "--explain", region.candidates["candidate_id"][0]]) == EXIT_OK
    said = capsys.readouterr().out
    assert re.search(r"outcome\s+\d+\.\d  predicted \d+ % in work or studies after 180 days", said), said
    write_policy(t.policies, "strict", weight=WEIGHT, model=t.model.version, max_error=0.0001)
    code = main(["shortlist", "--data", str(data), "--place", place, "--policy", "strict", "--models", str(t.models)])
    assert code == 1 and "the policy refuses the model" in capsys.readouterr().err


# --- a server whose policy weighs the model -------------------------------------------------


@pytest.fixture(scope="module")
def weighted_api(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A SQLite server whose region policy (a Gothenburg copy, ``PLATSA_POLICY_DIR``) weighs the model
    in ``PLATSA_MODELS_DIR``."""
    t = trained
    folder = tmp_path_factory.mktemp("weighted-server")
    with _serving(folder, lenient_text("gothenburg", weight=WEIGHT, model=t.model.version),
                  t.models) as (api, imported):
        assert imported.status_code == 201, imported.text
        yield api


@contextlib.contextmanager
def _serving(folder: Path, policy_text: str, models: Path) -> Iterator[tuple[Api, Any]]:
    """A SQLite server in ``folder`` whose region policy is ``policy_text`` (a Gothenburg copy in
    ``PLATSA_POLICY_DIR``) and whose models are in ``models``, with the test region imported; yields
    the API and the import's answer."""
    policies = folder / "policies"
    policies.mkdir()
    # The test region names the policy "gothenburg": the folder's copy is found before the shipped one.
    (policies / "gothenburg.toml").write_text(policy_text, encoding="utf-8")
    url = f"sqlite:///{folder / 'platsa.db'}"
    tokens = add_keys(url)
    settings = integration_settings(url, policy_dir=policies, models_dir=models, port=free_port())
    with ThreadServer(settings):
        api = Api("sqlite", f"http://127.0.0.1:{settings.port}", url, tokens)
        with api.client("admin") as admin:
            answer = admin.post("/v1/region/import", content=region_zip(),
                                headers={"Content-Type": "application/zip"})
        yield api, answer


def _stored(api: Api, proposal_id: str) -> dict[str, Any]:
    db = api.db()
    proposals = REGION_TABLES["proposals"]
    with db.connect() as conn:
        row = dict(conn.execute(sa.select(proposals).where(proposals.c.proposal_id == proposal_id)).mappings().one())
    db.dispose()
    return row


def _supplier_sees_none(api: Api, proposal_id: str, supplier: str) -> None:
    shown = client(api, supplier).get(f"/v1/proposals/{proposal_id}").json()
    assert shown["proposal_id"] == proposal_id
    assert shown["score"] is None and shown["outcome_probability"] is None
    integration = client(api, supplier).get(f"/v1/supplier/proposals/{proposal_id}")
    assert integration.status_code == 200, integration.text
    text = integration.text
    assert "score" not in text and "probability" not in text and "outcome" not in text


def test_a_proposal_from_a_shortlist_stores_its_probability_and_score(weighted_api: Api) -> None:
    api = weighted_api
    listed = client(api, "coordinator").get("/v1/places/pl1/shortlist", params={"k": 5}).json()
    line = listed["lines"][0]
    term = line["terms"]["outcome"]
    assert term["weight"] == WEIGHT and 0 < term["value"] < 1
    assert re.fullmatch(r"predicted \d+ % in work or studies after 180 days", term["text"])
    assert term["text"] == f"predicted {term['value'] * 100:.0f} % in work or studies after 180 days"
    assert sum(t["points"] for t in line["terms"].values()) == pytest.approx(line["score"], abs=1e-3)
    [pid] = propose(api, "pl1", [line["candidate_id"]])
    stored = _stored(api, pid)
    assert stored["score"] == pytest.approx(line["score"], abs=1e-4)
    assert stored["outcome_probability"] == pytest.approx(term["value"], abs=1e-4)
    shown = client(api, "coordinator").get(f"/v1/proposals/{pid}").json()
    assert (shown["score"], shown["outcome_probability"]) == (stored["score"], stored["outcome_probability"])
    _supplier_sees_none(api, pid, "supplier_s1")


def test_a_proposal_from_a_published_round_stores_its_probability_and_score(weighted_api: Api) -> None:
    api = weighted_api
    coordinator = client(api, "coordinator")
    for item in coordinator.get("/v1/proposals", params={"limit": 500}).json()["items"]:
        if item["status"] == "open":
            assert coordinator.post(f"/v1/proposals/{item['proposal_id']}/withdraw").status_code == 200
    started = coordinator.post("/v1/rounds", json={})
    assert started.status_code == 202, started.text
    assert wait_for_job(coordinator, started.json()["job"]["job_id"])["status"] == "succeeded"
    round_id = started.json()["round_id"]
    assignments = coordinator.get(f"/v1/rounds/{round_id}/assignments", params={"limit": 500}).json()["items"]
    assert assignments
    by_pair = {(a["candidate_id"], a["place_id"]): a for a in assignments}
    for a in assignments:
        assert a["explanation"]["terms"]["outcome"] == pytest.approx(
            WEIGHT * a["explanation"]["outcome_probability"])
    published = coordinator.post(f"/v1/rounds/{round_id}/publish", json={"on_open_proposal": "allow"})
    assert published.status_code == 200, published.text
    assert published.json()["proposals_created"] == len(assignments)
    items = [p for p in coordinator.get("/v1/proposals", params={"limit": 500}).json()["items"]
             if p["round_id"] == round_id]
    assert len(items) == len(assignments)
    for p in items:
        a = by_pair[(p["candidate_id"], p["place_id"])]
        assert p["score"] == pytest.approx(a["score"])
        assert p["outcome_probability"] == pytest.approx(a["explanation"]["outcome_probability"])
        assert 0 < p["outcome_probability"] < 1
    supplier_items = client(api, "supplier_s1").get("/v1/proposals", params={"limit": 500}).json()["items"]
    assert supplier_items and all(p["score"] is None and p["outcome_probability"] is None for p in supplier_items)


# --- weight 0: the score is recorded, no probability ----------------------------------------


def test_a_proposal_under_a_policy_without_the_model_stores_its_score_only(integration_api: Api) -> None:
    api = integration_api
    listed = client(api, "coordinator").get("/v1/places/pl2/shortlist", params={"k": 5}).json()
    line = listed["lines"][0]
    assert "outcome" not in line["terms"]
    [pid] = propose(api, "pl2", [line["candidate_id"]])
    shown = client(api, "coordinator").get(f"/v1/proposals/{pid}").json()
    assert shown["score"] == pytest.approx(line["score"], abs=1e-4) and shown["outcome_probability"] is None
    _supplier_sees_none(api, pid, "supplier_s2")




def test_a_server_whose_policy_names_a_refused_model_says_why(trained: Trained, tmp_path: Path) -> None:
    t = trained
    refused = lenient_text("gothenburg", weight=WEIGHT, model=t.model.version, max_error=0.0001)
    with _serving(tmp_path, refused, t.models) as (api, answer), api.client("coordinator") as coordinator:
        listed = coordinator.get("/v1/places/pl1/shortlist")
    # The import stores the region; the policy it names cannot be used, so the region is
    # unavailable, with each group's reason: no shortlist without the term the policy asks for.
    assert answer.status_code == 201, answer.text
    assert listed.status_code == 503
    detail = listed.json()["detail"]
    assert "names policy 'gothenburg', which cannot be loaded" in detail
    assert "the policy refuses the model: all: calibration error" in detail
