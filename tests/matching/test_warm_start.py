"""A solve warm-started from an earlier solve of the same round on fewer pairs (issue 20).

The re-solve after pricing starts from the earlier solve's floor prices, first core and
assignment (``SolveParams.warm_start``, ``matching/_exact/warm.py``). A start only: the result
must be what the cold solve of the same round proves (status, objective, bound, gap 0), and the
earlier assignment must come back as an assignment of the larger round. Rounds from
:mod:`tests.matching.shapes` (written apart from the solver), pruned on purpose: every candidate
keeps only some of its pairs in the earlier round.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from matching import SolveParams, Status, build_problem, solve
from tests.matching.conftest import reference_milp
from tests.matching.shapes import Shape, make_round
from tests.matching.test_properties import check_rules

CASES = [
    (Shape(150, 20, 5, "decimal", 1), 100),
    (Shape(120, 15, 8, "integer", 3, key_tolerance=0.25), 3),
    (Shape(90, 12, 6, "negative", 2, key_tolerance=0.10), 5),
    (Shape(80, 10, 9, "ties", 3, key_tolerance=0.50), 7),
    (Shape(100, 14, 7, "decimal", 0, key_tolerance=0.05), 9),
]


def _pruned(arrays: dict[str, Any], keep_share: float, seed: int) -> dict[str, Any]:
    """The same round with only a random share of its pairs (each candidate keeps its best)."""
    rng = np.random.default_rng(seed)
    cand = np.asarray(arrays["edge_candidate"])
    score = np.asarray(arrays["edge_score"], np.float64)
    keep = rng.random(cand.size) < keep_share
    order = np.lexsort((-score, cand))
    first = np.ones(cand.size, bool)
    first[1:] = cand[order][1:] != cand[order][:-1]
    keep[order[first]] = True
    out = dict(arrays)
    for name in ("edge_candidate", "edge_place", "edge_score", "edge_groups"):
        if name in arrays and arrays[name] is not None:
            out[name] = np.asarray(arrays[name])[keep]
    return out


@pytest.mark.parametrize(("shape", "seed"), CASES, ids=lambda v: v.label() if isinstance(v, Shape) else str(v))
@pytest.mark.parametrize("objective", ["score", "max_placed"])
def test_a_warm_started_resolve_proves_what_the_cold_one_does(shape: Shape, seed: int,
                                                              objective: str) -> None:
    arrays = make_round(shape, seed)
    full = build_problem(**arrays)
    small = build_problem(**_pruned(arrays, 0.5, seed))
    assert small.num_edges < full.num_edges
    params = SolveParams(objective=objective, time_limit_s=60)
    earlier = solve(small, params)
    cold = solve(full, params)
    warm = solve(full, SolveParams(objective=objective, time_limit_s=60, warm_start=earlier))
    assert warm.status == cold.status
    if cold.status == Status.INFEASIBLE:
        return
    assert cold.status == Status.OPTIMAL and warm.gap == 0
    assert warm.objective == pytest.approx(cold.objective, abs=1e-9)
    assert warm.bound == pytest.approx(cold.bound, abs=1e-9)
    assert warm.num_assigned == cold.num_assigned
    check_rules(full, warm.chosen_edges)
    assert warm.certificate is not None
    assert warm.certificate.verify(full) >= warm.objective - 1e-6
    if objective == "score":
        ref = reference_milp(full)
        assert ref.feasible and warm.objective == pytest.approx(ref.objective, abs=1e-6)
    if earlier.status == Status.OPTIMAL:
        assert warm.stats.get("warm_start") == "earlier solve"
        # The earlier optimum is an assignment of the larger round: no worse than it.
        assert warm.objective >= earlier.objective - 1e-9 or objective == "max_placed"


def test_a_warm_start_from_another_round_is_ignored() -> None:
    """Another round's result (other candidates) starts nothing and changes nothing."""
    a = build_problem(**make_round(Shape(60, 8, 5, "decimal", 1), 1))
    b = build_problem(**make_round(Shape(70, 8, 5, "decimal", 1), 2))
    other = solve(a)
    cold = solve(b)
    warm = solve(b, SolveParams(warm_start=other))
    assert warm.stats.get("warm_start") != "earlier solve"
    assert (warm.status, warm.objective, warm.bound) == (cold.status, cold.objective, cold.bound)
