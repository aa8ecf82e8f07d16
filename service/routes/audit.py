"""The audit log, for admins."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query

from service.db.tables import audit_log
from service.deps import Admin, Conn, State
from service.errors import problem_responses
from service.models import AuditEntry, Page
from service.routes._common import Limit, Offset, StrictQueryRoute, page

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=StrictQueryRoute)


@router.get("", summary="Who read or changed candidate data, and when", response_model=Page[AuditEntry],
            responses=problem_responses(401, 403, 422))
def list_audit(
    caller: Admin, conn: Conn, state: State, limit: Limit = 50, offset: Offset = 0,
    resource_id: Annotated[str | None,
                           Query(max_length=200, description="Only entries about this id.")] = None,
) -> Page[Any]:
    # Reads of shortlists are queued (service.audit.AuditQueue): write them first, so that the log
    # shows every read made before this request. The request's own transaction has read nothing yet,
    # so its snapshot (SQLite) starts after the flush.
    """Admins only: the audit log, newest first. Each entry says when, which key and role, the action, the
    resource and the candidate ids concerned, never a value. Queued shortlist reads are written before
    the log is read, so it shows every read made before this request."""
    state.audit.flush()
    query = sa.select(audit_log)
    if resource_id is not None:
        query = query.where(audit_log.c.resource_id == resource_id)
    return page(conn, query, audit_log.c.entry_id.desc(), limit, offset)
