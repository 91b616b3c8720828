"""Tables of the detector's account verdicts and clusters (every field of the core's records) and their indexes.

``tests/api/test_record_shapes.py`` keeps the columns in step with :mod:`detector.records`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, Text, desc
from sqlalchemy.orm import Mapped, mapped_column

from distillguard.api.database import Base
from distillguard.api.review import ReviewStatus
from distillguard.api.types import UTCDateTime, utcnow


class Reviewed:
    """The columns of a stored record beyond its fields: review status, content hash (an unchanged record is not
    rewritten) and when it was last written."""

    status: Mapped[str] = mapped_column(String(32), nullable=False, default=ReviewStatus.new.value)
    content_hash: Mapped[str] = mapped_column(String(32), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ClusterRow(Reviewed, Base):
    """One :class:`detector.records.ClusterVerdict` (plus its ``size``), reviewed."""

    __tablename__ = "cluster_verdicts"

    cluster_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    flagged: Mapped[bool] = mapped_column(Boolean, nullable=False)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    members: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    shared_indicators: Mapped[dict[str, list[str]]] = mapped_column(JSON, nullable=False)
    reasons: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    probability: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    action: Mapped[str] = mapped_column(String(32), nullable=False, default="none")
    action_basis: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    reached_at: Mapped[dict[str, datetime]] = mapped_column(JSON, nullable=False, default=dict)
    n_requests: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    model_version: Mapped[str | None] = mapped_column(String(64))
    linked_clusters: Mapped[list[str]] = mapped_column(JSON, nullable=False)

    __table_args__ = (
        Index("ix_cluster_queue", desc("score"), "cluster_id"),
        Index("ix_cluster_status_queue", "status", desc("score"), "cluster_id"),
        Index("ix_cluster_flagged_queue", "flagged", desc("score"), "cluster_id"),
        Index("ix_cluster_last_seen", "last_seen"),
    )


class AccountRow(Reviewed, Base):
    """One :class:`detector.records.AccountVerdict`, reviewed."""

    __tablename__ = "account_verdicts"

    account_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    flagged: Mapped[bool] = mapped_column(Boolean, nullable=False)
    cluster_id: Mapped[str | None] = mapped_column(String(128))
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reasons: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    probability: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    action: Mapped[str] = mapped_column(String(32), nullable=False, default="none")
    action_basis: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    reached_at: Mapped[dict[str, datetime]] = mapped_column(JSON, nullable=False, default=dict)
    n_requests: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    model_version: Mapped[str | None] = mapped_column(String(64))
    org_id: Mapped[str | None] = mapped_column(String(128))
    verification_path: Mapped[str | None] = mapped_column(String(32))
    models: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    hourly_requests: Mapped[dict[str, int]] = mapped_column(JSON, nullable=False)
    sample_prompts: Mapped[list[str]] = mapped_column(JSON, nullable=False)

    __table_args__ = (
        Index("ix_account_queue", desc("score"), "account_id"),
        Index("ix_account_status_queue", "status", desc("score"), "account_id"),
        Index("ix_account_flagged_queue", "flagged", desc("score"), "account_id"),
        Index("ix_account_cluster", "cluster_id", "verification_path"),
        Index("ix_account_verification", "verification_path", "score"),
        Index("ix_account_last_seen", "last_seen"),
    )


class ClusterIndicator(Base):
    """One shared indicator of a cluster (kind, value): the index behind the queue's indicator filter."""

    __tablename__ = "cluster_indicators"

    cluster_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)

    __table_args__ = (Index("ix_indicator_value", "value", "kind"),)


class AccountModel(Base):
    """A model an account called: the index behind the queue's model filter."""

    __tablename__ = "account_models"

    account_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)

    __table_args__ = (Index("ix_account_models_model", "model", "account_id"),)


class DetectionsEpoch(Base):
    """A counter bumped by every transaction that changes detections or their review status: the queue's
    counts are cached per (filters, epoch), so they stay exact without a COUNT over every row per page."""

    __tablename__ = "detections_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
