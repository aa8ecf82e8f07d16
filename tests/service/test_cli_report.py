"""``platsa report`` as the README runs it, with its numbers checked against a direct count."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook

from fixtures.simulate import simulate_year
from scoring.region import Region, load_region
from service.cli import main

YEAR = 2026


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

    # Requirement status: delivered places of each hard requirement, counted directly.
    req = pl.read_csv(out / "requirements.csv")
    on_proc = cohort.join(simulated.places.select("place_id", "procurement_id"), on="place_id")
    for row in req.filter(pl.col("requirement_type") == "hard").iter_rows(named=True):
        assert row["started_in_period"] == on_proc.filter(pl.col("procurement_id") == row["procurement_id"]).height
        assert row["delivered"] == row["started_in_period"] - row["not_counted"]
        expected = ("met" if row["delivered"] >= row["required_places"]
                    else "partly_met" if row["delivered"] > 0 else "not_met")
        assert row["status"] == expected
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
