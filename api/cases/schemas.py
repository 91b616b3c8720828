"""Request and response bodies of cases."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from distillguard.api.audit.schemas import AuditOut
from distillguard.api.detections.schemas import AccountItem
from distillguard.api.inputs import Text
from distillguard.api.review import CaseStatus, Decision
from distillguard.detector.records import SubjectKind


class CaseCreate(BaseModel):
    """Open a case on a cluster or an account."""

    model_config = ConfigDict(extra="forbid")
    subject_type: SubjectKind
    subject_id: Text = Field(min_length=1, max_length=128)
    assignee: Text | None = Field(None, max_length=128)
    reason: Text | None = Field(None, max_length=2000)


class AssignBody(BaseModel):
    """Assign a case (null assignee unassigns)."""

    model_config = ConfigDict(extra="forbid")
    assignee: Text | None = Field(None, max_length=128)
    reason: Text | None = Field(None, max_length=2000)


class CommentBody(BaseModel):
    """A comment."""

    model_config = ConfigDict(extra="forbid")
    body: Text = Field(min_length=1, max_length=10_000)


class TransitionBody(BaseModel):
    """Move a case to a new status; final decisions need a reason. Confirming needs a lead."""

    model_config = ConfigDict(extra="forbid")
    status: CaseStatus
    reason: Text | None = Field(None, max_length=2000)


class DecisionsBody(BaseModel):
    """A decision over many accounts of a cluster case (``account_ids`` null = every member)."""

    model_config = ConfigDict(extra="forbid")
    decision: Decision
    account_ids: list[Text] | None = Field(None, max_length=10_000)
    reason: Text | None = Field(None, max_length=2000)


class CommentOut(BaseModel):
    """A comment on a case."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    author: str
    body: str
    created_at: datetime


class CaseOut(BaseModel):
    """A case."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    subject_type: SubjectKind
    subject_id: str
    status: CaseStatus
    assignee: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


class AccountDecisionOut(BaseModel):
    """The case's decision on one of its accounts."""

    model_config = ConfigDict(from_attributes=True)
    account_id: str
    decision: Decision
    decided_by: str
    decided_role: str | None
    decided_at: datetime
    reason: str | None
    model_version: str | None


class EnforcementOut(BaseModel):
    """An enforcement event and whether the broker has acknowledged it; it acts on an account (a case's events, an
    account override) or a cluster (a cluster override)."""

    model_config = ConfigDict(from_attributes=True)
    idempotency_key: str
    account_id: str | None
    cluster_id: str | None
    payload: dict
    sent_at: datetime | None
    attempts: int
    last_error: str | None


class CaseDetail(CaseOut):
    """A case with comments, per-account decisions and enforcement events; ``restricted_to`` names who may see it
    (besides admins) when it is restricted, null otherwise."""

    restricted_to: list[str] | None
    comments: list[CommentOut]
    decisions: list[AccountDecisionOut]
    enforcement: list[EnforcementOut]


class TransitionOut(BaseModel):
    """The case after a transition; ``changed`` is false for a repeated final decision."""

    case: CaseOut
    changed: bool
    enforcement_sent: int
    enforcement_pending: int


class DecisionsOut(BaseModel):
    """How many accounts' decisions changed."""

    changed: int


class CaseExport(CaseOut):
    """The first row of a case's export: the case."""

    record: Literal["case"] = "case"


class CaseAccountExport(AccountItem):
    """An account of the case (its queue entry) with the case's decision on it, if any."""

    record: Literal["account"] = "account"
    case_decision: AccountDecisionOut | None


class CaseIndicatorExport(BaseModel):
    """An indicator the case's cluster shares (a prompt template redacted as in the evidence)."""

    record: Literal["indicator"] = "indicator"
    kind: str
    value: str


class CaseAuditExport(AuditOut):
    """An audit record of the case, oldest first."""

    record: Literal["audit"] = "audit"


CASE_EXPORT_ROWS = (CaseExport, CaseAccountExport, CaseIndicatorExport, CaseAuditExport)  # in export order
