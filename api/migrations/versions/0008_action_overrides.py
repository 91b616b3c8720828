"""Analysts' overrides of the recommended action (one current override per account or cluster), and outbox events
outside any case acting on an account or a cluster: ``enforcement_outbox.case_id`` and ``account_id`` become
nullable, ``cluster_id`` is added, and exactly one of ``account_id`` and ``cluster_id`` is set. Downgrading deletes
the override events (the old outbox cannot hold them) and the overrides.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import distillguard.api.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OUTBOX = "enforcement_outbox"
ONE_SUBJECT = "(account_id IS NULL) <> (cluster_id IS NULL)"


def upgrade() -> None:
    op.create_table(
        "action_overrides",
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("recommended", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("set_role", sa.String(length=16), nullable=False),
        sa.Column("set_at", distillguard.api.types.UTCDateTime(), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("subject_type", "subject_id", name=op.f("pk_action_overrides")),
    )
    with op.batch_alter_table(OUTBOX) as batch:
        batch.alter_column("case_id", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("account_id", existing_type=sa.String(length=128), nullable=True)
        batch.add_column(sa.Column("cluster_id", sa.String(length=128), nullable=True))
        batch.create_check_constraint("one_subject", ONE_SUBJECT)


def downgrade() -> None:
    op.execute(f"DELETE FROM {OUTBOX} WHERE case_id IS NULL OR account_id IS NULL")
    with op.batch_alter_table(OUTBOX) as batch:
        batch.drop_constraint(op.f("ck_enforcement_outbox_one_subject"), type_="check")
        batch.drop_column("cluster_id")
        batch.alter_column("account_id", existing_type=sa.String(length=128), nullable=False)
        batch.alter_column("case_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("action_overrides")
