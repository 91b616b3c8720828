"""Console sessions: a server-side session id in the cookie (never the token), ended by sign-out, token
revocation and expiry; console posts need this origin and the session's CSRF token."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text

from distillguard.api.auth.sessions import csrf_token
from distillguard.api.database import session_scope
from tests.api.conftest import ORIGIN, Api, make_api, seed_world

SAME = {"Origin": ORIGIN}


def _sign_in(api: Api, role: str = "analyst") -> str:
    r = api.client.post("/console/login", data={"token": api.tokens[role]}, headers=SAME, follow_redirects=False)
    where = urlsplit(r.headers["location"])
    assert r.status_code == 303 and where.path == "/console"
    assert parse_qs(where.query) == {"done": [f"Signed in as {role}-user ({role})."]}
    api.client.cookies.clear()
    cookie = r.headers["set-cookie"]
    assert api.tokens[role] not in cookie
    return re.match(r"dg_session=([^;]+)", cookie).group(1)


def _page(api: Api, session_id: str, path: str = "/console") -> int:
    r = api.client.get(path, headers={"Cookie": f"dg_session={session_id}"}, follow_redirects=False)
    api.client.cookies.clear()
    return r.status_code


def test_the_cookie_holds_a_session_id_stored_only_hashed(sqlite_api: Api) -> None:
    r = sqlite_api.client.post(
        "/console/login", data={"token": sqlite_api.tokens["viewer"]}, headers=SAME, follow_redirects=False
    )
    sqlite_api.client.cookies.clear()
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie and "Secure" not in cookie
    session_id = re.match(r"dg_session=([^;]+)", cookie).group(1)
    with session_scope(sqlite_api.url) as s:
        stored = [tuple(map(str, row)) for row in s.execute(text("SELECT * FROM console_sessions"))]
    assert len(stored) == 1 and not any(session_id in v for v in stored[0])
    assert _page(sqlite_api, session_id) == 200


def test_the_cookie_is_secure_when_configured(sqlite_url: str, broker) -> None:
    seed_world(sqlite_url)
    gen = make_api(sqlite_url, broker.bootstrap, api_cookie_secure=True)
    api = next(gen)
    r = api.client.post("/console/login", data={"token": api.tokens["viewer"]}, headers=SAME, follow_redirects=False)
    assert "Secure" in r.headers["set-cookie"]
    gen.close()


def test_sign_out_ends_the_session_on_the_server(sqlite_api: Api) -> None:
    session_id = _sign_in(sqlite_api)
    r = sqlite_api.client.post(
        "/console/logout",
        data={"csrf": csrf_token(session_id)},
        headers=SAME | {"Cookie": f"dg_session={session_id}"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/login?done=Signed+out%3B+the+session+is+closed."
    sqlite_api.client.cookies.clear()
    assert _page(sqlite_api, session_id) == 303  # the old cookie value: back to sign-in


def test_revoking_the_token_ends_its_sessions(sqlite_api: Api) -> None:
    session_id = _sign_in(sqlite_api, "viewer")
    me = sqlite_api.client.get("/api/v1/tokens", headers=sqlite_api.h("admin")).json()
    viewer = next(t["id"] for t in me if t["name"] == "viewer-user")
    assert sqlite_api.client.post(f"/api/v1/tokens/{viewer}/revoke", headers=sqlite_api.h("admin")).status_code == 200
    assert _page(sqlite_api, session_id) == 303
    with session_scope(sqlite_api.url) as s:
        assert s.execute(text("SELECT count(*) FROM console_sessions WHERE revoked_at IS NULL")).scalar() == 0


def test_an_expired_session_is_refused(sqlite_api: Api) -> None:
    session_id = _sign_in(sqlite_api)
    with session_scope(sqlite_api.url) as s:
        s.execute(text("UPDATE console_sessions SET expires_at = '2000-01-01 00:00:00'"))
    assert _page(sqlite_api, session_id) == 303


def _comment(api: Api, session_id: str, headers: dict[str, str], data: dict[str, str]):
    case = api.client.get("/api/v1/cases", headers=api.h("viewer")).json()[0]["id"]
    r = api.client.post(
        f"/console/cases/{case}/comment",
        data={"body": "seen"} | data,
        headers={"Cookie": f"dg_session={session_id}"} | headers,
        follow_redirects=False,
    )
    api.client.cookies.clear()
    return r


def test_console_posts_need_this_origin_and_the_csrf_token(sqlite_api: Api) -> None:
    session_id = _sign_in(sqlite_api)
    sqlite_api.client.post(
        "/api/v1/cases", json={"subject_type": "cluster", "subject_id": "c-uni"}, headers=sqlite_api.h("analyst")
    )
    good = {"csrf": csrf_token(session_id)}
    r = _comment(sqlite_api, session_id, {"Origin": "https://evil.example"}, good)
    assert r.status_code == 403 and "not sent from this site" in r.json()["detail"]
    assert _comment(sqlite_api, session_id, {}, good).status_code == 403  # neither Origin nor Referer
    r = _comment(sqlite_api, session_id, SAME, {})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    assert _comment(sqlite_api, session_id, SAME, {"csrf": "0" * 64}).status_code == 403
    assert _comment(sqlite_api, session_id, {"Referer": ORIGIN + "/console"}, good).status_code == 303
    r = _comment(sqlite_api, session_id, SAME, good)
    assert r.status_code == 303 and "msg=" not in r.headers["location"]


def test_a_sign_in_from_another_site_is_refused(sqlite_api: Api) -> None:
    r = sqlite_api.client.post(
        "/console/login",
        data={"token": sqlite_api.tokens["viewer"]},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_every_console_form_carries_the_csrf_token(sqlite_api: Api) -> None:
    session_id = _sign_in(sqlite_api)
    sqlite_api.client.post(
        "/api/v1/cases", json={"subject_type": "cluster", "subject_id": "c-hydra"}, headers=sqlite_api.h("analyst")
    )
    for path in ("/console", "/console/clusters/c-hydra"):
        html = sqlite_api.client.get(path, headers={"Cookie": f"dg_session={session_id}"}).text
        sqlite_api.client.cookies.clear()
        forms = re.findall(r'<form method="post"[^>]*>(.*?)</form>', html, flags=re.S)
        assert forms and all(f'name="csrf" value="{csrf_token(session_id)}"' in f for f in forms), path
