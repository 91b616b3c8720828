"""Case endpoints: open, list, detail, assign, comment, decide accounts, transition (confirm emits enforcement)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.cases import service
from distillguard.api.cases.export import CASE_EXPORT_COLUMNS, case_rows
from distillguard.api.cases.policy import check_may_change
from distillguard.api.cases.schemas import (
    AssignBody,
    CaseCreate,
    CaseDetail,
    CaseOut,
    CommentBody,
    CommentOut,
    DecisionsBody,
    DecisionsOut,
    TransitionBody,
    TransitionOut,
)
from distillguard.api.deps import analyst, get_session, viewer
from distillguard.api.detections.evidence import redacted
from distillguard.api.enforcement.service import ERROR_READER, as_seen_by, dispatch, for_case
from distillguard.api.errors import BODY, COMMON, CONFLICT, NOT_FOUND, AfterId, RowId
from distillguard.api.restrictions import service as restrictions
from distillguard.api.review import CaseStatus
from distillguard.api.tabular import DOWNLOAD, ExportFormat, download
from distillguard.detector.records import SubjectKind

router = APIRouter(prefix="/api/v1/cases", tags=["cases"], responses=COMMON | NOT_FOUND)


def _detail(session: Session, case_id: int, who: Principal) -> dict:
    case = restrictions.visible_case(session, who, case_id)
    return CaseOut.model_validate(case).model_dump() | {
        "restricted_to": restrictions.members(session, case.id),
        "comments": case.comments,
        "decisions": service.decisions(session, case),
        "enforcement": as_seen_by(for_case(session, case.id), who.can(ERROR_READER)),
    }


@router.post("", response_model=CaseOut, status_code=201, responses=CONFLICT | BODY, summary="Open a case")
def create_case(body: CaseCreate, session: Session = Depends(get_session), who: Principal = Depends(analyst)):
    """Open a case on a cluster or an account (one case per subject)."""
    restrictions.check_subject(session, who, body.subject_type.value, body.subject_id)
    return service.open_case(session, who, body.subject_type.value, body.subject_id, body.reason, body.assignee)


@router.get("", response_model=list[CaseOut], summary="List cases (newest first)")
def list_cases(
    status: CaseStatus | None = None,
    assignee: Annotated[str | None, Query(max_length=128)] = None,
    subject_type: SubjectKind | None = None,
    after: AfterId = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    session: Session = Depends(get_session),
    who: Principal = Depends(viewer),
):
    """Cases filtered by status, assignee or subject type (restricted ones only to their members and admins)."""
    return service.list_cases(
        session,
        status.value if status else None,
        assignee,
        subject_type.value if subject_type else None,
        after,
        limit,
        restrictions.hidden_from(session, who),
    )


@router.get("/{case_id}", response_model=CaseDetail, summary="A case with comments, decisions, enforcement")
def get_case(case_id: RowId, session: Session = Depends(get_session), who: Principal = Depends(viewer)):
    """One case in full (enforcement ``last_error`` in full for leads and admins)."""
    return _detail(session, case_id, who)


def export_case(
    request: Request, session: Session, case_id: int, fmt: ExportFormat, redact: bool, who: Principal
) -> StreamingResponse:
    """Case ``case_id`` as a download (404 before anything is sent when there is none); the redaction rule of the
    evidence."""
    hidden = redacted(redact, who)
    restrictions.visible_case(session, who, case_id)
    return download(fmt, f"case-{case_id}", CASE_EXPORT_COLUMNS, case_rows(request.app.state.sessions, case_id, hidden))


@router.get(
    "/{case_id}/export",
    response_class=StreamingResponse,
    responses=DOWNLOAD,
    summary="A case as CSV or JSON Lines: the case, its accounts, indicators and audit records",
)
def get_case_export(
    case_id: RowId,
    request: Request,
    fmt: Annotated[ExportFormat, Query(alias="format", description="csv or jsonl.")] = ExportFormat.csv,
    redact: bool = True,
    session: Session = Depends(get_session),
    who: Principal = Depends(viewer),
) -> StreamingResponse:
    """One row per record, its kind in ``record``: the case, then its accounts (queue entries with the case's
    ``case_decision``), the indicators its cluster shares (templates redacted unless an analyst asks
    ``redact=false``), then its audit records oldest first. CSV as in the queue export, the columns of every
    record kind side by side."""
    return export_case(request, session, case_id, fmt, redact, who)


@router.post("/{case_id}/assign", response_model=CaseOut, responses=BODY, summary="Assign a case")
def assign(
    case_id: RowId, body: AssignBody, session: Session = Depends(get_session), who: Principal = Depends(analyst)
):
    """Assign or unassign a case. Analysts may (re)assign only unassigned cases and their own."""
    case = restrictions.visible_case(session, who, case_id)
    check_may_change(who, case, "reassign it")
    return service.assign(session, who, case, body.assignee, body.reason)


@router.post(
    "/{case_id}/comments", response_model=CommentOut, status_code=201, responses=BODY, summary="Comment on a case"
)
def add_comment(
    case_id: RowId, body: CommentBody, session: Session = Depends(get_session), who: Principal = Depends(analyst)
):
    """Add a comment."""
    return service.comment(session, who, restrictions.visible_case(session, who, case_id), body.body)


@router.post(
    "/{case_id}/decisions",
    response_model=DecisionsOut,
    responses=CONFLICT | BODY,
    summary="Decide many accounts of a case",
)
def decide(
    case_id: RowId, body: DecisionsBody, session: Session = Depends(get_session), who: Principal = Depends(analyst)
):
    """Bulk decision (confirmed_attack / dismissed) over some or all accounts of a case before it is final.
    Analysts decide only on unassigned cases and their own."""
    case = restrictions.visible_case(session, who, case_id)
    check_may_change(who, case, "decide its accounts")
    return {"changed": service.decide_accounts(session, who, case, body.account_ids, body.decision.value, body.reason)}


@router.post(
    "/{case_id}/transition",
    response_model=TransitionOut,
    responses=CONFLICT | BODY,
    summary="Move a case to a new status",
)
def transition(
    case_id: RowId,
    body: TransitionBody,
    request: Request,
    session: Session = Depends(get_session),
    who: Principal = Depends(analyst),
):
    """open -> in_review -> confirmed_attack | dismissed | escalated. Confirming (leads only) emits one
    enforcement event per confirmed account; repeating it is a no-op that re-sends only unacknowledged events.
    Analysts move only unassigned cases and their own."""
    case = restrictions.visible_case(session, who, case_id)
    check_may_change(who, case, "change its status")
    case, changed = service.transition(session, who, case, body.status.value, body.reason)
    sent = {"sent": 0, "pending": 0}
    if case.status == CaseStatus.confirmed_attack:
        sent = dispatch(session, request.app.state.publisher)
    return {
        "case": CaseOut.model_validate(case),
        "changed": changed,
        "enforcement_sent": sent["sent"],
        "enforcement_pending": sent["pending"],
    }
