"""The authorisation matrix: every operation × every role, and ids owned by someone else.

Each row is one request and the status each caller gets: no key, admin, coordinator, the
labour-market unit of Angered, the supplier s1, a researcher, an orderer. Requests that would change data are
chosen so that, once past access control, they are refused for another reason (a duplicate id, an
invalid upload) or change nothing, so that the matrix can run in any order.

Object-level rows: c2 lives in Centrum (not Angered's), pl2/p2 belong to supplier s2 (not s1). Another
owner's object answers 404, exactly as one that does not exist.
"""

from __future__ import annotations

from typing import Any

import pytest

from service.app import create_app
from tests.service.conftest import Api
from tests.service.integration_support import AUTHORISATION_ROWS

ROLES = ("anonymous", "admin", "coordinator", "lmu_angered", "supplier_s1", "researcher", "orderer")

CAND = {"candidate_id": "c1", "home_district": "angered", "lat": 57.79, "lon": 12.05, "work_ladder_step": 3,
        "commute_limit_km": 15.0, "wished_hours": 40, "available_from": "2026-09-01",
        "registered_since": "2025-01-10", "gender": "F", "birth_year": 2004, "foreign_born": True,
        "disability": False, "income_support": "other", "placed": False}
PLACE = {"place_id": "pl1", "supplier_id": "s1", "procurement_id": "p1", "placement_type": "internship",
         "ssyk_code": "9111", "title": "Lokalvårdare", "district_id": "centrum", "lat": 57.7, "lon": 11.97,
         "slots": 2, "start_date": "2026-10-01", "duration_months": 6.0, "lowest_ladder_step": 2,
         "supervisor_offered": True, "hours_per_week": 40}
PROC = {"procurement_id": "p1", "title": "Lokalvård skolor", "procurement_type": "service", "supplier_id": "s1",
        "contract_start": "2026-01-01", "contract_end": "2027-12-31", "value_sek": 4000000,
        "executed_locally": True, "staff_needed": 12, "requirement_type": "hard", "required_places": 2,
        "penalty_sek": 100000}
ZIP = {"content": b"not a zip", "headers": {"Content-Type": "application/zip"}}

#: (method, path template, concrete path, request kwargs, statuses in ROLES order)
MATRIX: list[tuple[str, str, str, dict[str, Any], tuple[int, ...]]] = [
    ("GET", "/health", "/health", {}, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/ready", "/ready", {}, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/v1/me", "/v1/me", {}, (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/v1/region", "/v1/region", {}, (401, 200, 200, 200, 200, 200, 200)),
    ("POST", "/v1/region/import", "/v1/region/import", ZIP, (401, 422, 422, 403, 403, 403, 403)),
    ("GET", "/v1/districts", "/v1/districts", {}, (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/v1/candidates", "/v1/candidates", {}, (401, 200, 200, 200, 403, 403, 403)),
    ("POST", "/v1/candidates", "/v1/candidates", {"json": CAND}, (401, 409, 409, 409, 403, 403, 403)),
    ("GET", "/v1/candidates/{candidate_id}", "/v1/candidates/c1", {}, (401, 200, 200, 200, 403, 403, 403)),
    ("GET", "/v1/candidates/{candidate_id}", "/v1/candidates/c2", {}, (401, 200, 200, 404, 403, 403, 403)),
    ("PATCH", "/v1/candidates/{candidate_id}", "/v1/candidates/c1", {"json": {"placed": False}},
     (401, 200, 200, 200, 403, 403, 403)),
    ("PATCH", "/v1/candidates/{candidate_id}", "/v1/candidates/c2", {"json": {"placed": False}},
     (401, 200, 200, 404, 403, 403, 403)),
    ("GET", "/v1/suppliers", "/v1/suppliers", {}, (401, 200, 200, 200, 200, 403, 200)),
    ("GET", "/v1/suppliers/{supplier_id}", "/v1/suppliers/s1", {}, (401, 200, 200, 200, 200, 403, 200)),
    ("GET", "/v1/suppliers/{supplier_id}", "/v1/suppliers/s2", {}, (401, 200, 200, 200, 404, 403, 200)),
    ("GET", "/v1/procurements", "/v1/procurements", {}, (401, 200, 200, 200, 200, 403, 200)),
    ("POST", "/v1/procurements", "/v1/procurements", {"json": PROC}, (401, 409, 409, 403, 403, 403, 403)),
    ("GET", "/v1/procurements/{procurement_id}", "/v1/procurements/p1", {}, (401, 200, 200, 200, 200, 403, 200)),
    ("GET", "/v1/procurements/{procurement_id}", "/v1/procurements/p2", {}, (401, 200, 200, 200, 404, 403, 200)),
    ("GET", "/v1/places", "/v1/places", {}, (401, 200, 200, 200, 200, 403, 403)),
    ("POST", "/v1/places", "/v1/places", {"json": PLACE}, (401, 409, 409, 403, 403, 403, 403)),
    ("GET", "/v1/places/{place_id}", "/v1/places/pl1", {}, (401, 200, 200, 200, 200, 403, 403)),
    ("GET", "/v1/places/{place_id}", "/v1/places/pl2", {}, (401, 200, 200, 200, 404, 403, 403)),
    ("PATCH", "/v1/places/{place_id}", "/v1/places/pl1", {"json": {"hours_per_week": 40}},
     (401, 200, 200, 403, 200, 403, 403)),
    ("PATCH", "/v1/places/{place_id}", "/v1/places/pl2", {"json": {"hours_per_week": 40}},
     (401, 200, 200, 403, 404, 403, 403)),
    ("GET", "/v1/places/{place_id}/shortlist", "/v1/places/pl1/shortlist", {}, (401, 200, 200, 200, 403, 403, 403)),
    ("GET", "/v1/places/{place_id}/shortlist", "/v1/places/nowhere/shortlist", {},
     (401, 404, 404, 404, 403, 403, 403)),
    ("GET", "/v1/places/{place_id}/shortlist/explain/{candidate_id}", "/v1/places/pl1/shortlist/explain/c1", {},
     (401, 200, 200, 200, 403, 403, 403)),
    ("GET", "/v1/places/{place_id}/shortlist/explain/{candidate_id}", "/v1/places/pl1/shortlist/explain/c2", {},
     (401, 200, 200, 404, 403, 403, 403)),
    ("GET", "/v1/places/{place_id}/shortlist/explain/{candidate_id}", "/v1/places/nowhere/shortlist/explain/c1",
     {}, (401, 404, 404, 404, 403, 403, 403)),
    ("GET", "/v1/policies", "/v1/policies", {}, (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/v1/policies/{policy_id}", "/v1/policies/gothenburg", {}, (401, 200, 200, 200, 200, 200, 200)),
    ("GET", "/v1/policies/{policy_id}/distribution-keys", "/v1/policies/gothenburg/distribution-keys", {},
     (401, 200, 200, 200, 200, 200, 200)),
    ("POST", "/v1/rounds", "/v1/rounds", {"json": {"params": {"time_limit_s": -1}}},
     (401, 422, 422, 403, 403, 403, 403)),
    ("GET", "/v1/rounds", "/v1/rounds", {}, (401, 200, 200, 403, 403, 403, 403)),
    ("GET", "/v1/rounds/{round_id}", "/v1/rounds/r-none", {}, (401, 404, 404, 403, 403, 403, 403)),
    ("GET", "/v1/rounds/{round_id}/assignments", "/v1/rounds/r-none/assignments", {},
     (401, 404, 404, 403, 403, 403, 403)),
    ("GET", "/v1/rounds/{round_id}/unassigned", "/v1/rounds/r-none/unassigned", {},
     (401, 404, 404, 403, 403, 403, 403)),
    ("GET", "/v1/rounds/{round_id}/candidates/{candidate_id}", "/v1/rounds/r-none/candidates/c1", {},
     (401, 404, 404, 403, 403, 403, 403)),
    ("POST", "/v1/rounds/{round_id}/rerun", "/v1/rounds/r-none/rerun", {"json": {}},
     (401, 404, 404, 403, 403, 403, 403)),
    ("GET", "/v1/rounds/{round_id}/compare/{other_id}", "/v1/rounds/r-none/compare/r-other", {},
     (401, 404, 404, 403, 403, 403, 403)),
    ("POST", "/v1/rounds/{round_id}/publish", "/v1/rounds/r-none/publish", {}, (401, 404, 404, 403, 403, 403, 403)),
    ("POST", "/v1/rounds/{round_id}/cancel", "/v1/rounds/r-none/cancel", {}, (401, 404, 404, 403, 403, 403, 403)),
    ("GET", "/v1/rounds/{round_id}/certificate", "/v1/rounds/r-none/certificate", {},
     (401, 404, 404, 403, 403, 403, 403)),
    ("GET", "/v1/jobs/{job_id}", "/v1/jobs/j-none", {}, (401, 404, 404, 403, 403, 403, 403)),
    ("GET", "/v1/proposals", "/v1/proposals", {}, (401, 200, 200, 200, 200, 403, 403)),
    ("GET", "/v1/proposals/{proposal_id}", "/v1/proposals/pr1", {}, (401, 200, 200, 200, 200, 403, 403)),
    ("GET", "/v1/aggregates/candidates", "/v1/aggregates/candidates", {}, (401, 200, 200, 403, 403, 200, 403)),
    ("GET", "/v1/audit", "/v1/audit", {}, (401, 200, 403, 403, 403, 403, 403)),
    ("GET", "/v1/data-subjects/{candidate_id}/export", "/v1/data-subjects/c1/export", {},
     (401, 200, 403, 403, 403, 403, 403)),
    # Erasure is tried on an id that does not exist: the matrix changes nothing (test_data_subject.py erases).
    ("POST", "/v1/data-subjects/{candidate_id}/erase", "/v1/data-subjects/nobody/erase", {},
     (401, 404, 403, 403, 403, 403, 403)),
    ("GET", "/v1/reports/follow-up", "/v1/reports/follow-up?year=2026", {}, (401, 200, 200, 403, 403, 200, 200)),
    ("GET", "/v1/reports/follow-up", "/v1/reports/follow-up?view=coordinator", {},
     (401, 200, 200, 403, 403, 403, 403)),
    ("GET", "/v1/reports/follow-up.xlsx", "/v1/reports/follow-up.xlsx", {}, (401, 200, 200, 403, 403, 200, 200)),
    ("GET", "/v1/reports/follow-up.zip", "/v1/reports/follow-up.zip", {}, (401, 200, 200, 403, 403, 200, 200)),
    ("GET", "/v1/reports/follow-up/chart.png", "/v1/reports/follow-up/chart.png", {},
     (401, 200, 200, 403, 403, 200, 403)),
    ("GET", "/v1/procurements/{procurement_id}/requirement-status", "/v1/procurements/p1/requirement-status",
     {}, (401, 200, 200, 403, 403, 403, 200)),
    ("GET", "/v1/procurements/{procurement_id}/requirement-status",
     "/v1/procurements/p-none/requirement-status", {}, (401, 404, 404, 403, 403, 403, 404)),
]
MATRIX += AUTHORISATION_ROWS  # the supplier integration's operations (tests/service/integration_support.py)
# The follow-up's records (issue 16); writes are refused after access control and change nothing.
_TODAY = __import__("datetime").datetime.now(__import__("datetime").UTC).date().isoformat()
MATRIX += [
    ("POST", "/v1/proposals/{proposal_id}/outcome", "/v1/proposals/pr1/outcome",
     {"json": {"event": "started", "on": _TODAY}}, (401, 409, 409, 409, 403, 403, 403)),
    # pr1 has no placement: refused with 409 for whoever may record (issue 18's 180-day outcome).
    ("POST", "/v1/proposals/{proposal_id}/person-outcome", "/v1/proposals/pr1/person-outcome",
     {"json": {"followed_up_on": _TODAY, "in_work_or_studies": True}}, (401, 409, 409, 409, 403, 403, 403)),
    ("GET", "/v1/own-hires", "/v1/own-hires", {}, (401, 200, 200, 200, 200, 403, 403)),
    ("POST", "/v1/own-hires", "/v1/own-hires", {"json": {
        "procurement_id": "nowhere", "hired_on": "2026-01-01", "contract_type": "permanent", "reference": "x"}},
     (401, 422, 403, 403, 422, 403, 403)),
    ("POST", "/v1/own-hires/{own_hire_id}/review", "/v1/own-hires/oh-none/review",
     {"json": {"candidate_id": "c1"}}, (401, 404, 404, 404, 403, 403, 403)),
    ("GET", "/v1/procurements/{procurement_id}/dialogues", "/v1/procurements/p1/dialogues", {},
     (401, 200, 200, 403, 200, 403, 200)),
    ("POST", "/v1/procurements/{procurement_id}/dialogues", "/v1/procurements/p1/dialogues",
     {"json": {"held_on": "2029-01-01", "participants": ["x"], "agreed": "y"}}, (401, 422, 422, 403, 403, 403, 422)),
    ("POST", "/v1/plan", "/v1/plan", {"json": {"procurements": [{
        "procurement_id": "U-1", "title": "t", "procurement_type": "service", "contract_start": "2027-01-01",
        "contract_end": "2027-12-31", "value_sek": 1, "executed_locally": True, "staff_needed": 3,
        "required_places": 1}]}}, (401, 200, 200, 403, 403, 403, 200)),
    ("PUT", "/v1/supplier-figures/{year}", "/v1/supplier-figures/2026", {"json": {"headcount": -1}},
     (401, 422, 403, 403, 422, 403, 403)),
    ("GET", "/v1/supplier-figures", "/v1/supplier-figures", {}, (401, 200, 200, 403, 200, 403, 200)),
]


def test_the_matrix_covers_every_operation() -> None:
    paths = create_app().openapi()["paths"]
    operations = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    covered = {(method, path) for method, path, *_ in MATRIX}
    assert operations - covered == set(), "operations missing from the authorisation matrix"
    assert covered - operations == set()


@pytest.mark.parametrize(("method", "template", "path", "kwargs", "expected"), MATRIX,
                         ids=[f"{m} {p}" for m, _, p, _, _ in MATRIX])
def test_authorisation(api: Api, method: str, template: str, path: str, kwargs: dict[str, Any],
                       expected: tuple[int, ...]) -> None:
    got = []
    for role in ROLES:
        with api.client(None if role == "anonymous" else role) as client:
            answer = client.request(method, path, **kwargs)
            got.append(answer.status_code)
            if answer.status_code >= 400:
                assert answer.headers["content-type"] == "application/problem+json", answer.text
    assert dict(zip(ROLES, got, strict=True)) == dict(zip(ROLES, expected, strict=True))
