"""Wire models of the supplier integration: what a supplier's system sends and receives.

Nothing here has a field for a sensitive attribute (``scoring.schema.SENSITIVE_COLUMNS``), a
priority group, a home or an internal candidate id; a test walks the OpenAPI document to keep it so.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from scoring.domain import PlacementType, ProposalStatus
from scoring.eligibility import OVERRIDABLE_RULES
from service.errors import ProblemDetails, ProblemKind, register_problem
from service.integration.lifecycle import CONTRACT_TYPES, DECLINE_REASONS, WITHDRAW_REASONS, ConflictReason
from service.integration.webhooks import WEBHOOK_EVENT_TYPES
from service.models import Id, Text, UtcDatetime

StatusName = Literal[tuple(s.value for s in ProposalStatus)]  # type: ignore[valid-type]
ActionName = Literal["view", "interview", "internship", "hire", "decline", "withdraw"]
DeclineReason = Literal[DECLINE_REASONS]  # type: ignore[valid-type]
WithdrawReason = Literal[WITHDRAW_REASONS]  # type: ignore[valid-type]
ContractType = Literal[CONTRACT_TYPES]  # type: ignore[valid-type]
EventTypeName = Literal[WEBHOOK_EVENT_TYPES]  # type: ignore[valid-type]
PlacementTypeName = Literal[tuple(p.value for p in PlacementType)]  # type: ignore[valid-type]
ConflictReasonName = Literal[tuple(r.value for r in ConflictReason)]  # type: ignore[valid-type]
OverridableRule = Literal[OVERRIDABLE_RULES]  # type: ignore[valid-type]


class WorkLadder(BaseModel):
    """Readiness for work (the work ladder, *arbetstrappan*), as a number and in plain words."""

    step: int = Field(ge=1, le=4, description="1 (farthest from work) to 4 (closest).", examples=[3])
    description: str = Field(examples=["needs support, does tasks by instruction, fairly independent"])


class CandidateProfile(BaseModel):
    """What a supplier learns of a proposed person: what matters for the work, nothing else.

    No name, id, home, age, gender, origin, health or priority group: the municipality keeps those.
    The one view of a candidate that any supplier-facing answer carries (``service.privacy``): values
    that would reveal a protected group are shown in a coarser word, and the profile is generalised
    until at least k of the region's candidates share it (``docs/data-protection.md``); ``generalised``
    says which fields are shown coarser, or withheld (null).
    """

    competences: list[str] = Field(
        description="Known competences by their canonical label, or their categories when "
                    "`generalised.competences` is `category`; empty when withheld.",
        examples=[["B-körkort", "Lokalvård"]])
    work_ladder: WorkLadder | None = Field(description="Null when withheld.")
    support_at_work: list[str] | None = Field(
        description="Support that helps this person at work, in plain words; null when withheld.",
        examples=[["handledare"]])
    available_from: dt.date | None = Field(
        description="First day the person can start: the first day of the month or quarter when "
                    "`generalised.available_from` says so; null when withheld.", examples=["2026-09-01"])
    wished_hours_per_week: int | None = Field(
        description="Rounded down to 10 h when `generalised.wished_hours_per_week` is `10h`; null when "
                    "withheld.", examples=[40])
    wished_placement_types: list[PlacementTypeName] | None = Field(  # type: ignore[valid-type]
        description="Empty means any; null when withheld.", examples=[["internship"]])
    generalised: dict[str, str] = Field(
        description="Each field shown coarser than it is, and how: `month`, `quarter`, `10h`, `category`, "
                    "`any` (support as one word), `withheld`.",
        examples=[{"available_from": "month"}])


class SupplierProposal(BaseModel):
    """A proposal to one of the supplier's places."""

    proposal_id: str = Field(examples=["PR-3f2a9c0d1e2b4a5c"])
    place_id: str = Field(examples=["P-0001"])
    place_title: str = Field(examples=["Lokalvårdare"])
    status: StatusName = Field(examples=["open"])  # type: ignore[valid-type]
    allowed_actions: list[ActionName] = Field(
        description="What the supplier may do next (POST .../transitions).", examples=[["view", "decline"]])
    candidate_reference: str = Field(
        description="Pseudonymous reference: the same person has the same reference in all of this "
                    "supplier's proposals, and a different one for every other supplier.",
        examples=["cand_k3j5x7m2q9w4e6r8t1y3u5i7o9"])
    candidate: CandidateProfile | None = Field(
        description="The profile; null once the proposal is declined or withdrawn (data minimisation).")
    created_on: dt.date = Field(examples=["2026-09-01"])
    updated_at: UtcDatetime = Field(description="Time of the last change.", examples=["2026-09-02T08:15:00Z"])
    decided_on: dt.date | None = Field(default=None, examples=[None])
    decline_reason: str | None = Field(default=None, examples=[None])
    start_date: dt.date | None = Field(default=None, description="Start of the internship or employment.",
                                       examples=[None])
    contract_type: str | None = Field(default=None, examples=[None])


class ProposalPage(BaseModel):
    """One page of proposals, in the order they last changed.

    Keep ``next_cursor``: listing with it later returns exactly the proposals that changed since
    (new ones included), so polling needs no clock.
    """

    items: list[SupplierProposal]
    next_cursor: str | None = Field(description="Pass as `cursor` for what follows; null when nothing "
                                                "was listed after the cursor you sent.",
                                    examples=["eyJzIjoxMiwicCI6IlBSLTEifQ"])
    has_more: bool = Field(description="More items follow right now.", examples=[False])


class _Transition(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ViewTransition(_Transition):
    """The supplier has seen the proposal (open → viewed)."""

    action: Literal["view"]


class InterviewTransition(_Transition):
    """An interview is booked (viewed → interview)."""

    action: Literal["interview"]
    interview_on: dt.date | None = Field(default=None, examples=["2026-09-10"])


class InternshipTransition(_Transition):
    """An internship starts (interview → internship)."""

    action: Literal["internship"]
    start_date: dt.date = Field(examples=["2026-09-20"])


class HireTransition(_Transition):
    """The person is hired (interview or internship → hired)."""

    action: Literal["hire"]
    start_date: dt.date = Field(examples=["2026-11-01"])
    contract_type: ContractType = Field(examples=["permanent"])


class DeclineTransition(_Transition):
    """The supplier says no (from any open status → declined), with a reason code."""

    action: Literal["decline"]
    reason: DeclineReason = Field(examples=["competence_mismatch"])


Transition = Annotated[
    ViewTransition | InterviewTransition | InternshipTransition | HireTransition | DeclineTransition,
    Field(discriminator="action"),
]


class ProposalEvent(BaseModel):
    """One change of a proposal, as the supplier sees it."""

    event_id: str = Field(examples=["evt_5b0e8f0d0c3a4f5e9d7c6b5a4f3e2d1c"])
    type: str = Field(examples=["proposal.viewed"])
    at: UtcDatetime = Field(examples=["2026-09-02T08:15:00Z"])
    by: Literal["supplier", "municipality", "service"] = Field(examples=["supplier"])
    from_status: str | None = Field(examples=["open"])
    to_status: str = Field(examples=["viewed"])
    data: dict[str, Any] = Field(examples=[{}])


class TransitionProblem(BaseModel):
    """409: the action is not allowed from the proposal's current status."""

    type: str = Field(examples=["/problems/illegal-transition"])
    title: str = Field(examples=["Illegal transition"])
    status: int = Field(examples=[409])
    detail: str = Field(examples=["proposal 'PR-1' is open: 'hire' is not allowed (allowed: view, decline)"])
    instance: str = Field(examples=["/v1/supplier/proposals/PR-1/transitions"])
    current_status: str | None = Field(default=None, examples=["open"])
    action: str | None = Field(default=None, examples=["hire"])
    allowed_actions: list[str] | None = Field(default=None, examples=[["view", "decline"]])


class OpenProposalRef(BaseModel):
    proposal_id: str = Field(examples=["PR-3f2a9c0d1e2b4a5c"])
    place_id: str = Field(examples=["P-0002"])
    status: StatusName = Field(examples=["viewed"])  # type: ignore[valid-type]


class ProposalConflict(BaseModel):
    """A (candidate, place) pair that cannot be proposed now, and why."""

    candidate_id: str = Field(examples=["C-000001"])
    place_id: str = Field(examples=["P-0001"])
    reason: ConflictReasonName = Field(  # type: ignore[valid-type]
        description="`open_proposal_elsewhere`: the candidate holds an open proposal to another place "
                    "(allowed when the unit says so); `open_proposal_here`: one to this very place (never "
                    "two); `twice_in_request`; `placed`: the candidate is placed (never proposed); "
                    "`place_not_open`: the place's period has ended or not begun; `no_free_slot`: every "
                    "slot of the place is held (this pair and those before it in the round would be one "
                    "too many); `hard_rule`: the pair breaks a hard rule now (`rules`, `detail`); "
                    "`declined_by_supplier`: the place's supplier declined the candidate recently; "
                    "`withdrawn_since_round`: a proposal of the candidate was withdrawn after the round "
                    "ran.",
        examples=["open_proposal_elsewhere"])
    open_proposals: list[OpenProposalRef] = Field(description="The candidate's open proposals now.")
    rules: list[str] = Field(default_factory=list, description="The hard rules the pair breaks now.",
                             examples=[["availability"]])
    detail: str | None = Field(default=None, description="Why, in words.",
                               examples=["available from 2026-11-01; the place starts 2026-10-01"])


class RuleOverrideIn(BaseModel):
    """A coordinator's decision to propose or pin a pair although it breaks hard rules of the person's
    fit to the place (``docs/rounds.md``, "Hard rules and overrides"). Stored, audited and shown with
    the pair; the place's period and free slots, a placement and an open proposal to the same place
    are never overridden."""

    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=3, max_length=1000, examples=["the supplier arranges a supervisor"])
    rules: list[OverridableRule] = Field(
        default_factory=list, max_length=len(OVERRIDABLE_RULES),
        description="The rules the pair may break; empty: every rule of this kind it breaks.",
        examples=[["ladder"]])


class CandidateOverride(RuleOverrideIn):
    """An override for one candidate of a proposal made by hand."""

    candidate_id: Id = Field(examples=["C-000017"])


class ProposalConflictProblem(BaseModel):
    """409: some pairs cannot be proposed now; ``conflicts`` lists every one, and nothing was written."""

    type: str = Field(examples=["/problems/open-proposal-exists"])
    title: str = Field(examples=["Open proposal exists"])
    status: int = Field(examples=[409])
    detail: str = Field(examples=["1 pair(s) cannot be proposed now: C-000001 already has an open "
                                  "proposal (PR-3f2a9c0d1e2b4a5c) (...)"])
    instance: str = Field(examples=["/v1/rounds/r-1a2b3c4d5e6f/publish"])
    conflicts: list[ProposalConflict] | None = Field(
        default=None, description="Every pair that cannot be proposed (absent when the 409 has another "
                                  "cause, such as a round published already).")


# -- webhooks -----------------------------------------------------------------------------------


class WebhookCreate(BaseModel):
    """A receiver to register."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"url": "https://hr.example.se/platsa/webhook", "event_types": ["proposal.created"]}]})

    url: str = Field(min_length=8, max_length=2048, description="https:// only.")
    event_types: list[EventTypeName] = Field(
        default_factory=lambda: list(WEBHOOK_EVENT_TYPES), min_length=1,
        description="Events to receive (default: all).")
    description: Text = Field(default="", max_length=500)


class SecretInfo(BaseModel):
    created_at: UtcDatetime
    expires_at: UtcDatetime | None = Field(description="When it stops signing; null: until rotated.")


class WebhookEndpoint(BaseModel):
    """A registered receiver (its secrets are never shown again after creation or rotation)."""

    endpoint_id: str = Field(examples=["we_1f2e3d4c5b6a79880706"])
    url: str = Field(examples=["https://hr.example.se/platsa/webhook"])
    event_types: list[str] = Field(examples=[list(WEBHOOK_EVENT_TYPES)])
    description: str = Field(examples=[""])
    created_at: UtcDatetime
    active_secrets: list[SecretInfo] = Field(description="Secrets that sign deliveries now (two while "
                                                         "a rotation's grace period runs).")


class WebhookEndpointCreated(WebhookEndpoint):
    secret: str = Field(description="The signing secret: shown this once. Keep it in your secret store.",
                        examples=["whsec_Q2hhbmdlIG1lIGluIHlvdXIgc2VjcmV0IHN0b3Jl"])


class RotateSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    previous_secret_expires_in_s: int | None = Field(
        default=None, ge=0, le=7 * 24 * 3600,
        description="How long the current secret keeps signing beside the new one (default 24 h; 0: "
                    "stop now).", examples=[3600])


class RotatedSecret(BaseModel):
    endpoint_id: str = Field(examples=["we_1f2e3d4c5b6a79880706"])
    secret: str = Field(description="The new secret: shown this once.",
                        examples=["whsec_TmV3IHNlY3JldCwgc2hvd24gb25jZQ"])
    previous_secrets_expire_at: UtcDatetime


class Attempt(BaseModel):
    at: UtcDatetime
    status_code: int | None = Field(examples=[500])
    error: str | None = Field(examples=["HTTP 500"])
    duration_ms: int = Field(examples=[120])


class Delivery(BaseModel):
    """One delivery of an event to one endpoint: the original (replay 0) or a replay."""

    delivery_id: str = Field(examples=["dlv_0a1b2c3d4e5f60718293"])
    endpoint_id: str = Field(examples=["we_1f2e3d4c5b6a79880706"])
    event_id: str = Field(description="The event's id: the same on every attempt and replay.",
                          examples=["evt_5b0e8f0d0c3a4f5e9d7c6b5a4f3e2d1c"])
    event_type: str = Field(examples=["proposal.created"])
    replay: bool = Field(description="Sent by a replay (the header `Platsa-Webhook-Replay: true`).",
                         examples=[False])
    replay_number: int = Field(examples=[0])
    status: Literal["pending", "succeeded", "failed", "cancelled"] = Field(examples=["succeeded"])
    attempts: int = Field(examples=[1])
    next_attempt_at: UtcDatetime | None = Field(examples=[None])
    created_at: UtcDatetime = Field(examples=["2026-09-01T08:00:00Z"])
    finished_at: UtcDatetime | None = Field(examples=["2026-09-01T08:00:01Z"])
    attempt_log: list[Attempt] = Field(description="The latest attempts (up to 20).")
    payload: dict[str, Any] = Field(description="The event exactly as sent.", examples=[{
        "id": "evt_5b0e8f0d0c3a4f5e9d7c6b5a4f3e2d1c", "type": "proposal.created", "api_version": "1",
        "created_at": "2026-09-01T08:00:00Z",
        "data": {"proposal_id": "PR-3f2a9c0d1e2b4a5c", "place_id": "P-0001", "status": "open",
                 "candidate_reference": "cand_k3j5x7m2q9w4e6r8t1y3u5i7o9",
                 "links": {"proposal": "/v1/supplier/proposals/PR-3f2a9c0d1e2b4a5c"}}}])


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next_cursor: str | None = Field(description="Give as `cursor` for the next page; null: the last page.",
                                    examples=[None])
    has_more: bool = Field(examples=[False])


# -- municipality side --------------------------------------------------------------------------


class ProposeCandidates(BaseModel):
    """Candidates a labour-market unit proposes to a place by hand (from its shortlist)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"candidate_ids": ["C-000001", "C-000017"], "allow_multiple_open": False}]})

    candidate_ids: list[Id] = Field(min_length=1, max_length=100)
    allow_multiple_open: bool = Field(
        default=False, description="Let a candidate who already holds an open proposal elsewhere get "
                                   "this one too (never two open ones to the same place).")
    overrides: list[CandidateOverride] = Field(
        default_factory=list, max_length=100,
        description="Candidates proposed although they break hard rules of their fit to the place, each "
                    "with the reason (stored in the proposal's history and the audit log).",
        examples=[[]])


class CreatedProposal(BaseModel):
    proposal_id: str = Field(examples=["PR-3f2a9c0d1e2b4a5c"])
    candidate_id: str = Field(examples=["C-000001"])


class ProposalsCreated(BaseModel):
    place_id: str = Field(examples=["P-0001"])
    proposals: list[CreatedProposal]


class Withdraw(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: WithdrawReason = Field(default="other", examples=["placed_elsewhere"])


class MunicipalProposal(BaseModel):
    """A proposal as the municipality sees it (with the candidate's id)."""

    proposal_id: str = Field(examples=["PR-3f2a9c0d1e2b4a5c"])
    candidate_id: str = Field(examples=["C-000001"])
    place_id: str = Field(examples=["P-0001"])
    status: str = Field(examples=["withdrawn"])
    created_on: dt.date = Field(examples=["2026-09-01"])
    decided_on: dt.date | None = Field(examples=["2026-09-03"])
    decline_reason: str | None = Field(examples=[None])
    allowed_actions: list[str] = Field(description="What the municipality may do next.", examples=[[]])


class MunicipalEvent(BaseModel):
    """One change of a proposal, with the key that made it (for the follow-up)."""

    event_id: str = Field(examples=["evt_5b0e8f0d0c3a4f5e9d7c6b5a4f3e2d1c"])
    type: str = Field(examples=["proposal.withdrawn"])
    at: UtcDatetime = Field(examples=["2026-09-03T10:20:00Z"])
    actor_role: str = Field(examples=["labour_market_unit"])
    actor_key_id: int | None = Field(description="The key that made the change; null: the service.",
                                     examples=[4])
    from_status: str | None = Field(examples=["viewed"])
    to_status: str = Field(examples=["withdrawn"])
    data: dict[str, Any] = Field(examples=[{"reason": "placed_elsewhere"}])


class WebhookEventData(BaseModel):
    """What an event says: which proposal, where it stands, whom it is about (by reference)."""

    proposal_id: str = Field(examples=["PR-3f2a9c0d1e2b4a5c"])
    place_id: str = Field(examples=["P-0001"])
    status: StatusName = Field(examples=["open"])  # type: ignore[valid-type]
    candidate_reference: str = Field(examples=["cand_k3j5x7m2q9w4e6r8t1y3u5i7o9"])
    links: dict[str, str] = Field(description="Where to fetch the proposal (with the profile) over the API.",
                                  examples=[{"proposal": "/v1/supplier/proposals/PR-3f2a9c0d1e2b4a5c"}])
    reason: WithdrawReason | None = Field(default=None, description="proposal.withdrawn: why.")
    days_unanswered: int | None = Field(default=None, description="proposal.reminder: days since proposed.")


class WebhookEvent(BaseModel):
    """The JSON body of every webhook delivery (the same bytes on every retry and replay)."""

    id: str = Field(description="The event id: dedupe by it (also in `Platsa-Webhook-Id`).",
                    examples=["evt_5b0e8f0d0c3a4f5e9d7c6b5a4f3e2d1c"])
    type: EventTypeName = Field(examples=["proposal.created"])
    api_version: str = Field(examples=["1"])
    created_at: UtcDatetime = Field(examples=["2026-09-01T08:00:00Z"])
    data: WebhookEventData


# -- problems of the integration, for the routes' ``responses=problem_responses(...)`` -----------

register_problem(ProblemKind(
    409, "illegal-transition", "Illegal transition", TransitionProblem,
    "Not allowed from the proposal's current status; `allowed_actions` lists what is.",
    "proposal 'PR-3f2a9c0d1e2b4a5c' is open: 'hire' is not allowed (allowed: view, interview, internship, "
    "decline)",
    {"current_status": "open", "action": "hire",
     "allowed_actions": ["view", "interview", "internship", "decline"]}))
register_problem(ProblemKind(
    409, "open-proposal-exists", "Open proposal exists", ProposalConflictProblem,
    "Some pairs cannot be proposed now: `conflicts` lists every one, and nothing was proposed.",
    "1 pair(s) cannot be proposed now: C-000001 already has an open proposal (PR-3f2a9c0d1e2b4a5c) "
    "(propose the others, or allow_multiple_open)",
    {"conflicts": [{"candidate_id": "C-000001", "place_id": "P-0001", "reason": "open_proposal_elsewhere",
                    "open_proposals": [{"proposal_id": "PR-3f2a9c0d1e2b4a5c", "place_id": "P-0002",
                                        "status": "viewed"}],
                    "rules": [], "detail": None}]}))
register_problem(ProblemKind(
    409, "idempotency-key-in-progress", "Request in progress", ProblemDetails,
    "A request with this `Idempotency-Key` is still running: retry after `Retry-After` seconds.",
    "a request with this Idempotency-Key is still running; retry shortly",
    headers={"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}))
register_problem(ProblemKind(
    422, "idempotency-key-reused", "Idempotency key reused", ProblemDetails,
    "This `Idempotency-Key` was used for a different request.",
    "this Idempotency-Key was used for a different request (method, path, query or body); use a new key "
    "for a new request"))
