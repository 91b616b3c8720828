"""Queue indexes in the queue's order (score descending, id ascending), flagged queue indexes, detections epoch.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

QUEUES = {
    "cluster_verdicts": ("cluster", "cluster_id"),
    "account_verdicts": ("account", "account_id"),
}


def upgrade() -> None:
    for table, (name, key) in QUEUES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{name}_queue")
            batch_op.drop_index(f"ix_{name}_status_queue")
            batch_op.create_index(f"ix_{name}_queue", [sa.text("score DESC"), key], unique=False)
            batch_op.create_index(f"ix_{name}_status_queue", ["status", sa.text("score DESC"), key], unique=False)
            batch_op.create_index(f"ix_{name}_flagged_queue", ["flagged", sa.text("score DESC"), key], unique=False)
    epoch = op.create_table(
        "detections_epoch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detections_epoch")),
    )
    op.bulk_insert(epoch, [{"id": 1, "epoch": 0}])


def downgrade() -> None:
    op.drop_table("detections_epoch")
    for table, (name, key) in QUEUES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{name}_flagged_queue")
            batch_op.drop_index(f"ix_{name}_status_queue")
            batch_op.drop_index(f"ix_{name}_queue")
            batch_op.create_index(f"ix_{name}_queue", ["score", key], unique=False)
            batch_op.create_index(f"ix_{name}_status_queue", ["status", "score", key], unique=False)
