"""Issue 14, defect 3: webhooks reach public addresses only, checked at registration and at connect time.

The attacks: ``https://2130706433/``, ``https://127.1/``, ``https://0x7f000001/``,
``https://0177.0.0.1/`` and 100.64/10 addresses were accepted, the delivery worker connected to
them, and the supplier's delivery log told open ports from closed ones (raw connection errors).
"""

# ruff: noqa: F811 - the integration_api fixture is imported, then named by the tests that use it

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from service.config import Settings
from service.integration import webhooks
from tests.service.conftest import Api, free_port
from tests.service.integration_support import (  # noqa: F401 - integration_api: a fixture
    client,
    integration_api,
    new_candidate,
    propose,
    wait_for,
)

INTERNAL = ["https://2130706433/", "https://127.1/", "https://0x7f000001/", "https://0177.0.0.1/",
            "https://0x7f.1/", "https://017700000001/", "https://100.64.0.1/", "https://100.127.255.254/",
            "https://[::ffff:127.0.0.1]/", "https://[::ffff:7f00:1]/", "https://[::1]/", "https://[2002:7f00:1::]/",
            "https://169.254.169.254/latest", "https://[fe80::1]/", "https://[fc00::1]/", "https://10.1.2.3/",
            "https://172.16.0.1/", "https://192.168.0.1/", "https://224.0.0.1/", "https://239.255.255.250/",
            "https://0.0.0.0/", "https://240.0.0.1/", "https://255.255.255.255/", "https://192.0.0.8/",
            "https://198.18.0.1/", "https://[64:ff9b::7f00:1]/", "https://localhost/", "https://localhost./", "https://LOCALHOST/", "https://a.localhost/", "https://127.0.0.1:8443/"]


def test_registration_refuses_every_internal_address(api: Api) -> None:
    with api.client("supplier_s1") as supplier:
        for url in INTERNAL:
            answer = supplier.post("/v1/supplier/webhooks", json={"url": url})
            assert answer.status_code == 422, (url, answer.text)
            assert answer.json()["errors"][0]["location"] == "body.url"


def test_public_addresses_and_names_that_do_not_resolve_yet_are_accepted() -> None:
    settings = Settings()
    assert webhooks.url_problem("https://93.184.215.14/hook", settings) is None
    assert webhooks.url_problem("https://[2606:4700::1111]/hook", settings) is None
    assert webhooks.url_problem("https://hr.example.invalid/hook", settings) is None  # checked at connect


@contextmanager
def listener() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP port on 127.0.0.1 that records the connections it gets."""
    accepted: list[socket.socket] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)
            conn.close()  # open, but no HTTP: a connection that fails

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_the_worker_connects_only_to_checked_addresses(host: str) -> None:
    # A URL stored before this check, or a name that now resolves inside (DNS rebinding): refused
    # when the connection is made, and nothing reaches the port.
    with listener() as (port, accepted), webhooks.guarded_client(Settings(webhook_timeout_s=1)) as guarded:
        with pytest.raises((httpx.ConnectError, httpx.InvalidURL)) as caught:
            guarded.post(f"http://{host}:{port}/hook", content=b"{}")
        if isinstance(caught.value, httpx.ConnectError):  # httpx itself refuses some forms (0177.0.0.1)
            assert isinstance(caught.value.__cause__, webhooks.RefusedAddress)
        assert accepted == []
    # The same client reaches loopback when local development allows it (so the check is the guard).
    with listener() as (port, accepted), \
            webhooks.guarded_client(Settings(webhook_timeout_s=1, webhook_allow_http_localhost=True)) as local:
        with pytest.raises(httpx.HTTPError):
            local.post(f"http://127.0.0.1:{port}/hook", content=b"{}")
        wait_for(lambda: accepted, timeout=5, what="the connection")


def test_the_delivery_log_does_not_tell_open_from_closed_ports(integration_api: Api) -> None:
    api = integration_api
    s1 = client(api, "supplier_s1")
    closed = free_port()
    with listener() as (open_port, _):
        endpoints = []
        for port in (closed, open_port):
            answer = s1.post("/v1/supplier/webhooks", json={"url": f"http://127.0.0.1:{port}/hook",
                                                            "event_types": ["proposal.created"]})
            assert answer.status_code == 201, answer.text
            endpoints.append(answer.json()["endpoint_id"])
        try:
            propose(api, "pl1", [new_candidate(api)])

            def attempted(endpoint: str) -> list[dict[str, object]]:
                items = s1.get("/v1/supplier/deliveries", params={"endpoint_id": endpoint}).json()["items"]
                return [a for d in items for a in d["attempt_log"]]

            logs = [wait_for(lambda e=e: attempted(e), what="an attempt") for e in endpoints]
        finally:
            for endpoint in endpoints:
                s1.delete(f"/v1/supplier/webhooks/{endpoint}")
    closed_errors, open_errors = ({str(a["error"]) for a in log} for log in logs)
    assert closed_errors == open_errors == {"the connection failed"}, (closed_errors, open_errors)
