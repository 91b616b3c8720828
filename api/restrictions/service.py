"""Restricting a case to named members, and the checks every route makes before it shows or changes anything.

To a principal who is no member, a restricted case and the subjects it covers (:mod:`.hidden`) do not exist: every
route answers the same 404 as for an unknown id, and lists, totals and counts leave them out. Admins see every case.
Who may restrict a case, change its members or lift the restriction: its creator (an analyst or above), a lead or
an admin, provided they can see it; the principal restricting stays a member. Members are names of active tokens
(the principals the audit log records). Every change writes one ``case.restrict`` or ``case.unrestrict`` audit
record on the case and bumps the detections epoch (cached queue pages are re-rendered).
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session, sessionmaker

from distillguard.api.audit.service import record
from distillguard.api.auth.service import Principal, active_token
from distillguard.api.cases.models import Case
from distillguard.api.cases.service import get_case, no_case
from distillguard.api.detections.evidence import not_found
from distillguard.api.detections.service import bump_epoch
from distillguard.api.errors import ServiceError, echo
from distillguard.api.restrictions.hidden import NOTHING, Hidden
from distillguard.api.restrictions.models import CaseMember, CaseRestriction

RESTRICT_ROLE = "analyst"  # the least role that may restrict a case (one it created)
MANAGE_ROLE = "lead"  # restricts, or changes, any case it can see
SEES_ALL_ROLE = "admin"  # sees every case, restricted or not


# The ids of the restricted cases the token named ``name`` is no member of (built once: per request, building it
# cost more than running it).
_HIDDEN_CASES = select(CaseRestriction.case_id).where(
    CaseRestriction.case_id.not_in(select(CaseMember.case_id).where(CaseMember.name == bindparam("name")))
)


def hidden_from(session: Session, who: Principal) -> Hidden:
    """The restricted cases ``who`` is no member of (none for admins)."""
    if who.can(SEES_ALL_ROLE):
        return NOTHING
    return Hidden(frozenset(session.scalars(_HIDDEN_CASES, {"name": who.name})))


def hidden_in_session_of(sessions: sessionmaker[Session], who: Principal) -> Hidden:
    """:func:`hidden_from` as committed now, read apart from any request session: one statement on a pooled
    connection, without an ORM session, in autocommit on PostgreSQL (no BEGIN and ROLLBACK round trips; SQLite's
    driver begins no transaction for a read, and switching its isolation level costs a PRAGMA each way). A queue
    page served from cache reads nothing else from the database, so this is most of what such a request costs."""
    if who.can(SEES_ALL_ROLE):
        return NOTHING
    engine = sessions.kw["bind"]
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        connection.execution_options(isolation_level="AUTOCOMMIT")
    with connection:
        return Hidden(frozenset(connection.scalars(_HIDDEN_CASES, {"name": who.name})))


def check_shown(session: Session, hidden: Hidden, kind: str, subject_id: str) -> None:
    """404, as for an unknown one, when ``kind`` ``subject_id`` is among ``hidden``'s subjects."""
    if hidden and session.scalar(select(hidden.subject_hidden(kind, subject_id))):
        raise not_found(kind, subject_id)


def check_subject(session: Session, who: Principal, kind: str, subject_id: str) -> None:
    """404, as for an unknown one, when ``kind`` ``subject_id`` is hidden from ``who``."""
    check_shown(session, hidden_from(session, who), kind, subject_id)


def visible_case(session: Session, who: Principal, case_id: int) -> Case:
    """Case ``case_id``; 404 when there is none or it is hidden from ``who`` (the same answer)."""
    case = get_case(session, case_id)
    hidden = hidden_from(session, who)
    if hidden and session.scalar(select(Case.id).where(Case.id == case.id, hidden.case_hidden())) is not None:
        raise no_case(case_id)
    return case


def members(session: Session, case_id: int) -> list[str] | None:
    """The members of a restricted case, by name; None when it is not restricted."""
    if session.get(CaseRestriction, case_id) is None:
        return None
    return list(session.scalars(select(CaseMember.name).where(CaseMember.case_id == case_id).order_by(CaseMember.name)))


def may_restrict(who: Principal, case: Case) -> bool:
    """Whether ``who`` may restrict ``case``, change its members or lift its restriction (it must see it, too)."""
    return who.can(MANAGE_ROLE) or (who.can(RESTRICT_ROLE) and case.created_by == who.name)


def check_may_restrict(who: Principal, case: Case) -> None:
    """403 saying who may, when ``who`` may not (:func:`may_restrict`)."""
    if not may_restrict(who, case):
        raise ServiceError(
            403,
            f"only case {case.id}'s creator ({case.created_by!r}, role {RESTRICT_ROLE!r} or above), a "
            f"{MANAGE_ROLE!r} or an {SEES_ALL_ROLE!r} may restrict it or change who sees it; token {who.name!r} is "
            f"{who.role!r}",
        )


def _check_names(session: Session, names: list[str]) -> None:
    """422 naming the members that are no active token's name."""
    unknown = [n for n in names if active_token(session, n) is None]
    if unknown:
        listed = ", ".join(echo(n) for n in unknown[:10])
        raise ServiceError(422, f"invalid request: members: no active token has the name {listed}")


def restrict(session: Session, who: Principal, case: Case, names: list[str], reason: str | None) -> bool:
    """Restrict ``case`` to ``names`` (plus ``who``), or replace the members of a restricted case; returns whether
    anything changed (not when the members are already these)."""
    check_may_restrict(who, case)
    _check_names(session, sorted(set(names)))
    after = sorted(set(names) | {who.name})
    before = members(session, case.id)
    if before == after:
        return False
    if before is None:
        session.add(CaseRestriction(case_id=case.id, set_by=who.name))
        session.flush()
    session.execute(delete(CaseMember).where(CaseMember.case_id == case.id))
    session.add_all(CaseMember(case_id=case.id, name=n) for n in after)
    bump_epoch(session)
    record(session, who, "case.restrict", "case", case.id, reason, before=before, after=after)
    session.commit()
    return True


def unrestrict(session: Session, who: Principal, case: Case, reason: str | None) -> bool:
    """Lift ``case``'s restriction (everyone sees it again); returns whether it was restricted."""
    check_may_restrict(who, case)
    before = members(session, case.id)
    if before is None:
        return False
    session.execute(delete(CaseMember).where(CaseMember.case_id == case.id))
    session.execute(delete(CaseRestriction).where(CaseRestriction.case_id == case.id))
    bump_epoch(session)
    record(session, who, "case.unrestrict", "case", case.id, reason, before=before, after=None)
    session.commit()
    return True
