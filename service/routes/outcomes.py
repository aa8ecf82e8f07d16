"""Recording outcomes where they happen (issue 16): the labour-market unit says what happened to a
placement, and a supplier reports a hire it recruited by itself for the municipality to review.

- ``POST /v1/proposals/{id}/outcome``: a placement started, completed, ended early (by whom, why) or
  led to a hire, with its date. It writes the proposal's placement row (``PM-<proposal id>``, the same
  row the supplier's answers write, :mod:`service.integration.lifecycle`) and one event in the
  proposal's history (``GET /v1/proposals/{id}/events``). Coordinators for every proposal, a
  labour-market unit for its own district's candidates (as the rest of the API).
- ``POST /v1/proposals/{id}/person-outcome``: whether the person was in work or studies 180 days
  (or more) after the placement started, once per placement, in a table of its own
  (``person_outcomes``), never in the history a supplier receives: what the outcome model learns
  from (``platsa model train --from-db``).
- ``POST /v1/own-hires`` (a supplier, for its own procurements), ``GET /v1/own-hires`` and
  ``POST /v1/own-hires/{id}/review`` (the municipality links the person and the service checks the
  priority groups on the day of hire: ``confirmed`` counts toward the requirement and is marked as
  the supplier's own, ``rejected`` does not). A supplier sees ``reported`` or ``reviewed``, never the
  decision, so it cannot learn a person's group membership from it.

Rules and examples: ``docs/follow-up.md``, "Recording outcomes".
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import numpy as np
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from scoring.domain import PlacementEnd, ProposalStatus, priority_groups
from scoring.followup import PAID_PLACEMENT_TYPES
from scoring.outcome_model import FOLLOW_UP_DAYS
from service import audit, store
from service.auth import Principal, Role
from service.db.tables import REGION_TABLES, person_outcomes
from service.deps import Conn, Loaded, State, require
from service.errors import Conflict, FieldError, InvalidInput, NotFound, problem_responses
from service.followup_records import own_hires, supplier_figures
from service.integration import lifecycle
from service.routes._common import PathId, StrictQueryRoute

router = APIRouter(tags=["follow-up records"], route_class=StrictQueryRoute)
_proposals = REGION_TABLES["proposals"]
_placements = REGION_TABLES["placements"]
_places = REGION_TABLES["places"]
_cands = REGION_TABLES["candidates"]
_procs = REGION_TABLES["procurements"]
Recorder = Annotated[Principal, Depends(require(Role.COORDINATOR, Role.LABOUR_MARKET_UNIT))]
FiguresReader = Annotated[Principal, Depends(require(Role.COORDINATOR, Role.ORDERER, Role.SUPPLIER))]
SupplierKey = Annotated[Principal, Depends(require(Role.SUPPLIER))]
OwnHireReader = Annotated[
    Principal, Depends(require(Role.COORDINATOR, Role.LABOUR_MARKET_UNIT, Role.SUPPLIER))
]

#: The event type each outcome records in the proposal's history.
OUTCOME_EVENTS = {
    "started": "placement.started",
    "completed": "placement.completed",
    "ended_early": "placement.ended_early",
    "hired": "placement.hired",
}
ContractType = Literal["permanent", "fixed_term", "apprenticeship", "trainee"]


class Outcome(BaseModel):
    """What happened to the proposal's placement, and on which day."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"event": "started", "on": "2026-09-14"},
                {
                    "event": "ended_early",
                    "on": "2026-10-02",
                    "ended_by": "supplier",
                    "note": "the supervisor left; no replacement offered",
                },
                {"event": "hired", "on": "2026-11-01", "contract_type": "permanent"},
            ]
        },
    )

    event: Literal["started", "completed", "ended_early", "hired"] = Field(
        description=(
            "started: the placement began; completed: it ran its course; ended_early: it ended before its "
            "time (say by whom and why); hired: the person was hired (from an internship, the placement ends "
            "the day before)."
        )
    )
    on: dt.date = Field(description="The day it happened; not in the future, not before the proposal.")
    ended_by: Literal["supplier", "candidate", "municipality"] | None = Field(
        default=None, description="ended_early only: who ended it (supplier: a possible breach)."
    )
    note: str | None = Field(
        default=None,
        max_length=500,
        description=(
            "ended_early only, required: why, in words. Kept in the proposal's history for the municipality; "
            "never sent to the supplier."
        ),
    )
    contract_type: ContractType | None = Field(default=None, description="hired only, required.")

    @model_validator(mode="after")
    def _fields_fit_the_event(self) -> Outcome:
        problems = []
        if self.event == "ended_early":
            if self.ended_by is None:
                problems.append("ended_early needs ended_by")
            if not (self.note or "").strip():
                problems.append("ended_early needs a note saying why")
        elif self.ended_by is not None or self.note is not None:
            problems.append("ended_by and note belong to ended_early only")
        if self.event == "hired" and self.contract_type is None:
            problems.append("hired needs contract_type")
        if self.event != "hired" and self.contract_type is not None:
            problems.append("contract_type belongs to hired only")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Placement(BaseModel):
    """The proposal's placement after the outcome, as the follow-up reads it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "placement_id": "PM-F-0001",
                    "proposal_id": "F-0001",
                    "place_id": "P-0001",
                    "started_on": "2026-09-14",
                    "ended_on": None,
                    "end_reason": "ongoing",
                    "ended_by": None,
                    "hired_on": None,
                    "contract_type": None,
                    "event_id": "evt_5f1c0d2e9a7b4c3d8e6f",
                }
            ]
        }
    )

    placement_id: str
    proposal_id: str
    place_id: str
    started_on: dt.date
    ended_on: dt.date | None = None
    end_reason: str
    ended_by: str | None = None
    hired_on: dt.date | None = None
    contract_type: str | None = None
    event_id: str = Field(description="The event recorded in the proposal's history.")


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _bad(location: str, message: str, kind: str = "value_error") -> FieldError:
    return FieldError(location=location, message=message, type=kind)


@router.post(
    "/v1/proposals/{proposal_id}/outcome",
    summary="Record what happened to a proposal's placement",
    response_model=Placement,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def record_outcome(
    proposal_id: PathId, body: Outcome, caller: Recorder, conn: Conn, state: State
) -> dict[str, Any]:
    """The labour-market unit (for its district's candidates) or a coordinator records a start, a
    completion, an early end (by whom, why) or a hire, with its day. One event goes into the proposal's
    history; the placement row is what the follow-up counts (``docs/follow-up.md``)."""
    store.lock_region(conn)
    where = [_proposals.c.proposal_id == proposal_id]
    if caller.role == Role.LABOUR_MARKET_UNIT:
        where.append(_cands.c.home_district == caller.district_id)
    found = (
        conn.execute(
            sa.select(_proposals, _places.c.supplier_id, _places.c.placement_type)
            .join(_places, _places.c.place_id == _proposals.c.place_id)
            .join(_cands, _cands.c.candidate_id == _proposals.c.candidate_id)
            .where(*where)
        )
        .mappings()
        .first()
    )
    if found is None:
        raise NotFound(f"no proposal {proposal_id!r} that this key may see")
    proposal: dict[str, Any] = dict(found)
    placement_id = f"PM-{proposal_id}"
    existing = (
        conn.execute(
            sa.select(_placements)
            .where(_placements.c.proposal_id == proposal_id)
            .order_by(_placements.c.placement_id)
        )
        .mappings()
        .first()
    )
    if existing is not None:
        placement_id = existing["placement_id"]
    errors: list[FieldError] = []
    if body.on > _today():
        errors.append(_bad("body.on", f"{body.on.isoformat()} is in the future: record what has happened"))
    if body.on < proposal["created_on"]:
        errors.append(
            _bad(
                "body.on",
                f"{body.on.isoformat()} is before the proposal was made "
                f"({proposal['created_on'].isoformat()})",
            )
        )
    if existing is not None and body.event != "started" and body.on < existing["started_on"]:
        errors.append(
            _bad(
                "body.on",
                f"{body.on.isoformat()} is before the placement started "
                f"({existing['started_on'].isoformat()})",
            )
        )
    if errors:
        raise InvalidInput(f"{len(errors)} invalid field(s)", errors)
    values: dict[str, Any]
    if body.event == "started":
        if proposal["status"] in (ProposalStatus.DECLINED.value, ProposalStatus.WITHDRAWN.value):
            raise Conflict(f"proposal {proposal_id!r} is {proposal['status']}: no placement can start")
        if existing is not None:
            raise Conflict(
                f"the placement {placement_id!r} of proposal {proposal_id!r} started on "
                f"{existing['started_on'].isoformat()} already"
            )
        values = {
            "placement_id": placement_id,
            "proposal_id": proposal_id,
            "candidate_id": proposal["candidate_id"],
            "place_id": proposal["place_id"],
            "started_on": body.on,
            "ended_on": None,
            "end_reason": PlacementEnd.ONGOING.value,
            "ended_by": None,
            "hired_on": None,
            "contract_type": None,
        }
        conn.execute(_placements.insert().values(**values))
    else:
        if existing is None:
            raise Conflict(f"proposal {proposal_id!r} has no placement yet: record that it started first")
        ended = existing["ended_on"] is not None
        if body.event in ("completed", "ended_early") and (ended or existing["end_reason"] != "ongoing"):
            raise Conflict(
                f"the placement {placement_id!r} ended already ({existing['end_reason']}, "
                f"{existing['ended_on']})"
            )
        if body.event == "hired" and existing["hired_on"] is not None:
            raise Conflict(f"the placement {placement_id!r} led to a hire on {existing['hired_on']} already")
        if body.event == "completed":
            values = {"ended_on": body.on, "end_reason": PlacementEnd.COMPLETED.value}
        elif body.event == "ended_early":
            values = {
                "ended_on": body.on,
                "end_reason": PlacementEnd.ENDED_EARLY.value,
                "ended_by": body.ended_by,
            }
        elif proposal["placement_type"] in PAID_PLACEMENT_TYPES or ended:
            # Paid from the first day (or recorded after it ended): the placement itself is the job.
            values = {"hired_on": body.on, "contract_type": body.contract_type}
            if ended:
                values["end_reason"] = PlacementEnd.HIRED.value
        else:  # an internship or other occupation ends in the hire, the day before
            values = {
                "hired_on": body.on,
                "contract_type": body.contract_type,
                "ended_on": max(existing["started_on"], body.on - dt.timedelta(days=1)),
                "end_reason": PlacementEnd.HIRED.value,
            }
        conn.execute(_placements.update().where(_placements.c.placement_id == placement_id).values(**values))
        if body.event == "hired" and proposal["status"] != ProposalStatus.HIRED.value:
            conn.execute(
                _proposals.update()
                .where(_proposals.c.proposal_id == proposal_id)
                .values(status=ProposalStatus.HIRED.value, decided_on=body.on)
            )
    lifecycle._set_placed(conn, proposal["candidate_id"])
    data: dict[str, Any] = {"on": body.on, "placement_id": placement_id}
    if body.ended_by is not None:
        data["ended_by"] = body.ended_by
    if body.note is not None:
        data["note"] = body.note
    if body.contract_type is not None:
        data["contract_type"] = body.contract_type
    after = proposal["status"]
    if body.event == "hired":
        after = ProposalStatus.HIRED.value
    event = lifecycle.record_event(
        conn,
        proposal,
        OUTCOME_EVENTS[body.event],
        actor=caller,
        settings=state.settings,
        from_status=proposal["status"],
        to_status=after,
        data=data,
    )
    assert event is not None
    audit.record(
        conn,
        caller,
        "update",
        "placement",
        placement_id,
        candidate_ids=[proposal["candidate_id"]],
        detail=f"outcome {body.event} on {body.on.isoformat()}",
    )
    state.request_reload()
    row = (
        conn.execute(sa.select(_placements).where(_placements.c.placement_id == placement_id))
        .mappings()
        .one()
    )
    return {**{k: row[k] for k in Placement.model_fields if k != "event_id"}, "event_id": event["event_id"]}


# -- the person's state 180 days after ------------------------------------------------------------


class PersonOutcome(BaseModel):
    """Whether the person was in work or studies when followed up, 180 days or more after the
    placement started (DOMAIN.md, "Outcome"): what the outcome model learns from."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"followed_up_on": "2027-03-15", "in_work_or_studies": True}]},
    )

    followed_up_on: dt.date = Field(
        description="The day the person's state was checked: at least 180 days after the placement "
                    "started, and not in the future.")
    in_work_or_studies: bool = Field(
        description="True: in work (employed, own business) or in studies on that day; false: neither. "
                    "The person's state, not the supplier's decision (a hire is recorded as an outcome).")


class PersonOutcomeRecorded(BaseModel):
    """The recorded follow-up of one placement."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "placement_id": "PM-F-0001", "proposal_id": "F-0001", "started_on": "2026-09-14",
        "followed_up_on": "2027-03-15", "in_work_or_studies": True,
        "recorded_at": "2027-03-16T09:12:00Z",
    }]})

    placement_id: str
    proposal_id: str
    started_on: dt.date
    followed_up_on: dt.date
    in_work_or_studies: bool
    recorded_at: dt.datetime


@router.post(
    "/v1/proposals/{proposal_id}/person-outcome",
    summary="Record whether the person was in work or studies 180 days after the placement started",
    status_code=status.HTTP_201_CREATED,
    response_model=PersonOutcomeRecorded,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def record_person_outcome(
    proposal_id: PathId, body: PersonOutcome, caller: Recorder, conn: Conn, state: State
) -> dict[str, Any]:
    """The labour-market unit (for its district's candidates) or a coordinator records the 180-day
    follow-up of the proposal's placement, once (a second record is a 409). The placement must have
    started (409 otherwise); ``followed_up_on`` at least 180 days after its start and not in the
    future (422). Stored apart from the proposal's history: no supplier is told. ``platsa model
    train --from-db`` learns from these records (``docs/research.md``, "Outcome model")."""
    store.lock_region(conn)
    where = [_proposals.c.proposal_id == proposal_id]
    if caller.role == Role.LABOUR_MARKET_UNIT:
        where.append(_cands.c.home_district == caller.district_id)
    found = conn.execute(
        sa.select(_proposals.c.proposal_id, _proposals.c.candidate_id, _proposals.c.place_id)
        .join(_cands, _cands.c.candidate_id == _proposals.c.candidate_id).where(*where)
    ).mappings().first()
    if found is None:
        raise NotFound(f"no proposal {proposal_id!r} that this key may see")
    placement = conn.execute(
        sa.select(_placements).where(_placements.c.proposal_id == proposal_id)
        .order_by(_placements.c.placement_id)
    ).mappings().first()
    if placement is None:
        raise Conflict(f"proposal {proposal_id!r} has no placement: a person outcome follows up a "
                       "placement that started (record that it started first)")
    earliest = placement["started_on"] + dt.timedelta(days=FOLLOW_UP_DAYS)
    errors: list[FieldError] = []
    if body.followed_up_on > _today():
        errors.append(_bad("body.followed_up_on",
                           f"{body.followed_up_on.isoformat()} is in the future: record what has happened"))
    if body.followed_up_on < earliest:
        errors.append(_bad("body.followed_up_on",
                           f"{body.followed_up_on.isoformat()} is before the placement's start "
                           f"({placement['started_on'].isoformat()}) + {FOLLOW_UP_DAYS} days "
                           f"({earliest.isoformat()})"))
    if errors:
        raise InvalidInput(f"{len(errors)} invalid field(s)", errors)
    before = conn.execute(sa.select(person_outcomes.c.followed_up_on).where(
        person_outcomes.c.placement_id == placement["placement_id"])).first()
    if before is not None:
        raise Conflict(f"the placement {placement['placement_id']!r} of proposal {proposal_id!r} was "
                       f"followed up already (on {before.followed_up_on.isoformat()})")
    row = {
        "placement_id": placement["placement_id"], "proposal_id": proposal_id,
        "candidate_id": found["candidate_id"], "place_id": found["place_id"],
        "started_on": placement["started_on"], "followed_up_on": body.followed_up_on,
        "in_work_or_studies": body.in_work_or_studies, "recorded_at": dt.datetime.now(dt.UTC),
        "recorded_by": caller.key_id,
    }
    conn.execute(person_outcomes.insert().values(**row))
    audit.record(conn, caller, "create", "person_outcome", placement["placement_id"],
                 candidate_ids=[found["candidate_id"]],
                 detail=f"followed up on {body.followed_up_on.isoformat()}")
    return {k: row[k] for k in PersonOutcomeRecorded.model_fields}


# -- own hires ------------------------------------------------------------------------------------


class OwnHireReport(BaseModel):
    """A hire the supplier recruited by itself, for the municipality to review against its target groups."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "procurement_id": "2025-00017",
                    "hired_on": "2026-10-01",
                    "contract_type": "fixed_term",
                    "reference": "our employee no. 4711",
                }
            ]
        },
    )

    procurement_id: str = Field(max_length=100, description="One of your own procurements.")
    hired_on: dt.date
    contract_type: ContractType
    reference: str = Field(
        min_length=1,
        max_length=100,
        description=(
            "Your own reference for the person, for the municipality to find them (no personal identity "
            "number: the unit identifies the person with them)."
        ),
    )


class OwnHire(BaseModel):
    """An own hire as the caller may see it: a supplier gets ``reported`` or ``reviewed`` only."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "own_hire_id": "oh-1a2b3c4d5e",
                    "procurement_id": "2025-00017",
                    "supplier_id": "S-0003",
                    "hired_on": "2026-10-01",
                    "contract_type": "fixed_term",
                    "reference": "our employee no. 4711",
                    "status": "reviewed",
                    "candidate_id": None,
                    "decision": None,
                }
            ]
        }
    )

    own_hire_id: str
    procurement_id: str
    supplier_id: str
    hired_on: dt.date
    contract_type: str
    reference: str
    status: Literal["reported", "reviewed", "confirmed", "rejected"] = Field(
        description=(
            "Supplier keys: reported or reviewed. The municipality: reported, confirmed (counts toward the "
            "requirement, marked as the supplier's own) or rejected."
        )
    )
    candidate_id: str | None = Field(default=None, description="The person linked; municipality keys only.")
    decision: str | None = Field(default=None, description="Why, in words; municipality keys only.")


class OwnHireReview(BaseModel):
    """The municipality links the reported person to a candidate; the service checks the groups."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"candidate_id": "C-000123"}]})

    candidate_id: str = Field(max_length=100)


def _shape(row: Any, caller: Principal) -> dict[str, Any]:
    out = {
        k: row[k]
        for k in (
            "own_hire_id",
            "procurement_id",
            "supplier_id",
            "hired_on",
            "contract_type",
            "reference",
            "status",
            "candidate_id",
            "decision",
        )
    }
    if caller.role == Role.SUPPLIER:
        out.update(
            status="reported" if row["status"] == "reported" else "reviewed", candidate_id=None, decision=None
        )
    return out


@router.post(
    "/v1/own-hires",
    summary="Report a hire you recruited by yourself",
    status_code=status.HTTP_201_CREATED,
    response_model=OwnHire,
    responses=problem_responses(401, 403, 422),
)
def report_own_hire(
    body: OwnHireReport, caller: SupplierKey, conn: Conn, response: Response
) -> dict[str, Any]:
    """The hire counts toward the procurement's requirement once the municipality has confirmed that
    the person belongs to a target group; you will see ``reviewed``, not the decision."""
    proc = (
        conn.execute(
            sa.select(_procs).where(
                _procs.c.procurement_id == body.procurement_id, _procs.c.supplier_id == caller.supplier_id
            )
        )
        .mappings()
        .first()
    )
    errors = []
    if proc is None:
        errors.append(
            _bad("body.procurement_id", f"no procurement {body.procurement_id!r} of yours", "reference")
        )
    elif not proc["contract_start"] <= body.hired_on <= proc["contract_end"]:
        errors.append(
            _bad(
                "body.hired_on",
                f"{body.hired_on.isoformat()} is outside the contract "
                f"({proc['contract_start']} to {proc['contract_end']})",
            )
        )
    if body.hired_on > _today():
        errors.append(_bad("body.hired_on", f"{body.hired_on.isoformat()} is in the future"))
    if errors:
        raise InvalidInput(f"{len(errors)} invalid field(s)", errors)
    row = {
        "own_hire_id": f"oh-{uuid.uuid4().hex[:10]}",
        "procurement_id": body.procurement_id,
        "supplier_id": caller.supplier_id,
        "hired_on": body.hired_on,
        "contract_type": body.contract_type,
        "reference": body.reference.strip(),
        "status": "reported",
        "candidate_id": None,
        "reported_at": dt.datetime.now(dt.UTC),
        "reported_by": caller.key_id,
        "decided_at": None,
        "decided_by": None,
        "decision": None,
    }
    conn.execute(own_hires.insert().values(**row))
    response.headers["Location"] = f"/v1/own-hires/{row['own_hire_id']}"
    return _shape(row, caller)


def _visible(caller: Principal) -> list[sa.ColumnElement[bool]]:
    if caller.role == Role.SUPPLIER:
        return [own_hires.c.supplier_id == caller.supplier_id]
    if caller.role == Role.LABOUR_MARKET_UNIT:
        # Unlinked reports are for any unit to take up; linked ones are their candidate's district's.
        mine = sa.select(_cands.c.candidate_id).where(_cands.c.home_district == caller.district_id)
        return [sa.or_(own_hires.c.candidate_id.is_(None), own_hires.c.candidate_id.in_(mine))]
    return []


@router.get(
    "/v1/own-hires",
    summary="Own hires reported by suppliers",
    response_model=list[OwnHire],
    responses=problem_responses(401, 403),
)
def list_own_hires(caller: OwnHireReader, conn: Conn) -> list[dict[str, Any]]:
    """Own hires in the order they were reported: a supplier sees its own, with its status only
    (``reported`` or ``reviewed``); coordinators and orderers see all, with the decision."""
    rows = conn.execute(
        sa.select(own_hires)
        .where(*_visible(caller))
        .order_by(own_hires.c.reported_at, own_hires.c.own_hire_id)
    )
    return [_shape(r, caller) for r in rows.mappings()]


@router.post(
    "/v1/own-hires/{own_hire_id}/review",
    summary="Review a supplier's own hire against the target groups",
    response_model=OwnHire,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def review_own_hire(
    own_hire_id: PathId, body: OwnHireReview, caller: Recorder, conn: Conn, snapshot: Loaded, state: State
) -> dict[str, Any]:
    """Link the person (a candidate of your district, for a unit); the service confirms the hire when the
    person is in one of the policy's candidate-level priority groups on the day of hire (youth,
    foreign-born, disability, as the policy enables them; gender-norm breaking needs a place and is not
    judged here), and rejects it otherwise. The decision is the municipality's: the supplier sees
    ``reviewed``."""
    row = (
        conn.execute(sa.select(own_hires).where(own_hires.c.own_hire_id == own_hire_id, *_visible(caller)))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no own hire {own_hire_id!r} that this key may see")
    if row["status"] != "reported":
        raise Conflict(f"own hire {own_hire_id!r} was reviewed already ({row['status']})")
    where = [_cands.c.candidate_id == body.candidate_id]
    if caller.role == Role.LABOUR_MARKET_UNIT:
        where.append(_cands.c.home_district == caller.district_id)
    cand = conn.execute(sa.select(_cands).where(*where)).mappings().first()
    if cand is None:
        raise InvalidInput(
            "1 invalid field(s)",
            [
                _bad(
                    "body.candidate_id",
                    f"no candidate {body.candidate_id!r} that this key may see",
                    "reference",
                )
            ],
        )
    policy = snapshot.policy
    on = row["hired_on"]
    masks = priority_groups(
        age=np.array([on.year - int(cand["birth_year"])]),
        foreign_born=np.array([bool(cand["foreign_born"])]),
        disability=np.array([bool(cand["disability"])]),
        registered_since=np.array([np.datetime64(cand["registered_since"], "D")]),
        on=on,
        policy=policy,
    )
    groups = [g.value for g, m in masks.items() if bool(m[0])]
    confirmed = bool(groups)
    decision = (
        f"in a priority group on {on.isoformat()} under policy {policy.id}"
        if confirmed
        else f"in none of the priority groups of policy {policy.id} on {on.isoformat()}"
    )
    values = {
        "status": "confirmed" if confirmed else "rejected",
        "candidate_id": body.candidate_id,
        "decided_at": dt.datetime.now(dt.UTC),
        "decided_by": caller.key_id,
        "decision": decision,
    }
    conn.execute(own_hires.update().where(own_hires.c.own_hire_id == own_hire_id).values(**values))
    # The log names the person, never the decision: "confirmed" would say they are in a group.
    audit.record(
        conn, caller, "update", "own-hire", own_hire_id, candidate_ids=[body.candidate_id], detail="reviewed"
    )
    state.request_reload()
    return _shape({**row, **values}, caller)


# -- suppliers' yearly figures (displacement watch) -----------------------------------------------


class SupplierFiguresIn(BaseModel):
    """All your new hires and your headcount in a year (both optional), for the displacement watch."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"new_hires": 40, "headcount": 210}]}
    )

    new_hires: int | None = Field(default=None, ge=0, le=1_000_000, description="All new hires in the year.")
    headcount: int | None = Field(default=None, ge=0, le=10_000_000, description="Employees in the year.")


class SupplierFigures(SupplierFiguresIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"supplier_id": "S-0003", "year": 2026, "new_hires": 40, "headcount": 210}]
        }
    )

    supplier_id: str
    year: int


@router.put(
    "/v1/supplier-figures/{year}",
    summary="Report your new hires and headcount for a year",
    response_model=SupplierFigures,
    responses=problem_responses(401, 403, 422),
)
def put_supplier_figures(
    year: Annotated[int, Path(ge=2000, le=2100)],
    body: SupplierFiguresIn,
    caller: SupplierKey,
    conn: Conn,
    state: State,
) -> dict[str, Any]:
    """Replaces what you reported for the year. The follow-up sets requirement placements beside them and
    asks the coordinator to look into a headcount that fell while requirement placements rose."""
    if caller.supplier_id is None:
        raise InvalidInput(
            "1 invalid field(s)", [_bad("key", "an admin key speaks for no supplier", "value_error")]
        )
    store.lock_region(conn)
    conn.execute(
        supplier_figures.delete().where(
            supplier_figures.c.supplier_id == caller.supplier_id, supplier_figures.c.year == year
        )
    )
    row = {
        "supplier_id": caller.supplier_id,
        "year": year,
        "new_hires": body.new_hires,
        "headcount": body.headcount,
    }
    conn.execute(
        supplier_figures.insert().values(
            **row, reported_at=dt.datetime.now(dt.UTC), reported_by=caller.key_id
        )
    )
    state.request_reload()
    return row


@router.get(
    "/v1/supplier-figures",
    summary="Suppliers' yearly new hires and headcounts",
    response_model=list[SupplierFigures],
    responses=problem_responses(401, 403),
)
def list_supplier_figures(caller: FiguresReader, conn: Conn) -> list[dict[str, Any]]:
    """Every supplier's yearly new hires and headcount for the displacement watch; a supplier key
    reads its own."""
    where = [supplier_figures.c.supplier_id == caller.supplier_id] if caller.role == Role.SUPPLIER else []
    rows = conn.execute(
        sa.select(
            supplier_figures.c.supplier_id,
            supplier_figures.c.year,
            supplier_figures.c.new_hires,
            supplier_figures.c.headcount,
        )
        .where(*where)
        .order_by(supplier_figures.c.supplier_id, supplier_figures.c.year)
    ).mappings()
    return [dict(r) for r in rows]
