"""Proposals: what publishing a round created, and what came before.

Coordinators see all; a labour-market unit those of its district's candidates; a supplier those to
its own places, with the candidate described without id or sensitive data (DOMAIN.md). The supplier
integration (answering proposals, webhooks) builds on this table.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from scoring.schema import ERASED_PREFIX
from service import audit, privacy
from service.auth import Principal, Role
from service.db.tables import REGION_TABLES
from service.deps import Conn, State, require
from service.errors import NotFound, problem_responses
from service.integration.models import CandidateProfile
from service.models import EXAMPLES, Page
from service.routes._common import Limit, Offset, PathId, StrictQueryRoute, page

router = APIRouter(prefix="/v1/proposals", tags=["proposals"], route_class=StrictQueryRoute)
_t = REGION_TABLES["proposals"]
_cands = REGION_TABLES["candidates"]
_places = REGION_TABLES["places"]
ProposalReader = Annotated[
    Principal, Depends(require(Role.COORDINATOR, Role.LABOUR_MARKET_UNIT, Role.SUPPLIER))
]
_CLOSED = {"declined", "withdrawn"}


class Proposal(BaseModel):
    """A proposal of a candidate to a place. ``candidate_id`` is null for a supplier's key, which gets
    ``candidate`` instead: the supplier's one view of a candidate (:mod:`service.privacy`), null once
    the proposal is declined or withdrawn, as in the integration API."""

    proposal_id: str = Field(examples=[EXAMPLES["proposals"]["proposal_id"]])
    place_id: str = Field(examples=["P-0001"])
    candidate_id: str | None = Field(examples=["C-000001"])
    created_on: Any = Field(examples=["2026-09-01"])
    status: str = Field(examples=["open"])
    decided_on: Any = Field(default=None, examples=[None])
    decline_reason: str | None = Field(default=None, examples=[None])
    round_id: str | None = Field(default=None, examples=["r-1a2b3c4d"])
    score: float | None = Field(
        default=None, examples=[71.3],
        description="The match score the proposal was made with (by hand from a shortlist, or by "
                    "publishing a round); null for proposals imported or made before it was recorded. "
                    "Coordinators and labour-market units only: always null for a supplier's key.")
    outcome_probability: float | None = Field(
        default=None, examples=[0.62],
        description="The learnt outcome model's predicted probability that the person is in work or "
                    "studies 180 days after the placement, within that score (docs/scoring.md); null "
                    "where the policy did not weigh the model. Derived from the person's data: "
                    "coordinators and labour-market units only, always null for a supplier's key.")
    candidate: CandidateProfile | None = None


def _query(caller: Principal) -> sa.Select[Any]:
    cols = [_t.c.proposal_id, _t.c.place_id, _t.c.candidate_id, _t.c.created_on, _t.c.status,
            _t.c.decided_on, _t.c.decline_reason, _t.c.round_id]
    if caller.role != Role.SUPPLIER:  # the score and the probability are the municipality's only
        cols += [_t.c.score, _t.c.outcome_probability]
    query = sa.select(*cols)
    if caller.role == Role.SUPPLIER:
        query = query.select_from(_t.join(_places, _places.c.place_id == _t.c.place_id)).where(
            _places.c.supplier_id == caller.supplier_id)
    elif caller.role == Role.LABOUR_MARKET_UNIT:
        query = query.select_from(_t.join(_cands, _cands.c.candidate_id == _t.c.candidate_id)).where(
            _cands.c.home_district == caller.district_id)
    return query


def _shape(row: dict[str, Any], caller: Principal, state: Any) -> dict[str, Any]:
    if caller.role != Role.SUPPLIER:
        return row
    out = {k: row[k] for k in ("proposal_id", "place_id", "created_on", "status", "decided_on",
                               "decline_reason", "round_id")}
    erased = row["candidate_id"].startswith(ERASED_PREFIX)  # GDPR art. 17: no profile is left
    profile = None if row["status"] in _CLOSED or erased else privacy.supplier_profile(
        state, row["candidate_id"])
    return {**out, "candidate_id": None, "candidate": profile}


@router.get("", summary="List proposals", response_model=Page[Proposal],
            responses=problem_responses(401, 403, 422))
def list_proposals(caller: ProposalReader, conn: Conn, state: State, limit: Limit = 50,
                   offset: Offset = 0) -> Page[Any]:
    """Coordinators and admins see every proposal, a labour-market unit those of its own district's
    candidates, a supplier those to its places, with the candidate described without id and without
    sensitive data. Paged; the read is audited."""
    result = page(conn, _query(caller), _t.c.proposal_id, limit, offset)
    ids = [r["candidate_id"] for r in result.items]
    result.items = [_shape(r, caller, state) for r in result.items]
    audit.record_apart(state.writer, caller, "read", "proposal", None, detail="list", candidate_ids=ids)
    return result


@router.get("/{proposal_id}", summary="One proposal", response_model=Proposal,
            responses=problem_responses(401, 403, 404, 422))
def get_proposal(proposal_id: PathId, caller: ProposalReader, conn: Conn, state: State) -> dict[str, Any]:
    """As in the list: a proposal the key may not see answers 404, exactly like one that does not exist. The
    read is audited."""
    row = conn.execute(_query(caller).where(_t.c.proposal_id == proposal_id)).mappings().first()
    if row is None:
        raise NotFound(f"no proposal {proposal_id!r} that this key may see")
    audit.record_apart(state.writer, caller, "read", "proposal", proposal_id,
                       candidate_ids=[row["candidate_id"]])
    return _shape(dict(row), caller, state)
