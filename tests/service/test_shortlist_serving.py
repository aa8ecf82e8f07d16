"""The shortlist endpoint's fast path: cached keys and answers, queued audit entries, district lists.

These tests change data (a revoked key, a proposal, a re-import), so they run against a server of
their own per backend rather than the session's shared one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import numpy as np
import polars as pl
import pytest

from scoring.policy import load_policy
from scoring.pool import build_pool
from scoring.region import region_from_frames
from scoring.shortlist import shortlist
from service import store
from service.auth import create_key, revoke_key
from tests.regions import MANIFEST
from tests.service.conftest import (
    Api,
    region_zip,
    server_with_region,
    service_region,
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def own_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            database_urls: dict[str, str]) -> Iterator[Api]:
    with server_with_region(request.param, tmp_path_factory, database_urls, "shortlists") as api:
        yield api


def ids(client: httpx.Client, place: str, k: int = 10) -> list[str]:
    answer = client.get(f"/v1/places/{place}/shortlist", params={"k": k})
    assert answer.status_code == 200, answer.text
    return [line["candidate_id"] for line in answer.json()["lines"]]


def until(predicate: object, timeout: float = 15.0) -> None:
    """Wait for ``predicate()`` (a pool rebuild happens in the background, within about a second)."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_revoked_key_is_refused_at_once(own_api: Api) -> None:
    db = own_api.db()
    with db.begin() as conn:
        key = create_key(conn, role="coordinator", name="short-lived")
    headers = {"Authorization": f"Bearer {key.token}"}
    with httpx.Client(base_url=own_api.base_url, headers=headers, timeout=60) as client:
        assert client.get("/v1/places/pl1/shortlist").status_code == 200  # the key is now cached
        assert client.get("/v1/places/pl1/shortlist").status_code == 200
        # Revoked in this process (the test server runs in it): refused from the next request on,
        # although the key cache still held it.
        with db.begin() as conn:
            assert revoke_key(conn, key.principal.key_id)
        answer = client.get("/v1/places/pl1/shortlist")
        assert answer.status_code == 401
        assert answer.json()["detail"] == "unknown or revoked API key"
        assert client.get("/v1/me").status_code == 401
    db.dispose()


def test_every_shortlist_read_is_audited(own_api: Api) -> None:
    with own_api.client("admin") as admin, own_api.client("coordinator") as coordinator:
        def entries() -> list[dict[str, object]]:
            page = admin.get("/v1/audit", params={"resource_id": "pl2", "limit": 500}).json()
            return [e for e in page["items"] if e["resource"] == "shortlist"]

        before = len(entries())
        lists = [ids(coordinator, "pl2", k=2) for _ in range(7)]  # the first computes, six are cached
        assert lists == [lists[0]] * 7
        # GET /v1/audit writes the queue before reading: all seven reads are there, with who and whom.
        after = entries()  # newest first
        new = after[: len(after) - before]
        assert len(new) == 7
        coordinator_id = coordinator.get("/v1/me").json()["key_id"]
        assert {(e["key_id"], e["role"], e["action"]) for e in new} == {(coordinator_id, "coordinator", "read")}
        assert all(e["candidate_ids"] == lists[0] for e in new)
        assert all(e["at"] for e in new)


def test_a_unit_gets_exactly_its_districts_top_k(own_api: Api) -> None:
    region = region_from_frames(MANIFEST, service_region())
    policy = load_policy(region.manifest.policy)
    pool, places = build_pool(region, policy)
    home = dict(zip(pool.ids.tolist(), (pool.district_ids[d] for d in pool.district), strict=True))
    for key, district in (("lmu_angered", "angered"), ("lmu_centrum", "centrum")):
        mine = pool.district == pool.district_ids.index(district)
        with own_api.client(key) as client:
            for place in ("pl1", "pl2"):
                for k in (1, 2, 10):
                    got = ids(client, place, k)
                    expected = shortlist(pool, places, place, k=k, policy=policy, candidate_mask=mine)
                    assert got == expected.candidate_ids
                    assert {home[c] for c in got} <= {district}
                    assert len(got) == min(k, expected.counts.considered)
    with own_api.client("lmu_centrum") as client:
        assert ids(client, "pl1", 2) == ["c4", "c2"]  # c1 (the region's best) lives in Angered


def test_a_new_proposal_invalidates_cached_shortlists(own_api: Api) -> None:
    with own_api.client("coordinator") as coordinator:
        first = ids(coordinator, "pl1")
        assert first == ids(coordinator, "pl1")  # cached now
        top = first[0]
        answer = coordinator.post("/v1/places/pl2/proposals", json={"candidate_ids": [top]})
        assert answer.status_code == 201, answer.text
        # An open proposal elsewhere holds the candidate back at pl1 once the pool is rebuilt.
        until(lambda: top not in ids(coordinator, "pl1"))
        assert ids(coordinator, "pl1") == [c for c in first if c != top]


def test_a_region_import_invalidates_cached_shortlists(own_api: Api) -> None:
    with own_api.client("admin") as admin:
        before = ids(admin, "pl1")
        assert before == ids(admin, "pl1")  # cached now
        frames = service_region()
        frames["candidates"] = frames["candidates"].with_columns(
            placed=pl.col("candidate_id") == before[0])
        answer = admin.post("/v1/region/import", content=region_zip(frames),
                            headers={"Content-Type": "application/zip"})
        assert answer.status_code == 201, answer.text
        # The import rebuilds the pool before it answers: the next read is the new region's.
        after = ids(admin, "pl1")
        assert before[0] not in after
        # The import keeps proposals made through Platsa (the previous test's open one holds its
        # candidate back at pl1), so the expected list is the stored region's, not the upload's alone.
        db = own_api.db()
        with db.connect() as conn:
            stored = store.load_region(conn)
        db.dispose()
        assert stored is not None
        region = stored[0]
        assert region.proposals.height == region_from_frames(MANIFEST, frames).proposals.height + 1
        policy = load_policy(region.manifest.policy)
        pool, places = build_pool(region, policy)
        assert after == shortlist(pool, places, "pl1", k=10, policy=policy).candidate_ids
        assert np.all(pool.placed == (pool.ids == before[0]))
