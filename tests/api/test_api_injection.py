"""Hostile strings in every path and query parameter of every GET endpoint and in the fields of every request body,
on SQLite and PostgreSQL: never a 5xx, every 4xx says why, a hostile filter finds exactly what a filter matching
nothing finds, and accepted text is stored verbatim. NUL is refused with 422 on both dialects (PostgreSQL cannot
store it), not left to the database."""

from __future__ import annotations

import base64
from functools import partial
from urllib.parse import quote

import msgspec
from fastapi.routing import iter_route_contexts
from httpx import Response

from distillguard.api.auth.service import Principal
from distillguard.api.cases import service as cases
from distillguard.api.database import session_scope
from distillguard.api.detections.service import upsert_detections
from distillguard.api.webhooks import service as webhooks
from tests.api import seed
from tests.api.conftest import Api
from tests.api.state import snapshot

HOSTILE = [
    "' OR 1=1 --",
    "open' OR '1'='1",
    "1; DROP TABLE cases; --",
    "' UNION SELECT token_hash, prefix FROM api_tokens --",
    "%",
    "_",
    "acct-h00%",
    "\\",
    "ünïcödé ✓ 数据 😀 \u202eevil",
    "\r\nX-Injected: 1",
    "x" * 5000,
    "a\x00b",
    "\x00",
]
NOTHING = "zz-matches-nothing"  # a value no row has: what every hostile filter must find too
PATH_VALUES = {"cluster_id": "c-hydra", "account_id": "acct-h000", "case_id": "1", "webhook_id": "1"}
# Routes whose answer depends on the time of the request (field precision: queue ages "as of now"): two requests
# never answer the same, so only their statuses are compared.
CLOCKED = {"/api/v1/precision"}
ADMIN = Principal(name="setup", role="admin", token_id=0)


def _get_routes(app) -> list[tuple[str, list[str], list[str]]]:
    """(path, path parameters, query parameters) of every GET route with parameters, read from the app."""

    def params(dependant, kind: str) -> list[str]:
        return [p.name for p in getattr(dependant, kind)] + [n for d in dependant.dependencies for n in params(d, kind)]

    out = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if route.methods and "GET" in route.methods and dependant is not None:
            path_params, query = params(dependant, "path_params"), params(dependant, "query_params")
            if path_params or query:
                out.append((route.path, path_params, query))
    return out


def _call(api: Api, path: str, path_params: dict[str, str], query: dict[str, str]) -> Response:
    url = path.format(**{k: quote(v, safe="") for k, v in path_params.items()})
    headers = api.console("admin")[0] if path.startswith("/console") else api.h("admin")
    try:
        return api.client.get(url, params=query, headers=headers, follow_redirects=False)
    finally:
        api.client.cookies.clear()


def _says_why(r: Response, label: str) -> None:
    assert r.status_code < 500, (label, r.status_code, r.text[:300])
    if r.status_code >= 400:
        if r.headers["content-type"].startswith("application/json"):
            detail = r.json()["detail"]
            assert isinstance(detail, str) and detail.strip(), label
        else:
            assert r.text.strip(), label


def _world(api: Api) -> int:
    """Cases, comments, audit records and a webhook for the filters to (not) find; the id of a case."""
    with session_scope(api.url) as s:
        uni = cases.open_case(s, ADMIN, "cluster", "c-uni", "class", assignee="analyst-user")
        cases.comment(s, ADMIN, uni, "same NAT")
        cases.open_case(s, ADMIN, "account", "acct-s001", None)
        webhooks.create(s, ADMIN, "https://hooks.invalid/dg", ["case.opened"], "json", None, True)
        return uni.id


def _placed(base: dict, name: str, in_path: bool, value: str) -> tuple[dict, dict]:
    """(path parameters, query parameters) with ``value`` as parameter ``name``."""
    return ({**base, name: value}, {}) if in_path else (base, {name: value})


def test_hostile_path_and_query_parameters(api: Api) -> None:
    """Every parameter of every GET route (read from the app, so new ones are covered) x every hostile string."""
    _world(api)
    routes = _get_routes(api.client.app)
    assert {p for p, _, _ in routes} >= {"/api/v1/detections", "/api/v1/cases", "/api/v1/audit", "/console"}
    api.console("admin")  # the console session, opened before the snapshot
    before = snapshot(api.url)
    for path, path_names, query_names in routes:
        base = {k: PATH_VALUES[k] for k in path_names}
        for name in path_names + query_names:
            where = partial(_placed, base, name, name in path_names)
            expected = _call(api, path, *where(NOTHING))
            for value in HOSTILE:
                label = f"GET {path} {name}={value[:40]!r}"
                r = _call(api, path, *where(value))
                _says_why(r, label)
                if "\x00" in value:
                    assert r.status_code == 422 and "NUL" in r.json()["detail"], label
                if r.status_code == 200 and r.headers["content-type"].startswith("application/json"):
                    assert expected.status_code == 200, label
                    if path not in CLOCKED:
                        assert r.json() == expected.json(), label
    assert snapshot(api.url) == before  # and no DROP TABLE ran


def test_injection_classics_find_nothing(api: Api) -> None:
    """Spot checks of the oracle above: a quoted OR, LIKE wildcards and a UNION match nothing."""
    _world(api)
    h = api.h("viewer")
    r = api.client.get("/api/v1/cases", params={"status": "open' OR '1'='1"}, headers=h)
    assert r.status_code == 422 and "status" in r.json()["detail"]
    assert api.client.get("/api/v1/cases", params={"assignee": "' OR 1=1 --"}, headers=h).json() == []
    assert api.client.get("/api/v1/cases", params={"assignee": "%"}, headers=h).json() == []
    assert len(api.client.get("/api/v1/cases", params={"assignee": "analyst-user"}, headers=h).json()) == 1
    assert api.client.get("/api/v1/audit", params={"actor": "_etup"}, headers=h).json() == []
    q = api.client.get("/api/v1/detections", params={"indicator": "203.0.113.%"}, headers=h).json()
    assert q["total"] == 0 and q["items"] == []
    q = api.client.get(
        "/api/v1/detections", params={"model": "' UNION SELECT token_hash FROM api_tokens --"}, headers=h
    ).json()
    assert q["total"] == 0
    r = api.client.get("/api/v1/clusters/" + quote("c-hydra' OR '1'='1", safe=""), headers=h)
    assert r.status_code == 404 and r.json()["detail"] == "no cluster \"c-hydra' OR '1'='1\""


# ([method and] path with {case} for a new case, {account} for a fresh account; body with H where the hostile value
# goes; POST unless the method is given)
H = object()
BODIES = [
    ("/api/v1/cases", {"subject_type": "account", "subject_id": H}),
    ("/api/v1/cases", {"subject_type": "account", "subject_id": "{account}", "reason": H}),
    ("/api/v1/cases", {"subject_type": "account", "subject_id": "{account}", "assignee": H}),
    ("/api/v1/cases/{case}/comments", {"body": H}),
    ("/api/v1/cases/{case}/assign", {"assignee": H}),
    ("/api/v1/cases/{case}/assign", {"assignee": None, "reason": H}),
    ("/api/v1/cases/{case}/decisions", {"decision": H}),
    ("/api/v1/cases/{case}/decisions", {"decision": "dismissed", "account_ids": [H]}),
    ("/api/v1/cases/{case}/decisions", {"decision": "dismissed", "reason": H}),
    ("/api/v1/cases/{case}/transition", {"status": H}),
    ("/api/v1/cases/{case}/transition", {"status": "in_review", "reason": H}),
    ("/api/v1/tokens", {"name": H, "role": "viewer"}),
    ("/api/v1/tokens", {"name": "ci", "role": H}),
    ("/console/cases/{case}/comment", {"body": H}),
    ("/console/cases/{case}/transition", {"status": "in_review", "reason": H}),
    ("/console/cases/{case}/decisions", {"decision": "dismissed", "account_ids": [H]}),
    ("PUT /api/v1/accounts/{account}/override", {"action": "watch", "reason": H}),
    ("PUT /api/v1/accounts/{account}/override", {"action": H, "reason": "triage"}),
    ("/console/clusters/c-uni/override", {"action": "watch", "reason": H}),
]
OVERRIDDEN = {
    "/console/clusters/c-uni/override": ("cluster", "c-uni")
}  # entity of the audit record, if not the account
OVERSIZED = [
    ("/api/v1/cases/{case}/comments", {"body": "x" * 10_001}, "body"),
    ("/api/v1/cases/{case}/assign", {"assignee": "x" * 129}, "assignee"),
    ("/api/v1/cases/{case}/transition", {"status": "in_review", "reason": "x" * 2001}, "reason"),
    ("/api/v1/cases/{case}/decisions", {"decision": "dismissed", "account_ids": ["a"] * 10_001}, "account_ids"),
    ("/api/v1/cases", {"subject_type": "account", "subject_id": "x" * 129}, "subject_id"),
    ("/api/v1/tokens", {"name": "x" * 129, "role": "viewer"}, "name"),
]


def _fill(template: object, value: str, account: str) -> object:
    if template is H:
        return value
    if template == "{account}":
        return account
    if isinstance(template, dict):
        return {k: _fill(v, value, account) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, value, account) for v in template]
    return template


class Accounts:
    """``n`` new single accounts, each without a case until :meth:`case` opens one."""

    def __init__(self, api: Api, n: int) -> None:
        single = seed.build()[0][-1]
        self.free = [f"acct-x{i:04d}" for i in range(n)]
        with session_scope(api.url) as s:
            upsert_detections(s, [msgspec.structs.replace(single, account_id=a) for a in self.free], [])

    def case(self, api: Api) -> tuple[int, str]:
        account = self.free.pop()
        with session_scope(api.url) as s:
            return cases.open_case(s, ADMIN, "account", account, None).id, account


def _post(api: Api, path: str, body: dict, method: str = "POST") -> Response:
    if path.startswith("/console"):
        headers, csrf = api.console("admin")
        r = api.client.post(path, data=body | {"csrf": csrf}, headers=headers, follow_redirects=False)
        api.client.cookies.clear()
        return r
    return api.client.request(method, path, json=body, headers=api.h("admin"))


def test_hostile_request_bodies(api: Api) -> None:
    """Every hostile string in every body field: no 5xx, a reason for every 4xx, NUL refused on both dialects,
    accepted text stored verbatim, and one audit record per accepted change (none per refused one)."""
    pool = Accounts(api, len(HOSTILE) * len(BODIES))
    accepted = 0
    start = len(snapshot(api.url)["audit_events"])
    for value in HOSTILE:
        for template, body in BODIES:
            case_id, account = pool.case(api) if "{case}" in template else (None, pool.free.pop())
            start += case_id is not None  # opening the case is audited
            method, _, where = template.rpartition(" ")
            path = where.replace("{case}", str(case_id)).replace("{account}", account)
            sent = _fill(body, value, account)
            label = f"{method or 'POST'} {where} {sent!r:.80}"
            r = _post(api, path, sent, method or "POST")
            _says_why(r, label)
            if path.startswith("/console"):
                refused = r.status_code != 303 or "msg=" in r.headers.get("location", "")
            else:
                refused = r.status_code >= 400
            if "\x00" in value:  # refused before the database: NUL, or not one of the allowed values
                assert r.status_code == 422, label
                assert any(why in r.json()["detail"] for why in ("NUL", "Input should be", "should match pattern")), (
                    label
                )
            accepted += not refused
            if refused:
                continue
            if template.endswith("/comments") or template.endswith("/comment"):
                detail = api.client.get(f"/api/v1/cases/{case_id}", headers=api.h("viewer")).json()
                assert detail["comments"][-1]["body"] == value, label
            elif template.endswith("/assign") and sent["assignee"] is not None:
                assert r.json()["assignee"] == value, label
            elif template == "/api/v1/tokens":
                assert r.json()["name"] == value, label
            if "reason" in sent:
                if where.endswith("/override"):
                    entity_type, entity_id = OVERRIDDEN.get(where, ("account", account))
                else:
                    entity_type, entity_id = "case", case_id or r.json()["id"]
                last = api.client.get(
                    "/api/v1/audit",
                    params={"entity_id": entity_id, "entity_type": entity_type},
                    headers=api.h("viewer"),
                ).json()
                assert last[-1]["reason"] == sent["reason"], label
    audit = snapshot(api.url)["audit_events"]
    assert len(audit) == start + accepted


def test_oversized_fields_are_refused_with_the_limit(api: Api) -> None:
    pool = Accounts(api, len(OVERSIZED))
    for template, body, field_name in OVERSIZED:
        case_id, _ = pool.case(api)
        before = snapshot(api.url)
        r = _post(api, template.replace("{case}", str(case_id)), body)
        assert r.status_code == 422, template
        assert field_name in r.json()["detail"] and "at most" in r.json()["detail"], r.json()
        assert snapshot(api.url) == before


def test_case_ids_beyond_the_database_integer_range_are_refused(api: Api) -> None:
    """The console's case actions take only ids a database integer holds (SQLite raised OverflowError: a 500)."""
    for tail, form in (
        ("comment", {"body": "x"}),
        ("transition", {"status": "in_review"}),
        ("decisions", {"decision": "dismissed", "account_ids": ["acct-s000"]}),
    ):
        r = _post(api, f"/console/cases/{2**63}/{tail}", form)
        assert r.status_code == 422 and "case_id" in r.json()["detail"], tail


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_forged_cursors_are_refused_with_a_reason(api: Api) -> None:
    for raw in (b"[1" + b"0" * 310 + b', "a"]', b'[0.5, "\\ud800"]'):  # a score too large for a float; a lone surrogate
        r = api.client.get("/api/v1/detections", params={"cursor": _cursor(raw)}, headers=api.h("viewer"))
        assert r.status_code == 422 and "cursor" in r.json()["detail"], raw
