"""The red-team findings of issue 12, each replayed as an attacker with an analyst's (or an admin's) token
would. Every test here failed on the code before the fixes (commit 5ca6cb7); the cross-case overwrite first."""

from __future__ import annotations

import base64

from sqlalchemy import update

from distillguard.api.auth.service import create_token
from distillguard.api.cases.service import decisions_as_labels
from distillguard.api.database import session_scope
from distillguard.api.enforcement.models import OutboxEvent
from tests.api.conftest import Api

SECRET_ERROR = "KafkaTimeoutError: broker-internal.corp:9092"


def _second_analyst(api: Api) -> dict[str, str]:
    with session_scope(api.url) as s:
        secret = create_token(s, "analyst-2", "analyst")[1]
    return {"Authorization": f"Bearer {secret}"}


def _open(api: Api, kind: str, subject: str, headers: dict[str, str], assignee: str | None = None):
    body = {"subject_type": kind, "subject_id": subject, "reason": "r", "assignee": assignee}
    return api.client.post("/api/v1/cases", json=body, headers=headers)


def _move(api: Api, case_id: int, status: str, headers: dict[str, str]):
    return api.client.post(
        f"/api/v1/cases/{case_id}/transition", json={"status": status, "reason": "r"}, headers=headers
    )


def _confirmed_hydra_2(api: Api) -> int:
    case = _open(api, "cluster", "c-hydra-2", api.h("analyst")).json()
    _move(api, case["id"], "in_review", api.h("analyst"))
    assert _move(api, case["id"], "confirmed_attack", api.h("lead")).status_code == 200
    return case["id"]


def _decisions(api: Api, case_id: int) -> dict[str, str]:
    detail = api.client.get(f"/api/v1/cases/{case_id}", headers=api.h("viewer")).json()
    return {d["account_id"]: d["decision"] for d in detail["decisions"]}


def test_a_new_case_cannot_overwrite_a_confirmed_cases_decision(api: Api) -> None:
    confirmed = _confirmed_hydra_2(api)
    a2 = _second_analyst(api)
    single = _open(api, "account", "acct-k003", a2)
    if single.status_code == 201:  # the attack of the finding: decide `dismissed` and close
        sid = single.json()["id"]
        _move(api, sid, "in_review", a2)
        _move(api, sid, "dismissed", a2)
    assert single.status_code == 409, single.text
    assert _decisions(api, confirmed)["acct-k003"] == "confirmed_attack"
    with session_scope(api.url) as s:
        assert decisions_as_labels(s)["acct-k003"] is True


def test_a_new_case_cannot_remove_another_analysts_decision(api: Api) -> None:
    a2 = _second_analyst(api)
    mine = _open(api, "cluster", "c-uni", api.h("analyst"), assignee="analyst-user").json()
    r = api.client.post(
        f"/api/v1/cases/{mine['id']}/decisions",
        json={"decision": "dismissed", "account_ids": ["acct-u003"], "reason": "a class"},
        headers=api.h("analyst"),
    )
    assert r.json() == {"changed": 1}
    assert _move(api, mine["id"], "in_review", a2).status_code == 403  # direct requests were refused already
    single = _open(api, "account", "acct-u003", a2)
    if single.status_code == 201:
        _move(api, single.json()["id"], "in_review", a2)
        api.client.post(
            f"/api/v1/cases/{single.json()['id']}/decisions", json={"decision": "confirmed_attack"}, headers=a2
        )
    assert single.status_code == 403, single.text
    assert _decisions(api, mine["id"]) == {"acct-u003": "dismissed"}


def test_dates_beyond_utc_are_a_422_not_a_500(api: Api) -> None:
    for path, params in (
        ("/api/v1/detections", {"since": "0001-01-01T00:00:00+14:00"}),
        ("/api/v1/detections/counts", {"since": "0001-01-01T00:00:00+14:00"}),
        ("/api/v1/detections", {"kind": "account", "since": "0001-01-01T00:00:00+14:00"}),
        ("/api/v1/detections", {"until": "9999-12-31T23:59:59-14:00"}),
    ):
        assert api.client.get(path, params=params, headers=api.h("viewer")).status_code == 422, params


def test_a_deeply_nested_console_cursor_is_a_422_not_a_500(api: Api) -> None:
    cursor = base64.urlsafe_b64encode(b"[" * 1500).decode()
    r = api.client.get("/console", params={"cursor": cursor}, headers=api.h("viewer"))
    assert r.status_code == 422


def test_an_admin_cannot_make_a_token_named_like_someone_else_or_the_cli(api: Api) -> None:
    for name, status in (("lead-user", 409), ("cli", 422), ("system", 422)):
        r = api.client.post("/api/v1/tokens", json={"name": name, "role": "admin"}, headers=api.h("admin"))
        assert r.status_code == status, (name, r.text)


def test_a_case_cannot_be_assigned_to_a_name_nobody_holds(api: Api) -> None:
    case = _open(api, "cluster", "c-uni", api.h("analyst")).json()
    r = api.client.post(f"/api/v1/cases/{case['id']}/assign", json={"assignee": "ghost"}, headers=api.h("analyst"))
    assert r.status_code == 422


def test_audit_rows_record_the_token_id(api: Api) -> None:
    _open(api, "cluster", "c-uni", api.h("analyst"))
    tokens = {t["name"]: t["id"] for t in api.client.get("/api/v1/tokens", headers=api.h("admin")).json()}
    audit = api.client.get("/api/v1/audit", params={"action": "case.open"}, headers=api.h("viewer")).json()
    assert audit[-1].get("token_id") == tokens["analyst-user"]


def test_dispatch_writes_an_audit_record(api: Api) -> None:
    _confirmed_hydra_2(api)
    with session_scope(api.url) as s:
        s.execute(update(OutboxEvent).values(sent_at=None))
    assert api.client.post("/api/v1/enforcement/dispatch", headers=api.h("lead")).status_code == 200
    audit = api.client.get("/api/v1/audit", params={"actor": "lead-user"}, headers=api.h("viewer")).json()
    assert "enforcement.dispatch" in [e["action"] for e in audit]


def test_viewers_do_not_see_internal_broker_errors(api: Api) -> None:
    _confirmed_hydra_2(api)
    with session_scope(api.url) as s:
        s.execute(update(OutboxEvent).values(sent_at=None, last_error=SECRET_ERROR))
    pending = api.client.get("/api/v1/enforcement/pending", headers=api.h("viewer")).json()
    assert pending and not [e for e in pending if "broker-internal" in (e["last_error"] or "")]
    lead = api.client.get("/api/v1/enforcement/pending", headers=api.h("lead")).json()
    assert {e["last_error"] for e in lead} == {SECRET_ERROR}


def test_duplicate_json_keys_are_refused(api: Api) -> None:
    body = b'{"subject_type": "cluster", "subject_id": "c-uni", "subject_id": "c-corp"}'
    r = api.client.post("/api/v1/cases", content=body, headers=api.h("analyst") | {"Content-Type": "application/json"})
    assert r.status_code == 422 and "subject_id" in r.json()["detail"]


def test_two_authorization_headers_are_refused(api: Api) -> None:
    headers = [("Authorization", api.h("viewer")["Authorization"]), ("Authorization", api.h("admin")["Authorization"])]
    assert api.client.get("/api/v1/me", headers=headers).status_code in (400, 401)


def test_a_vendor_json_content_type_is_refused(api: Api) -> None:
    body = b'{"subject_type": "cluster", "subject_id": "c-uni"}'
    headers = api.h("analyst") | {"Content-Type": "application/vnd.evil+json"}
    assert api.client.post("/api/v1/cases", content=body, headers=headers).status_code == 415


def test_a_long_id_is_not_echoed_in_full(api: Api) -> None:
    r = api.client.get("/api/v1/accounts/" + "a" * 5000, headers=api.h("viewer"))
    assert r.status_code == 404 and len(r.json()["detail"]) < 100
