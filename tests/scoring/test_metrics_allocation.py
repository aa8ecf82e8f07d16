"""Allocation metrics: districts vs. keys, groups vs. floors, anti-creaming, suppliers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import metrics as m
from scoring.domain import LOW_LADDER_STEPS
from scoring.policy import Distribution


def test_district_share_vs_key_hand_checked() -> None:
    # 20 placements: a 13, b 5, c 2; keys .5/.3/.2, tolerance .05
    # a: bounds floor(.45*20)=9 .. ceil(.55*20)=11 -> 13 outside; share .65, diff +.15
    # b: floor(.25*20)=5 .. ceil(.35*20)=7 -> 5 within; share .25, diff -.05
    # c: floor(.15*20)=3 .. ceil(.25*20)=5 -> 2 outside; share .10, diff -.10
    placed = ["a"] * 13 + ["b"] * 5 + ["c"] * 2
    rows = m.district_share_vs_key(placed, keys={"a": 0.5, "b": 0.3, "c": 0.2}, tolerance=0.05)
    got = [(r.label, r.count, r.lower, r.upper, r.within) for r in rows]
    assert got == [("a", 13, 9, 11, False), ("b", 5, 5, 7, True), ("c", 2, 3, 5, False)]
    assert [r.difference for r in rows] == pytest.approx([0.15, -0.05, -0.10])


def test_district_without_key_and_unknown_are_reported() -> None:
    rows = m.district_share_vs_key(["a", "a", "x", None], keys={"a": 1.0}, tolerance=0.0)
    assert [(r.label, r.count, r.within) for r in rows] == [("a", 2, False), ("x", 1, None), (None, 1, None)]
    assert math.isnan(rows[1].target)


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(min_value=0, max_value=200),
    share=st.floats(min_value=0.0, max_value=1.0),
    tolerance=st.floats(min_value=0.0, max_value=0.2),
)
def test_district_bounds_agree_with_the_policy(total: int, share: float, tolerance: float) -> None:
    # The follow-up must call "within" exactly what the allocation's policy bounds allow.
    keys = {"a": share, "b": 1.0 - share}
    placed = ["a"] * (total // 2) + ["b"] * (total - total // 2)
    rows = {r.label: r for r in m.district_share_vs_key(placed, keys=keys, tolerance=tolerance)}
    policy = Distribution(tolerance=tolerance, keys=keys).bounds(total)
    for d, (lo, hi) in policy.items():
        assert (rows[d].lower, rows[d].upper) == (lo, hi)


def test_group_share_vs_floor_overlapping() -> None:
    # 5 assigned; youth: 0,1,2 (3 -> .6), foreign_born: 1 (1 -> .2), disability: 0 and unknown for 4
    # floors .4/.3/.1: ceil(.4*5)=2 met, ceil(.3*5)=2 not met (1), ceil(.1*5)=1 not met (0)
    nan = float("nan")
    mem = [[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 0, nan]]
    rows = m.group_share_vs_floor(
        mem, floors=[0.4, 0.3, 0.1], group_names=["youth", "foreign_born", "disability"]
    )
    got = [(r.label, r.count, r.lower, r.within) for r in rows]
    assert got == [
        ("youth", 3, 2, True),
        ("foreign_born", 1, 2, False),
        ("disability", 0, 1, False),
        ("disability: unknown", 1, None, None),
    ]
    assert rows[0].difference == pytest.approx(0.2)
    with pytest.raises(ValueError, match="not in the membership"):
        m.group_share_vs_floor(
            mem, floors={"elderly": 0.1}, group_names=["youth", "foreign_born", "disability"]
        )


def test_anti_creaming_share_hand_checked() -> None:
    # placed steps 4 4 3 2 1 + one unknown: low (1, 2) = 2 of 5 known = .4
    # pool: 1 1 2 2 2 3 4 4 + unknown: low = 5 of 8 = .625; diff = -.225; ratio = .64
    r = m.anti_creaming_share([4, 4, 3, 2, 1, None], pool_ladder_step=[1, 1, 2, 2, 2, 3, 4, 4, float("nan")])
    assert (r.num_placed, r.num_placed_low, r.num_placed_unknown) == (5, 2, 1)
    assert r.share_placed_low == pytest.approx(0.4)
    assert (r.num_pool, r.num_pool_low, r.num_pool_unknown) == (8, 5, 1)
    assert r.share_pool_low == pytest.approx(0.625)
    assert r.difference == pytest.approx(-0.225)
    assert r.ratio == pytest.approx(0.64)
    only_step_1 = m.anti_creaming_share([1, 2, 3], low_steps=(1,))
    assert only_step_1.share_placed_low == pytest.approx(1 / 3) and math.isnan(only_step_1.share_pool_low)
    with pytest.raises(ValueError, match=r"1\.\.4"):
        m.anti_creaming_share([5])


def test_anti_creaming_counts_work_ladder_steps_1_and_2_as_low() -> None:
    # DOMAIN.md: step 1 (very large need of support) and step 2 (large need) are low; 3 and 4 are not.
    # The one statement of the step set is scoring.domain.LOW_LADDER_STEPS, and it is the default.
    assert LOW_LADDER_STEPS == (1, 2)
    r = m.anti_creaming_share([1, 2, 3, 4, 4], pool_ladder_step=[1, 1, 1, 2, 3, 3, 4, 4])
    assert r.low_steps == (1, 2)
    assert (r.num_placed, r.num_placed_low, r.num_pool, r.num_pool_low) == (5, 2, 8, 4)
    assert (r.share_placed_low, r.share_pool_low) == (0.4, 0.5)
    assert r.ratio == pytest.approx(0.8) and r.difference == pytest.approx(-0.1)


def test_placements_per_supplier_status() -> None:
    # s1 needs 4 (skarpt krav), has 4 -> met; s2 needs 2, has 1 -> partly met; s3 needs 1 -> not met;
    # s4 has no requirement: count only. Shares of 6 placements.
    placed = ["s1"] * 4 + ["s2", "s4"]
    rows = m.placements_per_supplier(placed, required={"s1": 4, "s2": 2, "s3": 1})
    got = [(r.label, r.count, r.status, r.within) for r in rows]
    assert got == [
        ("s1", 4, "met", True),
        ("s2", 1, "partly met", False),
        ("s3", 0, "not met", False),
        ("s4", 1, None, None),
    ]
    assert rows[0].share == pytest.approx(4 / 6)
    assert rows[1].difference == -1.0


def test_rows_are_table_rows() -> None:
    row = m.placements_per_supplier(["s1"])[0].as_dict()
    assert set(row) == {
        "label",
        "count",
        "share",
        "target",
        "difference",
        "lower",
        "upper",
        "within",
        "status",
    }
    assert m.anti_creaming_share([1]).as_dict()["share_placed_low"] == 1.0
