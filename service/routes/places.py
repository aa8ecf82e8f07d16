"""Places: staff and labour-market units read all; a supplier reads and edits only its own.

Every write is recorded for the next import (:mod:`service.edits`), which then cannot lose it
without a word.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Response, status

from scoring.region import learnable_not_required
from service import edits, store
from service.auth import Principal, Role
from service.db.tables import REGION_TABLES
from service.deps import Conn, PlaceReader, Staff, State, require
from service.errors import Conflict, FieldError, InvalidInput, problem_responses
from service.models import Page, Place, PlacePatch
from service.routes._common import Limit, Offset, PathId, StrictQueryRoute, dump, one, page

#: A labour-market unit key may read places, not change them (refused before the body is read).
PlaceWriter = Annotated[Principal, Depends(require(Role.COORDINATOR, Role.SUPPLIER))]

router = APIRouter(prefix="/v1/places", tags=["places"], route_class=StrictQueryRoute)
_t = REGION_TABLES["places"]


def own_places(caller: Principal) -> list[sa.ColumnElement[bool]]:
    """The condition a supplier key adds to every query on places."""
    return [_t.c.supplier_id == caller.supplier_id] if caller.role == Role.SUPPLIER else []


def _check_references(conn: sa.Connection, values: dict[str, Any]) -> None:
    errors = []
    for column, (table, key) in {"procurement_id": ("procurements", "procurement_id"),
                                 "ssyk_code": ("occupations", "ssyk_code"),
                                 "district_id": ("districts", "district_id")}.items():
        if column not in values:
            continue
        ref = REGION_TABLES[table]
        if conn.execute(sa.select(ref.c[key]).where(ref.c[key] == values[column])).first() is None:
            errors.append(FieldError(location=f"body.{column}", message=f"no {key} {values[column]!r}",
                                     type="reference"))
    if "procurement_id" in values and "supplier_id" in values and not errors:
        procurements = REGION_TABLES["procurements"]
        winner = conn.execute(sa.select(procurements.c.supplier_id).where(
            procurements.c.procurement_id == values["procurement_id"])).scalar()
        if winner != values["supplier_id"]:
            errors.append(FieldError(location="body.supplier_id", type="reference",
                                     message="not the supplier that won the place's procurement"))
    if errors:
        raise InvalidInput(f"{len(errors)} invalid field(s)", errors)


def _check_learnable(row: dict[str, Any]) -> None:
    """A competence the place teaches on the job must be one it requires (as a region import checks)."""
    stray = learnable_not_required(row.get("competences_required") or [],
                                   row.get("competences_learnable") or [])
    if stray:
        raise InvalidInput("1 invalid field(s)", [FieldError(
            location="body.competences_learnable", type="value_error",
            message=f"not among the place's competences_required (list it there too): {', '.join(stray)}")])


@router.get("", summary="List places", response_model=Page[Place], responses=problem_responses(401, 403, 422))
def list_places(caller: PlaceReader, conn: Conn, limit: Limit = 50, offset: Offset = 0) -> Page[Any]:
    """Coordinators, admins and labour-market units see every place; a supplier only its own. Paged
    (``limit``, ``offset``)."""
    return page(conn, sa.select(_t).where(*own_places(caller)), _t.c.place_id, limit, offset)


@router.get("/{place_id}", summary="One place", response_model=Place,
            responses=problem_responses(401, 403, 404, 422))
def get_place(place_id: PathId, caller: PlaceReader, conn: Conn) -> dict[str, Any]:
    """A supplier's key sees only its own places: another's answers 404, exactly like one that does not
    exist."""
    return one(conn, _t, "place_id", place_id, "place", *own_places(caller))


@router.post("", summary="Add a place", status_code=status.HTTP_201_CREATED, response_model=Place,
             responses=problem_responses(401, 403, 409, 422))
def create_place(body: Place, caller: Staff, conn: Conn, state: State, response: Response) -> dict[str, Any]:
    """Coordinators and admins. Every reference (procurement, district, occupation, supplier) must exist and
    the supplier must have won the procurement; every problem is a 422 field error. An id that exists
    answers 409. Recorded as a row created through the API; ``Location`` names the new place."""
    store.lock_region(conn)  # an import waits for this write, or this write for it
    values = dump(body)
    _check_references(conn, values)
    _check_learnable(values)
    if conn.execute(sa.select(_t.c.place_id).where(_t.c.place_id == values["place_id"])).first() is not None:
        raise Conflict(f"place {values['place_id']!r} already exists")
    conn.execute(_t.insert().values(**values))
    edits.record(conn, caller, "places", values["place_id"], created=True)
    state.request_reload()
    response.headers["Location"] = f"/v1/places/{values['place_id']}"
    return values


@router.patch("/{place_id}", summary="Change a place (a supplier: only its own)", response_model=Place,
              responses=problem_responses(401, 403, 404, 422))
def update_place(place_id: PathId, body: PlacePatch, caller: PlaceWriter, conn: Conn,
                 state: State) -> dict[str, Any]:
    """Changes only the fields sent. Coordinators and admins change any place, a supplier only its own
    (others answer 404); a labour-market unit may read places but not change them (403). Recorded as a
    change made through the API."""
    store.lock_region(conn)
    row = one(conn, _t, "place_id", place_id, "place", *own_places(caller))
    changes = dump(body, exclude_unset=True)
    changes.update({k: [] for k, v in changes.items() if v is None and isinstance(_t.c[k].type, sa.JSON)})
    nulls = [k for k, v in changes.items() if v is None and _t.c[k].nullable is False]
    if nulls:
        raise InvalidInput("required fields set to null", [
            FieldError(location=f"body.{k}", message="must not be null", type="missing") for k in nulls])
    _check_references(conn, changes)
    _check_learnable({**row, **changes})
    if changes:
        conn.execute(_t.update().where(_t.c.place_id == place_id).values(**changes))
        edits.record(conn, caller, "places", place_id, fields=changes)
        state.request_reload()
    return {**row, **changes}
