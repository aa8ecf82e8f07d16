"""The serving process freezes its long-lived objects out of garbage collection, and lets go of them
at a rebuild (``PLATSA_GC_FREEZE``, :meth:`service.state.ServiceState.freeze`).

Freezing is process-wide, and belongs to the command that owns the process: each server here is
built as ``platsa serve`` builds its app (:func:`service.cli.serve.build_app`, with its freezer,
:class:`service.cli.common.GcFreeze`), and an app built without one freezes nothing. The servers
run in the test process: each test starts from nothing frozen, on a server of its own (SQLite; the
collector does not depend on the database). The engine
puts each prepared pool in a reference cycle, which only the collector can free: the core's own pool
has none today, and would be freed by reference counting even if it stayed frozen.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scoring.policy import Policy
from scoring.region import Region
from service.app import create_app
from service.cli.serve import build_app
from service.config import Settings
from service.engine import PreparedPool
from service.state import ServiceState
from tests.service.conftest import Api, ThreadServer, add_keys, free_port, region_zip
from tests.service.engines import SlowEngine

ZIP = {"Content-Type": "application/zip"}

Serve = Callable[..., tuple[Api, ServiceState]]


class _Masks(dict[str, Any]):
    """District masks that can point back at the pool holding them."""

    owner: object = None


class CyclicEngine(SlowEngine):
    """The test engine, with each prepared pool in a reference cycle (pool → masks → pool)."""

    def prepare(self, region: Region, policy: Policy) -> Any:
        prepared = super().prepare(region, policy)
        masks = _Masks(prepared.district_masks)
        cyclic = PreparedPool(prepared.pool, prepared.places, masks)
        masks.owner = cyclic
        return cyclic


def tracked(obj: object) -> bool:
    """Whether the collector looks at ``obj`` (frozen objects are in no generation)."""
    return any(o is obj for o in gc.get_objects())


def import_region(api: Api, state: ServiceState) -> None:
    """Import the test region over HTTP, and wait for the new snapshot's cache warming to end."""
    with api.client("admin") as client:
        answer = client.post("/v1/region/import", content=region_zip(), headers=ZIP)
        assert answer.status_code == 201, answer.text
    assert state._warmer is not None
    state._warmer.join(timeout=60)
    assert not state._warmer.is_alive()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """``serve(gc_freeze=...)``: a running server on a fresh database, its API and its state."""
    servers: list[ThreadServer] = []

    def start(*, gc_freeze: bool = True) -> tuple[Api, ServiceState]:
        url = f"sqlite:///{tmp_path / 'platsa.db'}"
        tokens = add_keys(url)
        config = Settings(database_url=url, port=free_port(), engine=f"{__name__}:CyclicEngine", gc_freeze=gc_freeze)
        server = ThreadServer(config, build_app)
        servers.append(server.__enter__())
        state: ServiceState = server.server.config.app.state.platsa  # type: ignore[union-attr]
        return Api("sqlite", f"http://127.0.0.1:{config.port}", url, tokens), state

    gc.unfreeze()
    yield start
    for server in servers:
        server.__exit__(None, None, None)
    assert gc.get_freeze_count() == 0  # a stopped server hands its objects back


def test_the_warmed_snapshot_is_frozen_and_a_rebuild_lets_the_old_one_go(serve: Serve) -> None:
    api, state = serve()
    import_region(api, state)
    snapshot = state.snapshot
    assert snapshot is not None
    answers = list(snapshot.shortlists._entries.values())
    assert answers, "the cache was warmed"
    assert gc.get_freeze_count() > 0
    # Frozen after the warming: the snapshot and the answers warmed into its cache.
    assert not tracked(snapshot) and not any(tracked(a) for a in answers)

    old, old_prepared = weakref.ref(snapshot), weakref.ref(snapshot.prepared)
    del snapshot, answers
    import_region(api, state)  # a rebuild: a new snapshot, warmed and frozen in turn
    assert state.snapshot is not None and state.snapshot is not old()
    assert not tracked(state.snapshot)
    gc.collect()
    assert old() is None, "the replaced snapshot was not freed"
    assert old_prepared() is None, "what the replaced snapshot held in a reference cycle was not freed"


def test_freezing_can_be_turned_off(serve: Serve) -> None:
    api, state = serve(gc_freeze=False)
    import_region(api, state)
    assert state.snapshot is not None and len(state.snapshot.shortlists) > 0
    assert gc.get_freeze_count() == 0
    assert tracked(state.snapshot)


def test_an_app_built_without_the_commands_freezer_freezes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'platsa.db'}"
    tokens = add_keys(url)
    gc.unfreeze()
    config = Settings(database_url=url, port=free_port(), engine=f"{__name__}:CyclicEngine")
    assert config.gc_freeze  # the setting is the command's to act on, not the app's
    with ThreadServer(config, create_app) as server:
        state: ServiceState = server.server.config.app.state.platsa  # type: ignore[union-attr]
        import_region(Api("sqlite", f"http://127.0.0.1:{config.port}", url, tokens), state)
        assert state.heap is None and gc.get_freeze_count() == 0
        assert state.snapshot is not None and tracked(state.snapshot)
