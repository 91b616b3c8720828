"""The red-team findings of issue 12, each replayed as an attacker with an analyst's (or an admin's) token
would. Every test here failed on the code before the fixes (commit 5ca6cb7); the cross-case overwrite first.
The second round's findings (limits, console session, headers) follow at the end; they failed before
branch security2's fixes."""

from __future__ import annotations

import base64
import re
import secrets

import msgspec
from sqlalchemy import update

from distillguard.api import ratelimit
from distillguard.api.auth.service import create_token
from distillguard.api.auth.sessions import csrf_token
from distillguard.api.cases.service import decisions_as_labels
from distillguard.api.database import session_scope
from distillguard.api.detections.service import upsert_detections
from distillguard.api.enforcement.models import OutboxEvent
from tests.api import seed
from tests.api.conftest import ORIGIN, Api, make_api, seed_world

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


# --- second round: limits, the console session, headers ------------------------------------------------------


def _limited_api(url: str, bootstrap: str, **overrides: object):
    """An app with the documented defaults for the limits (the fixtures raise them), ``overrides`` aside."""
    seed_world(url)
    return make_api(url, bootstrap, **({"api_auth_failures_per_minute": 20} | overrides))


def test_a_token_gets_no_more_than_its_limit_in_a_minute(sqlite_url: str, broker, monkeypatch) -> None:
    """Finding: 787 requests accepted within 21 s under a 600/minute limit (a bucket refilling at 10/s)."""
    now = [1000.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    gen = _limited_api(sqlite_url, broker.bootstrap, api_rate_limit_per_minute=30)
    api = next(gen)
    accepted = 0
    for _ in range(21 * 4):  # four requests a second for 21 s
        accepted += api.client.get("/api/v1/me", headers=api.h("viewer")).status_code == 200
        now[0] += 0.25
    assert accepted == 30
    gen.close()


def test_a_flood_of_unknown_tokens_is_cut_off(sqlite_url: str, broker) -> None:
    """Finding: 200 random tokens in 0.5 s, every one looked up and answered 401."""
    gen = _limited_api(sqlite_url, broker.bootstrap)
    api = next(gen)
    codes = [
        api.client.get("/api/v1/me", headers={"Authorization": f"Bearer dg_{secrets.token_urlsafe(32)}"}).status_code
        for _ in range(200)
    ]
    assert codes.count(401) == 20 and codes.count(429) == 180
    gen.close()


def test_failed_sign_ins_are_cut_off(sqlite_url: str, broker) -> None:
    """Finding: 150 failed console sign-ins in 0.5 s, none limited."""
    gen = _limited_api(sqlite_url, broker.bootstrap)
    api = next(gen)
    codes = [
        api.client.post(
            "/console/login", data={"token": f"dg_guess{i}"}, headers={"Origin": ORIGIN}, follow_redirects=False
        ).status_code
        for i in range(150)
    ]
    assert codes.count(303) == 20 and codes.count(429) == 130
    gen.close()


def _sign_in(api: Api) -> str:
    r = api.client.post(
        "/console/login", data={"token": api.tokens["analyst"]}, headers={"Origin": ORIGIN}, follow_redirects=False
    )
    api.client.cookies.clear()
    return r.headers["set-cookie"].split(";")[0]


def test_the_cookie_is_not_the_token_and_dies_at_sign_out(api: Api) -> None:
    """Finding: the cookie held the raw long-lived token, and sign-out only cleared it (the value still worked)."""
    cookie = _sign_in(api)
    assert api.tokens["analyst"] not in cookie and cookie.startswith("dg_session=")
    csrf = csrf_token(cookie.split("=", 1)[1])
    out = api.client.post(
        "/console/logout", data={"csrf": csrf}, headers={"Cookie": cookie, "Origin": ORIGIN}, follow_redirects=False
    )
    assert out.status_code == 303
    r = api.client.get("/console", headers={"Cookie": cookie}, follow_redirects=False)
    api.client.cookies.clear()
    assert r.status_code == 303 and r.headers["location"] == "/console/login"


def test_a_cross_origin_post_is_refused(api: Api) -> None:
    """Finding: no CSRF token and no Origin check: any site could post the signed-in analyst's forms."""
    cookie = _sign_in(api)
    case = _open(api, "cluster", "c-uni", api.h("analyst")).json()["id"]
    r = api.client.post(
        f"/console/cases/{case}/comment",
        data={"body": "posted by evil.example"},
        headers={"Cookie": cookie, "Origin": "https://evil.example"},
        follow_redirects=False,
    )
    api.client.cookies.clear()
    assert r.status_code == 403
    assert api.client.get(f"/api/v1/cases/{case}", headers=api.h("viewer")).json()["comments"] == []


def test_pages_carry_security_headers(api: Api) -> None:
    """Finding: no CSP, X-Frame-Options or nosniff."""
    for path in ("/console/login", "/api/v1/me", "/docs"):
        h = api.client.get(path, headers=api.h("viewer")).headers
        assert "frame-ancestors 'none'" in h["content-security-policy"] and h["x-frame-options"] == "DENY"
        assert h["x-content-type-options"] == "nosniff" and h["referrer-policy"] == "same-origin"


def test_docs_load_nothing_from_a_cdn(api: Api) -> None:
    """Finding: /docs loaded Swagger UI from a CDN, on the console's origin, without integrity checks."""
    html = api.client.get("/docs").text
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', html)


# --- third round: what a viewer can learn about prompt text ----------------------------------------------------

UNI_TEMPLATE = "Homework 4, question 2: solve step by step."  # the prompt template c-uni shares (tests/api/seed.py)


def test_a_viewer_cannot_confirm_a_guessed_prompt_template(api: Api) -> None:
    """Finding: a viewer (templates redacted in the evidence) guessed a template and the queue and counts answered
    whether a cluster shares it (exact match, with or without indicator_kind=template): right and wrong guesses
    must get the same answer."""

    def answers(guess: str) -> list[tuple[int, object]]:
        out = []
        for path in ("/api/v1/detections", "/api/v1/detections/counts"):
            for params in ({"indicator": guess, "indicator_kind": "template"}, {"indicator": guess}):
                r = api.client.get(path, params=params, headers=api.h("viewer"))
                out.append((r.status_code, r.json().get("total")))
        return out

    assert answers(UNI_TEMPLATE) == answers("Homework 5, question 1: solve step by step.")
    console = [
        api.client.get(
            "/console", params={"indicator": g, "indicator_kind": "template"}, headers=api.console("viewer")[0]
        )
        for g in (UNI_TEMPLATE, "a wrong guess")
    ]
    api.client.cookies.clear()
    assert console[0].status_code == console[1].status_code == 200
    assert console[0].text == console[1].text


def test_a_redacted_template_does_not_tell_its_length(api: Api) -> None:
    """Finding: a viewer saw '[redacted: 43 characters]' and could rule out every guess of another length."""
    longer = "Homework 4, question 2: solve it step by step and show your work."
    uni = next(c for c in seed.build()[1] if c.cluster_id == "c-uni")
    with session_scope(api.url) as s:
        upsert_detections(
            s, [], [msgspec.structs.replace(uni, cluster_id="c-uni-2", shared_indicators={"template": [longer]})]
        )
    shown = [
        api.client.get(f"/api/v1/clusters/{c}", headers=api.h("viewer")).json()["shared_indicators"]["template"]
        for c in ("c-uni", "c-uni-2")
    ]
    assert len(UNI_TEMPLATE) != len(longer) and shown[0] == shown[1]
    assert str(len(UNI_TEMPLATE)) not in shown[0][0]
