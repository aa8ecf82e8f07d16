"""Procurements, each with the policy's qualifying verdict and the reasons for it.

A procurement added here is recorded for the next import (:mod:`service.edits`), which then cannot
lose it without a word.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response, status

from scoring.exceptions import PolicyError
from scoring.policy import Policy, procurement_qualifies
from service import edits, store
from service.auth import Principal, Role
from service.db.tables import REGION_TABLES, region_meta
from service.deps import Conn, Staff, State, require
from service.errors import Conflict, FieldError, InvalidInput, Unavailable, problem_responses
from service.models import Page, Procurement, ProcurementWithVerdict
from service.routes._common import Limit, Offset, PathId, StrictQueryRoute, dump, one, page

router = APIRouter(prefix="/v1/procurements", tags=["procurements"], route_class=StrictQueryRoute)
_t = REGION_TABLES["procurements"]
_suppliers = REGION_TABLES["suppliers"]
ProcurementReader = Annotated[
    Principal, Depends(require(Role.COORDINATOR, Role.LABOUR_MARKET_UNIT, Role.SUPPLIER, Role.ORDERER))
]
PolicyQuery = Annotated[str | None, Query(
    max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$",
    description="Judge by this policy instead of the region's own.", examples=["ostersund-alt2"])]


def _own(caller: Principal) -> list[sa.ColumnElement[bool]]:
    return [_t.c.supplier_id == caller.supplier_id] if caller.role == Role.SUPPLIER else []


def _policy(state: State, conn: sa.Connection, policy_id: str | None) -> Policy:
    if policy_id is not None:
        return state.policy(policy_id)  # 404 for an unknown one
    stored = conn.execute(sa.select(region_meta.c.policy)).scalar()
    snapshot = state.snapshot
    if snapshot is not None and snapshot.region.manifest.policy == stored:
        return snapshot.policy  # as loaded, even if its file has gone since
    try:
        return state.policy(stored or "gothenburg")
    except PolicyError:  # the region's own policy is gone: the region cannot be judged (ServiceState)
        raise Unavailable(state.unavailable or f"the region's policy {stored!r} cannot be loaded") from None


def _with_verdict(row: dict[str, Any], policy: Policy) -> dict[str, Any]:
    verdict = procurement_qualifies(
        policy, procurement_type=row["procurement_type"], contract_start=row["contract_start"],
        contract_end=row["contract_end"], staff_needed=row["staff_needed"], value_sek=row["value_sek"],
        executed_locally=row["executed_locally"],
    )
    return {**row, "verdict": {"policy_id": policy.id, "qualifies": verdict.qualifies,
                               "reasons": list(verdict.reasons)}}


@router.get("", summary="List procurements with their qualifying verdicts",
            response_model=Page[ProcurementWithVerdict], responses=problem_responses(401, 403, 404, 422, 503))
def list_procurements(caller: ProcurementReader, conn: Conn, state: State, limit: Limit = 50,
                      offset: Offset = 0, policy: PolicyQuery = None) -> Page[Any]:
    """Each with the policy's qualifying verdict (``qualifies`` and every rule checked); ``policy`` judges
    by another policy. Coordinators, admins, labour-market units and orderers see every procurement, a
    supplier only its own. Paged."""
    judge = _policy(state, conn, policy)
    result = page(conn, sa.select(_t).where(*_own(caller)), _t.c.procurement_id, limit, offset)
    result.items = [_with_verdict(r, judge) for r in result.items]
    return result


@router.get("/{procurement_id}", summary="One procurement, with whether it qualifies and why",
            response_model=ProcurementWithVerdict, responses=problem_responses(401, 403, 404, 422, 503))
def get_procurement(procurement_id: PathId, caller: ProcurementReader, conn: Conn, state: State,
                    policy: PolicyQuery = None) -> dict[str, Any]:
    """With the policy's qualifying verdict (``policy`` judges by another one). A supplier sees only its own
    procurements: another's answers 404."""
    row = one(conn, _t, "procurement_id", procurement_id, "procurement", *_own(caller))
    return _with_verdict(row, _policy(state, conn, policy))


@router.post("", summary="Add a procurement", status_code=status.HTTP_201_CREATED,
             response_model=ProcurementWithVerdict, responses=problem_responses(401, 403, 409, 422, 503))
def create_procurement(body: Procurement, caller: Staff, conn: Conn, state: State,
                       response: Response) -> dict[str, Any]:
    """Coordinators and admins. The contract must not end before it starts, a hard requirement needs at
    least one place, and the supplier must exist: every problem is a 422 field error at once. An id that
    exists answers 409. Answered with its verdict; recorded as a row created through the API."""
    store.lock_region(conn)  # an import waits for this write, or this write for it
    values = dump(body)
    errors = []
    if values["contract_end"] < values["contract_start"]:
        errors.append(FieldError(location="body.contract_end", message="contract ends before it starts",
                                 type="value_error"))
    if values["requirement_type"] == "hard" and values["required_places"] < 1:
        errors.append(FieldError(location="body.required_places",
                                 message="a hard requirement needs at least 1 place", type="value_error"))
    known = conn.execute(sa.select(_suppliers.c.supplier_id).where(
        _suppliers.c.supplier_id == values["supplier_id"])).first()
    if known is None:
        errors.append(FieldError(location="body.supplier_id", type="reference",
                                 message=f"no supplier {values['supplier_id']!r}"))
    if errors:
        raise InvalidInput(f"{len(errors)} invalid field(s)", errors)
    if conn.execute(sa.select(_t.c.procurement_id).where(
            _t.c.procurement_id == values["procurement_id"])).first() is not None:
        raise Conflict(f"procurement {values['procurement_id']!r} already exists")
    conn.execute(_t.insert().values(**values))
    edits.record(conn, caller, "procurements", values["procurement_id"], created=True)
    state.request_reload()
    response.headers["Location"] = f"/v1/procurements/{values['procurement_id']}"
    return _with_verdict(values, _policy(state, conn, None))
