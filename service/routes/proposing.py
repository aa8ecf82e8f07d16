"""The municipality's side of proposals: propose by hand, withdraw, read a proposal's history.

A labour-market unit proposes candidates it shortlisted for a place (its own district's candidates
only; another district's answer like unknown ones); a coordinator may propose anyone. A proposal by
hand keeps the rules a shortlist and a round keep, checked on the region as it is now
(:func:`service.live.check_pairs`): the place must be open and have a free slot for each candidate
proposed, and each pair must pass every hard rule, unless the caller overrides the rules of the
person's fit to the place with a reason, which the proposal's history and the audit log keep.
Publishing an allocation round proposes too (``service/routes/rounds.py``, through
:func:`service.integration.lifecycle.proposals_created`). The municipality withdraws a proposal;
the supplier hears of it by webhook.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, status

from scoring.eligibility import OVERRIDABLE_RULES, RuleOverride
from service import audit, live, store
from service.auth import Principal, Role
from service.db.tables import REGION_TABLES
from service.deps import CandidateReader, State, get_conn
from service.engine import pair_scores
from service.errors import FieldError, InvalidInput, NotFound, problem_responses
from service.integration import lifecycle
from service.integration.models import (
    MunicipalEvent,
    MunicipalProposal,
    ProposalsCreated,
    ProposeCandidates,
    Withdraw,
)
from service.integration.tables import proposal_events
from service.routes._common import PathId, StrictQueryRoute

router = APIRouter(tags=["proposals"], route_class=StrictQueryRoute)


def _policy_id(conn: sa.Connection) -> str:
    """The stored region's policy: the rules a proposal by hand keeps."""
    meta = store.read_manifest(conn)
    if meta is None:
        raise NotFound("no region is imported")
    return meta[0].policy

_proposals = REGION_TABLES["proposals"]
_places = REGION_TABLES["places"]
_cands = REGION_TABLES["candidates"]
#: Commits before the answer is sent (see ``service/routes/supplier.py``).
Conn = Annotated[sa.Connection, Depends(get_conn, scope="function")]


def _own_candidates(caller: Principal) -> list[sa.ColumnElement[bool]]:
    if caller.role == Role.LABOUR_MARKET_UNIT:
        return [_cands.c.home_district == caller.district_id]
    return []


@router.post("/v1/places/{place_id}/proposals", summary="Propose shortlisted candidates to a place",
             status_code=status.HTTP_201_CREATED, response_model=ProposalsCreated,
             responses=problem_responses(401, 403, 404, "open-proposal-exists", 422))
def propose(place_id: PathId, body: ProposeCandidates, caller: CandidateReader, conn: Conn,
            state: State) -> dict[str, Any]:
    """A candidate holds at most one open proposal unless ``allow_multiple_open``; a placed candidate
    cannot be proposed. The place must be open with a free slot per candidate, and each pair must
    pass every hard rule or carry an override (``overrides``) of the rules it breaks: every problem
    is a 422 naming the candidate and the rule, and nothing is proposed. The supplier's webhooks get
    ``proposal.created``."""
    store.lock_region(conn)  # a re-import waits for this proposal, or this proposal for the re-import
    if conn.execute(sa.select(_places.c.place_id).where(_places.c.place_id == place_id)).first() is None:
        raise NotFound(f"no place {place_id!r}")
    wanted = list(dict.fromkeys(body.candidate_ids))
    found = {r.candidate_id: r.placed for r in conn.execute(
        sa.select(_cands.c.candidate_id, _cands.c.placed)
        .where(_cands.c.candidate_id.in_(wanted), *_own_candidates(caller)))}
    errors = [FieldError(location=f"body.candidate_ids.{i}", type="reference",
                         message=f"no candidate {c!r} that this key may see")
              for i, c in enumerate(body.candidate_ids) if c not in found]
    errors += [FieldError(location=f"body.candidate_ids.{i}", type="placed",
                          message=f"candidate {c!r} is already placed")
               for i, c in enumerate(body.candidate_ids) if found.get(c)]
    errors += [FieldError(location=f"body.overrides.{i}.candidate_id", type="reference",
                          message=f"candidate {o.candidate_id!r} is not among candidate_ids")
               for i, o in enumerate(body.overrides) if o.candidate_id not in wanted]
    overrides = {(o.candidate_id, place_id): RuleOverride(o.candidate_id, place_id, o.reason, tuple(o.rules))
                 for o in body.overrides}
    known = [c for c in wanted if c in found]
    check = live.check_pairs(conn, [(c, place_id) for c in known], state.policy(_policy_id(conn)),
                             overrides=overrides)
    first = {c: i for i, c in reversed(list(enumerate(body.candidate_ids)))}
    for c in known:
        # A placement is answered above; an open proposal to this place is a 409 conflict below.
        failures = [f for f in check.failures[(c, place_id)] if f.rule not in ("placed", "proposed_here")]
        for failure in failures:
            advice = ("" if failure.rule not in OVERRIDABLE_RULES
                      else "; an override with a reason proposes the candidate anyway")
            errors.append(FieldError(location=f"body.candidate_ids.{first[c]}", type=failure.rule,
                                     message=f"candidate {c!r}: {failure.text}{advice}"))
    free = check.free_slots.get(place_id, 0)
    in_period = not any(f.rule == "period" for c in known for f in check.failures[(c, place_id)])
    if known and in_period and len(known) > free:
        errors.append(FieldError(
            location="body.candidate_ids", type="free_slots",
            message=f"the place is {check.place_state[place_id]}: {len(known)} candidate(s) proposed, "
                    f"{free} free slot(s)"))
    if errors:
        raise InvalidInput(f"{len(errors)} problem(s): nothing was proposed", errors)
    broken = {c: [f.text for f in check.overridden[(c, place_id)]] for c in wanted
              if check.overridden.get((c, place_id))}
    data: dict[tuple[str, str], dict[str, Any]] = {(c, place_id): {"override": {
        "reason": overrides[(c, place_id)].reason, "rules": list(overrides[(c, place_id)].rules),
        "rules_broken": texts, "by": caller.key_id}} for c, texts in broken.items()}
    # The score (and the learnt outcome probability, where the policy weighs it) each proposal is
    # made with, as the shortlist scored the pair on the snapshot (docs/api.md, "Proposals").
    scores: dict[tuple[str, str], tuple[float | None, float | None]] = {}
    if state.snapshot is not None:
        policy, prepared = state.for_policy(state.snapshot, _policy_id(conn))
        scores.update(pair_scores(prepared, policy, [(c, place_id) for c in wanted]))
    ids = lifecycle.create_proposals(conn, [(c, place_id) for c in wanted], caller, settings=state.settings,
                                     allow_multiple_open=body.allow_multiple_open, event_data=data,
                                     scores=scores)
    audit.record(conn, caller, "create", "proposal", place_id, candidate_ids=wanted,
                 detail=f"{len(ids)} proposal(s) by hand" + "".join(
                     f"; override for {c}: {'; '.join(texts)} ({overrides[(c, place_id)].reason[:200]})"
                     for c, texts in broken.items()))
    state.request_reload()
    return {"place_id": place_id,
            "proposals": [{"proposal_id": p, "candidate_id": c} for p, c in zip(ids, wanted, strict=True)]}


def _proposal(conn: sa.Connection, caller: Principal, proposal_id: str) -> dict[str, Any]:
    row = conn.execute(
        sa.select(_proposals).join(_cands, _cands.c.candidate_id == _proposals.c.candidate_id)
        .where(_proposals.c.proposal_id == proposal_id, *_own_candidates(caller))).mappings().first()
    if row is None:
        raise NotFound(f"no proposal {proposal_id!r} that this key may see")
    return {
        "proposal_id": row["proposal_id"], "candidate_id": row["candidate_id"], "place_id": row["place_id"],
        "status": row["status"], "created_on": row["created_on"], "decided_on": row["decided_on"],
        "decline_reason": row["decline_reason"],
        "allowed_actions": lifecycle.allowed_actions(row["status"], lifecycle.MUNICIPALITY_ACTIONS),
    }


@router.post("/v1/proposals/{proposal_id}/withdraw", summary="Withdraw a proposal (the municipality)",
             response_model=MunicipalProposal,
             responses=problem_responses(401, 403, 404, "illegal-transition", 422))
def withdraw(proposal_id: PathId, caller: CandidateReader, conn: Conn, state: State,
             body: Withdraw | None = None) -> dict[str, Any]:
    """Coordinators, admins and labour-market units (their own district's candidates): the municipality
    withdraws an open proposal, with a reason. A closed proposal answers 409 with the allowed actions.
    The supplier's webhooks get ``proposal.withdrawn``."""
    store.lock_region(conn)
    current = _proposal(conn, caller, proposal_id)
    reason = body.reason if body is not None else "other"
    lifecycle.apply(conn, proposal_id, lifecycle.Action.WITHDRAW, caller, settings=state.settings,
                    data={"reason": reason})
    audit.record(conn, caller, "update", "proposal", proposal_id, candidate_ids=[current["candidate_id"]],
                 detail=f"withdrawn: {reason}")
    state.request_reload()
    return _proposal(conn, caller, proposal_id)


@router.get("/v1/proposals/{proposal_id}/events", summary="A proposal's history: every change, who, when",
            response_model=list[MunicipalEvent], responses=problem_responses(401, 403, 404, 422))
def list_events(proposal_id: PathId, caller: CandidateReader, conn: Conn) -> list[dict[str, Any]]:
    """Coordinators, admins and labour-market units (their own district's candidates): every change of the
    proposal in order, with when, the role and key that made it, and the status before and after."""
    _proposal(conn, caller, proposal_id)
    rows = conn.execute(sa.select(proposal_events).where(proposal_events.c.proposal_id == proposal_id)
                        .order_by(proposal_events.c.event_seq)).mappings().all()
    return [{k: r[k] for k in ("event_id", "type", "at", "actor_role", "actor_key_id", "from_status",
                               "to_status", "data")} for r in rows]
