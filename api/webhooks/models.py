"""Webhook subscriptions and their deliveries (the outbox and its log: one row per subscription and event)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from distillguard.api.database import Base
from distillguard.api.types import UTCDateTime, utcnow

MAX_URL = 2048
MAX_ERROR = 500  # characters of a failed attempt's error kept
SECRET_CHARS = 80  # "whsec_" and 64 hex digits


class BodyFormat(StrEnum):
    """How a delivery's body is written: the event envelope, or Slack's ``{"text": ...}`` one-liner."""

    json = "json"
    slack = "slack"


class DeliveryStatus(StrEnum):
    """A delivery's state: waiting (or retrying), acknowledged with a 2xx, or out of attempts."""

    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class Subscription(Base):
    """An endpoint that wants some events; ``secret`` signs its deliveries (kept in clear: HMAC needs it).
    ``consecutive_failures`` counts deliveries that ran out of attempts since the last one delivered."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(MAX_URL), nullable=False)
    events: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    format: Mapped[str] = mapped_column(String(8), nullable=False, default=BodyFormat.json.value)
    description: Mapped[str | None] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(SECRET_CHARS), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    disabled_reason: Mapped[str | None] = mapped_column(String(MAX_ERROR))
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Delivery(Base):
    """One event for one subscription: its body's envelope, state, attempts so far and the last one's outcome.
    ``lease`` names the dispatcher round that claimed it until ``next_attempt_at`` (then anyone may again)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the DistillGuard-Delivery header
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[str] = mapped_column(String(64), nullable=False)
    event_type: Mapped[str] = mapped_column(String(32), nullable=False)
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=DeliveryStatus.pending.value)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    lease: Mapped[str | None] = mapped_column(String(32))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(MAX_ERROR))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),  # an event is queued once per subscription
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_log", "subscription_id", "created_at", "id"),
    )
