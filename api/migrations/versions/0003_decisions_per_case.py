"""Decisions per case: ``account_decisions`` keyed by (case_id, account_id) instead of account_id alone, so a newer
case no longer overwrites an older case's decision; ``decided_role`` records the decider's role (the effective
label rule ranks by it). Existing rows are kept (they were unique per account, so they are unique per case and
account); their role is taken from the newest token of the decider's name, when there is one.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BACKFILL_ROLE = (
    "UPDATE account_decisions SET decided_role = (SELECT t.role FROM api_tokens t "
    "WHERE t.name = account_decisions.decided_by ORDER BY t.id DESC LIMIT 1)"
)


def upgrade() -> None:
    with op.batch_alter_table("account_decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decided_role", sa.String(length=16), nullable=True))
        batch_op.drop_index("ix_account_decisions_case_id")
        batch_op.drop_constraint("pk_account_decisions", type_="primary")
        batch_op.create_primary_key("pk_account_decisions", ["case_id", "account_id"])
        batch_op.create_index("ix_account_decisions_account", ["account_id", "case_id"], unique=False)
    op.execute(BACKFILL_ROLE)


def downgrade() -> None:
    # one decision per account again: keep each account's newest row
    op.execute(
        "DELETE FROM account_decisions WHERE EXISTS (SELECT 1 FROM account_decisions n "
        "WHERE n.account_id = account_decisions.account_id AND (n.decided_at > account_decisions.decided_at "
        "OR (n.decided_at = account_decisions.decided_at AND n.case_id > account_decisions.case_id)))"
    )
    with op.batch_alter_table("account_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_account_decisions_account")
        batch_op.drop_constraint("pk_account_decisions", type_="primary")
        batch_op.create_primary_key("pk_account_decisions", ["account_id"])
        batch_op.create_index("ix_account_decisions_case_id", ["case_id"], unique=False)
        batch_op.drop_column("decided_role")
