"""The supplier integration API: a supplier's HR system polls and answers proposals, registers
webhooks and reads (and replays) their deliveries.

Only supplier keys are admitted (an admin has no supplier to speak for). Every query is bound to the
key's ``supplier_id``: another supplier's proposal, endpoint or delivery answers 404, exactly like
one that does not exist, whatever id is guessed. No answer carries a sensitive attribute, a priority
group or an internal candidate id (``docs/integration.md``; ``tests/service/test_supplier_privacy.py``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Query, Response, status

from scoring.domain import ProposalStatus
from scoring.schema import ERASED_PREFIX, ID_PATTERN
from service import audit, privacy, store
from service.auth import Principal, Role
from service.db.tables import REGION_TABLES
from service.deps import Caller, State, get_conn, role_check
from service.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound, problem_responses
from service.integration import lifecycle, pseudonyms, sealing, webhooks
from service.integration.models import (
    Delivery,
    DeliveryPage,
    ProposalEvent,
    ProposalPage,
    RotatedSecret,
    RotateSecret,
    SupplierProposal,
    Transition,
    WebhookCreate,
    WebhookEndpoint,
    WebhookEndpointCreated,
)
from service.integration.tables import proposal_events, webhook_deliveries
from service.models import MomentQuery
from service.routes._common import PathId, StrictQueryRoute

router = APIRouter(prefix="/v1/supplier", tags=["supplier integration"], route_class=StrictQueryRoute)

_proposals = REGION_TABLES["proposals"]
_places = REGION_TABLES["places"]
_placements = REGION_TABLES["placements"]

#: A transaction that commits *before* the answer is sent, so a client that reads right after an
#: answer sees what it changed (and an idempotent retry never sees an answer that did not commit).
Conn = Annotated[sa.Connection, Depends(get_conn, scope="function")]
PageSize = Annotated[int, Query(ge=1, le=200, description="Items per page.")]
Cursor = Annotated[str | None, Query(max_length=500, description="`next_cursor` of a previous page.")]
_CLOSED = {ProposalStatus.DECLINED.value, ProposalStatus.WITHDRAWN.value}
#: What a supplier may see of an event's data.
_EVENT_DATA = ("start_date", "contract_type", "reason", "interview_on", "days_unanswered")


@role_check(frozenset({Role.SUPPLIER}))
def _supplier(caller: Caller) -> Principal:
    if caller.role != Role.SUPPLIER or not caller.supplier_id:
        raise Forbidden(f"a {caller.role.value} key may not use the supplier integration "
                        "(supplier keys only)")
    return caller


SupplierKey = Annotated[Principal, Depends(_supplier)]


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _encode_cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


#: What each member of a cursor holds: a crafted cursor is refused (422), never sent to the database.
_CURSOR_MEMBERS: dict[str, type] = {"s": int, "p": str, "t": str, "d": str}
_MAX_SEQ = 2**62


def _bad_cursor() -> InvalidInput:
    return InvalidInput("invalid cursor", [FieldError(
        location="query.cursor", type="cursor",
        message="not a cursor this service gave out (pass next_cursor unchanged)")])


def _decode_cursor(cursor: str, keys: tuple[str, ...]) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or set(data) != set(keys):
            raise ValueError("unexpected members")
        for name, value in data.items():
            kind = _CURSOR_MEMBERS[name]
            if isinstance(value, bool) or not isinstance(value, kind):  # a bool is an int to Python
                raise ValueError(f"{name} is not {kind.__name__}")
            if isinstance(value, int) and not 0 <= value < _MAX_SEQ:
                raise ValueError(f"{name} out of range")
            if isinstance(value, str) and (len(value) > 200 or not value.isprintable()):
                raise ValueError(f"{name} is not an id")
        if "t" in data:
            data["t"] = _utc(dt.datetime.fromisoformat(data["t"]))
        return data
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise _bad_cursor() from None


# -- proposals ----------------------------------------------------------------------------------


def _proposal_query(supplier_id: str) -> tuple[sa.Select[Any], sa.ColumnElement[Any]]:
    """Every proposal to the supplier's places, with the profile, placement and last change."""
    last = (sa.select(proposal_events.c.proposal_id,
                      sa.func.max(proposal_events.c.event_seq).label("seq"),
                      sa.func.max(proposal_events.c.at).label("changed_at"))
            .where(proposal_events.c.supplier_id == supplier_id)
            .group_by(proposal_events.c.proposal_id).subquery())
    placed = (sa.select(_placements.c.proposal_id,
                        sa.func.max(_placements.c.hired_on).label("hired_on"),
                        sa.func.min(_placements.c.started_on).label("started_on"),
                        sa.func.max(_placements.c.contract_type).label("contract_type"))
              .group_by(_placements.c.proposal_id).subquery())
    seq = sa.func.coalesce(last.c.seq, 0)
    query = (
        sa.select(
            _proposals.c.proposal_id, _proposals.c.place_id, _proposals.c.candidate_id, _proposals.c.status,
            _proposals.c.created_on, _proposals.c.decided_on, _proposals.c.decline_reason,
            _places.c.title.label("place_title"),
            seq.label("seq"), last.c.changed_at, placed.c.hired_on, placed.c.started_on,
            placed.c.contract_type,
        )
        .select_from(
            _proposals.join(_places, _places.c.place_id == _proposals.c.place_id)
            .outerjoin(last, last.c.proposal_id == _proposals.c.proposal_id)
            .outerjoin(placed, placed.c.proposal_id == _proposals.c.proposal_id)
        )
        .where(_places.c.supplier_id == supplier_id)
    )
    return query, seq


def _shape(row: Any, supplier_id: str, key: bytes, state: Any) -> dict[str, Any]:
    """A row as the supplier sees it: the candidate by reference, the profile only while it matters."""
    status_ = row["status"]
    # Erased people (GDPR art. 17) keep their proposals under a pseudonym, without a profile.
    erased = row["candidate_id"].startswith(ERASED_PREFIX)
    profile = None if status_ in _CLOSED or erased else privacy.supplier_profile(state, row["candidate_id"])
    changed = row["changed_at"]
    updated = _utc(changed) if changed is not None else dt.datetime.combine(row["created_on"], dt.time(),
                                                                            dt.UTC)
    return {
        "proposal_id": row["proposal_id"], "place_id": row["place_id"], "place_title": row["place_title"],
        "status": status_, "allowed_actions": lifecycle.allowed_actions(status_),
        "candidate_reference": pseudonyms.candidate_reference(key, supplier_id, row["candidate_id"]),
        "candidate": profile, "created_on": row["created_on"], "updated_at": updated,
        "decided_on": row["decided_on"], "decline_reason": row["decline_reason"],
        "start_date": row["hired_on"] or row["started_on"], "contract_type": row["contract_type"],
    }


def _one_proposal(conn: sa.Connection, caller: Principal, state: Any, proposal_id: str) -> dict[str, Any]:
    assert caller.supplier_id is not None
    query, _ = _proposal_query(caller.supplier_id)
    row = conn.execute(query.where(_proposals.c.proposal_id == proposal_id)).mappings().first()
    if row is None:
        raise NotFound(f"no proposal {proposal_id!r} that this key may see")
    key = pseudonyms.load_key(conn, state.settings.pseudonym_secret)
    return {**_shape(row, caller.supplier_id, key, state), "_candidate_id": row["candidate_id"]}


def _audit_read(state: Any, caller: Principal, resource_id: str | None, candidate_ids: list[str],
                detail: str | None = None) -> None:
    # Its own transaction: the request's reads stay a pure read transaction.
    audit.record_apart(state.writer, caller, "read", "supplier_proposal", resource_id,
                       candidate_ids=candidate_ids, detail=detail)


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}


@router.get("/proposals", summary="List this supplier's proposals, in the order they changed",
            response_model=ProposalPage, responses=problem_responses(401, 403, 422))
def list_proposals(
    caller: SupplierKey, conn: Conn, state: State, cursor: Cursor = None, limit: PageSize = 50,
    since: Annotated[MomentQuery | None, Query(
        description="Only proposals changed at or after this time (ISO 8601; UTC if no offset).")] = None,
    status_: Annotated[list[ProposalStatus] | None, Query(alias="status",
                                                          description="Only these statuses.")] = None,
) -> dict[str, Any]:
    """Poll with ``cursor`` (lossless: everything that changed after the cursor's position comes
    back), or with ``since`` (everything changed at or after a time)."""
    assert caller.supplier_id is not None
    query, seq = _proposal_query(caller.supplier_id)
    if cursor is not None:
        position = _decode_cursor(cursor, ("s", "p"))
        query = query.where(sa.or_(seq > position["s"],
                                   sa.and_(seq == position["s"], _proposals.c.proposal_id > position["p"])))
    if since is not None:
        since_utc = _utc(since)
        last_change = query.selected_columns.changed_at
        never_changed = sa.and_(last_change.is_(None), _proposals.c.created_on >= since_utc.date())
        query = query.where(sa.or_(last_change >= since_utc, never_changed))
    if status_:
        query = query.where(_proposals.c.status.in_([s.value for s in status_]))
    rows = conn.execute(query.order_by(seq, _proposals.c.proposal_id).limit(limit + 1)).mappings().all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    key = pseudonyms.load_key(conn, state.settings.pseudonym_secret)
    items = [_shape(r, caller.supplier_id, key, state) for r in rows]
    next_cursor = cursor
    if rows:
        next_cursor = _encode_cursor({"s": int(rows[-1]["seq"]), "p": rows[-1]["proposal_id"]})
    if rows:
        _audit_read(state, caller, None, [r["candidate_id"] for r in rows], detail="list")
    return {"items": items, "next_cursor": next_cursor, "has_more": has_more}


@router.get("/proposals/{proposal_id}", summary="One proposal", response_model=SupplierProposal,
            responses=problem_responses(401, 403, 404, 422))
def get_proposal(proposal_id: PathId, caller: SupplierKey, conn: Conn, state: State) -> dict[str, Any]:
    """Supplier keys only: one proposal to the supplier's places, with the candidate's profile (no id, no
    sensitive data) and the actions allowed now. Another supplier's proposal answers 404. The read is
    audited."""
    item = _one_proposal(conn, caller, state, proposal_id)
    _audit_read(state, caller, proposal_id, [item["_candidate_id"]])
    return _public(item)


_TRANSITION_EXAMPLES = {
    "view": {"summary": "Seen", "value": {"action": "view"}},
    "interview": {"summary": "Interview booked",
                  "value": {"action": "interview", "interview_on": "2026-09-10"}},
    "internship": {"summary": "Internship starts",
                   "value": {"action": "internship", "start_date": "2026-09-20"}},
    "hire": {"summary": "Hired", "value": {"action": "hire", "start_date": "2026-11-01",
                                           "contract_type": "permanent"}},
    "decline": {"summary": "Declined", "value": {"action": "decline", "reason": "competence_mismatch"}},
}


@router.post(
    "/proposals/{proposal_id}/transitions", summary="Answer a proposal: view, interview, internship, hire, "
    "decline", response_model=SupplierProposal,
    responses=problem_responses(401, 403, 404, "illegal-transition", 422),
)
def transition(
    proposal_id: PathId, caller: SupplierKey, conn: Conn, state: State,
    body: Annotated[Transition, Body(openapi_examples=_TRANSITION_EXAMPLES)],
) -> dict[str, Any]:
    """Move the proposal one step (``docs/integration.md`` has the table); answers the proposal."""
    store.lock_region(conn)  # never half in a region that a re-import is replacing
    _one_proposal(conn, caller, state, proposal_id)  # 404 unless it is this supplier's
    data = body.model_dump(exclude={"action"}, exclude_none=True)
    lifecycle.apply(conn, proposal_id, lifecycle.Action(body.action), caller, settings=state.settings,
                    data=data)
    state.request_reload()  # open proposals and placements feed shortlists and rounds
    return _public(_one_proposal(conn, caller, state, proposal_id))


@router.get("/proposals/{proposal_id}/events", summary="A proposal's history",
            response_model=list[ProposalEvent], responses=problem_responses(401, 403, 404, 422))
def list_events(proposal_id: PathId, caller: SupplierKey, conn: Conn, state: State) -> list[dict[str, Any]]:
    """Supplier keys only: every change of one of its proposals, in order, with who made it (supplier,
    municipality or service) and the data a supplier may see."""
    _one_proposal(conn, caller, state, proposal_id)
    rows = conn.execute(sa.select(proposal_events).where(
        proposal_events.c.proposal_id == proposal_id, proposal_events.c.supplier_id == caller.supplier_id)
        .order_by(proposal_events.c.event_seq)).mappings().all()
    by = {"supplier": "supplier", "service": "service"}
    return [{
        "event_id": r["event_id"], "type": r["type"], "at": _utc(r["at"]),
        "by": by.get(r["actor_role"], "municipality"), "from_status": r["from_status"],
        "to_status": r["to_status"], "data": {k: v for k, v in (r["data"] or {}).items() if k in _EVENT_DATA},
    } for r in rows]


# -- webhooks -----------------------------------------------------------------------------------


@router.post("/webhooks", summary="Register a webhook endpoint", status_code=status.HTTP_201_CREATED,
             response_model=WebhookEndpointCreated, responses=problem_responses(401, 403, 422))
def create_webhook(body: WebhookCreate, caller: SupplierKey, conn: Conn, state: State,
                   response: Response) -> dict[str, Any]:
    """The answer holds the signing secret: the only time it is shown."""
    assert caller.supplier_id is not None
    problem = webhooks.url_problem(body.url, state.settings)
    if problem is not None:
        raise InvalidInput("invalid webhook URL", [FieldError(location="body.url", message=problem,
                                                              type="url")])
    endpoint, secret = webhooks.create_endpoint(conn, caller.supplier_id, body.url, body.event_types,
                                                body.description, box=sealing.load_box(conn, state.settings))
    response.headers["Location"] = f"/v1/supplier/webhooks/{endpoint['endpoint_id']}"
    return {**endpoint, "secret": secret}


@router.get("/webhooks", summary="List webhook endpoints", response_model=list[WebhookEndpoint],
            responses=problem_responses(401, 403))
def list_webhooks(caller: SupplierKey, conn: Conn) -> list[dict[str, Any]]:
    """Supplier keys only: the supplier's registered endpoints with their active secrets' dates (never a
    secret)."""
    assert caller.supplier_id is not None
    return webhooks.list_endpoints(conn, caller.supplier_id)


def _endpoint(conn: sa.Connection, caller: Principal, endpoint_id: str) -> dict[str, Any]:
    assert caller.supplier_id is not None
    found = webhooks.get_endpoint(conn, caller.supplier_id, endpoint_id)
    if found is None:
        raise NotFound(f"no webhook endpoint {endpoint_id!r} that this key may see")
    return found


@router.get("/webhooks/{endpoint_id}", summary="One webhook endpoint", response_model=WebhookEndpoint,
            responses=problem_responses(401, 403, 404, 422))
def get_webhook(endpoint_id: PathId, caller: SupplierKey, conn: Conn) -> dict[str, Any]:
    """Supplier keys only: one of the supplier's endpoints (never its secret); another supplier's answers
    404."""
    return _endpoint(conn, caller, endpoint_id)


@router.delete("/webhooks/{endpoint_id}", summary="Delete a webhook endpoint (pending deliveries are "
               "cancelled; the log stays)", status_code=status.HTTP_204_NO_CONTENT,
               responses=problem_responses(401, 403, 404, 422))
def delete_webhook(endpoint_id: PathId, caller: SupplierKey, conn: Conn) -> Response:
    """Supplier keys only: the endpoint stops receiving; its pending deliveries are cancelled and the
    delivery log keeps them."""
    assert caller.supplier_id is not None
    if not webhooks.delete_endpoint(conn, caller.supplier_id, endpoint_id):
        raise NotFound(f"no webhook endpoint {endpoint_id!r} that this key may see")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/webhooks/{endpoint_id}/rotate-secret", summary="Rotate the signing secret without downtime",
             response_model=RotatedSecret, responses=problem_responses(401, 403, 404, 422))
def rotate_secret(endpoint_id: PathId, caller: SupplierKey, conn: Conn, state: State,
                  body: RotateSecret | None = None) -> dict[str, Any]:
    """A new secret signs from now on; the previous one keeps signing beside it for the grace period,
    so the receiver can switch whenever it is ready (it accepts a delivery if any signature verifies)."""
    _endpoint(conn, caller, endpoint_id)
    grace = body.previous_secret_expires_in_s if body and body.previous_secret_expires_in_s is not None \
        else state.settings.webhook_secret_grace_s
    box = sealing.load_box(conn, state.settings)
    secret, until = webhooks.rotate_secret(conn, endpoint_id, grace, box=box)
    return {"endpoint_id": endpoint_id, "secret": secret, "previous_secrets_expire_at": until}


# -- deliveries ---------------------------------------------------------------------------------


def _delivery_out(row: Any) -> dict[str, Any]:
    def when(value: dt.datetime | None) -> dt.datetime | None:
        return _utc(value) if value is not None else None

    return {
        "delivery_id": row["delivery_id"], "endpoint_id": row["endpoint_id"], "event_id": row["event_id"],
        "event_type": row["event_type"], "replay": row["replay_number"] > 0,
        "replay_number": row["replay_number"], "status": row["status"], "attempts": row["attempts"],
        "next_attempt_at": when(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "created_at": when(row["created_at"]), "finished_at": when(row["finished_at"]),
        "attempt_log": list(row["attempt_log"] or []), "payload": json.loads(row["body"]),
    }


@router.get("/deliveries", summary="The webhook delivery log, newest first", response_model=DeliveryPage,
            responses=problem_responses(401, 403, 422))
def list_deliveries(
    caller: SupplierKey, conn: Conn, cursor: Cursor = None, limit: PageSize = 50,
    status_: Annotated[str | None, Query(alias="status",
                                         pattern="^(pending|succeeded|failed|cancelled)$")] = None,
    event_id: Annotated[str | None, Query(max_length=100, pattern=ID_PATTERN)] = None,
    endpoint_id: Annotated[str | None, Query(max_length=100, pattern=ID_PATTERN)] = None,
) -> dict[str, Any]:
    """Supplier keys only: every delivery to the supplier's endpoints, newest first, by cursor
    (``next_cursor``); filter by ``status``, ``event_id`` or ``endpoint_id``."""
    t = webhook_deliveries
    query = sa.select(t).where(t.c.supplier_id == caller.supplier_id)
    if cursor is not None:
        position = _decode_cursor(cursor, ("t", "d"))
        at = position["t"]
        query = query.where(sa.or_(t.c.created_at < at, sa.and_(t.c.created_at == at,
                                                                  t.c.delivery_id < position["d"])))
    for column, value in (("status", status_), ("event_id", event_id), ("endpoint_id", endpoint_id)):
        if value is not None:
            query = query.where(t.c[column] == value)
    rows = conn.execute(query.order_by(t.c.created_at.desc(), t.c.delivery_id.desc()).limit(limit + 1)
                        ).mappings().all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if rows and has_more:
        next_cursor = _encode_cursor({"t": _utc(rows[-1]["created_at"]).isoformat(),
                                      "d": rows[-1]["delivery_id"]})
    return {"items": [_delivery_out(r) for r in rows], "next_cursor": next_cursor, "has_more": has_more}


@router.get("/deliveries/{delivery_id}", summary="One delivery, with its attempts and payload",
            response_model=Delivery, responses=problem_responses(401, 403, 404, 422))
def get_delivery(delivery_id: PathId, caller: SupplierKey, conn: Conn) -> dict[str, Any]:
    """Supplier keys only: one delivery with its attempts (status code, error, duration) and the event
    exactly as sent."""
    assert caller.supplier_id is not None
    row = webhooks.get_delivery(conn, caller.supplier_id, delivery_id)
    if row is None:
        raise NotFound(f"no delivery {delivery_id!r} that this key may see")
    return _delivery_out(row)


@router.post("/deliveries/{delivery_id}/replay", summary="Send a delivery's event again (same event id, "
             "marked as a replay)", status_code=status.HTTP_202_ACCEPTED, response_model=Delivery,
             responses=problem_responses(401, 403, 404, 409, 422))
def replay_delivery(delivery_id: PathId, caller: SupplierKey, conn: Conn) -> dict[str, Any]:
    """The receiver gets the same body and ``Platsa-Webhook-Id`` as the first time, with
    ``Platsa-Webhook-Replay: true``: a receiver that dedupes by event id ignores it unless it wants it."""
    assert caller.supplier_id is not None
    try:
        new = webhooks.replay(conn, caller.supplier_id, delivery_id)
    except LookupError as exc:
        raise Conflict(str(exc)) from None
    if new is None:
        raise NotFound(f"no delivery {delivery_id!r} that this key may see")
    return _delivery_out(new)
