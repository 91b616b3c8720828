"""Overrides of the recommended action at the service level (api/overrides/service.py): set, replace, clear, who may
do what, what is refused and why, and what each change writes (the override, an audit record with before and after,
one outbox event, a new detections epoch). On a copy of the seeded database (``db``): no app, no broker."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from distillguard.api.audit.models import AuditEvent
from distillguard.api.auth.service import Principal
from distillguard.api.detections.models import AccountRow, ClusterRow
from distillguard.api.detections.service import current_epoch
from distillguard.api.enforcement.models import OutboxEvent
from distillguard.api.errors import ServiceError
from distillguard.api.overrides import service
from distillguard.api.overrides.models import ActionOverride
from distillguard.detector.records import SubjectKind
from tests.api.review_world import ADMIN, ANALYST, ANALYST_2, HYDRA_2, LEAD, VIEWER, audit

NOW = datetime(2026, 3, 12, 15, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
ACCOUNT, CLUSTER = SubjectKind.account, SubjectKind.cluster


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The service's clock, fixed at NOW; append to move it on."""
    times = [NOW]
    monkeypatch.setattr(service, "utcnow", lambda: times[-1])
    return times


@pytest.fixture
def recommended(db: Session) -> Session:
    """The seed with the detector's recommendations: acct-h000 at review (probability 0.93), c-hydra-2 at
    suspend (0.995)."""
    db.execute(update(AccountRow).where(AccountRow.account_id == "acct-h000").values(action="review", probability=0.93))
    db.execute(
        update(ClusterRow).where(ClusterRow.cluster_id == "c-hydra-2").values(action="suspend", probability=0.995)
    )
    db.commit()
    return db


def documented_key(kind: str, subject: str, audit_id: int) -> str:
    """The idempotency key as documented: the first 40 hex digits of the SHA-256 of ``kind:subject:override:id``,
    ``id`` the audit record of the change."""
    return hashlib.sha256(f"{kind}:{subject}:override:{audit_id}".encode()).hexdigest()[:40]


def outbox(session: Session) -> list[tuple[str | None, str | None, int | None, dict]]:
    """(account_id, cluster_id, case_id, payload) of every outbox event, oldest first."""
    rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.created_at, OutboxEvent.idempotency_key))
    return [(r.account_id, r.cluster_id, r.case_id, r.payload) for r in rows]


def overrides(session: Session) -> list[tuple[str, str, str, str, str]]:
    """(kind, subject, action, by, reason) of every current override."""
    session.expire_all()
    rows = session.scalars(select(ActionOverride).order_by(ActionOverride.subject_type, ActionOverride.subject_id))
    return [(o.subject_type, o.subject_id, o.action, o.set_by, o.reason) for o in rows]


def test_an_override_is_set_replaced_and_cleared_each_with_an_audit_record(recommended: Session, clock) -> None:
    db = recommended
    assert service.set_override(db, ANALYST, ACCOUNT, "acct-h000", "throttle", "a paying customer; proxy IPs")
    first = {
        "action": "throttle",
        "recommended": "review",
        "reason": "a paying customer; proxy IPs",
        "by": "analyst-user",
        "role": "analyst",
        "at": "2026-03-12T15:30:00+00:00",
        "model_version": "m-2026.03",
    }
    assert audit(db) == [
        (
            "analyst-user",
            "override.set",
            "a paying customer; proxy IPs",
            {"before": None, "after": first, "recommended": "review"},
        )
    ]
    clock.append(LATER)
    assert service.set_override(db, LEAD, ACCOUNT, "acct-h000", "suspend", "card shared with 39 accounts")
    second = first | {
        "action": "suspend",
        "reason": "card shared with 39 accounts",
        "by": "lead-user",
        "role": "lead",
        "at": "2026-03-12T16:30:00+00:00",
    }
    assert audit(db)[1:] == [
        (
            "lead-user",
            "override.set",
            "card shared with 39 accounts",
            {"before": first, "after": second, "recommended": "review"},
        )
    ]
    assert overrides(db) == [(ACCOUNT, "acct-h000", "suspend", "lead-user", "card shared with 39 accounts")]
    assert service.clear_override(db, LEAD, ACCOUNT, "acct-h000")
    assert audit(db)[2:] == [
        ("lead-user", "override.clear", None, {"before": second, "after": None, "recommended": "review"})
    ]
    assert overrides(db) == []


def test_the_override_keeps_what_was_recommended_and_the_cluster_s_members_then(recommended: Session, clock) -> None:
    db = recommended
    service.set_override(db, LEAD, CLUSTER, "c-hydra-2", "takedown", "same operator as c-hydra")
    o = db.get(ActionOverride, (CLUSTER, "c-hydra-2"))
    assert (o.action, o.recommended, o.model_version, o.set_role, o.set_at) == (
        "takedown",
        "suspend",
        "m-2026.03",
        "lead",
        NOW,
    )
    assert o.members == HYDRA_2
    service.set_override(db, LEAD, ACCOUNT, "acct-k000", "none", "a researcher we know")
    assert db.get(ActionOverride, (ACCOUNT, "acct-k000")).members == []


def test_repeating_the_override_or_clearing_none_changes_nothing(recommended: Session, clock) -> None:
    db = recommended
    assert not service.clear_override(db, ANALYST, ACCOUNT, "acct-h000")  # none to clear
    epoch = current_epoch(db)
    assert service.set_override(db, ANALYST, ACCOUNT, "acct-h000", "watch", "student project")
    assert current_epoch(db) == epoch + 1
    clock.append(LATER)
    for _ in range(3):  # a retried request
        assert not service.set_override(db, ANALYST, ACCOUNT, "acct-h000", "watch", "student project")
    assert current_epoch(db) == epoch + 1 and len(audit(db)) == 1 and len(outbox(db)) == 1
    assert db.get(ActionOverride, (ACCOUNT, "acct-h000")).set_at == NOW
    assert service.set_override(db, ANALYST, ACCOUNT, "acct-h000", "watch", "student project, confirmed by email")
    assert service.set_override(db, ANALYST_2, ACCOUNT, "acct-h000", "watch", "student project, confirmed by email")
    assert current_epoch(db) == epoch + 3 and len(audit(db)) == 3 and len(outbox(db)) == 3
    assert service.clear_override(db, ANALYST, ACCOUNT, "acct-h000")
    assert not service.clear_override(db, ANALYST, ACCOUNT, "acct-h000")
    assert current_epoch(db) == epoch + 4 and len(audit(db)) == 4 and len(outbox(db)) == 4


def test_each_change_queues_one_enforcement_event_from_the_analyst(recommended: Session, clock) -> None:
    db = recommended
    service.set_override(db, LEAD, CLUSTER, "c-hydra-2", "throttle", "wait for the case")
    clock.append(LATER)
    service.clear_override(db, ANALYST, CLUSTER, "c-hydra-2")
    set_id, clear_id = (
        e.id for e in db.scalars(select(AuditEvent).where(AuditEvent.entity_type == CLUSTER).order_by(AuditEvent.id))
    )
    common = {"source": "analyst", "kind": "cluster", "subject": "c-hydra-2", "recommended": "suspend"}
    assert outbox(db) == [
        (
            None,
            "c-hydra-2",
            None,
            common
            | {
                "idempotency_key": documented_key("cluster", "c-hydra-2", set_id),
                "event": "override_set",
                "action": "throttle",
                "previous": "suspend",
                "by": "lead-user",
                "role": "lead",
                "reason": "wait for the case",
                "model_version": "m-2026.03",
                "at": "2026-03-12T15:30:00+00:00",
                "audit_id": set_id,
            },
        ),
        (
            None,
            "c-hydra-2",
            None,
            common
            | {
                "idempotency_key": documented_key("cluster", "c-hydra-2", clear_id),
                "event": "override_cleared",
                "action": "suspend",
                "previous": "throttle",
                "by": "analyst-user",
                "role": "analyst",
                "reason": None,
                "model_version": "m-2026.03",
                "at": "2026-03-12T16:30:00+00:00",
                "audit_id": clear_id,
            },
        ),
    ]
    service.set_override(db, ANALYST, ACCOUNT, "acct-s000", "none", "known customer")
    assert outbox(db)[-1][:3] == ("acct-s000", None, None)


def test_the_idempotency_key_is_the_first_40_hex_digits_of_a_sha256() -> None:
    assert (
        service.idempotency_key(ACCOUNT, "acct-1", 7) == hashlib.sha256(b"account:acct-1:override:7").hexdigest()[:40]
    )
    assert service.idempotency_key(ACCOUNT, "acct-1", 7) == "5857000f024d154818decfa7b20e6525fcdcaaa6"


VIEWER_REFUSED = (
    "overriding the recommended action ('lead' for suspend and takedown) needs role 'analyst' or above; "
    "token 'viewer-user' is 'viewer'"
)
ANALYST_SUSPEND = (
    "overriding to suspend (a lead confirms suspend and takedown) needs role 'lead' or above; "
    "token 'analyst-user' is 'analyst'"
)
ANALYST_TAKEDOWN = ANALYST_SUSPEND.replace("overriding to suspend", "overriding to takedown")


@pytest.mark.parametrize(
    ("who", "kind", "action", "refused"),
    [
        (VIEWER, ACCOUNT, "watch", VIEWER_REFUSED),
        (VIEWER, CLUSTER, "none", VIEWER_REFUSED),
        *[(ANALYST, CLUSTER, rung, None) for rung in ("none", "watch", "challenge", "throttle", "review")],
        (ANALYST, ACCOUNT, "suspend", ANALYST_SUSPEND),
        (ANALYST, CLUSTER, "suspend", ANALYST_SUSPEND),
        (ANALYST, CLUSTER, "takedown", ANALYST_TAKEDOWN),
        (LEAD, ACCOUNT, "suspend", None),
        (LEAD, CLUSTER, "takedown", None),
        (ADMIN, CLUSTER, "takedown", None),
    ],
)
def test_who_may_override_to_which_rung(
    db: Session, clock, who: Principal, kind: SubjectKind, action: str, refused: str | None
) -> None:
    subject = "acct-h000" if kind == ACCOUNT else "c-hydra"
    if refused is None:
        assert service.set_override(db, who, kind, subject, action, "reviewed")
        assert overrides(db) == [(kind, subject, action, who.name, "reviewed")]
        return
    with pytest.raises(ServiceError) as exc:
        service.set_override(db, who, kind, subject, action, "reviewed")
    assert (exc.value.status, exc.value.detail) == (403, refused)
    assert overrides(db) == [] and audit(db) == [] and outbox(db) == []


def test_a_lead_s_suspension_is_changed_or_cleared_by_a_lead_only(db: Session, clock) -> None:
    service.set_override(db, LEAD, CLUSTER, "c-hydra", "suspend", "cards and proxies")
    why = (
        "cluster 'c-hydra' is overridden to suspend by 'lead-user': changing or clearing that needs role 'lead' or "
        "above; token 'analyst-user' is 'analyst'"
    )
    for attempt in (
        lambda: service.set_override(db, ANALYST, CLUSTER, "c-hydra", "watch", "looks fine to me"),
        lambda: service.clear_override(db, ANALYST, CLUSTER, "c-hydra"),
    ):
        with pytest.raises(ServiceError) as exc:
            attempt()
        assert (exc.value.status, exc.value.detail) == (403, why)
    with pytest.raises(ServiceError) as exc:
        service.clear_override(db, VIEWER, CLUSTER, "c-hydra")
    assert (exc.value.status, exc.value.detail) == (403, VIEWER_REFUSED)
    assert overrides(db) == [(CLUSTER, "c-hydra", "suspend", "lead-user", "cards and proxies")] and len(audit(db)) == 1
    service.set_override(db, ANALYST, CLUSTER, "c-uni", "throttle", "homework bursts")
    assert service.set_override(db, ANALYST_2, CLUSTER, "c-uni", "none", "a class, confirmed with the university")
    assert service.clear_override(db, ADMIN, CLUSTER, "c-hydra")


@pytest.mark.parametrize(
    ("kind", "subject", "action", "reason", "status", "detail"),
    [
        (
            ACCOUNT,
            "acct-h000",
            "takedown",
            "ring leader",
            422,
            "invalid request: action: takedown is for clusters only; accounts can be overridden to none, watch, "
            "challenge, throttle, review, suspend",
        ),
        (
            CLUSTER,
            "c-hydra",
            "ban",
            "ring",
            422,
            "invalid request: action: unknown action 'ban'; clusters can be overridden to none, watch, challenge, "
            "throttle, review, suspend, takedown",
        ),
        (ACCOUNT, "acct-h000", "watch", " \t\n", 422, "invalid request: reason: say why this rung rather than the "
         "recommended one"),
        (ACCOUNT, "acct-h000", "watch", "", 422, "invalid request: reason: say why this rung rather than the "
         "recommended one"),
        (ACCOUNT, "acct-nobody", "watch", "x", 404, "no account 'acct-nobody'"),
        (CLUSTER, "c-nobody", "watch", "x", 404, "no cluster 'c-nobody'"),
    ],
)  # fmt: skip
def test_what_is_refused_and_why(
    db: Session, clock, kind: SubjectKind, subject: str, action: str, reason: str, status: int, detail: str
) -> None:
    with pytest.raises(ServiceError) as exc:
        service.set_override(db, LEAD, kind, subject, action, reason)
    assert (exc.value.status, exc.value.detail) == (status, detail)
    assert overrides(db) == [] and audit(db) == [] and outbox(db) == []


def test_clearing_an_unknown_subject_is_a_404(db: Session) -> None:
    with pytest.raises(ServiceError) as exc:
        service.clear_override(db, LEAD, ACCOUNT, "acct-nobody")
    assert (exc.value.status, exc.value.detail) == (404, "no account 'acct-nobody'")


def test_an_override_set_by_another_request_meanwhile_is_a_409(
    db: Session, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.set_override(db, ANALYST, CLUSTER, "c-uni", "watch", "first")
    db.expunge_all()
    monkeypatch.setattr(service, "override_of", lambda *_args: None)  # both requests read "no override" first
    with pytest.raises(ServiceError) as exc:
        service.set_override(db, ANALYST_2, CLUSTER, "c-uni", "throttle", "second")
    assert exc.value.status == 409
    assert exc.value.detail == "cluster 'c-uni' was overridden by another request meanwhile; reload and try again"
    monkeypatch.undo()
    assert overrides(db) == [(CLUSTER, "c-uni", "watch", "analyst-user", "first")] and len(audit(db)) == 1
