"""Candidates: sensitive personal data, for coordinators and their own district's labour-market unit.

Every read and write is audited. A labour-market unit key sees only candidates whose home district
is its own; another district's candidate answers 404, exactly like one that does not exist. Every
write is also recorded for the next import (:mod:`service.edits`), which then cannot lose it without
a word.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response, status

from service import audit, edits, store
from service.auth import Principal, Role
from service.db.tables import REGION_TABLES
from service.deps import CandidateReader, Conn, State
from service.errors import Conflict, FieldError, Forbidden, InvalidInput, problem_responses
from service.models import Candidate, CandidatePatch, Page
from service.routes._common import Limit, Offset, PathId, StrictQueryRoute, dump, one, page

router = APIRouter(prefix="/v1/candidates", tags=["candidates"], route_class=StrictQueryRoute)
_t = REGION_TABLES["candidates"]
_districts = REGION_TABLES["districts"]


def _own(caller: Principal) -> list[sa.ColumnElement[bool]]:
    if caller.role == Role.LABOUR_MARKET_UNIT:
        return [_t.c.home_district == caller.district_id]
    return []


def _check_district(conn: sa.Connection, caller: Principal, district: str) -> None:
    if caller.role == Role.LABOUR_MARKET_UNIT and district != caller.district_id:
        raise Forbidden(f"this key may only hold candidates of district {caller.district_id!r}")
    known = conn.execute(sa.select(_districts.c.district_id).where(_districts.c.district_id == district))
    if known.first() is None:
        raise InvalidInput("unknown district", [FieldError(
            location="body.home_district", message=f"no district {district!r}", type="reference")])


@router.get("", summary="List candidates", response_model=Page[Candidate],
            responses=problem_responses(401, 403, 422))
def list_candidates(
    caller: CandidateReader, conn: Conn, state: State, limit: Limit = 50, offset: Offset = 0,
    district: Annotated[str | None, Query(max_length=200, description="Only this home district.")] = None,
) -> Page[Any]:
    """Coordinators and admins see every candidate; a labour-market unit only those whose home district is
    its own. Paged (``limit``, ``offset``); the read is audited with the candidate ids on the page."""
    query = sa.select(_t).where(*_own(caller))
    if district is not None:
        query = query.where(_t.c.home_district == district)
    result = page(conn, query, _t.c.candidate_id, limit, offset)
    audit.record_apart(state.writer, caller, "read", "candidate", None,
                 candidate_ids=[r["candidate_id"] for r in result.items], detail="list")
    return result


@router.get("/{candidate_id}", summary="One candidate", response_model=Candidate,
            responses=problem_responses(401, 403, 404, 422))
def get_candidate(candidate_id: PathId, caller: CandidateReader, conn: Conn, state: State) -> dict[str, Any]:
    """A candidate of another district than a labour-market unit's own answers 404, exactly like one that
    does not exist. The read is audited."""
    row = own_candidate(conn, caller, candidate_id)
    audit.record_apart(state.writer, caller, "read", "candidate", candidate_id, candidate_ids=[candidate_id])
    return row


def own_candidate(conn: sa.Connection, caller: Principal, candidate_id: str) -> dict[str, Any]:
    """The candidate's row if ``caller`` may see it, else :class:`service.errors.NotFound` (another
    district's candidate exactly as one that does not exist). Not audited: the caller audits the read."""
    return one(conn, _t, "candidate_id", candidate_id, "candidate", *_own(caller))


@router.post("", summary="Add a candidate", status_code=status.HTTP_201_CREATED, response_model=Candidate,
             responses=problem_responses(401, 403, 409, 422))
def create_candidate(body: Candidate, caller: CandidateReader, conn: Conn, state: State,
                     response: Response) -> dict[str, Any]:
    """Coordinators, admins and labour-market units (a unit only in its own district, else 403). An id
    that exists answers 409; an unknown home district 422. Recorded as a row created through the API (a
    later import that drops it is refused unless ``mode`` says what to do) and audited; ``Location``
    names the new candidate."""
    store.lock_region(conn)  # an import waits for this write, or this write for it
    values = dump(body)
    _check_district(conn, caller, values["home_district"])
    exists = conn.execute(sa.select(_t.c.candidate_id).where(_t.c.candidate_id == values["candidate_id"]))
    if exists.first() is not None:
        raise Conflict(f"candidate {values['candidate_id']!r} already exists")
    conn.execute(_t.insert().values(**values))
    edits.record(conn, caller, "candidates", values["candidate_id"], created=True)
    audit.record(conn, caller, "create", "candidate", values["candidate_id"],
                 candidate_ids=[values["candidate_id"]])
    state.request_reload()
    response.headers["Location"] = f"/v1/candidates/{values['candidate_id']}"
    return values


@router.patch("/{candidate_id}", summary="Change a candidate", response_model=Candidate,
              responses=problem_responses(401, 403, 404, 422))
def update_candidate(candidate_id: PathId, body: CandidatePatch, caller: CandidateReader, conn: Conn,
                     state: State) -> dict[str, Any]:
    """Changes only the fields sent; a list set to null means none. A labour-market unit changes only its
    own district's candidates (others answer 404) and cannot move one to another district (403). Recorded as a
    change made through the API, and audited."""
    store.lock_region(conn)
    row = one(conn, _t, "candidate_id", candidate_id, "candidate", *_own(caller))
    changes = dump(body, exclude_unset=True)
    # A list set to null means "none": stored as an empty list.
    changes.update({k: [] for k, v in changes.items() if v is None and isinstance(_t.c[k].type, sa.JSON)})
    nulls = [k for k, v in changes.items() if v is None and _t.c[k].nullable is False]
    if nulls:
        raise InvalidInput("required fields set to null", [
            FieldError(location=f"body.{k}", message="must not be null", type="missing") for k in nulls])
    if "home_district" in changes:
        _check_district(conn, caller, changes["home_district"])
    if changes:
        conn.execute(_t.update().where(_t.c.candidate_id == candidate_id).values(**changes))
        edits.record(conn, caller, "candidates", candidate_id, fields=changes)
        state.request_reload()
    audit.record(conn, caller, "update", "candidate", candidate_id, candidate_ids=[candidate_id],
                 detail="fields: " + ", ".join(sorted(changes)))
    return {**row, **changes}
