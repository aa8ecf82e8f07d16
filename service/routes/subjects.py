"""The data subject's rights (GDPR) over HTTP, for admin keys: export a candidate's data (Art. 15)
and erase it (Art. 17). What each does: :mod:`service.subject` and ``docs/data-protection.md``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from service import audit, store, subject
from service.auth import Principal, Role
from service.deps import Conn, State, require
from service.errors import NotFound, problem_responses
from service.models import UtcDatetime
from service.routes._common import PathId, StrictQueryRoute

router = APIRouter(prefix="/v1/data-subjects", tags=["data subjects"], route_class=StrictQueryRoute)
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


class SubjectExport(BaseModel):
    """Every row that holds the person, by table (machine-readable, GDPR art. 15)."""

    candidate_id: str = Field(examples=["C-000001"])
    exported_at: UtcDatetime
    tables: dict[str, list[dict[str, Any]]] = Field(
        description="One list of rows per table that can hold a person (`service.subject`).",
        examples=[{"candidates": [{"candidate_id": "C-000001"}], "proposals": []}])


class Erased(BaseModel):
    """What an erasure did."""

    pseudonym: str = Field(description="Replaces the id in the history kept (proposals, placements, rounds, "
                                       "audit); derived from nothing, it leads back to no one.",
                           examples=["erased-3f2a9c0d1e2b4a5c"])


@router.get("/{candidate_id}/export", summary="Export everything stored about a candidate (GDPR art. 15)",
            response_model=SubjectExport, responses=problem_responses(401, 403, 404, 422))
def export_subject(candidate_id: PathId, caller: Admin, conn: Conn, state: State) -> Any:
    """Admins only: every row stored about the candidate, by table, as JSON (GDPR art. 15); the
    export itself is audited."""
    state.audit.flush()  # the audit entries queued about the person belong in the export
    try:
        data = subject.export(conn, candidate_id)
    except subject.NoSuchCandidate:
        raise NotFound(f"no candidate {candidate_id!r}") from None
    audit.record_apart(state.writer, caller, "export", "candidate", candidate_id,
                       candidate_ids=[candidate_id], detail="data subject export (GDPR art. 15)")
    return jsonable_encoder(data)


@router.post("/{candidate_id}/erase", summary="Erase a candidate's personal data (GDPR art. 17)",
             response_model=Erased, responses=problem_responses(401, 403, 404, 422))
def erase_subject(candidate_id: PathId, caller: Admin, state: State) -> dict[str, str]:
    """The candidate row goes; the history (proposals, placements, rounds, audit) keeps a pseudonym.
    One audit entry records the erasure, by this key, naming only the pseudonym."""
    state.audit.flush()  # entries still queued must be pseudonymised with the rest
    try:
        with state.writer.begin() as conn:
            store.lock_region(conn, exclusive=True)
            pseudonym = subject.erase(conn, candidate_id, caller)
    except subject.NoSuchCandidate:
        raise NotFound(f"no candidate {candidate_id!r}") from None
    # After the commit: a rebuild that starts now reads the region without the person.
    state.request_reload()
    return {"pseudonym": pseudonym}
