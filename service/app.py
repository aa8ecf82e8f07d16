"""The FastAPI application: a thin HTTP layer over the core, with persistence and access control.

:func:`create_app` builds an app from :class:`~service.config.Settings`. On start it applies the
database migrations, loads the stored region (if any) into memory, and starts the round worker,
which first recovers rounds that a crash or restart interrupted (see :mod:`service.jobs`).
Shortlist reads pass through :class:`~service.routes.shortlists.ShortlistFastPath` first.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service import errors, openapi
from service.config import Settings, get_settings
from service.db import make_engine, migrate
from service.engine import load_engine
from service.gate import RequestGate
from service.integration import runtime as integration
from service.retention import RetentionJob
from service.routes import ROUTERS
from service.routes.shortlists import ShortlistFastPath
from service.state import ServiceState

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Platsa matches candidates far from the labour market to the places that suppliers offer under
employment requirements in public contracts.

Authenticate with an API key: `Authorization: Bearer platsa_...`. What a key may see depends on its
role (admin, coordinator, labour_market_unit, supplier, researcher, orderer); see
`docs/api.md`.
Errors are RFC 9457 problem details (`application/problem+json`).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application for ``settings`` (default: read from the environment)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = make_engine(settings.sqlalchemy_url)
        migrate(db)
        state = ServiceState(settings, db, load_engine(settings.engine))
        state.reload()
        app.state.platsa = state
        from service.jobs import JobRunner

        state.jobs = JobRunner(state)
        state.jobs.start()
        retention = RetentionJob(state.writer, settings, on_change=state.request_reload)
        retention.start()
        state.audit.start()
        try:
            yield
        finally:
            state.close()  # stops warming the shortlist cache
            state.jobs.stop()
            retention.stop()
            state.audit.stop()  # writes the audit entries still queued
            db.dispose()

    app = FastAPI(title="Platsa", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = lambda: openapi.build(app)  # type: ignore[method-assign]
    integration.install(app)  # idempotency keys, webhook worker, transition problems
    # Last added, so first to see a request: cached shortlist reads skip the rest of the stack.
    app.add_middleware(ShortlistFastPath)
    # Outermost: key, role and body size are checked before anything reads the body.
    app.add_middleware(RequestGate)
    return app
