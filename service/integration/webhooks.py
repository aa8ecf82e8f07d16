"""Webhooks: a supplier's endpoints and secrets, and events turned into deliveries.

An event is recorded once (:func:`service.integration.lifecycle.record_event`), with one
``event_id``; :func:`enqueue` turns it into one delivery per subscribed endpoint, in the same
transaction. A delivery's body is fixed when it is queued and is the same bytes on every attempt
and every replay: a receiver sees one event, however often it arrives, and dedupes by its id. The
worker (:mod:`service.integration.worker`) sends them, signed (:mod:`service.integration.signing`)
with the endpoint's secrets, which are stored sealed under the server's key
(:mod:`service.integration.sealing`).

Payloads are *thin*: which proposal, its status, the candidate's reference and a link to fetch the
profile over the authenticated API. No profile travels in a webhook, so a receiver's request log
never becomes a copy of personal data.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import secrets
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import sqlalchemy as sa

from service.config import Settings
from service.integration import pseudonyms
from service.integration.sealing import SealError, SecretBox
from service.integration.tables import webhook_deliveries, webhook_endpoints, webhook_secrets

logger = logging.getLogger(__name__)

#: The events a supplier can subscribe to.
WEBHOOK_EVENT_TYPES = ("proposal.created", "proposal.withdrawn", "proposal.reminder")
SECRET_PREFIX = "whsec_"
#: Attempts kept in a delivery's log (the count goes on beyond it).
ATTEMPT_LOG_SIZE = 20
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_secret() -> str:
    """A signing secret: 256 random bits, shown to the supplier once."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def url_problem(url: str, settings: Settings, *, look_up: bool = True) -> str | None:
    """Why ``url`` cannot be a webhook endpoint, or None when it can.

    HTTPS only; plain ``http://`` is accepted for 127.0.0.1/localhost when
    ``PLATSA_WEBHOOK_ALLOW_HTTP_LOCALHOST`` is on (tests, local development). The host must be a
    public address (:func:`address_problem`): an address written in any other form than four
    decimal numbers (``2130706433``, ``127.1``, ``0x7f000001``, ``0177.0.0.1``) is refused, and a
    name is resolved (``look_up``) and refused when any of its addresses is not public. A name that
    does not resolve yet is accepted: every connection checks the addresses again
    (:class:`GuardedBackend`).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port  # a malformed port raises here
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if parts.username or parts.password:
        return "must not carry credentials (user:password@)"
    if not host:
        return "has no host"
    if parts.fragment:
        return "must not have a #fragment"
    if parts.scheme == "https":
        return _host_problem(host, port or 443, settings, look_up=look_up)
    if parts.scheme == "http":
        if not settings.webhook_allow_http_localhost:
            return "must use https://"
        local = host in _LOCAL_HOSTS
        if not local:
            try:
                local = ipaddress.ip_address(host).is_loopback
            except ValueError:
                local = False
        return None if local else "must use https:// (http:// is allowed for 127.0.0.1/localhost only)"
    return "must use https://"


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_problem(address: IPAddress, settings: Settings) -> str | None:
    """Why a webhook may not connect to ``address``, or None when it may.

    Only globally routable unicast addresses are allowed: never loopback, private, shared
    (100.64/10, carrier-grade NAT), link-local (cloud metadata at 169.254.169.254), multicast,
    reserved or unspecified ones, and never such an IPv4 address inside IPv6 (``::ffff:127.0.0.1``,
    6to4). Loopback is allowed when ``PLATSA_WEBHOOK_ALLOW_HTTP_LOCALHOST`` is on.

    Examples
    --------
    >>> from service.config import Settings
    >>> [address_problem(ipaddress.ip_address(a), Settings()) for a in ("93.184.215.14", "100.64.0.1")]
    [None, 'must be a public address']
    """
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in _NAT64:  # 64:ff9b::7f00:1 reaches 127.0.0.1 through NAT64
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            address = inner
    if address.is_loopback and settings.webhook_allow_http_localhost:
        return None
    if address.is_multicast or address.is_unspecified or not address.is_global \
            or any(address in network for network in _NOT_PUBLIC):
        return "must be a public address"
    return None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
#: Ranges not public that some Python versions' ``is_global`` lets through.
_NOT_PUBLIC = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4", "64:ff9b:1::/48"))


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to (numeric forms as the C library reads them); [] if none."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found))


def _host_problem(host: str, port: int, settings: Settings, *, look_up: bool) -> str | None:
    name = host.rstrip(".").lower()
    if name in _LOCAL_HOSTS or name.endswith(".localhost"):  # RFC 6761: always this machine
        return None if settings.webhook_allow_http_localhost else "must not be this server itself"
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is None:
        try:
            socket.inet_aton(host)  # accepts 2130706433, 127.1, 0x7f000001, 0177.0.0.1 ...
        except OSError:
            pass
        else:
            return "must write an IPv4 address as four decimal numbers (a.b.c.d)"
    if literal is not None:
        return address_problem(literal, settings)
    if look_up:
        for address in resolve(host, port):
            if address_problem(address, settings) is not None:
                return "must resolve to public addresses only"
    return None


class RefusedAddress(httpcore.ConnectError):
    """A webhook connection refused before it was made: the host has a non-public address."""


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend, resolving each host itself and connecting only to an address it
    has checked (:func:`address_problem`), so that a name re-pointed at an internal address after
    registration (DNS rebinding) is refused at connect time too. TLS still verifies the name."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"{host} does not resolve")
        if any(address_problem(a, self.settings) is not None for a in addresses):
            raise RefusedAddress(f"{host} has a non-public address")
        return super().connect_tcp(str(addresses[0]), port, timeout, local_address, socket_options)


def guarded_client(settings: Settings) -> httpx.Client:
    """The HTTP client of webhook deliveries: no redirects, no proxy from the environment, and
    connections only to checked addresses (:class:`GuardedBackend`)."""
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx takes no network backend of its own; its pool (httpcore) does.
    transport._pool._network_backend = GuardedBackend(settings)
    return httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False, transport=transport,
                        trust_env=False)


def _endpoint_out(row: Mapping[str, Any], conn: sa.Connection, now: dt.datetime) -> dict[str, Any]:
    secrets_rows = conn.execute(
        sa.select(webhook_secrets.c.created_at, webhook_secrets.c.expires_at)
        .where(webhook_secrets.c.endpoint_id == row["endpoint_id"],
               sa.or_(webhook_secrets.c.expires_at.is_(None), webhook_secrets.c.expires_at > now))
        .order_by(webhook_secrets.c.secret_id)
    ).all()
    return {
        "endpoint_id": row["endpoint_id"], "url": row["url"], "event_types": list(row["event_types"]),
        "description": row["description"], "created_at": row["created_at"],
        "active_secrets": [{"created_at": s.created_at, "expires_at": s.expires_at} for s in secrets_rows],
    }


def create_endpoint(conn: sa.Connection, supplier_id: str, url: str, event_types: Sequence[str],
                    description: str, *, box: SecretBox,
                    now: dt.datetime | None = None) -> tuple[dict[str, Any], str]:
    """Register an endpoint; return it and its first secret (the only time the secret is shown).

    The secret is stored sealed by ``box`` (:mod:`service.integration.sealing`).
    """
    now = now or _now()
    endpoint_id = f"we_{uuid.uuid4().hex[:20]}"
    conn.execute(webhook_endpoints.insert().values(
        endpoint_id=endpoint_id, supplier_id=supplier_id, url=url,
        event_types=sorted(set(event_types) or WEBHOOK_EVENT_TYPES), description=description,
        created_at=now))
    secret = new_secret()
    conn.execute(webhook_secrets.insert().values(endpoint_id=endpoint_id, secret=box.seal(secret),
                                                 created_at=now))
    row = get_endpoint_row(conn, supplier_id, endpoint_id)
    assert row is not None
    return _endpoint_out(row, conn, now), secret


def get_endpoint_row(conn: sa.Connection, supplier_id: str, endpoint_id: str) -> dict[str, Any] | None:
    """The supplier's live endpoint ``endpoint_id``, or None (also for another supplier's)."""
    row = conn.execute(sa.select(webhook_endpoints).where(
        webhook_endpoints.c.endpoint_id == endpoint_id, webhook_endpoints.c.supplier_id == supplier_id,
        webhook_endpoints.c.deleted_at.is_(None))).mappings().first()
    return dict(row) if row else None


def get_endpoint(conn: sa.Connection, supplier_id: str, endpoint_id: str) -> dict[str, Any] | None:
    row = get_endpoint_row(conn, supplier_id, endpoint_id)
    return _endpoint_out(row, conn, _now()) if row else None


def list_endpoints(conn: sa.Connection, supplier_id: str) -> list[dict[str, Any]]:
    now = _now()
    rows = conn.execute(sa.select(webhook_endpoints).where(
        webhook_endpoints.c.supplier_id == supplier_id, webhook_endpoints.c.deleted_at.is_(None))
        .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.endpoint_id)).mappings().all()
    return [_endpoint_out(dict(r), conn, now) for r in rows]


def delete_endpoint(conn: sa.Connection, supplier_id: str, endpoint_id: str) -> bool:
    """Stop sending to an endpoint; its pending deliveries are cancelled, its log stays readable."""
    now = _now()
    done = conn.execute(webhook_endpoints.update().where(
        webhook_endpoints.c.endpoint_id == endpoint_id, webhook_endpoints.c.supplier_id == supplier_id,
        webhook_endpoints.c.deleted_at.is_(None)).values(deleted_at=now)).rowcount == 1
    if done:
        conn.execute(webhook_deliveries.update().where(
            webhook_deliveries.c.endpoint_id == endpoint_id, webhook_deliveries.c.status == "pending"
        ).values(status="cancelled", finished_at=now, next_attempt_at=None))
        conn.execute(webhook_secrets.update().where(
            webhook_secrets.c.endpoint_id == endpoint_id,
            sa.or_(webhook_secrets.c.expires_at.is_(None), webhook_secrets.c.expires_at > now),
        ).values(expires_at=now))
    return done


def rotate_secret(conn: sa.Connection, endpoint_id: str, grace_s: int, *, box: SecretBox,
                  now: dt.datetime | None = None) -> tuple[str, dt.datetime]:
    """Add a new secret; the current ones keep signing for ``grace_s`` seconds more (at most).

    Returns the new secret and when the previous ones stop signing. Until then every delivery
    carries a signature by each, so a receiver can switch to the new secret whenever it is ready.
    """
    now = now or _now()
    until = now + dt.timedelta(seconds=grace_s)
    conn.execute(webhook_secrets.update().where(
        webhook_secrets.c.endpoint_id == endpoint_id,
        sa.or_(webhook_secrets.c.expires_at.is_(None), webhook_secrets.c.expires_at > until),
    ).values(expires_at=until))
    secret = new_secret()
    conn.execute(webhook_secrets.insert().values(endpoint_id=endpoint_id, secret=box.seal(secret),
                                                 created_at=now))
    return secret, until


def active_secrets(conn: sa.Connection, endpoint_id: str, now: dt.datetime | None = None, *,
                   box: SecretBox) -> list[str]:
    """The secrets that sign now, newest first, opened by ``box``.

    A secret that none of the server's keys opens (the key was lost or replaced) is left out, with a
    warning; when none is left the endpoint cannot be signed for until its secret is rotated.
    """
    now = now or _now()
    rows = conn.execute(sa.select(webhook_secrets.c.secret_id, webhook_secrets.c.secret).where(
        webhook_secrets.c.endpoint_id == endpoint_id,
        sa.or_(webhook_secrets.c.expires_at.is_(None), webhook_secrets.c.expires_at > now),
    ).order_by(webhook_secrets.c.secret_id.desc()))
    opened = []
    for row in rows:
        try:
            opened.append(box.open(row.secret))
        except SealError:
            logger.warning("webhook secret %d of endpoint %s cannot be opened with the server's keys",
                           row.secret_id, endpoint_id)
    return opened


def event_payload(event: Mapping[str, Any], proposal: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """The JSON a receiver gets for ``event`` (the same for every endpoint and attempt)."""
    data: dict[str, Any] = {
        "proposal_id": proposal["proposal_id"],
        "place_id": proposal["place_id"],
        "status": event["to_status"],
        "candidate_reference": pseudonyms.candidate_reference(key, proposal["supplier_id"],
                                                              proposal["candidate_id"]),
        "links": {"proposal": f"/v1/supplier/proposals/{proposal['proposal_id']}"},
    }
    extra = event.get("data") or {}
    if "reason" in extra:
        data["reason"] = extra["reason"]
    if "days_unanswered" in extra:
        data["days_unanswered"] = extra["days_unanswered"]
    at: dt.datetime = event["at"]
    return {"id": event["event_id"], "type": event["type"], "api_version": "1",
            "created_at": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"), "data": data}


def enqueue(conn: sa.Connection, event: Mapping[str, Any], proposal: Mapping[str, Any], *,
            settings: Settings) -> int:
    """Queue ``event`` for every live endpoint of its supplier that subscribes to it; return how many."""
    return enqueue_many(conn, [(event, proposal)], settings=settings)


def enqueue_many(conn: sa.Connection, items: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]], *,
                 settings: Settings) -> int:
    """:func:`enqueue` for many (event, proposal) pairs at once (a round's publication)."""
    wanted = [(e, p) for e, p in items if e["type"] in WEBHOOK_EVENT_TYPES]
    if not wanted:
        return 0
    suppliers = sorted({e["supplier_id"] for e, _ in wanted})
    endpoints: dict[str, list[tuple[str, list[str]]]] = {s: [] for s in suppliers}
    for row in conn.execute(sa.select(webhook_endpoints.c.endpoint_id, webhook_endpoints.c.supplier_id,
                                      webhook_endpoints.c.event_types)
                            .where(webhook_endpoints.c.supplier_id.in_(suppliers),
                                   webhook_endpoints.c.deleted_at.is_(None))):
        endpoints[row.supplier_id].append((row.endpoint_id, list(row.event_types)))
    if not any(endpoints.values()):
        return 0
    key = pseudonyms.load_key(conn, settings.pseudonym_secret)
    rows = []
    for event, proposal in wanted:
        targets = [e for e, types in endpoints[event["supplier_id"]] if event["type"] in types]
        if not targets:
            continue
        body = json.dumps(event_payload(event, proposal, key), separators=(",", ":"), sort_keys=True)
        rows += [
            {"delivery_id": f"dlv_{uuid.uuid4().hex[:20]}", "endpoint_id": endpoint_id,
             "supplier_id": event["supplier_id"], "event_id": event["event_id"], "event_type": event["type"],
             "replay_number": 0, "body": body, "status": "pending", "attempts": 0, "attempt_log": [],
             "next_attempt_at": event["at"], "created_at": event["at"], "finished_at": None}
            for endpoint_id in targets]
    for start in range(0, len(rows), 1_000):
        conn.execute(webhook_deliveries.insert(), rows[start:start + 1_000])
    return len(rows)


def get_delivery(conn: sa.Connection, supplier_id: str, delivery_id: str) -> dict[str, Any] | None:
    """The supplier's delivery ``delivery_id``, or None (also for another supplier's)."""
    row = conn.execute(sa.select(webhook_deliveries).where(
        webhook_deliveries.c.delivery_id == delivery_id,
        webhook_deliveries.c.supplier_id == supplier_id)).mappings().first()
    return dict(row) if row else None


def replay(conn: sa.Connection, supplier_id: str, delivery_id: str, *,
           now: dt.datetime | None = None) -> dict[str, Any] | None:
    """Send a delivery's event again, as a new delivery marked as a replay with the same event id.

    Returns the new delivery, or None when there is no such delivery for this supplier. Raises
    :class:`LookupError` when its endpoint was deleted.
    """
    now = now or _now()
    original = get_delivery(conn, supplier_id, delivery_id)
    if original is None:
        return None
    if get_endpoint_row(conn, supplier_id, original["endpoint_id"]) is None:
        raise LookupError(f"the endpoint {original['endpoint_id']!r} of this delivery was deleted")
    number = conn.execute(sa.select(sa.func.max(webhook_deliveries.c.replay_number)).where(
        webhook_deliveries.c.endpoint_id == original["endpoint_id"],
        webhook_deliveries.c.event_id == original["event_id"])).scalar_one()
    new = {
        "delivery_id": f"dlv_{uuid.uuid4().hex[:20]}", "endpoint_id": original["endpoint_id"],
        "supplier_id": supplier_id, "event_id": original["event_id"], "event_type": original["event_type"],
        "replay_number": int(number or 0) + 1, "body": original["body"], "status": "pending", "attempts": 0,
        "attempt_log": [], "next_attempt_at": now, "created_at": now, "finished_at": None,
    }
    conn.execute(webhook_deliveries.insert().values(**new))
    return new
