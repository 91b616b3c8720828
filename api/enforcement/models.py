"""The enforcement outbox: written in the decision's transaction, sent to Kafka after commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from distillguard.api.database import Base
from distillguard.api.types import UTCDateTime, utcnow


class OutboxEvent(Base):
    """One enforcement action; ``sent_at`` is null until the broker acknowledged it."""

    __tablename__ = "enforcement_outbox"

    idempotency_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), nullable=False, index=True)
    account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (Index("ix_outbox_pending", "sent_at", "created_at"),)
