"""Platsa's optimisation core: numpy arrays in, numpy arrays out.

Imports no other package of the project and nothing web- or dataframe-shaped. One entry point,
:func:`solve`, takes an :class:`AllocationProblem` (flat arrays, see :func:`build_problem`) and a
:class:`SolveParams`, and returns an :class:`AllocationResult`. See docs/allocation.md.
"""

from matching._placeable import max_placeable
from matching.certificate import Certificate, CertificateError
from matching.compare import RoundComparison, compare, compare_placements
from matching.dynamic import (
    DynamicBatch,
    DynamicParams,
    DynamicRun,
    Prices,
    YearSoFar,
    hindsight,
    lp_prices,
    place_batch,
    run_dynamic,
    run_online_greedy,
    sample_futures,
    year_violations,
)
from matching.exceptions import MatchingError, ParamsError, ProblemError, ProblemIssue, SolverError
from matching.mps import export_mps
from matching.problem import SCORE_SCALE, AllocationProblem, build_problem
from matching.result import (
    AllocationResult,
    Assignment,
    Competition,
    DistrictExcess,
    DistrictShortage,
    DistrictViolation,
    FloorShortfall,
    FloorsJointlyInfeasible,
    FloorViolation,
    JointDistrictShortage,
    Status,
    Unassigned,
    UnassignedReason,
)
from matching.solve import DEFAULT_VIOLATION_PENALTY, SolveParams, find_violations, solve

__all__ = [
    "DEFAULT_VIOLATION_PENALTY",
    "SCORE_SCALE",
    "AllocationProblem",
    "AllocationResult",
    "Assignment",
    "Certificate",
    "CertificateError",
    "Competition",
    "DistrictExcess",
    "DistrictShortage",
    "DistrictViolation",
    "DynamicBatch",
    "DynamicParams",
    "DynamicRun",
    "FloorShortfall",
    "FloorViolation",
    "FloorsJointlyInfeasible",
    "JointDistrictShortage",
    "MatchingError",
    "ParamsError",
    "Prices",
    "ProblemError",
    "ProblemIssue",
    "RoundComparison",
    "SolveParams",
    "SolverError",
    "Status",
    "Unassigned",
    "UnassignedReason",
    "YearSoFar",
    "build_problem",
    "compare",
    "compare_placements",
    "export_mps",
    "find_violations",
    "hindsight",
    "lp_prices",
    "max_placeable",
    "place_batch",
    "run_dynamic",
    "run_online_greedy",
    "sample_futures",
    "solve",
    "year_violations",
]
