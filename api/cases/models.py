"""Cases over a cluster or a single account, their comments and the per-account decisions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from distillguard.api.database import Base
from distillguard.api.review import CaseStatus
from distillguard.api.types import UTCDateTime, utcnow


class Case(Base):
    """A review of one cluster or one account (``subject_type``); ``status`` is a :data:`CaseStatus`."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_type: Mapped[str] = mapped_column(String(16), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default=CaseStatus.open.value)
    assignee: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)

    comments: Mapped[list[CaseComment]] = relationship(back_populates="case", order_by="CaseComment.id")

    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id", name="uq_cases_subject"),
        Index("ix_cases_status", "status", "id"),
    )


class CaseComment(Base):
    """An analyst's note on a case."""

    __tablename__ = "case_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), nullable=False, index=True)
    author: Mapped[str] = mapped_column(String(128), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="comments")


class AccountDecision(Base):
    """A case's decision on one of its accounts (the labels ``train --with-decisions`` learns from).

    One row per (case, account): a case only ever changes its own rows, so a newer case never erases an older
    case's decision. Which of an account's decisions counts is :func:`distillguard.api.cases.labels.effective`.
    ``decided_role`` is the decider's role then (null for rows older than migration 0003 whose decider is unknown).
    """

    __tablename__ = "account_decisions"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    decision: Mapped[str] = mapped_column(String(32), nullable=False)  # a Decision
    decided_by: Mapped[str] = mapped_column(String(128), nullable=False)
    decided_role: Mapped[str | None] = mapped_column(String(16))  # a role of api.auth.roles.ROLES
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)
    model_version: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_account_decisions_account", "account_id", "case_id"),)
