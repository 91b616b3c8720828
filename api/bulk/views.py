"""Bulk action endpoint: open cases on, assign, or dismiss many clusters and accounts at once."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.bulk import service
from distillguard.api.bulk.schemas import BulkBody, BulkOut
from distillguard.api.deps import analyst, get_session
from distillguard.api.errors import BODY, COMMON, CONFLICT, NOT_FOUND

router = APIRouter(prefix="/api/v1/bulk", tags=["cases"], responses=COMMON | NOT_FOUND | CONFLICT | BODY)


@router.post("/cases", response_model=BulkOut, summary="Open, assign or dismiss the cases of many subjects")
def bulk_cases(
    body: BulkBody, request: Request, session: Session = Depends(get_session), who: Principal = Depends(analyst)
) -> dict:
    """``open`` a case on each subject, ``assign`` each subject's case to ``assignee`` (null unassigns), or
    ``dismiss`` each subject's case (with a ``reason``), under the single-item rules (roles, someone else's case,
    allowed moves). One transaction: every item, each audited as its single-item action, or none (the error names
    every refused item). At most API_BULK_MAX_ITEMS subjects, each once (422)."""
    items = service.run(
        session,
        who,
        body.action,
        [(s.kind, s.id) for s in body.subjects],
        assignee=body.assignee,
        reason=body.reason,
        limit=request.app.state.settings.api_bulk_max_items,
    )
    return {"action": body.action, "count": len(items), "items": items}
