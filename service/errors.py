"""Errors as RFC 9457 problem details: the one place that maps exceptions to HTTP answers.

Every error answer has ``Content-Type: application/problem+json`` and the members ``type``,
``title``, ``status``, ``detail`` and ``instance``; validation answers add ``errors`` (every invalid
field of a request) or ``problems`` (every problem in uploaded region data, with file, row, column,
value and reason). ``type`` is a relative URI ``/problems/<slug>`` documented in ``docs/api.md``.

Hierarchy of the service's own exceptions::

    ServiceError
    ├── NotFound            404: no such object, or one the caller may not see (same answer)
    ├── Forbidden           403: the caller's role may not use this operation at all
    ├── Conflict            409: the object is not in a state that allows the operation
    ├── InvalidInput        422: a request that is well-formed but not acceptable, field by field
    └── Unavailable         503: the service cannot do this yet (no region loaded)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from scoring.exceptions import PolicyError, Problem, RegionValidationError, UnknownEntityError
from service.models import RegionEdit

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    """One invalid field of a request."""

    location: str = Field(description="Where the field is: body, query, path or header, then its path.",
                          examples=["query.k"])
    message: str = Field(examples=["Input should be less than or equal to 200"])
    type: str = Field(description="Machine-readable error kind.", examples=["less_than_equal"])


class DataProblem(BaseModel):
    """One problem in uploaded region data."""

    file: str = Field(examples=["candidates.csv"])
    row: int | None = Field(description="1-based data row; null for a whole file or column.", examples=[2])
    column: str | None = Field(examples=["home_district"])
    value: str | None = Field(examples=["nowhere"])
    reason: str = Field(examples=["no such district_id in districts"])


class ProblemDetails(BaseModel):
    """An error answer (RFC 9457)."""

    type: str = Field(examples=["/problems/not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["no candidate 'c-000123' that this key may see"])
    instance: str = Field(examples=["/v1/candidates/c-000123"])
    errors: list[FieldError] | None = None
    problems: list[DataProblem] | None = None
    edits: list[RegionEdit] | None = Field(
        default=None, description="Region rows created or changed through the API that an import would "
                                  "drop or overwrite (`/problems/region-edit-conflict`).")


class ServiceError(Exception):
    status = 500
    slug = "internal"
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def extra(self) -> dict[str, Any]:
        """Members the answer adds to the problem details (a subclass lists what it refuses)."""
        return {}


class NotFound(ServiceError):
    status, slug, title = 404, "not-found", "Not found"


class Forbidden(ServiceError):
    status, slug, title = 403, "forbidden", "Forbidden"


class Conflict(ServiceError):
    status, slug, title = 409, "conflict", "Conflict"


class Unavailable(ServiceError):
    status, slug, title = 503, "unavailable", "Unavailable"


class InvalidInput(ServiceError):
    status, slug, title = 422, "invalid-input", "Invalid input"

    def __init__(self, detail: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.errors = list(errors)


def problem_response(
    request: Request, status: int, slug: str, title: str, detail: str,
    headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}", "title": title, "status": status, "detail": detail,
        "instance": request.url.path,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {**(headers or {}), **({"WWW-Authenticate": "Bearer"} if status == 401 else {})}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


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


def install(app: FastAPI) -> None:
    """Register every exception handler on ``app``."""

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

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _HTTP_TITLES.get(exc.status_code, ("http-error", "HTTP error"))
        # Keep the exception's headers: a 405's `Allow` names the methods the path takes (RFC 9110).
        return problem_response(request, exc.status_code, slug, title, str(exc.detail),
                                headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug: log the traceback (never request bodies, which may hold sensitive data).
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(request, 500, "internal", "Internal error",
                                "an unexpected error; it has been logged")


#: For routes' ``responses=``: the problem answers every authenticated operation can give.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    words = {
        401: "No valid API key (send `Authorization: Bearer <key>`).",
        403: "This key's role may not use this operation.",
        404: "No such object, or one this key may not see.",
        409: "The object's state does not allow this.",
        413: "The upload is too large.",
        415: "The upload's media type is not accepted.",
        422: "Invalid input: every invalid field or data problem is listed.",
        429: "Too many failed authentications from this address or with this key; retry after "
             "`Retry-After` seconds.",
        503: "No region has been imported yet.",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        slug, title = _HTTP_TITLES.get(status, ("unavailable", "Unavailable"))
        out[status] = {
            "description": words[status],
            "model": ProblemDetails,
            "content": {PROBLEM_JSON: {"example": {
                "type": f"/problems/{slug}", "title": title, "status": status,
                "detail": words[status], "instance": "/v1/...",
            }}},
        }
    return out
