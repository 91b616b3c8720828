"""Audit events: who did what, when and why. Rows are never updated or deleted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from distillguard.api.database import Base
from distillguard.api.types import UTCDateTime, utcnow


class AuditEvent(Base):
    """One change: ``actor`` did ``action`` to ``entity_type``/``entity_id`` at ``at`` because ``reason``;
    ``token_id`` is the API token the actor used (null for the CLI)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    token_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(128), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)

    __table_args__ = (
        Index("ix_audit_entity", "entity_type", "entity_id", "id"),
        Index("ix_audit_actor", "actor", "id"),
    )


def _refuse(*_args: object) -> None:
    raise PermissionError("the audit log is append-only")


event.listen(AuditEvent, "before_update", _refuse)
event.listen(AuditEvent, "before_delete", _refuse)
