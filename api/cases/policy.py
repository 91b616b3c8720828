"""Whose case is it: a case assigned to someone is theirs to change.

Any analyst may read and comment on any case. Changing a case (its status, its per-account decisions, who it is
assigned to) is for its assignee, for anyone while it is unassigned, and for leads and admins always. The assignee
is matched by token name, the same name the audit log records as the actor.

Opening a case on accounts that already belong to another case is refused when that case is final or someone
else's (:func:`check_may_open`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from distillguard.api.auth.roles import ROLES
from distillguard.api.auth.service import Principal, active_token
from distillguard.api.cases.models import Case
from distillguard.api.errors import ServiceError
from distillguard.api.review import FINAL


def may_change(who: Principal, case: Case) -> bool:
    """Whether ``who`` may change ``case`` (status, decisions, assignment)."""
    return case.assignee is None or case.assignee == who.name or who.can("lead")


def check_may_change(who: Principal, case: Case, what: str) -> None:
    """403 saying why when ``who`` may not ``what`` (e.g. "change its status") on ``case``."""
    if not may_change(who, case):
        raise ServiceError(
            403,
            f"case {case.id} is assigned to {case.assignee!r}: only they, a lead or an admin may "
            f"{what}; token {who.name!r} is {who.role!r} (any analyst may comment)",
        )


ASSIGNABLE_ROLE = "analyst"  # a case is assigned to someone who may work on it


def check_assignee(session: Session, assignee: str | None) -> None:
    """422 unless ``assignee`` (None: unassigned) names an unrevoked token of an analyst, lead or admin: a case
    is never assigned to a name nobody holds (it would stay locked to everybody but leads)."""
    if assignee is None:
        return
    token = active_token(session, assignee)
    if token is None or ROLES.index(token.role) < ROLES.index(ASSIGNABLE_ROLE):
        raise ServiceError(
            422, f"cannot assign to {assignee!r}: no active token of an analyst, lead or admin has that name"
        )


def check_may_open(who: Principal, overlapping: dict[int, tuple[Case, str]]) -> None:
    """Opening a case whose accounts already belong to other cases (``overlapping``: case id -> (case, one of
    its accounts in the new subject)). Refused with 409 when such a case is final (its decisions stand: comment on
    it, or have a lead reopen it if dismissed), and with 403 when it is open but ``who`` may not change it (the
    assignee's case is theirs). An overlapping open case ``who`` may change is allowed: each case keeps its own
    decisions, and :mod:`distillguard.api.cases.labels` says which one counts."""
    for case, account in sorted(overlapping.values(), key=lambda ca: ca[0].id):
        if case.status in FINAL:
            raise ServiceError(
                409,
                f"account {account!r} belongs to case {case.id}, which is final ({case.status}): its decisions "
                "stand; comment on that case, or have a lead reopen it if dismissed",
            )
        if not may_change(who, case):
            raise ServiceError(
                403,
                f"account {account!r} belongs to case {case.id}, assigned to {case.assignee!r}: only they, a lead "
                f"or an admin may open another case on it; token {who.name!r} is {who.role!r}",
            )
