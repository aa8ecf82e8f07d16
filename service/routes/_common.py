"""Helpers shared by the routers: paging, fetching one row, inserting and updating region rows."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Path, Query
from pydantic import BaseModel

from service.errors import NotFound
from service.models import Page

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]
PathId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
                             description="The object's id.", examples=["C-000001"])]


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
