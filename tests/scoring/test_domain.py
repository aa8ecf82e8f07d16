"""The derived rules of DOMAIN.md, each with hand-checked values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from scoring.domain import (
    PriorityGroup,
    WorkLadderStep,
    add_months,
    age_on,
    contract_months,
    is_far_from_labour_market,
    is_gender_norm_breaker,
    ladder_step_eligible,
    months_between,
    period_last_day,
    priority_groups,
)
from scoring.policy import load_policy


def _days(*iso: str) -> np.ndarray:
    return np.array(iso, dtype="datetime64[D]")


class TestFarFromLabourMarket:
    # DOMAIN.md (seed 001): > 6 months registered if aged up to 25, > 12 months if aged 26 or older,
    # measured by calendar date on the day judged (here 1 September 2026).
    ON = dt.date(2026, 9, 1)

    @pytest.mark.parametrize(
        ("age", "since", "expected"),
        [
            (19, "2026-03-01", False),  # exactly 6 months on 1 September: not *more than* 6
            (19, "2026-02-28", True),  # 6 months and 4 days
            (19, "2026-03-02", False),  # one day short of 6 months
            (25, "2026-02-28", True),  # 25 is still "up to 25"
            (25, "2026-03-01", False),
            (26, "2026-02-28", False),  # 26+ needs more than 12
            (26, "2025-09-01", False),  # exactly 12 months
            (26, "2025-08-31", True),  # 12 months and a day
            (60, "2023-05-10", True),
        ],
    )
    def test_thresholds(self, age: int, since: str, expected: bool) -> None:
        assert bool(is_far_from_labour_market(age, np.datetime64(since), self.ON)) is expected

    def test_not_truncated_to_whole_months(self) -> None:
        # 6 months and 30 days: whole months (6) are not more than 6, the calendar date is.
        since = _days("2026-02-02")
        assert months_between(since, self.ON).tolist() == [6]
        assert is_far_from_labour_market([20], since, self.ON).tolist() == [True]

    @pytest.mark.parametrize(
        ("since", "on", "expected"),
        [
            # Month ends: 31 August + 6 months is 28 February (clamped), so more than 6 from 1 March.
            ("2026-08-31", dt.date(2027, 2, 28), False),
            ("2026-08-31", dt.date(2027, 3, 1), True),
            # A leap day: 29 February 2028 + 6 months is 29 August 2028.
            ("2028-02-29", dt.date(2028, 8, 29), False),
            ("2028-02-29", dt.date(2028, 8, 30), True),
        ],
    )
    def test_calendar_boundaries(self, since: str, on: dt.date, expected: bool) -> None:
        assert bool(is_far_from_labour_market(20, np.datetime64(since), on)) is expected

    def test_vectorised_with_one_day_per_person(self) -> None:
        since = _days("2026-01-01", "2026-01-01", "2025-01-01")
        on = _days("2026-07-01", "2026-07-02", "2026-01-02")
        assert is_far_from_labour_market([20, 20, 30], since, on).tolist() == [False, True, True]

    def test_policy_numbers_are_used(self) -> None:
        got = is_far_from_labour_market([20, 30], _days("2026-05-31", "2026-02-28"), self.ON,
                                        young_min_months=3, older_min_months=6)
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
            registered_since=_days("2026-08-01", "2026-08-01", "2024-03-01", "2024-03-01"),
            on=dt.date(2026, 9, 1),
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
            # 6 months and a day, exactly 6, 12 and a day, exactly 12: on 1 September 2026.
            registered_since=_days("2026-02-28", "2026-03-01", "2025-08-31", "2025-09-01"),
            on=dt.date(2026, 9, 1),
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


class TestCalendar:
    def test_add_months_clamps_to_the_month_end(self) -> None:
        got = add_months(_days("2026-01-31", "2026-08-31", "2028-02-29", "2026-03-15"), [1, 6, 12, -2])
        assert got.tolist() == [dt.date(2026, 2, 28), dt.date(2027, 2, 28), dt.date(2029, 2, 28),
                                dt.date(2026, 1, 15)]

    @pytest.mark.parametrize(
        ("start", "months", "last"),
        [
            ("2026-03-01", 6, dt.date(2026, 8, 31)),
            ("2026-01-31", 1, dt.date(2026, 2, 27)),  # 31 Jan + 1 month is 28 Feb; the last day before it
            ("2026-01-15", 0.5, dt.date(2026, 1, 30)),  # half of 15 Jan..15 Feb (31 days): 15.5 -> 16 days
            ("2026-09-01", 24, dt.date(2028, 8, 31)),
        ],
    )
    def test_period_last_day(self, start: str, months: float, last: dt.date) -> None:
        assert period_last_day(np.datetime64(start), months).item() == last

    @pytest.mark.parametrize("months", [1, 3, 4, 6, 12, 24])
    def test_period_and_contract_months_agree(self, months: int) -> None:
        start = dt.date(2026, 1, 31)
        assert contract_months(start, period_last_day(np.datetime64(start), months).item()) == pytest.approx(months)


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
