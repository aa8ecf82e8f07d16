"""Ranking metrics: Skew@k, MinSkew/MaxSkew, NDKL (Geyik et al. 2019), exposure (Singh & Joachims 2018)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import metrics as m

RANKING = ["a", "a", "b", "a", "b", "b", "a", "b"]  # 4 a, 4 b
TARGET = {"a": 0.5, "b": 0.5}


def test_skew_at_k_hand_checked() -> None:
    # top 4 = a a b a: share a = 3/4, b = 1/4; ln(0.75/0.5) = 0.405465, ln(0.25/0.5) = -0.693147
    assert m.skew_at_k(RANKING, k=4, group="a", target_share=0.5) == pytest.approx(math.log(1.5))
    assert m.skew_at_k(RANKING, k=4, group="b", target_share=0.5) == pytest.approx(-math.log(2))
    # the whole ranking matches the target: skew 0
    assert m.skew_at_k(RANKING, k=8, group="b", target_share=0.5) == 0.0
    s = m.skew_by_group(RANKING, k=4, target_distribution=TARGET)
    assert (s.min_group, s.max_group) == ("b", "a")
    assert m.min_skew_at_k(RANKING, k=4, target_distribution=TARGET) == pytest.approx(-0.693147, abs=1e-6)
    assert m.max_skew_at_k(RANKING, k=4, target_distribution=TARGET) == pytest.approx(0.405465, abs=1e-6)


def test_skew_zero_count_is_minus_inf_unless_smoothed() -> None:
    assert m.skew_at_k(RANKING, k=2, group="b", target_share=0.5) == -math.inf
    # ln((0 + 0.01) / (0.5 + 0.01)) = ln(1/51) = -3.931826
    assert m.skew_at_k(RANKING, k=2, group="b", target_share=0.5, epsilon=0.01) == pytest.approx(
        -3.931826, abs=1e-6
    )
    with pytest.raises(ValueError, match="epsilon"):
        m.skew_at_k(RANKING, k=2, group="b", target_share=0.0)


def test_skew_for_an_overlapping_group_uses_its_membership_column() -> None:
    youth = np.array([True, False, False, True])
    # top 2 has 1 youth of 2: ln(0.5 / 0.25) = ln 2
    assert m.skew_at_k(youth, k=2, group=True, target_share=0.25) == pytest.approx(math.log(2))


def test_ndkl_hand_checked() -> None:
    # ranking a, a, b with target (1/2, 1/2):
    #   prefix 1: D = (1, 0)     KL = ln 2                         weight 1/log2(2) = 1
    #   prefix 2: D = (1, 0)     KL = ln 2                         weight 1/log2(3) = 0.630930
    #   prefix 3: D = (2/3, 1/3) KL = 2/3 ln(4/3) + 1/3 ln(2/3)    weight 1/log2(4) = 0.5
    #            = 0.191788 - 0.135155 = 0.056633
    #   Z = 1 + 0.630930 + 0.5 = 2.130930
    #   NDKL = (0.693147 + 0.630930 * 0.693147 + 0.5 * 0.056633) / 2.130930
    #        = (0.693147 + 0.437325 + 0.028317) / 2.130930 = 1.158789 / 2.130930 = 0.543796
    kl3 = 2 / 3 * math.log(4 / 3) + 1 / 3 * math.log(2 / 3)
    w = [1.0, 1 / math.log2(3), 0.5]
    expected = (w[0] * math.log(2) + w[1] * math.log(2) + w[2] * kl3) / sum(w)
    assert m.ndkl(["a", "a", "b"], target_distribution=TARGET) == pytest.approx(expected)
    assert expected == pytest.approx(0.543796, abs=1e-6)


def test_ndkl_is_zero_only_for_a_ranking_that_matches_every_prefix() -> None:
    assert m.ndkl(["a"], target_distribution={"a": 1.0}) == 0.0
    assert m.ndkl(["a", "b"], target_distribution={"a": 1.0, "b": 0.0}) == math.inf
    with pytest.raises(ValueError, match="not in target_distribution"):
        m.ndkl(["a", None], target_distribution=TARGET)
    # unknown is allowed when the target names it
    assert m.ndkl(["a", None], target_distribution={"a": 0.5, None: 0.5}) > 0


def _ndkl_reference(labels: list[str], target: dict[str, float]) -> float:
    # Straight from Eq. 4, one prefix at a time (independent of the vectorised code).
    z = total = 0.0
    for i in range(1, len(labels) + 1):
        w = 1 / math.log2(i + 1)
        kl = 0.0
        for g, q in target.items():
            p = labels[:i].count(g) / i
            if p > 0:
                kl += p * math.log(p / q)
        total += w * kl
        z += w
    return total / z


@settings(max_examples=80, deadline=None)
@given(labels=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=30))
def test_ndkl_equals_the_formula_and_is_non_negative(labels: list[str]) -> None:
    target = {"a": 0.5, "b": 0.3, "c": 0.2}
    value = m.ndkl(labels, target_distribution=target)
    assert value >= -1e-12
    assert value == pytest.approx(_ndkl_reference(labels, target))


def test_exposure_hand_checked() -> None:
    # positions 1..4 get 1, 1/log2 3 = 0.630930, 1/log2 4 = 0.5, 1/log2 5 = 0.430677
    rows = {r.group: r for r in m.exposure_by_group(["a", "b", "a", "b"], relevance=[0.9, 0.8, 0.6, 0.5])}
    v = [1.0, 1 / math.log2(3), 0.5, 1 / math.log2(5)]
    assert rows["a"].mean_exposure == pytest.approx((v[0] + v[2]) / 2)  # 0.75
    assert rows["b"].mean_exposure == pytest.approx((v[1] + v[3]) / 2)  # 0.530803
    assert rows["a"].share_of_exposure + rows["b"].share_of_exposure == pytest.approx(1.0)
    assert rows["a"].mean_relevance == pytest.approx(0.75)
    assert rows["b"].exposure_per_relevance == pytest.approx(((v[1] + v[3]) / 2) / 0.65)
    # DTR(b, a) = (0.530803 / 0.65) / (0.75 / 0.75) = 0.816620
    dtr = m.disparate_treatment_ratio(
        ["a", "b", "a", "b"], relevance=[0.9, 0.8, 0.6, 0.5], group="b", reference_group="a"
    )
    assert dtr == pytest.approx(0.816620, abs=1e-6)


def test_exposure_shortlist_cut_and_custom_weights() -> None:
    rows = {r.group: r for r in m.exposure_by_group(["a", "b", "b"], k=1)}
    assert rows["b"].total_exposure == 0.0 and rows["a"].share_of_exposure == 1.0
    rows = {r.group: r for r in m.exposure_by_group(["a", "b", None], position_bias=[0.5, 0.3, 0.2])}
    assert rows[None].total_exposure == pytest.approx(0.2)  # unknown reported as its own row
    assert math.isnan(rows["a"].mean_relevance)
