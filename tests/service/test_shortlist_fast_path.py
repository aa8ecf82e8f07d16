"""The shortlist fast path answers exactly as the route does, and audits exactly as it does.

Two servers over one database: one as deployed (fast path on), one with
``PLATSA_SHORTLIST_FAST_PATH=0`` (every request through FastAPI's route). Every request is sent to
both and the answers compared byte for byte: status, headers (all but ``date``) and body, for
successes and for every kind of refusal. A spy inside the deployed server's middleware stack, in
front of FastAPI's routing, records what got past the fast path: no successful read does, every
refusal does (the route answers it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from service.auth import Principal, Role, create_key, revoke_key
from service.cache import DEFAULT_K, cache_key
from service.config import Settings
from service.db import make_engine
from service.db.engine import writer
from service.db.tables import audit_log
from service.engine import load_engine
from service.errors import Forbidden, NotFound
from service.routes import shortlists
from service.routes.shortlists import shortlist_access
from service.state import ServiceState, Snapshot
from tests.service.conftest import (
    KEYS,
    TEST_ENGINE,
    Api,
    ThreadServer,
    add_keys,
    free_port,
    new_database,
    region_zip,
)


class Spy:
    """ASGI middleware noting the requests that reach it (``method path?query``)."""

    def __init__(self, app: ASGIApp, seen: list[str]) -> None:
        self.app, self.seen = app, seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(f"{scope['method']} {scope['path']}?{scope['query_string'].decode()}")
        await self.app(scope, receive, send)


@dataclass
class Pair:
    fast: Api
    routed: Api
    reached_routing: list[str]
    """Requests to the fast server that got past the fast path."""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         database_urls: dict[str, str]) -> Iterator[Pair]:
    url = new_database(request.param, tmp_path_factory, database_urls, "fastpath")
    tokens = add_keys(url)
    fast_settings = Settings(database_url=url, port=free_port(), engine=TEST_ENGINE)
    routed_settings = Settings(database_url=url, port=free_port(), engine=TEST_ENGINE,
                               shortlist_fast_path=False)
    seen: list[str] = []
    fast_server = ThreadServer(fast_settings)
    # Appended last, so innermost of the app's own middleware: behind the fast path, before routing.
    fast_server.server.config.app.user_middleware.append(Middleware(Spy, seen=seen))
    with fast_server:
        fast = Api(request.param, f"http://127.0.0.1:{fast_settings.port}", url, tokens)
        with fast.client("admin") as admin:
            answer = admin.post("/v1/region/import", content=region_zip(),
                                headers={"Content-Type": "application/zip"})
            assert answer.status_code == 201, answer.text
        with ThreadServer(routed_settings):  # loads the imported region on start
            routed = Api(request.param, f"http://127.0.0.1:{routed_settings.port}", url, tokens)
            yield Pair(fast, routed, seen)


def both(pair: Pair, path: str, headers: dict[str, str]) -> tuple[httpx.Response, httpx.Response]:
    answers = []
    for api in (pair.fast, pair.routed):
        with httpx.Client(base_url=api.base_url, timeout=60) as client:
            answers.append(client.get(path, headers=headers))
    return answers[0], answers[1]


def assert_same(fast: httpx.Response, routed: httpx.Response) -> None:
    assert fast.status_code == routed.status_code, (fast.text, routed.text)
    assert fast.content == routed.content
    drop = {"date"}
    assert ([(k, v) for k, v in fast.headers.multi_items() if k not in drop]
            == [(k, v) for k, v in routed.headers.multi_items() if k not in drop])


def bearer(pair: Pair, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair.fast.tokens[key]}"}


SUCCESSES = [
    ("coordinator", "/v1/places/pl1/shortlist"),
    ("coordinator", "/v1/places/pl1/shortlist?k=10"),
    ("coordinator", "/v1/places/pl2/shortlist?k=2"),
    ("admin", "/v1/places/pl1/shortlist?k=200"),
    ("lmu_angered", "/v1/places/pl1/shortlist?k=1"),
    ("lmu_centrum", "/v1/places/pl1/shortlist"),
    ("lmu_centrum", "/v1/places/pl2/shortlist?k=3"),
]


@pytest.mark.parametrize(("key", "path"), SUCCESSES)
def test_a_read_is_answered_by_the_fast_path_as_by_the_route(pair: Pair, key: str, path: str) -> None:
    pair.reached_routing.clear()
    for _ in range(2):  # computed (or warmed), then cached
        fast, routed = both(pair, path, bearer(pair, key))
        assert fast.status_code == 200, fast.text
        assert_same(fast, routed)
        assert fast.headers["content-type"] == "application/json"
    assert pair.reached_routing == []


@pytest.mark.parametrize("form", ["bearer {}", "BEARER {}", "Bearer   {}"])
def test_the_authorization_header_is_read_as_the_route_reads_it(pair: Pair, form: str) -> None:
    pair.reached_routing.clear()
    headers = {"Authorization": form.format(pair.fast.tokens["coordinator"])}
    fast, routed = both(pair, "/v1/places/pl2/shortlist?k=4", headers)
    assert fast.status_code == 200, fast.text
    assert_same(fast, routed)
    assert pair.reached_routing == []


REFUSALS = [
    # (what, key or raw Authorization header, path, status)
    ("no key", None, "/v1/places/pl1/shortlist", 401),
    ("unknown key", "Bearer platsa_not-a-key", "/v1/places/pl1/shortlist", 401),
    ("not bearer", "Basic dXNlcjpwYXNz", "/v1/places/pl1/shortlist", 401),
    ("no token", "Bearer", "/v1/places/pl1/shortlist", 401),
    ("lower-case scheme, unknown key", "bearer platsa_x", "/v1/places/pl1/shortlist", 401),
    ("supplier", "supplier_s1", "/v1/places/pl1/shortlist", 403),
    ("supplier of the place", "supplier_s2", "/v1/places/pl2/shortlist", 403),
    ("researcher", "researcher", "/v1/places/pl1/shortlist", 403),
    ("orderer", "orderer", "/v1/places/pl1/shortlist", 403),
    ("unknown place", "coordinator", "/v1/places/nowhere/shortlist", 404),
    ("unknown place, unit", "lmu_angered", "/v1/places/nowhere/shortlist?k=3", 404),
    ("control character", "coordinator", "/v1/places/%01/shortlist", 422),
    ("k too small", "coordinator", "/v1/places/pl1/shortlist?k=0", 422),
    ("k too large", "coordinator", "/v1/places/pl1/shortlist?k=201", 422),
    ("k not a number", "coordinator", "/v1/places/pl1/shortlist?k=ten", 422),
    ("k empty", "coordinator", "/v1/places/pl1/shortlist?k=", 422),
    ("k fraction", "coordinator", "/v1/places/pl1/shortlist?k=1.5", 422),
    ("k negative", "lmu_angered", "/v1/places/pl1/shortlist?k=-1", 422),
]


@pytest.mark.parametrize(("what", "key", "path", "status"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refusal_is_the_routes_own(pair: Pair, what: str, key: str | None, path: str, status: int) -> None:
    if key is None:
        headers = {}
    elif key in pair.fast.tokens:
        headers = bearer(pair, key)
    else:
        headers = {"Authorization": key}
    pair.reached_routing.clear()
    fast, routed = both(pair, path, headers)
    assert fast.status_code == status, fast.text
    assert fast.headers["content-type"] == "application/problem+json"
    assert_same(fast, routed)
    if status in (401, 403):
        # Refused in front of the fast path, by the gate (service.gate: key and role before anything
        # else), with the same answer as the route's on the server without a fast path.
        assert pair.reached_routing == []
    else:
        assert len(pair.reached_routing) == 1  # the fast path passed it on, untouched


@pytest.mark.parametrize(("path", "status"), [
    ("/v1/places/pl1/shortlist?k=07", 200), ("/v1/places/pl1/shortlist?k=5&k=6", 200),
    ("/v1/places/pl1/shortlist?k=5&fair=false", 200), ("/v1/places/pl1/shortlist?include_held_back=true", 200),
    ("/v1/places/pl1/shortlist?k=5&policy=gothenburg", 200), ("/v1/places/pl1/shortlist?policy=sodertalje", 200),
    ("/v1/places/pl1/shortlist?k=5&extra=1", 422), ("/v1/places/pl1/shortlist?fair=maybe", 422),
    ("/v1/places/pl1/shortlist?policy=nowhere", 404)])
def test_other_queries_are_left_to_the_route(pair: Pair, path: str, status: int) -> None:
    pair.reached_routing.clear()
    fast, routed = both(pair, path, bearer(pair, "coordinator"))
    assert fast.status_code == status, fast.text
    assert_same(fast, routed)
    assert len(pair.reached_routing) == 1


def test_both_paths_write_the_same_audit_entries(pair: Pair) -> None:
    def entries(api: Api) -> list[tuple[object, ...]]:
        with api.client("admin") as admin:  # reading the log writes this server's queue first
            assert admin.get("/v1/audit", params={"limit": 1}).status_code == 200
        db = api.db()
        with db.connect() as conn:
            rows = conn.execute(sa.select(audit_log.c.key_id, audit_log.c.role, audit_log.c.action,
                                          audit_log.c.resource, audit_log.c.resource_id,
                                          audit_log.c.candidate_ids)
                                .where(audit_log.c.resource == "shortlist")
                                .order_by(audit_log.c.entry_id)).all()
        db.dispose()
        return [tuple(r) for r in rows]

    requests = [("lmu_angered", "/v1/places/pl2/shortlist?k=2"), ("researcher", "/v1/places/pl2/shortlist"),
                ("coordinator", "/v1/places/pl2/shortlist"), ("coordinator", "/v1/places/nowhere/shortlist")]
    written = []
    for api in (pair.fast, pair.routed):
        before = entries(api)  # both servers write to one log: each takes its turn
        for key, path in requests:
            with api.client(key) as client:
                client.get(path)
        written.append(entries(api)[len(before):])
    assert written[0] == written[1]
    assert [(e[1], e[4]) for e in written[0]] == [("labour_market_unit", "pl2"), ("coordinator", "pl2")]
    assert all(e[5] for e in written[0])  # the candidates read are named


@pytest.mark.parametrize("warm", [True, False])
def test_a_new_snapshot_is_warmed_with_every_places_default_list(pair: Pair, warm: bool) -> None:
    settings = Settings(database_url=pair.fast.database_url, engine=TEST_ENGINE, shortlist_warm=warm)
    db = make_engine(settings.sqlalchemy_url)
    state = ServiceState(settings, db, load_engine(settings.engine))
    try:
        snapshot = state.reload()
        assert snapshot is not None
        wanted = {cache_key(place, DEFAULT_K, None) for place in snapshot.place_ids}
        assert len(wanted) == 2
        deadline = time.monotonic() + 30
        while warm and len(snapshot.shortlists) < len(wanted):
            assert time.monotonic() < deadline, "the cache was not warmed"
            time.sleep(0.05)
        state.close()  # stops the warming thread and waits for it
        assert {key for key in wanted if key in snapshot.shortlists} == (wanted if warm else set())
        assert len(snapshot.shortlists) == (len(wanted) if warm else 0)
        # What was warmed is what a coordinator is sent.
        with httpx.Client(base_url=pair.routed.base_url, headers=bearer(pair, "coordinator")) as client:
            for place in snapshot.place_ids if warm else ():
                cached = snapshot.shortlists.get(cache_key(place, DEFAULT_K, None))
                assert cached is not None
                assert cached.body == client.get(f"/v1/places/{place}/shortlist").content
    finally:
        state.close()
        db.dispose()


def _snapshot(pair: Pair) -> Snapshot:
    db = make_engine(Settings(database_url=pair.fast.database_url).sqlalchemy_url)
    state = ServiceState(Settings(database_url=pair.fast.database_url, shortlist_warm=False), db,
                         load_engine(TEST_ENGINE))
    snapshot = state.reload()
    db.dispose()
    assert snapshot is not None
    return snapshot


def test_the_access_check_says_who_reads_which_list(pair: Pair) -> None:
    snapshot = _snapshot(pair)
    principal = {name: Principal(i, name, Role(role), district, supplier)
                 for i, (name, (role, district, supplier)) in enumerate(KEYS.items())}
    assert shortlist_access(principal["coordinator"], snapshot, "pl1") is None  # region-wide
    assert shortlist_access(principal["admin"], snapshot, "pl2") is None
    # A unit reads any place's list, of its own district's candidates: pl2 is in angered.
    assert shortlist_access(principal["lmu_centrum"], snapshot, "pl2") == "centrum"
    assert shortlist_access(principal["lmu_angered"], snapshot, "pl2") == "angered"
    for refused in ("supplier_s1", "supplier_s2", "researcher", "orderer"):
        with pytest.raises(Forbidden):
            shortlist_access(principal[refused], snapshot, "pl2")
    with pytest.raises(NotFound):
        shortlist_access(principal["lmu_angered"], snapshot, "nowhere")


def test_a_change_of_the_access_rule_changes_both_doors(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both doors call the one check: a stricter rule (a unit sees only its own district's places)
    refuses a unit of another district at both, and leaves its own district's place to both."""
    place_district = dict(_snapshot(pair).region.places.select("place_id", "district_id").iter_rows())
    assert place_district["pl2"] == "angered"
    lenient = shortlists.shortlist_access

    def own_district_only(caller: Principal, snapshot: Snapshot, place_id: str) -> str | None:
        district = lenient(caller, snapshot, place_id)
        if district is not None and place_district[place_id] != district:
            raise NotFound(f"no place {place_id!r} that this key may see")
        return district

    before = both(pair, "/v1/places/pl2/shortlist?k=3", bearer(pair, "lmu_centrum"))
    assert before[0].status_code == 200
    monkeypatch.setattr(shortlists, "shortlist_access", own_district_only)
    pair.reached_routing.clear()
    fast, routed = both(pair, "/v1/places/pl2/shortlist?k=3", bearer(pair, "lmu_centrum"))
    assert fast.status_code == 404, fast.text
    assert_same(fast, routed)
    assert len(pair.reached_routing) == 1  # the fast path refused with the route's rule, and passed it on
    pair.reached_routing.clear()
    fast, routed = both(pair, "/v1/places/pl2/shortlist?k=3", bearer(pair, "lmu_angered"))
    assert fast.status_code == 200
    assert_same(fast, routed)
    assert pair.reached_routing == []


def test_a_revoked_key_is_refused_at_both_doors(pair: Pair) -> None:
    # The writer engine: on SQLite its transactions take the write lock at BEGIN and wait for the
    # servers' own writers (their audit entries), where a deferred one fails at once ("database is locked").
    db = writer(make_engine(Settings(database_url=pair.fast.database_url).sqlalchemy_url))
    with db.begin() as conn:
        created = create_key(conn, role="labour_market_unit", name="to-revoke", district_id="angered")
    headers = {"Authorization": f"Bearer {created.token}"}
    fast, routed = both(pair, "/v1/places/pl1/shortlist?k=2", headers)
    assert fast.status_code == 200
    assert_same(fast, routed)
    with db.begin() as conn:
        assert revoke_key(conn, created.principal.key_id)
    db.dispose()
    time.sleep(Settings().key_cache_ttl_s + 0.5)  # each server's key cache asks the database again
    fast, routed = both(pair, "/v1/places/pl1/shortlist?k=2", headers)
    assert fast.status_code == 401, fast.text
    assert_same(fast, routed)
