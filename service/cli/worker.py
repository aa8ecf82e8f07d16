"""``platsa worker``: run allocation rounds (and send webhooks) in processes of their own.

On PostgreSQL only (``service/queue.py``). ``--processes N`` starts N worker processes, each
running one round at a time from the queue, and watches them: a process that dies is started
again after ``PLATSA_QUEUE_STALLED_S`` (by then its round is back in the queue, and a running
worker takes it up rather than one still starting); SIGTERM or SIGINT stops them all gracefully
(each finishes its round within ``PLATSA_SHUTDOWN_GRACE_S``, or hands it back to the queue).
With ``PLATSA_ROUNDS=workers`` the servers (``platsa serve``) then serve HTTP only; each worker
process also sends the webhook deliveries that are due (:class:`service.integration.worker.DeliveryWorker`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time

from service.cli.common import EXIT_OK, EXIT_USAGE

logger = logging.getLogger(__name__)

#: The worker processes' niceness by default (``--nice``). A round is a batch job that takes a core
#: for seconds to minutes; where web processes share the machine, a shortlist waiting behind it is
#: what people feel (benchmarks/README.md, "Several processes": p99 during a round 50.6 ms at 0).
DEFAULT_NICE = 10

def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "worker",
        help="run allocation rounds from the queue (PostgreSQL)",
        description=(
            "Run allocation rounds from the queue, one at a time per process, on the database "
            "PLATSA_DATABASE_URL (PostgreSQL; on SQLite the server runs rounds itself). Set "
            "PLATSA_ROUNDS=workers for the servers and the workers alike so that the servers leave "
            "rounds and webhooks to the workers. docs/deploy.md."
        ),
    )
    p.add_argument("--processes", type=int, default=1,
                   help="worker processes, each running one round at a time (default 1)")
    p.add_argument("--nice", type=int, default=DEFAULT_NICE, metavar="N",
                   help=f"run at this lower CPU priority (0-19, default {DEFAULT_NICE}; 0 keeps the "
                        "priority): on a machine shared with web processes, requests come before rounds")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from service.config import Settings

    settings = Settings.from_env()
    if settings.is_sqlite:
        print("platsa worker: PLATSA_DATABASE_URL is SQLite; there the server runs rounds itself "
              "(platsa serve): workers need PostgreSQL", file=sys.stderr)
        return EXIT_USAGE
    if args.processes < 1:
        print("platsa worker: --processes must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if not 0 <= args.nice <= 19:
        print(f"platsa worker: --nice must be from 0 to 19, not {args.nice}", file=sys.stderr)
        return EXIT_USAGE
    logging.getLogger().setLevel(args.log_level.upper())
    if args.nice:
        os.nice(args.nice)  # the worker processes this one starts inherit it
    if args.processes == 1:
        return run_one(settings)
    return supervise(args.processes, args.log_level, restart_after_s=settings.queue_stalled_s)


def run_one(settings: object) -> int:
    """One worker process: load the region, then run rounds until SIGTERM or SIGINT."""
    import asyncio

    from service.cli.common import GcFreeze
    from service.config import Settings
    from service.db import make_engine, migrate
    from service.engine import load_engine
    from service.integration import sealing
    from service.integration.worker import DeliveryWorker
    from service.queue import procrastinate_app, run_worker
    from service.state import ServiceState

    assert isinstance(settings, Settings)
    # A round worker answers no shortlists: no cache, no warming.
    settings = settings.model_copy(update={"shortlist_cache_mb": 0.0, "shortlist_warm": False})
    db = make_engine(settings.sqlalchemy_url, pool_size=min(settings.db_pool_size, 4),
                     max_overflow=min(settings.db_max_overflow, 4))
    migrate(db)
    # The process's own setting, as in `platsa serve`: the loaded region is frozen out of the collector.
    state = ServiceState(settings, db, load_engine(settings.engine),
                         heap=GcFreeze() if settings.gc_freeze else None)
    state.reload()
    deliveries = None
    if settings.rounds == "workers":
        sealing.ensure_key(db, settings)
        deliveries = DeliveryWorker(db, settings)
        deliveries.start()
    logger.info("round worker %d started", os.getpid())
    try:
        asyncio.run(run_worker(procrastinate_app(state), state, install_signal_handlers=True))
    finally:
        if deliveries is not None:
            deliveries.stop()
        state.close()
        db.dispose()
    logger.info("round worker %d stopped", os.getpid())
    return EXIT_OK


def supervise(processes: int, log_level: str, *, restart_after_s: float) -> int:
    """Start ``processes`` worker processes and keep them running until SIGTERM or SIGINT; one that
    dies is started again ``restart_after_s`` later."""
    code = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"
    # --nice 0: each child inherits this process's priority, lowered once already.
    command = [sys.executable, "-c", code, "worker", "--processes", "1", "--nice", "0",
               "--log-level", log_level]
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    children = [subprocess.Popen(command) for _ in range(processes)]
    logger.info("worker processes: %s", ", ".join(str(c.pid) for c in children))
    died: dict[int, float] = {}  # a dead child's slot → when it may be started again
    while not stopping:
        time.sleep(0.2)
        for i, child in enumerate(children):
            if child.poll() is None or stopping:
                continue
            if i not in died:
                logger.warning("worker process %d exited (%s); another starts in %g s", child.pid,
                               child.returncode, restart_after_s)
                died[i] = time.monotonic() + restart_after_s
            elif time.monotonic() >= died[i]:
                del died[i]
                children[i] = subprocess.Popen(command)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)  # each finishes or hands back its round
    for child in children:
        child.wait()
    return EXIT_OK
