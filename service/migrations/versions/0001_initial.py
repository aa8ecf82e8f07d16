"""initial schema: region tables, keys, audit log, rounds, jobs

Revision ID: 0001
Revises:
Create Date: 2026-11-22 05:23:50.516217
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("district_id", sa.String(), nullable=True),
        sa.Column("supplier_id", sa.String(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_keys_token_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("resource", sa.String(), nullable=False),
        sa.Column("resource_id", sa.String(), nullable=True),
        sa.Column("candidate_ids", sa.JSON(), nullable=True),
        sa.Column("detail", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "candidates",
        sa.Column("candidate_id", sa.String(), nullable=False),
        sa.Column("home_district", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("work_ladder_step", sa.Integer(), nullable=False),
        sa.Column("competences", sa.JSON(), nullable=True),
        sa.Column("commute_limit_km", sa.Float(), nullable=False),
        sa.Column("wished_placement_types", sa.JSON(), nullable=True),
        sa.Column("wished_hours", sa.Integer(), nullable=False),
        sa.Column("support_needs", sa.JSON(), nullable=True),
        sa.Column("available_from", sa.Date(), nullable=False),
        sa.Column("registered_since", sa.Date(), nullable=False),
        sa.Column("gender", sa.String(), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=False),
        sa.Column("foreign_born", sa.Boolean(), nullable=False),
        sa.Column("disability", sa.Boolean(), nullable=False),
        sa.Column("income_support", sa.String(), nullable=False),
        sa.Column("placed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("candidate_id", name=op.f("pk_candidates")),
    )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_candidates_home_district"), ["home_district"], unique=False)

    op.create_table(
        "districts",
        sa.Column("district_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("municipality", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("district_id", name=op.f("pk_districts")),
    )
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("subject_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("recovery", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "occupations",
        sa.Column("ssyk_code", sa.String(), nullable=False),
        sa.Column("name_sv", sa.String(), nullable=False),
        sa.Column("name_en", sa.String(), nullable=False),
        sa.Column("share_women", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("ssyk_code", name=op.f("pk_occupations")),
    )
    op.create_table(
        "placements",
        sa.Column("placement_id", sa.String(), nullable=False),
        sa.Column("proposal_id", sa.String(), nullable=False),
        sa.Column("candidate_id", sa.String(), nullable=False),
        sa.Column("place_id", sa.String(), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("end_reason", sa.String(), nullable=False),
        sa.Column("ended_by", sa.String(), nullable=True),
        sa.Column("hired_on", sa.Date(), nullable=True),
        sa.Column("contract_type", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("placement_id", name=op.f("pk_placements")),
    )
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_placements_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_placements_place_id"), ["place_id"], unique=False)

    op.create_table(
        "places",
        sa.Column("place_id", sa.String(), nullable=False),
        sa.Column("supplier_id", sa.String(), nullable=False),
        sa.Column("procurement_id", sa.String(), nullable=False),
        sa.Column("placement_type", sa.String(), nullable=False),
        sa.Column("ssyk_code", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("competences_required", sa.JSON(), nullable=True),
        sa.Column("competences_wanted", sa.JSON(), nullable=True),
        sa.Column("district_id", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("duration_months", sa.Float(), nullable=False),
        sa.Column("lowest_ladder_step", sa.Integer(), nullable=False),
        sa.Column("supervisor_offered", sa.Boolean(), nullable=False),
        sa.Column("hours_per_week", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("place_id", name=op.f("pk_places")),
    )
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_places_procurement_id"), ["procurement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_places_supplier_id"), ["supplier_id"], unique=False)

    op.create_table(
        "procurements",
        sa.Column("procurement_id", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("procurement_type", sa.String(), nullable=False),
        sa.Column("supplier_id", sa.String(), nullable=False),
        sa.Column("contract_start", sa.Date(), nullable=False),
        sa.Column("contract_end", sa.Date(), nullable=False),
        sa.Column("value_sek", sa.BigInteger(), nullable=False),
        sa.Column("executed_locally", sa.Boolean(), nullable=False),
        sa.Column("staff_needed", sa.Integer(), nullable=False),
        sa.Column("requirement_type", sa.String(), nullable=False),
        sa.Column("required_places", sa.Integer(), nullable=False),
        sa.Column("penalty_sek", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("procurement_id", name=op.f("pk_procurements")),
    )
    with op.batch_alter_table("procurements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_procurements_supplier_id"), ["supplier_id"], unique=False)

    op.create_table(
        "proposals",
        sa.Column("proposal_id", sa.String(), nullable=False),
        sa.Column("candidate_id", sa.String(), nullable=False),
        sa.Column("place_id", sa.String(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decline_reason", sa.String(), nullable=True),
        sa.Column("round_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("proposal_id", name=op.f("pk_proposals")),
    )
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposals_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposals_place_id"), ["place_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposals_round_id"), ["round_id"], unique=False)

    op.create_table(
        "region_meta",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("policy", sa.String(), nullable=False),
        sa.Column("reference_date", sa.Date(), nullable=False),
        sa.Column("size", sa.String(), server_default="", nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("generator", sa.String(), server_default="", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region_meta")),
    )
    op.create_table(
        "round_assignments",
        sa.Column("round_id", sa.String(), nullable=False),
        sa.Column("candidate_id", sa.String(), nullable=False),
        sa.Column("place_id", sa.String(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("round_id", "candidate_id", name=op.f("pk_round_assignments")),
    )
    with op.batch_alter_table("round_assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_round_assignments_place_id"), ["place_id"], unique=False)

    op.create_table(
        "rounds",
        sa.Column("round_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("policy_id", sa.String(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("pins", sa.JSON(), nullable=False),
        sa.Column("removals", sa.JSON(), nullable=False),
        sa.Column("parent_round_id", sa.String(), nullable=True),
        sa.Column("region_version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("solver_status", sa.String(), nullable=True),
        sa.Column("objective", sa.Float(), nullable=True),
        sa.Column("gap", sa.Float(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_rounds")),
    )
    op.create_table(
        "suppliers",
        sa.Column("supplier_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("org_number", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("supplier_id", name=op.f("pk_suppliers")),
    )


def downgrade() -> None:
    op.drop_table("suppliers")
    op.drop_table("rounds")
    with op.batch_alter_table("round_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_round_assignments_place_id"))

    op.drop_table("round_assignments")
    op.drop_table("region_meta")
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposals_round_id"))
        batch_op.drop_index(batch_op.f("ix_proposals_place_id"))
        batch_op.drop_index(batch_op.f("ix_proposals_candidate_id"))

    op.drop_table("proposals")
    with op.batch_alter_table("procurements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_procurements_supplier_id"))

    op.drop_table("procurements")
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_places_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_places_procurement_id"))

    op.drop_table("places")
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_placements_place_id"))
        batch_op.drop_index(batch_op.f("ix_placements_candidate_id"))

    op.drop_table("placements")
    op.drop_table("occupations")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_subject_id"))

    op.drop_table("jobs")
    op.drop_table("districts")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_candidates_home_district"))

    op.drop_table("candidates")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
    op.drop_table("api_keys")
