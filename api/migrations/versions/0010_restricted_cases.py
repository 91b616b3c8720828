"""Restricted cases: ``case_restrictions`` (a restricted case, who restricted it and when) and ``case_members`` (the
token names who may see it, besides admins). Downgrading drops both: every case is visible again.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import distillguard.api.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_restrictions",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("set_at", distillguard.api.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_restrictions_case_id_cases")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_restrictions")),
    )
    op.create_table(
        "case_members",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_restrictions.case_id"], name=op.f("fk_case_members_case_id_case_restrictions")
        ),
        sa.PrimaryKeyConstraint("case_id", "name", name=op.f("pk_case_members")),
    )
    op.create_index("ix_case_members_name", "case_members", ["name", "case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_members_name", table_name="case_members")
    op.drop_table("case_members")
    op.drop_table("case_restrictions")
