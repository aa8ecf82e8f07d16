"""Helpers shared by the routers: the route class, paging, fetching one row, common parameters."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Path, Query
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, create_model

from scoring.schema import ID_PATTERN
from service.errors import NotFound, problem_responses
from service.models import Page

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]
PathId = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN,
                             description="The object's id.", examples=["C-000001"])]
POLICY_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
"""What a policy id looks like (a file name without a path: ``ostersund-alt1``)."""


class StrictQueryRoute(APIRoute):
    """A ``/v1`` operation that refuses query parameters it does not declare.

    FastAPI ignores them, so a misspelt one (``?fiar=false``) would silently give the default's
    answer. Each ``/v1`` operation of a router made with ``route_class=StrictQueryRoute`` gets one
    more dependency, hidden from the OpenAPI document: a query model that names the operation's own
    query parameters and forbids any other (:func:`_refusing_unknown_query`). FastAPI validates it
    with the operation's other fields, so an unknown parameter is one more entry of the 422 problem's
    ``errors`` (``query.<name>``, type ``extra_forbidden``), listed with every other invalid field,
    after the key and role checks as those are (401 and 403 first), and documented as every
    operation's possible 422. ``query_names`` is what the problem's message names as the parameters
    the operation takes.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        dependencies = [d for d in kwargs.pop("dependencies", None) or ()
                        if not getattr(d.dependency, _REFUSES_UNKNOWN_QUERY, False)]
        self.query_names: tuple[str, ...] = ()
        if path.startswith("/v1/"):
            calls = [endpoint, *(d.dependency for d in dependencies if d.dependency is not None)]
            self.query_names = tuple(dict.fromkeys(
                name for call in calls for name in _query_names(get_dependant(path=path, call=call))))
            dependencies.append(Depends(_refusing_unknown_query(self.query_names)))
            responses = dict(kwargs.pop("responses", None) or {})
            responses.setdefault(422, problem_responses(422)[422])  # every /v1 operation can answer it
            kwargs["responses"] = responses
        super().__init__(path, endpoint, dependencies=dependencies, **kwargs)


_REFUSES_UNKNOWN_QUERY = "refuses_unknown_query"


def _query_names(dependant: Dependant) -> Iterator[str]:
    """The query parameter names of ``dependant`` and its dependencies (a query model's by field)."""
    for field in dependant.query_params:
        model = field.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            yield from (info.alias or name for name, info in model.model_fields.items())
        else:
            yield field.alias
    for sub in dependant.dependencies:
        yield from _query_names(sub)


def _refusing_unknown_query(names: Sequence[str]) -> Callable[..., None]:
    """A dependency whose query model takes ``names`` (any value) and forbids every other name."""
    known = create_model(  # type: ignore[call-overload]
        "KnownQueryParameters", __config__=ConfigDict(extra="forbid"),
        **{f"p{i}": (Any, Query(default=None, alias=name, include_in_schema=False))
           for i, name in enumerate(names)})

    def refuse_unknown_query(**_: Any) -> None:
        """Nothing to do: validating the query model has reported every unknown parameter."""

    # The model is made here, so the signature is given as objects, not as annotations to resolve.
    refuse_unknown_query.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter("known", inspect.Parameter.KEYWORD_ONLY,
                          annotation=Annotated[known, Query(include_in_schema=False)])])
    setattr(refuse_unknown_query, _REFUSES_UNKNOWN_QUERY, True)
    return refuse_unknown_query


def page(conn: sa.Connection, query: sa.Select[Any], order_by: Any, limit: int, offset: int) -> Page[Any]:
    total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(order_by).limit(limit).offset(offset)).mappings().all()
    return Page[Any](items=[dict(r) for r in rows], total=total, limit=limit, offset=offset)


def one(conn: sa.Connection, table: sa.Table, key: str, value: str, what: str,
        *where: sa.ColumnElement[bool]) -> dict[str, Any]:
    """The row with ``key == value`` that also meets ``where`` (the caller's ownership), or 404.

    A row that exists but belongs to someone else gives the same 404 as one that does not exist, so
    that guessing ids reveals nothing.
    """
    row = conn.execute(sa.select(table).where(table.c[key] == value, *where)).mappings().first()
    if row is None:
        raise NotFound(f"no {what} {value!r} that this key may see")
    return dict(row)


def dump(model: BaseModel, **kwargs: Any) -> dict[str, Any]:
    return model.model_dump(mode="python", **kwargs)
