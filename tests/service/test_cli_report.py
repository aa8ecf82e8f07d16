"""``platsa report`` as the README runs it, with its numbers checked against a direct count."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook

from fixtures.simulate import simulate_year
from scoring.domain import contract_months
from scoring.region import Region, load_region
from service.cli import main

YEAR = 2026


def _add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    for d in range(day.day, 27, -1):
        try:
            return dt.date(y, m + 1, d)
        except ValueError:
            continue
    return dt.date(y, m + 1, min(day.day, 28))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The README's command: a small Gothenburg region, then the report of a simulated year."""
    root = tmp_path_factory.mktemp("demo")
    data, out = root / "demo", root / "demo-report"
    assert main(["fixtures", "generate", "--region", "gothenburg", "--size", "small", "--seed", "7",
                 "--out", str(data)]) == 0
    return data, out


@pytest.fixture(scope="module")
def simulated(demo: tuple[Path, Path]) -> Region:
    """The same simulated year, drawn again independently of the CLI."""
    return simulate_year(load_region(demo[0]), seed=7, year=YEAR)


def test_report_command_agrees_with_a_direct_count(demo: tuple[Path, Path], simulated: Region,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data, out = demo
    assert main(["report", "--data", str(data), "--simulate-year", "--out", str(out)]) == 0
    text = capsys.readouterr().out

    # Counted here with polars, straight from the tables.
    start, end = dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31)
    cohort = simulated.placements.filter(pl.col("started_on").is_between(start, end))
    people = cohort["candidate_id"].n_unique()
    made = simulated.proposals.filter(pl.col("created_on").is_between(start, end))
    answered = made.filter(pl.col("status") != "open").height
    hired = simulated.placements.filter(pl.col("hired_on").is_between(start, end))["candidate_id"].n_unique()
    early = cohort.filter(pl.col("end_reason") == "ended_early")
    assert cohort.height > 30
    assert f"placements started: {cohort.height:,}; people placed: {people:,}" in text
    assert f"proposals made: {made.height:,}; answered by the supplier: {answered:,}" in text
    assert f"people hired in the year: {hired:,} (" in text
    assert f"ended early {early.height}" in text

    # The files agree with the same counts.
    figures = dict(pl.read_csv(out / "key_figures.csv").select("figure", "value").iter_rows())
    assert figures["placements_started"] == cohort.height and figures["people_placed"] == people
    by_type = cohort.join(simulated.places.select("place_id", "placement_type"), on="place_id")
    for ptype, n in by_type.group_by("placement_type").agg(pl.col("candidate_id").n_unique()).iter_rows():
        assert figures[f"people_into_{ptype}"] == n

    by_district = pl.read_csv(out / "by_district.csv").select("district_id", "people").sort("district_id")
    direct = (cohort.join(simulated.candidates.select("candidate_id", "home_district"), on="candidate_id")
              .group_by("home_district").agg(pl.col("candidate_id").n_unique().alias("n")))
    counted = dict(direct.iter_rows())
    assert by_district["people"].to_list() == [counted.get(d, 0) for d in by_district["district_id"]]
    assert by_district["people"].sum() == people

    # Requirement status: each hard requirement judged on the part of its contract that has run, counted
    # directly: placements on its places since the contract began, the checkpoint reached, the places due.
    req = pl.read_csv(out / "requirements.csv", try_parse_dates=True)
    placed = simulated.placements.join(simulated.places.select("place_id", "procurement_id"), on="place_id")
    procs = {r["procurement_id"]: r for r in simulated.procurements.iter_rows(named=True)}
    for row in req.filter(pl.col("requirement_type") == "hard").iter_rows(named=True):
        proc = procs[row["procurement_id"]]
        day = min(end, proc["contract_end"])
        mine = placed.filter((pl.col("procurement_id") == row["procurement_id"])
                             & pl.col("started_on").is_between(proc["contract_start"], day))
        assert row["placements_to_date"] == mine.height
        assert row["delivered"] == mine.height - row["not_counted"]
        # Checkpoints: each 12 months of the contract (its last day), and the contract's end.
        reached, k = [], 1
        while True:
            c = _add_months(proc["contract_start"], 12 * k) - dt.timedelta(days=1)
            if c >= proc["contract_end"] or _add_months(c, 1) > proc["contract_end"]:
                break
            if c <= day:
                reached.append(c)
            k += 1
        if proc["contract_end"] <= day:
            reached.append(proc["contract_end"])
        if not reached:
            assert (row["status"], row["possible_penalty_sek"]) == ("not_due", 0)
            continue
        final = reached[-1] == proc["contract_end"]
        months = lambda a, b: contract_months(a, b)  # noqa: E731
        due = proc["required_places"] if final else int(
            proc["required_places"] * months(proc["contract_start"], reached[-1])
            / months(proc["contract_start"], proc["contract_end"]) + 1e-9)
        assert row["due"] == due
        expected = ("not_due" if due == 0 and not final else "met" if row["delivered"] >= due
                    else "partly_met" if row["delivered"] > 0 else "not_met")
        assert row["status"] == expected
        assert row["possible_penalty_sek"] == (max(due - row["delivered"], 0) * proc["penalty_sek"] if final else 0)
    counts = dict(req.group_by("status").len().iter_rows())
    assert ("met " + str(counts.get("met", 0))) in text

    # Spreadsheet and chart.
    book = load_workbook(out / "follow-up.xlsx", read_only=True)
    assert {"Key figures", "Requirements", "By group", "By district", "Assumptions"} <= set(book.sheetnames)
    assert (out / "placements_by_group_district.png").read_bytes()[:4] == b"\x89PNG"
    assert "Assumptions" in text and "175,000 SEK a year" in text


def test_researcher_files_hold_no_ids(demo: tuple[Path, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = demo
    assert main(["report", "--data", str(data), "--simulate-year", "--role", "researcher", "--out", str(tmp_path),
                 "--format", "csv"]) == 0
    capsys.readouterr()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "outcomes.csv" not in files and "estimate_per_person.csv" not in files
    for name in files:
        assert "candidate_id" not in pl.read_csv(tmp_path / name).columns


def test_bad_format_and_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--data", str(tmp_path), "--format", "pdf"]) == 2
    assert "unknown format(s) pdf" in capsys.readouterr().err
    assert main(["report", "--data", str(tmp_path / "nowhere")]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_the_real_year_is_partial_and_agrees_with_a_direct_count(demo: tuple[Path, Path],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Without a simulation the report covers the generated data up to their last day, and says so."""
    data, _ = demo
    region = load_region(data)
    assert main(["report", "--data", str(data)]) == 0
    text = capsys.readouterr().out
    through = max(region.manifest.reference_date, *(d for d in (
        region.proposals["created_on"].max(), region.proposals["decided_on"].max(),
        region.placements["started_on"].max(), region.placements["ended_on"].max(),
        region.placements["hired_on"].max()) if isinstance(d, dt.date)))
    assert through < dt.date(YEAR, 12, 31)
    assert f"{YEAR}-01-01 to {through.isoformat()} (PARTIAL YEAR)" in text
    cohort = region.placements.filter(pl.col("started_on").is_between(dt.date(YEAR, 1, 1), through))
    made = region.proposals.filter(pl.col("created_on").is_between(dt.date(YEAR, 1, 1), through))
    assert cohort.height > 0
    assert (f"placements started: {cohort.height:,}; people placed: {cohort['candidate_id'].n_unique():,}"
            in text)
    assert f"proposals made: {made.height:,}; answered by the supplier: " in text


def test_a_year_without_data_is_refused(demo: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = demo
    assert main(["report", "--data", str(data), "--year", "2030"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no data for 2030: the data cover" in captured.err
    assert main(["report", "--data", str(data), "--as-of", "2027-01-01"]) == 2
    assert "after the data's last day" in capsys.readouterr().err
