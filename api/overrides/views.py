"""Override endpoints: set or clear the rung applied to an account or a cluster instead of the recommendation."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.deps import get_session, viewer
from distillguard.api.enforcement.service import dispatch
from distillguard.api.errors import BODY, COMMON, CONFLICT, NOT_FOUND
from distillguard.api.overrides import service
from distillguard.api.overrides.schemas import OverrideBody, OverrideState
from distillguard.detector.records import SubjectKind

router = APIRouter(prefix="/api/v1", tags=["overrides"], responses=COMMON | NOT_FOUND)


def _state(request: Request, session: Session, kind: SubjectKind, subject_id: str, changed: bool) -> dict:
    """The subject after a change (its enforcement event sent now when the broker answers, else by the outbox)."""
    if changed:
        dispatch(session, request.app.state.publisher)
    return service.state(session, kind, subject_id, changed)


@router.put(
    "/accounts/{account_id}/override",
    response_model=OverrideState,
    responses=CONFLICT | BODY,
    summary="Override an account's recommended action",
)
def put_account_override(
    account_id: str,
    body: OverrideBody,
    request: Request,
    session: Session = Depends(get_session),
    who: Principal = Depends(viewer),
) -> dict:
    """Apply ``action`` instead of the recommendation (analysts up to review, leads suspend; never takedown), with
    a reason; replaces the account's override. Audited; queues an enforcement event; a repeat changes nothing."""
    changed = service.set_override(session, who, SubjectKind.account, account_id, body.action, body.reason)
    return _state(request, session, SubjectKind.account, account_id, changed)


@router.delete(
    "/accounts/{account_id}/override",
    response_model=OverrideState,
    summary="Clear an account's override (back to the recommendation)",
)
def delete_account_override(
    account_id: str, request: Request, session: Session = Depends(get_session), who: Principal = Depends(viewer)
) -> dict:
    """Clear the override (a lead's at suspend needs a lead). Audited; queues an enforcement event; clearing none
    changes nothing."""
    changed = service.clear_override(session, who, SubjectKind.account, account_id)
    return _state(request, session, SubjectKind.account, account_id, changed)


@router.put(
    "/clusters/{cluster_id}/override",
    response_model=OverrideState,
    responses=CONFLICT | BODY,
    summary="Override a cluster's recommended action",
)
def put_cluster_override(
    cluster_id: str,
    body: OverrideBody,
    request: Request,
    session: Session = Depends(get_session),
    who: Principal = Depends(viewer),
) -> dict:
    """Apply ``action`` instead of the recommendation (analysts up to review, leads suspend and takedown), with a
    reason; replaces the cluster's override. Audited; queues an enforcement event; a repeat changes nothing."""
    changed = service.set_override(session, who, SubjectKind.cluster, cluster_id, body.action, body.reason)
    return _state(request, session, SubjectKind.cluster, cluster_id, changed)


@router.delete(
    "/clusters/{cluster_id}/override",
    response_model=OverrideState,
    summary="Clear a cluster's override (back to the recommendation)",
)
def delete_cluster_override(
    cluster_id: str, request: Request, session: Session = Depends(get_session), who: Principal = Depends(viewer)
) -> dict:
    """Clear the override (a lead's at suspend or takedown needs a lead). Audited; queues an enforcement event;
    clearing none changes nothing."""
    changed = service.clear_override(session, who, SubjectKind.cluster, cluster_id)
    return _state(request, session, SubjectKind.cluster, cluster_id, changed)
