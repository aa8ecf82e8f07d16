"""``platsa demo``: the README's first command ends in a tour that works on a fresh machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.cli import main


def test_demo_tour(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "wrote and validated" in text
    assert "procurements qualify under gothenburg" in text and "does not qualify" in text
    assert "Shortlist for P" in text and "ranked by score" in text
    # The tour shows the place's free slots, and the round the places open today.
    assert "the place is open: " in text and " slots free" in text
    assert "places: 42 open today with 76 free slot(s); not open: 24 ended, 14 filled, 20 not open yet" in text
    assert "status optimal (optimal)" in text and "gap 0.00%" in text
    assert "districts within their distribution-key bounds: 10 of 10" in text
    assert (out / "region.toml").exists() and (out / "candidates.parquet").exists()
    assert main(["validate", str(out)]) == 0


def test_the_readme_quotes_the_demo_region_as_it_is() -> None:
    # README.md, Quick start: the curl example's place, and a place that is not open.
    from fixtures import generate_region
    from scoring.policy import load_policy
    from scoring.pool import build_pool
    from service.demo import DEMO_REGION

    name, size, seed = DEMO_REGION
    region = generate_region(name, size, seed=seed)
    _, places = build_pool(region, load_policy(region.manifest.policy))
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for place_id, state in (("P000003", "open: 1 of 1 slot free, until 2027-08-18"),
                            ("P000001", "closed: its period ended on 2025-07-07")):
        assert places.states.describe(places.index[place_id]) == state
        assert f'"{state}"' in readme.replace("\n", " ")
