"""``platsa serve``: run the HTTP service (uvicorn), migrating the database first.

One process by default (the round worker and the audit writer are threads in it); ``--workers N``
runs N of them on one port (uvicorn's own process manager; PostgreSQL only, as every process must
see the others' writes through the database and leave rounds to the queue: ``docs/deploy.md``). The
migrations are applied once, before the processes start. uvicorn runs with its
fastest available parts (``loop="auto"``: uvloop when installed; ``http="auto"``: httptools when
installed; both come with ``uvicorn[standard]``) and without the access log, which costs a log
record per request; ``--access-log`` turns it on.

Each web process builds its app from the environment (:func:`app_factory`, uvicorn's factory, also
for one process), and that is where what belongs to the whole process is set up, not in the app:

- the garbage collector's freeze (:class:`service.cli.common.GcFreeze`, ``PLATSA_GC_FREEZE``),
  which the app's state calls once a snapshot has settled and before each rebuild
  (:meth:`service.state.ServiceState.freeze`);
- the shutdown signals (:func:`drain_on_signal`): at SIGTERM or SIGINT ``GET /ready`` answers 503
  (shutting down) at once, and the process keeps serving ``PLATSA_SHUTDOWN_DRAIN_S`` more seconds
  before uvicorn closes the port; the requests in flight then get ``PLATSA_SHUTDOWN_GRACE_S``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from service.cli.common import EXIT_OK, EXIT_USAGE, GcFreeze
from service.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger(__name__)

#: uvicorn's factory for every web process (``factory=True``).
APP_FACTORY = "service.cli.serve:app_factory"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the HTTP API",
        description=(
            "Serve the HTTP API (docs/api.md). The database is PLATSA_DATABASE_URL (default "
            "sqlite:///./platsa.db); migrations are applied on start. With --demo, an empty database "
            "first gets a generated demo region and one API key per role, printed once."
        ),
    )
    p.add_argument("--host", default=None, help="interface to listen on (default PLATSA_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default PLATSA_PORT or 8000)")
    p.add_argument("--workers", type=int, default=1,
                   help="web processes on the port (default 1; more than one needs PostgreSQL)")
    p.add_argument("--demo", action="store_true", help="load a demo region and print one key per role")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.add_argument("--access-log", action="store_true", help="log every request (off by default: it costs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from service.db import make_engine, migrate

    settings = Settings.from_env(host=args.host, port=args.port)
    problem = _refused(settings, args.workers)
    if problem:
        print(f"platsa serve: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.demo:
        from service.demo import DEMO_ADMIN, create_demo_admin, load_demo

        db = make_engine(settings.sqlalchemy_url)
        migrate(db)
        keys = load_demo(db)
        if keys is None:
            print("--demo: the database already holds a region; nothing loaded, no keys created")
            print(f"Pages: open http://{settings.host}:{settings.port}/ and sign in with your account.")
        else:
            print("Demo region loaded. API keys (shown once, keep them):")
            for key in keys:
                binding = key.principal.district_id or key.principal.supplier_id or ""
                print(f"  {key.principal.role.value:<20} {binding:<12} {key.token}")
            base = f"http://{settings.host}:{settings.port}"
            print(f"Try: curl -H 'Authorization: Bearer {keys[1].token}' {base}/v1/places?limit=1")
            password = create_demo_admin(db)
            print()
            if password is None:
                print(f"Pages: open {base}/ and sign in; the account {DEMO_ADMIN!r} exists already "
                      f"('platsa account set-password {DEMO_ADMIN}' gives it a new password).")
            else:
                print(f"Pages: open {base}/ and sign in as {DEMO_ADMIN!r} with the password {password}")
                print("  (shown once; an admin creates people's accounts at /admin/accounts or with "
                      "'platsa account create').")
        db.dispose()
    common = {"host": settings.host, "port": settings.port, "log_level": args.log_level,
              "access_log": args.access_log, "loop": "auto", "http": "auto",
              # In-flight requests get this long after SIGTERM; the round worker as long again.
              "timeout_graceful_shutdown": int(settings.shutdown_grace_s) or None}
    if args.workers > 1:
        db = make_engine(settings.sqlalchemy_url, pool_size=1, max_overflow=0)
        migrate(db)  # once here: N processes migrating a new database at once would collide
        db.dispose()
        common["workers"] = args.workers
    # Each process builds its app from the environment, inside uvicorn (app_factory), so that the
    # process-wide setup (the signals uvicorn has taken by then, the collector) is each process's own.
    uvicorn.run(APP_FACTORY, factory=True, **common)
    return EXIT_OK


def build_app(settings: Settings) -> FastAPI:
    """The app as ``platsa serve`` runs it, with the process's freezer (``PLATSA_GC_FREEZE``)."""
    from service.app import create_app

    return create_app(settings, heap=GcFreeze() if settings.gc_freeze else None)


def app_factory() -> FastAPI:
    """uvicorn's factory in each web process: :func:`build_app` from the environment, and the
    shutdown signals (:func:`drain_on_signal`)."""
    settings = Settings.from_env()
    app = build_app(settings)
    drain_on_signal(app, settings.shutdown_drain_s)
    return app


def drain_on_signal(app: FastAPI, drain_s: float) -> None:
    """At the first SIGTERM or SIGINT, mark ``app`` as shutting down (``GET /ready``: 503), and pass
    the signal on to uvicorn's handler ``drain_s`` seconds later (at once if 0); a second one passes
    at once. Call from the main thread, after uvicorn has taken the signals (inside its factory);
    elsewhere (a server in a thread) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if callable(previous):
            signal.signal(signum, _draining(app, previous, drain_s))


def _draining(app: FastAPI, previous: Any, drain_s: float) -> Any:
    def handle(signum: int, frame: FrameType | None) -> None:
        state = getattr(app.state, "platsa", None)
        background = getattr(state, "background", None)
        first = background is not None and not background.stopping.is_set()
        if background is not None:
            background.stopping.set()
        if first and drain_s > 0:
            logger.info("shutting down in %g s: /ready answers 503 meanwhile", drain_s)
            timer = threading.Timer(drain_s, previous, (signum, None))
            timer.daemon = True
            timer.start()
            return
        previous(signum, frame)

    return handle


def _refused(settings: Settings, workers: int) -> str | None:
    """Why the settings cannot be served so (None: they can)."""
    if workers < 1:
        return "--workers must be at least 1"
    if settings.is_sqlite and workers > 1:
        return ("--workers needs PostgreSQL: on SQLite one process serves and runs rounds "
                "(several would each take up the same unfinished rounds)")
    if settings.is_sqlite and settings.rounds == "workers":
        return "PLATSA_ROUNDS=workers needs PostgreSQL: on SQLite the server process runs rounds itself"
    return None
