"""Aggregates for researchers: counts only, with primary and complementary suppression
(policy ``follow_up.min_cell_size``; :func:`scoring.disclosure.protect_candidates`).

The cells are protected together with the pool shares the follow-up report publishes beside them
(per priority group, in no group, on work-ladder steps 1-2), so that no suppressed cell can be
recovered from the total, a district's ``all``, another group or the report (``docs/follow-up.md``,
"Small cells").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from scoring.disclosure import protect_candidates
from service.auth import Principal, Role
from service.deps import Loaded, require
from service.errors import problem_responses
from service.models import AggregateCell, Aggregates
from service.routes._common import StrictQueryRoute

router = APIRouter(prefix="/v1/aggregates", tags=["aggregates"], route_class=StrictQueryRoute)
AggregateReader = Annotated[Principal, Depends(require(Role.COORDINATOR, Role.RESEARCHER))]


@router.get("/candidates", summary="Candidates per district and priority group",
            response_model=Aggregates, responses=problem_responses(401, 403, 503))
def candidate_aggregates(caller: AggregateReader, snapshot: Loaded) -> Aggregates:
    """Per home district: all candidates and those in each priority group (on the region's reference
    date). A ``null`` count is suppressed: below the policy's minimum, or hidden as well so that a
    small one cannot be worked out from the others."""
    published = protect_candidates(snapshot.region, snapshot.policy)
    districts = sorted(snapshot.region.districts["district_id"].to_list())
    cells = []
    for district in districts:
        for group in ["all", *published.groups]:
            count = (published.value("candidates_by_district", district) if group == "all"
                     else published.value("candidates_group_district", group, district))
            cells.append(AggregateCell(district_id=district, group=group, count=count,
                                       suppressed=count is None))
    return Aggregates(min_cell_size=snapshot.policy.follow_up.min_cell_size,
                      total=published.value("candidates_total"), cells=cells)
