"""Tests for scoring.fair_ranking: FA*IR tables against the published ones, and the
multi-group re-ranking against an independent brute force over subsets of the pool."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.fair_ranking import (
    ByScore,
    FairRanking,
    MovedUp,
    Shortfall,
    _fail_probability,
    fair_minimums,
    fair_rerank,
    select_candidates,
)

# --------------------------------------------------------------------------------------
# FA*IR tables: the published ones
# --------------------------------------------------------------------------------------

# Source: fairsearchcore (the FA*IR authors' Python reference, fair-search/fairsearch-fair-python),
# tests/test_fair.py, test_create_unadjusted_mtable / test_create_adjusted_mtable.
FAIRSEARCHCORE_UNADJUSTED = {
    (10, 0.2, 0.15): [0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
    (20, 0.25, 0.1): [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3],
    (30, 0.3, 0.05): [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3,
                      4, 4, 4, 4, 5, 5, 5],
}
FAIRSEARCHCORE_ADJUSTED = {
    (10, 0.2, 0.15): [0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
    (20, 0.25, 0.1): [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2],
    (30, 0.3, 0.05): [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3,
                      3, 3, 4, 4, 4, 4, 4],
}
# Same file, test_compute_fail_probability: fail probability of the adjusted tables.
FAIRSEARCHCORE_FAIL_PROBABILITY = {
    (10, 0.2, 0.15): 0.13421772800000065,
    (20, 0.25, 0.1): 0.10515247355215251,
    (30, 0.3, 0.05): 0.04877730797178359,
}
# Source: fair-search/fairsearch-fair-java, java/src/test/resources/mtable_fixtures/mtable1.dat
# (k=80, p=0.6, alpha=0.1) and mtable2.dat (k=100, p=0.5, alpha=0.3), unadjusted, as used by
# MTableGenTests.java (which drops the position-0 entry of the generator before comparing).
JAVA_UNADJUSTED = {
    (80, 0.6, 0.1): [
        0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13, 14, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19, 20, 21, 21, 22, 22, 23, 23, 24,
        24, 25, 26, 26, 27, 27, 28, 28, 29, 29, 30, 31, 31, 32, 32, 33, 33, 34, 34, 35, 36,
        36, 37, 37, 38, 38, 39, 40, 40, 41, 41, 42, 42,
    ],
    (100, 0.5, 0.3): [
        0, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12,
        12, 13, 13, 14, 14, 15, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19, 20, 20, 21, 21, 22,
        22, 23, 23, 24, 24, 25, 25, 26, 26, 27, 27, 27, 28, 28, 29, 29, 30, 30, 31, 31, 32,
        32, 33, 33, 34, 34, 35, 35, 36, 36, 37, 37, 38, 38, 39, 39, 40, 40, 41, 41, 42, 42,
        43, 43, 43, 44, 44, 45, 45, 46, 46, 47, 47,
    ],
}
# Source: fair-search/fairsearch-fair-for-elasticsearch, src/test/resources/mtable_fixtures/
# mtable{k}_{p}_{alpha}_adj.dat, adjusted; their first entry is position 0 and is dropped here.
ELASTICSEARCH_ADJUSTED = {
    (40, 0.6, 0.1): [0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10,
                     10, 11, 11, 12, 12, 13, 13, 14, 15, 15, 16, 16, 17, 17, 18, 18],
    (50, 0.5, 0.1): [0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 7, 7, 7,
                     8, 8, 9, 9, 10, 10, 10, 11, 11, 12, 12, 12, 13, 13, 14, 14, 15, 15, 15,
                     16, 16, 17, 17, 18, 18, 18],
    (50, 0.4, 0.1): [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5,
                     6, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9, 10, 10, 10, 11, 11, 11, 12, 12, 12,
                     13, 13, 13, 14],
    (50, 0.6, 0.2): [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10,
                     11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 17, 17, 18, 18, 19, 19, 20,
                     20, 21, 21, 22, 23, 23, 24, 24, 25],
}


@pytest.mark.parametrize(
    ("params", "expected"),
    [*FAIRSEARCHCORE_UNADJUSTED.items(), *JAVA_UNADJUSTED.items()],
)
def test_unadjusted_tables_equal_published(params, expected):
    k, p, alpha = params
    assert fair_minimums(k, p, alpha, adjust=False).tolist() == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [*FAIRSEARCHCORE_ADJUSTED.items(), *ELASTICSEARCH_ADJUSTED.items()],
)
def test_adjusted_tables_equal_published(params, expected):
    k, p, alpha = params
    assert fair_minimums(k, p, alpha).tolist() == expected


@pytest.mark.parametrize(("params", "expected"), FAIRSEARCHCORE_FAIL_PROBABILITY.items())
def test_fail_probability_of_adjusted_table_equals_published(params, expected):
    k, p, alpha = params
    assert _fail_probability(fair_minimums(k, p, alpha), p) == pytest.approx(expected, abs=1e-9)


def test_fail_probability_is_monte_carlo_plausible():
    # Independent check of the dynamic programme: draw fair rankings, count failures.
    k, p = 20, 0.25
    table = fair_minimums(k, p, 0.1)
    rng = np.random.default_rng(7)
    draws = rng.random((200_000, k)) < p
    failed = np.any(np.cumsum(draws, axis=1) < table, axis=1).mean()
    assert failed == pytest.approx(_fail_probability(table, p), abs=0.004)


@given(
    k=st.integers(1, 60),
    p=st.floats(0.02, 0.95),
    alpha=st.floats(0.01, 0.5),
    adjust=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_tables_are_fair_step_functions(k, p, alpha, adjust):
    table = fair_minimums(k, p, alpha, adjust=adjust)
    steps = np.diff(np.concatenate([[0], table]))
    assert table.shape == (k,)
    assert set(steps.tolist()) <= {0, 1}
    # The adjustment only ever lowers the minimums (alpha_c <= alpha).
    assert np.all(table <= fair_minimums(k, p, alpha, adjust=False))


def test_tables_are_cached_and_read_only():
    first = fair_minimums(25, 0.3, 0.1)
    assert fair_minimums(25, 0.3, 0.1) is first
    with pytest.raises(ValueError, match="read-only"):
        first[0] = 3


def test_zero_share_means_no_requirement():
    assert fair_minimums(5, 0.0).tolist() == [0, 0, 0, 0, 0]


def test_invalid_table_parameters_are_all_reported():
    with pytest.raises(ValueError, match=r"k=0.*p=1\.5.*alpha=0"):
        fair_minimums(0, 1.5, 0.0)


# --------------------------------------------------------------------------------------
# Brute force: an independent exact reference over subsets of a small pool
# --------------------------------------------------------------------------------------


class Brute:
    """Exact answers by dynamic programming over the set of candidates already listed."""

    def __init__(self, scores: np.ndarray, groups: np.ndarray, length: int) -> None:
        self.scores = scores.tolist()
        self.member = groups.astype(int).tolist()
        self.n, self.num_groups = groups.shape
        self.length = length
        self.by_score = sorted(range(self.n), key=lambda c: (-self.scores[c], c))

    def counts(self, listed: list[int]) -> list[int]:
        return [sum(self.member[c][g] for c in listed) for g in range(self.num_groups)]

    def completer(self, req: np.ndarray):
        """``good(mask)``: can the list holding ``mask`` be completed to meet ``req``?"""
        table = req.tolist()

        @cache
        def good(mask: int) -> bool:
            t = mask.bit_count()
            if t == self.length:
                return True
            listed = [c for c in range(self.n) if mask >> c & 1]
            counts = self.counts(listed)
            return any(
                not mask >> c & 1
                and all(
                    counts[g] + self.member[c][g] >= table[g][t]
                    for g in range(self.num_groups)
                )
                and good(mask | 1 << c)
                for c in range(self.n)
            )

        return good

    def feasible(self, req: np.ndarray) -> bool:
        return self.completer(req)(0)

    def lexicographic(self, req: np.ndarray) -> list[int]:
        """Best score first among the candidates that keep ``req`` reachable."""
        good = self.completer(req)
        table = req.tolist()
        mask, order = 0, []
        for t in range(self.length):
            counts = self.counts(order)
            for c in self.by_score:
                fits = all(
                    counts[g] + self.member[c][g] >= table[g][t] for g in range(self.num_groups)
                )
                if not mask >> c & 1 and fits and good(mask | 1 << c):
                    mask |= 1 << c
                    order.append(c)
                    break
        return order

    def relaxed(self, minimums: np.ndarray) -> np.ndarray:
        """The documented shortage rule, applied literally (no per-group cap shortcut)."""
        target = minimums[:, : self.length]
        out = np.zeros_like(target)
        for i in range(self.length):
            out[:, i:] = out[:, i - 1 : i] if i else 0
            for g in range(self.num_groups):
                for value in range(int(target[g, i]), int(out[g, i]), -1):
                    trial = out.copy()
                    trial[g, i:] = value
                    if self.feasible(trial):
                        out = trial
                        break
        return out


def prefix_counts(order: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(G, len(order)) members of each group in each prefix of the list."""
    return np.cumsum(groups[order], axis=0).T


# --------------------------------------------------------------------------------------
# Strategies: small pools with overlapping groups and tied scores
# --------------------------------------------------------------------------------------


@st.composite
def tables(draw, num_groups: int, k: int) -> np.ndarray:
    """Explicit minimums: nondecreasing, rising by 0 or 1 per prefix (like FA*IR's)."""
    rows = []
    for _ in range(num_groups):
        rises = draw(st.lists(st.integers(0, 1), min_size=k, max_size=k))
        rows.append(np.cumsum(rises))
    return np.array(rows, dtype=np.int64).reshape(num_groups, k)


@st.composite
def instances(draw, max_n: int = 12, max_groups: int = 3):
    n = draw(st.integers(1, max_n))
    num_groups = draw(st.integers(0, max_groups))
    k = draw(st.integers(1, n + 2))
    # Few distinct score values: ties must be broken by the lower index.
    scores = np.array(draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)), dtype=float)
    density = draw(st.sampled_from([0.2, 0.4, 0.6]))
    flags = draw(st.lists(st.floats(0, 1), min_size=n * num_groups, max_size=n * num_groups))
    groups = (np.array(flags).reshape(n, num_groups) < density).astype(bool)
    if draw(st.booleans()):
        shares = np.array(
            draw(st.lists(st.sampled_from([0.0, 0.2, 0.4, 0.6, 0.8]),
                          min_size=num_groups, max_size=num_groups))
        ).reshape(num_groups)
        alpha = draw(st.sampled_from([0.1, 0.3, 0.5]))
        adjust = draw(st.booleans())
        minimums = np.zeros((num_groups, k), dtype=np.int64)
        for g in range(num_groups):
            minimums[g] = fair_minimums(k, float(shares[g]), alpha, adjust=adjust)
        kwargs = {"min_shares": shares, "alpha": alpha, "adjust": adjust}
    else:
        minimums = draw(tables(num_groups, k))
        kwargs = {"minimums": minimums}
    return scores, groups, k, minimums, kwargs


HYPOTHESIS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@given(instances())
@HYPOTHESIS
def test_meets_every_prefix_whenever_possible_else_reports(instance):
    scores, groups, k, minimums, kwargs = instance
    result = fair_rerank(scores, groups, k=k, **kwargs)
    length = min(k, len(scores))
    brute = Brute(scores, groups, length)
    possible = brute.feasible(minimums[:, :length])
    counts = prefix_counts(result.order, groups)
    assert result.satisfied == possible
    assert np.all(counts >= result.enforced)
    if possible:
        assert not result.shortfalls
        assert np.all(counts >= minimums[:, :length])
        # Exactly the best-score-first ranking among those that meet every minimum.
        assert result.order.tolist() == brute.lexicographic(minimums[:, :length])
    else:
        assert result.shortfalls
        assert np.any(counts < minimums[:, :length])


@given(instances(max_n=8))
@HYPOTHESIS
def test_shortfalls_follow_the_documented_rule(instance):
    scores, groups, k, minimums, kwargs = instance
    result = fair_rerank(scores, groups, k=k, **kwargs)
    length = min(k, len(scores))
    brute = Brute(scores, groups, length)
    relaxed = brute.relaxed(minimums)
    assert result.enforced.tolist() == relaxed.tolist()
    counts = prefix_counts(result.order, groups)
    expected = [
        (f"group {g}", i + 1, int(minimums[g, i]), int(relaxed[g, i]))
        for g in range(groups.shape[1])
        for i in range(length)
        if relaxed[g, i] < minimums[g, i]
    ]
    got = [(s.group, s.rank, s.needed, s.available) for s in result.shortfalls]
    assert got == expected
    for shortfall in result.shortfalls:
        g = int(shortfall.group.split()[-1])
        # Where a minimum is short, the list holds exactly what the rule says is possible.
        assert counts[g, shortfall.rank - 1] == shortfall.available < shortfall.needed
    assert result.order.tolist() == brute.lexicographic(relaxed)


@given(instances())
@HYPOTHESIS
def test_order_is_distinct_indices_of_the_right_length(instance):
    scores, groups, k, _, kwargs = instance
    result = fair_rerank(scores, groups, k=k, **kwargs)
    order = result.order.tolist()
    assert len(order) == min(k, len(scores))
    assert len(set(order)) == len(order)
    assert all(0 <= c < len(scores) for c in order)
    assert len(result.reasons) == len(order)


@given(instances())
@HYPOTHESIS
def test_without_requirements_the_order_is_the_score_order(instance):
    scores, groups, k, _, _ = instance
    result = fair_rerank(scores, groups, k=k, min_shares=np.zeros(groups.shape[1]))
    expected = sorted(range(len(scores)), key=lambda c: (-scores[c], c))[:k]
    assert result.order.tolist() == expected
    assert all(isinstance(r, ByScore) for r in result.reasons)
    assert result.satisfied


@given(instances())
@HYPOTHESIS
def test_each_reason_is_consistent(instance):
    scores, groups, k, _, kwargs = instance
    names = [f"group {g}" for g in range(groups.shape[1])]
    result = fair_rerank(scores, groups, k=k, **kwargs)
    remaining = sorted(range(len(scores)), key=lambda c: (-scores[c], c))
    listed: list[int] = []
    for position, (chosen, reason) in enumerate(zip(result.order, result.reasons, strict=True)):
        best = remaining[0]
        assert reason.score == scores[chosen]
        if isinstance(reason, ByScore):
            assert chosen == best
        else:
            assert isinstance(reason, MovedUp)
            assert chosen != best and reason.ahead_of == best
            g = names.index(reason.group)
            # The moved-up line brings the group the skipped one lacks, and that group's
            # minimum at the named rank needs one more member than the list above holds.
            assert groups[chosen, g] and not groups[best, g]
            assert reason.rank >= position + 1
            assert result.enforced[g, reason.rank - 1] > groups[listed, g].sum()
            assert reason.describe() == (
                f"moved up to meet the {reason.group} minimum at rank {reason.rank}"
            )
        remaining.remove(int(chosen))
        listed.append(int(chosen))


@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 12),
    shares=st.lists(st.sampled_from([0.0, 0.3, 0.5, 0.7]), min_size=3, max_size=3),
)
@settings(max_examples=60, deadline=None)
def test_candidate_set_changes_nothing(seed, k, shares):
    # The top k of each membership pattern is all a fair top k can use: limiting the search
    # to it gives the same list as searching the whole pool.
    rng = np.random.default_rng(seed)
    n = 300
    scores = rng.integers(0, 50, n).astype(float)
    groups = rng.random((n, 3)) < rng.choice([0.02, 0.1, 0.4], size=3)
    min_shares = np.array(shares)
    whole = fair_rerank(scores, groups, k=k, min_shares=min_shares, candidates=np.arange(n))
    limited = fair_rerank(scores, groups, k=k, min_shares=min_shares)
    assert limited.order.tolist() == whole.order.tolist()
    assert limited.shortfalls == whole.shortfalls
    chosen = select_candidates(scores, groups, k=k)
    assert set(whole.order.tolist()) <= set(chosen.tolist())


# --------------------------------------------------------------------------------------
# Worked examples, checked by hand (docs/fair_ranking.md walks through the last one)
# --------------------------------------------------------------------------------------

NAMES = ["youth", "foreign-born"]


def test_single_group_best_member_moves_up_to_the_rank_that_needs_it():
    # FA*IR, p=0.5, alpha=0.1 unadjusted, k=4: m = [0, 0, 0, 1] (P(no youth in 4) = 1/16 < 0.1).
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    youth = np.array([[0], [0], [0], [0], [1], [1]], dtype=bool)
    result = fair_rerank(scores, youth, k=4, min_shares=np.array([0.5]), adjust=False,
                         group_names=["youth"])
    assert result.minimums.tolist() == [[0, 0, 0, 1]]
    assert result.order.tolist() == [0, 1, 2, 4]
    assert result.reasons == (
        ByScore(0.9), ByScore(0.8), ByScore(0.7),
        MovedUp(group="youth", rank=4, score=0.5, ahead_of=3),
    )
    assert result.describe()[3] == "4. candidate 4: moved up to meet the youth minimum at rank 4"


def test_overlapping_groups_need_joint_feasibility():
    # Both groups need one member in the top 2. Candidate 0 (no group) has the best score,
    # and a check per group alone would take it (a youth and a foreign-born are still left),
    # but then one line remains for two groups and nobody is in both: only [1, 2] works.
    scores = np.array([0.9, 0.8, 0.7])
    groups = np.array([[0, 0], [1, 0], [0, 1]], dtype=bool)
    result = fair_rerank(scores, groups, k=2, minimums=np.array([[0, 1], [0, 1]]),
                         group_names=NAMES)
    assert result.order.tolist() == [1, 2]
    assert result.satisfied
    assert [r.describe() for r in result.reasons] == [
        "moved up to meet the youth minimum at rank 2",
        "moved up to meet the foreign-born minimum at rank 2",
    ]


def test_a_person_in_both_groups_lets_the_best_score_stay_on_top():
    # Same minimums, plus candidate 3 who is both young and foreign-born: [0, 3] meets both.
    # Candidate 3 is placed ahead of candidate 1, a youth: what it adds is foreign birth.
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    groups = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=bool)
    result = fair_rerank(scores, groups, k=2, minimums=np.array([[0, 1], [0, 1]]),
                         group_names=NAMES)
    assert result.order.tolist() == [0, 3]
    assert result.reasons == (
        ByScore(0.9), MovedUp(group="foreign-born", rank=2, score=0.1, ahead_of=1)
    )


def test_shortage_of_members_is_reported_per_rank():
    # Youth need 1 in the top 2 and 2 in the top 3; the pool has one youth.
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    youth = np.array([[0], [0], [0], [1]], dtype=bool)
    result = fair_rerank(scores, youth, k=3, minimums=np.array([[0, 1, 2]]),
                         group_names=["youth"])
    assert result.order.tolist() == [0, 3, 1]
    assert not result.satisfied
    assert result.shortfalls == (Shortfall("youth", rank=3, needed=2, available=1),)
    assert result.shortfalls[0].describe() == (
        "the youth minimum at rank 3 needs 2 but the pool allows only 1"
    )


def test_conflicting_minimums_keep_the_earlier_group():
    # One line, both groups need it, nobody is in both: the rule keeps the first group's
    # minimum (group order is the policy's priority) and reports the second.
    scores = np.array([0.9, 0.8, 0.7])
    groups = np.array([[0, 0], [1, 0], [0, 1]], dtype=bool)
    result = fair_rerank(scores, groups, k=1, minimums=np.array([[1], [1]]), group_names=NAMES)
    assert result.order.tolist() == [1]
    assert result.shortfalls == (Shortfall("foreign-born", rank=1, needed=1, available=0),)


def test_worked_example_of_the_design_document():
    # docs/fair_ranking.md, "Worked example": eight candidates, youth and foreign-born,
    # explicit minimums youth [0,1,1,2,2,2], foreign-born [0,0,1,2,2,2].
    scores = np.array([0.95, 0.90, 0.85, 0.80, 0.70, 0.60, 0.50, 0.40])
    groups = np.array(
        [[0, 0], [0, 0], [1, 0], [0, 0], [0, 1], [1, 0], [1, 1], [0, 1]], dtype=bool
    )
    minimums = np.array([[0, 1, 1, 2, 2, 2], [0, 0, 1, 2, 2, 2]])
    result = fair_rerank(scores, groups, k=6, minimums=minimums, group_names=NAMES)
    assert result.order.tolist() == [0, 2, 4, 6, 1, 3]
    assert [r.describe() for r in result.reasons] == [
        "ranked by score (0.95)",
        "moved up to meet the youth minimum at rank 2",
        "moved up to meet the foreign-born minimum at rank 3",
        "moved up to meet the youth minimum at rank 4",
        "ranked by score (0.9)",
        "ranked by score (0.8)",
    ]
    assert result.satisfied


def test_invalid_input_reports_every_problem_at_once():
    with pytest.raises(ValueError) as raised:
        fair_rerank(np.array([1.0, np.nan]), np.zeros((3, 1), dtype=bool), k=0,
                    min_shares=np.array([1.5]), group_names=["a", "b"])
    message = str(raised.value)
    for part in ("scores", "groups", "k=0", "group_names"):
        assert part in message


def test_result_is_frozen():
    result = fair_rerank(np.array([1.0, 2.0]), np.zeros((2, 0), dtype=bool), k=2,
                         min_shares=np.zeros(0))
    assert isinstance(result, FairRanking)
    assert result.order.tolist() == [1, 0]
    with pytest.raises(ValueError, match="read-only"):
        result.order[0] = 0
