"""Allocation rounds as jobs: create (202 + job), follow, review, re-run with pins, compare, publish.

A round's inputs are checked before its job is queued (:func:`scoring.allocation.check_round_inputs`):
an unknown id, a pair both pinned and removed, a candidate pinned twice, more pins to a place than it
has free slots, or a pin that breaks a hard rule without an override is a 422 naming each one, never
a failed job. Only publishing turns a round's assignments into proposals, all or nothing, under the
same rules as proposals made by hand, re-checked on the region as it is at publication
(:func:`service.live.check_pairs`: free slots, the candidate's availability and every other hard
rule, placements and withdrawals since the round ran; a candidate holds at most one open proposal
unless the coordinator says otherwise: :func:`service.integration.lifecycle.find_conflicts`).
Rounds are for coordinators (and admins).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import polars as pl
import sqlalchemy as sa
from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from matching import RoundComparison
from scoring.allocation import RoundParams as CoreRoundParams
from scoring.allocation import check_round_inputs, compare_assignments
from scoring.eligibility import RULES, RuleOverride
from scoring.exceptions import Problem
from scoring.policy import Policy
from service import audit, live, store
from service.db.tables import REGION_TABLES, jobs, round_assignments, round_unassigned, rounds
from service.deps import Conn, Loaded, Staff, State
from service.engine import RoundInputs
from service.errors import Conflict, FieldError, InvalidInput, NotFound, problem_responses
from service.integration import lifecycle
from service.integration.lifecycle import ConflictReason
from service.integration.models import ProposalConflict, RuleOverrideIn
from service.integration.tables import proposal_events
from service.jobs import cancel as cancel_job
from service.jobs import create_round, override_record, overrides_of
from service.models import Id, Page, UtcDatetime
from service.routes._common import Limit, Offset, PathId, StrictQueryRoute, page

router = APIRouter(tags=["rounds"], route_class=StrictQueryRoute)


#: A round's defaults, stated once, in the core's round (the command line's are the same).
_DEFAULT = CoreRoundParams()


class RoundParams(BaseModel):
    """Solver settings of a round (``docs/allocation.md``); every field has a default, the core's
    round's own (:class:`scoring.allocation.RoundParams`)."""

    model_config = ConfigDict(extra="forbid")

    objective: Literal["score", "max_placed"] = Field(
        default=_DEFAULT.objective, description="Place as many as possible, then best score; or best score.")
    method: Literal["optimal", "greedy", "serial_dictatorship", "deferred_acceptance"] = _DEFAULT.method
    use_keys: bool = Field(default=_DEFAULT.use_keys,
                           description="Keep each district within its distribution key.")
    use_floors: bool = Field(default=_DEFAULT.use_floors,
                             description="Meet the policy's priority-group floors.")
    on_infeasible: Literal["report", "penalise"] = _DEFAULT.on_infeasible
    include_held_back: bool = _DEFAULT.include_held_back
    time_limit_s: float = Field(default=_DEFAULT.time_limit_s, gt=0, le=600, allow_inf_nan=False)
    seed: int = Field(default=_DEFAULT.seed, ge=0, le=2**31 - 1)


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate_id: Id = Field(examples=["C-000001"])
    place_id: Id = Field(examples=["P-0001"])


class Pin(Pair):
    """A pair that must be in the result (an agreed placement). It must pass every hard rule, unless
    ``override`` says which rules it may break and why (stored, audited, shown in the result)."""

    override: RuleOverrideIn | None = Field(
        default=None, examples=[{"reason": "the supplier arranges a supervisor", "rules": ["ladder"]}])


class RoundCreate(BaseModel):
    """A new round. ``policy_id`` defaults to the region's policy."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"params": {"objective": "max_placed", "time_limit_s": 30},
         "pins": [{"candidate_id": "C-000001", "place_id": "P-0001"}], "removals": []}]})

    policy_id: str | None = Field(default=None, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    params: RoundParams = RoundParams()
    pins: list[Pin] = Field(default_factory=list, max_length=10_000,
                            description="Pairs that must be in the result.")
    removals: list[Pair] = Field(default_factory=list, max_length=10_000,
                                 description="Pairs that must not be in the result.")


class Rerun(BaseModel):
    """Re-run a round with more pairs pinned or removed (added to the round's own)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"pins": [{"candidate_id": "C-000002", "place_id": "P-0003"}],
         "removals": [{"candidate_id": "C-000001", "place_id": "P-0001"}]}]})

    pins: list[Pin] = Field(default_factory=list, max_length=10_000)
    removals: list[Pair] = Field(default_factory=list, max_length=10_000)


class Job(BaseModel):
    """A background job: how far it is, and how it ended."""

    job_id: str = Field(examples=["j-5f0c2a9e1b3d"])
    kind: str = Field(examples=["round"])
    subject_id: str = Field(description="The round's id.", examples=["r-1a2b3c4d5e6f"])
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] = Field(examples=["running"])
    progress: float = Field(description="0..1 within the current stage.", examples=[0.4])
    message: str = Field(description="The current stage: `building the pool`, `finding eligible pairs`, "
                                     "`solving`, `pricing the pairs left out` (docs/rounds.md).",
                         examples=["solving"])
    attempts: int = Field(examples=[1])
    recovery: str | None = Field(description="What a restart, a killed worker or a shutdown did to this job, "
                                             "if anything.",
                                 examples=["resumed after an interrupted run (attempt 2)"])
    worker: str | None = Field(default=None, description="The process that runs, or ran, the current "
                                                          "attempt (`host:pid`).", examples=["app-1:4711"])
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    error: str | None = Field(examples=[None])


class Round(BaseModel):
    """A round: its inputs, status, and (when it succeeded) the solver's verdict and summary."""

    round_id: str = Field(examples=["r-1a2b3c4d5e6f"])
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] = Field(examples=["succeeded"])
    policy_id: str = Field(examples=["gothenburg"])
    params: dict[str, Any] = Field(examples=[{"objective": "max_placed"}])
    pins: list[list[str]] = Field(examples=[[["C-000001", "P-0001"]]])
    removals: list[list[str]] = Field(examples=[[]])
    overrides: list[dict[str, Any]] = Field(
        default_factory=list, description="The pins kept by an override of hard rules: pair, rules, reason, "
                                          "the key that set it.",
        examples=[[{"candidate_id": "C-000001", "place_id": "P-0001", "rules": ["ladder"],
                    "reason": "the supplier arranges a supervisor", "by": 2}]])
    parent_round_id: str | None = Field(examples=[None])
    region_version: int = Field(examples=[1])
    created_at: UtcDatetime
    finished_at: UtcDatetime | None
    solver_status: str | None = Field(examples=["optimal"])
    objective: float | None = Field(examples=[412.0])
    gap: float | None = Field(examples=[0.0])
    summary: dict[str, Any] | None = Field(
        description="Per-district counts against the keys, per-group counts against the floors.",
        examples=[{"districts": [{"district_id": "angered", "assigned": 66, "within": True}],
                   "groups": [{"group": "youth", "floor": 0.2, "share": 0.24, "met": True}]}])
    error: str | None = Field(examples=[None])
    published_at: UtcDatetime | None
    certification: dict[str, Any] | None = Field(
        default=None,
        description="What the optimum is proven over (docs/rounds.md, \"What the proof covers\"): `scope` "
                    "(`eligible`: every eligible pair; `graph`: the round's graph only), `certified_over`, "
                    "`num_eligible`, `pricing_passes`, `pairs_added`, `bound_over_eligible`, "
                    "`gap_over_eligible`, `stopped`.",
        examples=[{"scope": "eligible", "certified_over": 395112, "num_eligible": 395112,
                   "pricing_passes": 1, "pairs_added": 0, "bound_over_eligible": 10662.723,
                   "gap_over_eligible": 0.0, "stopped": None}])
    job: Job | None = None


class RoundAccepted(BaseModel):
    round_id: str = Field(examples=["r-1a2b3c4d5e6f"])
    job: Job


class AssignmentOut(BaseModel):
    candidate_id: str = Field(examples=["C-000001"])
    place_id: str = Field(examples=["P-0001"])
    score: float = Field(examples=[71.5])
    pinned: bool = Field(examples=[False])
    explanation: dict[str, Any] = Field(examples=[{"terms": {"competence": 36.0, "distance": 12.1}}])


class UnassignedOut(BaseModel):
    """A candidate with a pair in the round who got no place, and why."""

    candidate_id: str = Field(examples=["C0000412"])
    reason: str = Field(description="`outscored`, `district_upper_bound_reached`, `rules_or_objective` or "
                                    "`no_eligible_place` (docs/rounds.md).", examples=["outscored"])
    explanation: str = Field(examples=[
        "outscored at every place in reach: P000003 went to C0000890 with 47.4 points against 40.7 (+6.7)"])


UnassignedReason = Literal["outscored", "district_upper_bound_reached", "rules_or_objective",
                           "no_eligible_place"]
ReasonQuery = Annotated[UnassignedReason | None, Query(
    description="Only the candidates left out for this reason.", examples=["outscored"])]


class CandidateOutcome(BaseModel):
    """One candidate's outcome in a round: assigned, unassigned (and why), or not in the round."""

    round_id: str = Field(examples=["r-1a2b3c4d5e6f"])
    candidate_id: str = Field(examples=["C0000412"])
    outcome: Literal["assigned", "unassigned", "not_in_round"] = Field(
        description="`not_in_round`: no pair of the candidate was in the round's graph.",
        examples=["unassigned"])
    text: str = Field(description="The outcome in words.", examples=[
        "outscored at every place in reach: P000003 went to C0000890 with 47.4 points against 40.7 (+6.7)"])
    assignment: AssignmentOut | None = Field(description="When assigned: as in `/assignments`.",
                                             examples=[None])
    unassigned: UnassignedOut | None = Field(description="When unassigned: as in `/unassigned`.")


class Comparison(BaseModel):
    """How two rounds differ, candidate by candidate."""

    round_a: str
    round_b: str
    same: int = Field(description="Candidates with the same place in both.", examples=[400])
    moved: list[dict[str, str]] = Field(
        examples=[[{"candidate_id": "C-1", "place_a": "P-1", "place_b": "P-2"}]])
    only_a: list[dict[str, str]] = Field(examples=[[{"candidate_id": "C-2", "place_id": "P-3"}]])
    only_b: list[dict[str, str]] = Field(examples=[[]])
    objective_a: float | None = Field(examples=[412.0])
    objective_b: float | None = Field(examples=[410.5])


class PublishRound(BaseModel):
    """How a publication treats candidates who already hold an open proposal (issue 5)."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"on_open_proposal": "refuse"}]})

    on_open_proposal: Literal["refuse", "allow", "skip"] = Field(
        default="refuse",
        description="`refuse` (default): publish nothing if any candidate holds an open proposal or is "
                    "placed, and list them all (409). `allow`: propose them anyway (a second open "
                    "proposal; still never two to one place, never a placed candidate). `skip`: propose "
                    "the others and list the skipped ones.")


class Published(BaseModel):
    round_id: str = Field(examples=["r-1a2b3c4d5e6f"])
    proposals_created: int = Field(examples=[412])
    published_at: UtcDatetime
    skipped: list[ProposalConflict] = Field(
        default_factory=list, description="Assignments not proposed (`on_open_proposal: skip`), and why.",
        examples=[[]])


def _job_of(conn: sa.Connection, round_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(jobs).where(jobs.c.subject_id == round_id)
                       .order_by(jobs.c.created_at.desc())).mappings().first()
    return dict(row) if row else None


def _round(conn: sa.Connection, round_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(rounds).where(rounds.c.round_id == round_id)).mappings().first()
    if row is None:
        raise NotFound(f"no round {round_id!r}")
    return {**row, "overrides": row["overrides"] or [], "job": _job_of(conn, round_id),
            "certification": (row["summary"] or {}).get("certification")}


def _check_inputs(state: Any, snapshot: Any, policy: Policy, inputs: RoundInputs,
                  locations: dict[str, list[str]]) -> None:
    """Refuse (422) every problem of a round's pins, removals and overrides at once, by id.

    ``locations`` maps ``pins`` / ``removals`` to the request path of each row, so that every
    problem names the field it is about. The rules are :func:`scoring.allocation.check_round_inputs`,
    on the loaded region's pool for ``policy`` (:meth:`ServiceState.for_policy`).
    """
    _, prepared = state.for_policy(snapshot, policy.id)
    params = CoreRoundParams(pins=inputs.pins, forbidden=inputs.removals, overrides=inputs.overrides,
                             use_keys=bool(inputs.params.get("use_keys", True)))
    problems = [p for p in check_round_inputs(prepared.pool, prepared.places, policy, params)
                if p.file in ("pins", "forbidden", "overrides")]
    if problems:
        raise InvalidInput(f"{len(problems)} problem(s) with the round's pairs",
                           [_field_error(p, locations) for p in problems])


def _field_error(problem: Problem, locations: dict[str, list[str]]) -> FieldError:
    """A problem of :func:`check_round_inputs` as a field error of the request (its row's path)."""
    rows = locations.get(problem.file, [])
    if problem.row is not None and problem.row <= len(rows):
        where = rows[problem.row - 1]
    else:
        where = "body.removals" if problem.file == "forbidden" else "body.pins"
    if problem.reason.startswith("no such"):
        return FieldError(location=f"{where}.{problem.column}", type="reference",
                          message=f"{problem.reason}: {problem.value!r}")
    if problem.column == "reason":
        return FieldError(location=f"{where}.reason", type="missing", message=problem.reason)
    subject = f"{problem.value}: " if problem.value else ""
    kind = problem.column if problem.column in (*RULES, "rules") else "conflict"
    return FieldError(location=where, type=kind, message=subject + problem.reason)


def _inputs(policy: Policy, params: dict[str, Any], pins: list[Pin],
            removals: list[tuple[str, str]], parent_overrides: tuple[RuleOverride, ...] = (),
            parent_pins: list[tuple[str, str]] | None = None) -> tuple[RoundInputs, dict[str, list[str]]]:
    """A round's inputs from the request (and its parent's), with the request path of each row."""
    new_pins = [(p.candidate_id, p.place_id) for p in pins]
    removed = set(removals)
    # A parent's pin that this request removes is dropped; a pin of this request that it also
    # removes is a contradiction, which check_round_inputs names.
    old_pins = [p for p in parent_pins or [] if p not in removed]
    all_pins = old_pins + [p for p in new_pins if p not in set(old_pins)]
    overrides = {(o.candidate_id, o.place_id): o for o in parent_overrides}
    for pin in pins:
        if pin.override is not None:
            overrides[(pin.candidate_id, pin.place_id)] = RuleOverride(
                pin.candidate_id, pin.place_id, pin.override.reason, tuple(pin.override.rules))
    kept = tuple(o for pair, o in overrides.items() if pair in set(all_pins))
    pin_rows = {pair: f"body.pins.{i}" for i, pair in enumerate(new_pins)}
    locations = {
        "pins": [pin_rows.get(pair, "body.pins") for pair in all_pins],
        "forbidden": [f"body.removals.{i}" for i in range(len(removals))],
        "overrides": [pin_rows.get((o.candidate_id, o.place_id), "body.pins") + ".override" for o in kept],
    }
    inputs = RoundInputs(policy_id=policy.id, params=params, pins=tuple(all_pins),
                         removals=tuple(removals), overrides=kept)
    return inputs, locations


def _start(conn: sa.Connection, state: Any, snapshot: Any, caller: Any, inputs: RoundInputs,
           response: Response, parent: str | None = None) -> dict[str, Any]:
    round_id, job_id = create_round(conn, inputs, region_version=snapshot.version,
                                    created_by=caller.key_id, parent_round_id=parent)
    if inputs.overrides:
        audit.record(conn, caller, "create", "round_override", round_id,
                     candidate_ids=[o.candidate_id for o in inputs.overrides],
                     detail="; ".join(f"{o.candidate_id} at {o.place_id}: overrides "
                                      f"{', '.join(o.rules) or 'every rule it breaks'} ({o.reason[:200]})"
                                      for o in inputs.overrides))
    state.jobs.enqueue(conn, job_id, round_id)  # in this transaction: the round and its job, or neither
    job = dict(conn.execute(sa.select(jobs).where(jobs.c.job_id == job_id)).mappings().one())
    conn.commit()  # the job must be visible before the worker looks for it
    state.jobs.committed(job_id)
    response.headers["Location"] = f"/v1/jobs/{job_id}"
    return {"round_id": round_id, "job": job}


_ACCEPTED: dict[int | str, dict[str, Any]] = {202: {"description": "The round is queued; follow its job."}}


@router.post("/v1/rounds", summary="Start an allocation round (answers at once with its job)",
             status_code=status.HTTP_202_ACCEPTED, response_model=RoundAccepted,
             responses={**_ACCEPTED, **problem_responses(401, 403, 404, 422, 503)})
def create(body: RoundCreate, caller: Staff, conn: Conn, state: State, snapshot: Loaded,
           response: Response) -> dict[str, Any]:
    """Coordinators and admins. The inputs (policy, pins, removals, overrides) are checked before the job is
    queued: every problem is a 422 at once, an unknown policy a 404. Answers 202 at once with the round's
    id and its job; ``Location`` names the job to poll."""
    policy = state.policy(body.policy_id or snapshot.policy.id)  # 404 for an unknown policy
    snapshot = state.fresh_snapshot() or snapshot  # every write made before this request, checked
    inputs, locations = _inputs(policy, body.params.model_dump(), body.pins,
                                [(p.candidate_id, p.place_id) for p in body.removals])
    _check_inputs(state, snapshot, policy, inputs, locations)
    return _start(conn, state, snapshot, caller, inputs, response)


@router.get("/v1/rounds", summary="List rounds, newest first", response_model=Page[Round],
            responses=problem_responses(401, 403, 422))
def list_rounds(caller: Staff, conn: Conn, limit: Limit = 50, offset: Offset = 0) -> Page[Any]:
    """Coordinators and admins: every round with its job, newest first. Paged (``limit``, ``offset``)."""
    result = page(conn, sa.select(rounds), rounds.c.created_at.desc(), limit, offset)
    result.items = [{**r, "job": _job_of(conn, r["round_id"]),
                     "certification": (r["summary"] or {}).get("certification")} for r in result.items]
    return result


@router.get("/v1/rounds/{round_id}", summary="One round: status, solver verdict, summary",
            response_model=Round, responses=problem_responses(401, 403, 404, 422))
def get_round(round_id: PathId, caller: Staff, conn: Conn) -> dict[str, Any]:
    """Coordinators and admins: the round's inputs and status, and once it succeeded the solver's status,
    objective, gap and per-district and per-group summary."""
    return _round(conn, round_id)


@router.post("/v1/rounds/{round_id}/cancel", summary="Cancel a queued or running round",
             response_model=Round, responses={202: {"model": Round, "description": "The round is running: "
                                                    "it stops at its next check and becomes `cancelled`, "
                                                    "with nothing stored."},
                                              **problem_responses(401, 403, 404, 409, 422)})
def cancel(round_id: PathId, caller: Staff, conn: Conn, state: State, response: Response) -> dict[str, Any]:
    """A queued round is ``cancelled`` at once (200) and never runs; a running one is asked to stop
    (202): its solve and pricing stop at their next check, and the round becomes ``cancelled`` with
    no assignment stored (one that finishes in that instant stays ``succeeded``). A round that has
    ended (succeeded, failed, cancelled) is a 409."""
    rnd = _round(conn, round_id)
    job = rnd["job"]
    if job is None or rnd["status"] not in ("queued", "running"):
        raise Conflict(f"round {round_id!r} is {rnd['status']}: only a queued or running round can be "
                       "cancelled")
    outcome = cancel_job(conn, job["job_id"], round_id)
    if outcome not in ("cancelled", "stopping"):
        raise Conflict(f"round {round_id!r} is {outcome}: only a queued or running round can be cancelled")
    audit.record(conn, caller, "update", "round_cancel", round_id, detail=outcome)
    if outcome == "stopping":
        response.status_code = status.HTTP_202_ACCEPTED
    return _round(conn, round_id)


@router.get("/v1/rounds/{round_id}/certificate", summary="The prices that prove a round's bound",
            response_model=dict[str, Any], responses={
                200: {"content": {"application/json": {"example": {
                    "round_id": "R-0001", "policy_id": "gothenburg", "params": {"objective": "max_placed"},
                    "pins": [], "removals": [], "objective": 10662.723,
                    "certification": {"scope": "eligible", "certified_over": 2651685, "pricing_passes": 1,
                                      "pairs_added": 0},
                    "certificate": {"bound": 10662.723}}}}},
                **problem_responses(401, 403, 404, 409, 422)})
def get_certificate(round_id: PathId, caller: Staff, conn: Conn) -> dict[str, Any]:
    """The round's certificate by id (candidate, place, district and floor prices): save it and run
    ``platsa verify-round --data REGION --round FILE`` to check, without the solver, that the bound
    holds over every eligible pair of the region (docs/rounds.md, "Verify the optimum yourself").
    409 for a round without one (not succeeded, a baseline method, or stored before Platsa kept them)."""
    rnd = _round(conn, round_id)
    if not rnd.get("certificate"):
        raise Conflict(f"round {round_id!r} has no certificate (status {rnd['status']}, solver status "
                       f"{rnd['solver_status']})")
    return {"round_id": round_id, "policy_id": rnd["policy_id"], "params": rnd["params"],
            "pins": rnd["pins"], "removals": rnd["removals"], "objective": rnd["objective"],
            "certification": rnd["certification"], "certificate": rnd["certificate"]}


@router.get("/v1/rounds/{round_id}/assignments", summary="A round's assignments, with explanations",
            response_model=Page[AssignmentOut], responses=problem_responses(401, 403, 404, 422))
def list_assignments(round_id: PathId, caller: Staff, conn: Conn, state: State, limit: Limit = 50,
                     offset: Offset = 0) -> Page[Any]:
    """Coordinators and admins: each assigned pair with its score, whether it was pinned, and the
    explanation. Paged; the read is audited with the candidate ids on the page."""
    _round(conn, round_id)
    query = sa.select(round_assignments.c.candidate_id, round_assignments.c.place_id,
                      round_assignments.c.score, round_assignments.c.pinned,
                      round_assignments.c.explanation).where(round_assignments.c.round_id == round_id)
    result = page(conn, query, round_assignments.c.candidate_id, limit, offset)
    audit.record_apart(state.writer, caller, "read", "round_assignments", round_id,
                 candidate_ids=[r["candidate_id"] for r in result.items])
    return result


@router.get("/v1/rounds/{round_id}/unassigned", summary="A round's unassigned candidates, each with why",
            response_model=Page[UnassignedOut], responses=problem_responses(401, 403, 404, 422))
def list_unassigned(round_id: PathId, caller: Staff, conn: Conn, state: State, reason: ReasonQuery = None,
                    limit: Limit = 50, offset: Offset = 0) -> Page[Any]:
    """Every candidate with a pair in the round's graph who got no place: the reason's code and the
    explanation in words (rounds stored before Platsa kept them list none)."""
    _round(conn, round_id)
    query = sa.select(round_unassigned.c.candidate_id, round_unassigned.c.reason,
                      round_unassigned.c.explanation).where(round_unassigned.c.round_id == round_id)
    if reason is not None:
        query = query.where(round_unassigned.c.reason == reason)
    result = page(conn, query, round_unassigned.c.candidate_id, limit, offset)
    audit.record_apart(state.writer, caller, "read", "round_unassigned", round_id,
                       candidate_ids=[r["candidate_id"] for r in result.items])
    return result


NOT_IN_ROUND = ("not in this round: no pair of this candidate was in the round's graph (no eligible place, "
                "held back, or not among the best-scored candidates the round kept for any place)")


@router.get("/v1/rounds/{round_id}/candidates/{candidate_id}", summary="One candidate's outcome in a round",
            response_model=CandidateOutcome, responses=problem_responses(401, 403, 404, 409, 422))
def candidate_outcome(round_id: PathId, candidate_id: PathId, caller: Staff, conn: Conn,
                      state: State) -> CandidateOutcome:
    """Assigned (the place, score and terms), unassigned (the reason and why), or not in the round
    (a candidate of the region without a pair in the round's graph). 404 for a candidate neither in
    the round nor in the region; 409 for a round that has not succeeded, or one stored before Platsa
    kept each unassigned candidate's reason."""
    rnd = _round(conn, round_id)
    if rnd["status"] != "succeeded":
        raise Conflict(f"round {round_id!r} is {rnd['status']}, not succeeded: it has no outcomes")
    assigned = conn.execute(
        sa.select(round_assignments.c.candidate_id, round_assignments.c.place_id, round_assignments.c.score,
                  round_assignments.c.pinned, round_assignments.c.explanation)
        .where(round_assignments.c.round_id == round_id, round_assignments.c.candidate_id == candidate_id)
    ).mappings().first()
    left = conn.execute(
        sa.select(round_unassigned.c.candidate_id, round_unassigned.c.reason, round_unassigned.c.explanation)
        .where(round_unassigned.c.round_id == round_id, round_unassigned.c.candidate_id == candidate_id)
    ).mappings().first()
    outcome = CandidateOutcome(round_id=round_id, candidate_id=candidate_id, outcome="not_in_round",
                               text=NOT_IN_ROUND, assignment=None, unassigned=None)
    if assigned is not None:
        outcome.outcome, outcome.assignment = "assigned", AssignmentOut.model_validate(dict(assigned))
        outcome.text = (f"assigned to {assigned['place_id']} with {assigned['score']:.1f} points"
                        + (" (pinned)" if assigned["pinned"] else ""))
    elif left is not None:
        outcome.outcome, outcome.unassigned = "unassigned", UnassignedOut.model_validate(dict(left))
        outcome.text = left["explanation"]
    else:
        kept = conn.execute(sa.select(sa.func.count()).select_from(round_unassigned)
                            .where(round_unassigned.c.round_id == round_id)).scalar_one()
        counted = (rnd["summary"] or {}).get("unassigned")
        if isinstance(counted, int) and counted > kept:
            raise Conflict(f"round {round_id!r} was stored before Platsa kept each unassigned candidate's "
                           "reason: its summary counts them by reason only")
        candidates = REGION_TABLES["candidates"]
        if conn.execute(sa.select(candidates.c.candidate_id)
                        .where(candidates.c.candidate_id == candidate_id)).first() is None:
            raise NotFound(f"no candidate {candidate_id!r} in round {round_id!r} or in the region")
    audit.record_apart(state.writer, caller, "read", "round_candidate", round_id,
                       candidate_ids=[candidate_id])
    return outcome


@router.post("/v1/rounds/{round_id}/rerun", summary="Re-run a round with pairs pinned or removed",
             status_code=status.HTTP_202_ACCEPTED, response_model=RoundAccepted,
             responses={**_ACCEPTED, **problem_responses(401, 403, 404, 409, 422, 503)})
def rerun(round_id: PathId, body: Rerun, caller: Staff, conn: Conn, state: State, snapshot: Loaded,
          response: Response) -> dict[str, Any]:
    """Coordinators and admins: a new round from this one's inputs with more pairs pinned or removed
    (``parent_round_id`` names this one). A round of an earlier region answers 409. Answers 202 with the
    new round and its job."""
    parent = _round(conn, round_id)
    if parent["region_version"] != snapshot.version:
        raise Conflict("the region was replaced since this round: start a new round")
    policy = state.policy(parent["policy_id"])
    snapshot = state.fresh_snapshot() or snapshot  # every write made before this request, checked
    removals = [(p[0], p[1]) for p in parent["removals"]]
    removals += [(p.candidate_id, p.place_id) for p in body.removals if (p.candidate_id, p.place_id)
                 not in set(removals)]
    inputs, locations = _inputs(policy, parent["params"], body.pins, removals,
                                parent_overrides=overrides_of(parent["overrides"]),
                                parent_pins=[(p[0], p[1]) for p in parent["pins"]])
    # The parent's removals came first: this request's rows are the last ones.
    own = len(removals) - len(body.removals)
    locations["forbidden"] = ["body.removals"] * own + [f"body.removals.{i}"
                                                        for i in range(len(body.removals))]
    _check_inputs(state, snapshot, policy, inputs, locations)
    return _start(conn, state, snapshot, caller, inputs, response, parent=round_id)


def _assignments_of(conn: sa.Connection, round_id: str) -> pl.DataFrame:
    rows = conn.execute(sa.select(round_assignments.c.candidate_id, round_assignments.c.place_id,
                                  round_assignments.c.score)
                        .where(round_assignments.c.round_id == round_id)).all()
    return pl.DataFrame([tuple(r) for r in rows], orient="row",
                        schema={"candidate_id": pl.String, "place_id": pl.String, "score": pl.Float64})


def _succeeded(conn: sa.Connection, round_id: str) -> dict[str, Any]:
    row = _round(conn, round_id)
    if row["status"] != "succeeded":
        raise Conflict(f"round {round_id!r} is {row['status']}, not succeeded")
    return row


def round_comparison(conn: sa.Connection, round_id: str, other_id: str) -> RoundComparison:
    """The comparison of two stored, succeeded rounds by candidate id (:func:`scoring.compare_assignments`).

    Raises
    ------
    NotFound
        If either round does not exist.
    Conflict
        If either round has not succeeded.
    """
    a, b = _succeeded(conn, round_id), _succeeded(conn, other_id)
    return compare_assignments(_assignments_of(conn, round_id), _assignments_of(conn, other_id),
                               objective_a=a["objective"], objective_b=b["objective"])


@router.get("/v1/rounds/{round_id}/compare/{other_id}", summary="Compare two rounds",
            response_model=Comparison, responses=problem_responses(401, 403, 404, 409, 422))
def compare(round_id: PathId, other_id: PathId, caller: Staff, conn: Conn) -> Comparison:
    """Coordinators and admins: candidates with the same place in both rounds, those who moved, and those
    assigned in one only. A round that has not succeeded answers 409."""
    diff = round_comparison(conn, round_id, other_id)
    who, where = diff.candidate_label, diff.place_label
    return Comparison(
        round_a=round_id, round_b=other_id, same=diff.unchanged,
        moved=[{"candidate_id": who(c), "place_a": str(where(int(diff.place_a[c]))),
                "place_b": str(where(int(diff.place_b[c])))} for c in diff.moved.tolist()],
        only_a=[{"candidate_id": who(c), "place_id": str(where(int(diff.place_a[c])))}
                for c in diff.dropped.tolist()],
        only_b=[{"candidate_id": who(c), "place_id": str(where(int(diff.place_b[c])))}
                for c in diff.newly_placed.tolist()],
        # The stored objectives (None where a round did not record one), not the total scores.
        objective_a=_round(conn, round_id)["objective"], objective_b=_round(conn, other_id)["objective"],
    )


@router.post("/v1/rounds/{round_id}/publish", summary="Publish a round: its assignments become proposals",
             response_model=Published,
             responses=problem_responses(401, 403, 404, "open-proposal-exists", 409, 422, 503))
def publish(round_id: PathId, caller: Staff, conn: Conn, state: State, snapshot: Loaded,
            body: PublishRound | None = None) -> Published:
    """All or nothing: either every assignment becomes an open proposal, or (409) none does.

    The round was computed earlier; publication re-checks every assignment on the region as it is
    now (:func:`_conflicts`): the place's period and free slots, every hard rule of the pair (the
    candidate's availability among them), a placement or a withdrawal since the round ran, a recent
    decline at the place's supplier, and the one-open-proposal rule. By default any conflict
    refuses the whole publication, with every conflict listed. ``on_open_proposal`` says otherwise:
    ``allow`` proposes candidates who hold an open proposal elsewhere anyway (any other conflict
    still refuses the whole), ``skip`` publishes the other assignments and lists the skipped ones.
    """
    options = body or PublishRound()
    version = store.lock_region(conn)  # a re-import cannot replace the region under this publication
    # Lock the round's row where the database can, so that two publishes cannot both pass the check.
    query = sa.select(rounds).where(rounds.c.round_id == round_id).with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"no round {round_id!r}")
    if row["status"] != "succeeded":
        raise Conflict(f"round {round_id!r} is {row['status']}: only a succeeded round can be published")
    if row["published_at"] is not None:
        raise Conflict(f"round {round_id!r} was already published")
    if row["region_version"] != version:
        raise Conflict("the region was replaced since this round: its pairs may no longer exist")
    now = dt.datetime.now(dt.UTC)
    order = _publication_order(conn, round_id)
    pairs = sorted(order)
    overrides = {(o.candidate_id, o.place_id): o for o in overrides_of(row["overrides"])}
    conflicts = _conflicts(conn, dict(row), order, state.policy(row["policy_id"]), overrides,
                           allow_multiple_open=options.on_open_proposal == "allow")
    allowed = {ConflictReason.OPEN_PROPOSAL_ELSEWHERE.value, ConflictReason.TWICE_IN_REQUEST.value}
    refused = conflicts if options.on_open_proposal != "allow" else [
        c for c in conflicts if c["reason"] not in allowed]
    if refused and options.on_open_proposal != "skip":
        advice = ('publish with {"on_open_proposal": "skip"} to propose the others, '
                  if options.on_open_proposal == "allow" else
                  'publish with {"on_open_proposal": "allow"} to propose those with an open proposal '
                  'elsewhere anyway, "skip" to propose the others, ')
        raise lifecycle.OpenProposalExists(conflicts, advice + "or re-run the round with these pairs removed")
    skipped = {c["candidate_id"] for c in refused}
    # Ids follow the round's pairs, skipped ones included: a proposal's id names its assignment.
    proposals = [(f"PR-{round_id}-{i:05d}", (c, p)) for i, (c, p) in enumerate(pairs, start=1)
                 if c not in skipped]
    event_data = {pid: {"override": {**override_record(overrides[pair], row["created_by"]),
                                     "rules_broken": _override_words(pair, dict(row))}}
                  for pid, pair in proposals if pair in overrides}
    made_with = _made_with(conn, round_id)  # each assignment's score and outcome probability
    lifecycle.insert_proposals(conn, proposals, caller, settings=state.settings, round_id=round_id, now=now,
                               event_data=event_data,
                               scores={pid: made_with[pair] for pid, pair in proposals if pair in made_with})
    conn.execute(rounds.update().where(rounds.c.round_id == round_id).values(
        published_at=now, published_by=caller.key_id))
    reasons = sorted({c["reason"] for c in refused})
    audit.record(conn, caller, "publish", "round", round_id, candidate_ids=[c for _, (c, _) in proposals],
                 detail=f"{len(proposals)} proposal(s); {len(skipped)} skipped ({', '.join(reasons)})"
                        if skipped else f"{len(proposals)} proposal(s)")
    state.request_reload()
    return Published(round_id=round_id, proposals_created=len(proposals), published_at=now,
                     skipped=[ProposalConflict.model_validate(c) for c in refused])


def _made_with(conn: sa.Connection, round_id: str
               ) -> dict[tuple[str, str], tuple[float | None, float | None]]:
    """Each assignment's score and, where the round's policy weighed the learnt model, its outcome
    probability (``service.engine.outcome_from_result``): what its proposal records."""
    out: dict[tuple[str, str], tuple[float | None, float | None]] = {}
    for r in conn.execute(sa.select(round_assignments.c.candidate_id, round_assignments.c.place_id,
                                    round_assignments.c.score, round_assignments.c.explanation)
                          .where(round_assignments.c.round_id == round_id)):
        probability = (r.explanation or {}).get("outcome_probability")
        out[(r.candidate_id, r.place_id)] = (float(r.score),
                                             None if probability is None else float(probability))
    return out


def _publication_order(conn: sa.Connection, round_id: str) -> dict[tuple[str, str], tuple[bool, float]]:
    """Each assignment with what orders it for its place's free slots: pins first, then by score."""
    return {(r.candidate_id, r.place_id): (r.pinned, r.score) for r in conn.execute(
        sa.select(round_assignments.c.candidate_id, round_assignments.c.place_id, round_assignments.c.pinned,
                  round_assignments.c.score).where(round_assignments.c.round_id == round_id))}


def publication_conflicts(conn: sa.Connection, state: Any, round_id: str, *,
                          allow_multiple_open: bool = False) -> list[dict[str, Any]]:
    """Every assignment that publishing the round now would name as a conflict, checked as
    :func:`publish` checks them, with nothing locked or written (the pages' confirm step shows them
    before the coordinator publishes). A round that is not a succeeded, unpublished round of the
    current region has none to show: :func:`publish` refuses it as a whole (409)."""
    row = conn.execute(sa.select(rounds).where(rounds.c.round_id == round_id)).mappings().first()
    if row is None:
        raise NotFound(f"no round {round_id!r}")
    if row["status"] != "succeeded" or row["published_at"] is not None:
        return []
    overrides = {(o.candidate_id, o.place_id): o for o in overrides_of(row["overrides"])}
    return _conflicts(conn, dict(row), _publication_order(conn, round_id), state.policy(row["policy_id"]),
                      overrides, allow_multiple_open=allow_multiple_open)


def _override_words(pair: tuple[str, str], row: dict[str, Any]) -> list[str]:
    """The rules an override lets a pinned pair break, in words, as the round's summary recorded them."""
    for stored in (row["summary"] or {}).get("overrides", []):
        if (stored["candidate_id"], stored["place_id"]) == pair:
            return [r["text"] for r in stored["rules"]]
    return []


def _conflicts(conn: sa.Connection, row: dict[str, Any], order: dict[tuple[str, str], tuple[bool, float]],
               policy: Policy, overrides: dict[tuple[str, str], RuleOverride], *, allow_multiple_open: bool
               ) -> list[dict[str, Any]]:
    """Every assignment of a round that cannot be proposed now, and why, one conflict per pair.

    In order: the one-open-proposal rule and placements (:func:`lifecycle.find_conflicts`); the
    place's period and every hard rule of the pair on the region as it is now
    (:func:`service.live.check_pairs`, honouring the round's overrides); a withdrawal of the
    candidate's proposal since the round was created; a recent decline at the place's supplier
    (unless the round was run with held-back candidates, or the pair is a pin: the coordinator's
    decision); and last the place's free slots, counted
    over the assignments that are still proposed, pins first, then by score (``order``: each
    assignment's pinned flag and score; ties by candidate id).
    """
    pairs = sorted(order)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for c in lifecycle.find_conflicts(conn, pairs, allow_multiple_open=allow_multiple_open):
        found.setdefault((c["candidate_id"], c["place_id"]), c)
    check = live.check_pairs(conn, pairs, policy, overrides=overrides)
    added: list[tuple[tuple[str, str], dict[str, Any]]] = []

    def add(pair: tuple[str, str], reason: ConflictReason, detail: str,
            rules: list[str] | None = None) -> None:
        if pair not in found:
            found[pair] = {"candidate_id": pair[0], "place_id": pair[1], "reason": reason.value,
                           "detail": detail, "rules": rules or []}
            added.append((pair, found[pair]))

    withdrawn = _withdrawn_since(conn, [c for c, _ in pairs], row["created_at"])
    include_held_back = bool((row["params"] or {}).get("include_held_back", False))
    pinned = {(p[0], p[1]) for p in row["pins"] or []}
    for pair in pairs:
        failures = check.failures.get(pair, [])
        period = [f for f in failures if f.rule == "period"]
        if period:
            add(pair, ConflictReason.PLACE_NOT_OPEN, period[0].text, ["period"])
        elif failures:
            add(pair, ConflictReason.HARD_RULE, "; ".join(f.text for f in failures),
                [f.rule for f in failures])
        elif pair[0] in withdrawn:
            add(pair, ConflictReason.WITHDRAWN_SINCE_ROUND,
                f"proposal {withdrawn[pair[0]]} was withdrawn after the round ran")
        elif (not include_held_back and pair not in pinned
              and any(h.rule == "declined_by_supplier" for h in check.held_back[pair])):
            text = next(h.text for h in check.held_back[pair] if h.rule == "declined_by_supplier")
            add(pair, ConflictReason.DECLINED_BY_SUPPLIER, text)
    # Free slots last: the assignments still proposed, per place, pins first and then by score.
    by_place: dict[str, list[tuple[str, str]]] = {}
    for pair in pairs:  # under "allow", find_conflicts let the open proposals elsewhere through
        if pair not in found:
            by_place.setdefault(pair[1], []).append(pair)
    for place_id, members in by_place.items():
        members.sort(key=lambda pair: (not order[pair][0], -order[pair][1], pair[0]))
        free = check.free_slots.get(place_id, 0)
        for pair in members[free:]:
            add(pair, ConflictReason.NO_FREE_SLOT,
                f"the place is {check.place_state[place_id]}; {len(members)} of this round's assignments "
                f"to it are still proposed, {free} can be", ["free_slots"])
    # The candidates' open proposals, as find_conflicts gives them with its own conflicts.
    held = lifecycle.open_proposals_of(conn, [pair[0] for pair, _ in added]) if added else {}
    for pair, conflict in added:
        conflict["open_proposals"] = [{k: p[k] for k in ("proposal_id", "place_id", "status")}
                                      for p in held[pair[0]]]
    return [found[pair] for pair in pairs if pair in found]


def _withdrawn_since(conn: sa.Connection, candidate_ids: list[str], since: dt.datetime) -> dict[str, str]:
    """Candidate id → a proposal of theirs withdrawn after ``since`` (the round's creation)."""
    proposals = REGION_TABLES["proposals"]
    out: dict[str, str] = {}
    wanted = sorted(set(candidate_ids))
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            sa.select(proposals.c.candidate_id, proposal_events.c.proposal_id)
            .join(proposals, proposals.c.proposal_id == proposal_events.c.proposal_id)
            .where(proposal_events.c.type == lifecycle.EVENT_TYPES[lifecycle.Action.WITHDRAW],
                   proposal_events.c.at > since, proposals.c.candidate_id.in_(wanted[start:start + 500])))
        for r in rows:
            out.setdefault(r.candidate_id, r.proposal_id)
    return out


@router.get("/v1/jobs/{job_id}", summary="A job's progress and outcome", response_model=Job,
            responses=problem_responses(401, 403, 404, 422))
def get_job(job_id: PathId, caller: Staff, conn: Conn) -> dict[str, Any]:
    """Coordinators and admins: a round's job, its stage and progress, how it ended, and what a restart did
    to it."""
    row = conn.execute(sa.select(jobs).where(jobs.c.job_id == job_id)).mappings().first()
    if row is None:
        raise NotFound(f"no job {job_id!r}")
    return dict(row)
