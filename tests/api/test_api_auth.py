"""Tokens and roles, rate and body limits, and a database that goes away: every error says why."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from distillguard.api.app import create_app
from distillguard.api.settings import ApiSettings, get_api_settings
from distillguard.detector.cli import build_app
from tests.api.conftest import Api, make_api, seed_world
from tests.ports import free_port


def test_every_endpoint_but_health_needs_a_token(sqlite_api: Api) -> None:
    c = sqlite_api.client
    assert c.get("/health").json() == {"status": "ok", "database": "ok"}
    spec = c.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        if path == "/health":
            continue
        for method in ops:
            url = (
                path.replace("{cluster_id}", "c-hydra")
                .replace("{account_id}", "acct-h000")
                .replace("{case_id}", "1")
                .replace("{token_id}", "1")
            )
            r = c.request(method.upper(), url, json={})
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json()["detail"].startswith("missing API token") and r.headers["www-authenticate"] == "Bearer"


def test_unknown_malformed_and_revoked_tokens_are_refused_with_a_reason(sqlite_api: Api) -> None:
    c = sqlite_api.client
    r = c.get("/api/v1/me", headers={"Authorization": "Bearer dg_nope"})
    assert r.status_code == 401 and r.json() == {"detail": "unknown API token"}
    r = c.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    assert c.get("/api/v1/me", headers=sqlite_api.h("analyst")).json() == {"name": "analyst-user", "role": "analyst"}
    tokens = c.get("/api/v1/tokens", headers=sqlite_api.h("admin")).json()
    assert all("token" not in t and "hash" not in str(t) for t in tokens)
    analyst = next(t for t in tokens if t["name"] == "analyst-user")
    r = c.post(f"/api/v1/tokens/{analyst['id']}/revoke", headers=sqlite_api.h("lead"))
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    assert c.post(f"/api/v1/tokens/{analyst['id']}/revoke", headers=sqlite_api.h("admin")).json()["revoked_at"]
    r = c.get("/api/v1/me", headers=sqlite_api.h("analyst"))
    assert r.status_code == 401 and r.json()["detail"] == "API token 'analyst-user' was revoked"
    made = c.post("/api/v1/tokens", json={"name": "ci", "role": "viewer"}, headers=sqlite_api.h("admin")).json()
    assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {made['token']}"}).json()["role"] == "viewer"
    audit = c.get("/api/v1/audit", params={"entity_type": "token"}, headers=sqlite_api.h("viewer")).json()
    assert [e["action"] for e in audit][-2:] == ["token.revoke", "token.create"] and audit[-1]["actor"] == "admin-user"


def test_rate_limit_per_token_answers_429_with_retry_after(sqlite_url: str, broker) -> None:
    seed_world(sqlite_url)
    gen = make_api(sqlite_url, broker.bootstrap, api_rate_limit_per_minute=5)
    api = next(gen)
    codes = [api.client.get("/api/v1/me", headers=api.h("viewer")).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    r = api.client.get("/api/v1/me", headers=api.h("viewer"))
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "rate limit" in r.json()["detail"]
    assert api.client.get("/api/v1/me", headers=api.h("analyst")).status_code == 200  # other tokens unaffected
    gen.close()


def test_oversized_bodies_are_refused_with_413(sqlite_api: Api) -> None:
    big = {"subject_type": "cluster", "subject_id": "c-uni", "reason": "x" * 2_000_000}
    r = sqlite_api.client.post("/api/v1/cases", json=big, headers=sqlite_api.h("analyst"))
    assert r.status_code == 413 and "larger than" in r.json()["detail"]

    def chunks():
        yield b'{"subject_type": "cluster", "subject_id": "c-uni", "reason": "'
        for _ in range(40):
            yield b"y" * 50_000
        yield b'"}'

    r = sqlite_api.client.post(
        "/api/v1/cases", content=chunks(), headers=sqlite_api.h("analyst") | {"Content-Type": "application/json"}
    )
    assert r.status_code == 413


def test_an_unreachable_database_gives_503_not_500() -> None:
    port = free_port()  # nothing listens here
    app = create_app(ApiSettings(database_url=f"postgresql://postgres@127.0.0.1:{port}/test"), outbox_loop=False)
    with TestClient(app) as c:
        r = c.get("/api/v1/detections", headers={"Authorization": "Bearer dg_x"})
        assert r.status_code == 503 and r.json() == {"detail": "database unavailable; retry shortly"}
        assert r.headers["retry-after"] == "5"
        assert c.get("/health").status_code == 503


def test_token_cli(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_api_settings.cache_clear()
    cli_app = build_app()
    runner = CliRunner()
    made = runner.invoke(cli_app, ["token", "create", "--role", "lead", "--name", "alice"])
    assert made.exit_code == 0 and made.stdout.strip().startswith("dg_")
    bad = runner.invoke(cli_app, ["token", "create", "--role", "boss", "--name", "x"])
    assert bad.exit_code == 2 and "unknown role" in bad.output
    listed = runner.invoke(cli_app, ["token", "list"])
    assert "alice\tlead" in listed.stdout and made.stdout.strip() not in listed.stdout
    assert "revoked" in runner.invoke(cli_app, ["token", "revoke", "1"]).stdout
    assert runner.invoke(cli_app, ["token", "revoke", "9"]).exit_code == 1
    get_api_settings.cache_clear()
