"""Shared pieces of the supplier-integration tests: a server set up for webhooks, a region in which
every sensitive attribute is set, and a real webhook receiver on 127.0.0.1 that can fail and stall.

``integration_api`` (a session fixture, one server per database backend) runs with
``PLATSA_WEBHOOK_ALLOW_HTTP_LOCALHOST`` on, a 50 ms backoff base, a 0.4 s delivery timeout and a
fast worker poll, so retries take tenths of seconds instead of minutes.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import polars as pl
import pytest

from service.config import Settings
from service.integration import signing
from tests.service.conftest import (
    Api,
    ThreadServer,
    add_keys,
    free_port,
    new_database,
    region_zip,
    service_region,
)

SENSITIVE_BIRTH_YEAR = 1961


def sensitive_region() -> dict[str, pl.DataFrame]:
    """The service test region with every sensitive attribute set on every candidate, and more
    candidates so that each supplier has several proposals to page through.

    The integration tests propose many fresh candidates to pl1 and pl2 over one server's life, and
    hire some: the places have room for all of them (a place's free slots are what
    ``test_publication.py`` and ``tests/scoring/test_capacity.py`` test, not these).
    """
    frames = service_region()
    frames["places"] = frames["places"].with_columns(slots=pl.lit(1000, dtype=pl.Int32))
    cands = frames["candidates"]
    extra = cands.with_columns(candidate_id=pl.Series([f"{c}x" for c in cands["candidate_id"]]))
    cands = pl.concat([cands, extra])
    n = cands.height
    frames["candidates"] = cands.with_columns(
        gender=pl.Series(["F", "M"] * (n // 2) + ["F"] * (n % 2)),
        birth_year=pl.lit(SENSITIVE_BIRTH_YEAR, dtype=pl.Int16),
        foreign_born=pl.lit(True),
        disability=pl.lit(True),
        income_support=pl.lit("social_assistance"),
        support_needs=pl.Series([["handledare", "tydliga instruktioner"]] * n),
        placed=pl.lit(False),
    )
    return frames


def candidate_ids() -> list[str]:
    return sensitive_region()["candidates"]["candidate_id"].to_list()


def integration_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url, "port": free_port(), "webhook_allow_http_localhost": True,
        "webhook_backoff_base_s": 0.05, "webhook_backoff_max_s": 0.4, "webhook_timeout_s": 0.4,
        "webhook_max_attempts": 8, "webhook_poll_interval_s": 0.02, "reminder_days": 7,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def integration_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                    database_urls: dict[str, str]) -> Iterator[Api]:
    """A server for the integration tests, with the sensitive region imported, per backend."""
    url = new_database(request.param, tmp_path_factory, database_urls, "integration")
    tokens = add_keys(url)
    settings = integration_settings(url)
    with ThreadServer(settings):
        api = Api(request.param, f"http://127.0.0.1:{settings.port}", url, tokens)
        with api.client("admin") as client:
            answer = client.post("/v1/region/import", content=region_zip(sensitive_region()),
                                 headers={"Content-Type": "application/zip"})
            assert answer.status_code == 201, answer.text
        yield api


_CLIENTS: dict[tuple[str, str], httpx.Client] = {}


def client(api: Api, key: str) -> httpx.Client:
    """A client of ``api`` for ``key``, kept for the session: making one costs ~0.15 s (its TLS
    context), which hundreds of requests in a test should not pay each time."""
    found = _CLIENTS.get((api.base_url, key))
    if found is None or found.is_closed:
        found = _CLIENTS[(api.base_url, key)] = api.client(key)
    return found


def propose(api: Api, place_id: str, candidates: list[str], *, key: str = "coordinator",
            allow_multiple_open: bool = True) -> list[str]:
    """Propose candidates by hand; return the new proposal ids."""
    answer = client(api, key).post(f"/v1/places/{place_id}/proposals",
                                   json={"candidate_ids": candidates, "allow_multiple_open": allow_multiple_open})
    assert answer.status_code == 201, answer.text
    return [p["proposal_id"] for p in answer.json()["proposals"]]


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# -- a real webhook receiver ----------------------------------------------------------------------


@dataclass
class Receipt:
    """One request the receiver got."""

    event_id: str
    replay: bool
    mode: str
    verified: bool
    body: dict[str, Any]
    at: float


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that verifies signatures and dedupes by event id, like a good
    receiver should, and whose next answers can be scripted: ``"ok"``, ``"fail"`` (500) or
    ``"slow"`` (handles the event, then answers after the sender's timeout)."""

    secrets: list[str] = field(default_factory=list)
    script: list[str] = field(default_factory=list)
    slow_s: float = 1.0
    receipts: list[Receipt] = field(default_factory=list)
    processed: dict[str, int] = field(default_factory=dict)
    acknowledged: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.handle(self, body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        with self.lock:
            mode = self.script.pop(0) if self.script else "ok"
        event_id = None
        for secret in self.secrets:
            try:
                event_id = signing.verify(secret, body, handler.headers)
                break
            except signing.SignatureError:
                continue
        verified = event_id is not None
        payload = json.loads(body)
        with self.lock:
            self.receipts.append(Receipt(payload.get("id", ""), handler.headers.get(signing.REPLAY_HEADER) == "true",
                                         mode, verified, payload, time.monotonic()))
        if not verified:
            self._answer(handler, 400)
            return
        if mode == "fail":
            self._answer(handler, 500)
            return
        with self.lock:  # dedupe by event id: process each event once, however often it comes
            assert event_id is not None
            self.processed[event_id] = self.processed.get(event_id, 0) + (event_id not in self.processed)
        if mode == "slow":
            time.sleep(self.slow_s)
            self._answer(handler, 200)
            return
        with self.lock:
            self.acknowledged[event_id] = self.acknowledged.get(event_id, 0) + 1
        self._answer(handler, 200)

    @staticmethod
    def _answer(handler: http.server.BaseHTTPRequestHandler, status: int) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except OSError:
            pass  # the sender gave up waiting (the "slow" case)


def register(client: httpx.Client, receiver: Receiver, event_types: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": receiver.url}
    if event_types is not None:
        body["event_types"] = event_types
    answer = client.post("/v1/supplier/webhooks", json=body)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    receiver.secrets.append(created["secret"])
    return dict(created)


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# -- rows for the authorisation matrix of tests/service/test_authorisation.py ------------------------

#: The integration's operations in that matrix's shape (method, template, path, kwargs, statuses for
#: anonymous, admin, coordinator, lmu_angered, supplier_s1, researcher, orderer), on its shared
#: region: ``pr1`` is s1's declined proposal of Angered's c3. Writes are refused after access control
#: (a closed proposal, an http:// URL, unknown ids), so the rows change nothing. Supplier A against
#: supplier B is tested on every operation in ``test_supplier_access.py``.
AUTHORISATION_ROWS: list[tuple[str, str, str, dict[str, Any], tuple[int, ...]]] = [
    ("GET", "/v1/supplier/proposals", "/v1/supplier/proposals", {}, (401, 403, 403, 403, 200, 403, 403)),
    ("GET", "/v1/supplier/proposals/{proposal_id}", "/v1/supplier/proposals/pr1", {},
     (401, 403, 403, 403, 200, 403, 403)),
    ("GET", "/v1/supplier/proposals/{proposal_id}", "/v1/supplier/proposals/PR-none", {},
     (401, 403, 403, 403, 404, 403, 403)),
    ("POST", "/v1/supplier/proposals/{proposal_id}/transitions", "/v1/supplier/proposals/pr1/transitions",
     {"json": {"action": "view"}}, (401, 403, 403, 403, 409, 403, 403)),
    ("GET", "/v1/supplier/proposals/{proposal_id}/events", "/v1/supplier/proposals/pr1/events", {},
     (401, 403, 403, 403, 200, 403, 403)),
    ("POST", "/v1/supplier/webhooks", "/v1/supplier/webhooks", {"json": {"url": "http://example.se/hook"}},
     (401, 403, 403, 403, 422, 403, 403)),
    ("GET", "/v1/supplier/webhooks", "/v1/supplier/webhooks", {}, (401, 403, 403, 403, 200, 403, 403)),
    ("GET", "/v1/supplier/webhooks/{endpoint_id}", "/v1/supplier/webhooks/we_none", {},
     (401, 403, 403, 403, 404, 403, 403)),
    ("DELETE", "/v1/supplier/webhooks/{endpoint_id}", "/v1/supplier/webhooks/we_none", {},
     (401, 403, 403, 403, 404, 403, 403)),
    ("POST", "/v1/supplier/webhooks/{endpoint_id}/rotate-secret", "/v1/supplier/webhooks/we_none/rotate-secret",
     {}, (401, 403, 403, 403, 404, 403, 403)),
    ("GET", "/v1/supplier/deliveries", "/v1/supplier/deliveries", {}, (401, 403, 403, 403, 200, 403, 403)),
    ("GET", "/v1/supplier/deliveries/{delivery_id}", "/v1/supplier/deliveries/dlv_none", {},
     (401, 403, 403, 403, 404, 403, 403)),
    ("POST", "/v1/supplier/deliveries/{delivery_id}/replay", "/v1/supplier/deliveries/dlv_none/replay", {},
     (401, 403, 403, 403, 404, 403, 403)),
    ("POST", "/v1/places/{place_id}/proposals", "/v1/places/nowhere/proposals",
     {"json": {"candidate_ids": ["c1"]}}, (401, 404, 404, 404, 403, 403, 403)),
    ("POST", "/v1/places/{place_id}/proposals", "/v1/places/pl1/proposals",
     {"json": {"candidate_ids": ["c-none"]}}, (401, 422, 422, 422, 403, 403, 403)),
    ("POST", "/v1/proposals/{proposal_id}/withdraw", "/v1/proposals/pr1/withdraw", {},
     (401, 409, 409, 409, 403, 403, 403)),
    ("GET", "/v1/proposals/{proposal_id}/events", "/v1/proposals/pr1/events", {}, (401, 200, 200, 200, 403, 403, 403)),
]


def new_candidate(api: Api, district: str = "angered", **values: Any) -> str:
    """A fresh candidate (every sensitive attribute set), through the API; returns its id."""
    import uuid

    candidate_id = f"cx-{uuid.uuid4().hex[:10]}"
    body = {"candidate_id": candidate_id, "home_district": district, "lat": 57.79, "lon": 12.05,
            "work_ladder_step": 3, "competences": ["lokalvård"], "commute_limit_km": 20.0,
            "wished_placement_types": ["internship"], "wished_hours": 30, "support_needs": ["handledare"],
            "available_from": "2026-09-01", "registered_since": "2024-01-10", "gender": "F",
            "birth_year": SENSITIVE_BIRTH_YEAR, "foreign_born": True, "disability": True,
            "income_support": "activity_support", "placed": False, **values}
    answer = client(api, "coordinator").post("/v1/candidates", json=body)
    assert answer.status_code == 201, answer.text
    return candidate_id
