"""``Idempotency-Key`` for every POST: a retried request gets the first answer, not a second effect.

A client that does not know whether a POST arrived (a timeout, a dropped connection) sends it again
with the same ``Idempotency-Key`` header. Per API key and idempotency key:

- the first request runs, and its answer (status, body, ``Content-Type``, ``Location``) is kept for
  ``PLATSA_IDEMPOTENCY_TTL_HOURS``;
- a retry with the same method, path, query and body gets that answer again, with the header
  ``Idempotent-Replayed: true``;
- a request with the same key but anything else different is refused: 422
  ``/problems/idempotency-key-reused`` (a key names one request, not a slot);
- a retry while the first is still running gets 409 ``/problems/idempotency-key-in-progress``
  with ``Retry-After``.

Answers of 5xx, and 401, are not kept: the request did not happen (or was not ours), so a retry runs
it afresh. A POST without the header runs as always. The request body is hashed as it streams into
the app, never buffered, so large uploads cost no memory.

Keys are looked at only after the caller is authenticated (:class:`service.gate.RequestGate` runs
first and leaves the principal in the scope): a request without a valid key, or with a revoked one,
is answered 401 before this layer, so it costs no write and can replay nothing. A stored answer
never holds a secret: a member named in :data:`REDACTED_MEMBERS` (a webhook signing secret, on
creation and rotation) is replaced by :data:`REDACTED` before the answer is stored, and a replay says
so in ``Idempotent-Redacted`` (``docs/integration.md``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth import hash_token
from service.deps import PRINCIPAL_SCOPE_KEY
from service.errors import PROBLEM_JSON
from service.gate import bearer_token
from service.integration.tables import idempotency_keys

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
#: An in-progress key older than this is taken to be abandoned (its server died mid-request).
STALE_AFTER = dt.timedelta(minutes=5)
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
_KEPT_HEADERS = ("content-type", "location")
#: Answer members that are never stored for a replay (the first answer is the only one that has them).
REDACTED_MEMBERS = frozenset({"secret"})
REDACTED = "redacted: shown only in the first answer; rotate the secret if that answer was lost"
REDACTED_HEADER = "Idempotent-Redacted"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _problem(scope: Scope, status: int, slug: str, title: str, detail: str,
             headers: dict[str, str] | None = None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail,
                       "instance": scope.get("path", "")}).encode()
    raw = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return status, raw, body


async def _send_whole(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class IdempotencyMiddleware:
    """ASGI middleware implementing ``Idempotency-Key`` on POST (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(HEADER)
        platsa = getattr(getattr(scope.get("app"), "state", None), "platsa", None)
        principal = scope.get(PRINCIPAL_SCOPE_KEY)
        token = bearer_token(scope)
        if key is None or principal is None or token is None or platsa is None:
            # No key, or no authenticated caller to scope it to (the gate answered 401 already, or
            # the operation takes no key): nothing to look up, nothing to remember.
            await self.app(scope, receive, send)
            return
        if not _KEY_PATTERN.match(key):
            await _send_whole(send, *_problem(
                scope, 422, "invalid-input", "Invalid input",
                f"{HEADER} must be 1 to 255 visible ASCII characters (a UUID is a good choice)"))
            return
        db: sa.Engine = platsa.writer  # every transaction here writes: take SQLite's lock at BEGIN
        owner = hash_token(token)  # the key the gate authenticated: per key owner
        digest = hashlib.sha256()
        query = scope.get("query_string", b"").decode("latin-1")
        digest.update(f"{scope['method']} {scope['path']}?{query}\n".encode())

        stored = await run_in_threadpool(_claim, db, owner, key)
        if stored == "in-progress":
            await _send_whole(send, *_problem(
                scope, 409, "idempotency-key-in-progress", "Request in progress",
                f"a request with this {HEADER} is still running; retry shortly", {"Retry-After": "1"}))
            return
        if isinstance(stored, dict):
            await _drain(receive, digest)
            if stored["fingerprint"] != digest.hexdigest():
                await _send_whole(send, *_problem(
                    scope, 422, "idempotency-key-reused", "Idempotency key reused",
                    f"this {HEADER} was used for a different request (method, path, query or body); "
                    "use a new key for a new request"))
                return
            replay = [(k.encode(), v.encode()) for k, v in (stored["headers"] or {}).items()
                      if k != _REDACTED_KEPT]
            if (stored["headers"] or {}).get(_REDACTED_KEPT):
                replay.append((REDACTED_HEADER.lower().encode(), stored["headers"][_REDACTED_KEPT].encode()))
            replay += [(b"content-length", str(len(stored["body"])).encode()),
                       (REPLAYED_HEADER.lower().encode(), b"true")]
            await _send_whole(send, stored["status_code"], replay, stored["body"])
            return

        more_body = [True]

        async def hashing_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                digest.update(message.get("body", b""))
                more_body[0] = bool(message.get("more_body", False))
            return message

        # The answer is held back until it is stored: a client that has it and retries at once must
        # find it stored, not "in progress".
        messages: list[Message] = []

        async def holding_send(message: Message) -> None:
            messages.append(message)

        try:
            await self.app(scope, hashing_receive, holding_send)
        except BaseException:
            await run_in_threadpool(_forget, db, owner, key)
            raise
        if more_body[0]:
            await _drain(receive, digest)  # the app answered before reading it all (an early 4xx)
        start = next((m for m in messages if m["type"] == "http.response.start"), None)
        status = int(start["status"]) if start else 500
        if status >= 500 or status == 401:
            await run_in_threadpool(_forget, db, owner, key)
        else:
            kept = {name.decode("latin-1").lower(): value.decode("latin-1")
                    for name, value in (start or {}).get("headers", [])
                    if name.decode("latin-1").lower() in _KEPT_HEADERS}
            body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
            body, redacted = redact(body, kept.get("content-type", ""))
            if redacted:
                kept[_REDACTED_KEPT] = ", ".join(redacted)
            await run_in_threadpool(_store, db, owner, key, digest.hexdigest(), status, kept, body)
        for message in messages:
            await send(message)


#: Where a stored answer notes which members were redacted (a header of the replay).
_REDACTED_KEPT = REDACTED_HEADER.lower()


def redact(body: bytes, content_type: str) -> tuple[bytes, list[str]]:
    """``body`` with every top-level member in :data:`REDACTED_MEMBERS` replaced, and their names.

    Examples
    --------
    >>> redact(b'{"endpoint_id": "we-1", "secret": "whsec_abc"}', "application/json")[1]
    ['secret']
    >>> b"whsec_abc" in redact(b'{"secret": "whsec_abc"}', "application/json")[0]
    False
    """
    if "json" not in content_type:
        return body, []
    try:
        data = json.loads(body)
    except ValueError:
        return body, []
    if not isinstance(data, dict):
        return body, []
    names = sorted(REDACTED_MEMBERS & data.keys())
    if not names:
        return body, []
    data.update(dict.fromkeys(names, REDACTED))
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(), names


async def _drain(receive: Receive, digest: Any) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        digest.update(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _claim(db: sa.Engine, owner: str, key: str) -> dict[str, Any] | str | None:
    """The stored answer, ``"in-progress"``, or None after marking the key as ours (in progress)."""
    t = idempotency_keys
    now = _now()
    with db.begin() as conn:
        row = conn.execute(sa.select(t).where(t.c.token_hash == owner, t.c.idempotency_key == key)
                           ).mappings().first()
        if row is not None:
            if row["status_code"] is not None:
                return dict(row)
            created = row["created_at"]
            if created.tzinfo is None:  # SQLite gives naive datetimes back
                created = created.replace(tzinfo=dt.UTC)
            if now - created < STALE_AFTER:
                return "in-progress"
            conn.execute(t.update().where(t.c.token_hash == owner, t.c.idempotency_key == key)
                         .values(created_at=now))
            return None
    try:
        with db.begin() as conn:
            conn.execute(t.insert().values(token_hash=owner, idempotency_key=key, created_at=now))
    except sa.exc.IntegrityError:
        return "in-progress"  # the same key arrived twice at once: the other one runs
    return None


def _store(db: sa.Engine, owner: str, key: str, fingerprint: str, status: int, headers: dict[str, str],
           body: bytes) -> None:
    t = idempotency_keys
    with db.begin() as conn:
        conn.execute(t.update().where(t.c.token_hash == owner, t.c.idempotency_key == key).values(
            fingerprint=fingerprint, status_code=status, headers=headers, body=body))


def _forget(db: sa.Engine, owner: str, key: str) -> None:
    t = idempotency_keys
    with db.begin() as conn:
        conn.execute(t.delete().where(t.c.token_hash == owner, t.c.idempotency_key == key))


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the ``Idempotency-Key`` header to every POST operation of an OpenAPI document."""
    parameter = {
        "name": HEADER, "in": "header", "required": False,
        "description": ("Makes a retry safe: the same key with the same request returns the first "
                        "answer (with `Idempotent-Replayed: true`; a `secret` in it is redacted, "
                        "`Idempotent-Redacted: secret`); with a different request, 422. "
                        "Kept per API key for 24 hours by default. A UUID per logical request is a "
                        "good key."),
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[\x21-\x7e]+$"},
    }
    for path in schema.get("paths", {}).values():
        operation = path.get("post")
        if operation is None:
            continue
        params = operation.setdefault("parameters", [])
        if not any(p.get("name") == HEADER for p in params):
            params.append(parameter)
    return schema
