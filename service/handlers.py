"""Every exception handler of the app, in one place: what each exception answers.

The API answers problem details (RFC 9457, :func:`service.errors.problem_response`): the service's
own exceptions (:class:`service.errors.ServiceError` and its kinds), FastAPI's request validation
(every invalid field at once), the core's region, policy and unknown-entity errors, the
integration's illegal transitions, conflicting proposals and history conflicts (each with what it
names), Starlette's HTTP errors (a 405 with every method of the path), and a bug (500, logged).

The pages (:mod:`service.web`) answer as pages: a redirect (303), the 403 and 404 pages, and the 404
page for a browser's request of an address outside the API with no page; every other client keeps
its problem details.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from scoring.exceptions import PolicyError, Problem, RegionValidationError, UnknownEntityError
from service.errors import InvalidInput, ServiceError, problem_response
from service.integration.history import HistoryConflict
from service.integration.lifecycle import IllegalTransition, OpenProposalExists
from service.web.pages import PageForbidden, PageNotFound, PageRedirect, current_session, render

__all__ = ["install"]

logger = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    """Register every exception handler on ``app`` (module docstring)."""

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        errors = [e.model_dump() for e in exc.errors] if isinstance(exc, InvalidInput) else None
        return problem_response(request, exc.status, exc.slug, exc.title, exc.detail, errors=errors,
                                **exc.extra())

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(request, exc)
        return problem_response(request, 422, "invalid-input", "Invalid input",
                                f"{len(errors)} invalid field(s)", errors=errors)

    @app.exception_handler(RegionValidationError)
    async def _region(request: Request, exc: RegionValidationError) -> JSONResponse:
        return problem_response(request, 422, "invalid-region", "Invalid region data",
                                f"{len(exc.problems)} problem(s) found; nothing was imported",
                                problems=_problem_dicts(exc.problems))

    @app.exception_handler(PolicyError)
    async def _policy(request: Request, exc: PolicyError) -> JSONResponse:
        # An unknown policy id in a path is the common case: answer 404 for it, 422 for a bad file.
        unknown = all(p.reason.startswith("no policy named") for p in exc.problems)
        if unknown:
            return problem_response(request, 404, "not-found", "Not found", exc.problems[0].reason)
        return problem_response(request, 422, "invalid-policy", "Invalid policy",
                                f"{len(exc.problems)} problem(s) in the policy",
                                problems=_problem_dicts(exc.problems))

    @app.exception_handler(UnknownEntityError)
    async def _unknown(request: Request, exc: UnknownEntityError) -> JSONResponse:
        return problem_response(request, 404, "not-found", "Not found", str(exc))

    @app.exception_handler(IllegalTransition)
    async def _illegal(request: Request, exc: IllegalTransition) -> JSONResponse:
        return problem_response(request, exc.status, exc.slug, exc.title, exc.detail,
                                current_status=exc.current_status, action=exc.action,
                                allowed_actions=exc.allowed_actions)

    @app.exception_handler(OpenProposalExists)
    async def _open_proposal(request: Request, exc: OpenProposalExists) -> JSONResponse:
        return problem_response(request, exc.status, exc.slug, exc.title, exc.detail, conflicts=exc.conflicts)

    @app.exception_handler(HistoryConflict)
    async def _history(request: Request, exc: HistoryConflict) -> JSONResponse:
        return problem_response(request, exc.status, exc.slug, exc.title, exc.detail,
                                problems=exc.problem_dicts())

    @app.exception_handler(PageRedirect)
    async def _redirect(request: Request, exc: PageRedirect) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> Response:
        return render(request, "errors/403.html", {"reason": exc.reason}, status_code=403)

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, exc: PageNotFound) -> Response:
        return render(request, "errors/404.html", status_code=404)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # A browser that opens an address with no page gets the 404 page; the API and every other
        # client keep their problem details.
        if exc.status_code == 404 and _wants_a_page(request):
            await anyio.to_thread.run_sync(current_session, request, request.app.state.platsa)  # the header
            return render(request, "errors/404.html", status_code=404)
        slug, title = _HTTP_TITLES.get(exc.status_code, ("http-error", "HTTP error"))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Every method of the path, not only the first route's (RFC 9110, 15.5.6).
            headers["Allow"] = ", ".join(_allowed_methods(request, headers.get("Allow")))
        return problem_response(request, exc.status_code, slug, title, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug: log the traceback (never request bodies, which may hold sensitive data).
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(request, 500, "internal", "Internal error",
                                "an unexpected error; it has been logged")


def _problem_dicts(problems: Sequence[Problem]) -> list[dict[str, Any]]:
    return [
        {"file": p.file, "row": p.row, "column": p.column, "value": p.value, "reason": p.reason}
        for p in problems
    ]


def _field_errors(request: Request, exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        parts = tuple(err.get("loc", ()))
        message = str(err.get("msg", ""))
        if err.get("type") == "extra_forbidden" and parts[:1] == ("query",):
            # An undeclared query parameter (service.routes._common.StrictQueryRoute).
            names = getattr(request.scope.get("route"), "query_names", ())
            message = "unknown query parameter; this operation takes " + (
                ", ".join(names) if names else "none")
        out.append({"location": ".".join(str(part) for part in parts), "message": message,
                    "type": str(err.get("type", ""))})
    return out


_HTTP_TITLES = {
    400: ("bad-request", "Bad request"), 401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"), 404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"), 406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"), 413: ("too-large", "Content too large"),
    415: ("unsupported-media-type", "Unsupported media type"), 422: ("invalid-input", "Invalid input"),
    429: ("too-many-requests", "Too many requests"),
}


def _allowed_methods(request: Request, given: str | None) -> list[str]:
    """Every method the request's path takes: the operations of the OpenAPI document at that path
    (GET implies HEAD) and ``given``, the ``Allow`` of the route that refused the method."""
    app = request.app
    paths: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "allow_by_path", None)
    if paths is None:
        paths = []
        for template, item in app.openapi().get("paths", {}).items():
            pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
            methods = {m.upper() for m in item if m in _HTTP_METHODS}
            paths.append((pattern, methods | ({"HEAD"} if "GET" in methods else set())))
        app.state.allow_by_path = paths
    allowed = {m.strip() for m in (given or "").split(",") if m.strip()}
    for pattern, methods in paths:
        if pattern.match(request.url.path):
            allowed |= methods
    return sorted(allowed)


_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _wants_a_page(request: Request) -> bool:
    path = request.url.path
    api = path.startswith(("/v1/", "/static/")) or path in ("/health", "/openapi.json")
    return not api and request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")
