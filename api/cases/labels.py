"""The effective decision on an account: which of its cases' decisions counts (training labels, evidence,
enforcement).

Decisions are kept per (case, account), so an account reviewed in several cases has several. The rule:

1. Only decisions of cases that are final (``confirmed_attack`` or ``dismissed``) count; an open, escalated or
   reopened case has not decided yet.
2. The decision made with the highest role wins (viewer < analyst < lead < admin; a decision whose role is
   unknown, from before migration 0003, ranks below every role).
3. Among decisions made with that role, the latest wins (``decided_at``, then the higher case id).
4. Final decisions of other cases that disagree with the winner are conflicts: they are reported
   (:attr:`Effective.conflicts`, the account evidence's ``decision_conflicts``), never silently dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from distillguard.api.auth.roles import ROLES
from distillguard.api.cases.models import AccountDecision, Case
from distillguard.api.review import FINAL, Decision

UNKNOWN_ROLE_RANK = -1
CHUNK = 900  # ids per IN (...) list: below SQLite's bound-parameter limit


@dataclass(frozen=True)
class Effective:
    """The decision that counts for an account, the case it was made in, and the final cases that disagree."""

    account_id: str
    decision: Decision
    case_id: int
    conflicts: tuple[int, ...]


def rank(decided_role: str | None, decided_at: datetime, case_id: int) -> tuple[int, datetime, int]:
    """The sort key of a final decision under the rule above (higher wins)."""
    role = ROLES.index(decided_role) if decided_role in ROLES else UNKNOWN_ROLE_RANK
    return role, decided_at, case_id


def effective(decisions: Iterable[AccountDecision]) -> Effective | None:
    """The effective decision among one account's decisions of final cases (None when there are none)."""
    rows = list(decisions)
    if not rows:
        return None
    best = max(rows, key=lambda d: rank(d.decided_role, d.decided_at, d.case_id))
    conflicts = sorted({d.case_id for d in rows if d.decision != best.decision})
    return Effective(best.account_id, Decision(best.decision), best.case_id, tuple(conflicts))


def effective_decisions(session: Session, account_ids: Iterable[str] | None = None) -> dict[str, Effective]:
    """The effective decision of each account (of ``account_ids``, or of every decided account)."""
    stmt = select(AccountDecision).join(Case, Case.id == AccountDecision.case_id).where(Case.status.in_(FINAL))
    if account_ids is None:
        rows = list(session.scalars(stmt))
    else:
        ids = list(dict.fromkeys(account_ids))
        rows = [
            d
            for i in range(0, len(ids), CHUNK)
            for d in session.scalars(stmt.where(AccountDecision.account_id.in_(ids[i : i + CHUNK])))
        ]
    by_account: dict[str, list[AccountDecision]] = defaultdict(list)
    for d in rows:
        by_account[d.account_id].append(d)
    return {acc: e for acc, ds in by_account.items() if (e := effective(ds)) is not None}
