"""``platsa shortlist`` on generated fixtures: table, JSON, and the error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures import generate_region
from scoring.region import write_region
from service.cli import EXIT_OK, EXIT_USAGE, main


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for region, size in (("gothenburg", "tiny"), ("ostersund", "small")):
        folder = tmp_path_factory.mktemp(f"{region}-{size}")
        write_region(generate_region(region, size, seed=7), folder)
        out[size] = folder
    return out


def test_table_on_tiny(regions: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["shortlist", "--data", str(regions["tiny"]), "--place", "P02", "-k", "3"])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert out.startswith("Shortlist for P02 (Lokalvårdare), supplier S01, policy gothenburg")
    assert "12 candidates, 6 eligible, 1 of them held back, 5 considered" in out
    assert "group minimums at every rank: youth 20%, foreign-born 40%, disability 15%" in out
    rows = [line for line in out.splitlines() if line[:4].strip().isdigit()]
    assert [row.split()[0] for row in rows] == ["1", "2", "3"]
    assert "ranked by score" in rows[0]
    assert "held back, by rule: open_proposal_elsewhere 1" in out


def test_json_on_small(regions: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["shortlist", "--data", str(regions["small"]), "--place", "P000027", "-k", "20", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK
    assert data["policy"] == "ostersund-alt1"
    assert (data["place_state"], data["free_slots"]) == ("open", 2)
    assert data["place_state_text"] == "open: 2 of 2 slots free, until 2028-11-27"
    assert data["min_shares"] == {"far from the labour market": 0.6, "gender-norm breaker": 0.1}
    assert len(data["lines"]) == 20
    assert [line["rank"] for line in data["lines"]] == list(range(1, 21))
    for line in data["lines"]:
        assert sum(t["points"] for t in line["terms"].values()) == pytest.approx(line["score"], abs=1e-3)
        assert line["flags"] == []


def test_options_on_small(regions: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["shortlist", "--data", str(regions["small"]), "--place", "P000027", "-k", "50"]
    assert main([*args, "--json", "--no-fair", "--policy", "gothenburg"]) == EXIT_OK
    plain = json.loads(capsys.readouterr().out)
    assert plain["fair"] is False and plain["min_shares"] == {} and plain["policy"] == "gothenburg"
    scores = [line["score"] for line in plain["lines"]]
    assert scores == sorted(scores, reverse=True)
    assert main([*args, "--json", "--include-held-back"]) == EXIT_OK
    held = json.loads(capsys.readouterr().out)
    assert held["counts"]["considered"] == held["counts"]["eligible"]
    assert main([*args, "--include-held-back"]) == EXIT_OK
    assert "(listed, marked)" in capsys.readouterr().out


@pytest.mark.parametrize(("place", "why"), [
    ("P000003", "not open yet: opens for matching on 2026-10-28, 90 days before it starts on 2027-01-26"),
    ("P000005", "filled: 1 slot, held by 1 open proposal"),
    ("P000007", "filled: 1 slot, held by 1 placement going on"),
    ("P000009", "closed: its period ended on 2026-04-25"),
])
def test_a_place_that_is_not_open_gets_no_list_and_says_why(regions: dict[str, Path], place: str, why: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shortlist", "--data", str(regions["small"]), "--place", place]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"the place is {why}\n" in out
    assert f"No candidate can be proposed: the place is {why}." in out
    assert main(["shortlist", "--data", str(regions["small"]), "--place", place, "--json"]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert (data["lines"], data["free_slots"], data["place_state_text"]) == ([], 0, why)


def test_unknown_place_exits_2(regions: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["shortlist", "--data", str(regions["tiny"]), "--place", "P000001"])
    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert captured.out == ""
    assert "no place 'P000001'" in captured.err
    assert "did you mean P01" in captured.err
    assert "Traceback" not in captured.err


def test_bad_k_exits_2(regions: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shortlist", "--data", str(regions["tiny"]), "--place", "P01", "-k", "0"]) == EXIT_USAGE
    assert "must be at least 1" in capsys.readouterr().err


def test_explain_a_candidate(regions: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["shortlist", "--data", str(regions["tiny"]), "--place", "P02", "-k", "3"]
    assert main([*args, "--explain", "C03"]) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "C03 for P02, policy gothenburg: eligible"
    assert out[1] == "score 42.5:"
    assert out[2].split()[:2] == ["competence", "0.0"]
    assert out[-1] == ("not on the list of 3: rank 4 by score of 5 considered; the lowest score on the list by "
                       "score is 47.5 (-5.0)")
    assert main([*args, "--explain", "C05", "--json"]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert (data["candidate_id"], data["place_id"], data["eligible"]) == ("C05", "P02", False)
    assert data["failures"] == [{"rule": "availability",
                                 "text": "available from 2026-10-16; the place starts 2026-09-08"}]
    assert [h["rule"] for h in data["held_back"]] == ["declined_by_supplier"]
    assert data["standing"]["status"] == "ineligible" and data["standing"]["k"] == 3
    assert sum(t["points"] for t in data["terms"].values()) == pytest.approx(data["score"], abs=1e-3)
    # Held back from the default list; listed with --include-held-back.
    assert main([*args, "--explain", "C01", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["standing"]["status"] == "held_back"
    assert main([*args, "--explain", "C01", "--json", "--include-held-back"]) == EXIT_OK
    held = json.loads(capsys.readouterr().out)["standing"]
    assert (held["status"], held["rank"], held["include_held_back"]) == ("on_list", 3, True)


def test_explain_an_unknown_candidate_exits_2(regions: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["shortlist", "--data", str(regions["tiny"]), "--place", "P02", "--explain", "C99"])
    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert captured.out == ""
    assert "no candidate 'C99'" in captured.err and "did you mean C09" in captured.err
    assert "Traceback" not in captured.err
