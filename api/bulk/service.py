"""Bulk actions over clusters and accounts: open a case on each, assign each one's case, or dismiss it.

A request is one transaction: each item is the single-item action (the same checks, the same one audit record:
``case.open``, ``case.assign`` or ``case.transition``), none committed until every item succeeded. When any item is
refused, nothing changes and the answer names every refused item and why (the items' status when they agree, else
409). A request lists at most ``API_BULK_MAX_ITEMS`` subjects, each once (422 otherwise). A subject hidden from the
caller (a restricted case's) is refused as missing, like an unknown id.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.bulk.schemas import BulkAction
from distillguard.api.cases import service as cases
from distillguard.api.cases.models import Case
from distillguard.api.cases.policy import check_may_change
from distillguard.api.detections.evidence import get_account, get_cluster
from distillguard.api.errors import ServiceError, echo
from distillguard.api.restrictions.hidden import Hidden
from distillguard.api.restrictions.service import check_shown, hidden_from
from distillguard.api.review import CaseStatus
from distillguard.detector.records import SubjectKind

NAMED_ITEMS = 20  # refused items an error message names (then "and N more")
MIXED = 409  # the status of a refusal whose items were refused for different reasons

Subject = tuple[SubjectKind, str]


def _case_of(session: Session, kind: SubjectKind, subject_id: str) -> Case:
    """The case on ``kind`` ``subject_id``; 404 when there is no such subject, 409 when it has no case (there is
    nothing to assign or dismiss)."""
    (get_cluster if kind is SubjectKind.cluster else get_account)(session, subject_id)
    case = session.scalar(select(Case).where(Case.subject_type == kind, Case.subject_id == subject_id))
    if case is None:
        raise ServiceError(409, f"{kind} {echo(subject_id)} has no case; open one first")
    return case


def _one(
    session: Session,
    who: Principal,
    hidden: Hidden,
    action: BulkAction,
    subject: Subject,
    assignee: str | None,
    reason: str | None,
) -> dict:
    """Do ``action`` to one subject without committing (refused as unknown when ``hidden``): its item of the
    answer."""
    kind, subject_id = subject
    check_shown(session, hidden, kind, subject_id)
    changed = True
    if action is BulkAction.open:
        case = cases.open_case(session, who, kind, subject_id, reason, assignee, commit=False)
    elif action is BulkAction.assign:
        case = _case_of(session, kind, subject_id)
        check_may_change(who, case, "reassign it")
        cases.assign(session, who, case, assignee, reason, commit=False)
    else:
        case = _case_of(session, kind, subject_id)
        check_may_change(who, case, "change its status")
        case, changed = cases.transition(session, who, case, CaseStatus.dismissed, reason, commit=False)
    return {"kind": kind, "id": subject_id, "case_id": case.id, "changed": changed}


def _check_request(action: BulkAction, subjects: list[Subject], reason: str | None, limit: int) -> None:
    """422 when ``subjects`` exceed ``limit`` or name a subject twice, or a dismissal gives no reason."""
    if action is BulkAction.dismiss and not (reason and reason.strip()):
        raise ServiceError(422, "invalid request: reason: a reason is required to dismiss cases")
    if len(subjects) > limit:
        raise ServiceError(
            422,
            f"invalid request: subjects: at most {limit} per request (API_BULK_MAX_ITEMS), got {len(subjects)}; "
            "split them into several requests",
        )
    twice = [s for s, n in Counter(subjects).items() if n > 1]
    if twice:
        named = ", ".join(f"{k} {echo(i)}" for k, i in twice[:NAMED_ITEMS])
        raise ServiceError(422, f"invalid request: subjects: each subject once; repeated: {named}")


def _refusal(refused: list[tuple[Subject, ServiceError]], total: int) -> ServiceError:
    """One error naming the refused items (their status when they agree, else :data:`MIXED`)."""
    statuses = {e.status for _, e in refused}
    named = "; ".join(f"{k} {echo(i)}: {e.detail}" for (k, i), e in refused[:NAMED_ITEMS])
    more = f"; and {len(refused) - NAMED_ITEMS} more" if len(refused) > NAMED_ITEMS else ""
    status = statuses.pop() if len(statuses) == 1 else MIXED
    return ServiceError(status, f"nothing changed: {len(refused)} of {total} items refused: {named}{more}")


def run(
    session: Session,
    who: Principal,
    action: BulkAction,
    subjects: list[Subject],
    *,
    assignee: str | None,
    reason: str | None,
    limit: int,
) -> list[dict]:
    """Do ``action`` to every subject in one transaction (each item audited as its single-item action), or to
    none: the refusal names every refused item. ``limit``: the most subjects a request may list."""
    _check_request(action, subjects, reason, limit)
    done: list[dict] = []
    refused: list[tuple[Subject, ServiceError]] = []
    hidden = hidden_from(session, who)
    for subject in subjects:
        try:
            done.append(_one(session, who, hidden, action, subject, assignee, reason))
        except ServiceError as exc:
            refused.append((subject, exc))
    if refused:
        session.rollback()
        raise _refusal(refused, len(subjects))
    session.commit()
    return done
