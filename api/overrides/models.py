"""The current override of each account or cluster (its history is the audit log)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from distillguard.api.database import Base
from distillguard.api.types import UTCDateTime, utcnow


class ActionOverride(Base):
    """The rung an analyst applies to one subject instead of the detector's recommendation: what was recommended
    then (and by which model), why, by whom (token name and role) and when. A cluster's row keeps its members as
    they were when it was set (the accounts its training labels speak for)."""

    __tablename__ = "action_overrides"

    subject_type: Mapped[str] = mapped_column(String(16), primary_key=True)  # a SubjectKind
    subject_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    action: Mapped[str] = mapped_column(String(32), nullable=False)  # an Action
    recommended: Mapped[str] = mapped_column(String(32), nullable=False)
    model_version: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    set_by: Mapped[str] = mapped_column(String(128), nullable=False)
    set_role: Mapped[str] = mapped_column(String(16), nullable=False)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    members: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
