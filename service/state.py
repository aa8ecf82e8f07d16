"""What one server process holds: settings, the database engine, the loaded region and its pool.

The region and the engine's prepared pool are rebuilt from the database on start and after every
import, under a lock; requests read an immutable snapshot, so a shortlist never sees half an import.
Each snapshot carries its own cache of answered shortlists (:mod:`service.cache`), so a rebuild
(an import, a new proposal, any write to region data) invalidates them all at once. The process also
holds the cache of checked API keys (:class:`service.auth.KeyCache`) and the queue of audit entries
of reads (:class:`service.audit.AuditQueue`).

A query may name another policy than the region's own (``?policy=`` on a shortlist): each snapshot
loads such a policy once, and keeps a few pools prepared for policies whose priority groups differ
from its own policy's (:class:`PolicyPools`).

A stored region whose policy cannot be loaded (its file was removed from ``PLATSA_POLICY_DIR``, say;
an import checks the policy before it writes) does not stop the process: it starts without a
snapshot, logs why, and the region's endpoints answer 503 with that reason
(:attr:`ServiceState.unavailable`) until a restart or an import finds a policy again.

Once a snapshot is in place (and its cache warmed), the state says the heap has settled, and the
process may freeze everything it then holds out of the garbage collector's reach
(:class:`HeapFreeze`, :meth:`ServiceState.freeze`): a full collection of the serving process walked
every object of the libraries, the region and the cache, and held every request for 125–165 ms
(``benchmarks/README.md``, "HTTP service"). Whether to freeze is the process's choice, not this
state's: ``platsa serve`` and ``platsa worker`` lend their freezer
(:class:`service.cli.common.GcFreeze`, ``PLATSA_GC_FREEZE``); a state without one (an app built
outside those commands: tests) freezes nothing.

Every thread the state starts for a snapshot (its rebuild, the shortlist cache warming, the
suppliers' profiles, the snapshot hooks' warm-ups) is joined by :meth:`ServiceState.stop`, which the
app's background (:mod:`service.background`) calls at shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa

from scoring.exceptions import PolicyError
from scoring.policy import Policy, load_named_policy
from scoring.region import Region
from service import changes, store
from service.audit import AuditQueue
from service.auth import KeyCache
from service.background import Background
from service.cache import DEFAULT_K, CachedShortlist, ShortlistCache, answer_shortlist, warm
from service.changes import ChangeWatcher
from service.config import Settings
from service.db.engine import writer
from service.engine import Engine, EngineUnavailable
from service.outcome_models import bind_outcome_model
from service.privacy import SupplierProfiles

logger = logging.getLogger(__name__)


class HeapFreeze(Protocol):
    """What a process does with its heap once a snapshot has settled (:meth:`ServiceState.freeze`).

    Process-wide (:func:`gc.freeze` reaches every object of the process), so it belongs to the
    command that owns the process: ``platsa serve``, ``platsa worker`` (:class:`service.cli.common.GcFreeze`).
    """

    def freeze(self) -> None:
        """Leave every object the process holds now out of later collections."""

    def unfreeze(self) -> None:
        """Give every frozen object back to the collector."""


class PolicyPools:
    """The policies a snapshot's queries name, and the pools prepared for them.

    Each policy is loaded once per snapshot, so that answers cached under its id are those of one
    version of its file. A policy whose priority groups differ from those the snapshot's pool was
    prepared with (:meth:`service.engine.Engine.serves`) needs a pool of its own, as costly as the
    snapshot's (``build_pool``: about 0.4 s for 100 000 candidates): it is prepared on the first
    query and kept for the next ones, at most ``max_pools`` of them (``PLATSA_POLICY_POOLS``), the
    least recently used dropped first. One is prepared at a time; the snapshot's own pool never waits.

    Parameters
    ----------
    max_pools
        Pools kept besides the snapshot's own; 0 prepares one for every such query and keeps none.
    """

    def __init__(self, max_pools: int) -> None:
        self.max_pools = max_pools
        self._policies: dict[str, Policy] = {}
        self._pools: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Pools kept."""
        return len(self._pools)

    def get(self, policy_id: str, *, load: Callable[[str], Policy], serves: Callable[[Policy], bool],
            prepare: Callable[[Policy], Any], own: Any) -> tuple[Policy, Any]:
        """The policy ``policy_id`` and a prepared pool that answers under it: ``own`` if it serves.

        Blocking (a policy file read, a pool built): call from a worker thread.

        Raises
        ------
        scoring.exceptions.PolicyError
            An unknown policy id, or an invalid policy file.
        """
        with self._lock:
            policy = self._policies.get(policy_id)
            if policy is None:
                policy = self._policies[policy_id] = load(policy_id)
            if serves(policy):
                return policy, own
            prepared = self._pools.get(policy_id)
            if prepared is None:
                prepared = prepare(policy)
                logger.info("prepared a pool for queries under policy %s", policy_id)
                if self.max_pools > 0:
                    self._pools[policy_id] = prepared
                    while len(self._pools) > self.max_pools:
                        self._pools.popitem(last=False)
            else:
                self._pools.move_to_end(policy_id)
            return policy, prepared


@dataclass(frozen=True)
class Snapshot:
    """One version of the region, its active policy, and what the engine prepared from them."""

    region: Region
    version: int
    policy: Policy
    prepared: Any
    place_ids: frozenset[str]
    """The places a shortlist can be asked for (checked without the database)."""
    shortlists: ShortlistCache = field(compare=False)
    """Shortlists answered from this snapshot."""
    policy_pools: PolicyPools = field(compare=False, default_factory=lambda: PolicyPools(0))
    """Policies named by queries, and pools prepared for them (:meth:`ServiceState.for_policy`)."""
    generation: int = 0
    """The process's count of writes to region data when the snapshot's rows were read: a write
    counted later (:meth:`ServiceState.request_reload`) is not in it yet."""
    supplier_profiles: SupplierProfiles = field(compare=False, default_factory=SupplierProfiles)
    """Suppliers' views of this snapshot's candidates (:mod:`service.privacy`), computed on first use."""
    changes: int = 0
    """The database's count of writes to region data when the rows were read (:mod:`service.changes`),
    whichever process made them."""


class ServiceState:
    """The process-wide state behind the app (one per app instance)."""

    def __init__(self, settings: Settings, db: sa.Engine, engine: Engine, *,
                 heap: HeapFreeze | None = None) -> None:
        self.settings = settings
        self.heap = heap
        """Told when a snapshot has settled, and before a rebuild (None: nothing is frozen)."""
        self.db = db
        self.engine = engine
        self._snapshot: Snapshot | None = None
        self.snapshot_hooks: list[Callable[[Snapshot], threading.Thread | None]] = []
        """Called with each new snapshot once it is in place. Each must return at once: a hook that
        computes starts a thread of its own and returns it, and the snapshot is frozen (:meth:`freeze`)
        only once those threads are done, so that nothing they hold is frozen with it."""
        self._hook_threads: list[threading.Thread] = []
        """Threads started for snapshots (hooks, suppliers' profiles) and not yet seen to end."""
        self._lock = threading.Lock()
        self.writer = writer(db)
        """``db`` for transactions that write."""
        self.jobs: Any = None  # the round queue (service.queue), set by the app's lifespan
        self.background: Background | None = None
        """The app's background workers (:mod:`service.background`), set by its lifespan."""
        self.keys = KeyCache(ttl_s=settings.key_cache_ttl_s)
        self.audit = AuditQueue(self.writer, interval_s=settings.audit_flush_interval_s)
        """Audit entries of reads, written in batches (started and stopped by the app's lifespan)."""
        self._reload_wanted = threading.Event()
        self._generation = 0
        """Writes to region data this process has made (:meth:`request_reload` counts them)."""
        self._generation_lock = threading.Lock()
        self._changes_held = 0
        """The database's count of writes that the last rebuild read (:mod:`service.changes`)."""
        self._changes_asked = 0
        """The highest count a rebuild has been asked for (by this process's writes or the watcher)."""
        self.watcher = ChangeWatcher(db, seen=lambda: max(self._changes_held, self._changes_asked),
                                     on_change=self.changed_elsewhere, poll_s=settings.change_poll_s)
        self._reloader: threading.Thread | None = None
        self._closed = threading.Event()
        self._warmer: threading.Thread | None = None
        self.unavailable: str | None = None
        """Why there is no snapshot although a region is stored (None: there is one, or no region)."""

    def start(self) -> None:
        """Start watching the other processes' writes (:class:`service.changes.ChangeWatcher`)."""
        self.watcher.start()

    def stop(self) -> None:
        """:meth:`close` (the name :class:`service.background.Background` calls)."""
        self.close()

    def close(self) -> None:
        """Stop background work on snapshots and wait for every thread this state started: the
        watcher, a rebuild, the cache warming, the suppliers' profiles and the hooks' warm-ups.

        What was frozen is handed back to the collector, so that a stopped app's snapshot can go.
        """
        self._closed.set()
        self.watcher.stop()
        self._reload_wanted.set()  # wakes a waiting rebuild loop, which sees the state closed
        for thread in (self._reloader, self._warmer, *self._hook_threads):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=30)
        with self._lock:
            self._unfreeze()

    @property
    def shutting_down(self) -> bool:
        """Whether the process has begun to shut down (``GET /ready`` answers 503 from then on)."""
        return self.background is not None and self.background.stopping.is_set()

    def request_reload(self) -> None:
        """Rebuild the snapshot soon, in the background (after a write to region data).

        Writes come in bursts; one rebuild after the burst serves them all, and requests keep the
        previous snapshot meanwhile. What must see every write up to now (a round that starts) asks
        for :meth:`fresh_snapshot` instead.
        """
        with self._generation_lock:
            self._generation += 1
        self._reload_wanted.set()
        if self._closed.is_set():
            return  # stopped: the next process start reads the region anew
        if self._reloader is None or not self._reloader.is_alive():
            self._reloader = threading.Thread(target=self._reload_loop, name="platsa-reload", daemon=True)
            self._reloader.start()

    @property
    def writes(self) -> int:
        """How many writes to region data this process has counted (:meth:`request_reload`)."""
        return self._generation

    def expect(self, count: int) -> None:
        """This process made the database's count ``count`` and rebuilds for it itself: the watcher
        is not to ask again for it (it may read the count before the rebuild has)."""
        self._changes_asked = max(self._changes_asked, count)

    def counted(self, count: int) -> None:
        """This process committed a write that made the database's count ``count``: rebuild soon."""
        self.expect(count)
        self.request_reload()

    def changed_elsewhere(self, count: int) -> None:
        """The watcher read the count ``count``, past the snapshot's: another process wrote.

        Nothing is asked while a rebuild is waiting or running: if it read its rows before that
        write, its snapshot's count is below ``count`` and the watcher asks at its next look.
        """
        if self._reload_wanted.is_set() or self._lock.locked():
            return
        self._changes_asked = max(self._changes_asked, count)
        self.request_reload()

    def _reload_loop(self) -> None:
        while self._reload_wanted.wait(timeout=5.0) and not self._closed.is_set():
            time.sleep(0.2)  # let a burst of writes finish
            self._reload_wanted.clear()
            if self._closed.is_set():
                return
            try:
                self.reload()
            except Exception:  # keep serving the previous snapshot; the next write retries
                logger.exception("rebuilding the region snapshot failed")

    def policy(self, policy_id: str) -> Policy:
        # A name from the closed set of policy ids, never a path: ids come from clients (issue 14).
        # The outcome model the policy names, loaded, checked and bound (PolicyError if refused).
        return bind_outcome_model(load_named_policy(policy_id, search_dirs=self.settings.policy_dirs),
                                  self.settings.models_dir)

    def for_policy(self, snapshot: Snapshot, policy_id: str | None) -> tuple[Policy, Any]:
        """The policy ``policy_id`` (None: the snapshot's own) and what the engine prepared for it.

        Blocking when ``policy_id`` names another policy than the snapshot's (:class:`PolicyPools`):
        call from a worker thread.

        Raises
        ------
        scoring.exceptions.PolicyError
            An unknown policy id, or an invalid policy file.
        """
        if policy_id is None or policy_id == snapshot.policy.id:
            return snapshot.policy, snapshot.prepared
        return snapshot.policy_pools.get(
            policy_id, load=self.policy, own=snapshot.prepared,
            serves=lambda policy: self.engine.serves(snapshot.prepared, policy),
            prepare=lambda policy: self.engine.prepare(snapshot.region, policy))

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def fresh_snapshot(self) -> Snapshot | None:
        """The snapshot, rebuilt first when this process wrote region data that it does not hold yet.

        A round runs on the region as it is when the round starts (issue 13), not on a snapshot a
        background rebuild has yet to replace.
        """
        snapshot = self._snapshot
        with self.db.connect() as conn:
            committed = changes.read(conn)  # writes of every process, committed before now
        if snapshot is not None and snapshot.generation >= self._generation and snapshot.changes >= committed:
            return snapshot
        return self.reload()

    def reload(self) -> Snapshot | None:
        """Read the region from the database and prepare the engine's pool for it.

        The new snapshot is frozen (:meth:`freeze`) once it is in place, or, when its cache is
        warmed, once the warming is done.
        """
        with self._lock:
            # The previous snapshot was frozen with everything else; were it to stay frozen, the
            # collector could never free what it holds in reference cycles once it is dropped.
            self._unfreeze()
            generation = self._generation  # read before the rows: a write counted later is not in them
            with self.db.connect() as conn:
                counted = changes.read(conn)  # before the rows: a snapshot never claims a later count
                loaded = store.load_region(conn)
            self._changes_held = max(self._changes_held, counted)
            if loaded is None:
                self._snapshot = None
                self.unavailable = None
                self._freeze()
                return None
            region, version = loaded
            try:
                policy = self.policy(region.manifest.policy)
            except PolicyError as exc:
                self._policy_missing(region.manifest.policy, version, exc)
                self._freeze()
                return self._snapshot
            prepared = self.engine.prepare(region, policy)
            place_ids = frozenset(region.places.get_column("place_id").to_list())
            cache = ShortlistCache(int(self.settings.shortlist_cache_mb * 1024 * 1024))
            self._snapshot = Snapshot(region, version, policy, prepared, place_ids, cache,
                                      PolicyPools(self.settings.policy_pools), generation,
                                      changes=counted)
            self.unavailable = None
            started = [self._snapshot.supplier_profiles.warm(self._snapshot)]
            started += [t for t in (hook(self._snapshot) for hook in self.snapshot_hooks) if t]
            self._hook_threads = [t for t in self._hook_threads if t.is_alive()] + started
            logger.info("region version %d loaded: %s", version, region.counts())
            if self.settings.shortlist_warm and cache.max_bytes > 0 and not self._closed.is_set():
                order = region.places.get_column("place_id").to_list()
                self._warmer = threading.Thread(target=self._warm, args=(self._snapshot, order),
                                                name="platsa-warm-shortlists", daemon=True)
                self._warmer.start()
            else:
                self._freeze()
            return self._snapshot

    def _policy_missing(self, policy_id: str, version: int, exc: PolicyError) -> None:
        """The stored region's policy does not load: keep the snapshot there is, or say why there is none."""
        reasons = "; ".join(p.reason for p in exc.problems)
        message = (f"the stored region (version {version}) names policy {policy_id!r}, which cannot be "
                   f"loaded ({reasons}): put its file back in PLATSA_POLICY_DIR and restart, or import a "
                   "region that names an existing policy")
        if self._snapshot is not None:
            logger.error("%s; still serving region version %d", message, self._snapshot.version)
            return
        self.unavailable = message
        logger.error("%s; the region's endpoints answer 503 until then", message)

    def freeze(self, snapshot: Snapshot) -> None:
        """Tell the process's freezer (:attr:`heap`) that ``snapshot`` has settled, if it is still
        the current one: it may leave every object the process now holds out of later collections.

        A full collection walks every tracked object; most of the ~200 000 of a serving process are
        the libraries' (functions, types, their dicts) and live as long as it does, and the
        snapshot and its warmed cache live until the next rebuild. Frozen (:func:`gc.freeze`), they
        are left out of collections, and the pause of a full collection, every request waiting,
        goes with them (``benchmarks/README.md``, "HTTP service").

        What this state owns is *when* that is safe. The rebuild runs in the background while
        requests are served, and the freeze is process-wide, so it and the unfreeze that starts
        every rebuild (:meth:`reload`) both run under the snapshot lock, and the freeze only for the
        current snapshot: a warming that finishes after a rebuild has begun waits for it, then finds
        its snapshot replaced and leaves the freeze to the new snapshot's warming. The threads the
        snapshot's hooks started are waited for first, so that what they hold (this snapshot, or an
        earlier one) is not frozen with it. Requests keep running meanwhile; objects they hold at
        the freeze are frozen too, and freed as usual once no longer referenced (only garbage in
        reference cycles waits for the next rebuild). *Whether* to freeze belongs to the process
        (``platsa serve``, ``PLATSA_GC_FREEZE``), which serves one app.
        """
        with self._lock:
            if self._snapshot is snapshot:
                self._freeze()

    def _freeze(self) -> None:
        """:meth:`freeze`, with the lock held."""
        if self.heap is None or self._closed.is_set():
            return
        for thread in self._hook_threads:  # what they hold (this snapshot, or an earlier one) is not frozen
            thread.join(timeout=60)
        self.heap.freeze()

    def _unfreeze(self) -> None:
        """Give every frozen object back to the collector (their next collection may free them)."""
        if self.heap is not None:
            self.heap.unfreeze()

    def _warm(self, snapshot: Snapshot, place_ids: list[str]) -> None:
        """Fill ``snapshot``'s shortlist cache while it is current (:func:`service.cache.warm`)."""

        def compute(place_id: str) -> CachedShortlist:
            return answer_shortlist(self.engine, snapshot.prepared, snapshot.policy, place_id,
                                    DEFAULT_K, None)

        def wanted() -> bool:
            return self._snapshot is snapshot and not self._closed.is_set()

        try:
            warm(snapshot.shortlists, compute, place_ids, k=DEFAULT_K, wanted=wanted)
        except EngineUnavailable:
            pass  # no shortlists in this build: requests say so
        except Exception:  # the cache fills on demand instead
            logger.exception("warming the shortlist cache failed")
        self.freeze(snapshot)
