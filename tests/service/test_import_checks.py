"""An import applies whole or not at all, policy included: file mistakes are refused with what to do
about them, in the words ``platsa validate`` uses (tests/service/test_cli_validate.py); a policy that
does not resolve, or does not fit the region, is refused before anything is written; and a restart
afterwards starts as usual. A stored region whose policy has gone (its file deleted) does not stop
the service from starting: it answers 503 saying why. Over real HTTP, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import zipfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
import sqlalchemy as sa

from scoring.region import Manifest, region_from_frames, write_region
from service.config import Settings
from service.db.tables import REGION_TABLES, region_meta
from tests.regions import MANIFEST
from tests.service.conftest import (
    TEST_ENGINE,
    Api,
    ThreadServer,
    add_keys,
    free_port,
    new_database,
    serve_process,
    server_with_region,
    service_region,
)
from tests.service.integration_support import wait_for

PROBLEM = "application/problem+json"
ZIP = {"Content-Type": "application/zip"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def own_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            database_urls: dict[str, str]) -> Iterator[Api]:
    with server_with_region(request.param, tmp_path_factory, database_urls, "import-checks") as api:
        yield api


def region_files(folder: Path, fmt: str = "csv", manifest: Manifest = MANIFEST) -> dict[str, bytes]:
    write_region(region_from_frames(manifest, service_region()), folder, fmt=fmt)
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


# -- the policy --------------------------------------------------------------------------------------


def stored(api: Api) -> dict[str, list[dict[str, Any]]]:
    """Every row of the region's tables and its version row, as the database holds them."""
    db = api.db()
    tables = {**REGION_TABLES, "region_meta": region_meta}
    with db.connect() as conn:
        rows = {name: [dict(r) for r in conn.execute(
                    sa.select(table).order_by(*table.primary_key.columns)).mappings()]
                for name, table in tables.items()}
    db.dispose()
    return rows


def with_policy(policy: str) -> bytes:
    return region_zip_of(dataclasses.replace(MANIFEST, policy=policy))


def region_zip_of(manifest: Manifest, frames: dict[str, pl.DataFrame] | None = None) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_region(region_from_frames(manifest, frames or service_region()), tmp, fmt="csv")
        return zipped({path.name: path.read_bytes() for path in sorted(Path(tmp).iterdir())})


SHIPPED = "gothenburg, ostersund-alt1, ostersund-alt2, sodertalje"
#: The policies refused below, with the one problem each gets (on region.toml, column policy).
REFUSED_POLICIES = {
    "atlantis": f"no policy named 'atlantis'; the policies are: {SHIPPED} (name one of them, or put "
                "atlantis.toml in the policy folder)",
    "../gothenburg.toml": "not a policy id (lowercase letters, digits, '-' and '_'; never a path): name one "
                          f"of the policies: {SHIPPED}",
    # Resolves, but its keys are Södertälje's districts.
    "sodertalje": "policy 'sodertalje' has distribution keys for districts the region lacks: "
                  "ronna-geneta-lina, hovsjo, jarna, fornhoj-blombacka, pershagen-glasberga, enhorna, "
                  "holo-morko; add them to districts, or name a policy whose keys are the region's districts",
}


def test_a_policy_that_does_not_resolve_or_fit_is_refused_before_anything_is_written(own_api: Api) -> None:
    before = stored(own_api)
    for policy, reason in REFUSED_POLICIES.items():
        with own_api.client("coordinator") as client:
            answer = client.post("/v1/region/import", content=with_policy(policy), headers=ZIP)
        assert answer.status_code == 422, answer.text
        assert answer.json()["type"] == "/problems/invalid-region"
        assert answer.json()["problems"] == [
            {"file": "region.toml", "row": None, "column": "policy", "value": policy, "reason": reason}]
    assert stored(own_api) == before
    # The service goes on with the region it had.
    with own_api.client("coordinator") as client:
        assert client.get("/v1/region").json()["policy"] == "gothenburg"
        assert client.get("/v1/places/pl1/shortlist").status_code == 200


def test_a_policy_from_the_policy_folder_is_found(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                                  database_urls: dict[str, str]) -> None:
    folder = own_policy(tmp_path, "platsa-test")

    def settings(url: str) -> Settings:
        return Settings(database_url=url, port=free_port(), engine=TEST_ENGINE, policy_dir=folder)

    with (server_with_region("sqlite", tmp_path_factory, database_urls, "policy-folder", settings) as api,
          api.client("coordinator") as client):
        answer = client.post("/v1/region/import", content=with_policy("platsa-test"), headers=ZIP)
        assert answer.status_code == 201, answer.text
        assert client.get("/v1/region").json()["policy"] == "platsa-test"
        wrong = client.post("/v1/region/import", content=with_policy("atlantis"), headers=ZIP)
        assert "the policies are: gothenburg, ostersund-alt1, ostersund-alt2, platsa-test, sodertalje" in (
            wrong.json()["problems"][0]["reason"])


def own_policy(folder: Path, policy_id: str) -> Path:
    """A policy folder holding the gothenburg policy under another id."""
    text = (resources.files("scoring") / "policies" / "gothenburg.toml").read_text("utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{policy_id}.toml").write_text(text.replace('id = "gothenburg"', f'id = "{policy_id}"'),
                                              encoding="utf-8")
    return folder


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_restart_after_refused_imports_starts_and_serves_the_previous_region(
        backend: str, tmp_path_factory: pytest.TempPathFactory, database_urls: dict[str, str]) -> None:
    with server_with_region(backend, tmp_path_factory, database_urls, "restart") as api:
        with api.client("coordinator") as client:
            region = client.get("/v1/region").json()
            for policy in REFUSED_POLICIES:
                assert client.post("/v1/region/import", content=with_policy(policy),
                                   headers=ZIP).status_code == 422
        before = stored(api)
    # A second start of the service, in a process of its own, over the same database.
    port = free_port()
    with serve_process(api.database_url, port), httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {api.tokens['coordinator']}"},
            timeout=30) as client:
        assert client.get("/health").json() == {"status": "ok", "region_loaded": True}
        assert client.get("/v1/region").json() == region
        assert client.get("/v1/places/pl1/shortlist").status_code == 200
    assert stored(api) == before


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_stored_region_whose_policy_is_gone_starts_and_answers_503(
        backend: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
        database_urls: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    folder = own_policy(tmp_path / "policies", "platsa-test")
    url = new_database(backend, tmp_path_factory, database_urls, "policy-gone")
    tokens = add_keys(url)
    settings = Settings(database_url=url, port=free_port(), engine=TEST_ENGINE, policy_dir=folder)
    headers = {"Authorization": f"Bearer {tokens['coordinator']}"}
    caplog.set_level(logging.ERROR, logger="service.state")
    with ThreadServer(settings), httpx.Client(base_url=f"http://127.0.0.1:{settings.port}", headers=headers,
                                              timeout=30) as client:
        answer = client.post("/v1/region/import", content=with_policy("platsa-test"), headers=ZIP)
        assert answer.status_code == 201, answer.text
        (folder / "platsa-test.toml").unlink()  # the operator removes the policy file
        # A write makes the running service rebuild its region: it keeps the policy it loaded.
        new = service_region()["candidates"].row(0, named=True) | {"candidate_id": "c-new"}
        new = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in new.items()}
        assert client.post("/v1/candidates", json=new).status_code == 201
        wait_for(lambda: any("still serving region version 1" in r.getMessage() for r in caplog.records),
                 what="the rebuild")
        assert client.get("/v1/region").json()["policy"] == "platsa-test"
        assert client.get("/v1/procurements/p1").json()["verdict"]["policy_id"] == "platsa-test"
    caplog.clear()
    settings = settings.model_copy(update={"port": free_port()})
    with ThreadServer(settings), httpx.Client(base_url=f"http://127.0.0.1:{settings.port}", headers=headers,
                                              timeout=30) as client:
        why = ("the stored region (version 1) names policy 'platsa-test', which cannot be loaded (no policy "
               "named 'platsa-test' (shipped: gothenburg, ostersund-alt1, ostersund-alt2, sodertalje)): put "
               "its file back in PLATSA_POLICY_DIR and restart, or import a region that names an existing "
               "policy")
        assert [r.getMessage() for r in caplog.records if r.name == "service.state"] == [
            f"{why}; the region's endpoints answer 503 until then"]
        assert client.get("/health").json() == {"status": "ok", "region_loaded": False, "problem": why}
        for path in ("/v1/region", "/v1/places/pl1/shortlist", "/v1/procurements", "/v1/procurements/p1"):
            answer = client.get(path)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.json()["type"] == "/problems/unavailable"
            assert answer.json()["detail"] == why
        # An import of a region that names a policy there is brings the service back (replacing the
        # candidate added through the API before).
        answer = client.post("/v1/region/import", content=with_policy("gothenburg"), headers=ZIP,
                             params={"mode": "replace"})
        assert answer.status_code == 201, answer.text
        assert [(e["table"], e["id"]) for e in answer.json()["discarded"]] == [("candidates", "c-new")]
        assert client.get("/v1/region").json()["policy"] == "gothenburg"
        assert client.get("/health").json() == {"status": "ok", "region_loaded": True}
