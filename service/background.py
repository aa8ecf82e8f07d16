"""The background workers of a server process: started in one place, in order, stopped in reverse.

The app's lifespan (:func:`service.app.create_app`) builds one :class:`Background` and adds, in this
order (each needs the ones before it running, and is stopped before them):

1. ``audit``: the writer of the audit entries of reads (:class:`service.audit.AuditQueue`); stopped
   last, so that it writes what every other part queued.
2. ``changes``: the watcher of the other processes' writes (:class:`service.changes.ChangeWatcher`).
3. ``rounds``: the round queue's runner in this process (:mod:`service.queue`), which finishes the
   running round or hands it back.
4. ``retention``: the retention sweeps (:class:`service.retention.RetentionJob`).
5. ``deliveries``: the webhook sender (:class:`service.integration.worker.DeliveryWorker`), unless
   ``platsa worker`` processes send them (``PLATSA_ROUNDS=workers``).

The threads a snapshot starts for itself (its rebuild, the shortlist cache warming, the suppliers'
profiles, the follow-up warm-up) belong to :class:`service.state.ServiceState`, which
:meth:`Background.stop` closes after the workers, so that no rebuild starts once they are stopped.

One shutdown grace, ``PLATSA_SHUTDOWN_GRACE_S``, bounds the one part that may take long to stop:
the running round, finished within it or handed back to the queue. uvicorn gives the requests in
flight as long (``platsa serve``). Every other part stops within a second or two. From the moment
the shutdown begins, :attr:`Background.stopping` is set, and ``GET /ready`` answers 503 ("shutting
down") so that a reverse proxy sends no new requests.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

__all__ = ["Background", "Worker"]

logger = logging.getLogger(__name__)


class Worker(Protocol):
    """A part that runs in the background of the process from :meth:`start` to :meth:`stop`."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Background:
    """The process's background workers (module docstring): :meth:`add` them in the order they start."""

    def __init__(self) -> None:
        self._workers: list[tuple[str, Worker]] = []
        self._started: list[tuple[str, Worker]] = []
        self.stopping = threading.Event()
        """Set once the shutdown has begun (``GET /ready`` answers 503 from then on)."""

    def add(self, name: str, worker: Worker) -> None:
        """Start ``worker`` after those added before it (and stop it before them)."""
        self._workers.append((name, worker))

    @property
    def names(self) -> list[str]:
        """The workers' names, in the order they start."""
        return [name for name, _ in self._workers]

    def start(self) -> None:
        """Start every worker in order; if one fails to start, stop those started, and raise."""
        for name, worker in self._workers:
            try:
                worker.start()
            except Exception:
                logger.exception("the background worker %r did not start; stopping the others", name)
                self.stop()
                raise
            self._started.append((name, worker))

    def stop(self) -> None:
        """Stop the started workers in reverse order (each is stopped even if one before it fails)."""
        self.stopping.set()
        while self._started:
            name, worker = self._started.pop()
            began = time.perf_counter()
            try:
                worker.stop()
            except Exception:  # the others must still stop
                logger.exception("stopping the background worker %r failed", name)
            logger.debug("background worker %r stopped in %.2f s", name, time.perf_counter() - began)
