"""An optimal round with distribution keys and group floors, over HTTP, through the real core (issue 19).

The demo region (Gothenburg, small, seed 7: what ``platsa serve --demo`` serves) on a server with
the default engine, on SQLite (the round in the server's own thread) and on PostgreSQL (the round
on procrastinate's queue, run by the server's worker). The round is polled as a client polls it,
and must end ``succeeded`` with solver status ``optimal`` and a gap of 0 (over its graph, and over
every eligible pair). Its round is checked against what the test computes itself from the stored
rows: each district's count of assignments against the bounds of the policy's key, the foreign-born
and disability floors from the candidates' own columns (youth, an age on a reference day, is taken
from the summary), and the objective against the same round run on the core
directly, and against the round without keys and floors (which can only do as well or better).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scoring.allocation import RoundParams, run_round
from scoring.domain import PriorityGroup
from scoring.policy import load_named_policy
from scoring.pool import build_pool
from service import store
from service.config import Settings
from service.db import make_engine, migrate
from service.demo import load_demo
from tests.service.conftest import ThreadServer, free_port, new_database, wait_for_job


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         database_urls: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    url = new_database(request.param, tmp_path_factory, database_urls, "keys-floors")
    db = make_engine(Settings(database_url=url).sqlalchemy_url)
    migrate(db)
    keys = load_demo(db)
    assert keys is not None
    db.dispose()
    token = next(k.token for k in keys if k.principal.role.value == "coordinator")
    settings = Settings(database_url=url, port=free_port(), shortlist_warm=False)
    with ThreadServer(settings):
        yield f"http://127.0.0.1:{settings.port}", token, url


def _round(client: httpx.Client, params: dict[str, Any]) -> dict[str, Any]:
    started = client.post("/v1/rounds", json={"params": params})
    assert started.status_code == 202, started.text
    assert wait_for_job(client, started.json()["job"]["job_id"], timeout=300)["status"] == "succeeded"
    got: dict[str, Any] = client.get(f"/v1/rounds/{started.json()['round_id']}").json()
    items: list[dict[str, Any]] = []
    while True:
        page = client.get(f"/v1/rounds/{got['round_id']}/assignments",
                          params={"limit": 500, "offset": len(items)}).json()
        items += page["items"]
        if len(items) >= page["total"]:
            break
    got["assignments"] = items
    return got


def test_an_optimal_round_keeps_the_keys_and_floors_the_test_recomputes(demo: tuple[str, str, str]) -> None:
    base, token, url = demo
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        held = _round(client, {"objective": "score", "use_keys": True, "use_floors": True})
        free = _round(client, {"objective": "score", "use_keys": False, "use_floors": False})
    assert held["status"] == free["status"] == "succeeded"
    assert held["solver_status"] == free["solver_status"] == "optimal"
    assert held["gap"] == 0 and free["gap"] == 0
    assert held["certification"]["scope"] == "eligible"
    assert held["certification"]["gap_over_eligible"] == pytest.approx(0, abs=1e-9)

    db = make_engine(Settings(database_url=url).sqlalchemy_url)
    try:
        with db.connect() as conn:
            loaded = store.load_region(conn)
    finally:
        db.dispose()
    assert loaded is not None
    region, _ = loaded
    policy = load_named_policy(region.manifest.policy)
    candidates = {row["candidate_id"]: row for row in region.candidates.to_dicts()}

    # Each candidate at most once; each assignment's home district counted against the key's bounds.
    chosen = [a["candidate_id"] for a in held["assignments"]]
    assert len(chosen) == len(set(chosen)) > 0
    n = len(chosen)
    by_district = Counter(candidates[c]["home_district"] for c in chosen)
    tolerance = policy.distribution.tolerance
    for district, share in policy.distribution.keys.items():
        assert math.floor((share - tolerance) * n) <= by_district.get(district, 0) <= math.ceil(
            (share + tolerance) * n), (district, by_district.get(district, 0), n)
    # Floors, from the candidates' own attributes (foreign-born and disability are columns).
    for group, column in (("foreign_born", "foreign_born"), ("disability", "disability")):
        got = sum(bool(candidates[c][column]) for c in chosen)
        assert got >= policy.floors[PriorityGroup(group)] * n, (group, got, n)
    summary_groups = {g["group"]: g for g in held["summary"]["groups"]}
    assert all(g["met"] for g in summary_groups.values())
    assert {d["district_id"]: d["assigned"] for d in held["summary"]["districts"]} == {
        d: by_district.get(d, 0) for d in {x["district_id"] for x in held["summary"]["districts"]}}

    # The same round on the core directly: the same objective; without keys and floors: no worse.
    pool, places = build_pool(region, policy)
    direct = run_round(pool, places, policy, RoundParams(objective="score"))
    assert held["objective"] == pytest.approx(direct.objective, abs=1e-6)
    assert free["objective"] >= held["objective"] - 1e-6
    assert free["objective"] > held["objective"], "the keys and floors bind on the demo region"

