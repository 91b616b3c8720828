"""Token names are unique among unrevoked tokens in the database too (a partial unique index), not only in code:
two concurrent creations of one name cannot both commit.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEX = "uq_api_tokens_active_name"
ACTIVE = "revoked_at IS NULL"
DUPLICATES = sa.text(
    "SELECT name, id FROM api_tokens WHERE revoked_at IS NULL AND name IN "
    "(SELECT name FROM api_tokens WHERE revoked_at IS NULL GROUP BY name HAVING COUNT(*) > 1) ORDER BY name, id"
)


def _refuse_duplicates() -> None:
    """Stop with the names and ids when unrevoked tokens already share a name (from before names were checked):
    which one keeps the name is the operator's choice, not the migration's."""
    shared: dict[str, list[int]] = {}
    for name, token_id in op.get_bind().execute(DUPLICATES):
        shared.setdefault(name, []).append(token_id)
    if shared:
        held = "; ".join(f"{name!r} by tokens {', '.join(map(str, ids))}" for name, ids in shared.items())
        raise RuntimeError(
            f"unrevoked tokens share a name ({held}): revoke all but one of each (set revoked_at to the current UTC "
            "time in api_tokens), then migrate again"
        )


def upgrade() -> None:
    _refuse_duplicates()
    op.create_index(
        INDEX, "api_tokens", ["name"], unique=True, sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE)
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="api_tokens")
