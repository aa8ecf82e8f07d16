"""The supplier integration's tables, on the service's one :data:`~service.db.tables.metadata`.

``service/db/tables.py`` imports this module at its end, so that the migrations' comparison test
sees these tables too; migration ``0002`` creates them.

``proposal_events``
    Every change of a proposal (and every reminder), with who and when: the lifecycle's history, the
    follow-up's evidence and the source of webhook events. ``event_seq`` orders the feed suppliers
    poll; ``event_id`` is the id a webhook receiver dedupes by; ``dedupe_key`` makes "at most once"
    events (a proposal's creation, its reminder) unique in the database, whoever records them.
``webhook_endpoints``, ``webhook_secrets``
    A supplier's receivers and their signing secrets (sealed under the server's key); during a
    rotation an endpoint has two.
``webhook_deliveries``
    One row per (endpoint, event, replay number): the original delivery has ``replay_number`` 0,
    and each replay a new row with the same ``event_id``. Attempts are kept on the row.
``idempotency_keys``
    The first answer to a POST sent with an ``Idempotency-Key``, per API key.
``integration_secrets``
    Server secrets generated on first start when the environment gives none (the pseudonym key, and
    the key that seals webhook secrets when neither a key nor a key file is configured).
"""

from __future__ import annotations

import sqlalchemy as sa

from service.db.metadata import metadata

proposal_events = sa.Table(
    "proposal_events",
    metadata,
    sa.Column("event_seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(40), nullable=False, unique=True),
    sa.Column("proposal_id", sa.String, nullable=False, index=True),
    sa.Column("supplier_id", sa.String, nullable=False, index=True),
    # proposal.created | proposal.viewed | ... | proposal.reminder
    sa.Column("type", sa.String, nullable=False),
    sa.Column("from_status", sa.String, nullable=True),
    sa.Column("to_status", sa.String, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("actor_key_id", sa.Integer, nullable=True),  # None: the service itself (reminders)
    sa.Column("actor_role", sa.String, nullable=False),
    # Start date, contract type, reason code: never a person's data.
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("dedupe_key", sa.String, nullable=True, unique=True),
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("endpoint_id", sa.String(40), primary_key=True),
    sa.Column("supplier_id", sa.String, nullable=False, index=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("event_types", sa.JSON, nullable=False),
    sa.Column("description", sa.String, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
)

webhook_secrets = sa.Table(
    "webhook_secrets",
    metadata,
    sa.Column("secret_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("endpoint_id", sa.String(40), nullable=False, index=True),
    # Sealed under the server's key (service/integration/sealing.py): signing needs the secret itself,
    # so a hash would not do, and a copy of the database must not disclose it.
    sa.Column("secret", sa.String, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("delivery_id", sa.String(40), primary_key=True),
    sa.Column("endpoint_id", sa.String(40), nullable=False, index=True),
    sa.Column("supplier_id", sa.String, nullable=False, index=True),
    sa.Column("event_id", sa.String(40), nullable=False, index=True),
    sa.Column("event_type", sa.String, nullable=False),
    sa.Column("replay_number", sa.Integer, nullable=False),
    # The exact bytes sent (UTF-8 JSON): the same on every attempt, so the event is the same.
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # pending | succeeded | failed | cancelled
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("attempt_log", sa.JSON, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("endpoint_id", "event_id", "replay_number",
                        name="uq_webhook_deliveries_endpoint_event_replay"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # which API key: its SHA-256, as in api_keys
    sa.Column("idempotency_key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=True),  # SHA-256 of method, path, query and body
    sa.Column("status_code", sa.Integer, nullable=True),  # None while the first request runs
    sa.Column("headers", sa.JSON, nullable=True),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

integration_secrets = sa.Table(
    "integration_secrets",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
)
