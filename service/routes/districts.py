"""The region's districts (every role may list them: they are public facts)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from service.db.tables import REGION_TABLES
from service.deps import Caller, Conn
from service.errors import problem_responses
from service.models import District
from service.routes._common import StrictQueryRoute

router = APIRouter(prefix="/v1/districts", tags=["districts"], route_class=StrictQueryRoute)
_t = REGION_TABLES["districts"]


@router.get("", summary="List the districts", response_model=list[District],
            responses=problem_responses(401))
def list_districts(caller: Caller, conn: Conn) -> list[dict[str, object]]:
    """Every key: the region's districts, by id."""
    return [dict(r) for r in conn.execute(sa.select(_t).order_by(_t.c.district_id)).mappings()]
