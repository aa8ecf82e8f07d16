"""Policies and their distribution keys: public rules, readable by every role."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from scoring.policy import Policy, policy_ids
from service.deps import Caller, State
from service.errors import problem_responses
from service.models import DistributionKeys, DistrictKey, PolicySummary
from service.routes._common import PathId, StrictQueryRoute

router = APIRouter(prefix="/v1/policies", tags=["policies"], route_class=StrictQueryRoute)


@router.get("", summary="List the policies", response_model=list[PolicySummary],
            responses=problem_responses(401))
def list_policies(caller: Caller, state: State) -> list[PolicySummary]:
    """Every key: the policies the service ships or finds in ``PLATSA_POLICY_DIR``, and which one the region
    uses (``active``)."""
    active = state.snapshot.policy.id if state.snapshot is not None else None
    out = []
    for policy_id in policy_ids(state.settings.policy_dirs):
        policy = state.policy(policy_id)
        out.append(PolicySummary(id=policy.id, name=policy.name, municipality=policy.municipality,
                                 active=policy.id == active))
    return out


@router.get("/{policy_id}", summary="One policy, every field", response_model=Policy,
            responses=problem_responses(401, 404, 422, "invalid-policy"))
def get_policy(policy_id: PathId, caller: Caller, state: State) -> Any:
    """Every key: one policy with every rule, weight, priority group, distribution key and threshold. An
    unknown id answers 404 naming the known ones."""
    return state.policy(policy_id)


@router.get("/{policy_id}/distribution-keys", summary="A policy's geographic distribution keys",
            response_model=DistributionKeys, responses=problem_responses(401, 404, 422, "invalid-policy"))
def distribution_keys(
    policy_id: PathId, caller: Caller, state: State,
    total: Annotated[int | None, Query(ge=0, le=1_000_000,
                                       description="Also give each district's bounds for this many places.")
                     ] = None,
) -> DistributionKeys:
    """Every key: the policy's share of places per district and its tolerance; with ``total``, each
    district's lower and upper bound for that many places."""
    policy = state.policy(policy_id)
    dist = policy.distribution
    bounds = dist.bounds(total) if total is not None else {}
    keys = [DistrictKey(district_id=d, share=share, lower=bounds.get(d, (None, None))[0],
                        upper=bounds.get(d, (None, None))[1]) for d, share in dist.keys.items()]
    return DistributionKeys(policy_id=policy.id, tolerance=dist.tolerance, total=total, keys=keys)
