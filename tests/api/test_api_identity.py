"""Identity and audit: one active token per name (in code and in the database), reserved names refused, audit
rows name the token used, cases assigned only to existing principals, dispatch audited, broker errors shown only to
leads and admins."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from distillguard.api.auth import service
from distillguard.api.auth.models import ApiToken
from distillguard.api.database import alembic_config, engine_for, session_scope
from distillguard.api.enforcement.models import OutboxEvent
from distillguard.api.enforcement.service import HIDDEN_ERROR
from distillguard.api.errors import ServiceError
from distillguard.api.types import utcnow
from tests.api.conftest import Api, new_database

BROKER_ERROR = "KafkaTimeoutError: kafka-internal-7.corp:9092 unreachable"


def _tokens(api: Api) -> dict[str, int]:
    rows = api.client.get("/api/v1/tokens", headers=api.h("admin")).json()
    return {t["name"]: t["id"] for t in rows if t["revoked_at"] is None}


def test_token_names_are_unique_among_active_tokens_and_reserved_names_refused(api: Api) -> None:
    r = api.client.post("/api/v1/tokens", json={"name": "lead-user", "role": "admin"}, headers=api.h("admin"))
    assert r.status_code == 409 and "lead-user" in r.json()["detail"]
    for name in ("cli", "System", " lead-user"):
        r = api.client.post("/api/v1/tokens", json={"name": name, "role": "viewer"}, headers=api.h("admin"))
        assert r.status_code == 422, name
    first = api.client.post("/api/v1/tokens", json={"name": "rota", "role": "viewer"}, headers=api.h("admin")).json()
    api.client.post(f"/api/v1/tokens/{first['id']}/revoke", headers=api.h("admin"))
    r = api.client.post("/api/v1/tokens", json={"name": "rota", "role": "viewer"}, headers=api.h("admin"))
    assert r.status_code == 201  # the name is free again once its token is revoked


def test_audit_rows_carry_the_token_id(api: Api) -> None:
    r = api.client.post(
        "/api/v1/cases", json={"subject_type": "cluster", "subject_id": "c-uni"}, headers=api.h("analyst")
    )
    audit = api.client.get("/api/v1/audit", params={"action": "case.open"}, headers=api.h("viewer")).json()
    assert audit[-1]["entity_id"] == str(r.json()["id"])
    assert audit[-1]["token_id"] == _tokens(api)["analyst-user"]


def test_cases_are_assigned_only_to_existing_principals(api: Api) -> None:
    body = {"subject_type": "cluster", "subject_id": "c-uni", "assignee": "nobody-here"}
    r = api.client.post("/api/v1/cases", json=body, headers=api.h("analyst"))
    assert r.status_code == 422 and "nobody-here" in r.json()["detail"]
    case = api.client.post("/api/v1/cases", json=body | {"assignee": None}, headers=api.h("analyst")).json()
    for who in ("nobody-here", "viewer-user"):  # unknown, or unable to work on it
        r = api.client.post(f"/api/v1/cases/{case['id']}/assign", json={"assignee": who}, headers=api.h("analyst"))
        assert r.status_code == 422, who
    r = api.client.post(f"/api/v1/cases/{case['id']}/assign", json={"assignee": "lead-user"}, headers=api.h("analyst"))
    assert r.status_code == 200


def test_dispatch_is_audited_and_broker_errors_are_for_leads(api: Api) -> None:
    case = api.client.post(
        "/api/v1/cases", json={"subject_type": "cluster", "subject_id": "c-hydra-2"}, headers=api.h("analyst")
    ).json()
    for status, role in (("in_review", "analyst"), ("confirmed_attack", "lead")):
        api.client.post(
            f"/api/v1/cases/{case['id']}/transition", json={"status": status, "reason": "x"}, headers=api.h(role)
        )
    with session_scope(api.url) as s:
        s.execute(update(OutboxEvent).values(sent_at=None, last_error=BROKER_ERROR))
    for role, shown in (("viewer", HIDDEN_ERROR), ("analyst", HIDDEN_ERROR), ("lead", BROKER_ERROR)):
        pending = api.client.get("/api/v1/enforcement/pending", headers=api.h(role)).json()
        assert {e["last_error"] for e in pending} == {shown}, role
        detail = api.client.get(f"/api/v1/cases/{case['id']}", headers=api.h(role)).json()
        assert {e["last_error"] for e in detail["enforcement"]} == {shown}, role
    r = api.client.post("/api/v1/enforcement/dispatch", headers=api.h("lead"))
    assert r.json() == {"sent": 10, "pending": 0}
    audit = api.client.get("/api/v1/audit", params={"action": "enforcement.dispatch"}, headers=api.h("viewer")).json()
    assert [(e["actor"], e["token_id"], e["details"]["sent"], len(e["details"]["keys"])) for e in audit] == [
        ("lead-user", _tokens(api)["lead-user"], 10, 10)
    ]


def _token_row(name: str, token_hash: str, revoked: bool = False) -> ApiToken:
    return ApiToken(
        name=name, role="viewer", prefix="dg_x", token_hash=token_hash, revoked_at=utcnow() if revoked else None
    )


def test_the_database_keeps_names_unique_among_active_tokens(db_url: str) -> None:
    with session_scope(db_url) as s:
        s.add_all([_token_row("twin", "h1", revoked=True), _token_row("twin", "h2")])  # a revoked one may share it
    with pytest.raises(IntegrityError), session_scope(db_url) as s:
        s.add(_token_row("twin", "h3"))


def test_a_name_taken_after_the_check_is_a_409_not_a_second_token(db_url: str, monkeypatch) -> None:
    """Two creations of one name whose checks both ran before either inserted: the second insert is refused."""
    monkeypatch.setattr(service, "check_token_name", lambda _session, _name: None)  # the race: both checks passed
    with session_scope(db_url) as s:
        first = service.create_token(s, "twin", "viewer")[0]
    with pytest.raises(ServiceError) as refused, session_scope(db_url) as s:
        service.create_token(s, "twin", "admin")
    assert refused.value.status == 409
    assert refused.value.detail == f"token {first.id} named 'twin' is active; revoke it first or choose another name"
    with session_scope(db_url) as s:
        assert [(t.name, t.role) for t in service.list_tokens(s)] == [("twin", "viewer")]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_migration_0006_stops_on_shared_names_and_downgrades(kind: str, tmp_path: Path) -> None:
    url, drop = new_database(kind, tmp_path)
    try:
        cfg = alembic_config(url)
        command.upgrade(cfg, "0005")
        insert = text(
            "INSERT INTO api_tokens (name, role, prefix, token_hash, created_at) "
            "VALUES ('twin', 'viewer', 'dg_x', :h, '2026-03-01')"
        )
        with engine_for(url).begin() as c:
            c.execute(insert, [{"h": "h1"}, {"h": "h2"}])
        with pytest.raises(RuntimeError, match=r"\('twin' by tokens 1, 2\): revoke all but one"):
            command.upgrade(cfg, "head")
        with engine_for(url).begin() as c:
            c.execute(text("UPDATE api_tokens SET revoked_at = '2026-03-02' WHERE id = 2"))
        command.upgrade(cfg, "head")
        with pytest.raises(IntegrityError), engine_for(url).begin() as c:
            c.execute(insert, {"h": "h3"})
        command.downgrade(cfg, "0005")
        with engine_for(url).begin() as c:
            c.execute(insert, {"h": "h3"})  # without the index, only the code keeps names unique
    finally:
        drop()
