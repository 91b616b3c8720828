"""The case workflow at the service level (api/cases/service.py): opening (and what it refuses), assignment,
comments, per-account decisions, status transitions and what each writes (case, decisions, detection statuses,
audit events, enforcement outbox). On a copy of the seeded database (``db``): no app, no broker.

Decisions belong to their case (the fix of issue 2): a case only writes and clears its own rows, so an analyst's
later case never erases a lead's confirmed decision on the same account; :mod:`labels` says which one counts."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from distillguard.api.audit.models import AuditEvent
from distillguard.api.auth.service import Principal
from distillguard.api.cases import service
from distillguard.api.cases.labels import Effective, effective_decisions
from distillguard.api.cases.models import AccountDecision, Case, CaseComment
from distillguard.api.detections.models import AccountRow, ClusterRow
from distillguard.api.detections.service import current_epoch
from distillguard.api.enforcement.models import OutboxEvent
from distillguard.api.errors import InconsistentRecordError, ServiceError
from distillguard.api.settings import get_api_settings
from tests.api.review_world import (
    ADMIN,
    ANALYST,
    ANALYST_2,
    HYDRA,
    HYDRA_2,
    LEAD,
    RESELLERS,
    UNI,
    VIEWER,
    audit,
    case_decisions,
    put_case,
    put_decision,
)

NOW = datetime(2026, 3, 12, 15, 30, tzinfo=UTC)
C, D = "confirmed_attack", "dismissed"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The service's clock, fixed at NOW; append to move it on."""
    times = [NOW]
    monkeypatch.setattr(service, "utcnow", lambda: times[-1])
    return times


def key(case_id: int, account_id: str) -> str:
    """The documented idempotency key: the first 40 hex digits of the SHA-256 of ``case:account:suspend``."""
    return hashlib.sha256(f"{case_id}:{account_id}:suspend".encode()).hexdigest()[:40]


def statuses(session: Session, ids: list[str]) -> set[str]:
    return set(session.scalars(select(AccountRow.status).where(AccountRow.account_id.in_(ids))))


def cluster_status(session: Session, cluster_id: str) -> str:
    return session.scalar(select(ClusterRow.status).where(ClusterRow.cluster_id == cluster_id))


def outbox(session: Session) -> list[OutboxEvent]:
    return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.account_id)))


def raises(status: int, call, *args, **kwargs) -> str:
    """The detail of the ServiceError ``call`` raises, which must carry ``status``."""
    with pytest.raises(ServiceError) as err:
        call(*args, **kwargs)
    assert err.value.status == status, err.value.detail
    return err.value.detail


def reviewed(session: Session, subject: str, kind: str = "cluster", who: Principal = ANALYST) -> Case:
    case = service.open_case(session, who, kind, subject, "triage")
    service.transition(session, who, case, "in_review", None)
    return case


# --- reading ---------------------------------------------------------------------------------------------------


def test_get_case_finds_a_case_or_answers_404(db: Session) -> None:
    case = put_case(db, "acct-s000", "open")
    assert service.get_case(db, case.id) is case
    assert raises(404, service.get_case, db, case.id + 1) == f"no case {case.id + 1}"


def test_list_cases_filters_and_pages_newest_first(db: Session) -> None:
    a = put_case(db, "acct-s000", "open", assignee="analyst-user")
    b = put_case(db, "c-uni", "open", "cluster")
    c = put_case(db, "acct-s001", "dismissed", assignee="analyst-user")
    d = put_case(db, "c-corp", "in_review", "cluster", assignee="lead-user")
    ids = lambda cases: [x.id for x in cases]  # noqa: E731
    assert ids(service.list_cases(db)) == [d.id, c.id, b.id, a.id]
    assert ids(service.list_cases(db, status="open")) == [b.id, a.id]
    assert ids(service.list_cases(db, assignee="analyst-user")) == [c.id, a.id]
    assert ids(service.list_cases(db, subject_type="cluster")) == [d.id, b.id]
    assert ids(service.list_cases(db, status="open", subject_type="account")) == [a.id]
    assert ids(service.list_cases(db, after=c.id)) == [b.id, a.id]
    assert ids(service.list_cases(db, after=a.id)) == []
    assert ids(service.list_cases(db, limit=2)) == [d.id, c.id]
    assert ids(service.list_cases(db, after=d.id, limit=1)) == [c.id]


def test_a_page_of_cases_holds_50_by_default(db: Session) -> None:
    db.add_all(Case(subject_type="account", subject_id=f"a-{i}", status="open", created_by="x") for i in range(52))
    db.flush()
    assert [c.subject_id for c in service.list_cases(db)] == [f"a-{i}" for i in range(51, 1, -1)]


def test_a_case_covers_what_it_decided_its_account_and_its_clusters_accounts(db: Session) -> None:
    assert service.covering_cases(db, ["acct-k001", "acct-s000"]) == {}
    cluster = put_case(db, "c-hydra-2", "open", "cluster")
    single = put_case(db, "acct-s000", "open")
    decider = put_case(db, "acct-s005", "dismissed")
    put_decision(db, decider, "acct-u003", D, "analyst")
    other = put_case(db, "c-corp", "open", "cluster")
    got = service.covering_cases(db, ["acct-k001", "acct-s000", "acct-u003", "acct-x"])
    assert {cid: (case.id, acc) for cid, (case, acc) in got.items()} == {
        cluster.id: (cluster.id, "acct-k001"),
        single.id: (single.id, "acct-s000"),
        decider.id: (decider.id, "acct-u003"),
    }
    assert other.id not in got
    assert service.covering_cases(db, ["acct-s005"]) == {decider.id: (decider, "acct-s005")}


def test_covering_cases_looks_every_chunk_up(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "CHUNK", 1)
    single = put_case(db, "acct-s002", "open")
    cluster = put_case(db, "c-uni", "open", "cluster")
    decider = put_case(db, "acct-s003", "open")
    put_decision(db, decider, "acct-s004", D, "analyst")
    got = service.covering_cases(db, ["acct-x", "acct-s002", "acct-u007", "acct-s004"])
    assert {cid: acc for cid, (_case, acc) in got.items()} == {
        single.id: "acct-s002",
        cluster.id: "acct-u007",
        decider.id: "acct-s004",
    }


def test_a_case_covering_by_decision_and_by_subject_names_the_decided_account(db: Session) -> None:
    cluster = put_case(db, "c-hydra-2", "open", "cluster")
    put_decision(db, cluster, "acct-k004", D, "analyst")
    got = service.covering_cases(db, ["acct-k001", "acct-k004"])
    assert {cid: acc for cid, (_case, acc) in got.items()} == {cluster.id: "acct-k004"}


# --- opening ---------------------------------------------------------------------------------------------------


def test_opening_a_cluster_case_marks_the_cluster_and_its_accounts_open(db: Session, clock) -> None:
    epoch = current_epoch(db)
    case = service.open_case(db, ANALYST, "cluster", "c-hydra-2", "triage", assignee="analyst-2")
    db.expire_all()
    got = db.get(Case, case.id)
    assert (got.subject_type, got.subject_id, got.status, got.created_by, got.assignee) == (
        "cluster",
        "c-hydra-2",
        "open",
        "analyst-user",
        "analyst-2",
    )
    assert (got.decided_by, got.decided_at, got.decision_reason) == (None, None, None)
    assert cluster_status(db, "c-hydra-2") == "open" and statuses(db, HYDRA_2) == {"open"}
    for other in ("c-hydra", "c-uni", "c-corp"):  # ids before and after c-hydra-2
        assert cluster_status(db, other) == "new"
    assert statuses(db, HYDRA + UNI) == {"new"}
    assert current_epoch(db) == epoch + 1
    assert audit(db, case.id) == [
        (
            "analyst-user",
            "case.open",
            "triage",
            {"subject_type": "cluster", "subject_id": "c-hydra-2", "assignee": "analyst-2"},
        )
    ]
    token = db.scalar(
        select(AuditEvent.token_id).where(AuditEvent.entity_type == "case", AuditEvent.entity_id == str(case.id))
    )
    assert token == ANALYST.token_id


def test_opening_an_account_case_marks_only_that_account(db: Session) -> None:
    case = service.open_case(db, ANALYST, "account", "acct-k003", None)
    db.expire_all()
    assert statuses(db, ["acct-k003"]) == {"open"}
    assert statuses(db, [a for a in HYDRA_2 if a != "acct-k003"]) == {"new"}
    assert cluster_status(db, "c-hydra-2") == "new"
    assert audit(db, case.id) == [
        ("analyst-user", "case.open", None, {"subject_type": "account", "subject_id": "acct-k003", "assignee": None})
    ]
    assert service._account_ids(db, case) == ["acct-k003"]


def test_opening_is_refused_for_unknown_subjects_and_a_second_case(db: Session) -> None:
    assert raises(422, service.open_case, db, ANALYST, "org", "o-1", None) == (
        "subject_type must be 'cluster' or 'account', not 'org'"
    )
    for kind in ("Account", "", "accounts", "CLUSTER"):  # the kinds are exact (some sort before 'account')
        detail = raises(422, service.open_case, db, ANALYST, kind, "acct-s000", None)
        assert detail == f"subject_type must be 'cluster' or 'account', not {kind!r}"
    assert raises(404, service.open_case, db, ANALYST, "cluster", "c-none", None) == "no cluster 'c-none'"
    assert raises(404, service.open_case, db, ANALYST, "account", "acct-none", None) == "no account 'acct-none'"
    first = service.open_case(db, ANALYST, "cluster", "c-uni", None)
    service.transition(db, ANALYST, first, "in_review", None)
    assert raises(409, service.open_case, db, LEAD, "cluster", "c-uni", None) == (
        f"cluster 'c-uni' already has case {first.id} (in_review)"
    )
    assert db.scalar(select(Case.id).order_by(Case.id.desc())) == first.id


def test_opening_over_accounts_of_a_final_or_someone_elses_case_is_refused(db: Session) -> None:
    theirs = service.open_case(db, ANALYST_2, "cluster", "c-uni", None, assignee="analyst-2")
    detail = raises(403, service.open_case, db, ANALYST, "account", "acct-u004", None)
    assert f"belongs to case {theirs.id}, assigned to 'analyst-2'" in detail
    mine = service.open_case(db, ANALYST_2, "account", "acct-u004", None)  # the assignee may
    assert mine.subject_id == "acct-u004"
    confirmed = reviewed(db, "c-hydra-2")
    service.transition(db, LEAD, confirmed, C, "hydra")
    detail = raises(409, service.open_case, db, ADMIN, "account", "acct-k003", None)
    assert f"belongs to case {confirmed.id}, which is final" in detail
    assert raises(422, service.open_case, db, ANALYST, "account", "acct-s000", None, assignee="viewer-user")
    assert db.scalar(select(Case).where(Case.subject_id.in_(["acct-k003", "acct-s000"]))) is None
    assert statuses(db, ["acct-s000", "acct-k003"]) == {"new", C}


# --- assignment and comments ----------------------------------------------------------------------------------


def test_assigning_records_before_and_after(db: Session, clock) -> None:
    case = service.open_case(db, ANALYST, "account", "acct-s000", None)
    assert service.assign(db, ANALYST, case, "analyst-2", "on shift") is case
    assert case.assignee == "analyst-2" and case.updated_at == NOW
    service.assign(db, LEAD, case, None, "back to the pool")
    assert case.assignee is None
    assert raises(422, service.assign, db, LEAD, case, "gone-user", None)
    assert audit(db, case.id)[1:] == [
        ("analyst-user", "case.assign", "on shift", {"before": None, "after": "analyst-2"}),
        ("lead-user", "case.assign", "back to the pool", {"before": "analyst-2", "after": None}),
    ]


def test_a_comment_is_stored_and_audited(db: Session, clock) -> None:
    case = service.open_case(db, ANALYST, "account", "acct-s000", None)
    c = service.comment(db, VIEWER, case, "looks like a class")
    stored = db.scalars(select(CaseComment).where(CaseComment.case_id == case.id)).all()
    assert [(x.id, x.author, x.body) for x in stored] == [(c.id, "viewer-user", "looks like a class")]
    assert case.updated_at == NOW
    assert audit(db, case.id)[-1] == (
        "viewer-user",
        "case.comment",
        None,
        {"comment_id": c.id, "body": "looks like a class"},
    )


# --- per-account decisions -------------------------------------------------------------------------------------


def test_deciding_some_accounts_writes_this_cases_rows(db: Session, clock) -> None:
    db.execute(update(AccountRow).where(AccountRow.account_id == "acct-r001").values(model_version="m-old"))
    case = reviewed(db, "c-hydra")
    n = service.decide_accounts(db, ANALYST, case, ["acct-r001", "acct-r000", "acct-r001"], D, "resellers")
    assert n == 2
    rows = {d.account_id: d for d in service.decisions(db, case)}
    assert list(rows) == ["acct-r000", "acct-r001"]
    r = rows["acct-r001"]
    assert (r.case_id, r.decision, r.decided_by, r.decided_role, r.decided_at, r.reason, r.model_version) == (
        case.id,
        D,
        "analyst-user",
        "analyst",
        NOW,
        "resellers",
        "m-old",
    )
    assert rows["acct-r000"].model_version == "m-2026.03"
    assert case.updated_at == NOW and case.status == "in_review"
    assert audit(db, case.id)[-1] == (
        "analyst-user",
        "case.decide_accounts",
        "resellers",
        {"decision": D, "accounts": ["acct-r000", "acct-r001"], "count": 2},
    )


def test_deciding_again_changes_only_what_differs(db: Session, clock) -> None:
    case = reviewed(db, "c-hydra-2")
    assert service.decide_accounts(db, ANALYST, case, HYDRA_2[:3], D, None) == 3
    clock.append(NOW + timedelta(hours=1))
    assert service.decide_accounts(db, LEAD, case, HYDRA_2[:3], D, "same") == 0
    assert service.decide_accounts(db, LEAD, case, HYDRA_2[1:4], C, "changed my mind") == 3
    assert service.decide_accounts(db, LEAD, case, HYDRA_2[3:5], D, "not that one") == 2
    assert case_decisions(db, case) == {
        "acct-k000": (D, "analyst"),
        "acct-k001": (C, "lead"),
        "acct-k002": (C, "lead"),
        "acct-k003": (D, "lead"),
        "acct-k004": (D, "lead"),
    }
    assert db.get(AccountDecision, (case.id, "acct-k000")).decided_at == NOW
    assert db.get(AccountDecision, (case.id, "acct-k001")).decided_at == NOW + timedelta(hours=1)
    assert [e[3] for e in audit(db, case.id)[-4:]] == [
        {"decision": D, "accounts": HYDRA_2[:3], "count": 3},
        {"decision": D, "accounts": [], "count": 0},
        {"decision": C, "accounts": HYDRA_2[1:4], "count": 3},
        {"decision": D, "accounts": HYDRA_2[3:5], "count": 2},
    ]


def test_deciding_all_accounts_of_a_case(db: Session) -> None:
    case = reviewed(db, "c-uni")
    assert service.decide_accounts(db, ANALYST, case, None, D, "a class") == 25
    assert case_decisions(db, case) == {a: (D, "analyst") for a in UNI}
    single = reviewed(db, "acct-s001", "account")
    assert service.decide_accounts(db, ANALYST, single, None, C, None) == 1
    assert case_decisions(db, single) == {"acct-s001": (C, "analyst")}


def test_deciding_is_refused_for_other_decisions_other_accounts_and_final_cases(db: Session) -> None:
    case = reviewed(db, "c-hydra-2")
    assert raises(422, service.decide_accounts, db, ANALYST, case, None, "escalated", None) == (
        "decision must be one of confirmed_attack, dismissed, not 'escalated'"
    )
    outside = [f"acct-u{i:03d}" for i in range(12, 0, -1)]
    assert raises(422, service.decide_accounts, db, ANALYST, case, ["acct-k001", *outside], D, None) == (
        f"not accounts of case {case.id}: " + ", ".join(repr(f"acct-u{i:03d}") for i in range(1, 11))
    )
    service.transition(db, ANALYST, case, D, "no")
    assert raises(409, service.decide_accounts, db, ANALYST, case, None, C, None) == (
        f"case {case.id} is already dismissed; reopen it before changing decisions"
    )
    assert case_decisions(db, case) == {a: (D, "analyst") for a in HYDRA_2}


# --- transitions -----------------------------------------------------------------------------------------------

ROLE_BELOW = {"analyst": "viewer", "lead": "analyst"}
MOVES = {  # the workflow: from -> {to: the role it needs}
    "open": {"in_review": "analyst", "escalated": "analyst"},
    "in_review": {"confirmed_attack": "lead", "dismissed": "analyst", "escalated": "analyst"},
    "escalated": {"confirmed_attack": "lead", "dismissed": "lead", "in_review": "lead"},
    "dismissed": {"in_review": "lead"},
    "confirmed_attack": {},
}
PAIRS = [(a, b) for a in MOVES for b in MOVES]


@pytest.mark.parametrize(("start", "to"), PAIRS)
def test_the_workflow_allows_each_move_to_its_role(db: Session, start: str, to: str) -> None:
    case = put_case(db, "acct-s000", start, decided_at=NOW if start in (C, D) else None)
    db.commit()
    db.expire_all()  # the status read back: a string of its own, equal to ``to`` but not the same object
    if start == to and to in (C, D):
        assert service.transition(db, VIEWER, case, to, None) == (case, False)  # a repeat: a no-op
        assert audit(db, case.id) == []
    elif to not in MOVES[start]:
        moves = ", ".join(MOVES[start]) or "none (final)"
        assert raises(409, service.transition, db, ADMIN, case, to, "r") == (
            f"case {case.id} is {start}; it can move to: {moves}"
        )
    else:
        need = MOVES[start][to]
        below = Principal(f"{ROLE_BELOW[need]}-user", ROLE_BELOW[need], 7)
        assert raises(403, service.transition, db, below, case, to, "r") == (
            f"moving a case from {start} to {to} needs role {need!r} or above; token {below.name!r} is {below.role!r}"
        )
        who = Principal(f"{need}-user", need, 8)
        assert service.transition(db, who, case, to, "r") == (case, True)
        assert case.status == to and statuses(db, ["acct-s000"]) == {to}
        assert [a[:3] for a in audit(db, case.id)] == [(who.name, "case.transition", "r")]
    assert db.get(Case, case.id).status == (to if to in MOVES[start] else start)


@pytest.mark.parametrize("to", [C, D])
@pytest.mark.parametrize("reason", [None, ""])
def test_a_final_move_needs_a_reason(db: Session, to: str, reason: str | None) -> None:
    case = reviewed(db, "acct-s000", "account")
    assert raises(422, service.transition, db, LEAD, case, to, reason) == f"a reason is required to mark a case {to}"
    assert case.status == "in_review" and case_decisions(db, case) == {}


def test_moves_that_decide_nothing_need_no_reason_and_write_no_decisions(db: Session, clock) -> None:
    case = service.open_case(db, ANALYST, "cluster", "c-uni", None)
    service.transition(db, ANALYST, case, "escalated", None)
    service.transition(db, LEAD, case, "in_review", "")
    assert case.status == "in_review" and case_decisions(db, case) == {}
    assert (case.decided_by, case.decided_at, case.decision_reason) == (None, None, None)
    assert cluster_status(db, "c-uni") == "in_review" and statuses(db, UNI) == {"in_review"}
    assert [a[3] for a in audit(db, case.id)[1:]] == [
        {"before": "open", "after": "escalated"},
        {"before": "escalated", "after": "in_review"},
    ]
    assert case.updated_at == NOW and db.scalars(select(OutboxEvent)).all() == []


def test_dismissing_decides_every_account_not_yet_decided(db: Session, clock) -> None:
    case = reviewed(db, "c-hydra")
    service.decide_accounts(db, ANALYST, case, ["acct-h005"], C, "this one is bad")
    clock.append(NOW + timedelta(hours=2))
    assert service.transition(db, ANALYST, case, D, "resold access") == (case, True)
    assert (case.status, case.decided_by, case.decided_at, case.decision_reason) == (
        D,
        "analyst-user",
        NOW + timedelta(hours=2),
        "resold access",
    )
    decided = case_decisions(db, case)
    assert decided.pop("acct-h005") == (C, "analyst")  # kept: the case's own earlier decision
    assert decided == {a: (D, "analyst") for a in [*HYDRA, *RESELLERS] if a != "acct-h005"}
    assert cluster_status(db, "c-hydra") == D and statuses(db, [*HYDRA, *RESELLERS]) == {D}
    assert audit(db, case.id)[-1] == (
        "analyst-user",
        "case.transition",
        "resold access",
        {"before": "in_review", "after": D, "decided_accounts": 41},
    )
    assert outbox(db) == []  # a dismissal enforces nothing


def test_confirming_queues_one_suspension_per_confirmed_account(db: Session, clock) -> None:
    db.execute(update(AccountRow).where(AccountRow.account_id == "acct-k002").values(model_version="m-old"))
    case = reviewed(db, "c-hydra-2")
    service.decide_accounts(db, ANALYST, case, ["acct-k009"], D, "a customer")
    assert service.transition(db, LEAD, case, C, "pivot to a new model") == (case, True)
    confirmed = HYDRA_2[:9]
    rows = outbox(db)
    assert [(r.account_id, r.case_id, r.idempotency_key, r.attempts, r.sent_at) for r in rows] == [
        (a, case.id, key(case.id, a), 0, None) for a in confirmed
    ]
    assert rows[2].payload == {
        "idempotency_key": key(case.id, "acct-k002"),
        "action": "suspend",
        "account_id": "acct-k002",
        "case_id": case.id,
        "cluster_id": "c-hydra-2",
        "decided_by": "lead-user",
        "decided_at": NOW.isoformat(),
        "reason": "pivot to a new model",
        "model_version": "m-old",
    }
    assert rows[0].payload["model_version"] == "m-2026.03"
    assert audit(db, case.id)[-1] == (
        "lead-user",
        "case.transition",
        "pivot to a new model",
        {"before": "in_review", "after": C, "decided_accounts": 9, "enforcement_events": 9},
    )
    assert case_decisions(db, case) == {**{a: (C, "lead") for a in confirmed}, "acct-k009": (D, "analyst")}
    assert statuses(db, HYDRA_2) == {C} and cluster_status(db, "c-hydra-2") == C
    # a retried confirmation is a no-op: no second event, no audit event
    assert service.transition(db, LEAD, case, C, "again") == (case, False)
    assert len(outbox(db)) == 9 and len(audit(db, case.id)) == 4


def test_confirming_an_account_case_names_no_cluster(db: Session, clock) -> None:
    case = reviewed(db, "acct-s003", "account")
    service.transition(db, ADMIN, case, C, "abuse")
    (row,) = outbox(db)
    assert row.payload["cluster_id"] is None and row.payload["account_id"] == "acct-s003"
    assert row.payload["decided_by"] == "admin-user" and row.idempotency_key == key(case.id, "acct-s003")


def test_reopening_a_dismissed_case_clears_its_own_decisions_only(db: Session, clock) -> None:
    earlier = put_case(db, "acct-s001", D, decided_at=NOW)  # an older case (a lower id), elsewhere
    put_decision(db, earlier, "acct-s001", D, "analyst")
    case = reviewed(db, "c-hydra-2")
    other = put_case(db, "acct-s000", D, decided_at=NOW)  # a newer one (a higher id), on an account of the cluster
    put_decision(db, other, "acct-k001", D, "analyst")
    service.transition(db, ANALYST, case, D, "students")
    clock.append(NOW + timedelta(days=1))
    assert service.transition(db, LEAD, case, "in_review", "look again") == (case, True)
    assert case_decisions(db, case) == {}
    assert case_decisions(db, other) == {"acct-k001": (D, "analyst")}
    assert case_decisions(db, earlier) == {"acct-s001": (D, "analyst")}
    assert (case.decided_by, case.decided_at, case.decision_reason) == (None, None, None)
    assert audit(db, case.id)[-1] == (
        "lead-user",
        "case.transition",
        "look again",
        {"before": D, "after": "in_review", "decisions_cleared": 10},
    )
    assert statuses(db, HYDRA_2) == {"in_review"}
    # decided again from scratch
    service.transition(db, LEAD, case, C, "it was a hydra")
    assert case_decisions(db, case) == {a: (C, "lead") for a in HYDRA_2}
    assert (case.decided_by, case.decided_at) == ("lead-user", NOW + timedelta(days=1))


def test_reopening_an_escalated_case_keeps_its_decisions(db: Session) -> None:
    case = reviewed(db, "c-hydra-2")
    service.decide_accounts(db, ANALYST, case, ["acct-k000"], D, None)
    service.transition(db, ANALYST, case, "escalated", None)
    service.transition(db, LEAD, case, "in_review", None)
    assert case_decisions(db, case) == {"acct-k000": (D, "analyst")}
    assert audit(db, case.id)[-1][3] == {"before": "escalated", "after": "in_review"}


# --- the security fix of issue 2: a lead's confirmed decision stands ----------------------------------------------


def test_an_analysts_later_case_cannot_erase_a_leads_confirmed_decision(db: Session, clock) -> None:
    single = service.open_case(db, ANALYST, "account", "acct-k001", None)  # open, unassigned: overlap allowed
    cluster = reviewed(db, "c-hydra-2", who=ANALYST_2)
    service.transition(db, LEAD, cluster, C, "hydra")
    service.transition(db, ANALYST, single, "in_review", None)
    clock.append(NOW + timedelta(hours=3))
    service.decide_accounts(db, ANALYST, single, None, D, "my customer")
    service.transition(db, ANALYST, single, D, "my customer")  # later, by an analyst, in another case
    assert case_decisions(db, cluster)["acct-k001"] == (C, "lead")  # not erased
    assert case_decisions(db, single) == {"acct-k001": (D, "analyst")}
    assert effective_decisions(db, ["acct-k001"]) == {"acct-k001": Effective("acct-k001", C, cluster.id, (single.id,))}
    assert service.decisions_as_labels(db)["acct-k001"] is True
    assert len(outbox(db)) == 10  # the suspension stands, none withdrawn
    # and no new case can be opened on the confirmed accounts, not even by an admin
    assert raises(409, service.open_case, db, ADMIN, "account", "acct-k002", None)
    # reopening the analyst's case clears only its own rows
    service.transition(db, LEAD, single, "in_review", "again")
    assert case_decisions(db, single) == {} and case_decisions(db, cluster)["acct-k001"] == (C, "lead")


def test_an_analysts_newer_case_cannot_overwrite_a_leads_decision_in_an_older_case(db: Session, clock) -> None:
    cluster = reviewed(db, "c-hydra-2")
    service.decide_accounts(db, LEAD, cluster, ["acct-k001"], C, "the lead's call")
    single = reviewed(db, "acct-k001", "account")  # newer (a higher id); allowed: the cluster case is not final
    clock.append(NOW + timedelta(hours=1))
    assert service.decide_accounts(db, ANALYST, single, None, D, "mine") == 1
    assert case_decisions(db, cluster) == {"acct-k001": (C, "lead")}
    assert case_decisions(db, single) == {"acct-k001": (D, "analyst")}
    service.transition(db, LEAD, cluster, C, "hydra")
    assert service.decisions_as_labels(db)["acct-k001"] is True
    assert "acct-k001" in [r.account_id for r in outbox(db)]


def test_an_account_an_admin_dismissed_elsewhere_is_not_suspended(db: Session, clock) -> None:
    case = reviewed(db, "c-hydra-2")
    other = put_case(db, "acct-s000", D, decided_at=NOW)
    put_decision(db, other, "acct-k004", D, "admin")
    put_decision(db, other, "acct-k005", D, "analyst")
    later = put_case(db, "acct-s001", C, decided_at=NOW)  # a later confirmed case: its accounts are not this one's
    put_decision(db, later, "acct-s001", C, "lead")
    service.transition(db, LEAD, case, C, "hydra")
    assert [r.account_id for r in outbox(db)] == [a for a in HYDRA_2 if a != "acct-k004"]
    assert audit(db, case.id)[-1][3]["enforcement_events"] == 9
    assert case_decisions(db, case)["acct-k004"] == (C, "lead")


def test_confirming_suspends_only_what_this_case_confirmed(db: Session, clock) -> None:
    earlier = put_case(db, "acct-s002", C, decided_at=NOW)  # an older confirmed case (a lower id), elsewhere
    put_decision(db, earlier, "acct-s002", C, "lead")
    case = reviewed(db, "c-hydra-2")
    service.decide_accounts(db, ANALYST, case, ["acct-k006"], D, "a customer")
    other = put_case(db, "acct-s000", C, decided_at=NOW)  # an admin confirmed acct-k006 in another case
    put_decision(db, other, "acct-k006", C, "admin")
    service.transition(db, LEAD, case, C, "hydra")
    assert [r.account_id for r in outbox(db)] == [a for a in HYDRA_2 if a != "acct-k006"]
    assert {r.case_id for r in outbox(db)} == {case.id}


def test_cluster_and_account_ids_are_separate_namespaces(db: Session) -> None:
    # c-uni renamed "acct-s000", the id of an account that is not one of its members
    db.execute(update(ClusterRow).where(ClusterRow.cluster_id == "c-uni").values(cluster_id="acct-s000"))
    db.execute(update(AccountRow).where(AccountRow.cluster_id == "c-uni").values(cluster_id="acct-s000"))
    db.commit()
    account = service.open_case(db, ANALYST, "account", "acct-s000", None)
    cluster = service.open_case(db, ANALYST_2, "cluster", "acct-s000", None, assignee="analyst-2")  # not the same
    assert service._account_ids(db, cluster) == UNI and service._account_ids(db, account) == ["acct-s000"]
    assert service.covering_cases(db, ["acct-s000"]) == {account.id: (account, "acct-s000")}
    assert service.covering_cases(db, ["acct-u003"]) == {cluster.id: (cluster, "acct-u003")}
    service.transition(db, ANALYST, account, "in_review", None)
    assert cluster_status(db, "acct-s000") == "open" and statuses(db, UNI) == {"open"}
    assert statuses(db, ["acct-s000"]) == {"in_review"}
    service.transition(db, ANALYST_2, cluster, "escalated", None)
    assert cluster_status(db, "acct-s000") == "escalated" and statuses(db, UNI) == {"escalated"}
    assert statuses(db, ["acct-s000"]) == {"in_review"}


def test_a_cluster_case_does_not_block_an_account_case_of_the_same_id(db: Session) -> None:
    db.execute(update(ClusterRow).where(ClusterRow.cluster_id == "c-corp").values(cluster_id="acct-s001"))
    db.commit()
    cluster = service.open_case(db, ANALYST, "cluster", "acct-s001", None)
    account = service.open_case(db, ANALYST, "account", "acct-s001", None)
    assert (cluster.subject_type, account.subject_type) == ("cluster", "account")


def test_cases_on_different_subjects_of_a_kind_do_not_clash(db: Session) -> None:
    for kind, subjects in (("account", ["acct-s001", "acct-s002", "acct-s000"]), ("cluster", ["c-hydra", "c-uni"])):
        opened = [service.open_case(db, ANALYST, kind, s, None).subject_id for s in subjects]
        assert opened == subjects


def test_enforcement_events_need_the_decision_time(db: Session) -> None:
    case = put_case(db, "acct-s000", C)
    with pytest.raises(InconsistentRecordError, match=f"case {case.id} is confirmed_attack but has no decision time"):
        service._enforcement_events(db, LEAD, case)
    case.decided_at = NOW
    assert service._enforcement_events(db, LEAD, case) == []


def test_decisions_come_in_account_order(db: Session) -> None:
    earlier = put_case(db, "acct-s001", "in_review")
    put_decision(db, earlier, "acct-s001", D, "analyst")
    case = put_case(db, "c-uni", "in_review", "cluster")
    for acc in ("acct-u009", "acct-u001", "acct-u005"):
        put_decision(db, case, acc, D, "analyst")
    other = put_case(db, "acct-u000", "in_review")
    put_decision(db, other, "acct-u000", D, "analyst")
    assert [d.account_id for d in service.decisions(db, case)] == ["acct-u001", "acct-u005", "acct-u009"]


def test_decision_labels_read_the_configured_database(
    db: Session, monkeypatch: pytest.MonkeyPatch, seeded_template
) -> None:
    final = put_case(db, "acct-s000", D, decided_at=NOW)
    put_decision(db, final, "acct-s000", D, "analyst")
    put_decision(db, final, "acct-k000", C, "lead")
    db.commit()
    url = str(db.get_bind().url)
    monkeypatch.setenv("DATABASE_URL", url)
    get_api_settings.cache_clear()
    try:
        assert service.decision_labels() == {"acct-s000": False, "acct-k000": True}
    finally:
        get_api_settings.cache_clear()
