"""Which cases are restricted, and to whom (token names, the principals the audit log records)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from distillguard.api.database import Base
from distillguard.api.types import UTCDateTime, utcnow


class CaseRestriction(Base):
    """A case restricted to its :class:`CaseMember` rows (and admins): who restricted it and when."""

    __tablename__ = "case_restrictions"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    set_by: Mapped[str] = mapped_column(String(128), nullable=False)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class CaseMember(Base):
    """One principal (a token name) who may see a restricted case."""

    __tablename__ = "case_members"

    case_id: Mapped[int] = mapped_column(ForeignKey("case_restrictions.case_id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)

    __table_args__ = (Index("ix_case_members_name", "name", "case_id"),)
