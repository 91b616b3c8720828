"""Review schema: detections, tokens, cases, decisions, audit log (append-only), enforcement outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 02:33:27.923090
"""

import sqlalchemy as sa
from alembic import op

import distillguard.api.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'the audit log is append-only'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    ],
}


def upgrade() -> None:
    op.create_table(
        "account_models",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "model", name=op.f("pk_account_models")),
    )
    with op.batch_alter_table("account_models", schema=None) as batch_op:
        batch_op.create_index("ix_account_models_model", ["model", "account_id"], unique=False)

    op.create_table(
        "account_verdicts",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("cluster_id", sa.String(length=128), nullable=True),
        sa.Column("flagged_at", distillguard.api.types.UTCDateTime(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("n_requests", sa.Integer(), nullable=False),
        sa.Column("first_seen", distillguard.api.types.UTCDateTime(), nullable=True),
        sa.Column("last_seen", distillguard.api.types.UTCDateTime(), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("org_id", sa.String(length=128), nullable=True),
        sa.Column("verification_path", sa.String(length=32), nullable=True),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("hourly_requests", sa.JSON(), nullable=False),
        sa.Column("sample_prompts", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("updated_at", distillguard.api.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_verdicts")),
    )
    with op.batch_alter_table("account_verdicts", schema=None) as batch_op:
        batch_op.create_index("ix_account_cluster", ["cluster_id", "verification_path"], unique=False)
        batch_op.create_index("ix_account_last_seen", ["last_seen"], unique=False)
        batch_op.create_index("ix_account_queue", ["score", "account_id"], unique=False)
        batch_op.create_index("ix_account_status_queue", ["status", "score", "account_id"], unique=False)
        batch_op.create_index("ix_account_verification", ["verification_path", "score"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", distillguard.api.types.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", distillguard.api.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", distillguard.api.types.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_actor", ["actor", "id"], unique=False)
        batch_op.create_index("ix_audit_entity", ["entity_type", "entity_id", "id"], unique=False)

    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("assignee", sa.String(length=128), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", distillguard.api.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", distillguard.api.types.UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", distillguard.api.types.UTCDateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("subject_type", "subject_id", name="uq_cases_subject"),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_status", ["status", "id"], unique=False)

    op.create_table(
        "cluster_indicators",
        sa.Column("cluster_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("cluster_id", "kind", "value", name=op.f("pk_cluster_indicators")),
    )
    with op.batch_alter_table("cluster_indicators", schema=None) as batch_op:
        batch_op.create_index("ix_indicator_value", ["value", "kind"], unique=False)

    op.create_table(
        "cluster_verdicts",
        sa.Column("cluster_id", sa.String(length=128), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("flagged_at", distillguard.api.types.UTCDateTime(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("shared_indicators", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("n_requests", sa.Integer(), nullable=False),
        sa.Column("first_seen", distillguard.api.types.UTCDateTime(), nullable=True),
        sa.Column("last_seen", distillguard.api.types.UTCDateTime(), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("linked_clusters", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("updated_at", distillguard.api.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("cluster_id", name=op.f("pk_cluster_verdicts")),
    )
    with op.batch_alter_table("cluster_verdicts", schema=None) as batch_op:
        batch_op.create_index("ix_cluster_last_seen", ["last_seen"], unique=False)
        batch_op.create_index("ix_cluster_queue", ["score", "cluster_id"], unique=False)
        batch_op.create_index("ix_cluster_status_queue", ["status", "score", "cluster_id"], unique=False)

    op.create_table(
        "account_decisions",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=False),
        sa.Column("decided_at", distillguard.api.types.UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_account_decisions_case_id_cases")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_decisions")),
    )
    with op.batch_alter_table("account_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_decisions_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", distillguard.api.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_comments_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_comments")),
    )
    with op.batch_alter_table("case_comments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_comments_case_id"), ["case_id"], unique=False)

    op.create_table(
        "enforcement_outbox",
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", distillguard.api.types.UTCDateTime(), nullable=False),
        sa.Column("sent_at", distillguard.api.types.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_enforcement_outbox_case_id_cases")),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_enforcement_outbox")),
    )
    with op.batch_alter_table("enforcement_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enforcement_outbox_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_outbox_pending", ["sent_at", "created_at"], unique=False)
    for statement in APPEND_ONLY.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    with op.batch_alter_table("enforcement_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")
        batch_op.drop_index(batch_op.f("ix_enforcement_outbox_case_id"))

    op.drop_table("enforcement_outbox")
    with op.batch_alter_table("case_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_comments_case_id"))

    op.drop_table("case_comments")
    with op.batch_alter_table("account_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_decisions_case_id"))

    op.drop_table("account_decisions")
    with op.batch_alter_table("cluster_verdicts", schema=None) as batch_op:
        batch_op.drop_index("ix_cluster_status_queue")
        batch_op.drop_index("ix_cluster_queue")
        batch_op.drop_index("ix_cluster_last_seen")

    op.drop_table("cluster_verdicts")
    with op.batch_alter_table("cluster_indicators", schema=None) as batch_op:
        batch_op.drop_index("ix_indicator_value")

    op.drop_table("cluster_indicators")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_status")

    op.drop_table("cases")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entity")
        batch_op.drop_index("ix_audit_actor")

    op.drop_table("audit_events")
    op.drop_table("api_tokens")
    with op.batch_alter_table("account_verdicts", schema=None) as batch_op:
        batch_op.drop_index("ix_account_verification")
        batch_op.drop_index("ix_account_status_queue")
        batch_op.drop_index("ix_account_queue")
        batch_op.drop_index("ix_account_last_seen")
        batch_op.drop_index("ix_account_cluster")

    op.drop_table("account_verdicts")
    with op.batch_alter_table("account_models", schema=None) as batch_op:
        batch_op.drop_index("ix_account_models_model")

    op.drop_table("account_models")
