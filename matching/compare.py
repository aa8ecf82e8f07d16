"""Compare two rounds: who moved, who was newly placed or dropped, and why the objective moved."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matching.problem import SCORE_SCALE, AllocationProblem
from matching.result import AllocationResult

__all__ = ["RoundComparison", "compare"]


@dataclass(frozen=True)
class RoundComparison:
    """What changed from round ``a`` to round ``b``.

    The objective difference decomposes exactly as
    ``from_newly_placed + from_dropped + from_moved + from_penalties``.

    Attributes
    ----------
    moved, newly_placed, dropped
        int64 candidate indices: placed in both at different places; placed only in ``b``;
        placed only in ``a``.
    unchanged
        Number of candidates with the same place in both.
    objective_a, objective_b
        The rounds' objectives (score units).
    from_newly_placed
        Score of the newly placed candidates' pairs in ``b``.
    from_dropped
        Minus the score of the dropped candidates' pairs in ``a``.
    from_moved
        Sum over moved candidates of score in ``b`` minus score in ``a``.
    from_penalties
        Change in violation penalties (penalised rounds).
    district_counts_a, district_counts_b
        int64 (D,): assigned per district.
    group_shares_a, group_shares_b
        float64 (G,): share of the assigned counting for each group.
    """

    moved: npt.NDArray[np.int64]
    newly_placed: npt.NDArray[np.int64]
    dropped: npt.NDArray[np.int64]
    unchanged: int
    objective_a: float
    objective_b: float
    from_newly_placed: float
    from_dropped: float
    from_moved: float
    from_penalties: float
    district_counts_a: npt.NDArray[np.int64]
    district_counts_b: npt.NDArray[np.int64]
    group_shares_a: npt.NDArray[np.float64]
    group_shares_b: npt.NDArray[np.float64]

    @property
    def objective_difference(self) -> float:
        return self.objective_b - self.objective_a

    def describe(self, problem: AllocationProblem | None = None) -> str:
        """Plain-English summary, naming districts and groups whose numbers changed."""
        lines = [
            f"objective {self.objective_a:.3f} -> {self.objective_b:.3f} "
            f"({self.objective_difference:+.3f}): newly placed {self.newly_placed.size} "
            f"({self.from_newly_placed:+.3f}), dropped {self.dropped.size} "
            f"({self.from_dropped:+.3f}), moved {self.moved.size} ({self.from_moved:+.3f}), "
            f"penalties {self.from_penalties:+.3f}; {self.unchanged} unchanged"
        ]
        for d in np.flatnonzero(self.district_counts_a != self.district_counts_b).tolist():
            name = problem.district_name(d) if problem is not None else f"district {d}"
            lines.append(f"  {name}: {self.district_counts_a[d]} -> {self.district_counts_b[d]}")
        for g in range(self.group_shares_a.size):
            a, b = self.group_shares_a[g], self.group_shares_b[g]
            if a != b:
                name = problem.group_name(g) if problem is not None else f"group {g}"
                lines.append(f"  {name}: {100 * a:.1f} % -> {100 * b:.1f} %")
        return "\n".join(lines)


def compare(result_a: AllocationResult, result_b: AllocationResult,
            problem: AllocationProblem | None = None) -> RoundComparison:
    """Compare two results over the same candidates and places.

    Parameters
    ----------
    result_a, result_b
        The rounds (their own problems are used for scores, so the two may differ in pairs,
        bounds or floors, e.g. two policies).
    problem
        Optional; used only to check the rounds have the same candidates.

    Returns
    -------
    RoundComparison
    """
    pa, pb = result_a.problem, result_b.problem
    if problem is not None and problem.num_candidates != pa.num_candidates:
        raise ValueError("problem and result_a have different candidates")
    if pa.num_candidates != pb.num_candidates:
        raise ValueError("the two rounds have different candidates")
    ca, cb = result_a.candidate_place, result_b.candidate_place
    sa = _score_per_candidate(result_a)
    sb = _score_per_candidate(result_b)
    in_a, in_b = ca >= 0, cb >= 0
    moved = np.flatnonzero(in_a & in_b & (ca != cb))
    new = np.flatnonzero(~in_a & in_b)
    dropped = np.flatnonzero(in_a & ~in_b)
    same = in_a & in_b & (ca == cb)
    from_new = float(sb[new].sum()) / SCORE_SCALE
    from_dropped = -float(sa[dropped].sum()) / SCORE_SCALE
    from_moved = float((sb[moved] - sa[moved]).sum() + (sb[same] - sa[same]).sum()) / SCORE_SCALE
    pen_a = result_a.total_score - result_a.objective
    pen_b = result_b.total_score - result_b.objective
    return RoundComparison(
        moved=moved, newly_placed=new, dropped=dropped, unchanged=int(same.sum()),
        objective_a=result_a.objective, objective_b=result_b.objective,
        from_newly_placed=from_new, from_dropped=from_dropped, from_moved=from_moved,
        from_penalties=-(pen_b - pen_a),
        district_counts_a=_district_counts(result_a), district_counts_b=_district_counts(result_b),
        group_shares_a=_group_shares(result_a), group_shares_b=_group_shares(result_b),
    )


def _score_per_candidate(r: AllocationResult) -> npt.NDArray[np.int64]:
    p = r.problem
    s = np.zeros(p.num_candidates, np.int64)
    s[p.edge_candidate[r.chosen_edges]] = p.scaled_score[r.chosen_edges]
    return s


def _district_counts(r: AllocationResult) -> npt.NDArray[np.int64]:
    p = r.problem
    return np.bincount(p.candidate_district[p.edge_candidate[r.chosen_edges]],
                       minlength=p.num_districts).astype(np.int64)


def _group_shares(r: AllocationResult) -> npt.NDArray[np.float64]:
    p = r.problem
    n = max(int(r.chosen_edges.size), 1)
    groups = p.edge_groups[r.chosen_edges]
    return np.array([int(((groups >> np.uint32(g)) & 1).sum()) / n for g in range(p.num_groups)],
                    np.float64)
