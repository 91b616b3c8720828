"""Enforcement outbox: what is pending, and sending it now."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.cases.schemas import EnforcementOut
from distillguard.api.deps import get_session, lead, viewer
from distillguard.api.enforcement import service
from distillguard.api.errors import COMMON
from distillguard.api.restrictions.service import hidden_from

router = APIRouter(prefix="/api/v1/enforcement", tags=["enforcement"], responses=COMMON)


class DispatchOut(BaseModel):
    """Events sent now, and still pending (broker unreachable)."""

    sent: int
    pending: int


@router.get("/pending", response_model=list[EnforcementOut], summary="Enforcement events not yet acknowledged")
def pending(session: Session = Depends(get_session), who: Principal = Depends(viewer)):
    """Outbox events the broker has not acknowledged yet (``last_error`` in full for leads and admins), but those
    of restricted cases and subjects the caller does not see."""
    return service.as_seen_by(service.pending(session, hidden_from(session, who)), who.can(service.ERROR_READER))


@router.post("/dispatch", response_model=DispatchOut, summary="Send pending enforcement events now")
def dispatch(request: Request, session: Session = Depends(get_session), who: Principal = Depends(lead)):
    """Send pending events (same idempotency keys as before); audited as ``enforcement.dispatch``."""
    return service.dispatch(session, request.app.state.publisher, who=who)
