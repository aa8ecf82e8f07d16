"""Which district bounds and group floors an assignment does not meet.

Below :mod:`matching.solve` and :mod:`matching.baselines`, which both report it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from matching.problem import AllocationProblem
from matching.result import DistrictViolation, FloorViolation, Violation

__all__ = ["find_violations"]


def find_violations(problem: AllocationProblem, chosen_edges: npt.NDArray[np.int64]
                    ) -> list[Violation]:
    """Every district bound and group floor that the chosen pairs do not meet.

    Parameters
    ----------
    problem
        The round.
    chosen_edges
        int64 edge indices of an assignment.

    Returns
    -------
    list
        :class:`DistrictViolation` and :class:`FloorViolation` records, districts first.
    """
    p = problem
    out: list[Violation] = []
    counts = np.bincount(p.candidate_district[p.edge_candidate[chosen_edges]],
                         minlength=p.num_districts)
    bad = np.flatnonzero((counts < p.district_lower) | (counts > p.district_upper))
    for d in bad.tolist():
        out.append(DistrictViolation(d, int(p.district_lower[d]), int(p.district_upper[d]),
                                     int(counts[d])))
    n = int(chosen_edges.size)
    groups = p.edge_groups[chosen_edges]
    for g, (pp, q) in enumerate(p.floor_fractions):
        got = int(((groups >> np.uint32(g)) & 1).sum())
        if q * got < pp * n:
            needed = -((-pp * n) // q)
            out.append(FloorViolation(g, float(p.group_floor[g]), n, got, needed))
    return out
