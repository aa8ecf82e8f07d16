"""Planning before procuring: ``POST /v1/plan`` (``scoring.planning``; ``docs/follow-up.md``, "Planning")."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from scoring.planning import PlanAssumptions, PlannedProcurement, plan
from service.auth import Principal, Role
from service.deps import State, require
from service.errors import FieldError, InvalidInput, problem_responses
from service.routes._common import StrictQueryRoute

router = APIRouter(tags=["planning"], route_class=StrictQueryRoute)
Planner = Annotated[Principal, Depends(require(Role.COORDINATOR, Role.ORDERER))]


class Planned(BaseModel):
    """A procurement being planned, with the requirement considered."""

    model_config = ConfigDict(extra="forbid")

    procurement_id: str = Field(min_length=1, max_length=100, examples=["U-2027-01"])
    title: str = Field(min_length=1, max_length=300, examples=["Lokalvård skolor"])
    procurement_type: str = Field(max_length=40, examples=["service"])
    contract_start: dt.date = Field(examples=["2027-01-01"])
    contract_end: dt.date = Field(examples=["2028-06-30"])
    value_sek: int = Field(ge=0, examples=[4_000_000])
    executed_locally: bool = Field(examples=[True])
    staff_needed: int = Field(ge=0, examples=[12])
    requirement_type: Literal["hard", "dialogue", "none"] = Field(default="hard", examples=["hard"])
    required_places: int = Field(default=0, ge=0, le=10_000, examples=[3])


class PlanRequest(BaseModel):
    """The planned procurements, the policy to judge them by, and who the places would go to."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "policy_id": "gothenburg",
                    "social_assistance_share": 0.5,
                    "activity_support_share": 0.3,
                    "procurements": [
                        {
                            "procurement_id": "U-2027-01",
                            "title": "Lokalvård skolor",
                            "procurement_type": "service",
                            "contract_start": "2027-01-01",
                            "contract_end": "2028-06-30",
                            "value_sek": 4000000,
                            "executed_locally": True,
                            "staff_needed": 12,
                            "requirement_type": "hard",
                            "required_places": 3,
                        }
                    ],
                }
            ]
        },
    )

    policy_id: str = Field(default="gothenburg", max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    procurements: list[Planned] = Field(min_length=1, max_length=1000)
    social_assistance_share: float = Field(default=0.5, ge=0, le=1)
    activity_support_share: float = Field(default=0.3, ge=0, le=1)


class PlanAnswer(BaseModel):
    """Per procurement and per year: places, the yearly target, the effect gross and net; the assumptions."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "policy_id": "gothenburg",
                    "total_places": 3,
                    "gross_sek": 451800.0,
                    "net_sek": 158130.0,
                    "procurements": [
                        {
                            "procurement_id": "U-2027-01",
                            "title": "Lokalvård skolor",
                            "qualifies": True,
                            "reasons": ["ok: ..."],
                            "requirement_type": "hard",
                            "places": 3,
                            "contract_months": 18.0,
                            "gross_sek": 451800.0,
                            "net_sek": 158130.0,
                        }
                    ],
                    "years": [
                        {
                            "year": 2027,
                            "companies_with_requirement": 1,
                            "places": 2.0,
                            "target_places": 0.5,
                            "target_met": True,
                            "gross_sek": 301200.0,
                            "net_sek": 105420.0,
                        }
                    ],
                    "assumptions": ["Every place is filled for the whole contract and is paid work (...)"],
                }
            ]
        }
    )

    policy_id: str
    total_places: int
    gross_sek: float
    net_sek: float
    procurements: list[dict[str, Any]]
    years: list[dict[str, Any]]
    assumptions: list[str]


@router.post(
    "/v1/plan",
    summary="Before procuring: places, yearly target and socio-economic effect",
    response_model=PlanAnswer,
    responses=problem_responses(401, 403, 404, 422),
)
def plan_procurements(body: PlanRequest, caller: Planner, state: State) -> dict[str, Any]:
    """The calculation the procurement agency's guidance asks for before deciding on a requirement,
    with every assumption in words (``docs/follow-up.md``, "Planning"). Nothing is stored."""
    policy = state.policy(body.policy_id)  # 404 for an unknown one
    planned = [PlannedProcurement(**p.model_dump()) for p in body.procurements]
    try:
        result = plan(
            planned, policy, PlanAssumptions(body.social_assistance_share, body.activity_support_share)
        )
    except ValueError as exc:
        problems = str(exc).split("; ")
        raise InvalidInput(
            f"{len(problems)} problem(s)",
            [FieldError(location="body.procurements", type="value_error", message=m) for m in problems],
        ) from None
    return {
        "policy_id": policy.id,
        "total_places": result.total_places,
        "gross_sek": result.gross_sek,
        "net_sek": result.net_sek,
        "procurements": result.procurements,
        "years": result.years,
        "assumptions": list(result.assumptions),
    }
