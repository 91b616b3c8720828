"""Who acts and what is on record in the service-level tests of the review service (``db`` fixture of
tests/api/conftest.py: the seed world of tests/api/seed.py and the tokens of ``SERVICE_TOKENS``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from distillguard.api.audit.models import AuditEvent
from distillguard.api.auth.service import Principal
from distillguard.api.cases.models import AccountDecision, Case

VIEWER = Principal("viewer-user", "viewer", 1)
ANALYST = Principal("analyst-user", "analyst", 2)
ANALYST_2 = Principal("analyst-2", "analyst", 3)
LEAD = Principal("lead-user", "lead", 4)
ADMIN = Principal("admin-user", "admin", 5)

T = datetime(2026, 3, 10, 9, tzinfo=UTC)
HYDRA = [f"acct-h{i:03d}" for i in range(40)]  # c-hydra's accounts besides its two resellers
RESELLERS = ["acct-r000", "acct-r001"]
HYDRA_2 = [f"acct-k{i:03d}" for i in range(10)]  # c-hydra-2
UNI = [f"acct-u{i:03d}" for i in range(25)]  # c-uni


def put_case(
    session: Session,
    subject_id: str,
    status: str,
    subject_type: str = "account",
    assignee: str | None = None,
    decided_at: datetime | None = None,
) -> Case:
    """A case written as it stands (no workflow, no audit), flushed."""
    case = Case(
        subject_type=subject_type,
        subject_id=subject_id,
        status=status,
        created_by="analyst-user",
        assignee=assignee,
        decided_at=decided_at,
    )
    session.add(case)
    session.flush()
    return case


def put_decision(
    session: Session, case: Case, account_id: str, decision: str, role: str | None, hours: float = 0
) -> AccountDecision:
    """A decision of ``case`` on ``account_id`` made with ``role`` ``hours`` after :data:`T`, flushed."""
    d = AccountDecision(
        case_id=case.id,
        account_id=account_id,
        decision=decision,
        decided_by=f"{role}-user",
        decided_role=role,
        decided_at=T + timedelta(hours=hours),
    )
    session.add(d)
    session.flush()
    return d


def audit(session: Session, case_id: int | str | None = None) -> list[tuple[str, str, str | None, dict]]:
    """(actor, action, reason, details) of the audit events (of one case; by default those not about the tokens
    of the template), oldest first."""
    stmt = select(AuditEvent).order_by(AuditEvent.id)
    if case_id is None:
        stmt = stmt.where(AuditEvent.entity_type != "token")
    else:
        stmt = stmt.where(AuditEvent.entity_type == "case", AuditEvent.entity_id == str(case_id))
    return [(e.actor, e.action, e.reason, e.details) for e in session.scalars(stmt)]


def case_decisions(session: Session, case: Case) -> dict[str, tuple[str, str | None]]:
    """A case's decisions: account -> (decision, role)."""
    rows = session.scalars(select(AccountDecision).where(AccountDecision.case_id == case.id))
    return {d.account_id: (d.decision, d.decided_role) for d in rows}
