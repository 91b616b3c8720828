"""The response ladder on every verdict and cluster: calibrated probability, action, its basis, when each rung was
first reached (rows written before it read as probability 0, action none, until the worker writes them again).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("cluster_verdicts", "account_verdicts")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("probability", sa.Float(), nullable=False, server_default="0"))
            batch.add_column(sa.Column("action", sa.String(32), nullable=False, server_default="none"))
            batch.add_column(sa.Column("action_basis", sa.JSON(), nullable=False, server_default="[]"))
            batch.add_column(sa.Column("reached_at", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in ("reached_at", "action_basis", "action", "probability"):
                batch.drop_column(column)
