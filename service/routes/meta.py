"""Health, the caller's key, and the region the service holds."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from service.deps import Caller, Loaded, State
from service.errors import problem_responses
from service.models import Me, RegionInfo
from service.routes._common import StrictQueryRoute

router = APIRouter(tags=["meta"], route_class=StrictQueryRoute)


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    region_loaded: bool = Field(examples=[True])
    problem: str | None = Field(
        default=None, description="Why a stored region is not loaded (only then present).",
        examples=["the stored region (version 3) names policy 'malmo', which cannot be loaded (...)"])


@router.get("/health", summary="Is the service up", response_model=Health, response_model_exclude_none=True)
def health(state: State) -> Health:
    """No key needed: whether the service is up and holds a region; ``problem`` says why a stored region is
    not loaded."""
    return Health(status="ok", region_loaded=state.snapshot is not None, problem=state.unavailable)


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


