"""Plugging the integration into the app: one call, :func:`install`, from ``service/app.py``.

It adds the ``Idempotency-Key`` middleware and documents the webhooks (``app.webhooks``, which
:func:`service.openapi.build` puts in the document, with the header on every POST). What else the
integration needs of the app lives where the rest of its kind does: the problem answers of its
exceptions in :mod:`service.handlers`, and its delivery worker among the app's background workers
(:mod:`service.background`, started by the app's lifespan after the database and the region are
ready, and stopped before the database is closed; with ``PLATSA_ROUNDS=workers`` the ``platsa
worker`` processes run it instead).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Header, Request

from service.integration import idempotency
from service.integration.models import WebhookEvent
from service.integration.webhooks import WEBHOOK_EVENT_TYPES
from service.integration.worker import DeliveryWorker


def install(app: FastAPI) -> None:
    """Add the integration to ``app`` (call once, after its routers are included)."""
    app.add_middleware(idempotency.IdempotencyMiddleware)
    _document_webhooks(app)


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
