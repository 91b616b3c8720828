"""Evidence of one cluster or account: members, indicators, hourly timeline, sample prompts, links, case."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.cases.labels import effective_decisions
from distillguard.api.cases.models import AccountDecision, Case
from distillguard.api.detections.models import AccountRow, ClusterRow
from distillguard.api.detections.schemas import AccountItem, ClusterFields, LinkedCluster, MemberAccount
from distillguard.api.errors import ServiceError, echo
from distillguard.api.overrides.applied import applied, override_of
from distillguard.api.overrides.models import ActionOverride
from distillguard.api.restrictions.hidden import NOTHING, Hidden
from distillguard.detector.records import SubjectKind

MAX_MEMBERS = 500
MAX_PROMPTS = 20
PROMPT_ROLE = "analyst"  # the lowest role that may see prompt text (prompts and prompt templates) unredacted
TEMPLATE_KIND = "template"  # the shared indicator whose values are prompt text
APPLIED = ("applied_action", "override")  # ladder fields no row stores: api/overrides/applied.py

# A redacted text shows its size class, not its length: an exact length would let a viewer confirm a guess.
SHORT_BELOW = 100  # characters: shorter texts are "short"
MEDIUM_BELOW = 1_000  # characters: shorter texts (not short) are "medium", the rest "long"


def redact(text: str) -> str:
    """What a redacted prompt shows instead of its text: ``[redacted: short|medium|long]``."""
    size = "short" if len(text) < SHORT_BELOW else "medium" if len(text) < MEDIUM_BELOW else "long"
    return f"[redacted: {size}]"


def redacted(redact: bool, who: Principal) -> bool:
    """``redact``, when ``who`` may ask for it (unredacted prompts need role analyst: 403 otherwise)."""
    if not redact and not who.can(PROMPT_ROLE):
        raise ServiceError(
            403, f"unredacted prompts need role {PROMPT_ROLE!r} or above; token {who.name!r} is {who.role!r}"
        )
    return redact


def indicators(shared: dict[str, list[str]], redacted: bool) -> dict[str, list[str]]:
    """Shared indicators; prompt templates are prompt text, so redacted like prompts when ``redacted``."""
    if not redacted:
        return shared
    return {kind: [redact(v) for v in values] if kind == TEMPLATE_KIND else values for kind, values in shared.items()}


def _prompts(accounts: list[AccountRow], redacted: bool) -> list[dict]:
    out: list[dict] = []
    for a in accounts:
        for p in a.sample_prompts:
            if len(out) >= MAX_PROMPTS:
                return out
            out.append({"account_id": a.account_id, "prompt": redact(p) if redacted else p, "redacted": redacted})
    return out


def _timeline(accounts: list[AccountRow]) -> list[dict]:
    hours: Counter[str] = Counter()
    for a in accounts:
        hours.update(a.hourly_requests)
    return [{"hour": h, "requests": n} for h, n in sorted(hours.items())]


def _case(session: Session, subject_type: SubjectKind, subject_id: str) -> dict | None:
    case = session.scalar(select(Case).where(Case.subject_type == subject_type, Case.subject_id == subject_id))
    return {"id": case.id, "status": case.status, "assignee": case.assignee} if case else None


def _fields(row: AccountRow | ClusterRow, body: type[BaseModel], *skip: str) -> dict:
    """The stored values of ``row`` that response ``body`` serves as they are (its fields but ``skip``)."""
    return {f: getattr(row, f) for f in body.model_fields if f not in skip}


def cluster_item(row: ClusterRow, override: ActionOverride | None) -> dict:
    """The queue entry of a cluster overridden by ``override`` (or not)."""
    return (
        _fields(row, ClusterFields, *APPLIED)
        | applied(row.action, override)
        | {"indicator_kinds": sorted(row.shared_indicators)}
    )


def account_item(row: AccountRow, override: ActionOverride | None) -> dict:
    """The queue entry of an account overridden by ``override`` (or not)."""
    return _fields(row, AccountItem, *APPLIED) | applied(row.action, override)


def not_found(kind: str, subject_id: str) -> ServiceError:
    """The 404 of an unknown cluster or account (a hidden one answers the same: api/restrictions)."""
    return ServiceError(404, f"no {kind} {echo(subject_id)}")


def get_cluster(session: Session, cluster_id: str) -> ClusterRow:
    """The stored cluster; 404 when unknown."""
    row = session.get(ClusterRow, cluster_id)
    if row is None:
        raise not_found(SubjectKind.cluster, cluster_id)
    return row


def get_account(session: Session, account_id: str) -> AccountRow:
    """The stored account verdict; 404 when unknown."""
    row = session.get(AccountRow, account_id)
    if row is None:
        raise not_found(SubjectKind.account, account_id)
    return row


def members(session: Session, row: ClusterRow) -> list[AccountRow]:
    """The stored verdicts of a cluster's members, highest score first."""
    out: list[AccountRow] = []
    ids = list(row.members)
    for i in range(0, len(ids), 900):
        out += session.scalars(select(AccountRow).where(AccountRow.account_id.in_(ids[i : i + 900])))
    out.sort(key=lambda a: (-a.score, a.account_id))
    return out


def cluster_detail(session: Session, cluster_id: str, redacted: bool, hidden: Hidden = NOTHING) -> dict:
    """A cluster with its evidence (prompts redacted when ``redacted``); each member's ``decision`` is the one
    the cluster's case made on it. Members and linked clusters ``hidden`` from the reader are left out."""
    row = get_cluster(session, cluster_id)
    unseen: set[str] = set(session.scalars(hidden.accounts())) if hidden else set()
    unlinked: set[str] = set(session.scalars(hidden.clusters())) if hidden else set()
    accts = [a for a in members(session, row) if a.account_id not in unseen]
    known = {a.account_id: a for a in accts}
    case = _case(session, SubjectKind.cluster, cluster_id)
    decisions = {}
    if case:
        decisions = dict(
            session.execute(
                select(AccountDecision.account_id, AccountDecision.decision).where(
                    AccountDecision.case_id == case["id"]
                )
            ).all()
        )
    listed = [a.account_id for a in accts] + sorted(set(row.members) - set(known) - unseen)
    member_rows = []
    for acc in listed[:MAX_MEMBERS]:
        a = known.get(acc)
        base = {"account_id": acc, "known": a is not None, "decision": decisions.get(acc)}
        if a is not None:
            base |= _fields(a, MemberAccount, *base)
        member_rows.append(base)
    linked_rows = (
        {
            c.cluster_id: c
            for c in session.scalars(select(ClusterRow).where(ClusterRow.cluster_id.in_(list(row.linked_clusters))))
        }
        if row.linked_clusters
        else {}
    )
    linked = []
    for cid in (c for c in row.linked_clusters if c not in unlinked):
        c = linked_rows.get(cid)
        ref = {"cluster_id": cid, "known": c is not None}
        linked.append(ref | (_fields(c, LinkedCluster, *ref) if c else {}))
    return cluster_item(row, override_of(session, SubjectKind.cluster, cluster_id)) | {
        "shared_indicators": indicators(row.shared_indicators, redacted),
        "members": member_rows,
        "members_total": len(row.members),
        "verification_paths": dict(Counter(a.verification_path or "unknown" for a in accts)),
        "models": dict(Counter(m for a in accts for m in a.models)),
        "timeline": _timeline(accts),
        "sample_prompts": _prompts(accts, redacted),
        "linked_clusters": linked,
        "case": case,
    }


def account_detail(session: Session, account_id: str, redacted: bool, hidden: Hidden = NOTHING) -> dict:
    """An account with its evidence (prompts redacted when ``redacted``); ``decision`` is its effective decision
    (:mod:`distillguard.api.cases.labels`), ``decision_conflicts`` the final cases that decided otherwise (but
    ``hidden`` ones)."""
    row = get_account(session, account_id)
    cluster_id = row.cluster_id
    cluster = session.get(ClusterRow, cluster_id) if cluster_id else None
    case = _case(session, SubjectKind.account, account_id) or (
        _case(session, SubjectKind.cluster, cluster_id) if cluster_id and cluster else None
    )
    decision = effective_decisions(session, [account_id]).get(account_id)
    unseen = set(session.scalars(select(Case.id).where(hidden.case_hidden()))) if hidden else set()
    return account_item(row, override_of(session, SubjectKind.account, account_id)) | {
        "timeline": _timeline([row]),
        "sample_prompts": _prompts([row], redacted),
        "cluster": cluster_item(cluster, override_of(session, SubjectKind.cluster, cluster.cluster_id))
        if cluster
        else None,
        "case": case,
        "decision": decision.decision if decision else None,
        "decision_conflicts": [c for c in decision.conflicts if c not in unseen] if decision else [],
    }
