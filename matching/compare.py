"""Compare two rounds: who moved, who was newly placed or dropped, and why the objective moved.

The one home of the comparison (issue 19): :func:`compare_placements` does the arithmetic on
positions, :func:`compare` feeds it two :class:`~matching.result.AllocationResult` objects, and
``scoring.compare_assignments`` feeds it two assignment tables by id (the service's comparison route
and pages go through that one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from matching.problem import SCORE_SCALE, AllocationProblem
from matching.result import AllocationResult

__all__ = ["RoundComparison", "compare", "compare_placements"]


def _no_ints() -> npt.NDArray[np.int64]:
    return np.zeros(0, np.int64)


def _no_floats() -> npt.NDArray[np.float64]:
    return np.zeros(0, np.float64)


@dataclass(frozen=True)
class RoundComparison:
    """What changed from round ``a`` to round ``b``.

    The objective difference decomposes exactly as
    ``from_newly_placed + from_dropped + from_moved + from_penalties``, and the change in total
    score (:attr:`score_change`) as the first three.

    Attributes
    ----------
    place_a, place_b
        int64 (N,): each candidate's place in the round, -1 when not placed.
    score_a, score_b
        float64 (N,): the score of each candidate's pair in the round (score units; 0 when not placed).
    moved, newly_placed, dropped
        int64 candidate indices, ascending: placed in both at different places; placed only in ``b``;
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
        Sum over candidates placed in both of score in ``b`` minus score in ``a`` (the candidates who
        kept their place count too: their pair's score may differ between two problems).
    from_penalties
        Change in violation penalties (penalised rounds; 0 when the objectives are the total scores).
    district_counts_a, district_counts_b
        int64 (D,): assigned per district (empty when the rounds' problems are not known).
    group_shares_a, group_shares_b
        float64 (G,): share of the assigned counting for each group (empty when not known).
    candidate_ids, place_ids
        The callers' ids of the candidate and place positions, when the comparison was made by id;
        ``None`` otherwise.
    """

    place_a: npt.NDArray[np.int64]
    place_b: npt.NDArray[np.int64]
    score_a: npt.NDArray[np.float64]
    score_b: npt.NDArray[np.float64]
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
    district_counts_a: npt.NDArray[np.int64] = field(default_factory=_no_ints)
    district_counts_b: npt.NDArray[np.int64] = field(default_factory=_no_ints)
    group_shares_a: npt.NDArray[np.float64] = field(default_factory=_no_floats)
    group_shares_b: npt.NDArray[np.float64] = field(default_factory=_no_floats)
    candidate_ids: tuple[str, ...] | None = None
    place_ids: tuple[str, ...] | None = None

    @property
    def objective_difference(self) -> float:
        """``objective_b - objective_a``."""
        return self.objective_b - self.objective_a

    @property
    def score_change(self) -> float:
        """The change in total score: ``from_newly_placed + from_dropped + from_moved``."""
        return self.from_newly_placed + self.from_dropped + self.from_moved

    def candidate_label(self, c: int) -> str:
        """Candidate ``c``'s id, or ``"candidate c"`` when compared by position."""
        return self.candidate_ids[c] if self.candidate_ids is not None else f"candidate {c}"

    def place_label(self, p: int) -> str | None:
        """Place ``p``'s id (``"place p"`` when compared by position); ``None`` for -1, no place."""
        if p < 0:
            return None
        return self.place_ids[p] if self.place_ids is not None else f"place {p}"

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
        for g in range(min(self.group_shares_a.size, self.group_shares_b.size)):
            a, b = self.group_shares_a[g], self.group_shares_b[g]
            if a != b:
                name = problem.group_name(g) if problem is not None else f"group {g}"
                lines.append(f"  {name}: {100 * a:.1f} % -> {100 * b:.1f} %")
        return "\n".join(lines)


def compare_placements(
    place_a: npt.ArrayLike,
    place_b: npt.ArrayLike,
    score_a: npt.ArrayLike,
    score_b: npt.ArrayLike,
    *,
    score_scale: float = 1.0,
    objective_a: float | None = None,
    objective_b: float | None = None,
    candidate_ids: Sequence[str] | None = None,
    place_ids: Sequence[str] | None = None,
) -> RoundComparison:
    """Compare two placements of the same candidates, position by position.

    Parameters
    ----------
    place_a, place_b
        (N,) integers: each candidate's place in round a and b, -1 (any negative) when not placed.
    score_a, score_b
        (N,) numbers: the score of each candidate's pair in the round (ignored where not placed).
        Integer scores are summed exactly before they are divided by ``score_scale``.
    score_scale
        What the scores are divided by to give score units (:data:`matching.SCORE_SCALE` for a
        problem's ``scaled_score``).
    objective_a, objective_b
        The rounds' objectives; ``None``: the total score (no penalties).
    candidate_ids, place_ids
        Optional ids of the positions, kept on the result for the caller to map back.

    Returns
    -------
    RoundComparison
        Without district counts and group shares (they need the problems: :func:`compare`).

    Raises
    ------
    ValueError
        If the four arrays do not have one length.

    Examples
    --------
    >>> cmp = compare_placements([0, -1, 1], [1, 0, 1], [5.0, 0.0, 2.0], [4.0, 3.0, 2.5])
    >>> cmp.moved.tolist(), cmp.newly_placed.tolist(), cmp.unchanged
    ([0], [1], 1)
    >>> cmp.from_newly_placed, cmp.from_moved, cmp.score_change
    (3.0, -0.5, 2.5)
    """
    ca, cb = np.asarray(place_a, np.int64), np.asarray(place_b, np.int64)
    sa, sb = np.asarray(score_a), np.asarray(score_b)
    if not ca.ndim == cb.ndim == sa.ndim == sb.ndim == 1 or len({ca.size, cb.size, sa.size, sb.size}) != 1:
        raise ValueError("place_a, place_b, score_a and score_b must be arrays of one length")
    in_a, in_b = ca >= 0, cb >= 0
    sa = np.where(in_a, sa, 0)
    sb = np.where(in_b, sb, 0)
    kept = in_a & in_b
    same = kept & (ca == cb)
    new, dropped = np.flatnonzero(~in_a & in_b), np.flatnonzero(in_a & ~in_b)
    from_new = float(sb[new].sum()) / score_scale
    from_dropped = -float(sa[dropped].sum()) / score_scale
    from_moved = float((sb[kept] - sa[kept]).sum()) / score_scale
    total_a, total_b = float(sa.sum()) / score_scale, float(sb.sum()) / score_scale
    obj_a = total_a if objective_a is None else float(objective_a)
    obj_b = total_b if objective_b is None else float(objective_b)
    return RoundComparison(
        place_a=np.where(in_a, ca, -1), place_b=np.where(in_b, cb, -1),
        score_a=sa.astype(np.float64) / score_scale, score_b=sb.astype(np.float64) / score_scale,
        moved=np.flatnonzero(kept & (ca != cb)), newly_placed=new, dropped=dropped,
        unchanged=int(same.sum()), objective_a=obj_a, objective_b=obj_b,
        from_newly_placed=from_new, from_dropped=from_dropped, from_moved=from_moved,
        # The penalties are what the objectives hold beyond the total scores.
        from_penalties=(obj_b - total_b) - (obj_a - total_a),
        candidate_ids=None if candidate_ids is None else tuple(candidate_ids),
        place_ids=None if place_ids is None else tuple(place_ids),
    )


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
        With district counts and group shares.

    Raises
    ------
    ValueError
        If the rounds (or ``problem``) do not have the same candidates.
    """
    pa, pb = result_a.problem, result_b.problem
    if problem is not None and problem.num_candidates != pa.num_candidates:
        raise ValueError("problem and result_a have different candidates")
    if pa.num_candidates != pb.num_candidates:
        raise ValueError("the two rounds have different candidates")
    base = compare_placements(
        result_a.candidate_place, result_b.candidate_place,
        _score_per_candidate(result_a), _score_per_candidate(result_b), score_scale=SCORE_SCALE,
        objective_a=result_a.objective, objective_b=result_b.objective)
    # The penalties as the results state them (their total scores are unscaled sums).
    from_penalties = -((result_b.total_score - result_b.objective)
                       - (result_a.total_score - result_a.objective))
    return replace(
        base, from_penalties=from_penalties,
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
