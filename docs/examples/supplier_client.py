"""A supplier's integration with Platsa in one file: poll proposals, answer them, receive webhooks.

It needs only ``httpx`` and the standard library, and nothing from Platsa itself: copy it into your
HR system's integration and adapt :func:`decide`. ``docs/integration.md`` explains every step.

Run it against a server (the webhook endpoint must be registered to ``http(s)://<this host>:8787/``
first; ``main`` prints what it did)::

    python supplier_client.py https://platsa.example.se platsa_XXXX whsec_XXXX

What it shows:

- **polling** with the opaque cursor, kept between runs, so that each run sees exactly what changed;
- **answering** with an ``Idempotency-Key`` per logical request, retried on network errors and 5xx
  with the *same* key, so that a lost answer never doubles an action;
- a problem answer (RFC 9457) for an illegal transition, which names the allowed actions;
- **receiving webhooks**: verify the HMAC-SHA256 signature over ``timestamp.body``, refuse old
  timestamps, dedupe by event id, answer 2xx fast.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

#: Refuse webhooks signed longer ago than this (seconds): a captured request cannot be replayed later.
TOLERANCE_S = 300


# -- webhooks ----------------------------------------------------------------------------------


class InvalidSignature(Exception):
    """The webhook did not come from Platsa (or was altered, or is too old)."""


def verify_signature(secret: str, body: bytes, headers: Mapping[str, str] | Any, *,
                     now: float | None = None) -> str:
    """Check a webhook; return its event id. ``body`` must be the raw bytes received, ``headers``
    anything that looks names up case-insensitively (every HTTP framework's headers do).

    The recipe: ``expected = hex(HMAC-SHA256(secret, f"{timestamp}." + body))``; the delivery is
    genuine if any ``v1=`` value of ``Platsa-Webhook-Signature`` equals it (during a secret rotation
    there are two), and ``Platsa-Webhook-Timestamp`` is within :data:`TOLERANCE_S` of now.
    """
    try:
        timestamp = int(headers["Platsa-Webhook-Timestamp"])
        signatures = headers["Platsa-Webhook-Signature"]
        event_id = headers["Platsa-Webhook-Id"]
    except (KeyError, ValueError):
        raise InvalidSignature("missing webhook headers") from None
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_S:
        raise InvalidSignature("timestamp too old or in the future")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    for entry in signatures.split(","):
        scheme, _, value = entry.strip().partition("=")
        if scheme == "v1" and hmac.compare_digest(value, expected):
            return event_id
    raise InvalidSignature("no matching signature")


class WebhookReceiver:
    """A small webhook endpoint: verifies, dedupes by event id, keeps the events for the main loop.

    A real integration would put each event on its own queue (or write it to its database) and
    answer 2xx at once; the work happens afterwards. Platsa retries anything but a 2xx.
    """

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 8787) -> None:
        self.secret = secret
        self.events: dict[str, dict[str, Any]] = {}  # event id -> event: the dedupe store
        self.rejected = 0
        self.arrived = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the http.server API names it
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    event_id = verify_signature(receiver.secret, body, self.headers)
                except InvalidSignature:
                    receiver.rejected += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver.arrived:
                    # A retry or a replay of an event already handled: acknowledge, do nothing.
                    receiver.events.setdefault(event_id, json.loads(body))
                    receiver.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` distinct events arrived (or ``timeout`` seconds passed)."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.events) >= count, timeout=timeout)


# -- the API -------------------------------------------------------------------------------------


class PlatsaError(Exception):
    """A problem answer (RFC 9457) from Platsa."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(f"{problem.get('status')} {problem.get('type')}: {problem.get('detail')}")
        self.problem = problem


class PlatsaClient:
    """The supplier API over httpx, with safe retries."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0, retries: int = 4) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout,
                                 headers={"Authorization": f"Bearer {api_key}"})
        self.retries = retries

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; retry network errors, 5xx and "in progress" with backoff.

        A POST carries one ``Idempotency-Key`` for all its tries: if the first try did arrive and
        only its answer was lost, the retry gets that answer instead of doing it twice.
        """
        headers = dict(kwargs.pop("headers", {}))
        if method == "POST":
            headers.setdefault("Idempotency-Key", str(uuid.uuid4()))
        for attempt in range(self.retries + 1):
            try:
                answer = self.http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
            else:
                in_progress = answer.status_code == 409 and \
                    answer.json().get("type") == "/problems/idempotency-key-in-progress"
                retry = answer.status_code >= 500 or in_progress
                if not retry or attempt == self.retries:
                    if answer.status_code >= 400:
                        raise PlatsaError(answer.json())
                    return answer.json() if answer.content else None
            time.sleep(min(8.0, 0.25 * 2**attempt))
        raise AssertionError("unreachable")

    def changed_proposals(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Every proposal that changed after ``cursor`` (all of them when None), and the new cursor.

        Store the cursor; the next call with it returns exactly what changed since.
        """
        items: list[dict[str, Any]] = []
        while True:
            params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
            page = self.request("GET", "/v1/supplier/proposals", params=params)
            items += page["items"]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return items, cursor

    def answer(self, proposal_id: str, action: str, **data: Any) -> dict[str, Any]:
        """Move a proposal: view, interview, internship (start_date), hire (start_date,
        contract_type) or decline (reason)."""
        result: dict[str, Any] = self.request("POST", f"/v1/supplier/proposals/{proposal_id}/transitions",
                                              json={"action": action, **data})
        return result


def decide(proposal: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """Your HR system's rule: here, acknowledge every new proposal (``view``), leave the rest to people."""
    if proposal["status"] == "open":
        return "view", {}
    return None


def iter_answers(client: PlatsaClient, proposals: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for proposal in proposals:
        decision = decide(proposal)
        if decision is None:
            continue
        action, data = decision
        try:
            client.answer(proposal["proposal_id"], action, **data)
        except PlatsaError as exc:
            if exc.problem.get("type") != "/problems/illegal-transition":
                raise
            # Someone answered it meanwhile: the problem says what is allowed now.
            yield proposal["proposal_id"], f"skipped (allowed now: {exc.problem['allowed_actions']})"
            continue
        yield proposal["proposal_id"], action


def main(base_url: str, api_key: str, webhook_secret: str, *, listen_port: int = 8787,
         cursor: str | None = None, wait_for_events: int = 0, wait_s: float = 10.0) -> dict[str, Any]:
    """One run: receive webhooks, poll what changed since ``cursor``, answer, report.

    Returns what happened: the new cursor (store it for the next run), the answers given, and the
    verified webhook events received while running.
    """
    client = PlatsaClient(base_url, api_key)
    try:
        with WebhookReceiver(webhook_secret, port=listen_port) as receiver:
            proposals, cursor = client.changed_proposals(cursor)
            answers = dict(iter_answers(client, proposals))
            if wait_for_events:
                receiver.wait(wait_for_events, timeout=wait_s)
            events = list(receiver.events.values())
            rejected = receiver.rejected
    finally:
        client.close()
    return {"cursor": cursor, "proposals_seen": len(proposals), "answers": answers,
            "events": [{"id": e["id"], "type": e["type"], "proposal_id": e["data"]["proposal_id"]}
                       for e in events],
            "rejected_webhooks": rejected}


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: supplier_client.py BASE_URL API_KEY WEBHOOK_SECRET")
    json.dump(main(sys.argv[1], sys.argv[2], sys.argv[3], wait_for_events=1), sys.stdout, indent=2)
    sys.stdout.write("\n")
