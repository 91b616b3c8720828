"""Case workflow: open -> in_review -> confirmed_attack | dismissed | escalated, with assignment, comments and
per-account decisions. Decisions belong to their case: a case only writes and clears its own rows. Every change
writes an audit event on the case in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from distillguard.api.audit.service import record
from distillguard.api.auth.service import Principal
from distillguard.api.cases.labels import CHUNK, effective_decisions
from distillguard.api.cases.models import AccountDecision, Case, CaseComment
from distillguard.api.cases.policy import check_assignee, check_may_open
from distillguard.api.database import where_given
from distillguard.api.detections.evidence import get_account, get_cluster
from distillguard.api.detections.models import AccountRow, ClusterRow
from distillguard.api.detections.service import bump_epoch
from distillguard.api.enforcement.service import enqueue, idempotency_key
from distillguard.api.errors import InconsistentRecordError, ServiceError, echo
from distillguard.api.overrides.labels import override_labels
from distillguard.api.restrictions.hidden import NOTHING, Hidden
from distillguard.api.review import FINAL, CaseStatus, Decision
from distillguard.api.types import utcnow
from distillguard.api.webhooks import service as webhooks
from distillguard.api.webhooks.events import Event, EventType
from distillguard.detector.records import SubjectKind

ACTION = "suspend"
# allowed moves, and the role each needs
TRANSITIONS: dict[str, dict[str, str]] = {
    CaseStatus.open: {CaseStatus.in_review: "analyst", CaseStatus.escalated: "analyst"},
    CaseStatus.in_review: {
        CaseStatus.confirmed_attack: "lead",
        CaseStatus.dismissed: "analyst",
        CaseStatus.escalated: "analyst",
    },
    CaseStatus.escalated: {
        CaseStatus.confirmed_attack: "lead",
        CaseStatus.dismissed: "lead",
        CaseStatus.in_review: "lead",
    },
    CaseStatus.dismissed: {CaseStatus.in_review: "lead"},
    CaseStatus.confirmed_attack: {},
}


def no_case(case_id: int) -> ServiceError:
    """The 404 of an unknown case (a restricted case answers the same to non-members)."""
    return ServiceError(404, f"no case {case_id}")


def get_case(session: Session, case_id: int) -> Case:
    """The case; 404 when unknown."""
    case = session.get(Case, case_id)
    if case is None:
        raise no_case(case_id)
    return case


def list_cases(
    session: Session,
    status: str | None = None,
    assignee: str | None = None,
    subject_type: str | None = None,
    after: int | None = None,
    limit: int = 50,
    hidden: Hidden = NOTHING,
) -> list[Case]:
    """Cases newest first, filtered, but ``hidden`` ones; ``after`` is the last id seen (ids below it follow)."""
    stmt = where_given(
        select(Case).order_by(Case.id.desc()).limit(limit),
        (Case.status, status),
        (Case.assignee, assignee),
        (Case.subject_type, subject_type),
    )
    if after is not None:
        stmt = stmt.where(Case.id < after)
    if hidden:
        stmt = stmt.where(~hidden.case_hidden())
    return list(session.scalars(stmt))


def _account_ids(session: Session, case: Case) -> list[str]:
    if case.subject_type == SubjectKind.account:
        return [case.subject_id]
    return list(get_cluster(session, case.subject_id).members)


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def covering_cases(session: Session, account_ids: list[str]) -> dict[int, tuple[Case, str]]:
    """The cases that already cover some of ``account_ids``: case id -> (case, one such account). A case covers an
    account it decided on, an account case covers its account and a cluster case its cluster's accounts."""
    found: dict[int, tuple[Case, str]] = {}
    for chunk in _chunks(account_ids):
        for case, acc in session.execute(
            select(Case, AccountDecision.account_id)
            .join(Case, Case.id == AccountDecision.case_id)
            .where(AccountDecision.account_id.in_(chunk))
        ):
            found.setdefault(case.id, (case, acc))
        for case in session.scalars(
            select(Case).where(Case.subject_type == SubjectKind.account, Case.subject_id.in_(chunk))
        ):
            found.setdefault(case.id, (case, case.subject_id))
        in_cluster = select(Case, AccountRow.account_id).join(
            AccountRow, (Case.subject_type == SubjectKind.cluster) & (Case.subject_id == AccountRow.cluster_id)
        )
        for case, acc in session.execute(in_cluster.where(AccountRow.account_id.in_(chunk))):
            found.setdefault(case.id, (case, acc))
    return found


def _set_status(session: Session, case: Case, status: str) -> None:
    """Mirror the case status onto the detections it covers (the queue's status filter)."""
    bump_epoch(session)
    if case.subject_type == SubjectKind.cluster:
        session.execute(update(ClusterRow).where(ClusterRow.cluster_id == case.subject_id).values(status=status))
        for chunk in _chunks(_account_ids(session, case)):
            session.execute(update(AccountRow).where(AccountRow.account_id.in_(chunk)).values(status=status))
    else:
        session.execute(update(AccountRow).where(AccountRow.account_id == case.subject_id).values(status=status))


def open_case(
    session: Session,
    who: Principal,
    subject_type: str,
    subject_id: str,
    reason: str | None,
    assignee: str | None = None,
    *,
    commit: bool = True,
) -> Case:
    """Open a case on a cluster or an account (409 when one exists; refused by :func:`check_may_open` when its
    accounts belong to a final case or to someone else's). ``commit`` False: the caller commits (a bulk request's
    one transaction)."""
    if subject_type == SubjectKind.cluster:
        accounts = list(get_cluster(session, subject_id).members)
    elif subject_type == SubjectKind.account:
        accounts = [get_account(session, subject_id).account_id]
    else:
        kinds = " or ".join(repr(k.value) for k in SubjectKind)
        raise ServiceError(422, f"subject_type must be {kinds}, not {echo(subject_type)}")
    existing = session.scalar(select(Case).where(Case.subject_type == subject_type, Case.subject_id == subject_id))
    if existing is not None:
        raise ServiceError(409, f"{subject_type} {echo(subject_id)} already has case {existing.id} ({existing.status})")
    check_may_open(who, covering_cases(session, accounts))
    check_assignee(session, assignee)
    case = Case(
        subject_type=subject_type, subject_id=subject_id, status=CaseStatus.open, created_by=who.name, assignee=assignee
    )
    session.add(case)
    session.flush()
    _set_status(session, case, CaseStatus.open)
    record(
        session,
        who,
        "case.open",
        "case",
        case.id,
        reason,
        subject_type=subject_type,
        subject_id=subject_id,
        assignee=assignee,
    )
    opened = {"subject_type": subject_type, "subject_id": subject_id, "assignee": assignee, "reason": reason}
    data = opened | {"case_id": case.id, "opened_by": who.name}
    webhooks.enqueue(session, Event(EventType.case_opened, str(case.id), data))
    if commit:
        session.commit()
    return case


def assign(
    session: Session, who: Principal, case: Case, assignee: str | None, reason: str | None, *, commit: bool = True
) -> Case:
    """Assign (or unassign, with None) a case to an existing principal (:func:`check_assignee`); ``commit`` as in
    :func:`open_case`."""
    check_assignee(session, assignee)
    before = case.assignee
    case.assignee = assignee
    case.updated_at = utcnow()
    record(session, who, "case.assign", "case", case.id, reason, before=before, after=assignee)
    if commit:
        session.commit()
    return case


def comment(session: Session, who: Principal, case: Case, body: str) -> CaseComment:
    """Add a comment to a case."""
    c = CaseComment(case_id=case.id, author=who.name, body=body)
    session.add(c)
    session.flush()
    case.updated_at = utcnow()
    record(session, who, "case.comment", "case", case.id, None, comment_id=c.id, body=body)
    session.commit()
    return c


def decide_accounts(
    session: Session, who: Principal, case: Case, account_ids: Iterable[str] | None, decision: str, reason: str | None
) -> int:
    """Record ``decision`` for some (or, with None, all) accounts of a cluster case; returns how many changed."""
    if decision not in FINAL:
        raise ServiceError(422, f"decision must be one of {', '.join(Decision)}, not {echo(decision)}")
    if case.status in FINAL:
        raise ServiceError(409, f"case {case.id} is already {case.status}; reopen it before changing decisions")
    members = _account_ids(session, case)
    ids = members if account_ids is None else list(dict.fromkeys(account_ids))
    outside = sorted(set(ids) - set(members))
    if outside:
        raise ServiceError(422, f"not accounts of case {case.id}: {', '.join(echo(a) for a in outside[:10])}")
    changed = _write_decisions(session, who, case, ids, decision, reason, overwrite=True)
    case.updated_at = utcnow()
    record(
        session,
        who,
        "case.decide_accounts",
        "case",
        case.id,
        reason,
        decision=decision,
        accounts=sorted(changed),
        count=len(changed),
    )
    session.commit()
    return len(changed)


def _write_decisions(
    session: Session, who: Principal, case: Case, ids: list[str], decision: str, reason: str | None, overwrite: bool
) -> list[str]:
    """Write ``case``'s decision on ``ids`` (only ``case``'s own rows; ``overwrite`` False keeps the ones it has)."""
    now = utcnow()
    versions: dict[str, str | None] = {}
    current: dict[str, AccountDecision] = {}
    for chunk in _chunks(ids):
        versions.update(
            session.execute(
                select(AccountRow.account_id, AccountRow.model_version).where(AccountRow.account_id.in_(chunk))
            ).all()
        )
        mine = select(AccountDecision).where(AccountDecision.case_id == case.id, AccountDecision.account_id.in_(chunk))
        current.update((d.account_id, d) for d in session.scalars(mine))
    changed = []
    for acc in ids:
        d = current.get(acc)
        if d is not None and (not overwrite or d.decision == decision):
            continue
        if d is None:
            d = AccountDecision(case_id=case.id, account_id=acc)
            session.add(d)
        d.decision, d.decided_by, d.decided_role, d.decided_at, d.reason = decision, who.name, who.role, now, reason
        d.model_version = versions.get(acc)
        changed.append(acc)
    return changed


def transition(
    session: Session, who: Principal, case: Case, to: str, reason: str | None, *, commit: bool = True
) -> tuple[Case, bool]:
    """Move a case to status ``to``; returns (case, changed). Repeating the current final status is a no-op,
    so a retried confirmation queues no second enforcement event. Confirming queues one event per confirmed account.
    ``commit`` as in :func:`open_case`."""
    if to == case.status and to in FINAL:
        return case, False
    allowed = TRANSITIONS.get(case.status, {})
    if to not in allowed:
        moves = ", ".join(allowed) or "none (final)"
        raise ServiceError(409, f"case {case.id} is {case.status}; it can move to: {moves}")
    if not who.can(allowed[to]):
        raise ServiceError(
            403,
            f"moving a case from {case.status} to {to} needs role {allowed[to]!r} or above; "
            f"token {who.name!r} is {who.role!r}",
        )
    if to in FINAL and not reason:
        raise ServiceError(422, f"a reason is required to mark a case {to}")
    before = case.status
    now = utcnow()
    case.status, case.updated_at = to, now
    details: dict = {"before": before, "after": to}
    if before == CaseStatus.dismissed:
        # Session.execute is typed to return a Result; a DELETE's is a CursorResult, which has rowcount
        cleared = cast(
            CursorResult, session.execute(delete(AccountDecision).where(AccountDecision.case_id == case.id))
        ).rowcount
        details["decisions_cleared"] = cleared
        case.decided_by = case.decided_at = case.decision_reason = None
    if to in FINAL:
        case.decided_by, case.decided_at, case.decision_reason = who.name, now, reason
        ids = _account_ids(session, case)
        details["decided_accounts"] = len(_write_decisions(session, who, case, ids, to, reason, overwrite=False))
        session.flush()
    if to == CaseStatus.confirmed_attack:
        details["enforcement_events"] = enqueue(session, _enforcement_events(session, who, case))
    _set_status(session, case, to)
    record(session, who, "case.transition", "case", case.id, reason, **details)
    if to in FINAL:
        webhooks.enqueue(session, _decided(case, now))
    if commit:
        session.commit()
    return case, True


def _decided(case: Case, at: datetime) -> Event:
    """The ``case.decided`` event of ``case``'s decision at ``at`` (a case reopened and decided again is a new one)."""
    data = {
        "case_id": case.id,
        "subject_type": case.subject_type,
        "subject_id": case.subject_id,
        "decision": case.status,
        "decided_by": case.decided_by,
        "decided_at": at.isoformat(),
        "reason": case.decision_reason,
    }
    return Event(EventType.case_decided, f"{case.id}:{at.isoformat()}", data)


def _enforcement_events(session: Session, who: Principal, case: Case) -> list[dict]:
    """One event per account the case confirmed whose effective decision (:mod:`labels`) is an attack."""
    decided_at = case.decided_at
    if decided_at is None:
        raise InconsistentRecordError(f"case {case.id} is {case.status} but has no decision time")
    rows = list(
        session.scalars(
            select(AccountDecision)
            .where(AccountDecision.case_id == case.id, AccountDecision.decision == Decision.confirmed_attack)
            .order_by(AccountDecision.account_id)
        )
    )
    labels = effective_decisions(session, [d.account_id for d in rows])
    rows = [d for d in rows if d.account_id in labels and labels[d.account_id].decision == Decision.confirmed_attack]
    return [
        {
            "idempotency_key": idempotency_key(case.id, d.account_id, ACTION),
            "action": ACTION,
            "account_id": d.account_id,
            "case_id": case.id,
            "cluster_id": case.subject_id if case.subject_type == SubjectKind.cluster else None,
            "decided_by": who.name,
            "decided_at": decided_at.isoformat(),
            "reason": case.decision_reason,
            "model_version": d.model_version,
        }
        for d in rows
    ]


def decisions(session: Session, case: Case) -> list[AccountDecision]:
    """The per-account decisions of a case."""
    return list(
        session.scalars(
            select(AccountDecision).where(AccountDecision.case_id == case.id).order_by(AccountDecision.account_id)
        )
    )


def decisions_as_labels(session: Session) -> dict[str, bool]:
    """Each decided account's effective decision (:mod:`distillguard.api.cases.labels`) as a training label
    (confirmed attack -> True, dismissed -> False), over the labels analysts' overrides give
    (:mod:`distillguard.api.overrides.labels`)."""
    decided = {acc: e.decision == Decision.confirmed_attack for acc, e in effective_decisions(session).items()}
    return override_labels(session) | decided


def decision_labels() -> dict[str, bool]:
    """The ``distillguard.label_sources`` entry point: labels from the database at ``DATABASE_URL``."""
    from distillguard.api.database import migrate, session_scope
    from distillguard.api.settings import get_api_settings

    url = get_api_settings().database_url
    migrate(url)
    with session_scope(url) as session:
        return decisions_as_labels(session)
