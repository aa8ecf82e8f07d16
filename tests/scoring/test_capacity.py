"""A place's free slots and open period (scoring.capacity): one test per case, by hand.

Every case is one place of ``slots`` slots starting 2026-10-01 for 6 months (last day 2027-03-31),
judged on the reference date 2026-09-01 under Gothenburg's policy: open from 90 days before the
start (2026-07-03), open proposals hold slots.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from scoring.capacity import STATES, place_states
from scoring.policy import Policy, load_policy, parse_policy
from scoring.schema import TABLES

REF = dt.date(2026, 9, 1)
D = dt.date


START = D(2026, 10, 1)


def _places(slots: int = 2, start: dt.date = START, months: float = 6.0) -> pl.DataFrame:
    return pl.DataFrame({"place_id": ["P1"], "slots": [slots], "start_date": [start],
                         "duration_months": [months]})


def _proposals(*rows: tuple[str, str]) -> pl.DataFrame:
    """(proposal id, status) rows, all to P1."""
    return pl.DataFrame({"proposal_id": [r[0] for r in rows], "place_id": ["P1"] * len(rows),
                         "status": [r[1] for r in rows]}, schema={"proposal_id": pl.String,
                                                                   "place_id": pl.String, "status": pl.String})


def _placements(*rows: tuple[str, dt.date | None, dt.date | None]) -> pl.DataFrame:
    """(proposal id, ended_on, hired_on) rows, all at P1."""
    schema = TABLES["placements"].polars_schema
    return pl.DataFrame({
        "placement_id": [f"L-{r[0]}" for r in rows], "proposal_id": [r[0] for r in rows],
        "candidate_id": [f"C-{r[0]}" for r in rows], "place_id": ["P1"] * len(rows),
        "started_on": [D(2026, 8, 1)] * len(rows), "ended_on": [r[1] for r in rows],
        "end_reason": ["ongoing"] * len(rows), "ended_by": [None] * len(rows),
        "hired_on": [r[2] for r in rows], "contract_type": [None] * len(rows),
    }, schema=schema)


def _state(places: pl.DataFrame, proposals: pl.DataFrame, placements: pl.DataFrame, *,
           ref: dt.date = REF, policy: Policy | None = None):  # type: ignore[no-untyped-def]
    return place_states(places, proposals, placements, reference_date=ref,
                        policy=policy or load_policy("gothenburg"))


def _held(s) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    return int(s.hires[0]), int(s.placements[0]), int(s.proposals[0]), int(s.free[0])


def test_an_empty_place_is_open_with_every_slot_free() -> None:
    s = _state(_places(), _proposals(), _placements())
    assert _held(s) == (0, 0, 0, 2)
    assert s.state_of(0) == "open"
    assert s.describe(0) == "open: 2 of 2 slots free, until 2027-03-31"


def test_a_hire_holds_its_slot() -> None:
    s = _state(_places(), _proposals(("A", "hired")), _placements(("A", D(2026, 8, 14), D(2026, 8, 15))))
    assert _held(s) == (1, 0, 0, 1)


def test_a_hired_proposal_without_its_placement_row_still_holds_a_slot() -> None:
    s = _state(_places(), _proposals(("A", "hired")), _placements())
    assert _held(s) == (1, 0, 0, 1)


def test_a_placement_going_on_holds_its_slot_once_with_its_proposal() -> None:
    # The proposal is in "internship" and has its placement: one holder, not two.
    s = _state(_places(), _proposals(("A", "internship")), _placements(("A", None, None)))
    assert _held(s) == (0, 1, 0, 1)


def test_an_internship_reported_without_its_placement_is_a_placement() -> None:
    s = _state(_places(), _proposals(("A", "internship")), _placements())
    assert _held(s) == (0, 1, 0, 1)


@pytest.mark.parametrize(("ended", "holds"), [
    (D(2026, 8, 31), False),  # ended the day before: the slot is free again
    (D(2026, 9, 1), True),  # its last day is today: it still holds
    (D(2026, 12, 31), True),  # agreed to end later
])
def test_a_placement_holds_until_its_last_day(ended: dt.date, holds: bool) -> None:
    s = _state(_places(), _proposals(("A", "withdrawn")), _placements(("A", ended, None)))
    assert _held(s) == (0, int(holds), 0, 2 - holds)


@pytest.mark.parametrize("status", ["open", "viewed", "interview"])
def test_an_open_proposal_holds_a_slot_where_the_policy_says_so(status: str) -> None:
    s = _state(_places(), _proposals(("A", status)), _placements())
    assert _held(s) == (0, 0, 1, 1)
    data = load_policy("gothenburg").model_dump(mode="json")
    data["capacity"]["open_proposals_hold_slots"] = False
    free = _state(_places(), _proposals(("A", status)), _placements(), policy=parse_policy(data))
    assert _held(free) == (0, 0, 0, 2)


@pytest.mark.parametrize("status", ["declined", "withdrawn"])
def test_a_closed_proposal_holds_nothing(status: str) -> None:
    assert _held(_state(_places(), _proposals(("A", status)), _placements())) == (0, 0, 0, 2)


def test_a_full_place_is_filled_and_says_by_what() -> None:
    s = _state(_places(slots=2), _proposals(("A", "hired"), ("B", "interview")), _placements())
    assert _held(s) == (1, 0, 1, 0)
    assert s.state_of(0) == "filled" and not s.is_open[0]
    assert s.describe(0) == "filled: 2 slots, held by 1 hire, 1 open proposal"


def test_more_holders_than_slots_is_reported_not_hidden() -> None:
    s = _state(_places(slots=1), _proposals(("A", "hired"), ("B", "hired")), _placements())
    assert int(s.free[0]) == 0 and int(s.overfilled[0]) == 1
    assert s.describe(0) == "filled: 1 slot, held by 2 hires (1 more than its slots)"


@pytest.mark.parametrize(("ref", "state"), [
    (D(2026, 7, 2), "not_open_yet"),  # 91 days before the start
    (D(2026, 7, 3), "open"),  # exactly 90 days before: open
    (D(2026, 10, 1), "open"),  # the start
    (D(2027, 3, 31), "open"),  # the period's last day
    (D(2027, 4, 1), "ended"),  # the day after
])
def test_the_open_period_by_its_boundaries(ref: dt.date, state: str) -> None:
    assert _state(_places(), _proposals(), _placements(), ref=ref).state_of(0) == state


def test_words_for_a_place_not_yet_open_and_one_ended() -> None:
    early = _state(_places(), _proposals(), _placements(), ref=D(2026, 6, 1))
    assert early.describe(0) == ("not open yet: opens for matching on 2026-07-03, 90 days before it "
                                 "starts on 2026-10-01")
    late = _state(_places(), _proposals(), _placements(), ref=D(2027, 5, 1))
    assert late.describe(0) == "closed: its period ended on 2027-03-31"


def test_ended_wins_over_filled_and_filled_over_not_yet_open() -> None:
    hires = _proposals(("A", "hired"), ("B", "hired"))
    assert _state(_places(), hires, _placements(), ref=D(2027, 5, 1)).state_of(0) == "ended"
    assert _state(_places(), hires, _placements(), ref=D(2026, 6, 1)).state_of(0) == "filled"


def test_the_lead_time_is_the_policys() -> None:
    data = load_policy("gothenburg").model_dump(mode="json")
    data["capacity"]["open_days_before_start"] = 10
    s = _state(_places(), _proposals(), _placements(), policy=parse_policy(data))
    assert s.state_of(0) == "not_open_yet"  # 30 days before the start


def test_rows_of_other_places_are_ignored_and_order_follows_the_places() -> None:
    places = pl.concat([_places(slots=1).with_columns(place_id=pl.lit("P2")), _places(slots=3)])
    proposals = pl.DataFrame({"proposal_id": ["A", "B", "C"], "place_id": ["P1", "P2", "P9"],
                              "status": ["hired", "open", "hired"]})
    s = _state(places, proposals, _placements().clear())
    assert s.free.tolist() == [0, 2]
    assert [STATES[i] for i in s.state.tolist()] == ["filled", "open"]
