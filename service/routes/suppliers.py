"""Suppliers: staff see all; a supplier key sees only itself."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends

from service.auth import Principal, Role
from service.db.tables import REGION_TABLES
from service.deps import Conn, require
from service.errors import problem_responses
from service.models import Page, Supplier
from service.routes._common import Limit, Offset, PathId, StrictQueryRoute, one, page

router = APIRouter(prefix="/v1/suppliers", tags=["suppliers"], route_class=StrictQueryRoute)
_t = REGION_TABLES["suppliers"]
SupplierReader = Annotated[
    Principal, Depends(require(Role.COORDINATOR, Role.LABOUR_MARKET_UNIT, Role.SUPPLIER, Role.ORDERER))
]


def _own(caller: Principal) -> list[sa.ColumnElement[bool]]:
    return [_t.c.supplier_id == caller.supplier_id] if caller.role == Role.SUPPLIER else []


@router.get("", summary="List suppliers", response_model=Page[Supplier],
            responses=problem_responses(401, 403, 422))
def list_suppliers(caller: SupplierReader, conn: Conn, limit: Limit = 50, offset: Offset = 0) -> Page[Any]:
    """Coordinators, admins, labour-market units and orderers see every supplier; a supplier only itself.
    Paged."""
    return page(conn, sa.select(_t).where(*_own(caller)), _t.c.supplier_id, limit, offset)


@router.get("/{supplier_id}", summary="One supplier", response_model=Supplier,
            responses=problem_responses(401, 403, 404, 422))
def get_supplier(supplier_id: PathId, caller: SupplierReader, conn: Conn) -> dict[str, Any]:
    """A supplier's key sees only itself: another supplier answers 404."""
    return one(conn, _t, "supplier_id", supplier_id, "supplier", *_own(caller))
