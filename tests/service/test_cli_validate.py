"""``platsa validate`` and ``platsa policies`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scoring.region import region_from_frames, write_region
from service.cli import main
from tests.regions import MANIFEST, hand_region


def test_valid_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_region(region_from_frames(MANIFEST, hand_region()), tmp_path, fmt="csv")
    assert main(["validate", str(tmp_path)]) == 0
    assert "valid (gothenburg, policy gothenburg): 2 districts" in capsys.readouterr().out


def test_broken_folder_names_rows_and_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_region(region_from_frames(MANIFEST, hand_region()), tmp_path, fmt="csv")
    text = (tmp_path / "candidates.csv").read_text("utf-8").replace("c2,centrum", "c2,nowhere")
    (tmp_path / "candidates.csv").write_text(text.replace(",2004,", ",year,"), encoding="utf-8")
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "2 problem(s), nothing loaded" in err
    assert "candidates.csv, row 2, column 'home_district' (value 'nowhere'): no such district_id" in err
    assert "candidates.csv, row 1, column 'birth_year' (value 'year'): not a valid whole number" in err

    assert main(["validate", "--json", str(tmp_path)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    assert {"file": "candidates.csv", "row": 2, "column": "home_district", "value": "nowhere",
            "reason": "no such district_id in districts"} in report["problems"]


def test_policies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policies", "list"]) == 0
    assert "ostersund-alt2" in capsys.readouterr().out
    assert main(["policies", "qualifies", "gothenburg", "--type", "service", "--start", "2026-01-01",
                 "--end", "2026-04-30", "--staff", "3"]) == 1
    assert "must be longer than 4 months" in capsys.readouterr().out
    assert main(["policies", "show", "atlantis"]) == 1
    assert "no policy named 'atlantis'" in capsys.readouterr().err
