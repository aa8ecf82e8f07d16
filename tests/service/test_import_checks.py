"""An import applies whole or not at all: file mistakes are refused with what to do about them, in
the words ``platsa validate`` uses (tests/service/test_cli_validate.py), and nothing is written.
Over real HTTP, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scoring.region import region_from_frames, write_region
from tests.regions import MANIFEST
from tests.service.conftest import Api, server_with_region, service_region

PROBLEM = "application/problem+json"
ZIP = {"Content-Type": "application/zip"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def own_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            database_urls: dict[str, str]) -> Iterator[Api]:
    with server_with_region(request.param, tmp_path_factory, database_urls, "import-checks") as api:
        yield api


def region_files(folder: Path, fmt: str = "csv") -> dict[str, bytes]:
    write_region(region_from_frames(MANIFEST, service_region()), folder, fmt=fmt)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def refused(api: Api, **request: object) -> list[str]:
    """Post an import that must be refused with 422; the problems, described; the region unchanged."""
    with api.client("coordinator") as client:
        before = client.get("/v1/region").json()
        answer = client.post("/v1/region/import", **request)  # type: ignore[arg-type]
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == PROBLEM
        assert answer.json()["type"] == "/problems/invalid-region"
        assert client.get("/v1/region").json() == before
    return [f"{p['file']}: {p['reason']}" for p in answer.json()["problems"]]


def test_two_zip_members_of_one_name_are_refused_naming_both(own_api: Api, tmp_path: Path) -> None:
    files = region_files(tmp_path)
    members = {f"a/{name}": data for name, data in files.items()} | {"b/candidates.csv": files["candidates.csv"]}
    assert refused(own_api, content=zipped(members), headers=ZIP) == [
        "b/candidates.csv: a/candidates.csv and b/candidates.csv are both named candidates.csv: keep one of them"]
    # The same in a multipart form: two parts of one name, or a part beside a zip that holds it.
    form = [("files", (name, data)) for name, data in files.items()] + [
        ("files", ("candidates.csv", files["candidates.csv"]))]
    assert refused(own_api, files=form) == [
        "candidates.csv: candidates.csv and candidates.csv are both named candidates.csv: keep one of them"]
    form = [("files", ("region.zip", zipped(files))), ("files", ("places.csv", files["places.csv"]))]
    assert refused(own_api, files=form) == [
        "places.csv: region.zip: places.csv and places.csv are both named places.csv: keep one of them"]


def test_a_table_in_both_formats_is_refused_naming_both(own_api: Api, tmp_path: Path) -> None:
    files = region_files(tmp_path / "csv")
    files["places.parquet"] = region_files(tmp_path / "parquet", fmt="parquet")["places.parquet"]
    assert refused(own_api, files=[("files", (name, data)) for name, data in files.items()]) == [
        "places.csv: both places.csv and places.parquet hold table places: keep one of them"]


def test_a_semicolon_separated_csv_is_refused_with_what_to_do(own_api: Api, tmp_path: Path) -> None:
    files = region_files(tmp_path)
    files["districts.csv"] = files["districts.csv"].replace(b",", b";")
    assert refused(own_api, content=zipped(files), headers=ZIP) == [
        "districts.csv: this file is separated by semicolons (Swedish Excel's default); save it as "
        "comma-separated CSV (UTF-8)"]
