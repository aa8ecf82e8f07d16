"""Health and readiness, the caller's key, and the region the service holds."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from service import changes, store
from service.deps import Caller, Loaded, State
from service.errors import problem_responses
from service.models import Me, RegionInfo
from service.routes._common import StrictQueryRoute

router = APIRouter(tags=["meta"], route_class=StrictQueryRoute)
logger = logging.getLogger(__name__)


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    region_loaded: bool = Field(examples=[True])
    problem: str | None = Field(
        default=None, description="Why a stored region is not loaded (only then present).",
        examples=["the stored region (version 3) names policy 'malmo', which cannot be loaded (...)"])


@router.get("/health", summary="Is the service up", response_model=Health, response_model_exclude_none=True)
def health(state: State) -> Health:
    """No key needed: whether the process is up (liveness) and holds a region; ``problem`` says why a stored
    region is not loaded. Whether it can serve is ``/ready``."""
    return Health(status="ok", region_loaded=state.snapshot is not None, problem=state.unavailable)


class Part(BaseModel):
    ready: bool = Field(examples=[True])
    detail: str = Field(examples=["rounds run in this process"])


class Readiness(BaseModel):
    """Whether this process can serve: each part, and all of them together."""

    ready: bool = Field(description="Every part is ready.", examples=[True])
    database: Part = Field(description="The database answers.")
    queue: Part = Field(description="Rounds can run: this process's round runner, or (with "
                                    "`PLATSA_ROUNDS=workers`) at least one worker with a fresh heartbeat.")
    snapshot: Part = Field(description="The region is loaded (or none is stored yet), and whether the "
                                       "snapshot holds every write committed so far.")
    shutting_down: bool = Field(default=False, description="The process has begun to shut down: it "
                                "finishes what it serves, and takes nothing new.", examples=[False])


def _readiness(state: Any) -> Readiness:
    stored: int | None = None
    committed: int | None = None
    try:
        with state.db.connect() as conn:
            stored = store.region_version(conn)
            committed = changes.read(conn)
        database = Part(ready=True, detail="answers")
    except Exception as exc:  # the answer says what failed; the log has the whole error
        logger.warning("readiness: the database does not answer", exc_info=True)
        database = Part(ready=False, detail=f"does not answer: {type(exc).__name__}")
    try:
        queue = Part(**state.jobs.health().model_dump()) if state.jobs is not None else Part(
            ready=False, detail="not started")
    except Exception as exc:
        logger.warning("readiness: the queue does not answer", exc_info=True)
        queue = Part(ready=False, detail=f"does not answer: {type(exc).__name__}")
    snapshot = state.snapshot
    if state.unavailable is not None:
        part = Part(ready=False, detail=state.unavailable)
    elif snapshot is None:
        part = (Part(ready=True, detail="no region imported yet") if stored == 0
                else Part(ready=False, detail="the stored region is not loaded yet"))
    elif committed is not None and snapshot.changes < committed:
        part = Part(ready=True, detail=f"region version {snapshot.version}; rebuilding for writes made "
                                       "since (answers come from the previous snapshot meanwhile)")
    else:
        part = Part(ready=True, detail=f"region version {snapshot.version}, current")
    return Readiness(ready=database.ready and queue.ready and part.ready, database=database, queue=queue,
                     snapshot=part)


@router.get("/ready", summary="Can this process serve (for a load balancer)", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "A part is not ready; each says why."}})
def ready(state: State) -> Any:
    """No key needed: 200 when the database answers, rounds can run and the region is loaded (or none
    is stored yet); 503 otherwise. The body names each part and why it is or is not ready. From the
    moment the process begins to shut down, 503 with `shutting_down` set, so that a load balancer
    sends it no new requests (`docs/deploy.md`)."""
    answer = _readiness(state)
    if state.shutting_down:
        answer.ready, answer.shutting_down = False, True
    return JSONResponse(answer.model_dump(), status_code=200 if answer.ready else 503)


@router.get("/v1/me", summary="The caller's key", response_model=Me, responses=problem_responses(401))
def me(caller: Caller) -> Me:
    """Every key: the key's id, name, role and what it is bound to (a district or a supplier)."""
    return Me(key_id=caller.key_id, name=caller.name, role=caller.role.value,
              district_id=caller.district_id, supplier_id=caller.supplier_id)


@router.get("/v1/region", summary="The region the service holds", response_model=RegionInfo,
            responses=problem_responses(401, 503))
def region_info(caller: Caller, snapshot: Loaded) -> RegionInfo:
    """Every key: the region held, its policy, reference date, version (one more per import) and the rows
    per table. 503 before any region is imported."""
    manifest = snapshot.region.manifest
    return RegionInfo(region=manifest.region, policy=manifest.policy,
                      reference_date=manifest.reference_date, version=snapshot.version,
                      counts=snapshot.region.counts())


