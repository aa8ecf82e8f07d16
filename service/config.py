"""The service's settings, read from the environment in one place.

Only :func:`get_settings` reads ``os.environ`` (STYLE.md: only ``service`` reads the environment,
and it does so here). Every variable has the prefix ``PLATSA_``:

``PLATSA_DATABASE_URL``
    SQLAlchemy URL of the database; default ``sqlite:///./platsa.db`` (a file beside the working
    directory). PostgreSQL: ``postgresql+psycopg://user@host:5432/dbname`` (``postgresql://`` is
    accepted and given the psycopg 3 driver).
``PLATSA_POLICY_DIR``
    A folder of extra policy files (``<id>.toml``), searched before the shipped ones.
``PLATSA_MODELS_DIR``
    The folder of stored outcome models (``platsa model train --out``): a policy whose
    ``[outcome_model]`` has a ``weight`` above 0 names one of them by its version, and the service
    loads it from here (:func:`service.outcome_models.bind_outcome_model`). Unset: no model is
    known, and such a policy is refused when it is loaded.
``PLATSA_HOST``, ``PLATSA_PORT``
    Where ``platsa serve`` listens (default ``127.0.0.1:8000``).
``PLATSA_ENGINE``
    ``module:attribute`` of the engine factory behind shortlists and rounds (default
    ``service.engine:CoreEngine``); a deployment can plug in another implementation.
``PLATSA_JOB_RECOVERY``
    What happens on start to a round that a crash or restart interrupted: ``resume`` (default; the
    round is run again from the inputs stored with it) or ``fail`` (it is marked failed, with why).
``PLATSA_SHORTLIST_CACHE_MB``
    Memory for answered shortlists, kept per region snapshot (default 128: room for every place's
    default list of a 10 000-place region, about 93 MB; 0 turns the cache off).
``PLATSA_POLICY_POOLS``
    Candidate pools kept per region snapshot for shortlists asked under another policy
    (``?policy=``) whose priority groups differ from the region's own policy's (default 2; each is
    as large as the region's own pool; 0 builds one for every such request and keeps none).
``PLATSA_SHORTLIST_WARM``
    ``1`` (default): after a start or an import, a background thread computes every place's
    region-wide shortlist of the default length into the cache, as far as it has room; ``0``: the
    cache fills only as lists are asked for.
``PLATSA_SHORTLIST_FAST_PATH``
    ``1`` (default): shortlist reads whose key is in the key cache are answered by a small ASGI layer
    in front of the framework's routing and dependency solving, with the same checks, audit entry
    and answer (:class:`service.routes.shortlists.ShortlistFastPath`); ``0``: by the route alone.
``PLATSA_GC_FREEZE``
    ``1`` (default): once a region snapshot is loaded and its shortlist cache warmed, the objects
    the process holds are collected once and then frozen out of later garbage collections
    (:meth:`service.state.ServiceState.freeze`), and given back to the collector at the next
    rebuild; ``0``: the collector sees every object, as Python does by default. A setting of the
    ``platsa serve`` and ``platsa worker`` processes (:class:`service.cli.common.GcFreeze`): an app
    built otherwise freezes nothing.
``PLATSA_KEY_CACHE_TTL_S``
    How long a serving process trusts a key it has checked without asking the database again: the
    longest a key revoked by another process (``platsa admin revoke-key``) keeps working (default
    2; 0 asks the database on every request).
``PLATSA_MAX_UPLOAD_BYTES``, ``PLATSA_MAX_BODY_BYTES``
    The largest request body accepted: a region upload (default 512 MiB), and any other request
    (default 4 MiB). A larger one is answered 413 before it is read past the limit, and only after
    its key and role are checked (:mod:`service.gate`).
``PLATSA_AUTH_FAILURE_LIMIT``, ``PLATSA_AUTH_FAILURE_WINDOW_S``
    A client address, or a presented key, with this many failed authentications (no key, an
    unknown or a revoked one) in the last window (default 20 in 60 s) is answered 429 with
    ``Retry-After`` until the oldest failure leaves the window; a key the process has checked
    lately is never held up (:class:`service.gate.FailureLimiter`). 0 turns it off.
``PLATSA_AUTH_FAILURE_EXEMPT``
    Client networks the limit never holds up, comma-separated (default ``127.0.0.0/8,::1/128``:
    local tools and tests; behind a reverse proxy the client address is the one the proxy
    forwards, as uvicorn reads ``X-Forwarded-For`` from ``--forwarded-allow-ips``). Empty: none.
``PLATSA_AUDIT_FLUSH_INTERVAL_S``
    How often queued audit entries of reads (shortlists) are written, one transaction per batch:
    the most a crash can lose (default 0.05).

``PLATSA_ROUNDS``
    Where allocation rounds run (``service/queue.py``): ``in_process`` (default: in the server
    process; on PostgreSQL by a procrastinate worker inside it) or ``workers`` (PostgreSQL only:
    in ``platsa worker`` processes; the servers serve HTTP only, and send no webhooks).
``PLATSA_QUEUE_HEARTBEAT_S``, ``PLATSA_QUEUE_STALLED_S``
    On PostgreSQL: how often a round worker writes its heartbeat and looks for stalled jobs
    (default 10), and how long a worker may be silent before its round is run by another
    (default 30; at least twice the heartbeat).
``PLATSA_SHUTDOWN_GRACE_S``
    A stopping process waits this long for the round it runs to finish, then stops it and hands
    it back to the queue (default 30); ``platsa serve`` gives the requests in flight as long.
``PLATSA_SHUTDOWN_DRAIN_S``
    ``platsa serve``: after SIGTERM, keep serving this long with ``GET /ready`` answering 503
    (shutting down), so that a load balancer stops sending before the port closes (default 0).

``PLATSA_DB_POOL_SIZE``, ``PLATSA_DB_MAX_OVERFLOW``
    On PostgreSQL: connections the server keeps open between requests (default 20), and how many
    more it opens for a burst (default 75); together below the database's ``max_connections``.

``PLATSA_CHANGE_POLL_S``
    How often a server reads the database's count of writes to region data, to see writes of other
    processes (``service/changes.py``; on PostgreSQL a notification usually comes first; default 0.5).

The web pages' personal accounts (``docs/security.md``, "Personal accounts"):

``PLATSA_SESSION_IDLE_S``, ``PLATSA_SESSION_MAX_S``
    A signed-in session ends after this long without a request (default 1800: 30 minutes), and this
    long after sign-in whatever happens (default 43200: 12 hours).
``PLATSA_SIGN_IN_FAILURE_LIMIT``, ``PLATSA_SIGN_IN_LOCKOUT_S``
    An account with this many failed sign-ins in a row (default 5) is locked for this long
    (default 900: 15 minutes); a success resets the count. 0 turns the lockout off.
``PLATSA_SIGN_IN_ADDRESS_LIMIT``
    A client address with this many failed sign-ins within the lockout time (default 20, any
    usernames) may not try again until the oldest leaves it; the networks of
    ``PLATSA_AUTH_FAILURE_EXEMPT`` are never held up. 0 turns it off.

The supplier integration's settings (``docs/integration.md``):

``PLATSA_PSEUDONYM_SECRET``
    Key of the HMAC that turns (supplier, candidate) into the candidate reference a supplier sees.
    Empty (default): one is generated on first start and kept in the database. Changing it changes
    every reference suppliers hold.
``PLATSA_SECRET_KEY``
    The server key that seals webhook signing secrets at rest: one or more keys of at least 32
    characters, comma-separated; the first seals, all open (key rotation). Empty (default): the key
    in ``PLATSA_SECRET_KEY_FILE``.
``PLATSA_SECRET_KEY_FILE``
    A file holding the server key, made with a new random key on first start. Default: beside a
    SQLite database file (``platsa.db.key``); for other databases none, and a key kept in the
    database itself is used, with a warning (:mod:`service.integration.sealing`).
``PLATSA_WEBHOOK_ALLOW_HTTP_LOCALHOST``
    ``1`` accepts ``http://127.0.0.1``/``http://localhost`` webhook URLs (tests, local development);
    otherwise every webhook URL must be ``https://``.
``PLATSA_WEBHOOK_TIMEOUT_S``, ``PLATSA_WEBHOOK_BACKOFF_BASE_S``, ``PLATSA_WEBHOOK_BACKOFF_MAX_S``,
``PLATSA_WEBHOOK_MAX_ATTEMPTS``, ``PLATSA_WEBHOOK_POLL_INTERVAL_S``
    Delivery: per-attempt timeout, first retry delay (doubled per attempt, capped by the maximum),
    attempts before a delivery is given up, and how often the worker looks for due work.
``PLATSA_WEBHOOK_SECRET_GRACE_S``
    How long a rotated-out signing secret keeps signing, by default (a rotation may say otherwise).
``PLATSA_REMINDER_DAYS``
    A proposal still unanswered (open or viewed) this many days after it was made gets one reminder
    event.
``PLATSA_IDEMPOTENCY_TTL_HOURS``
    How long a POST's answer is kept for retries with the same ``Idempotency-Key``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from sqlalchemy.engine import make_url

PREFIX = "PLATSA_"


class Settings(BaseModel):
    """Everything the service reads from its environment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    database_url: str = "sqlite:///./platsa.db"
    policy_dir: Path | None = None
    models_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    engine: str = "service.engine:CoreEngine"
    job_recovery: Literal["resume", "fail"] = "resume"
    shortlist_cache_mb: float = Field(default=128.0, ge=0)
    shortlist_warm: bool = True
    #: Compute the current year's follow-up report in the background after each new snapshot, so
    #: that the first follow-up page or report after a change does not wait for it (docs/pages.md).
    followup_warm: bool = True
    policy_pools: int = Field(default=2, ge=0, le=16)
    shortlist_fast_path: bool = True
    gc_freeze: bool = True
    key_cache_ttl_s: float = Field(default=2.0, ge=0, le=3600)
    audit_flush_interval_s: float = Field(default=0.05, gt=0, le=10)
    #: PostgreSQL connections kept open between requests, and opened beyond them for a burst.
    db_pool_size: int = Field(default=20, ge=1, le=1000)
    db_max_overflow: int = Field(default=75, ge=0, le=1000)
    #: Where rounds run (service/queue.py): in the server process, or in `platsa worker` processes.
    rounds: Literal["in_process", "workers"] = "in_process"
    queue_heartbeat_s: float = Field(default=10.0, gt=0, le=600)
    queue_stalled_s: float = Field(default=30.0, gt=0, le=3600)
    shutdown_grace_s: float = Field(default=30.0, ge=0, le=3600)
    shutdown_drain_s: float = Field(default=0.0, ge=0, le=600)
    #: How often a server reads the database's count of writes to region data (service/changes.py).
    change_poll_s: float = Field(default=0.5, gt=0, le=60)
    #: Largest accepted import upload, bytes.
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    #: Largest accepted body of any other request, bytes.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    #: Failed authentications per client address (and per presented key) in the window before 429.
    auth_failure_limit: int = Field(default=20, ge=0)
    auth_failure_window_s: float = Field(default=60.0, gt=0, le=86_400)
    #: Client addresses the limit never holds up (comma-separated networks; default loopback).
    auth_failure_exempt: str = "127.0.0.0/8,::1/128"
    session_idle_s: float = Field(default=1800.0, gt=0, le=7 * 86_400)
    session_max_s: float = Field(default=43_200.0, gt=0, le=30 * 86_400)
    sign_in_failure_limit: int = Field(default=5, ge=0)
    sign_in_lockout_s: float = Field(default=900.0, gt=0, le=86_400)
    sign_in_address_limit: int = Field(default=20, ge=0)
    # The supplier integration (service/integration): pseudonyms, webhooks, reminders, idempotency.
    pseudonym_secret: str = ""
    # A SecretStr: the key never shows in a repr, a log line or a validation error.
    secret_key: SecretStr = SecretStr("")
    secret_key_file: Path | None = None
    webhook_allow_http_localhost: bool = False
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120)
    webhook_backoff_base_s: float = Field(default=30.0, gt=0)
    webhook_backoff_max_s: float = Field(default=6 * 3600.0, gt=0)
    webhook_max_attempts: int = Field(default=12, ge=1, le=100)
    webhook_poll_interval_s: float = Field(default=1.0, gt=0)
    webhook_secret_grace_s: int = Field(default=24 * 3600, ge=0)
    reminder_days: int = Field(default=7, ge=0)
    idempotency_ttl_hours: float = Field(default=24.0, gt=0)
    #: How often the service applies the policy's retention periods (service/retention.py); 0: never.
    retention_interval_s: float = Field(default=3600.0, ge=0)

    @model_validator(mode="after")
    def _heartbeat_below_stall(self) -> Settings:
        if self.queue_stalled_s < 2 * self.queue_heartbeat_s:
            raise ValueError(f"PLATSA_QUEUE_STALLED_S ({self.queue_stalled_s:g}) must be at least twice "
                             f"PLATSA_QUEUE_HEARTBEAT_S ({self.queue_heartbeat_s:g}): a live worker "
                             "would pass for dead between two heartbeats")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with an explicit driver: plain ``postgresql://`` means psycopg 3 here."""
        url = self.database_url
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url[len(plain):]
        return url

    @property
    def secret_key_path(self) -> Path | None:
        """The server key's file: ``secret_key_file``, or beside a SQLite database file, or None."""
        if self.secret_key_file is not None:
            return self.secret_key_file
        url = make_url(self.sqlalchemy_url)
        database = url.database or ""
        if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
            return None
        return Path(database + ".key")

    @property
    def policy_dirs(self) -> tuple[Path, ...]:
        return (self.policy_dir,) if self.policy_dir is not None else ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``PLATSA_*`` variables (``environ`` defaults to ``os.environ``)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            name: env[PREFIX + name.upper()]
            for name in cls.model_fields
            if PREFIX + name.upper() in env and env[PREFIX + name.upper()] != ""
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings.from_env()
