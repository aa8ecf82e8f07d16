"""The derived rules of DOMAIN.md, each with hand-checked values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from scoring.domain import (
    PriorityGroup,
    WorkLadderStep,
    age_on,
    contract_months,
    is_far_from_labour_market,
    is_gender_norm_breaker,
    ladder_step_eligible,
    months_between,
    priority_groups,
)
from scoring.policy import load_policy


class TestFarFromLabourMarket:
    # DOMAIN.md (seed 001): > 6 months registered if aged up to 25, > 12 months if aged 26 or older.
    @pytest.mark.parametrize(
        ("age", "months", "expected"),
        [
            (19, 6, False),  # exactly 6 months is not *more than* 6
            (19, 7, True),
            (25, 7, True),  # 25 is still "up to 25"
            (25, 6, False),
            (26, 7, False),  # 26+ needs more than 12
            (26, 12, False),
            (26, 13, True),
            (60, 40, True),
        ],
    )
    def test_thresholds(self, age: int, months: int, expected: bool) -> None:
        assert bool(is_far_from_labour_market(age, months)) is expected

    def test_vectorised(self) -> None:
        got = is_far_from_labour_market(np.array([20, 30, 30]), np.array([10, 10, 20]))
        assert got.tolist() == [True, False, True]

    def test_policy_numbers_are_used(self) -> None:
        got = is_far_from_labour_market([20, 30], [4, 8], young_min_months=3, older_min_months=6)
        assert got.tolist() == [True, True]


class TestMonthsAndAge:
    def test_months_between_counts_whole_months(self) -> None:
        days = np.array(["2026-01-31", "2026-01-01", "2025-09-01", "2026-09-02"], dtype="datetime64[D]")
        # 31 Jan -> 28 Feb: the 31st is not reached, 0 months; 1 Jan -> 1 Mar: 2 months.
        assert months_between(days, dt.date(2026, 2, 28)).tolist() == [0, 1, 5, -7]
        assert months_between(np.array(["2026-01-01"], dtype="datetime64[D]"), dt.date(2026, 3, 1)).tolist() == [2]

    def test_age_is_reached_during_the_year(self) -> None:
        assert age_on([2001, 2000], dt.date(2026, 1, 1)).tolist() == [25, 26]


class TestGenderNormBreaker:
    # DOMAIN.md: the candidate's gender is the under-represented one (below 40 %) in the occupation.
    def test_pairs(self) -> None:
        gender = ["F", "M", "F", "M", "X", "F"]
        share_women = [0.08, 0.08, 0.92, 0.92, 0.08, 0.40]  # construction, construction, care, care, _, 40 %
        assert is_gender_norm_breaker(gender, share_women).tolist() == [True, False, False, True, False, False]

    def test_threshold_is_strict(self) -> None:
        assert is_gender_norm_breaker(["F"], [0.3999]).tolist() == [True]
        assert is_gender_norm_breaker(["M"], [0.60]).tolist() == [False]  # men are exactly 40 %
        assert is_gender_norm_breaker(["M"], [0.61]).tolist() == [True]

    def test_same_candidate_differs_by_place(self) -> None:
        # A woman is a norm breaker for the construction crew, not for elderly care.
        assert is_gender_norm_breaker(["F", "F"], [0.09, 0.91]).tolist() == [True, False]


class TestPriorityGroups:
    def test_overlapping_groups_gothenburg(self) -> None:
        masks = priority_groups(
            age=[19, 19, 40, 26],
            foreign_born=[True, False, True, False],
            disability=[True, False, False, False],
            months_registered=[1, 1, 30, 30],
            policy=load_policy("gothenburg"),
        )
        assert set(masks) == {PriorityGroup.YOUTH, PriorityGroup.FOREIGN_BORN, PriorityGroup.DISABILITY}
        assert masks[PriorityGroup.YOUTH].tolist() == [True, True, False, False]
        assert masks[PriorityGroup.FOREIGN_BORN].tolist() == [True, False, True, False]
        assert masks[PriorityGroup.DISABILITY].tolist() == [True, False, False, False]
        # One person counts for three groups at once.
        counts = sum(m.astype(int) for m in masks.values())
        assert counts.tolist() == [3, 1, 1, 0]

    def test_ostersund_counts_far_from_labour_market(self) -> None:
        masks = priority_groups(
            age=[22, 22, 30, 30],
            foreign_born=[False] * 4,
            disability=[False] * 4,
            months_registered=[7, 6, 13, 12],
            policy=load_policy("ostersund-alt1"),
        )
        assert masks[PriorityGroup.FAR_FROM_LABOUR_MARKET].tolist() == [True, False, True, False]
        assert PriorityGroup.GENDER_NORM_BREAKER not in masks  # a pair property, computed per place


class TestLadder:
    def test_supervisor_bridges_one_step(self) -> None:
        cand = [4, 3, 2, 2, 1]
        lowest = [3, 3, 3, 3, 3]
        sup = [False, False, False, True, True]
        assert ladder_step_eligible(cand, lowest, sup).tolist() == [True, True, False, True, False]

    def test_policy_may_bridge_two_steps(self) -> None:
        assert ladder_step_eligible([1], [3], [True], steps_below_with_supervisor=2).tolist() == [True]

    def test_words(self) -> None:
        assert "independently" in WorkLadderStep(4).describe()
        assert WorkLadderStep.VERY_LARGE_SUPPORT == 1


class TestContractMonths:
    @pytest.mark.parametrize(
        ("start", "end", "months"),
        [
            (dt.date(2026, 1, 1), dt.date(2026, 4, 30), 4.0),
            (dt.date(2026, 1, 1), dt.date(2026, 12, 31), 12.0),
            (dt.date(2026, 1, 31), dt.date(2026, 2, 27), 28 / 28),  # 31 Jan to 27 Feb incl.: to 28 Feb
            (dt.date(2026, 3, 1), dt.date(2026, 3, 31), 1.0),
        ],
    )
    def test_calendar_months(self, start: dt.date, end: dt.date, months: float) -> None:
        assert contract_months(start, end) == pytest.approx(months)

    def test_partial_month(self) -> None:
        # 15 Jan .. 29 May incl. = 4 months (to 15 May) + 15 days of the 31 to 15 June.
        assert contract_months(dt.date(2026, 1, 15), dt.date(2026, 5, 29)) == pytest.approx(4 + 15 / 31)
