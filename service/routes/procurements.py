"""Procurements, each with the policy's qualifying verdict and the reasons for it.

A procurement added here is recorded for the next import (:mod:`service.edits`), which then cannot
lose it without a word.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from scoring.exceptions import PolicyError
from scoring.policy import Policy, procurement_qualifies
from service import edits, store
from service.auth import Principal, Role
from service.db.tables import REGION_TABLES, region_meta
from service.deps import Conn, Staff, State, require
from service.errors import Conflict, FieldError, InvalidInput, Unavailable, problem_responses
from service.followup_records import dialogues
from service.models import Page, Procurement, ProcurementWithVerdict
from service.routes._common import Limit, Offset, PathId, StrictQueryRoute, dump, one, page

router = APIRouter(prefix="/v1/procurements", tags=["procurements"], route_class=StrictQueryRoute)
_t = REGION_TABLES["procurements"]
_suppliers = REGION_TABLES["suppliers"]
ProcurementReader = Annotated[
    Principal, Depends(require(Role.COORDINATOR, Role.LABOUR_MARKET_UNIT, Role.SUPPLIER, Role.ORDERER))
]
DialogueReader = Annotated[
    Principal, Depends(require(Role.COORDINATOR, Role.ORDERER, Role.SUPPLIER))
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


# -- the dialogue log (issue 16: "dialogue held" rests on a record) --------------------------------

DialogueRecorder = Annotated[Principal, Depends(require(Role.COORDINATOR, Role.ORDERER))]
_DIALOGUE_FIELDS = ("dialogue_id", "procurement_id", "held_on", "participants", "agreed")


class DialogueIn(BaseModel):
    """One dialogue meeting with the supplier about offering places (dialogkrav)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "held_on": "2026-03-04", "participants": ["samordnare Anna Berg", "Städbolaget Väst AB, HR"],
        "agreed": "two internships in cleaning from May; a supervisor named by 1 April"}]})

    held_on: dt.date = Field(description="The day of the meeting; not in the future.")
    participants: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=50, description="Who took part (names or roles, as you write them).")
    agreed: str = Field(min_length=1, max_length=4000, description="What was agreed, in words.")


class Dialogue(DialogueIn):
    """A recorded dialogue meeting."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "dialogue_id": "dlg-3f2a1b0c9d", "procurement_id": "2025-00002", "held_on": "2026-03-04",
        "participants": ["samordnare Anna Berg", "Carebolaget Säve AB, HR"],
        "agreed": "two internships in elderly care from May"}]})

    dialogue_id: str
    procurement_id: str


@router.get("/{procurement_id}/dialogues", summary="The procurement's dialogue log",
            response_model=list[Dialogue], responses=problem_responses(401, 403, 404, 422))
def list_dialogues(procurement_id: PathId, caller: DialogueReader, conn: Conn) -> list[dict[str, Any]]:
    """Meetings recorded with the supplier, oldest first: the evidence of a dialogue requirement."""
    one(conn, _t, "procurement_id", procurement_id, "procurement", *_own(caller))
    rows = conn.execute(sa.select(dialogues).where(dialogues.c.procurement_id == procurement_id)
                        .order_by(dialogues.c.held_on, dialogues.c.dialogue_id)).mappings().all()
    return [{k: r[k] for k in _DIALOGUE_FIELDS} for r in rows]


@router.post("/{procurement_id}/dialogues", summary="Record a dialogue meeting with the supplier",
             status_code=status.HTTP_201_CREATED, response_model=Dialogue,
             responses=problem_responses(401, 403, 404, 422))
def record_dialogue(procurement_id: PathId, body: DialogueIn, caller: DialogueRecorder, conn: Conn,
                    state: State, response: Response) -> dict[str, Any]:
    """A dialogue requirement is met for a contract year when a meeting of that year is recorded here
    (``docs/follow-up.md``, "Requirement status")."""
    proc = one(conn, _t, "procurement_id", procurement_id, "procurement")
    errors = []
    if body.held_on > dt.datetime.now(dt.UTC).date():
        errors.append(FieldError(location="body.held_on", type="value_error",
                                 message=f"{body.held_on.isoformat()} is in the future: record held ones"))
    if not proc["contract_start"] <= body.held_on <= proc["contract_end"]:
        errors.append(FieldError(location="body.held_on", type="value_error", message=(
            f"{body.held_on.isoformat()} is outside the contract ({proc['contract_start']} to "
            f"{proc['contract_end']})")))
    if errors:
        raise InvalidInput(f"{len(errors)} invalid field(s)", errors)
    row = {"dialogue_id": f"dlg-{uuid.uuid4().hex[:10]}", "procurement_id": procurement_id,
           "held_on": body.held_on, "participants": [p.strip() for p in body.participants],
           "agreed": body.agreed.strip(), "recorded_at": dt.datetime.now(dt.UTC),
           "recorded_by": caller.key_id}
    conn.execute(dialogues.insert().values(**row))
    state.request_reload()
    response.headers["Location"] = f"/v1/procurements/{procurement_id}/dialogues"
    return {k: row[k] for k in _DIALOGUE_FIELDS}
