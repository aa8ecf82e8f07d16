"""The proposal lifecycle: who may move a proposal where, and the record of every move.

A proposal (a candidate proposed to a supplier's place) is made by a coordinator publishing a round
or by a labour-market unit by hand (:func:`create_proposals`). Both check the same rule first
(:func:`find_conflicts`, issue 5): a candidate holds at most one open proposal unless the unit says
otherwise, never two open ones to the same place, and a placed candidate is not proposed. From then
on::

    open ──view──▶ viewed ──interview──▶ interview ──internship──▶ internship ──hire──▶ hired
                                                  └──────────────hire──────────────────▶ hired
    open, viewed, interview, internship ──decline (supplier, with a reason code)──▶ declined
    open, viewed, interview, internship ──withdraw (municipality)─────────────────▶ withdrawn

``hired``, ``declined`` and ``withdrawn`` are final. The supplier answers (view, interview,
internship, hire, decline); the municipality withdraws. Any other move is refused with
:class:`IllegalTransition`, whose problem answer names the actions allowed from the current status.

Every move writes one row to ``proposal_events`` (which, who, when, and the move's data: a start
date, a contract type, a reason code) in the same transaction as the change itself, and feeds the
follow-up (:mod:`scoring.followup`) through the region's own tables: the proposal's ``status``,
``decided_on`` and ``decline_reason``, and a ``placements`` row from the internship or hire on (the
recruiter's follow-up reads them as it reads imported ones). The events a supplier subscribes to
(:data:`service.integration.webhooks.WEBHOOK_EVENT_TYPES`) are queued for its webhooks in the same
transaction, so an event is sent if and only if the change was committed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from scoring.domain import OPEN_PROPOSAL_STATES, PlacementEnd, ProposalStatus, period_last_date
from service.auth import Principal, Role
from service.config import Settings
from service.db.tables import REGION_TABLES
from service.errors import Conflict
from service.integration import webhooks
from service.integration.tables import proposal_events

_proposals = REGION_TABLES["proposals"]
_places = REGION_TABLES["places"]
_placements = REGION_TABLES["placements"]
_candidates = REGION_TABLES["candidates"]
#: Ids per ``IN (...)`` list: far below any database's parameter limit.
_CHUNK = 500


class Action(StrEnum):
    """What a caller does to a proposal."""

    VIEW = "view"
    INTERVIEW = "interview"
    INTERNSHIP = "internship"
    HIRE = "hire"
    DECLINE = "decline"
    WITHDRAW = "withdraw"


S = ProposalStatus
#: The state machine: from a status, each allowed action and where it leads.
TRANSITIONS: dict[ProposalStatus, dict[Action, ProposalStatus]] = {
    S.OPEN: {Action.VIEW: S.VIEWED, Action.DECLINE: S.DECLINED, Action.WITHDRAW: S.WITHDRAWN},
    S.VIEWED: {Action.INTERVIEW: S.INTERVIEW, Action.DECLINE: S.DECLINED, Action.WITHDRAW: S.WITHDRAWN},
    S.INTERVIEW: {Action.INTERNSHIP: S.INTERNSHIP, Action.HIRE: S.HIRED, Action.DECLINE: S.DECLINED,
                  Action.WITHDRAW: S.WITHDRAWN},
    S.INTERNSHIP: {Action.HIRE: S.HIRED, Action.DECLINE: S.DECLINED, Action.WITHDRAW: S.WITHDRAWN},
    S.HIRED: {},
    S.DECLINED: {},
    S.WITHDRAWN: {},
}
SUPPLIER_ACTIONS = frozenset({Action.VIEW, Action.INTERVIEW, Action.INTERNSHIP, Action.HIRE, Action.DECLINE})
MUNICIPALITY_ACTIONS = frozenset({Action.WITHDRAW})

#: The event type each action records.
EVENT_TYPES: dict[Action, str] = {
    Action.VIEW: "proposal.viewed", Action.INTERVIEW: "proposal.interview",
    Action.INTERNSHIP: "proposal.internship", Action.HIRE: "proposal.hired",
    Action.DECLINE: "proposal.declined", Action.WITHDRAW: "proposal.withdrawn",
}
CREATED = "proposal.created"
REMINDER = "proposal.reminder"
#: Events the service records by itself, which no person or integration caused (the delivery
#: worker's reminders). A proposal with only these is not made or answered through Platsa: a
#: re-import treats it as the upload's (:mod:`service.integration.history`).
AUTOMATIC_EVENT_TYPES = frozenset({REMINDER})

#: Why a supplier declines (the codes of the follow-up data, ``docs/data-format.md``).
DECLINE_REASONS = ("competence_mismatch", "candidate_declined", "no_show", "position_filled", "language",
                   "distance", "other")
#: Why the municipality withdraws.
WITHDRAW_REASONS = ("candidate_unavailable", "placed_elsewhere", "candidate_declined", "proposed_in_error",
                    "other")
#: Employment contracts of a hire (``placements.contract_type``).
CONTRACT_TYPES = ("permanent", "fixed_term", "apprenticeship", "trainee")


class IllegalTransition(Conflict):
    """An action the proposal's current status does not allow (409, naming the allowed ones)."""

    slug, title = "illegal-transition", "Illegal transition"

    def __init__(self, proposal_id: str, current: str, action: str, allowed: Sequence[str]) -> None:
        words = ", ".join(allowed) if allowed else "none: the proposal is closed"
        super().__init__(f"proposal {proposal_id!r} is {current}: {action!r} is not allowed "
                         f"(allowed: {words})")
        self.current_status = current
        self.action = action
        self.allowed_actions = list(allowed)


class ConflictReason(StrEnum):
    """Why a (candidate, place) pair cannot be proposed now."""

    OPEN_PROPOSAL_HERE = "open_proposal_here"
    """The candidate already holds an open proposal to this place (never two)."""
    OPEN_PROPOSAL_ELSEWHERE = "open_proposal_elsewhere"
    """The candidate holds an open proposal to another place (allowed only when the unit says so)."""
    TWICE_IN_REQUEST = "twice_in_request"
    """The candidate appears more than once in the request (allowed, to different places, likewise)."""
    PLACED = "placed"
    """The candidate is placed (an internship going on, or hired): never proposed again."""
    PLACE_NOT_OPEN = "place_not_open"
    """The place's period has ended or not yet begun (:mod:`scoring.capacity`)."""
    NO_FREE_SLOT = "no_free_slot"
    """Every slot of the place is held (hires, placements going on, open proposals)."""
    HARD_RULE = "hard_rule"
    """The pair breaks a hard rule of the candidate's fit to the place now (``rules`` says which)."""
    DECLINED_BY_SUPPLIER = "declined_by_supplier"
    """The place's supplier declined the candidate within the policy's hold-back period."""
    WITHDRAWN_SINCE_ROUND = "withdrawn_since_round"
    """A proposal of the candidate was withdrawn after the round was computed."""


class OpenProposalExists(Conflict):
    """Pairs that cannot be proposed now, every one at once (409, listed in ``conflicts``).

    Each conflict is a dict: ``candidate_id``, ``place_id``, ``reason`` (a :class:`ConflictReason`)
    and ``open_proposals`` (the candidate's open proposals: ``proposal_id``, ``place_id``,
    ``status``).
    """

    slug, title = "open-proposal-exists", "Open proposal exists"

    def __init__(self, conflicts: Sequence[Mapping[str, Any]], advice: str) -> None:
        words = "; ".join(_conflict_words(c) for c in conflicts)
        super().__init__(f"{len(conflicts)} pair(s) cannot be proposed now: {words} ({advice})")
        self.conflicts = [dict(c) for c in conflicts]


def _conflict_words(conflict: Mapping[str, Any]) -> str:
    candidate, reason = conflict["candidate_id"], conflict["reason"]
    held = ", ".join(p["proposal_id"] for p in conflict["open_proposals"])
    if reason == ConflictReason.OPEN_PROPOSAL_HERE:
        return f"{candidate} already has an open proposal to {conflict['place_id']} ({held})"
    if reason == ConflictReason.OPEN_PROPOSAL_ELSEWHERE:
        return f"{candidate} already has an open proposal ({held})"
    if reason == ConflictReason.TWICE_IN_REQUEST:
        return f"{candidate} appears more than once in this request"
    if reason == ConflictReason.PLACED:
        return f"{candidate} is placed"
    return f"{candidate} at {conflict['place_id']}: {conflict.get('detail') or reason}"


def allowed_actions(status: str, actions: Iterable[Action] = SUPPLIER_ACTIONS) -> list[str]:
    """The actions among ``actions`` that ``status`` allows, in the state machine's order.

    Examples
    --------
    >>> allowed_actions("interview")
    ['internship', 'hire', 'decline']
    >>> allowed_actions("open", MUNICIPALITY_ACTIONS)
    ['withdraw']
    """
    mine = set(actions)
    return [a.value for a in TRANSITIONS[ProposalStatus(status)] if a in mine]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def proposal_row(conn: sa.Connection, proposal_id: str) -> dict[str, Any] | None:
    """The proposal with its place's supplier, or None."""
    row = conn.execute(
        sa.select(_proposals, _places.c.supplier_id)
        .join(_places, _places.c.place_id == _proposals.c.place_id)
        .where(_proposals.c.proposal_id == proposal_id)
    ).mappings().first()
    return dict(row) if row else None


def record_event(
    conn: sa.Connection,
    proposal: Mapping[str, Any],
    event_type: str,
    *,
    actor: Principal | None,
    settings: Settings,
    from_status: str | None,
    to_status: str,
    data: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any] | None:
    """Record one event of ``proposal`` and queue it for the supplier's webhooks.

    Returns the event, or None when ``dedupe_key`` was recorded before (the event happened already:
    recording it again would make two events of one).
    """
    if dedupe_key is not None:
        seen = conn.execute(sa.select(proposal_events.c.event_id)
                            .where(proposal_events.c.dedupe_key == dedupe_key)).first()
        if seen is not None:
            return None
    event = {
        "event_id": new_event_id(), "proposal_id": proposal["proposal_id"],
        "supplier_id": proposal["supplier_id"], "type": event_type, "from_status": from_status,
        "to_status": to_status, "at": now or _now(),
        "actor_key_id": actor.key_id if actor else None,
        "actor_role": actor.role.value if actor else "service",
        "data": {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in (data or {}).items()},
        "dedupe_key": dedupe_key,
    }
    if dedupe_key is None:
        event["event_seq"] = conn.execute(
            proposal_events.insert().values(**event).returning(proposal_events.c.event_seq)).scalar_one()
    else:
        # Two passes may record the same event at once (the delivery loop's reminders and a
        # synchronous pass, or two processes): both read "not seen" under the shared region lock.
        # The unique key decides; the one that loses records nothing, as if it had seen it.
        insert = _dialect_insert(conn)(proposal_events).values(**event)
        seq = conn.execute(insert.on_conflict_do_nothing(index_elements=[proposal_events.c.dedupe_key])
                           .returning(proposal_events.c.event_seq)).scalar_one_or_none()
        if seq is None:
            return None
        event["event_seq"] = seq
    webhooks.enqueue(conn, event, proposal, settings=settings)
    return event


def _dialect_insert(conn: sa.Connection) -> Any:
    """The INSERT of ``conn``'s database that has ``ON CONFLICT`` (PostgreSQL and SQLite)."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def apply(
    conn: sa.Connection,
    proposal_id: str,
    action: Action,
    actor: Principal,
    *,
    settings: Settings,
    data: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Move a proposal by ``action``; return the recorded event.

    The caller has checked that ``actor`` may see the proposal; here the state machine decides
    whether the action is allowed now, and who may take it: suppliers answer, the municipality
    withdraws.

    Raises
    ------
    IllegalTransition
        The action is not allowed from the current status (or not to this kind of caller).
    KeyError
        No such proposal.
    """
    now = now or _now()
    today = now.date()
    data = dict(data or {})
    proposal = proposal_row(conn, proposal_id)
    if proposal is None:
        raise KeyError(proposal_id)
    kind = SUPPLIER_ACTIONS if actor.role == Role.SUPPLIER else MUNICIPALITY_ACTIONS
    current = ProposalStatus(proposal["status"])
    target = TRANSITIONS[current].get(action)
    if target is None or action not in kind:
        raise IllegalTransition(proposal_id, current.value, action.value, allowed_actions(current, kind))
    values: dict[str, Any] = {"status": target.value}
    if target in (S.DECLINED, S.WITHDRAWN, S.HIRED):
        values["decided_on"] = today
    if target == S.DECLINED:
        values["decline_reason"] = data["reason"]
    # Only if the status is still the one read: two answers at once cannot both pass.
    changed = conn.execute(_proposals.update().where(
        _proposals.c.proposal_id == proposal_id, _proposals.c.status == current.value).values(**values))
    if changed.rowcount != 1:
        latest = proposal_row(conn, proposal_id) or proposal
        status = ProposalStatus(latest["status"])
        raise IllegalTransition(proposal_id, status.value, action.value, allowed_actions(status, kind))
    _follow_up(conn, proposal, current, target, data, today)
    event = record_event(conn, proposal, EVENT_TYPES[action], actor=actor, settings=settings,
                         from_status=current.value, to_status=target.value, data=data, now=now)
    assert event is not None  # no dedupe key: always recorded
    return event


def _follow_up(conn: sa.Connection, proposal: Mapping[str, Any], current: ProposalStatus,
               target: ProposalStatus, data: Mapping[str, Any], today: dt.date) -> None:
    """The placement rows and the candidate's ``placed`` flag that the follow-up reads."""
    placement_id = f"PM-{proposal['proposal_id']}"
    existing = conn.execute(sa.select(_placements).where(_placements.c.placement_id == placement_id)
                            ).mappings().first()
    candidate_id = proposal["candidate_id"]
    if target == S.INTERNSHIP:
        conn.execute(_placements.insert().values(
            placement_id=placement_id, proposal_id=proposal["proposal_id"], candidate_id=candidate_id,
            place_id=proposal["place_id"], started_on=data["start_date"], ended_on=None,
            end_reason=PlacementEnd.ONGOING.value, ended_by=None, hired_on=None, contract_type=None))
        _set_placed(conn, candidate_id)
    elif target == S.HIRED:
        start = data["start_date"]
        if existing is None:
            # Hired straight after the interview: the employment is the placement.
            conn.execute(_placements.insert().values(
                placement_id=placement_id, proposal_id=proposal["proposal_id"], candidate_id=candidate_id,
                place_id=proposal["place_id"], started_on=start, ended_on=None,
                end_reason=PlacementEnd.ONGOING.value, ended_by=None, hired_on=start,
                contract_type=data["contract_type"]))
        else:
            # The internship ends in a hire (seed 002: hire after a couple of weeks of internship).
            ended = max(existing["started_on"], start - dt.timedelta(days=1))
            conn.execute(_placements.update().where(_placements.c.placement_id == placement_id).values(
                ended_on=ended, end_reason=PlacementEnd.HIRED.value, hired_on=start,
                contract_type=data["contract_type"]))
        _set_placed(conn, candidate_id)
    elif current == S.INTERNSHIP and existing is not None:
        # An internship ended by a decline (supplier) or a withdrawal (municipality): early if before
        # the place's planned length, which the follow-up may count as a possible breach.
        months = conn.execute(sa.select(_places.c.duration_months)
                              .where(_places.c.place_id == proposal["place_id"])).scalar() or 0
        # Early if before the last day of the planned length, read as a place's period is.
        early = today < period_last_date(existing["started_on"], float(months))
        conn.execute(_placements.update().where(_placements.c.placement_id == placement_id).values(
            ended_on=max(today, existing["started_on"]),
            end_reason=(PlacementEnd.ENDED_EARLY if early else PlacementEnd.COMPLETED).value,
            ended_by=("supplier" if target == S.DECLINED else "municipality") if early else None))
        _set_placed(conn, candidate_id)


def _set_placed(conn: sa.Connection, candidate_id: str) -> None:
    """``placed`` is true while the candidate has a placement going on or was hired."""
    active = conn.execute(sa.select(sa.func.count()).select_from(_placements).where(
        _placements.c.candidate_id == candidate_id,
        sa.or_(_placements.c.ended_on.is_(None), _placements.c.hired_on.is_not(None)),
    )).scalar_one()
    conn.execute(_candidates.update().where(_candidates.c.candidate_id == candidate_id)
                 .values(placed=bool(active)))


def open_proposals_of(conn: sa.Connection, candidate_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The open proposals (open, viewed, interview, internship) of each of ``candidate_ids``."""
    ids = list(dict.fromkeys(candidate_ids))
    out: dict[str, list[dict[str, Any]]] = {c: [] for c in ids}
    for start in range(0, len(ids), _CHUNK):
        rows = conn.execute(
            sa.select(_proposals.c.proposal_id, _proposals.c.candidate_id, _proposals.c.place_id,
                      _proposals.c.status)
            .where(_proposals.c.candidate_id.in_(ids[start:start + _CHUNK]),
                   _proposals.c.status.in_([s.value for s in OPEN_PROPOSAL_STATES]))
            .order_by(_proposals.c.proposal_id))
        for row in rows.mappings():
            out[row["candidate_id"]].append(dict(row))
    return out


def find_conflicts(conn: sa.Connection, pairs: Sequence[tuple[str, str]], *,
                   allow_multiple_open: bool = False) -> list[dict[str, Any]]:
    """Why each (candidate id, place id) pair cannot be proposed now; empty when all can.

    A candidate has at most one open proposal unless ``allow_multiple_open`` (issue 5: "unless the
    unit says otherwise"), never two open ones to the same place, and a placed candidate is never
    proposed. Every pair is checked, so the caller can report all conflicts at once.

    The candidates' rows are locked (PostgreSQL; SQLite serialises writers anyway) before their
    proposals are read, so two requests proposing the same person cannot both pass the check.
    Candidates that do not exist are the caller's to refuse; here they have no conflict.
    """
    candidates = sorted({c for c, _ in pairs})
    placed: set[str] = set()
    for start in range(0, len(candidates), _CHUNK):
        rows = conn.execute(
            sa.select(_candidates.c.candidate_id, _candidates.c.placed)
            .where(_candidates.c.candidate_id.in_(candidates[start:start + _CHUNK]))
            .order_by(_candidates.c.candidate_id).with_for_update())
        placed |= {r.candidate_id for r in rows if r.placed}
    open_now = open_proposals_of(conn, candidates)
    conflicts = []
    seen: dict[str, set[str]] = {}
    for candidate_id, place_id in pairs:
        held = open_now[candidate_id]
        reason: ConflictReason | None = None
        if candidate_id in placed:
            reason = ConflictReason.PLACED
        elif place_id in {p["place_id"] for p in held}:
            reason = ConflictReason.OPEN_PROPOSAL_HERE
        elif place_id in seen.get(candidate_id, set()):
            reason = ConflictReason.TWICE_IN_REQUEST
        elif held and not allow_multiple_open:
            reason = ConflictReason.OPEN_PROPOSAL_ELSEWHERE
        elif candidate_id in seen and not allow_multiple_open:
            reason = ConflictReason.TWICE_IN_REQUEST
        seen.setdefault(candidate_id, set()).add(place_id)
        if reason is not None:
            conflicts.append({"candidate_id": candidate_id, "place_id": place_id, "reason": reason.value,
                              "open_proposals": [{k: p[k] for k in ("proposal_id", "place_id", "status")}
                                                 for p in held]})
    return conflicts


def create_proposals(
    conn: sa.Connection,
    pairs: Sequence[tuple[str, str]],
    actor: Principal,
    *,
    settings: Settings,
    allow_multiple_open: bool = False,
    now: dt.datetime | None = None,
    event_data: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    scores: Mapping[tuple[str, str], tuple[float | None, float | None]] | None = None,
) -> list[str]:
    """Propose each (candidate id, place id) pair by hand; return the new proposal ids, in ``pairs`` order.

    The caller has checked that the pairs exist and that ``actor`` may propose them. ``scores``: each
    pair's (score, outcome probability), stored with its proposal (:func:`insert_proposals`).

    Raises
    ------
    OpenProposalExists
        Some pair conflicts (:func:`find_conflicts`); every conflict is listed, nothing is written.
    """
    conflicts = find_conflicts(conn, pairs, allow_multiple_open=allow_multiple_open)
    if conflicts:
        raise OpenProposalExists(conflicts, "allow_multiple_open lets a candidate hold several")
    ids = [f"PR-{uuid.uuid4().hex[:16]}" for _ in pairs]
    data = {pid: (event_data or {})[pair] for pid, pair in zip(ids, pairs, strict=True)
            if pair in (event_data or {})}
    made_with = {pid: (scores or {})[pair] for pid, pair in zip(ids, pairs, strict=True)
                 if pair in (scores or {})}
    insert_proposals(conn, list(zip(ids, pairs, strict=True)), actor, settings=settings, now=now,
                     event_data=data, scores=made_with)
    return ids


def insert_proposals(
    conn: sa.Connection,
    proposals: Sequence[tuple[str, tuple[str, str]]],
    actor: Principal | None,
    *,
    settings: Settings,
    round_id: str | None = None,
    now: dt.datetime | None = None,
    event_data: Mapping[str, Mapping[str, Any]] | None = None,
    scores: Mapping[str, tuple[float | None, float | None]] | None = None,
) -> None:
    """Write open proposals, given as (proposal id, (candidate id, place id)), and record their creation.

    ``scores`` gives some proposals the (score, outcome probability) they were made with: stored on
    the proposal for the municipality (never in the events a supplier receives).

    No check is made here: the caller has run :func:`find_conflicts` in the same transaction (by
    hand: :func:`create_proposals`; a round's publication: ``service/routes/rounds.py``).
    ``event_data`` adds data to some proposals' ``proposal.created`` events (an override of hard
    rules: it stays in the proposal's history, never in what a supplier receives).
    """
    now = now or _now()
    made_with = scores or {}
    rows = [{"proposal_id": pid, "candidate_id": c, "place_id": p, "created_on": now.date(),
             "status": S.OPEN.value, "decided_on": None, "decline_reason": None, "round_id": round_id,
             "score": made_with.get(pid, (None, None))[0],
             "outcome_probability": made_with.get(pid, (None, None))[1]}
            for pid, (c, p) in proposals]
    for start in range(0, len(rows), 2_000):
        conn.execute(_proposals.insert(), rows[start:start + 2_000])
    proposals_created(conn, [pid for pid, _ in proposals], actor, settings=settings, now=now,
                      event_data=event_data)


def proposals_created(conn: sa.Connection, proposal_ids: Sequence[str], actor: Principal | None, *,
                      settings: Settings, now: dt.datetime | None = None,
                      event_data: Mapping[str, Mapping[str, Any]] | None = None) -> int:
    """Record the creation of proposals already written (by :func:`insert_proposals`) and queue their
    ``proposal.created`` webhooks; return how many were new.

    Idempotent per proposal: a proposal's creation is one event, however often this is called. Works
    in chunks with a few statements each, so that a round of thousands publishes quickly.
    """
    now = now or _now()
    count = 0
    for start in range(0, len(proposal_ids), 500):
        chunk = list(dict.fromkeys(proposal_ids[start:start + 500]))
        keys = {f"created:{pid}": pid for pid in chunk}
        done = {r.dedupe_key for r in conn.execute(
            sa.select(proposal_events.c.dedupe_key).where(proposal_events.c.dedupe_key.in_(list(keys))))}
        rows = conn.execute(
            sa.select(_proposals, _places.c.supplier_id)
            .join(_places, _places.c.place_id == _proposals.c.place_id)
            .where(_proposals.c.proposal_id.in_([p for k, p in keys.items() if k not in done]))
        ).mappings().all()
        by_id = {r["proposal_id"]: dict(r) for r in rows}
        events = []
        for pid in chunk:
            proposal = by_id.get(pid)
            if proposal is None:
                continue
            events.append(({
                "event_id": new_event_id(), "proposal_id": pid, "supplier_id": proposal["supplier_id"],
                "type": CREATED, "from_status": None, "to_status": proposal["status"], "at": now,
                "actor_key_id": actor.key_id if actor else None,
                "actor_role": actor.role.value if actor else "service",
                "data": {**({"round_id": proposal["round_id"]} if proposal.get("round_id") else {}),
                         **(event_data or {}).get(pid, {})},
                "dedupe_key": f"created:{pid}",
            }, proposal))
        if events:
            conn.execute(proposal_events.insert(), [e for e, _ in events])
            webhooks.enqueue_many(conn, events, settings=settings)
        count += len(events)
    return count
