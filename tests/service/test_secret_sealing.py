"""Webhook signing secrets are sealed at rest under the server's key: never in clear in the database,
still signing every delivery, re-sealed when the key changes, and a lost key is a clear, recoverable
failure in the delivery log rather than unsigned webhooks."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from service.config import Settings
from service.db import make_engine, migrate
from service.integration import sealing
from service.integration.sealing import PREFIX, SealError, SecretBox
from service.integration.tables import integration_secrets, webhook_endpoints, webhook_secrets
from tests.service.conftest import Api, ThreadServer, add_keys, new_database, region_zip
from tests.service.integration_support import (
    Receiver,
    integration_settings,
    propose,
    register,
    sensitive_region,
    wait_for,
)

K1, K2, K3 = "first-server-key-" + "a" * 20, "second-server-key-" + "b" * 20, "third-server-key-" + "c" * 20


def test_a_box_seals_opens_and_reseals() -> None:
    box = SecretBox([K1])
    sealed = box.seal("whsec_abc")
    assert sealed.startswith(PREFIX) and "whsec_abc" not in sealed
    assert box.seal("whsec_abc") != sealed  # a fresh IV each time: equal secrets do not look equal
    assert box.open(sealed) == "whsec_abc"
    assert box.resealed(sealed) is None
    with pytest.raises(SealError):
        SecretBox([K2]).open(sealed)
    with pytest.raises(SealError):
        box.open(sealed[:-4] + "AAAA")  # altered: the tag refuses it
    rotated = SecretBox([K2, K1])
    assert rotated.open(sealed) == "whsec_abc"
    again = rotated.resealed(sealed)
    assert again is not None and SecretBox([K2]).open(again) == "whsec_abc"
    # A secret stored in clear by an earlier version still opens, and is sealed on the next start.
    assert box.open("whsec_clear") == "whsec_clear"
    legacy = box.resealed("whsec_clear")
    assert legacy is not None and box.open(legacy) == "whsec_clear"


def test_a_short_key_is_refused_without_showing_it() -> None:
    with pytest.raises(SealError) as refused:
        SecretBox([K1, "too-short-secret"])
    assert "too-short-secret" not in str(refused.value) and "number 2" in str(refused.value)
    assert "x" * 40 not in repr(Settings(secret_key="x" * 40))


def test_where_the_server_key_comes_from(tmp_path: Path) -> None:
    sqlite = Settings(database_url=f"sqlite:///{tmp_path / 'platsa.db'}")
    assert sqlite.secret_key_path == tmp_path / "platsa.db.key"
    assert Settings(database_url="sqlite:///./platsa.db").secret_key_path == Path("platsa.db.key")
    assert Settings(database_url="sqlite://").secret_key_path is None
    assert Settings(database_url="postgresql://u@h/db").secret_key_path is None
    assert Settings(database_url="postgresql://u@h/db", secret_key_file=tmp_path / "k").secret_key_path == \
        tmp_path / "k"

    db = make_engine(sqlite.sqlalchemy_url)
    migrate(db)
    first = sealing.ensure_key(db, sqlite)
    key_file = tmp_path / "platsa.db.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    with db.begin() as conn:
        assert sealing.load_box(conn, sqlite) is first  # the file is read again, and the same key found
        assert conn.execute(sa.select(integration_secrets)).all() == []  # not kept in the database
        configured = sealing.load_box(conn, Settings(database_url=sqlite.database_url, secret_key=K1))
    assert configured.open(SecretBox([K1]).seal("s")) == "s"
    key_file.write_text("")
    with pytest.raises(SealError, match="empty"):
        sealing.ensure_key(db, sqlite)
    db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def fresh(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          database_urls: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    url = new_database(request.param, tmp_path_factory, database_urls, "sealing")
    yield url, add_keys(url)


def serve(url: str, tokens: dict[str, str], backend: str, **settings: Any) -> tuple[ThreadServer, Api]:
    values = integration_settings(url, **settings)
    return ThreadServer(values), Api(backend, f"http://127.0.0.1:{values.port}", url, tokens)


def stored_secrets(url: str) -> dict[str, list[str]]:
    """The stored secret values of each supplier's endpoints, oldest first."""
    db = make_engine(Settings(database_url=url).sqlalchemy_url)
    with db.connect() as conn:
        rows = conn.execute(sa.select(webhook_endpoints.c.supplier_id, webhook_secrets.c.secret)
                            .join(webhook_endpoints, webhook_endpoints.c.endpoint_id == webhook_secrets.c.endpoint_id)
                            .order_by(webhook_secrets.c.secret_id)).all()
    db.dispose()
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row.supplier_id, []).append(row.secret)
    return out


def set_secret_in_clear(url: str, supplier_id: str, secret: str) -> None:
    """What a database of the earlier version holds."""
    db = make_engine(Settings(database_url=url).sqlalchemy_url)
    mine = sa.select(webhook_endpoints.c.endpoint_id).where(webhook_endpoints.c.supplier_id == supplier_id)
    with db.begin() as conn:
        conn.execute(webhook_secrets.update().where(webhook_secrets.c.endpoint_id.in_(mine)).values(secret=secret))
    db.dispose()


def delivered(receiver: Receiver, proposal_id: str) -> bool:
    return any(r.verified and r.body["data"]["proposal_id"] == proposal_id for r in receiver.receipts)


def first_key(url: str) -> str:
    """The key made on first start: in the file beside a SQLite database, else in the database."""
    if url.startswith("sqlite"):
        return Path(url.removeprefix("sqlite:///") + ".key").read_text().strip()
    db = make_engine(Settings(database_url=url).sqlalchemy_url)
    with db.connect() as conn:
        key = conn.execute(sa.select(integration_secrets.c.value)
                           .where(integration_secrets.c.name == "secret_key")).scalar_one()
    db.dispose()
    return str(key)


def test_secrets_stay_sealed_through_restarts_key_changes_and_a_lost_key(
        fresh: tuple[str, dict[str, str]]) -> None:
    url, tokens = fresh
    backend = "sqlite" if url.startswith("sqlite") else "postgres"
    receiver = Receiver()
    try:
        # 1. No key configured: SQLite keeps one in a file beside the database; PostgreSQL in the database.
        server, api = serve(url, tokens, backend)
        with server:
            with api.client("admin") as admin:
                assert admin.post("/v1/region/import", content=region_zip(sensitive_region()),
                                  headers={"Content-Type": "application/zip"}).status_code == 201
            s1, s2 = api.client("supplier_s1"), api.client("supplier_s2")
            plain_s1, plain_s2 = register(s1, receiver)["secret"], register(s2, receiver)["secret"]
            [pid] = propose(api, "pl1", ["c1"])
            wait_for(lambda: delivered(receiver, pid), what="a delivery signed with the sealed secret")
        stored = stored_secrets(url)
        assert all(v.startswith(PREFIX) for values in stored.values() for v in values)
        assert plain_s1 not in str(stored) and plain_s2 not in str(stored)
        made = first_key(url)
        assert {s: [SecretBox([made]).open(v) for v in values] for s, values in stored.items()} == {
            "s1": [plain_s1], "s2": [plain_s2]}

        # 2. A configured key, with the first one after it: on start every secret is re-sealed under it.
        server, api = serve(url, tokens, backend, secret_key=f"{K1},{made}")
        with server:
            pass
        assert all(SecretBox([K1]).open(v) for values in stored_secrets(url).values() for v in values)
        # Then a new key in front of it, and s1's secret as an earlier version stored it: in clear.
        set_secret_in_clear(url, "s1", plain_s1)
        server, api = serve(url, tokens, backend, secret_key=f"{K2},{K1}")
        with server:
            pids = propose(api, "pl1", ["c3"]) + propose(api, "pl2", ["c2"])
            wait_for(lambda: all(delivered(receiver, p) for p in pids), what="deliveries after the key change")
        assert {s: [SecretBox([K2]).open(v) for v in values] for s, values in stored_secrets(url).items()} == {
            "s1": [plain_s1], "s2": [plain_s2]}

        # 3. The key is lost: nothing is sent unsigned; the log says why until the supplier rotates.
        server, api = serve(url, tokens, backend, secret_key=K3, webhook_max_attempts=100)
        with server:
            s1 = api.client("supplier_s1")
            [pid] = propose(api, "pl1", ["c2"])
            stuck = wait_for(lambda: [d for d in s1.get("/v1/supplier/deliveries").json()["items"]
                                      if d["payload"]["data"]["proposal_id"] == pid and d["attempts"] >= 1],
                             what="a first attempt")
            assert "rotate the endpoint's secret" in stuck[0]["attempt_log"][0]["error"]
            assert not delivered(receiver, pid)
            endpoint_id = stuck[0]["endpoint_id"]
            rotated = s1.post(f"/v1/supplier/webhooks/{endpoint_id}/rotate-secret",
                              json={"previous_secret_expires_in_s": 0})
            assert rotated.status_code == 200, rotated.text
            receiver.secrets.append(rotated.json()["secret"])
            wait_for(lambda: delivered(receiver, pid), what="the delivery after the rotation")
        assert SecretBox([K3]).open(stored_secrets(url)["s1"][-1]) == rotated.json()["secret"]
    finally:
        receiver.close()
