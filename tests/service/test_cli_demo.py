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
    assert "status optimal (optimal)" in text and "gap 0.00%" in text
    assert "districts within their distribution-key bounds: 10 of 10" in text
    assert (out / "region.toml").exists() and (out / "candidates.parquet").exists()
    assert main(["validate", str(out)]) == 0
