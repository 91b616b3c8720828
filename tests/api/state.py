"""The whole review database as plain data, to assert that a request changed nothing (or only what it should)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

import distillguard.api.models  # noqa: F401 - every table in Base.metadata
from distillguard.api.database import Base, session_scope
from distillguard.api.detections.service import bump_epoch

KEPT = {"audit_events", "detections_epoch", "api_tokens"}  # append-only, a counter that only moves on, unchanged


def snapshot(url: str) -> dict[str, list[dict]]:
    """Every row of every table, in primary-key order."""
    with session_scope(url) as s:
        return {
            t.name: [dict(r._mapping) for r in s.execute(select(t).order_by(*t.primary_key.columns))]
            for t in Base.metadata.sorted_tables
        }


def restore(url: str, snap: dict[str, list[dict]], kept: frozenset[str] | set[str] = KEPT) -> None:
    """Put every table but ``kept`` back as :func:`snapshot` found it (the audit log is append-only), and move
    the detections epoch on, so this process's cached queue pages are dropped."""
    with session_scope(url) as s:
        for t in reversed(Base.metadata.sorted_tables):
            if t.name not in kept:
                s.execute(delete(t))
        for t in Base.metadata.sorted_tables:
            if t.name not in kept and snap[t.name]:
                s.execute(insert(t), snap[t.name])
        bump_epoch(s)
