"""The database tables, as SQLAlchemy Core metadata.

The region's tables mirror :mod:`scoring.schema` column for column: they are built from its
declarations, so that one declaration drives validation, fixtures and storage. List columns are
stored as JSON arrays. The migrations in ``service/migrations`` create exactly this metadata; a test
(``tests/service/test_migrations.py``) compares the two, so a change to ``scoring/schema.py`` without
a migration fails the suite instead of a deployment.

The service's own tables follow: the region's manifest, the region rows created or changed through
the API since the last import, API keys, the audit log, allocation rounds, their assignments and
unassigned candidates, and background jobs.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.types import TypeEngine

from scoring.schema import TABLES, Column, Table
from service.db.metadata import metadata


def _sql_type(col: Column) -> TypeEngine[Any]:
    dtype = col.dtype
    if isinstance(dtype, pl.List) or dtype == pl.List:
        return sa.JSON()
    if dtype == pl.String:
        return sa.String()
    if dtype == pl.Boolean:
        return sa.Boolean()
    if dtype == pl.Date:
        return sa.Date()
    if dtype == pl.Float64:
        return sa.Float()
    if dtype == pl.Int64:
        return sa.BigInteger()
    if dtype in (pl.Int8, pl.Int16, pl.Int32):
        return sa.Integer()
    raise TypeError(f"no SQL type for {col.name}: {dtype}")  # pragma: no cover - schema is fixed


#: Columns indexed because access control or lookups filter on them.
_INDEXED = {"home_district", "supplier_id", "procurement_id", "candidate_id", "place_id"}


def _region_table(table: Table) -> sa.Table:
    columns: list[sa.Column[object]] = []
    for col in table.columns:
        is_key = col.name == table.key
        columns.append(
            sa.Column(
                col.name,
                _sql_type(col),
                primary_key=is_key,
                nullable=not (col.required or is_key) or isinstance(col.dtype, pl.List),
                index=(not is_key) and col.name in _INDEXED,
            )
        )
    if table.name == "proposals":
        # Service-only: the allocation round whose publication created the proposal (NULL otherwise).
        columns.append(sa.Column("round_id", sa.String(), nullable=True, index=True))
        # Service-only (migration 0011): the score the proposal was made with, and the learnt
        # outcome model's probability in it where the policy weighed the model (NULL otherwise, and
        # for proposals imported or made before the columns). Never in a supplier's view.
        columns.append(sa.Column("score", sa.Float(), nullable=True))
        columns.append(sa.Column("outcome_probability", sa.Float(), nullable=True))
    return sa.Table(table.name, metadata, *columns)


#: The region's tables by name, in :data:`scoring.schema.TABLES` order (referenced tables first).
REGION_TABLES: dict[str, sa.Table] = {name: _region_table(t) for name, t in TABLES.items()}

region_meta = sa.Table(
    "region_meta",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),  # always 1: one region per database
    sa.Column("region", sa.String, nullable=False),
    sa.Column("policy", sa.String, nullable=False),
    sa.Column("reference_date", sa.Date, nullable=False),
    sa.Column("size", sa.String, nullable=False, server_default=""),
    sa.Column("seed", sa.Integer, nullable=True),
    sa.Column("generator", sa.String, nullable=False, server_default=""),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
)

#: The count of writes to region data, one row (id 1), that every process on the database watches
#: (service/changes.py): each writing transaction adds one to it inside itself.
region_changes = sa.Table(
    "region_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("counter", sa.BigInteger, nullable=False, server_default="0"),
)

#: Region rows created or changed through the API since the last import, one row per region row:
#: what a re-import would otherwise drop or overwrite without a word (service/edits.py). Written in the
#: transaction of the API's write; emptied by every import (the rows are then the last import's).
region_edits = sa.Table(
    "region_edits",
    metadata,
    sa.Column("table_name", sa.String, primary_key=True),  # candidates | places | procurements
    sa.Column("row_id", sa.String, primary_key=True),  # the row's key in that table
    sa.Column("kind", sa.String, nullable=False),  # created | changed (a row created, then changed: created)
    sa.Column("fields", sa.JSON, nullable=False),  # changed: every column the API set, sorted; created: []
    sa.Column("edited_at", sa.DateTime(timezone=True), nullable=False),  # the latest write
    sa.Column("key_id", sa.Integer, nullable=True),  # the latest write's API key
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("role", sa.String, nullable=False),
    sa.Column("district_id", sa.String, nullable=True),
    sa.Column("supplier_id", sa.String, nullable=True),
    # SHA-256 of a 256-bit random token: a salt adds nothing to a secret with that much entropy.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("token_prefix", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

#: Personal accounts of the web pages (service/accounts.py): a person signs in with a username and
#: password; API keys stay for integrations.
accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("account_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String, nullable=False),
    sa.Column("role", sa.String, nullable=False),
    sa.Column("district_id", sa.String, nullable=True),
    sa.Column("supplier_id", sa.String, nullable=True),
    sa.Column("password_hash", sa.String, nullable=False),  # argon2id, with its own salt and parameters
    sa.Column("failed_sign_ins", sa.Integer, nullable=False, server_default="0"),  # since the last success
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
)

#: Signed-in sessions: only the SHA-256 of the cookie's 256-bit token is kept, as for API keys.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),  # the forms' token (not a secret of the cookie)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("key_id", sa.Integer, nullable=True),
    sa.Column("role", sa.String, nullable=False),
    sa.Column("action", sa.String, nullable=False),  # read | create | update | import | publish
    sa.Column("resource", sa.String, nullable=False),  # e.g. candidate, shortlist, region
    sa.Column("resource_id", sa.String, nullable=True),
    sa.Column("candidate_ids", sa.JSON, nullable=True),  # ids only: never a sensitive value
    sa.Column("detail", sa.String, nullable=True),
    sa.Column("account_id", sa.Integer, nullable=True),  # a person's account (key_id is then NULL)
)

rounds = sa.Table(
    "rounds",
    metadata,
    sa.Column("round_id", sa.String, primary_key=True),
    sa.Column("status", sa.String, nullable=False),  # queued | running | succeeded | failed | cancelled
    sa.Column("policy_id", sa.String, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("pins", sa.JSON, nullable=False),
    sa.Column("removals", sa.JSON, nullable=False),
    # The pins kept by a coordinator's override of hard rules: pair, rules, reason, who (issue 13).
    sa.Column("overrides", sa.JSON, nullable=True),
    sa.Column("parent_round_id", sa.String, nullable=True),
    sa.Column("region_version", sa.Integer, nullable=False),
    sa.Column("created_by", sa.Integer, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("solver_status", sa.String, nullable=True),
    sa.Column("objective", sa.Float, nullable=True),
    sa.Column("gap", sa.Float, nullable=True),
    sa.Column("summary", sa.JSON, nullable=True),
    sa.Column("error", sa.String, nullable=True),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("published_by", sa.Integer, nullable=True),
    # The prices proving the round's bound, by id (issue 20): what `platsa verify-round` re-checks.
    sa.Column("certificate", sa.JSON, nullable=True),
)

round_assignments = sa.Table(
    "round_assignments",
    metadata,
    sa.Column("round_id", sa.String, primary_key=True),
    sa.Column("candidate_id", sa.String, primary_key=True),
    sa.Column("place_id", sa.String, nullable=False, index=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("pinned", sa.Boolean, nullable=False),
    sa.Column("explanation", sa.JSON, nullable=False),
)

round_unassigned = sa.Table(
    # Per candidate with an eligible pair in the round who got no place: why (migration 0004).
    "round_unassigned",
    metadata,
    sa.Column("round_id", sa.String, primary_key=True),
    sa.Column("candidate_id", sa.String, primary_key=True),
    sa.Column("reason", sa.String, nullable=False),  # a code: outscored, no_eligible_place, ...
    sa.Column("explanation", sa.String, nullable=False),  # in words, with place and candidate ids
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("job_id", sa.String, primary_key=True),
    sa.Column("kind", sa.String, nullable=False),  # round
    sa.Column("subject_id", sa.String, nullable=False, index=True),  # the round's id
    sa.Column("status", sa.String, nullable=False),  # queued | running | succeeded | failed
    sa.Column("progress", sa.Float, nullable=False),
    sa.Column("message", sa.String, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("recovery", sa.String, nullable=True),  # what a restart did to it, in words
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("error", sa.String, nullable=True),
    # Set by a cancellation; the runner, in whichever process, stops at its next check and stores
    # nothing (service/jobs.py). The round's row stays the truth, not the queue's.
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    # Who runs the current attempt ("host:pid"), for the operator and the tests.
    sa.Column("worker", sa.String, nullable=True),
)

#: Tables in the database that are not the project's: the job queue's on PostgreSQL (procrastinate,
#: migration 0010). The migrations' comparison with :data:`metadata` leaves them out.
FOREIGN_TABLE_PREFIX = "procrastinate_"

#: The 180-day follow-up of a placement (migration 0011): whether the person was in work or studies
#: 180 days or more after it started, as the labour-market unit or a coordinator recorded it
#: (``POST /v1/proposals/{id}/person-outcome``). One per placement; what ``platsa model train
#: --from-db`` learns from. Never sent to a supplier.
person_outcomes = sa.Table(
    "person_outcomes",
    metadata,
    sa.Column("placement_id", sa.String, primary_key=True),
    sa.Column("proposal_id", sa.String, nullable=False, index=True),
    sa.Column("candidate_id", sa.String, nullable=False),
    sa.Column("place_id", sa.String, nullable=False),
    sa.Column("started_on", sa.Date, nullable=False),
    sa.Column("followed_up_on", sa.Date, nullable=False),
    sa.Column("in_work_or_studies", sa.Boolean, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_by", sa.Integer, nullable=True),  # the API key
)

# The supplier integration keeps its tables in its own module, on this metadata (migration 0002).
# The follow-up's records (dialogue log, suppliers' own hires) likewise (migration 0006).
from service import followup_records as _followup_tables  # noqa: E402, F401
from service.integration import tables as _integration_tables  # noqa: E402, F401
