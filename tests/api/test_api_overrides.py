"""Overrides through the API (``PUT``/``DELETE /api/v1/accounts|clusters/{id}/override``): given this request, this
response; the queue and the evidence show the recommended and the applied action; the enforcement topic gets one
event per change however often a request is retried; migration 0008 up and down. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from alembic import command
from httpx import Response
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from distillguard.api.database import alembic_config, engine_for, session_scope
from distillguard.api.detections.service import upsert_detections
from distillguard.api.overrides import service
from distillguard.detector.records import SubjectKind
from tests.api import seed
from tests.api.conftest import Api, new_database
from tests.api.state import snapshot
from tests.api.test_api_enforcement import _topic

pytestmark = pytest.mark.broker
NOW = datetime(2026, 3, 12, 15, 30, tzinfo=UTC)
BASIS = [
    "probability of attack 0.93 (at least 0.90 for review) with 2 independent kinds of evidence (at least 1)",
    "payment: the 42 accounts of cluster c-hydra share 2 payment instruments",
]
RECOMMENDED = {  # acct-h000 as the detector recommends it (the fixture below)
    "probability": 0.93,
    "action": "review",
    "action_basis": BASIS,
    "reached_at": {"watch": "2026-03-02T08:30:00Z", "review": "2026-03-02T10:00:00Z"},
}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The overrides' clock, fixed at NOW."""
    monkeypatch.setattr(service, "utcnow", lambda: NOW)


def _recommend(api: Api) -> None:
    """acct-h000 at review, as the detector would write it."""
    verdict = next(v for v in seed.build()[0] if v.account_id == "acct-h000")
    t0 = seed.T0
    recommended = msgspec.structs.replace(
        verdict,
        probability=0.93,
        action="review",
        action_basis=BASIS,
        reached_at={"watch": t0 + timedelta(minutes=30), "review": t0 + timedelta(hours=2)},
    )
    with session_scope(api.url) as s:
        upsert_detections(s, [recommended], [])


@pytest.fixture
def reviewed(api: Api, clock) -> Api:
    _recommend(api)
    return api


@pytest.fixture
def sqlite_reviewed(sqlite_api: Api, clock) -> Api:
    _recommend(sqlite_api)
    return sqlite_api


def _put(api: Api, role: str, path: str, body: dict) -> Response:
    return api.client.put(f"/api/v1/{path}/override", json=body, headers=api.h(role))


def _delete(api: Api, role: str, path: str) -> Response:
    return api.client.delete(f"/api/v1/{path}/override", headers=api.h(role))


def test_set_replace_and_clear_an_account_override(reviewed: Api) -> None:
    api = reviewed
    throttle = {"action": "throttle", "reason": "paying customer behind a proxy"}
    r = _put(api, "analyst", "accounts/acct-h000", throttle)
    by_analyst = {
        "action": "throttle",
        "recommended": "review",
        "reason": "paying customer behind a proxy",
        "by": "analyst-user",
        "role": "analyst",
        "at": "2026-03-12T15:30:00Z",
        "model_version": "m-2026.03",
    }
    state = RECOMMENDED | {"kind": "account", "id": "acct-h000"}
    assert r.status_code == 200, r.text
    assert r.json() == state | {"applied_action": "throttle", "override": by_analyst, "changed": True}
    again = _put(api, "analyst", "accounts/acct-h000", throttle)  # a retry
    assert again.json() == state | {"applied_action": "throttle", "override": by_analyst, "changed": False}

    r = _put(api, "lead", "accounts/acct-h000", {"action": "suspend", "reason": "the card of 39 accounts"})
    by_lead = by_analyst | {"action": "suspend", "reason": "the card of 39 accounts", "by": "lead-user", "role": "lead"}
    assert r.json() == state | {"applied_action": "suspend", "override": by_lead, "changed": True}
    r = _delete(api, "analyst", "accounts/acct-h000")
    assert r.status_code == 403 and r.json() == {
        "detail": "account 'acct-h000' is overridden to suspend by 'lead-user': changing or clearing that needs "
        "role 'lead' or above; token 'analyst-user' is 'analyst'"
    }
    r = _delete(api, "lead", "accounts/acct-h000")
    assert r.json() == state | {"applied_action": "review", "override": None, "changed": True}
    assert _delete(api, "lead", "accounts/acct-h000").json()["changed"] is False

    audit = api.client.get(
        "/api/v1/audit", params={"entity_type": "account", "entity_id": "acct-h000"}, headers=api.h("viewer")
    ).json()
    assert [(e["actor"], e["action"], e["reason"], e["details"]["before"], e["details"]["after"]) for e in audit] == [
        ("analyst-user", "override.set", "paying customer behind a proxy", None, by_analyst | {"at": NOW.isoformat()}),
        (
            "lead-user",
            "override.set",
            "the card of 39 accounts",
            by_analyst | {"at": NOW.isoformat()},
            by_lead | {"at": NOW.isoformat()},
        ),
        ("lead-user", "override.clear", None, by_lead | {"at": NOW.isoformat()}, None),
    ]


REFUSALS = [
    (
        "viewer",
        "PUT",
        "accounts/acct-h000",
        {"action": "watch", "reason": "x"},
        403,
        "overriding the recommended action ('lead' for suspend and takedown) needs role 'analyst' or above; "
        "token 'viewer-user' is 'viewer'",
    ),
    (
        "viewer",
        "DELETE",
        "clusters/c-hydra",
        None,
        403,
        "overriding the recommended action ('lead' for suspend and takedown) needs role 'analyst' or above; "
        "token 'viewer-user' is 'viewer'",
    ),
    (
        "analyst",
        "PUT",
        "clusters/c-hydra",
        {"action": "takedown", "reason": "x"},
        403,
        "overriding to takedown (a lead confirms suspend and takedown) needs role 'lead' or above; "
        "token 'analyst-user' is 'analyst'",
    ),
    (
        "lead",
        "PUT",
        "accounts/acct-h000",
        {"action": "takedown", "reason": "x"},
        422,
        "invalid request: action: takedown is for clusters only; accounts can be overridden to none, watch, "
        "challenge, throttle, review, suspend",
    ),
    ("lead", "PUT", "accounts/acct-nobody", {"action": "watch", "reason": "x"}, 404, "no account 'acct-nobody'"),
    ("lead", "DELETE", "clusters/c-nobody", None, 404, "no cluster 'c-nobody'"),
    (
        "analyst",
        "PUT",
        "accounts/acct-h000",
        {"action": "watch"},
        422,
        "invalid request: reason: Field required",
    ),
    (
        "analyst",
        "PUT",
        "accounts/acct-h000",
        {"action": "watch", "reason": ""},
        422,
        "invalid request: reason: String should have at least 1 character",
    ),
    (
        "analyst",
        "PUT",
        "accounts/acct-h000",
        {"action": "watch", "reason": "   "},
        422,
        "invalid request: reason: say why this rung rather than the recommended one",
    ),
    (
        "analyst",
        "PUT",
        "accounts/acct-h000",
        {"action": "watch", "reason": "x" * 2001},
        422,
        "invalid request: reason: String should have at most 2000 characters",
    ),
    (
        "analyst",
        "PUT",
        "accounts/acct-h000",
        {"action": "watch", "reason": "nul\x00"},
        422,
        "invalid request: reason: Value error, must not contain NUL (\\x00) characters",
    ),
    (
        "analyst",
        "PUT",
        "clusters/c-hydra",
        {"action": "ban", "reason": "x"},
        422,
        "invalid request: action: Input should be 'none', 'watch', 'challenge', 'throttle', 'review', 'suspend' or "
        "'takedown'",
    ),
    (
        "analyst",
        "PUT",
        "clusters/c-hydra",
        {"action": "watch", "reason": "x", "by": "lead-user"},
        422,
        "invalid request: by: Extra inputs are not permitted",
    ),
]


@pytest.mark.parametrize(("role", "method", "path", "body", "status", "detail"), REFUSALS)
def test_refusals_say_why_and_change_nothing(
    sqlite_reviewed: Api, role: str, method: str, path: str, body: dict | None, status: int, detail: str
) -> None:
    api = sqlite_reviewed
    before = snapshot(api.url)
    r = api.client.request(method, f"/api/v1/{path}/override", json=body, headers=api.h(role))
    assert (r.status_code, r.json()) == (status, {"detail": detail})
    assert snapshot(api.url) == before


def _item(api: Api, kind: str, subject: str) -> dict:
    page = api.client.get("/api/v1/detections", params={"kind": kind, "limit": 200}, headers=api.h("viewer")).json()
    return next(i for i in page["items"] if i[f"{kind}_id"] == subject)


def test_the_queue_and_the_evidence_show_the_recommended_and_the_applied_action(reviewed: Api) -> None:
    api = reviewed
    assert {k: _item(api, "account", "acct-h000")[k] for k in ("action", "applied_action", "override")} == {
        "action": "review",
        "applied_action": "review",
        "override": None,
    }
    assert _item(api, "cluster", "c-hydra")["applied_action"] == "none"  # both pages are cached now
    _put(api, "analyst", "accounts/acct-h000", {"action": "challenge", "reason": "step-up first"})
    _put(api, "lead", "clusters/c-hydra", {"action": "takedown", "reason": "cards, proxies, burst sign-ups"})
    account = _item(api, "account", "acct-h000")
    assert (account["action"], account["applied_action"], account["override"]["by"]) == (
        "review",
        "challenge",
        "analyst-user",
    )
    cluster = _item(api, "cluster", "c-hydra")
    assert (cluster["action"], cluster["applied_action"], cluster["override"]["reason"]) == (
        "none",
        "takedown",
        "cards, proxies, burst sign-ups",
    )
    detail = api.client.get("/api/v1/accounts/acct-h000", headers=api.h("viewer")).json()
    assert (detail["applied_action"], detail["cluster"]["applied_action"]) == ("challenge", "takedown")
    evidence = api.client.get("/api/v1/clusters/c-hydra", headers=api.h("viewer")).json()
    assert evidence["override"] == {
        "action": "takedown",
        "recommended": "none",
        "reason": "cards, proxies, burst sign-ups",
        "by": "lead-user",
        "role": "lead",
        "at": "2026-03-12T15:30:00Z",
        "model_version": "m-2026.03",
    }
    _delete(api, "lead", "clusters/c-hydra")
    assert _item(api, "cluster", "c-hydra")["override"] is None
    assert api.client.get("/api/v1/clusters/c-hydra", headers=api.h("viewer")).json()["applied_action"] == "none"


def test_each_change_reaches_the_topic_once_however_often_it_is_retried(reviewed: Api) -> None:
    api = reviewed
    for _ in range(3):
        r = _put(api, "lead", "clusters/c-hydra-2", {"action": "suspend", "reason": "pivot to a new model"})
        assert r.status_code == 200, r.text
    for _ in range(2):
        assert _delete(api, "lead", "clusters/c-hydra-2").status_code == 200
    assert api.client.get("/api/v1/enforcement/pending", headers=api.h("viewer")).json() == []
    audit_ids = [
        e["id"]
        for e in api.client.get(
            "/api/v1/audit", params={"entity_type": "cluster", "entity_id": "c-hydra-2"}, headers=api.h("viewer")
        ).json()
    ]
    msgs = _topic(api)
    assert len(audit_ids) == 2 and [(k, h) for k, _, h in msgs] == [
        ("c-hydra-2", service.idempotency_key(SubjectKind.cluster, "c-hydra-2", i)) for i in audit_ids
    ]
    common = {"source": "analyst", "kind": "cluster", "subject": "c-hydra-2", "recommended": "none"}
    common |= {"by": "lead-user", "role": "lead", "model_version": "m-2026.03", "at": NOW.isoformat()}
    assert [m for _, m, _ in msgs] == [
        common
        | {
            "idempotency_key": msgs[0][2],
            "event": "override_set",
            "action": "suspend",
            "previous": "none",
            "reason": "pivot to a new model",
            "audit_id": audit_ids[0],
        },
        common
        | {
            "idempotency_key": msgs[1][2],
            "event": "override_cleared",
            "action": "none",
            "previous": "suspend",
            "reason": None,
            "audit_id": audit_ids[1],
        },
    ]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_migration_0008_keeps_case_events_and_downgrades(kind: str, tmp_path: Path) -> None:
    url, drop = new_database(kind, tmp_path)
    outbox = text(
        "INSERT INTO enforcement_outbox (idempotency_key, case_id, account_id, cluster_id, payload, created_at, "
        "attempts) VALUES (:k, :case, :account, :cluster, '{}', '2026-03-01', 0)"
    )
    try:
        cfg = alembic_config(url)
        command.upgrade(cfg, "0007")
        with engine_for(url).begin() as c:
            c.execute(
                text(
                    "INSERT INTO cases (subject_type, subject_id, status, created_by, created_at, updated_at) "
                    "VALUES ('account', 'a1', 'confirmed_attack', 'x', '2026-03-01', '2026-03-01')"
                )
            )
            c.execute(
                text(
                    "INSERT INTO enforcement_outbox (idempotency_key, case_id, account_id, payload, created_at, "
                    "attempts) VALUES ('case-event', 1, 'a1', '{}', '2026-03-01', 0)"
                )
            )
        command.upgrade(cfg, "head")
        with engine_for(url).begin() as c:
            assert c.execute(text("SELECT case_id, account_id, cluster_id FROM enforcement_outbox")).all() == [
                (1, "a1", None)
            ]
            c.execute(outbox, {"k": "override-event", "case": None, "account": None, "cluster": "c1"})
            c.execute(
                text(
                    "INSERT INTO action_overrides (subject_type, subject_id, action, recommended, reason, set_by, "
                    "set_role, set_at, members) VALUES ('cluster', 'c1', 'none', 'review', 'a class', 'lead-a', "
                    "'lead', '2026-03-01', '[\"a2\"]')"
                )
            )
        for account, cluster in ((None, None), ("a2", "c1")):  # exactly one subject
            with pytest.raises(IntegrityError), engine_for(url).begin() as c:
                c.execute(outbox, {"k": "bad", "case": None, "account": account, "cluster": cluster})
        engine_for(url).dispose()
        command.downgrade(cfg, "0007")
        with engine_for(url).begin() as c:
            assert c.execute(text("SELECT idempotency_key FROM enforcement_outbox")).all() == [("case-event",)]
        engine_for(url).dispose()
        command.upgrade(cfg, "head")
    finally:
        drop()


def test_the_console_shows_the_override_escaped_and_offers_the_rungs_a_role_may_apply(sqlite_reviewed: Api) -> None:
    api = sqlite_reviewed
    markup = "<script>alert('x')</script> & a shared card"
    assert _put(api, "lead", "clusters/c-hydra", {"action": "suspend", "reason": markup}).status_code == 200

    def page(role: str) -> str:
        text_ = api.client.get("/console/clusters/c-hydra", headers=api.console(role)[0]).text
        api.client.cookies.clear()
        return text_

    viewer, analyst, lead = page("viewer"), page("analyst"), page("lead")
    assert (
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; a shared card" in viewer
        and "<script>alert" not in viewer
    )
    assert 'id="override-form"' not in viewer and 'id="override-clear"' not in viewer
    assert '<option value="review">review</option>' in analyst
    assert '<option value="takedown" disabled title="needs a lead">takedown</option>' in analyst
    assert '<button type="submit" id="override-clear" disabled title="needs a lead">' in analyst
    assert '<option value="takedown">takedown</option>' in lead
    assert '<button type="submit" id="override-clear">' in lead
