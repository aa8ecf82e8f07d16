"""Errors as RFC 9457 problem details: the service's exceptions, the problem kinds and their answer.

The handlers that turn every exception into its answer are in one module beside this one,
:mod:`service.handlers` (it also knows the pages' and the integration's exceptions, which import
this module).

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

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
    """An error answer (RFC 9457): the members every problem has."""

    type: str = Field(description="`/problems/<slug>`, documented in `docs/api.md`.",
                      examples=["/problems/not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["no candidate 'c-000123' that this key may see"])
    instance: str = Field(description="The request's path.", examples=["/v1/candidates/c-000123"])


class InvalidInputProblem(ProblemDetails):
    """422: every invalid field of the request (``errors``) or problem in uploaded data (``problems``)."""

    errors: list[FieldError] | None = Field(default=None, description="Every invalid field of the request.")
    problems: list[DataProblem] | None = Field(
        default=None, description="Every problem in uploaded region data or a policy file.")


class RegionEditConflictProblem(ProblemDetails):
    """409 ``/problems/region-edit-conflict``: an import would lose rows the API created or changed."""

    edits: list[RegionEdit] = Field(description="Region rows created or changed through the API that the "
                                                "import would drop or overwrite.")
    problems: list[DataProblem] | None = Field(
        default=None, description="`mode=merge`: why the region it makes does not hold together, by id.")


class RegionHistoryConflictProblem(ProblemDetails):
    """409 ``/problems/region-history-conflict``: an import would drop or contradict proposal history."""

    problems: list[DataProblem] = Field(description="Every problem, named by file, row, column and value.")


@dataclass(frozen=True)
class ProblemKind:
    """One kind of error answer: its status, ``type`` slug and title, its schema and an example.

    The registry (:data:`PROBLEMS`) is what routes name in ``responses=problem_responses(...)``: a
    status stands for its general kind (:data:`DEFAULT_KINDS`), a slug for a kind of its own.
    """

    status: int
    slug: str
    title: str
    model: type[BaseModel]
    description: str
    detail: str
    extra: Mapping[str, Any] = field(default_factory=dict)
    """The example's members beyond the five every problem has."""
    headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Response headers the answer carries (OpenAPI header objects)."""

    def example(self, instance: str = "/v1/...") -> dict[str, Any]:
        return {"type": f"/problems/{self.slug}", "title": self.title, "status": self.status,
                "detail": self.detail, "instance": instance, **self.extra}


PROBLEMS: dict[str, ProblemKind] = {}
"""Every kind of error answer, by slug (:func:`register_problem` adds one)."""


def register_problem(kind: ProblemKind) -> ProblemKind:
    PROBLEMS[kind.slug] = kind
    return kind


for _kind in (
    ProblemKind(400, "bad-request", "Bad request", ProblemDetails,
                "The request body is not the JSON (or form) its media type says.",
                "There was an error parsing the body"),
    ProblemKind(401, "unauthorized", "Unauthorized", ProblemDetails,
                "No valid API key (send `Authorization: Bearer <key>`).", "unknown or revoked API key",
                headers={"WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}}}),
    ProblemKind(403, "forbidden", "Forbidden", ProblemDetails, "This key's role may not use this operation.",
                "a supplier key may not do this (allowed: admin, coordinator)"),
    ProblemKind(404, "not-found", "Not found", ProblemDetails, "No such object, or one this key may not see.",
                "no candidate 'C-000123' that this key may see"),
    ProblemKind(409, "conflict", "Conflict", ProblemDetails, "The object's state does not allow this.",
                "the region was replaced since this round: start a new round"),
    ProblemKind(413, "too-large", "Content too large", ProblemDetails, "The upload is too large.",
                "the upload is larger than 200 MB"),
    ProblemKind(415, "unsupported-media-type", "Unsupported media type", ProblemDetails,
                "The upload's media type is not accepted.",
                "send application/zip or multipart/form-data, not text/plain"),
    ProblemKind(422, "invalid-input", "Invalid input", InvalidInputProblem,
                "Invalid input: every invalid field is listed.", "1 invalid field(s)",
                {"errors": [{"location": "query.limit", "type": "less_than_equal",
                             "message": "Input should be less than or equal to 500"}]}),
    ProblemKind(422, "invalid-region", "Invalid region data", InvalidInputProblem,
                "The uploaded region is invalid: every problem is listed, and nothing was imported.",
                "1 problem(s) found; nothing was imported",
                {"problems": [{"file": "candidates.csv", "row": 2, "column": "home_district",
                               "value": "nowhere", "reason": "no such district_id in districts"}]}),
    ProblemKind(422, "invalid-policy", "Invalid policy", InvalidInputProblem,
                "The policy file is invalid: every problem is listed.", "1 problem(s) in the policy",
                {"problems": [{"file": "malmo.toml", "row": None, "column": "weights.competence",
                               "value": "-1", "reason": "must be at least 0"}]}),
    ProblemKind(429, "too-many-requests", "Too many requests", ProblemDetails,
                "Too many failed authentications from this key or address: wait `Retry-After` seconds.",
                "too many failed authentications; retry after 30 s",
                headers={"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}),
    ProblemKind(503, "unavailable", "Unavailable", ProblemDetails,
                "The service cannot answer this yet (no region imported).",
                "no region has been imported yet"),
    ProblemKind(409, "region-edit-conflict", "Import conflicts with changes made through the API",
                RegionEditConflictProblem,
                "The upload would drop or overwrite rows created or changed through the API since the last "
                "import, and no `mode` says what to do (`edits` lists every one), or what `mode=merge` "
                "makes does not hold together (`problems`). Nothing was imported.",
                "1 row(s) created or changed through the API since the last import would be lost: places "
                "P-0042 (changed through the API, overwritten (slots) by the upload). Import with "
                "mode=merge to keep what the API did, or mode=replace to take the upload's rows; nothing "
                "was imported",
                {"edits": [{"table": "places", "id": "P-0042", "edit": "changed",
                            "edited_at": "2026-09-14T09:12:00Z", "key_id": 7, "fields": ["slots"],
                            "upload": "overwrite", "differs": ["slots"]}]}),
    ProblemKind(409, "region-history-conflict", "Import conflicts with the proposal history",
                RegionHistoryConflictProblem,
                "The upload would drop or contradict proposals made or answered through Platsa "
                "(`problems`). Nothing was imported.",
                "1 problem(s): the upload would drop or contradict proposals made or answered through "
                "Platsa (their history feeds the follow-up); nothing was imported",
                {"problems": [{"file": "candidates", "row": None, "column": "candidate_id",
                               "value": "C-000001",
                               "reason": "missing from the upload, but proposal PR-3f2a9c0d1e2b4a5c (hired, "
                                         "made or answered through Platsa) names it: keep the candidate"}]}),
):
    register_problem(_kind)

#: The kind a bare status in :func:`problem_responses` stands for.
DEFAULT_KINDS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 409: "conflict",
                 413: "too-large", 415: "unsupported-media-type", 422: "invalid-input",
                 429: "too-many-requests", 503: "unavailable"}


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
    headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}", "title": title, "status": status, "detail": detail,
        "instance": request.url.path,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    out = dict(headers or {})
    if status == 401:
        out["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=out or None)


def problem_responses(*kinds: int | str) -> dict[int | str, dict[str, Any]]:
    """For routes' ``responses=``: each error answer the operation can give, with its schema and example.

    ``kinds`` are statuses (their general kind, :data:`DEFAULT_KINDS`) or slugs of :data:`PROBLEMS`;
    several kinds of one status are documented together (the schema any of theirs, an example each).
    """
    by_status: dict[int, list[ProblemKind]] = {}
    for item in kinds:
        kind = PROBLEMS[DEFAULT_KINDS[item] if isinstance(item, int) else item]
        if kind not in by_status.setdefault(kind.status, []):
            by_status[kind.status].append(kind)
    return {status: problem_response_doc(group) for status, group in sorted(by_status.items())}


def problem_response_doc(group: Sequence[ProblemKind], instance: str = "/v1/...") -> dict[str, Any]:
    """The OpenAPI response object of one status whose answers are of the kinds ``group``."""
    refs = list(dict.fromkeys(f"#/components/schemas/{k.model.__name__}" for k in group))
    schema: dict[str, Any] = {"$ref": refs[0]} if len(refs) == 1 else {"anyOf": [{"$ref": r} for r in refs]}
    media: dict[str, Any] = {"schema": schema}
    if len(group) == 1:
        media["example"] = group[0].example(instance)
    else:
        media["examples"] = {k.slug: {"summary": f"/problems/{k.slug}", "value": k.example(instance)}
                             for k in group}
    doc: dict[str, Any] = {"description": " ".join(
        (f"`/problems/{k.slug}`: " if len(group) > 1 else "") + k.description for k in group),
        "content": {PROBLEM_JSON: media}}
    headers = {name: h for k in group for name, h in k.headers.items()}
    if headers:
        doc["headers"] = headers
    return doc
