"""Aggregates for researchers: counts only, small cells suppressed (policy ``follow_up.min_cell_size``)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import polars as pl
from fastapi import APIRouter, Depends

from scoring.domain import priority_groups
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
    """Coordinators, researchers and admins: the number of candidates per home district and priority group.
    A cell below the policy's ``follow_up.min_cell_size`` is suppressed (its count null), so that no
    small group can be picked out."""
    policy = snapshot.policy
    minimum = policy.follow_up.min_cell_size
    cands = snapshot.region.candidates
    ref = snapshot.region.manifest.reference_date
    age = ref.year - cands.get_column("birth_year").to_numpy().astype(np.int64)
    masks = priority_groups(age=age, foreign_born=cands.get_column("foreign_born").to_numpy(),
                            disability=cands.get_column("disability").to_numpy(),
                            registered_since=cands.get_column("registered_since").to_numpy(), on=ref,
                            policy=policy)
    frame = pl.DataFrame({"district_id": cands.get_column("home_district"),
                          "all": np.ones(cands.height, bool),
                          **{g.value: m for g, m in masks.items()}})
    counts = frame.group_by("district_id").agg(pl.all().sum()).sort("district_id")
    cells = []
    for row in counts.iter_rows(named=True):
        for group in ["all", *(g.value for g in masks)]:
            n = int(row[group])
            small = n < minimum
            cells.append(AggregateCell(district_id=row["district_id"], group=group,
                                       count=None if small else n, suppressed=small))
    total = cands.height
    return Aggregates(min_cell_size=minimum, total=None if total < minimum else total, cells=cells)
