"""The enforcement outbox: written in the decision's transaction, sent to Kafka after commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from distillguard.api.database import Base
from distillguard.api.errors import InconsistentRecordError
from distillguard.api.types import UTCDateTime, utcnow

ONE_SUBJECT = "(account_id IS NULL) <> (cluster_id IS NULL)"


class OutboxEvent(Base):
    """One enforcement action on an account or (an analyst's override) a cluster, from a case or not (an
    override); ``sent_at`` is null until the broker acknowledged it."""

    __tablename__ = "enforcement_outbox"

    idempotency_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    account_id: Mapped[str | None] = mapped_column(String(128))
    cluster_id: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        Index("ix_outbox_pending", "sent_at", "created_at"),
        CheckConstraint(ONE_SUBJECT, name="one_subject"),
    )

    @property
    def subject(self) -> str:
        """The account or cluster acted on (the message key on the topic)."""
        subject = self.account_id if self.account_id is not None else self.cluster_id
        if subject is None:
            raise InconsistentRecordError(f"outbox event {self.idempotency_key} names neither account nor cluster")
        return subject
