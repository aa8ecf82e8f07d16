"""Region import and validation: every problem at once, nothing half-loaded."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import polars as pl
import pytest

from scoring.exceptions import RegionValidationError
from scoring.region import RegionUpload, load_region, region_from_frames, validate_region, write_region
from tests.regions import MANIFEST, hand_region


@pytest.fixture(params=["csv", "parquet"])
def region_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    write_region(region_from_frames(MANIFEST, hand_region()), tmp_path, fmt=request.param)
    return tmp_path


def test_round_trip(region_dir: Path) -> None:
    region = load_region(region_dir)
    assert region.manifest == MANIFEST
    assert region.counts() == {"districts": 10, "occupations": 1, "suppliers": 1, "procurements": 1,
                               "places": 1, "candidates": 3, "proposals": 1, "placements": 0}
    assert region.candidates["competences"].to_list()[0] == ["lokalvård", "körkort B"]
    assert region.candidates["wished_placement_types"].to_list()[0] == []
    assert region.candidates.equals(region_from_frames(MANIFEST, hand_region()).candidates)


def test_same_region_same_bytes(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_region(region_from_frames(MANIFEST, hand_region()), tmp_path / name, fmt="parquet")
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_every_problem_with_row_column_value(tmp_path: Path) -> None:
    write_region(region_from_frames(MANIFEST, hand_region()), tmp_path, fmt="csv")
    cands = (tmp_path / "candidates.csv").read_text("utf-8").splitlines()
    # Row 2 (c2): a bad step, a bad gender and a date that is not a date; row 3 (c3): unknown district.
    cands[2] = cands[2].replace(",1,", ",7,", 1).replace(",M,", ",male,").replace("2026-09-01", "01/09/2026")
    cands[3] = cands[3].replace("c3,angered", "c3,atlantis")
    (tmp_path / "candidates.csv").write_text("\n".join(cands) + "\n", encoding="utf-8")
    places = (tmp_path / "places.csv").read_text("utf-8").replace(",2,2026-10-01", ",0,2026-10-01")
    (tmp_path / "places.csv").write_text(places, encoding="utf-8")

    region, problems = validate_region(tmp_path)
    assert region is None
    found = {(p.file, p.row, p.column, p.value) for p in problems}
    assert ("candidates.csv", 2, "work_ladder_step", "7") in found
    assert ("candidates.csv", 2, "gender", "male") in found
    assert ("candidates.csv", 2, "available_from", "01/09/2026") in found
    assert ("candidates.csv", 3, "home_district", "atlantis") in found
    assert ("places.csv", 1, "slots", "0") in found
    reasons = {(p.column, p.reason) for p in problems}
    assert ("gender", "must be one of F, M, X") in reasons
    assert ("slots", "must be at least 1") in reasons
    with pytest.raises(RegionValidationError) as info:
        load_region(tmp_path)
    assert len(info.value.problems) == len(problems)


def test_missing_and_unknown_columns_and_files(tmp_path: Path) -> None:
    write_region(region_from_frames(MANIFEST, hand_region()), tmp_path, fmt="csv")
    (tmp_path / "suppliers.csv").unlink()
    text = (tmp_path / "districts.csv").read_text("utf-8").replace("municipality", "kommun")
    (tmp_path / "districts.csv").write_text(text, encoding="utf-8")
    _, problems = validate_region(tmp_path)
    described = [p.describe() for p in problems]
    assert "suppliers.csv: missing: no suppliers.parquet or suppliers.csv" in described
    assert "districts.csv, column 'municipality': column missing" in described
    assert "districts.csv, column 'kommun': unknown column (check the spelling)" in described


def test_cross_table_rules(tmp_path: Path) -> None:
    frames = hand_region()
    frames["procurements"] = frames["procurements"].with_columns(
        contract_end=pl.lit(dt.date(2025, 1, 1)), required_places=pl.lit(0, dtype=pl.Int32),
    )
    frames["suppliers"] = pl.concat([frames["suppliers"], pl.DataFrame(
        {"supplier_id": ["s2"], "name": ["Bygg AB"], "org_number": ["556000-0001"]})])
    frames["places"] = frames["places"].with_columns(supplier_id=pl.lit("s2"))
    write_region(region_from_frames(MANIFEST, frames), tmp_path, fmt="parquet")
    _, problems = validate_region(tmp_path)
    reasons = {(p.file, p.column, p.reason) for p in problems}
    assert ("procurements.parquet", "contract_end", "contract ends before it starts") in reasons
    assert ("procurements.parquet", "required_places", "a hard requirement needs at least 1 place") in reasons
    assert ("places.parquet", "supplier_id", "not the supplier that won the place's procurement") in reasons


def test_duplicates_and_many_bad_rows_are_counted(tmp_path: Path) -> None:
    frames = hand_region()
    many = pl.concat([frames["candidates"]] * 20)  # 60 rows, ids repeated
    frames["candidates"] = many
    write_region(region_from_frames(MANIFEST, frames), tmp_path, fmt="csv")
    _, problems = validate_region(tmp_path)
    dup = [p for p in problems if p.column == "candidate_id"]
    assert len(dup) == 21  # 20 rows listed, then one line counting the other 40
    assert dup[-1].row is None and "40 more rows" in dup[-1].reason


def test_not_a_folder_and_bad_manifest(tmp_path: Path) -> None:
    _, problems = validate_region(tmp_path / "nope")
    assert problems[0].reason == "not a folder"
    write_region(region_from_frames(MANIFEST, hand_region()), tmp_path, fmt="csv")
    (tmp_path / "region.toml").write_text('region = "x"\nreference_date = "soon"\n', encoding="utf-8")
    _, problems = validate_region(tmp_path)
    assert {(p.column, p.reason) for p in problems} >= {
        ("policy", "missing"), ("reference_date", "must be a date, YYYY-MM-DD"),
    }


def test_unreadable_file(tmp_path: Path) -> None:
    write_region(region_from_frames(MANIFEST, hand_region()), tmp_path, fmt="parquet")
    (tmp_path / "places.parquet").write_bytes(b"not parquet at all")
    _, problems = validate_region(tmp_path)
    assert problems[0].file == "places.parquet" and "cannot be read" in problems[0].reason


def test_a_taught_competence_must_be_a_required_one(tmp_path: Path) -> None:
    frames = hand_region()
    frames["places"] = frames["places"].with_columns(
        competences_learnable=pl.Series([["Lokalvård ", "B-körkort"]], dtype=pl.List(pl.String)))
    write_region(region_from_frames(MANIFEST, frames), tmp_path, fmt="csv")
    region, problems = validate_region(tmp_path)
    assert region is None
    assert [p.describe() for p in problems] == [
        "places.csv, row 1, column 'competences_learnable' (value 'B-körkort'): not among the place's "
        "competences_required (list it there too)"]


def test_a_places_file_without_the_learnable_column_still_loads(tmp_path: Path) -> None:
    write_region(region_from_frames(MANIFEST, hand_region()), tmp_path, fmt="csv")
    places = pl.read_csv(tmp_path / "places.csv")
    places.drop("competences_learnable").write_csv(tmp_path / "places.csv")
    region, problems = validate_region(tmp_path)
    assert problems == [] and region is not None
    assert region.places["competences_learnable"].to_list() == [[]]


def test_a_table_in_both_formats_is_refused_naming_both(tmp_path: Path) -> None:
    write_region(region_from_frames(MANIFEST, hand_region()), tmp_path, fmt="csv")
    region_from_frames(MANIFEST, hand_region()).candidates.drop(
        "competences", "wished_placement_types", "support_needs").write_parquet(tmp_path / "candidates.parquet")
    region, problems = validate_region(tmp_path)
    assert region is None
    assert [p.describe() for p in problems] == [
        "candidates.csv: both candidates.csv and candidates.parquet hold table candidates: keep one of them"]


def test_a_semicolon_separated_csv_is_refused_with_what_to_do(tmp_path: Path) -> None:
    write_region(region_from_frames(MANIFEST, hand_region()), tmp_path, fmt="csv")
    # As Excel with Swedish settings saves it: semicolons between cells, a byte-order mark first.
    rows = [line.split(",") for line in (tmp_path / "districts.csv").read_text("utf-8").splitlines()]
    (tmp_path / "districts.csv").write_text("\ufeff" + "\n".join(";".join(r) for r in rows) + "\n",
                                            encoding="utf-8")
    region, problems = validate_region(tmp_path)
    assert region is None
    # One problem that says what to do, not one per column the comma-split header lacks.
    assert [p.describe() for p in problems] == [
        "districts.csv: this file is separated by semicolons (Swedish Excel's default); save it as "
        "comma-separated CSV (UTF-8)"]


def test_an_upload_with_two_files_of_one_name_is_refused_naming_both(tmp_path: Path) -> None:
    source = tmp_path / "source"
    write_region(region_from_frames(MANIFEST, hand_region()), source, fmt="csv")
    archive_path = tmp_path / "region.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for path in sorted(source.iterdir()):
            archive.write(path, f"a/{path.name}")
        archive.write(source / "candidates.csv", "b/candidates.csv")
        archive.writestr("__MACOSX/a/._candidates.csv", b"resource fork")
        archive.writestr("a/README.txt", b"notes")
    upload = RegionUpload(tmp_path / "unpacked")
    upload.folder.mkdir()
    zipped = upload.open_zip(archive_path, "region.zip")
    assert zipped is not None
    with zipped:
        upload.add_zip(zipped)
    upload.add_file("candidates.csv", b"")
    assert [p.describe() for p in upload.problems] == [
        "b/candidates.csv: a/candidates.csv and b/candidates.csv are both named candidates.csv: keep one of them",
        "a/README.txt: not a region file (region.toml, <table>.csv or <table>.parquet)",
        "candidates.csv: a/candidates.csv and candidates.csv are both named candidates.csv: keep one of them",
    ]
    # The first one is unpacked, as sent; nothing of the others.
    assert (upload.folder / "candidates.csv").read_bytes() == (source / "candidates.csv").read_bytes()
    assert upload.open_zip(b"not a zip", "upload") is None
    assert upload.problems[-1].describe() == "upload: not a zip file"


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    write_region(region_from_frames(MANIFEST, hand_region()), tmp_path, fmt="csv")
    text = (tmp_path / "districts.csv").read_text("utf-8")
    (tmp_path / "districts.csv").write_text("\ufeff" + text, encoding="utf-8")  # Excel's "CSV UTF-8"
    region, problems = validate_region(tmp_path)
    assert problems == [] and region is not None
    assert region.districts.equals(region_from_frames(MANIFEST, hand_region()).districts)
