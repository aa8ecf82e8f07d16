"""Plugging the integration into the app: one call, :func:`install`, from ``service/app.py``.

It adds the ``Idempotency-Key`` middleware (and the header to every POST in the OpenAPI document),
the problem answers of an illegal transition (which names the allowed actions), of proposals that
conflict with open ones (which lists every conflict) and of a region import that conflicts with the
proposal history (every problem), and runs the delivery worker for as long as the app runs (inside
the app's own lifespan, so after the database and the region are ready, and stopped before the
database is closed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from service.errors import problem_response
from service.integration import idempotency, pseudonyms, sealing
from service.integration.history import HistoryConflict
from service.integration.lifecycle import IllegalTransition, OpenProposalExists
from service.integration.models import WebhookEvent
from service.integration.webhooks import WEBHOOK_EVENT_TYPES
from service.integration.worker import DeliveryWorker


def install(app: FastAPI) -> None:
    """Add the integration to ``app`` (call once, after its routers and OpenAPI hook are set)."""
    app.add_middleware(idempotency.IdempotencyMiddleware)

    @app.exception_handler(IllegalTransition)
    async def _illegal(request: Request, exc: IllegalTransition) -> JSONResponse:
        return problem_response(request, exc.status, exc.slug, exc.title, exc.detail,
                                current_status=exc.current_status, action=exc.action,
                                allowed_actions=exc.allowed_actions)

    @app.exception_handler(OpenProposalExists)
    async def _open_proposal(request: Request, exc: OpenProposalExists) -> JSONResponse:
        return problem_response(request, exc.status, exc.slug, exc.title, exc.detail, conflicts=exc.conflicts)

    @app.exception_handler(HistoryConflict)
    async def _history(request: Request, exc: HistoryConflict) -> JSONResponse:
        return problem_response(request, exc.status, exc.slug, exc.title, exc.detail,
                                problems=exc.problem_dicts())

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with inner(app_) as value:
            state = app_.state.platsa
            pseudonyms.ensure_key(state.db, state.settings.pseudonym_secret)
            # Finds or makes the server key, and seals secrets stored in clear by an earlier version.
            sealing.ensure_key(state.db, state.settings)
            worker = DeliveryWorker(state.db, state.settings)
            app_.state.integration = worker
            worker.start()
            try:
                yield value
            finally:
                worker.stop()

    app.router.lifespan_context = lifespan
    _document_webhooks(app)
    original: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        schema = idempotency.document(original())
        if "webhooks" not in schema:
            # The app's own document is built from its routes only: add the webhooks (OpenAPI 3.1).
            extra = get_openapi(title=app.title, version=app.version, routes=[],
                                webhooks=app.webhooks.routes)
            schema["webhooks"] = extra.get("webhooks", {})
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in extra.get("components", {}).get("schemas", {}).items():
                components.setdefault(name, definition)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


_WEBHOOK_DESCRIPTION = """\
Sent as `POST` to each registered endpoint that subscribes to `{event}`. Headers:
`Platsa-Webhook-Id` (the event id: dedupe by it), `Platsa-Webhook-Timestamp` (Unix seconds),
`Platsa-Webhook-Signature` (`v1=<hex HMAC-SHA256 of "<timestamp>." + raw body>`, one per active
secret), `Platsa-Webhook-Replay` (`true` for a replay), `Platsa-Webhook-Delivery`. Answer 2xx within
the timeout; anything else is retried with exponential backoff. See `docs/integration.md`.
"""


def _document_webhooks(app: FastAPI) -> None:
    for event_type in WEBHOOK_EVENT_TYPES:
        def receive(
            body: WebhookEvent,
            platsa_webhook_id: Annotated[str, Header(alias="Platsa-Webhook-Id")],
            platsa_webhook_timestamp: Annotated[str, Header(alias="Platsa-Webhook-Timestamp")],
            platsa_webhook_signature: Annotated[str, Header(alias="Platsa-Webhook-Signature")],
            platsa_webhook_replay: Annotated[str, Header(alias="Platsa-Webhook-Replay")] = "false",
        ) -> None:
            """Documentation only: the supplier's receiver implements this."""

        app.webhooks.add_api_route(event_type, receive, methods=["POST"], summary=f"Event {event_type}",
                                   description=_WEBHOOK_DESCRIPTION.format(event=event_type),
                                   operation_id=f"webhook_{event_type.replace('.', '_')}",
                                   status_code=200, response_description="Received (any 2xx).")


def worker_of(request: Request) -> DeliveryWorker | None:
    """The app's delivery worker (None outside a running app)."""
    return getattr(request.app.state, "integration", None)
