"""Reading the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from distillguard.api.audit import service
from distillguard.api.audit.schemas import AuditOut
from distillguard.api.auth.service import Principal
from distillguard.api.deps import get_session, viewer
from distillguard.api.errors import COMMON, AfterId
from distillguard.api.restrictions.service import hidden_from

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=COMMON)


@router.get("", response_model=list[AuditOut], summary="Audit log (oldest first)")
def list_audit(
    entity_type: Annotated[str | None, Query(max_length=32)] = None,
    entity_id: Annotated[str | None, Query(max_length=128)] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    after: AfterId = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    session: Session = Depends(get_session),
    who: Principal = Depends(viewer),
):
    """Who changed what, when and why; filter by entity, actor or action; page with ``after``. Records about a
    restricted case or its subjects are shown only to the case's members and admins."""
    return service.events(
        session,
        entity_type=entity_type,
        entity_id=entity_id,
        actor=actor,
        action=action,
        after=after,
        limit=limit,
        hidden=hidden_from(session, who),
    )
