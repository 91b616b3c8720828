"""The whole review database as plain data, to assert that a request changed nothing (or only what it should)."""

from __future__ import annotations

from sqlalchemy import select

import api.models  # noqa: F401 - every table in Base.metadata
from api.database import Base, session_scope


def snapshot(url: str) -> dict[str, list[dict]]:
    """Every row of every table, in primary-key order."""
    with session_scope(url) as s:
        return {t.name: [dict(r._mapping) for r in s.execute(select(t).order_by(*t.primary_key.columns))]
                for t in Base.metadata.sorted_tables}
