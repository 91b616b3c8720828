"""Response bodies of the audit log."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class AuditOut(BaseModel):
    """One audit event."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor: str
    token_id: int | None
    action: str
    entity_type: str
    entity_id: str
    reason: str | None
    details: dict
