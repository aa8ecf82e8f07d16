"""Keys are refused at creation when their binding is wrong: every problem named, nothing created.

On SQLite and PostgreSQL: the library (``service.auth.create_key``) on a database without a region
(bound keys are created with a warning) and with the test region (unknown districts and suppliers
refused, the known ids listed), and ``platsa admin create-key`` (exit code 2, no traceback); and
what a key bound to something the region lacks sees over HTTP: nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import polars as pl
import pytest
import sqlalchemy as sa

from scoring.region import region_from_frames
from service import store
from service.auth import KeyBindingError, create_key, hash_token
from service.cli import EXIT_OK, EXIT_USAGE, main
from service.config import Settings
from service.db import make_engine, migrate
from service.db.tables import api_keys
from tests.regions import MANIFEST
from tests.service.conftest import Api, new_database, service_region


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             database_urls: dict[str, str]) -> Iterator[tuple[str, sa.Engine]]:
    url = new_database(request.param, tmp_path_factory, database_urls, "keys")
    db = make_engine(Settings(database_url=url).sqlalchemy_url)
    migrate(db)
    yield url, db
    db.dispose()


def import_region(db: sa.Engine) -> None:
    with db.begin() as conn:
        store.replace_region(conn, region_from_frames(MANIFEST, service_region()))


def refusal(db: sa.Engine, **kwargs: object) -> list[str]:
    with db.begin() as conn, pytest.raises(KeyBindingError) as caught:
        create_key(conn, **kwargs)  # type: ignore[arg-type]
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one() == 0
    return list(caught.value.problems)


def test_a_binding_to_what_the_region_lacks_is_refused(database: tuple[str, sa.Engine]) -> None:
    _, db = database
    import_region(db)
    assert refusal(db, role="labour_market_unit", district_id="angerd") == [
        "no district 'angerd' in the stored region (did you mean 'angered'?); known: angered, askim-frolunda-hogsbo, centrum, lundby, majorna-linne, norra-hisingen, orgryte-harlanda, ostra-goteborg, vastra-goteborg, vastra-hisingen"]
    assert refusal(db, role="supplier", supplier_id="s9") == [
        "no supplier 's9' in the stored region; known: s1, s2"]
    with db.begin() as conn:
        unit = create_key(conn, role="labour_market_unit", district_id="centrum")
        supplier = create_key(conn, role="supplier", supplier_id="s2")
    assert (unit.principal.district_id, unit.warnings) == ("centrum", ())
    assert (supplier.principal.supplier_id, supplier.warnings) == ("s2", ())


def test_every_problem_is_named_at_once(database: tuple[str, sa.Engine]) -> None:
    _, db = database
    import_region(db)
    assert refusal(db, role="supplier", district_id="angered") == [
        "a supplier key needs a supplier (--supplier)", "a supplier key is not bound to a district"]
    assert refusal(db, role="labour_market_unit") == ["a labour_market_unit key needs a district (--district)"]
    assert refusal(db, role="coordinator", district_id="angered", supplier_id="s1") == [
        "a coordinator key is not bound to a district", "a coordinator key is not bound to a supplier"]
    assert refusal(db, role="auditor") == [
        "no role 'auditor' (roles: admin, coordinator, labour_market_unit, supplier, researcher, orderer)"]


def test_before_any_import_a_binding_is_kept_with_a_warning(database: tuple[str, sa.Engine]) -> None:
    _, db = database
    with db.begin() as conn:
        admin = create_key(conn, role="admin")
        unit = create_key(conn, role="labour_market_unit", district_id="angered")
    assert admin.warnings == ()
    assert unit.warnings == ("no region is imported yet: district 'angered' is not checked (a key bound to a "
                             "district the region lacks sees nothing of it)",)
    # A role that needs a binding is still refused without one.
    assert refusal_after(db, role="supplier") == ["a supplier key needs a supplier (--supplier)"]


def refusal_after(db: sa.Engine, **kwargs: object) -> list[str]:
    with db.begin() as conn, pytest.raises(KeyBindingError) as caught:
        create_key(conn, **kwargs)  # type: ignore[arg-type]
    return list(caught.value.problems)


def test_the_command_refuses_with_exit_code_2(database: tuple[str, sa.Engine], monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url, db = database
    monkeypatch.setenv("PLATSA_DATABASE_URL", url)
    assert main(["admin", "create-key", "--role", "coordinator"]) == EXIT_OK  # before the import: fine
    capsys.readouterr()
    assert main(["admin", "create-key", "--role", "supplier", "--supplier", "s1"]) == EXIT_OK
    before = capsys.readouterr()
    assert before.err == ("platsa admin create-key: warning: no region is imported yet: supplier 's1' is not "
                          "checked (a key bound to a supplier the region lacks sees nothing of it)\n")
    assert "created; its token, shown only now:" in before.out
    import_region(db)
    code = main(["admin", "create-key", "--role", "labour_market_unit", "--district", "nowhere",
                 "--supplier", "s1"])
    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "platsa admin create-key: a labour_market_unit key is not bound to a supplier",
        "platsa admin create-key: no district 'nowhere' in the stored region; known: angered, askim-frolunda-hogsbo, centrum, lundby, majorna-linne, norra-hisingen, orgryte-harlanda, ostra-goteborg, vastra-goteborg, vastra-hisingen",
        "platsa admin create-key: no key was created"]
    assert "Traceback" not in captured.err
    assert main(["admin", "create-key", "--role", "labour_market_unit", "--district", "angered"]) == EXIT_OK
    assert capsys.readouterr().err == ""
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one() == 3


def test_a_long_list_of_known_ids_is_cut(database: tuple[str, sa.Engine]) -> None:
    _, db = database
    frames = service_region()
    extra = pl.DataFrame({"supplier_id": [f"t{i:02d}" for i in range(1, 26)],
                          "name": [f"Leverantör {i}" for i in range(1, 26)], "org_number": ["556000-0000"] * 25})
    frames["suppliers"] = pl.concat([frames["suppliers"], extra])
    with db.begin() as conn:
        store.replace_region(conn, region_from_frames(MANIFEST, frames))
    listed = ", ".join(["s1", "s2", *(f"t{i:02d}" for i in range(1, 19))])
    assert refusal(db, role="supplier", supplier_id="t99") == [
        f"no supplier 't99' in the stored region (did you mean 't19', 't09'?); known: {listed}, … (27 in all)"]


def test_a_key_bound_to_what_the_region_lacks_sees_nothing(api: Api) -> None:
    # As a key made before the first import, or one whose district a re-import dropped.
    db = api.db()
    tokens = {}
    with db.begin() as conn:
        for role, district, supplier in (("labour_market_unit", "nowhere", None), ("supplier", None, "s9")):
            token = f"platsa_test-unbound-{role}"
            conn.execute(api_keys.insert().values(
                name=f"unbound {role}", role=role, district_id=district, supplier_id=supplier,
                token_hash=hash_token(token), token_prefix=token[:11], created_at=dt.datetime.now(dt.UTC)))
            tokens[role] = {"Authorization": f"Bearer {token}"}
    db.dispose()
    with httpx.Client(base_url=api.base_url, headers=tokens["labour_market_unit"]) as unit:
        assert unit.get("/v1/candidates").json()["total"] == 0
        assert unit.get("/v1/places/pl1/shortlist").json()["lines"] == []
        assert unit.get("/v1/places/pl1/shortlist/explain/c1").status_code == 404
    with httpx.Client(base_url=api.base_url, headers=tokens["supplier"]) as supplier:
        assert supplier.get("/v1/places").json()["total"] == 0
        assert supplier.get("/v1/proposals").json()["total"] == 0
        assert supplier.get("/v1/suppliers/s9").status_code == 404
