"""Strict parsing: duplicate JSON keys, several Authorization headers and non-JSON bodies are refused; ids a
caller sent are echoed cut short."""

from __future__ import annotations

from tests.api.conftest import Api

CASE = b'{"subject_type": "cluster", "subject_id": "c-uni", "subject_id": "c-corp"}'


def test_duplicate_json_keys_are_refused_naming_the_key(api: Api) -> None:
    h = api.h("analyst") | {"Content-Type": "application/json"}
    r = api.client.post("/api/v1/cases", content=CASE, headers=h)
    assert r.status_code == 422 and "subject_id" in r.json()["detail"]
    nested = b'{"decision": "dismissed", "account_ids": ["a"], "reason": {"x": 1, "x": 2}}'
    assert api.client.post("/api/v1/cases/1/decisions", content=nested, headers=h).status_code == 422
    assert api.client.get("/api/v1/cases", headers=api.h("viewer")).json() == []


def test_only_json_bodies_are_accepted(api: Api) -> None:
    body = CASE.replace(b', "subject_id": "c-corp"', b"")
    for media in ("application/vnd.evil+json", "text/plain", "application/x-www-form-urlencoded"):
        r = api.client.post("/api/v1/cases", content=body, headers=api.h("analyst") | {"Content-Type": media})
        assert r.status_code == 415, media
    ok = api.h("analyst") | {"Content-Type": "application/json; charset=utf-8"}
    assert api.client.post("/api/v1/cases", content=body, headers=ok).status_code == 201


def test_a_second_authorization_header_is_refused(api: Api) -> None:
    headers = [("Authorization", api.h("viewer")["Authorization"]), ("Authorization", api.h("admin")["Authorization"])]
    r = api.client.get("/api/v1/me", headers=headers)
    assert r.status_code == 400 and "one Authorization" in r.json()["detail"]


def test_echoed_ids_are_cut_short(api: Api) -> None:
    r = api.client.get("/api/v1/clusters/" + "x" * 5000, headers=api.h("viewer"))
    assert r.status_code == 404 and len(r.json()["detail"]) < 100 and r.json()["detail"].endswith("…")
