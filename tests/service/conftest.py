"""Fixtures for the service tests: a real server on a free port over a real database.

``api`` is parametrised over SQLite and PostgreSQL. The PostgreSQL run uses a fresh schema for the
session and is skipped only when the local server is unreachable and ``CI`` is not set; under CI it
must run. Each backend gets one server (uvicorn in a thread of the test process, on 127.0.0.1), the
test region imported through the HTTP import endpoint, and one key per role and binding.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
import sqlalchemy as sa
import uvicorn

from scoring.region import region_from_frames, write_region
from service.app import create_app
from service.auth import create_key
from service.config import Settings
from service.db import make_engine, migrate
from tests.regions import MANIFEST, hand_region

PG_URL = os.environ.get("PLATSA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


#: Rounds in the tests run on a transparent greedy engine (tests/service/engines.py); shortlists on the core.
TEST_ENGINE = "tests.service.engines:SlowEngine"
#: Idle PostgreSQL connections a test server keeps (``PLATSA_DB_POOL_SIZE``; 20 in a deployment).
TEST_POOL_SIZE = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_region() -> dict[str, pl.DataFrame]:
    """The shared hand-made region plus a second supplier, place and candidates, so that every
    ownership rule has an object on each side of it."""
    frames = hand_region()
    d = __import__("datetime").date
    frames["suppliers"] = pl.concat([frames["suppliers"], pl.DataFrame(
        {"supplier_id": ["s2"], "name": ["Bygg & Anläggning Öst AB"], "org_number": ["556123-4567"]})])
    p2 = frames["procurements"].with_columns(
        procurement_id=pl.lit("p2"), supplier_id=pl.lit("s2"), title=pl.lit("Ombyggnad förskola"),
        procurement_type=pl.lit("works"), contract_end=pl.lit(d(2026, 3, 31)))
    frames["procurements"] = pl.concat([frames["procurements"], p2])
    pl2 = frames["places"].with_columns(place_id=pl.lit("pl2"), supplier_id=pl.lit("s2"),
                                        procurement_id=pl.lit("p2"), district_id=pl.lit("angered"))
    frames["places"] = pl.concat([frames["places"], pl2])
    more = frames["candidates"].with_columns(
        candidate_id=pl.Series(["c4", "c5", "c6"]), home_district=pl.Series(["centrum", "centrum", "angered"]))
    frames["candidates"] = pl.concat([frames["candidates"], more])
    # Every candidate may take either place (both teach lokalvård on the job; c3 and c6 take
    # internships too), so that the rounds of the tests' greedy engine are publishable as they stand
    # and each test adds the conflict it is about.
    frames["places"] = frames["places"].with_columns(
        competences_learnable=pl.Series([["lokalvård"]] * 2, dtype=pl.List(pl.String)))
    frames["candidates"] = frames["candidates"].with_columns(
        wished_placement_types=pl.when(pl.col("candidate_id").is_in(["c3", "c6"]))
        .then(pl.lit(["employment", "internship"], dtype=pl.List(pl.String)))
        .otherwise(pl.col("wished_placement_types")))
    return frames


def region_zip(frames: dict[str, pl.DataFrame] | None = None, fmt: str = "csv") -> bytes:
    """A region folder, zipped, as a client uploads it."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_region(region_from_frames(MANIFEST, frames or service_region()), tmp, fmt=fmt)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in sorted(Path(tmp).iterdir()):
                archive.write(path, f"region/{path.name}")
        return buffer.getvalue()


#: The keys every backend gets: a name → (role, district, supplier).
KEYS = {
    "admin": ("admin", None, None),
    "coordinator": ("coordinator", None, None),
    "lmu_angered": ("labour_market_unit", "angered", None),
    "lmu_centrum": ("labour_market_unit", "centrum", None),
    "supplier_s1": ("supplier", None, "s1"),
    "supplier_s2": ("supplier", None, "s2"),
    "researcher": ("researcher", None, None),
    "orderer": ("orderer", None, None),
}


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, object]:
    """Poll a job until it ends; its last state."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, object] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


@dataclass
class Api:
    """A running server: its base URL, database URL and a token per key name."""

    backend: str
    base_url: str
    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, key: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[key]}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]

    def db(self) -> sa.Engine:
        return make_engine(Settings(database_url=self.database_url).sqlalchemy_url)


class ThreadServer:
    """uvicorn serving an app from a thread of the test process."""

    def __init__(self, settings: Settings, build: Callable[[Settings], Any] = create_app) -> None:
        # Many servers live at once in a test process, and two test processes run (-n auto): each
        # keeps few idle PostgreSQL connections, so that together they stay below its 100.
        if "db_pool_size" not in settings.model_fields_set:
            settings = settings.model_copy(update={"db_pool_size": TEST_POOL_SIZE})
        # ``build``: the app as create_app makes it, or as a command does (service.cli.serve.build_app).
        config = uvicorn.Config(build(settings), host="127.0.0.1", port=settings.port,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def postgres_url_or_skip() -> str:
    """A URL to a fresh schema on the local PostgreSQL (skipped only when unreachable outside CI)."""
    admin = sa.create_engine(PG_URL)
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI"):
            raise RuntimeError(f"CI is set but PostgreSQL at {PG_URL} is unreachable: {exc}") from exc
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable (and CI is not set)")
    schema = f"platsa_test_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def drop_postgres_schema(url: str) -> None:
    schema = url.rsplit("%3D", 1)[1]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    urls: dict[str, str] = {}
    yield urls
    for name, url in urls.items():
        if name.startswith("postgres"):
            drop_postgres_schema(url)


def new_database(backend: str, tmp_path_factory: pytest.TempPathFactory, urls: dict[str, str],
                 name: str) -> str:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'platsa.db'}"
    else:
        url = postgres_url_or_skip()
    urls[f"{backend}-{name}"] = url
    return url


def add_keys(database_url: str) -> dict[str, str]:
    db = make_engine(Settings(database_url=database_url).sqlalchemy_url)
    migrate(db)
    tokens = {}
    with db.begin() as conn:
        for name, (role, district, supplier) in KEYS.items():
            tokens[name] = create_key(conn, role=role, name=name, district_id=district,
                                      supplier_id=supplier).token
    db.dispose()
    return tokens


@contextmanager
def server_with_region(backend: str, tmp_path_factory: pytest.TempPathFactory,
                       urls: dict[str, str], name: str,
                       settings: Callable[[str], Settings] | None = None,
                       frames: dict[str, pl.DataFrame] | None = None) -> Iterator[Api]:
    """A server on a database of its own, the test region imported, one key per role.

    ``settings`` builds the server's settings from the database URL (default: a free port and the
    test engine); ``frames`` is another region to import (default :func:`service_region`).
    """
    url = new_database(backend, tmp_path_factory, urls, name)
    tokens = add_keys(url)
    config = settings(url) if settings is not None else Settings(
        database_url=url, port=free_port(), engine=TEST_ENGINE)
    with ThreadServer(config):
        api = Api(backend, f"http://127.0.0.1:{config.port}", url, tokens)
        with api.client("admin") as client:
            answer = client.post("/v1/region/import", content=region_zip(frames),
                                 headers={"Content-Type": "application/zip"})
            assert answer.status_code == 201, answer.text
        yield api


@contextmanager
def serve_process(database_url: str, port: int, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``platsa serve`` in a process of its own, once its ``/health`` answers; stopped after."""
    environ = {**os.environ, "PLATSA_DATABASE_URL": database_url, "PLATSA_DB_POOL_SIZE": str(TEST_POOL_SIZE),
               **env}
    code = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen([sys.executable, "-c", code, "serve", "--port", str(port),
                                "--log-level", "warning"], env=environ)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "the server exited on start"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        database_urls: dict[str, str]) -> Iterator[Api]:
    """A server with the test region imported and one key per role, per database backend."""
    with server_with_region(request.param, tmp_path_factory, database_urls, "api") as api:
        yield api
