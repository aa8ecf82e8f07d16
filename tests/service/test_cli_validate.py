"""``platsa validate`` and ``platsa policies`` as a user runs them."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from scoring.region import region_from_frames, write_region
from service.cli import EXIT_OK, EXIT_PROBLEMS, main
from tests.regions import MANIFEST, hand_region


def test_valid_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_region(region_from_frames(MANIFEST, hand_region()), tmp_path, fmt="csv")
    assert main(["validate", str(tmp_path)]) == 0
    assert "valid (gothenburg, policy gothenburg): 10 districts" in capsys.readouterr().out


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


def test_file_mistakes_are_refused_with_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same words as the HTTP import (tests/service/test_import_checks.py)."""
    folder = tmp_path / "region"
    write_region(region_from_frames(MANIFEST, hand_region()), folder, fmt="csv")
    region_from_frames(MANIFEST, hand_region()).suppliers.write_parquet(folder / "suppliers.parquet")
    rows = (folder / "districts.csv").read_text("utf-8").splitlines()
    (folder / "districts.csv").write_text("\n".join(r.replace(",", ";") for r in rows) + "\n", encoding="utf-8")
    assert main(["validate", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "suppliers.csv: both suppliers.csv and suppliers.parquet hold table suppliers: keep one of them" in err
    assert ("districts.csv: this file is separated by semicolons (Swedish Excel's default); save it as "
            "comma-separated CSV (UTF-8)") in err


def test_a_zip_is_checked_as_the_import_checks_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "region"
    write_region(region_from_frames(MANIFEST, hand_region()), folder, fmt="csv")
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    for path, twice in ((good, False), (bad, True)):
        with zipfile.ZipFile(path, "w") as archive:
            for file in sorted(folder.iterdir()):
                archive.write(file, f"a/{file.name}")
            if twice:
                archive.write(folder / "candidates.csv", "b/candidates.csv")
    assert main(["validate", str(good)]) == 0
    assert "valid (gothenburg, policy gothenburg)" in capsys.readouterr().out
    assert main(["validate", str(bad)]) == 1
    assert ("b/candidates.csv: a/candidates.csv and b/candidates.csv are both named candidates.csv: keep one "
            "of them") in capsys.readouterr().err
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    assert main(["validate", str(tmp_path / "broken.zip")]) == 1
    assert "broken.zip: not a zip file" in capsys.readouterr().err


def test_a_folder_whose_policy_does_not_resolve_is_refused_without_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """validate, allocate and shortlist read the folder's policy as the server does (PLATSA_POLICY_DIR)."""
    write_region(region_from_frames(dataclasses.replace(MANIFEST, policy="platsa-test"), hand_region()),
                 tmp_path / "region", fmt="csv")
    folder = str(tmp_path / "region")
    problem = ("region.toml, column 'policy' (value 'platsa-test'): no policy named 'platsa-test'; the policies "
               "are: gothenburg, ostersund-alt1, ostersund-alt2, sodertalje (name one of them, or put "
               "platsa-test.toml in the policy folder)")
    monkeypatch.delenv("PLATSA_POLICY_DIR", raising=False)
    for command in (["validate", folder], ["allocate", "--data", folder, "--quiet"],
                    ["shortlist", "--data", folder, "--place", "pl1"], ["report", "--data", folder]):
        assert main(command) == EXIT_PROBLEMS, command
        captured = capsys.readouterr()
        assert problem in captured.err, command
        assert "Traceback" not in captured.err and captured.out == ""
    # --policy names the rules to use instead: the folder's own is not needed then.
    for command, shown in ((["allocate", "--data", folder, "--json"], '"policy": "gothenburg"'),
                           (["shortlist", "--data", folder, "--place", "pl1"], "policy gothenburg"),
                           (["report", "--data", folder], "(policy gothenburg)")):
        assert main([*command, "--policy", "gothenburg"]) == EXIT_OK, command
        assert shown in capsys.readouterr().out, command
    # Found where the server finds it.
    policies = tmp_path / "policies"
    policies.mkdir()
    text = (resources.files("scoring") / "policies" / "gothenburg.toml").read_text("utf-8")
    (policies / "platsa-test.toml").write_text(text.replace('id = "gothenburg"', 'id = "platsa-test"'),
                                               encoding="utf-8")
    monkeypatch.setenv("PLATSA_POLICY_DIR", str(policies))
    assert main(["validate", folder]) == EXIT_OK
    assert "valid (gothenburg, policy platsa-test)" in capsys.readouterr().out
    assert main(["shortlist", "--data", folder, "--place", "pl1"]) == EXIT_OK
    assert "policy platsa-test" in capsys.readouterr().out


def test_a_folder_whose_policy_does_not_fit_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_region(region_from_frames(dataclasses.replace(MANIFEST, policy="ostersund-alt1"), hand_region()),
                 tmp_path, fmt="csv")
    assert main(["validate", str(tmp_path)]) == EXIT_PROBLEMS
    assert ("region.toml, column 'policy' (value 'ostersund-alt1'): policy 'ostersund-alt1' has distribution "
            "keys for districts the region lacks: stadskarnan, lugnvik-odensala, torvalla, froson, brunflo, "
            "landsbygd; add them to districts, or name a policy whose keys are the region's districts"
            ) in capsys.readouterr().err
