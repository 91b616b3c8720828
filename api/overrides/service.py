"""Overriding the recommended action of an account or a cluster.

An override sets the rung applied to one subject instead of the detector's recommendation; a subject has at most one
(setting again replaces it; clearing it returns to the recommendation). Analysts override to any rung up to
``review``; ``suspend`` and ``takedown``, the rungs the policy has a lead confirm, need a lead, and so does changing
or clearing an override at those rungs. ``takedown`` is for clusters only. Every set and clear writes an audit record
(``override.set`` / ``override.clear``, with the override before and after), bumps the detections epoch (so cached
queue pages show it) and queues one enforcement event (``source: analyst``) whose idempotency key is derived from
that audit record. Setting the override a subject already has (same rung, reason and analyst) or clearing none
changes nothing: a retried request queues no second event.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from distillguard.api.audit.service import record
from distillguard.api.auth.service import Principal
from distillguard.api.detections.evidence import APPLIED, get_account, get_cluster
from distillguard.api.detections.models import AccountRow, ClusterRow
from distillguard.api.detections.schemas import LadderFields
from distillguard.api.detections.service import bump_epoch
from distillguard.api.enforcement.service import enqueue_on
from distillguard.api.errors import ServiceError, echo
from distillguard.api.overrides.applied import applied, override_body, override_of
from distillguard.api.overrides.models import ActionOverride
from distillguard.api.restrictions.service import check_subject
from distillguard.api.types import utcnow
from distillguard.detector.policy import CLUSTER_ONLY
from distillguard.detector.records import LADDER, Action, SubjectKind, rank

OVERRIDE_ROLE = "analyst"  # the least role that may override
LEAD_ROLE = "lead"  # needed above ANALYST_CEILING
ANALYST_CEILING = Action.review  # the highest rung an analyst may apply
LEAD_RUNGS = tuple(a for a in LADDER if rank(a) > rank(ANALYST_CEILING))
SOURCE = "analyst"  # on enforcement-actions, next to the detector's automated moves (streams/enforcement.py)
SET, CLEARED = "override_set", "override_cleared"  # the events' ``event``
KEY_HEX = 40  # hex digits of an idempotency key, as a case's


def rungs(kind: SubjectKind) -> tuple[Action, ...]:
    """The rungs a subject of ``kind`` may be overridden to."""
    return tuple(a for a in LADDER if kind == SubjectKind.cluster or a not in CLUSTER_ONLY)


def needed_role(action: str) -> str:
    """The least role that may override to ``action``, or change or clear an override at it."""
    return LEAD_ROLE if action in LEAD_RUNGS else OVERRIDE_ROLE


def idempotency_key(kind: SubjectKind, subject_id: str, audit_id: int) -> str:
    """The key of the event of one override change (the audit record ``audit_id``)."""
    return hashlib.sha256(f"{kind}:{subject_id}:override:{audit_id}".encode()).hexdigest()[:KEY_HEX]


def _refuse(who: Principal, needs: str, what: str) -> ServiceError:
    return ServiceError(403, f"{what} needs role {needs!r} or above; token {who.name!r} is {who.role!r}")


def _check_may_override(who: Principal) -> None:
    if not who.can(OVERRIDE_ROLE):
        lead_rungs = " and ".join(LEAD_RUNGS)
        raise _refuse(who, OVERRIDE_ROLE, f"overriding the recommended action ({LEAD_ROLE!r} for {lead_rungs})")


def _check_lead(who: Principal, kind: SubjectKind, subject_id: str, current: ActionOverride | None) -> None:
    """403 unless ``who`` may change or clear ``current``."""
    if current is not None and not who.can(needed_role(current.action)):
        raise _refuse(
            who,
            needed_role(current.action),
            f"{kind} {echo(subject_id)} is overridden to {current.action} by {current.set_by!r}: changing or clearing "
            "that",
        )


def _subject(session: Session, kind: SubjectKind, subject_id: str) -> AccountRow | ClusterRow:
    return get_cluster(session, subject_id) if kind == SubjectKind.cluster else get_account(session, subject_id)


def _check_rung(kind: SubjectKind, action: str) -> Action:
    allowed = rungs(kind)
    if action not in allowed:
        why = f"{action} is for clusters only" if action in LADDER else f"unknown action {echo(action)}"
        raise ServiceError(422, f"invalid request: action: {why}; {kind}s can be overridden to {', '.join(allowed)}")
    return Action(action)


def _check_reason(reason: str) -> str:
    if not reason.strip():
        raise ServiceError(422, "invalid request: reason: say why this rung rather than the recommended one")
    return reason


def _audited(o: ActionOverride | None) -> dict | None:
    """An override as an audit record keeps it (JSON)."""
    return override_body(o) | {"at": o.set_at.isoformat()} if o else None


def _event(
    kind: SubjectKind,
    row: AccountRow | ClusterRow,
    who: Principal,
    audit_id: int,
    previous: str,
    o: ActionOverride | None,
) -> dict:
    """The enforcement event of one change of ``row``'s override: ``o`` set, or (None) cleared; ``previous`` is the
    rung applied before."""
    subject_id = row.cluster_id if isinstance(row, ClusterRow) else row.account_id
    return {
        "idempotency_key": idempotency_key(kind, subject_id, audit_id),
        "source": SOURCE,
        "event": SET if o else CLEARED,
        "kind": kind.value,
        "subject": subject_id,
        "action": applied(row.action, o)["applied_action"],
        "previous": previous,
        "recommended": row.action,
        "by": who.name,
        "role": who.role,
        "reason": o.reason if o else None,
        "model_version": row.model_version,
        "at": (o.set_at if o else utcnow()).isoformat(),
        "audit_id": audit_id,
    }


def _commit(
    session: Session, who: Principal, kind: SubjectKind, row: AccountRow | ClusterRow, was: dict | None
) -> None:
    """Commit a change of ``row``'s override (``was``: the override before, as :func:`_audited` keeps it) with its
    audit record, its enforcement event and a new detections epoch; 409 when another request set an override on the
    subject meanwhile."""
    subject_id = row.cluster_id if isinstance(row, ClusterRow) else row.account_id
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ServiceError(
            409, f"{kind} {echo(subject_id)} was overridden by another request meanwhile; reload and try again"
        ) from None
    after = override_of(session, kind, subject_id)
    audit = record(
        session,
        who,
        "override.set" if after else "override.clear",
        kind.value,
        subject_id,
        after.reason if after else None,
        before=was,
        after=_audited(after),
        recommended=row.action,
    )
    session.flush()  # the audit record's id keys the event
    previous = was["action"] if was else row.action
    enqueue_on(session, kind, subject_id, _event(kind, row, who, audit.id, previous, after))
    bump_epoch(session)
    session.commit()


def set_override(
    session: Session, who: Principal, kind: SubjectKind, subject_id: str, action: str, reason: str
) -> bool:
    """Apply ``action`` to ``kind`` ``subject_id`` instead of its recommendation, because ``reason``; returns whether
    anything changed (not when the subject already has this override by ``who``). A subject hidden from ``who``
    (a restricted case's) is missing: 404."""
    _check_may_override(who)
    check_subject(session, who, kind, subject_id)
    row = _subject(session, kind, subject_id)
    rung = _check_rung(kind, action)
    reason = _check_reason(reason)
    if not who.can(needed_role(rung)):
        lead_rungs = " and ".join(LEAD_RUNGS)
        raise _refuse(who, needed_role(rung), f"overriding to {rung} (a lead confirms {lead_rungs})")
    o = override_of(session, kind, subject_id)
    _check_lead(who, kind, subject_id, o)
    if o is not None and (o.action, o.reason, o.set_by) == (rung, reason, who.name):
        return False
    was = _audited(o)
    if o is None:
        o = ActionOverride(subject_type=kind.value, subject_id=subject_id)
        session.add(o)
    o.action, o.recommended, o.model_version = rung.value, row.action, row.model_version
    o.reason, o.set_by, o.set_role, o.set_at = reason, who.name, who.role, utcnow()
    o.members = list(row.members) if isinstance(row, ClusterRow) else []
    _commit(session, who, kind, row, was)
    return True


def clear_override(session: Session, who: Principal, kind: SubjectKind, subject_id: str) -> bool:
    """Return ``kind`` ``subject_id`` to its recommended action; returns whether it had an override."""
    _check_may_override(who)
    check_subject(session, who, kind, subject_id)
    row = _subject(session, kind, subject_id)
    o = override_of(session, kind, subject_id)
    if o is None:
        return False
    _check_lead(who, kind, subject_id, o)
    was = _audited(o)
    session.delete(o)
    _commit(session, who, kind, row, was)
    return True


def state(session: Session, kind: SubjectKind, subject_id: str, changed: bool) -> dict:
    """Where ``kind`` ``subject_id`` stands on the ladder (:class:`~distillguard.api.overrides.schemas.OverrideState`)."""
    row = _subject(session, kind, subject_id)
    ladder = {f: getattr(row, f) for f in LadderFields.model_fields if f not in APPLIED}
    now = applied(row.action, override_of(session, kind, subject_id))
    return ladder | now | {"kind": kind, "id": subject_id, "changed": changed}
