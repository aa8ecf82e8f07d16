"""The request gate: the first ASGI layer every request passes (``docs/security.md``).

Before any of a request's body is read, :class:`RequestGate`

1. finds the operation the request is for (as the router will);
2. if the operation takes an API key: checks the key (401 without one, or with an unknown or revoked
   one) and, where the operation admits only some roles, the key's role (403), leaving the principal
   in the scope for :func:`service.deps.get_caller`;
3. refuses a body larger than the operation's limit (413): a declared ``Content-Length`` at once,
   a streamed body as soon as it passes the limit, so no more than the limit is ever read.

So an unauthenticated 24 MB body costs a header check, not 24 MB of memory and a JSON parse on the
event loop, and a forbidden role gets 403 whatever its body holds. Region uploads
(``POST /v1/region/import``) may be ``PLATSA_MAX_UPLOAD_BYTES`` large; every other body
``PLATSA_MAX_BODY_BYTES``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth import Role
from service.deps import PRINCIPAL_SCOPE_KEY, needs_key, roles_of
from service.errors import PROBLEM_JSON

#: Operations whose body is a region upload (the larger limit).
UPLOAD_PATHS = frozenset({"/v1/region/import"})


@dataclass(frozen=True)
class _Operation:
    needs_key: bool
    roles: frozenset[Role] | None
    upload: bool


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


class RequestGate:
    """Key, role and body-size checks before a request's body is read (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._operations: list[tuple[APIRoute, _Operation]] | None = None

    def _operation(self, scope: Scope) -> _Operation:
        if self._operations is None:  # the app's operations, once (they are fixed when it serves)
            routes = [context.original_route for context in iter_route_contexts(scope["app"].router.routes)]
            self._operations = [(route, _Operation(needs_key(route.dependant), roles_of(route.dependant),
                                                   route.path in UPLOAD_PATHS))
                                for route in routes if isinstance(route, APIRoute)]
        for route, operation in self._operations:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return operation
        return _PUBLIC  # no operation (404, 405) or a page of the documentation: no key, no body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = getattr(getattr(scope.get("app"), "state", None), "platsa", None)
        if state is None:  # not started (no lifespan): nothing to check against
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        operation = self._operation(scope)
        if operation.needs_key:
            token = bearer_token(scope)
            if token is None:
                await send_problem(send, 401, "unauthorized", "Unauthorized",
                                   "send an API key as `Authorization: Bearer <key>`", path,
                                   {"WWW-Authenticate": "Bearer"})
                return
            principal = await state.keys.check(state.db, token)
            if principal is None:
                await send_problem(send, 401, "unauthorized", "Unauthorized", "unknown or revoked API key",
                                   path, {"WWW-Authenticate": "Bearer"})
                return
            if operation.roles is not None and principal.role not in operation.roles:
                names = ", ".join(sorted(r.value for r in operation.roles))
                await send_problem(send, 403, "forbidden", "Forbidden",
                                   f"a {principal.role.value} key may not do this (allowed: {names})", path)
                return
            scope[PRINCIPAL_SCOPE_KEY] = principal
        settings = state.settings
        limit = settings.max_upload_bytes if operation.upload else settings.max_body_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await send_problem(send, 413, "too-large", "Content too large",
                               f"request bodies here are limited to {limit:,} bytes", path)
            return
        await self._limited(scope, receive, send, limit)

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
