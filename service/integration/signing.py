"""Webhook signatures: HMAC-SHA256 over the timestamp and the body.

Every delivery carries three headers::

    Platsa-Webhook-Id: evt_2f1c...            (the event's id: dedupe by it)
    Platsa-Webhook-Timestamp: 1795000000      (Unix seconds when this attempt was signed)
    Platsa-Webhook-Signature: v1=5d2c...      (one ``v1=<hex>`` per active secret, comma-separated)

The signed message is ``f"{timestamp}.".encode() + body`` (the raw body bytes, not re-serialised
JSON), and ``v1`` is the lowercase hex HMAC-SHA256 of it under the endpoint's secret (its UTF-8
bytes). While a secret is being rotated, both the new and the old secret sign, so a receiver that
knows either accepts the delivery: a rotation needs no downtime.

A receiver verifies with :func:`verify` (or the same ten lines, copied into its own code: the
recipe is in ``docs/integration.md``): recompute, compare in constant time with every ``v1`` value,
and refuse a timestamp older than the tolerance (which defeats replays of a captured request).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

SIGNATURE_HEADER = "Platsa-Webhook-Signature"
TIMESTAMP_HEADER = "Platsa-Webhook-Timestamp"
ID_HEADER = "Platsa-Webhook-Id"
REPLAY_HEADER = "Platsa-Webhook-Replay"
DELIVERY_HEADER = "Platsa-Webhook-Delivery"
SCHEME = "v1"
#: Default tolerance, seconds, between a delivery's timestamp and the receiver's clock.
TOLERANCE_S = 300


class SignatureError(ValueError):
    """A delivery whose signature does not verify (wrong secret, altered body, or too old)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` signature (hex) of ``body`` sent at ``timestamp`` under ``secret``.

    Examples
    --------
    >>> sign("whsec_test", 1700000000, b'{"id":"evt_1"}')[:16]
    'c89214b5b5da833d'
    """
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    """The signature header's value: one ``v1=`` entry per secret."""
    return ", ".join(f"{SCHEME}={sign(s, timestamp, body)}" for s in secrets)


def headers(secrets: Iterable[str], event_id: str, body: bytes, *, timestamp: int | None = None,
            delivery_id: str | None = None, replay: bool = False) -> dict[str, str]:
    """Every header of one delivery attempt."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    out = {
        "Content-Type": "application/json",
        "User-Agent": "Platsa-Webhooks/1",
        ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: signature_header(secrets, ts, body),
        REPLAY_HEADER: "true" if replay else "false",
    }
    if delivery_id is not None:
        out[DELIVERY_HEADER] = delivery_id
    return out


def verify(secret: str, body: bytes, request_headers: Mapping[str, str], *,
           tolerance_s: int = TOLERANCE_S, now: float | None = None) -> str:
    """Check a delivery; return its event id, or raise :class:`SignatureError`.

    ``request_headers`` must look names up case-insensitively (as every HTTP framework's do), or
    hold them in the spelling above.
    """
    try:
        timestamp = int(request_headers[TIMESTAMP_HEADER])
        signatures = request_headers[SIGNATURE_HEADER]
        event_id = request_headers[ID_HEADER]
    except (KeyError, ValueError):
        raise SignatureError("missing or malformed webhook headers") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(f"timestamp {timestamp} is outside the {tolerance_s} s tolerance")
    expected = sign(secret, timestamp, body)
    for entry in signatures.split(","):
        scheme, _, value = entry.strip().partition("=")
        if scheme == SCHEME and hmac.compare_digest(value, expected):
            return event_id
    raise SignatureError("no signature matches this secret")
