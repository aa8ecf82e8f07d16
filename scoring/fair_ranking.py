"""Fair re-ranking of a shortlist: every prefix meets every priority group's minimum.

A labour-market unit (arbetsmarknadsenhet) asks for the top ``k`` candidates for one place.
This module turns the candidates' scores and their (overlapping) priority-group membership
into a ranked shortlist in which each group with a target minimum share is represented at
*every* prefix of the list, and says for each line why it stands where it stands.

Two layers:

* :func:`fair_minimums` is FA*IR's table m(i) for one group (Zehlike et al., "FA*IR: A Fair
  Top-k Ranking Algorithm", CIKM 2017): the minimum number of group members in the top ``i``
  for the ranking to pass a binomial test at significance ``alpha``, optionally with the
  paper's multiple-testing adjustment (the "AdjustSignificance" search for alpha_c).
* :func:`fair_rerank` meets several such tables at once, for overlapping groups, with an
  exact feasibility search over *membership patterns*; the design and its proof are in
  ``docs/fair_ranking.md``.

Everything here is array-in, array-out (numpy); the pool is only touched by vectorised
numpy calls (:func:`select_candidates`), the Python-level work is on a candidate set of at
most ``k`` candidates per membership pattern.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import binom

__all__ = [
    "ByScore",
    "FairRanking",
    "MovedUp",
    "Reason",
    "Shortfall",
    "fair_minimums",
    "fair_rerank",
    "select_candidates",
]

# A search for alpha_c stops when the bracket is narrower than this (fairsearchcore uses 1e-16).
_ALPHA_EPS = 1e-16
# Membership patterns are bit masks; 8 groups give 256 patterns, far above the 3-4 in use.
_MAX_GROUPS = 8


# --------------------------------------------------------------------------------------
# FA*IR minimum tables (Zehlike et al., CIKM 2017)
# --------------------------------------------------------------------------------------


def _unadjusted_table(k: int, p: float, alpha: float) -> np.ndarray:
    # Paper, Sec. 4 "ranked group fairness": m_{alpha,p}(i) = F^{-1}(alpha; i, p), the inverse
    # binomial CDF; scipy's ppf is the smallest x with CDF(x) >= alpha, and alpha = 0 gives -1,
    # which means "no requirement".
    table = binom.ppf(alpha, np.arange(1, k + 1), p)
    return np.maximum(np.nan_to_num(table, nan=0.0), 0.0).astype(np.int64)


def _fail_probability(table: np.ndarray, p: float) -> float:
    """Probability that a ranking drawn with i.i.d. Bernoulli(p) membership fails any prefix.

    Exact dynamic programme over the number of members so far: states below m(i) at prefix i
    are failures and are dropped; what survives all prefixes is the success probability.
    """
    k = len(table)
    dist = np.zeros(k + 1)
    dist[0] = 1.0
    for i in range(k):
        nxt = dist * (1.0 - p)
        nxt[1:] += dist[:-1] * p
        nxt[: table[i]] = 0.0
        dist = nxt
    return float(1.0 - dist.sum())


@dataclass(frozen=True, slots=True)
class _Boundary:
    alpha: float
    table: np.ndarray
    fail: float

    @property
    def mass(self) -> int:
        return int(self.table.sum())


def _adjusted_table(k: int, p: float, alpha: float) -> np.ndarray:
    # Paper, Sec. 5.2, Algorithm 2 "AdjustSignificance", as realised in the fairsearchcore
    # reference: a bisection on alpha_c in [0, alpha] over the tables it produces (each table
    # is a step function, so several alpha_c give the same table), stopping once the two
    # bracketing tables differ by one protected candidate in total (or the bracket is ~0),
    # and returning the table whose overall fail probability is closest to alpha.  Closest,
    # not "at most": the published tables (e.g. k=20, p=0.25, alpha=0.1, fail 0.105) do this.
    def boundary(a: float) -> _Boundary:
        table = _unadjusted_table(k, p, a)
        return _Boundary(a, table, _fail_probability(table, p))

    def closest(*bounds: _Boundary) -> _Boundary:
        # min() keeps the first of equals: the order given is the reference's tie order.
        return min(bounds, key=lambda b: abs(b.fail - alpha))

    low, high = boundary(0.0), boundary(alpha)
    mid = boundary(alpha / 2.0)
    while low.mass < high.mass and mid.fail != alpha:
        if mid.fail < alpha:
            low = mid
        elif mid.fail > alpha:
            high = mid
        mid = boundary((low.alpha + high.alpha) / 2.0)
        if high.mass - low.mass == 1 or high.alpha - low.alpha <= _ALPHA_EPS:
            return closest(low, high).table
        if high.mass - mid.mass == 1 and mid.mass - low.mass == 1:
            return closest(mid, low, high).table
    return mid.table


@lru_cache(maxsize=256)
def _cached_minimums(k: int, p: float, alpha: float, adjust: bool) -> np.ndarray:
    table = _adjusted_table(k, p, alpha) if adjust else _unadjusted_table(k, p, alpha)
    table.flags.writeable = False  # shared through the cache: nobody may change it
    return table


def fair_minimums(k: int, p: float, alpha: float = 0.1, *, adjust: bool = True) -> np.ndarray:
    """FA*IR's table of minimum group members per prefix of a top-``k`` ranking.

    Entry ``i - 1`` is m(i), the least number of group members that the top ``i`` must hold
    for the ranking to pass the ranked group fairness test of Zehlike et al. (CIKM 2017):
    the inverse binomial CDF at ``alpha`` for ``i`` trials with success probability ``p``.
    With ``adjust=True`` the significance is first corrected for testing ``k`` prefixes
    (the paper's AdjustSignificance), so that a ranking drawn fairly at share ``p`` fails
    *some* prefix with probability close to ``alpha``; the tables equal the published ones
    of the fairsearchcore reference. Results are cached per ``(k, p, alpha, adjust)``.

    Parameters
    ----------
    k
        Length of the ranking, at least 1.
    p
        Target minimum share of the group, in [0, 1). ``0`` means no requirement.
    alpha
        Significance level, in (0, 1).
    adjust
        Apply the multiple-testing adjustment of the significance.

    Returns
    -------
    numpy.ndarray
        Read-only int64 array of shape (k,), nondecreasing, rising by at most 1 per prefix.

    Raises
    ------
    ValueError
        If ``k``, ``p`` or ``alpha`` is out of range.

    Examples
    --------
    >>> fair_minimums(10, 0.2, 0.15, adjust=False).tolist()
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    >>> fair_minimums(20, 0.25, 0.1).tolist()[-6:]
    [1, 2, 2, 2, 2, 2]
    """
    problems = []
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        problems.append(f"k={k!r}: must be an integer >= 1")
    if not 0.0 <= p < 1.0:
        problems.append(f"p={p!r}: must be in [0, 1)")
    if not 0.0 < alpha < 1.0:
        problems.append(f"alpha={alpha!r}: must be in (0, 1)")
    if problems:
        raise ValueError("; ".join(problems))
    if p == 0.0:
        zeros = np.zeros(int(k), dtype=np.int64)
        zeros.flags.writeable = False
        return zeros
    return _cached_minimums(int(k), float(p), float(alpha), bool(adjust))


# --------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ByScore:
    """The line stands where its score puts it: it is the best-scored candidate left."""

    score: float

    def describe(self) -> str:
        """Plain-English reason, e.g. ``"ranked by score (0.91)"``."""
        return f"ranked by score ({self.score:.3g})"


@dataclass(frozen=True, slots=True)
class MovedUp:
    """The line was placed ahead of better-scored candidates to meet a group minimum.

    ``rank`` is the first rank (1-based) at which ``group``'s minimum needs one more member
    than the list above this line holds; ``ahead_of`` is the input index of the best-scored
    candidate that this line was placed ahead of.
    """

    group: str
    rank: int
    score: float
    ahead_of: int

    def describe(self) -> str:
        """Plain-English reason, e.g. ``"moved up to meet the youth minimum at rank 4"``."""
        return f"moved up to meet the {self.group} minimum at rank {self.rank}"


Reason = ByScore | MovedUp


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A minimum that the pool cannot meet: reported, never hidden.

    ``needed`` is the FA*IR minimum of ``group`` in the top ``rank``; ``available`` is the most
    members of the group that the top ``rank`` can hold under the shortage rule of
    :func:`fair_rerank` (and what the returned list does hold there).
    """

    group: str
    rank: int
    needed: int
    available: int

    def describe(self) -> str:
        """Plain-English report of the shortage."""
        return (
            f"the {self.group} minimum at rank {self.rank} needs {self.needed} "
            f"but the pool allows only {self.available}"
        )


@dataclass(frozen=True, slots=True)
class FairRanking:
    """A fair shortlist with the reason for each line.

    Attributes
    ----------
    order
        Input indices of the shortlist, best first; length ``min(k, n)``.
    reasons
        One :class:`ByScore` or :class:`MovedUp` per line of ``order``.
    minimums
        (G, k) FA*IR minimums per group and prefix (row of zeros for a group without a share).
    enforced
        (G, len(order)) minimums actually met: equal to ``minimums`` where the pool allows
        them, lower exactly where ``shortfalls`` says so.
    shortfalls
        Every (group, rank) whose minimum the pool cannot meet.
    satisfied
        True when there is no shortfall.
    """

    order: np.ndarray
    reasons: tuple[Reason, ...]
    minimums: np.ndarray
    enforced: np.ndarray
    shortfalls: tuple[Shortfall, ...]
    satisfied: bool

    def describe(self) -> list[str]:
        """One plain-English line per rank, then one per shortfall."""
        lines = [
            f"{rank}. candidate {int(index)}: {reason.describe()}"
            for rank, (index, reason) in enumerate(zip(self.order, self.reasons, strict=True), 1)
        ]
        lines.extend(shortfall.describe() for shortfall in self.shortfalls)
        return lines


# --------------------------------------------------------------------------------------
# Candidate set: the top of each membership pattern
# --------------------------------------------------------------------------------------


def _pattern_codes(groups: np.ndarray) -> np.ndarray:
    # One uint8 bit mask per row: bit g set when the row belongs to group g. A shift-or per
    # column is ~5x faster than np.packbits(axis=1) on a (1M, 4) pool.
    codes = np.zeros(groups.shape[0], dtype=np.uint8)
    for g in range(groups.shape[1]):
        codes |= groups[:, g].view(np.uint8) << np.uint8(g)
    return codes


def _top_of(scores: np.ndarray, members: np.ndarray, limit: int) -> np.ndarray:
    """The ``limit`` best of ``members`` (ascending input indices) by score, ties to lower index."""
    if len(members) <= limit:
        return members
    values = scores[members]
    threshold = np.partition(values, len(values) - limit)[len(values) - limit]
    above = members[values > threshold]
    tied = members[values == threshold][: limit - len(above)]
    return np.concatenate([above, tied])


def select_candidates(scores: np.ndarray, groups: np.ndarray, *, k: int) -> np.ndarray:
    """Input indices of the top ``k`` of every membership pattern: all a fair top-k can use.

    Candidates with the same pattern (the same set of groups) are interchangeable for every
    minimum, so a ranking chosen "best score first, unless a minimum forbids it" never takes
    a candidate while a better-scored one of the same pattern is left; it takes at most ``k``
    of a pattern, so only the top ``k`` of each pattern can appear. Vectorised over the pool:
    one pass to code the patterns, one radix sort of the codes and a partition per pattern.

    Parameters
    ----------
    scores
        (n,) finite scores, higher is better.
    groups
        (n, G) bool membership, G <= 8.
    k
        Shortlist length.

    Returns
    -------
    numpy.ndarray
        Sorted int64 input indices, at most ``k * 2**G``.

    Examples
    --------
    >>> scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    >>> groups = np.array([[0], [0], [1], [0], [1]], dtype=bool)
    >>> select_candidates(scores, groups, k=1).tolist()
    [0, 2]
    """
    codes = _pattern_codes(np.asarray(groups, dtype=bool))
    # kind="stable" is a radix sort for uint8: O(n), and members stay in ascending index order.
    by_code = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[by_code], np.arange(257), side="left")
    chosen = [
        _top_of(scores, by_code[bounds[code] : bounds[code + 1]], k)
        for code in range(256)
        if bounds[code + 1] > bounds[code]
    ]
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64, copy=False)


# --------------------------------------------------------------------------------------
# Exact feasibility over membership patterns
# --------------------------------------------------------------------------------------


def _popcount(mask: int) -> int:
    return bin(mask).count("1")


class _Completion:
    """Exact answer to "can the list from here on still meet every minimum?".

    A state is how many candidates of each pattern the list has used (the counts per group
    and the length follow from it). A completion is a sequence of patterns for the remaining
    positions, within the patterns' availability, whose prefix counts meet ``req``. The search
    is a depth-first search with memoised dead states and two exact prunes (docs/fair_ranking.md):
    a group with zero slack must be in the next pattern, and a pattern whose needed groups are
    a subset of an already failed pattern's needed groups fails too (dominance exchange).
    """

    def __init__(self, req: list[list[int]], avail: list[int], length: int) -> None:
        self.req = req
        self.avail = avail
        self.length = length
        self.num_groups = len(req)
        num_patterns = len(avail)
        self.pattern_groups = [
            tuple(g for g in range(self.num_groups) if pattern >> g & 1)
            for pattern in range(num_patterns)
        ]
        self.need_max = [row[length - 1] if length else 0 for row in req]
        # slack_floor[g][t] = max over later prefixes i > t of req[g][i-1] - i: with c members
        # after t lines, c - t < slack_floor means even g-members only cannot catch up.
        self.slack_floor = []
        for row in req:
            floor = [-math.inf] * (length + 1)
            for t in range(length - 1, -1, -1):
                floor[t] = max(floor[t + 1], row[t] - (t + 1))
            self.slack_floor.append(floor)
        # After the horizon no minimum rises any more: the rest of the list is free.
        self.horizon = 0
        for row in req:
            top = row[length - 1] if length else 0
            if top > 0:
                self.horizon = max(self.horizon, row.index(top) + 1)
        self.dead: set[tuple[int, ...]] = set()
        self.patterns_with = [
            [p for p in range(num_patterns) if p >> g & 1] for g in range(self.num_groups)
        ]
        self._preferences: dict[int, list[int]] = {}

    def _preference(self, needy: int) -> list[int]:
        # Patterns covering more of the groups still in need first: a heuristic for speed
        # only (exactness comes from trying every pattern not dominated by a failed one).
        order = self._preferences.get(needy)
        if order is None:
            order = sorted(range(len(self.avail)), key=lambda p: (-_popcount(p & needy), p))
            self._preferences[needy] = order
        return order

    def counts_of(self, usage: list[int]) -> list[int]:
        counts = [0] * self.num_groups
        for pattern, used in enumerate(usage):
            for g in self.pattern_groups[pattern]:
                counts[g] += used
        return counts

    def fits(self, counts: list[int], t: int, pattern: int) -> bool:
        """Does appending ``pattern`` as line ``t + 1`` meet every minimum of that prefix?"""
        groups = self.pattern_groups[pattern]
        return all(
            counts[g] + (g in groups) >= self.req[g][t] for g in range(self.num_groups)
        )

    def plan_is_valid(
        self, counts: list[int], t: int, plan: Sequence[int], stop: int | None = None
    ) -> bool:
        """Do lines t+1.. of ``plan`` meet every minimum (checking the first ``stop`` only)?"""
        counts = counts.copy()
        req = self.req
        end = min(len(plan), self.horizon - t)
        if stop is not None:
            end = min(end, stop)
        for offset in range(end):
            for g in self.pattern_groups[plan[offset]]:
                counts[g] += 1
            position = t + offset
            for g, row in enumerate(req):
                if counts[g] < row[position]:
                    return False
        return True

    def complete(self, usage: list[int], t: int) -> list[int] | None:
        """A completion (patterns for lines t+1..length) from ``usage``, or None if none exists."""
        return self._search(usage, self.counts_of(usage), t)

    def _pad(self, usage: list[int], t: int) -> list[int]:
        plan: list[int] = []
        for pattern, total in enumerate(self.avail):
            spare = min(total - usage[pattern], self.length - t - len(plan))
            plan.extend([pattern] * spare)
        return plan

    def _search(self, usage: list[int], counts: list[int], t: int) -> list[int] | None:
        if t >= self.horizon:
            return self._pad(usage, t)
        key = tuple(usage)
        if key in self.dead:
            return None
        needy = 0
        tight = 0
        avail = self.avail
        for g in range(self.num_groups):
            slack = counts[g] - t - self.slack_floor[g][t]
            if slack < 0:
                self.dead.add(key)
                return None
            if counts[g] < self.need_max[g]:
                left = 0
                for p in self.patterns_with[g]:
                    left += avail[p] - usage[p]
                if counts[g] + left < self.need_max[g]:
                    self.dead.add(key)
                    return None
                needy |= 1 << g
            if slack == 0:
                tight |= 1 << g
        failed: list[int] = []
        for pattern in self._preference(needy):
            if usage[pattern] >= avail[pattern] or pattern & tight != tight:
                continue  # none left, or misses a group that must be in the next line
            useful = pattern & needy
            if any(useful & ~bad == 0 for bad in failed):
                continue  # dominated by a pattern that already failed
            if self.fits(counts, t, pattern):
                usage[pattern] += 1
                for g in self.pattern_groups[pattern]:
                    counts[g] += 1
                rest = self._search(usage, counts, t + 1)
                usage[pattern] -= 1
                for g in self.pattern_groups[pattern]:
                    counts[g] -= 1
                if rest is not None:
                    return [pattern, *rest]
            failed.append(useful)
        self.dead.add(key)
        return None


def _relax(
    minimums: np.ndarray, avail: list[int], members_per_group: np.ndarray, length: int
) -> np.ndarray:
    """The largest minimums the pool allows, decided rank by rank, then group by group.

    Rule (docs/fair_ranking.md): first cap each group at its members in the pool; if the
    groups together still cannot be met, go through the prefixes i = 1..length and, within a
    prefix, the groups in input order, and keep for each the largest minimum that is feasible
    together with everything decided before it (prefixes after i are not yet constrained).
    """
    capped = np.minimum(minimums[:, :length], members_per_group[:, None]).astype(np.int64)
    if _Completion(capped.tolist(), avail, length).complete([0] * len(avail), 0) is not None:
        return capped
    num_groups = capped.shape[0]
    relaxed = np.zeros_like(capped)
    for i in range(length):
        previous = relaxed[:, i - 1] if i else np.zeros(num_groups, dtype=np.int64)
        relaxed[:, i:] = previous[:, None]
        for g in range(num_groups):
            # Keeping the previous prefix's minimum is always feasible (counts only grow).
            for value in range(int(capped[g, i]), int(previous[g]), -1):
                relaxed[g, i:] = value
                check = _Completion(relaxed.tolist(), avail, length)
                if check.complete([0] * len(avail), 0) is not None:
                    break
            else:
                relaxed[g, i:] = previous[g]
    return relaxed


# --------------------------------------------------------------------------------------
# The re-ranking
# --------------------------------------------------------------------------------------


def _validate(
    scores: np.ndarray,
    groups: np.ndarray,
    k: int,
    min_shares: np.ndarray | None,
    minimums: np.ndarray | None,
    alpha: float,
    group_names: Sequence[str] | None,
    candidates: np.ndarray | None,
) -> None:
    problems = []
    if scores.ndim != 1:
        problems.append(f"scores: shape {scores.shape}, expected (n,)")
    elif candidates is not None and (
        candidates.ndim != 1 or np.any((candidates < 0) | (candidates >= len(scores)))
    ):
        problems.append("candidates: must be a 1-d array of indices into scores")
    # Given candidates, only their scores are read: the caller vouches for the rest.
    elif not np.all(np.isfinite(scores if candidates is None else scores[candidates])):
        problems.append("scores: contains NaN or infinite values")
    if groups.ndim != 2 or groups.shape[0] != scores.shape[0]:
        problems.append(f"groups: shape {groups.shape}, expected (n, G) with n={len(scores)}")
    elif groups.shape[1] > _MAX_GROUPS:
        problems.append(f"groups: {groups.shape[1]} groups, at most {_MAX_GROUPS} supported")
    num_groups = groups.shape[1] if groups.ndim == 2 else -1
    k_ok = not isinstance(k, bool) and isinstance(k, int | np.integer) and k >= 1
    if not k_ok:
        problems.append(f"k={k!r}: must be an integer >= 1")
    if (min_shares is None) == (minimums is None):
        problems.append("give exactly one of min_shares and minimums")
    if min_shares is not None:
        if min_shares.shape != (num_groups,):
            problems.append(f"min_shares: shape {min_shares.shape}, expected ({num_groups},)")
        elif not np.all(np.isfinite(min_shares)) or np.any((min_shares < 0) | (min_shares >= 1)):
            problems.append(f"min_shares: {min_shares.tolist()}, each must be in [0, 1)")
    if minimums is not None and k_ok:
        if minimums.shape != (num_groups, k):
            problems.append(f"minimums: shape {minimums.shape}, expected ({num_groups}, {k})")
        elif np.any(minimums < 0) or np.any(np.diff(minimums, axis=1) < 0):
            problems.append("minimums: must be >= 0 and nondecreasing along the prefixes")
        elif np.any(minimums > np.arange(1, k + 1)):
            problems.append("minimums: the top i cannot hold more than i members")
    if not 0.0 < alpha < 1.0:
        problems.append(f"alpha={alpha!r}: must be in (0, 1)")
    if group_names is not None and len(group_names) != num_groups:
        problems.append(f"group_names: {len(group_names)} names for {num_groups} groups")
    if problems:
        raise ValueError("invalid fair_rerank input: " + "; ".join(problems))


def fair_rerank(
    scores: np.ndarray,
    groups: np.ndarray,
    *,
    k: int,
    min_shares: np.ndarray | None = None,
    alpha: float = 0.1,
    adjust: bool = True,
    group_names: Sequence[str] | None = None,
    candidates: np.ndarray | None = None,
    minimums: np.ndarray | None = None,
) -> FairRanking:
    """Rank the top ``k`` by score so that every prefix meets every group's FA*IR minimum.

    Each group ``g`` with ``min_shares[g] > 0`` gets the table
    ``fair_minimums(k, min_shares[g], alpha, adjust=adjust)``. Line by line, the list takes
    the best-scored candidate left (ties: lower input index) whose placement still lets
    *some* continuation meet every minimum of every group; feasibility is decided exactly by
    a search over membership patterns, so overlapping groups (one person counting for
    several) are handled, and the list meets every minimum whenever any ranking of the pool
    does (proof in ``docs/fair_ranking.md``). When the pool cannot, the largest minimums it
    allows are met (decided prefix by prefix, then in group order) and every (group, rank)
    left short is reported in ``shortfalls``.

    Parameters
    ----------
    scores
        (n,) finite match scores, higher is better.
    groups
        (n, G) bool priority-group membership; rows may belong to several groups.
    k
        Shortlist length; the list has ``min(k, n)`` lines.
    min_shares
        (G,) target minimum share per group; 0 means no requirement. Exactly one of
        ``min_shares`` and ``minimums`` is given.
    alpha
        FA*IR significance level.
    adjust
        Apply FA*IR's multiple-testing adjustment to the tables.
    group_names
        G names for the explanations; default ``"group 0"``, ``"group 1"``, ...
    candidates
        Optional input indices to which the search is limited; they must contain the top
        ``k`` of each membership pattern (:func:`select_candidates` gives them). Default:
        computed here, in vectorised numpy over the pool.
    minimums
        (G, k) explicit minimum members per group and prefix, instead of FA*IR tables from
        ``min_shares`` (e.g. a hard requirement: "2 youth in the top 5"); nondecreasing.

    Returns
    -------
    FairRanking
        The order, a reason per line, the tables, and the shortfalls.

    Raises
    ------
    ValueError
        Listing every problem with the input at once.

    Examples
    --------
    Six candidates, the youth (column 0) need a 50 % share, so FA*IR asks for one youth in
    the top 4; the best-scored youth is moved up to rank 4:

    >>> scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    >>> youth = np.array([[0], [0], [0], [0], [1], [1]], dtype=bool)
    >>> ranking = fair_rerank(scores, youth, k=4, min_shares=np.array([0.5]),
    ...                       adjust=False, group_names=["youth"])
    >>> ranking.order.tolist()
    [0, 1, 2, 4]
    >>> ranking.reasons[3].describe()
    'moved up to meet the youth minimum at rank 4'
    >>> ranking.minimums.tolist(), ranking.satisfied
    ([[0, 0, 0, 1]], True)
    """
    scores = np.asarray(scores, dtype=np.float64)
    groups = np.asarray(groups, dtype=bool)
    shares = None if min_shares is None else np.asarray(min_shares, dtype=np.float64)
    explicit = None if minimums is None else np.asarray(minimums, dtype=np.int64)
    given = None if candidates is None else np.asarray(candidates, dtype=np.int64)
    _validate(scores, groups, k, shares, explicit, alpha, group_names, given)
    k = int(k)
    n, num_groups = groups.shape
    names = list(group_names) if group_names is not None else [
        f"group {g}" for g in range(num_groups)
    ]
    length = min(k, n)

    if explicit is not None:
        minimums = explicit.copy()
    else:
        assert shares is not None
        minimums = np.zeros((num_groups, k), dtype=np.int64)
        for g in range(num_groups):
            minimums[g] = fair_minimums(k, float(shares[g]), alpha, adjust=adjust)
    # Only groups with a minimum above zero somewhere in the list shape the search.
    active = [g for g in range(num_groups) if length and minimums[g, length - 1] > 0]

    pool = given if given is not None else select_candidates(scores, groups[:, active], k=length)
    codes = _pattern_codes(groups[pool][:, active]).astype(np.int64)
    num_patterns = 1 << len(active)
    # Members of each pattern, best first (score descending, then input index ascending).
    by_rank = np.lexsort((pool, -scores[pool]))
    members: list[list[int]] = [[] for _ in range(num_patterns)]
    for position in by_rank.tolist():
        members[int(codes[position])].append(int(pool[position]))
    avail = [min(len(m), length) for m in members]

    # The candidate set holds min(members, k) of every group, which is all the cap needs.
    member_counts = np.array(
        [sum(len(members[p]) for p in range(num_patterns) if p >> a & 1)
         for a in range(len(active))],
        dtype=np.int64,
    )
    target = minimums[active, :length]
    if active:
        enforced_active = _relax(target, avail, member_counts, length)
    else:
        enforced_active = np.zeros((0, length), dtype=np.int64)

    order, reasons = _greedy(
        scores, members, avail, enforced_active, length, [names[g] for g in active]
    )

    enforced = minimums[:, :length].copy()
    enforced[active] = enforced_active
    shortfalls = tuple(
        Shortfall(names[g], i + 1, int(minimums[g, i]), int(enforced[g, i]))
        for g in active
        for i in range(length)
        if enforced[g, i] < minimums[g, i]
    )
    order_array = np.asarray(order, dtype=np.int64)
    for array in (order_array, minimums, enforced):
        array.flags.writeable = False
    return FairRanking(
        order=order_array,
        reasons=tuple(reasons),
        minimums=minimums,
        enforced=enforced,
        shortfalls=shortfalls,
        satisfied=not shortfalls,
    )


def _greedy(
    scores: np.ndarray,
    members: list[list[int]],
    avail: list[int],
    req: np.ndarray,
    length: int,
    names: list[str],
) -> tuple[list[int], list[Reason]]:
    """Best score first, unless no continuation could then meet ``req`` (which is feasible)."""
    num_patterns = len(members)
    completion = _Completion(req.tolist(), avail, length)
    usage = [0] * num_patterns
    counts = [0] * completion.num_groups
    plan = completion.complete(usage, 0)
    assert plan is not None, "req comes from _relax and is feasible"
    order: list[int] = []
    reasons: list[Reason] = []
    for t in range(length):
        heads = sorted(
            (-scores[members[p][usage[p]]], members[p][usage[p]], p)
            for p in range(num_patterns)
            if usage[p] < avail[p]
        )
        needy = sum(
            1 << g for g in range(completion.num_groups) if counts[g] < completion.need_max[g]
        )
        failed: list[int] = []
        chosen = -1
        for _, _, pattern in heads:
            useful = pattern & needy
            if any(useful & ~bad == 0 for bad in failed):
                continue  # a dominating pattern already failed: this one cannot do better
            new_plan = _reuse_plan(completion, counts, t, plan, pattern)
            if new_plan is None and completion.fits(counts, t, pattern):
                usage[pattern] += 1
                new_plan = completion.complete(usage, t + 1)
                usage[pattern] -= 1
            if new_plan is not None:
                chosen, plan = pattern, new_plan
                break
            failed.append(useful)
        assert chosen >= 0, "a feasible state always has a feasible next pattern"
        index = members[chosen][usage[chosen]]
        best_pattern = heads[0][2]
        if chosen == best_pattern:
            reasons.append(ByScore(float(scores[index])))
        else:
            reasons.append(
                _moved_up_reason(completion, counts, t, chosen, best_pattern, names,
                                 float(scores[index]), heads[0][1])
            )
        order.append(index)
        usage[chosen] += 1
        for g in completion.pattern_groups[chosen]:
            counts[g] += 1
    return order, reasons


def _reuse_plan(
    completion: _Completion, counts: list[int], t: int, plan: list[int], pattern: int
) -> list[int] | None:
    """Cheap witness: the current plan with ``pattern`` pulled to the front, if still valid."""
    if plan and plan[0] == pattern:
        return plan[1:]
    stop: int | None
    if pattern in plan:
        stop = plan.index(pattern)
        rest = plan[:stop] + plan[stop + 1 :]
    else:
        # Pattern unused by the plan: it takes the place of the plan's last line.
        stop = None
        rest = plan[:-1]
    if not completion.fits(counts, t, pattern):
        return None
    counts_after = counts.copy()
    for g in completion.pattern_groups[pattern]:
        counts_after[g] += 1
    # With the pattern taken from offset ``at``, prefixes from there on hold the same lines
    # as in the (valid) plan: only the ones before it need checking.
    return rest if completion.plan_is_valid(counts_after, t + 1, rest, stop) else None


def _moved_up_reason(
    completion: _Completion, counts: list[int], t: int, chosen: int, best: int,
    names: list[str], score: float, ahead_of: int,
) -> MovedUp:
    # The chosen pattern brings some group the best-scored one lacks (else the best one,
    # dominating it, would have been feasible); name the one whose next unmet minimum is
    # nearest, and that minimum's rank.
    nearest: tuple[int, int] | None = None
    for g in completion.pattern_groups[chosen]:
        if best >> g & 1:
            continue
        row = completion.req[g]
        rank = next((i + 1 for i in range(t, completion.length) if row[i] > counts[g]), None)
        if rank is not None and (nearest is None or rank < nearest[0]):
            nearest = (rank, g)
    if nearest is None:  # not reachable by the argument above; stay truthful if it were
        g = next(g for g in completion.pattern_groups[chosen] if not best >> g & 1)
        nearest = (t + 1, g)
    return MovedUp(group=names[nearest[1]], rank=nearest[0], score=score, ahead_of=ahead_of)
