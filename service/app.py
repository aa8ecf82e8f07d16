"""The FastAPI application: a thin HTTP layer over the core, with persistence and access control.

:func:`create_app` builds an app from :class:`~service.config.Settings`. Its lifespan is the one
place where the process's background work starts and stops: it applies the database migrations,
loads the stored region (if any) into memory, makes the integration's keys, then starts every
background worker in order and stops them in reverse (:mod:`service.background`): the audit writer,
the snapshots' watcher, the round queue (:mod:`service.queue`: a runner in this process, which takes
up rounds a crash or restart interrupted, or, with ``PLATSA_ROUNDS=workers``, none: ``platsa
worker``), the retention sweeps and the webhook sender. Exceptions become answers in one module
(:mod:`service.handlers`), and the OpenAPI document is built in one (:mod:`service.openapi`).
Shortlist reads pass through :class:`~service.routes.shortlists.ShortlistFastPath` first.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service import handlers, openapi, web
from service.background import Background
from service.config import Settings, get_settings
from service.db import make_engine, migrate
from service.engine import load_engine
from service.gate import RequestGate
from service.integration import pseudonyms, sealing
from service.integration import runtime as integration
from service.integration.worker import DeliveryWorker
from service.queue import make_queue
from service.retention import RetentionJob
from service.routes import ROUTERS
from service.routes.reports import warm_follow_up
from service.routes.shortlists import ShortlistFastPath
from service.state import HeapFreeze, ServiceState

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Platsa matches candidates far from the labour market to the places that suppliers offer under
employment requirements in public contracts.

Authenticate with an API key: `Authorization: Bearer platsa_...`. What a key may see depends on its
role (admin, coordinator, labour_market_unit, supplier, researcher, orderer); see
`docs/api.md`.
Errors are RFC 9457 problem details (`application/problem+json`).
"""


def create_app(settings: Settings | None = None, *, heap: HeapFreeze | None = None) -> FastAPI:
    """The application for ``settings`` (default: read from the environment).

    ``heap`` is the process's garbage-collection freezer, lent by the command that owns the process
    (``platsa serve``, :class:`service.cli.common.GcFreeze`); None freezes nothing.
    """
    settings = settings or get_settings()

    if settings.rounds == "workers" and settings.is_sqlite:
        raise ValueError("PLATSA_ROUNDS=workers needs PostgreSQL: on SQLite the server process runs "
                         "rounds itself (docs/deploy.md)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = make_engine(settings.sqlalchemy_url, pool_size=settings.db_pool_size,
                         max_overflow=settings.db_max_overflow)
        migrate(db)
        state = ServiceState(settings, db, load_engine(settings.engine), heap=heap)
        if settings.followup_warm:
            state.snapshot_hooks.append(lambda snapshot: warm_follow_up(state, snapshot))
        state.reload()
        pseudonyms.ensure_key(db, settings.pseudonym_secret)
        # Finds or makes the server key, and seals secrets stored in clear by an earlier version.
        sealing.ensure_key(db, settings)
        app.state.platsa = state
        state.jobs = make_queue(state)  # rounds: in this process, or on the queue for workers
        background = state.background = Background()
        background.add("audit", state.audit)  # stopped last: writes what the others queued
        background.add("snapshots", state)  # other processes' writes (service/changes.py), rebuilds
        background.add("rounds", state.jobs)  # finishes the running round or hands it back
        background.add("retention", RetentionJob(state.writer, settings, on_change=state.request_reload))
        if settings.rounds != "workers":  # else the `platsa worker` processes send the webhooks
            app.state.integration = DeliveryWorker(db, settings)
            background.add("deliveries", app.state.integration)
        background.start()
        try:
            yield
        finally:
            background.stop()  # in reverse; the round within PLATSA_SHUTDOWN_GRACE_S
            db.dispose()

    # /docs and /redoc are pages of service.web, from vendored assets (FastAPI's own load a CDN).
    app = FastAPI(title="Platsa", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    handlers.install(app)  # every exception's answer: problem details, or a page for the pages
    for router in ROUTERS:
        app.include_router(router)
    web.install(app)  # the pages, /static, /docs and /redoc (docs/pages.md)
    integration.install(app)  # idempotency keys, the webhooks' documentation
    app.openapi = lambda: openapi.build(app)  # type: ignore[method-assign]
    # Last added, so first to see a request: cached shortlist reads skip the rest of the stack.
    app.add_middleware(ShortlistFastPath)
    # Outermost: key, role and body size are checked before anything reads the body.
    app.add_middleware(RequestGate)
    return app
