"""The request gate: the first ASGI layer every request passes (``docs/security.md``).

Before any of a request's body is read, :class:`RequestGate`

1. finds the operation the request is for (as the router will);
2. if the operation takes an API key: checks the key (401 without one, or with an unknown or revoked
   one) and, where the operation admits only some roles, the key's role (403), leaving the principal
   in the scope for :func:`service.deps.get_caller`;
3. refuses a body larger than the operation's limit (413): a declared ``Content-Length`` at once,
   a streamed body as soon as it passes the limit, so no more than the limit is ever read.

Failed authentications are counted per client address and per presented key
(:class:`FailureLimiter`): past ``PLATSA_AUTH_FAILURE_LIMIT`` in ``PLATSA_AUTH_FAILURE_WINDOW_S``
the gate answers 429 with ``Retry-After`` before it looks the key up, so a flood of wrong keys
costs no database query; a key the process has checked lately still passes at once. Every answer
gets the security headers of :func:`security_headers`.

So an unauthenticated 24 MB body costs a header check, not 24 MB of memory and a JSON parse on the
event loop, and a forbidden role gets 403 whatever its body holds. Region uploads
(``POST /v1/region/import``) may be ``PLATSA_MAX_UPLOAD_BYTES`` large; every other body
``PLATSA_MAX_BODY_BYTES``.
"""

from __future__ import annotations

import ipaddress
import json
import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth import Principal, Role, hash_token
from service.deps import PRINCIPAL_SCOPE_KEY, needs_key, roles_of
from service.errors import PROBLEM_JSON

if TYPE_CHECKING:
    from service.state import ServiceState

#: Operations whose body is a region upload (the larger limit).
UPLOAD_PATHS = frozenset({"/v1/region/import"})


@dataclass(frozen=True)
class _Operation:
    needs_key: bool
    roles: frozenset[Role] | None
    upload: bool
    allow: tuple[str, ...] = ()
    """For a path whose operations take other methods only: those methods (a 405's ``Allow``)."""


_PUBLIC = _Operation(needs_key=False, roles=None, upload=False)


class BodyTooLarge(HTTPException):
    """The body passed its limit while it was read (answered 413 by the app's handler, or here)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request bodies here are limited to {limit:,} bytes")


def problem(status: int, slug: str, title: str, detail: str, path: str,
            headers: dict[str, str] | None = None) -> tuple[Message, Message]:
    """The two ASGI messages of a problem answer (``service.errors`` makes the same from a request)."""
    body = json.dumps({"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail,
                       "instance": path}).encode()
    raw = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    return ({"type": "http.response.start", "status": status, "headers": raw},
            {"type": "http.response.body", "body": body})


async def send_problem(send: Send, status: int, slug: str, title: str, detail: str, path: str,
                       headers: dict[str, str] | None = None) -> None:
    for message in problem(status, slug, title, detail, path, headers):
        await send(message)


def bearer_token(scope: Scope) -> str | None:
    """The token of ``Authorization: Bearer <token>``, as FastAPI's ``HTTPBearer`` reads it."""
    scheme, _, token = (Headers(scope=scope).get("authorization") or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class FailureLimiter:
    """Failed authentications in a sliding window, per client address and per presented key.

    Examples
    --------
    >>> limiter = FailureLimiter(limit=2, window_s=60)
    >>> limiter.failed(["addr:1.2.3.4"], now=0.0); limiter.failed(["addr:1.2.3.4"], now=1.0)
    >>> limiter.retry_after(["addr:1.2.3.4"], now=2.0), limiter.retry_after(["addr:5.6.7.8"], now=2.0)
    (58, None)
    >>> limiter.retry_after(["addr:1.2.3.4"], now=60.5)
    """

    def __init__(self, limit: int, window_s: float, max_tracked: int = 100_000) -> None:
        self.limit, self.window_s, self.max_tracked = limit, window_s, max_tracked
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, name: str, now: float) -> deque[float] | None:
        times = self._failures.get(name)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[name]
            return None
        return times

    def retry_after(self, names: Iterable[str], now: float) -> int | None:
        """Seconds until one of ``names`` may try again, or None when none is held up."""
        if self.limit <= 0:
            return None
        waits = [times[-self.limit] + self.window_s - now for name in names
                 if (times := self._recent(name, now)) is not None and len(times) >= self.limit]
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, names: Iterable[str], now: float) -> None:
        if self.limit <= 0:
            return
        for name in names:
            times = self._recent(name, now)
            if times is None:
                if len(self._failures) >= self.max_tracked:  # forget the oldest name: memory stays bounded
                    del self._failures[next(iter(self._failures))]
                times = self._failures[name] = deque(maxlen=self.limit)
            times.append(now)


def security_headers(path: str) -> list[tuple[bytes, bytes]]:
    """The headers every answer carries (``docs/security.md``)."""
    headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
               (b"x-frame-options", b"DENY")]
    if path in _DOCUMENTATION_PAGES:  # Swagger UI and ReDoc load their scripts and styles
        headers.append((b"content-security-policy", b"frame-ancestors 'none'"))
    else:
        headers.append((b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"))
    if path.startswith("/v1/"):  # the API's answers may hold personal data: never kept by a cache
        headers.append((b"cache-control", b"no-store"))
    return headers


_DOCUMENTATION_PAGES = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})


class RequestGate:
    """Key, role and body-size checks before a request's body is read (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._operations: list[tuple[APIRoute, _Operation]] | None = None
        self._limiter: FailureLimiter | None = None
        self._exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def _operation(self, scope: Scope) -> _Operation:
        if self._operations is None:  # the app's operations, once (they are fixed when it serves)
            routes = [context.original_route for context in iter_route_contexts(scope["app"].router.routes)]
            self._operations = [(route, _Operation(needs_key(route.dependant), roles_of(route.dependant),
                                                   route.path in UPLOAD_PATHS))
                                for route in routes if isinstance(route, APIRoute)]
        allow: set[str] = set()
        for route, operation in self._operations:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return operation
            if match == Match.PARTIAL:  # the path, another method
                allow.update(route.methods or ())
        if allow:  # every method of every operation on the path (the router names the first's only)
            return _Operation(needs_key=False, roles=None, upload=False, allow=tuple(sorted(allow)))
        return _PUBLIC  # no operation (404) or a page of the documentation: no key, no body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        extra = security_headers(path)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                   *(h for h in extra if h[0] not in present)]}
            await send(message)

        state = getattr(getattr(scope.get("app"), "state", None), "platsa", None)
        if state is None:  # not started (no lifespan): nothing to check against
            await self.app(scope, receive, send_with_headers)
            return
        operation = self._operation(scope)
        if operation.allow:  # TRACE, or any method the path does not take (RFC 9110: 405 with Allow)
            await send_problem(send_with_headers, 405, "method-not-allowed", "Method not allowed",
                               f"{scope['method']} is not allowed here", path,
                               {"Allow": ", ".join(operation.allow)})
            return
        if operation.needs_key:
            principal = await self._authenticate(scope, state, send_with_headers)
            if principal is None:
                return
            if operation.roles is not None and principal.role not in operation.roles:
                names = ", ".join(sorted(r.value for r in operation.roles))
                await send_problem(send_with_headers, 403, "forbidden", "Forbidden",
                                   f"a {principal.role.value} key may not do this (allowed: {names})", path)
                return
            scope[PRINCIPAL_SCOPE_KEY] = principal
        settings = state.settings
        limit = settings.max_upload_bytes if operation.upload else settings.max_body_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await send_problem(send_with_headers, 413, "too-large", "Content too large",
                               f"request bodies here are limited to {limit:,} bytes", path)
            return
        await self._limited(scope, receive, send_with_headers, limit)

    async def _authenticate(self, scope: Scope, state: ServiceState, send: Send) -> Principal | None:
        """The caller's principal, or None once a 401 or 429 has been sent."""
        path = scope.get("path", "")
        token = bearer_token(scope)
        if token is not None and state.keys.get(token) is not None:
            # A key checked lately: no limit, and no query (check answers from the cache and renews it).
            return await state.keys.check(state.db, token)
        limiter = self._limiter
        if limiter is None:
            settings = state.settings
            limiter = self._limiter = FailureLimiter(settings.auth_failure_limit,
                                                     settings.auth_failure_window_s)
            self._exempt = tuple(ipaddress.ip_network(n.strip(), strict=False)
                                 for n in settings.auth_failure_exempt.split(",") if n.strip())
        client = scope.get("client")
        address = client[0] if client else "-"
        names = [] if self._is_exempt(address) else [f"address:{address}"]
        if token is not None and names:
            names.append("key:" + hash_token(token))
        now = time.monotonic()
        wait = limiter.retry_after(names, now)
        if wait is not None:
            await send_problem(send, 429, "too-many-requests", "Too many requests",
                               f"too many failed authentications; retry in {wait} s", path,
                               {"Retry-After": str(wait)})
            return None
        principal = None if token is None else await state.keys.check(state.db, token)
        if principal is None:
            limiter.failed(names, now)
            detail = ("send an API key as `Authorization: Bearer <key>`" if token is None
                      else "unknown or revoked API key")
            await send_problem(send, 401, "unauthorized", "Unauthorized", detail, path,
                               {"WWW-Authenticate": "Bearer"})
        return principal

    def _is_exempt(self, address: str) -> bool:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self._exempt)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        read = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:  # raised where no exception handler answers it (a middleware)
            if started:
                raise
            await send_problem(send, 413, "too-large", "Content too large", str(exc.detail),
                               scope.get("path", ""))
