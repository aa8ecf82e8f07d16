"""proposal scores: the score and the outcome probability each proposal was made with (issue 18)

Revision ID: 0011_proposal_scores
Revises: 0010_round_queue
Create Date: 2026-12-07 23:40:00.000000

``proposals.score`` is the match score of the pair when the proposal was made (by hand from a
shortlist, or by publishing a round); ``proposals.outcome_probability`` the learnt outcome model's
predicted P(in work or studies 180 days after the placement) within it, where the policy weighed
the model. Both NULL for proposals made before this revision, imported, or (the probability) made
under a policy that does not weigh the model. ``person_outcomes`` holds the 180-day follow-up of a
placement (in work or studies, or not) that the labour-market unit or a coordinator records: the
outcomes ``platsa model train --from-db`` learns from.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_proposal_scores"
down_revision = "0010_round_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("outcome_probability", sa.Float(), nullable=True))
    op.create_table(
        "person_outcomes",
        sa.Column("placement_id", sa.String(), nullable=False),
        sa.Column("proposal_id", sa.String(), nullable=False),
        sa.Column("candidate_id", sa.String(), nullable=False),
        sa.Column("place_id", sa.String(), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("followed_up_on", sa.Date(), nullable=False),
        sa.Column("in_work_or_studies", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("placement_id", name=op.f("pk_person_outcomes")),
    )
    with op.batch_alter_table("person_outcomes") as batch:
        batch.create_index(batch.f("ix_person_outcomes_proposal_id"), ["proposal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("person_outcomes") as batch:
        batch.drop_index(batch.f("ix_person_outcomes_proposal_id"))
    op.drop_table("person_outcomes")
    with op.batch_alter_table("proposals") as batch:
        batch.drop_column("outcome_probability")
        batch.drop_column("score")
