"""Platsa's domain, features, eligibility, scores, fair ranking, rounds, metrics and follow-up.

Tables (polars) in, numbers and explanations out. The main entry points:

* :func:`load_region` / :func:`validate_region`: a region folder, validated, every problem at once;
* :func:`load_policy`: a municipality's rules (``scoring/policies/*.toml`` or your own file);
* :func:`build_pool`: the region as arrays, built once, what the service keeps in memory;
* :func:`shortlist`: a fair, explained top-k for one place;
* :func:`run_round`: an optimal, explained allocation round over the whole region;
* :mod:`scoring.metrics`: fairness and outcome metrics; :mod:`scoring.followup`: requirement status,
  key figures and the socio-economic estimate.
"""

from scoring.allocation import RoundParams, RoundResult, compare_assignments, compare_rounds, run_round
from scoring.domain import (
    Gender,
    IncomeSupport,
    PlacementType,
    PriorityGroup,
    ProcurementType,
    ProposalStatus,
    RequirementType,
    WorkLadderStep,
    is_far_from_labour_market,
    is_gender_norm_breaker,
    ladder_step_eligible,
    priority_groups,
)
from scoring.exceptions import (
    PolicyError,
    Problem,
    RegionValidationError,
    RoundSetupError,
    ScoringError,
    UnknownEntityError,
)
from scoring.fair_ranking import FairRanking, fair_minimums, fair_rerank
from scoring.policy import Policy, load_policy, procurement_qualifies
from scoring.pool import CandidatePool, PlaceTable, build_pool
from scoring.region import Region, load_region, validate_region, write_region
from scoring.score import score_pairs
from scoring.shortlist import Shortlist, shortlist

__all__ = [
    "CandidatePool",
    "FairRanking",
    "Gender",
    "IncomeSupport",
    "PlaceTable",
    "PlacementType",
    "Policy",
    "PolicyError",
    "PriorityGroup",
    "Problem",
    "ProcurementType",
    "ProposalStatus",
    "Region",
    "RegionValidationError",
    "RequirementType",
    "RoundParams",
    "RoundResult",
    "RoundSetupError",
    "ScoringError",
    "Shortlist",
    "UnknownEntityError",
    "WorkLadderStep",
    "build_pool",
    "compare_assignments",
    "compare_rounds",
    "fair_minimums",
    "fair_rerank",
    "is_far_from_labour_market",
    "is_gender_norm_breaker",
    "ladder_step_eligible",
    "load_policy",
    "load_region",
    "priority_groups",
    "procurement_qualifies",
    "run_round",
    "score_pairs",
    "shortlist",
    "validate_region",
    "write_region",
]
