"""Planning before procuring, by hand: places spread over the years, the yearly target, the effect."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from scoring.planning import PlanAssumptions, PlannedProcurement, plan
from scoring.policy import load_policy
from service.cli import main

d = dt.date


def planned(pid: str, start: dt.date, end: dt.date, req: str = "hard", places: int = 3) -> PlannedProcurement:
    return PlannedProcurement(pid, "Lokalvård", "service", start, end, 4_000_000, True, 12, req, places)


def test_places_target_and_effect_by_hand() -> None:
    # U1: 3 places over 18 months (2027-01 to 2028-06): 2.0 in 2027, 1.0 in 2028.
    # U2: dialogue, 2027-04 to 2027-12: a company with a requirement, no place.
    result = plan([planned("U1", d(2027, 1, 1), d(2028, 6, 30)), planned("U2", d(2027, 4, 1), d(2027, 12, 31),
                                                                          "dialogue", 0)],
                  load_policy("gothenburg"))
    assert result.total_places == 3
    assert [(y["year"], y["companies_with_requirement"], y["places"], y["target_places"], y["target_met"])
            for y in result.years] == [(2027, 2, 2.0, 1.0, True), (2028, 1, 1.0, 0.5, True)]
    # Per person-year: 0.5 × 175,000 + 0.3 × 43,000 = 100,400 SEK; 3 places × 18 months = 54 place-months
    # → 54 × 100,400 / 12 = 451,800 gross; net of 65 % displacement: 158,130.
    assert result.gross_sek == pytest.approx(451_800)
    assert result.net_sek == pytest.approx(158_130)
    assert result.years[0]["gross_sek"] == pytest.approx(3 * 12 * 100_400 / 12)  # 3 places all of 2027
    assert result.procurements[1]["places"] == 0 and result.procurements[1]["qualifies"] is True
    assert any("upper bound" in a for a in result.assumptions)


def test_no_requirement_no_target_and_every_problem_at_once() -> None:
    none = plan([planned("U3", d(2027, 1, 1), d(2027, 12, 31), "none", 0)], load_policy("gothenburg"),
                PlanAssumptions(1.0, 0.0))
    assert none.years[0]["target_met"] is None and none.gross_sek == 0
    with pytest.raises(ValueError) as info:
        plan([planned("U4", d(2027, 6, 1), d(2027, 1, 1), "hard", 0), planned("U4", d(2027, 1, 1), d(2027, 2, 1))],
             load_policy("gothenburg"), PlanAssumptions(0.8, 0.4))
    text = str(info.value)
    for part in ("is before contract_start", "needs required_places", "listed twice", "above 1"):
        assert part in text


def test_platsa_plan_prints_the_estimate_and_refuses_bad_rows(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "planned.csv"
    good.write_text("procurement_id,title,procurement_type,contract_start,contract_end,value_sek,"
                    "executed_locally,staff_needed,requirement_type,required_places\n"
                    "U1,Lokalvård,service,2027-01-01,2028-06-30,4000000,true,12,hard,3\n", encoding="utf-8")
    assert main(["plan", str(good)]) == 0
    out = capsys.readouterr().out
    assert "total: gross 451,800 SEK, net of displacement 158,130 SEK" in out and "Assumptions" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("procurement_id,title,procurement_type,contract_start,contract_end,value_sek,"
                   "executed_locally,staff_needed\nU1,x,service,2027-13-01,2028-06-30,lots,maybe,12\n",
                   encoding="utf-8")
    assert main(["plan", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "3 problem(s)" in err and "'contract_start'" in err and "'value_sek'" in err and "'executed_locally'" in err
