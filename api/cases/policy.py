"""Whose case is it: a case assigned to someone is theirs to change.

Any analyst may read and comment on any case. Changing a case (its status, its per-account decisions, who it is
assigned to) is for its assignee, for anyone while it is unassigned, and for leads and admins always. The assignee
is matched by token name, the same name the audit log records as the actor.
"""

from __future__ import annotations

from distillguard.api.auth.service import Principal
from distillguard.api.cases.models import Case
from distillguard.api.errors import ServiceError


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
