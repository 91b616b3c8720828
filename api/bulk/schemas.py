"""Request and response bodies of bulk actions."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from distillguard.api.inputs import Text
from distillguard.detector.records import SubjectKind

MAX_BODY_ITEMS = 10_000  # subjects a body may list at all; the configured limit (API_BULK_MAX_ITEMS) is below it


class BulkAction(StrEnum):
    """What a bulk request does to each subject: open a case on it, assign its case, or dismiss its case."""

    open = "open"
    assign = "assign"
    dismiss = "dismiss"


class BulkSubject(BaseModel):
    """A cluster or an account."""

    model_config = ConfigDict(extra="forbid")
    kind: SubjectKind
    id: Text = Field(min_length=1, max_length=128)


class BulkBody(BaseModel):
    """One action over many subjects: every item is done, or (any item refused) none."""

    model_config = ConfigDict(extra="forbid")
    action: BulkAction
    subjects: list[BulkSubject] = Field(
        min_length=1, max_length=MAX_BODY_ITEMS, description="At most API_BULK_MAX_ITEMS, each named once."
    )
    assignee: Text | None = Field(
        None, max_length=128, description="open: the new cases' assignee; assign: the assignee (null unassigns)."
    )
    reason: Text | None = Field(None, max_length=2000, description="Why; required to dismiss.")


class BulkItem(BaseModel):
    """One subject done: its case, and whether it changed (dismissing a dismissed case does not)."""

    kind: SubjectKind
    id: str
    case_id: int
    changed: bool


class BulkOut(BaseModel):
    """What a bulk request did, item by item, in the order asked."""

    action: BulkAction
    count: int
    items: list[BulkItem]
