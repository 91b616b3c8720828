"""The detections queue: risk order, filters, cursor pagination and counts."""

from __future__ import annotations

from tests.api.conftest import Api


def _all(api: Api, **params: object) -> list[dict]:
    out, cursor = [], None
    while True:
        page = api.client.get(
            "/api/v1/detections", params=params | ({"cursor": cursor} if cursor else {}), headers=api.h("viewer")
        )
        assert page.status_code == 200, page.text
        body = page.json()
        out += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out


def test_clusters_are_listed_by_risk_with_their_status(api: Api) -> None:
    body = api.client.get("/api/v1/detections", headers=api.h("viewer")).json()
    assert [c["cluster_id"] for c in body["items"]] == ["c-hydra", "c-hydra-2", "c-uni", "c-corp"]
    assert body["total"] == 4 and body["next_cursor"] is None
    top = body["items"][0]
    assert top["size"] == 42 and top["flagged"] and top["status"] == "new"
    assert "payment_fingerprint" in top["indicator_kinds"] and top["reasons"]


def test_cursor_pagination_visits_every_account_once_in_order(api: Api) -> None:
    first = api.client.get("/api/v1/detections", params={"kind": "account", "limit": 7}, headers=api.h("viewer")).json()
    assert first["total"] == 133 and len(first["items"]) == 7 and first["next_cursor"]
    items = _all(api, kind="account", limit=7)
    ids = [i["account_id"] for i in items]
    assert len(ids) == len(set(ids)) == 133
    keys = [(-i["score"], i["account_id"]) for i in items]
    assert keys == sorted(keys)


def test_filters(api: Api) -> None:
    def ids(**params: object) -> list[str]:
        key = "account_id" if params.get("kind") == "account" else "cluster_id"
        return [i[key] for i in _all(api, **params)]

    assert ids(flagged=True) == ["c-hydra", "c-hydra-2"]
    assert ids(min_score=0.2, max_score=0.9) == ["c-hydra-2", "c-uni"]
    assert ids(min_size=30) == ["c-hydra", "c-corp"]
    assert ids(max_size=10) == ["c-hydra-2"]
    assert ids(verification_path="education") == ["c-hydra", "c-uni"]
    assert ids(model="frontier-3") == ["c-hydra", "c-hydra-2"]
    assert ids(indicator="203.0.113.9") == ["c-hydra", "c-hydra-2"]
    assert ids(indicator="64500", indicator_kind="ip") == []
    assert ids(since="2026-03-02T20:00:00Z") == ["c-hydra", "c-hydra-2"]
    assert ids(until="2026-03-02T10:00:00Z") == ["c-hydra", "c-uni", "c-corp"]
    assert ids(kind="account", verification_path="standard", min_score=0.3) == [
        "acct-s005",
        "acct-s004",
        "acct-s003",
        "acct-r001",
        "acct-r000",
    ]
    assert set(ids(kind="account", indicator="card-5511")) == {f"acct-k{i:03d}" for i in range(10)}
    assert ids(kind="account", model="frontier-1", max_score=0.1) == ["acct-s000"]
    assert ids(search="c-hydra") == ["c-hydra", "c-hydra-2"]  # ids starting with it
    assert ids(search="acct-u003") == ["c-uni"]  # the cluster of this account
    assert ids(search="c-%") == [] and ids(kind="account", search="acct-_00") == []  # literal % and _
    assert ids(kind="account", search="acct-r") == ["acct-r001", "acct-r000"]
    assert len(ids(kind="account", search="c-hydra-2")) == 10  # the accounts of this cluster
    assert ids(kind="account", lone=True, flagged=True) == ["acct-s005"]  # the lone harvester
    assert len(ids(kind="account", lone=False)) == 127 and ids(lone=True) == [] and len(ids(lone=False)) == 4


def test_status_filter_and_counts_follow_cases(api: Api) -> None:
    r = api.client.post(
        "/api/v1/cases", json={"subject_type": "cluster", "subject_id": "c-uni"}, headers=api.h("analyst")
    )
    assert r.status_code == 201
    assert [c["cluster_id"] for c in _all(api, status="open")] == ["c-uni"]
    assert len(_all(api, kind="account", status="open")) == 25
    counts = api.client.get("/api/v1/detections/counts", headers=api.h("viewer")).json()
    assert counts == {"kind": "cluster", "total": 4, "flagged": 2, "by_status": {"new": 3, "open": 1}}
    acc = api.client.get(
        "/api/v1/detections/counts", params={"kind": "account", "flagged": True}, headers=api.h("viewer")
    ).json()
    assert acc["total"] == acc["flagged"] == 50 + 1  # hydra members, hydra-2 members and acct-s005


def test_bad_queue_requests_say_why(api: Api) -> None:
    r = api.client.get("/api/v1/detections", params={"cursor": "not-a-cursor"}, headers=api.h("viewer"))
    assert r.status_code == 422 and "cursor" in r.json()["detail"]
    r = api.client.get("/api/v1/detections", params={"min_score": "high"}, headers=api.h("viewer"))
    assert r.status_code == 422 and "min_score" in r.json()["detail"]
    r = api.client.get("/api/v1/detections", params={"status": "maybe"}, headers=api.h("viewer"))
    assert r.status_code == 422 and "status" in r.json()["detail"]


UNI_TEMPLATE = "Homework 4, question 2: solve step by step."  # the prompt template c-uni shares (tests/api/seed.py)


def test_matching_a_prompt_template_by_kind_needs_an_analyst(api: Api) -> None:
    by_template = {"indicator": UNI_TEMPLATE, "indicator_kind": "template"}
    for path in ("/api/v1/detections", "/api/v1/detections/counts"):
        r = api.client.get(path, params=by_template, headers=api.h("viewer"))
        assert r.status_code == 403, (path, r.text)
        assert "prompt templates needs role 'analyst'" in r.json()["detail"] and "'viewer'" in r.json()["detail"]
    analyst = api.client.get("/api/v1/detections", params=by_template, headers=api.h("analyst")).json()
    assert [c["cluster_id"] for c in analyst["items"]] == ["c-uni"]
    counts = api.client.get("/api/v1/detections/counts", params=by_template, headers=api.h("analyst")).json()
    assert counts["total"] == 1


def test_a_viewers_indicator_without_a_kind_skips_prompt_templates(api: Api) -> None:
    """Analyst first: a page cached for the analyst must not be served to the viewer."""
    for path in ("/api/v1/detections", "/api/v1/detections/counts"):
        analyst = api.client.get(path, params={"indicator": UNI_TEMPLATE}, headers=api.h("analyst")).json()
        viewer = api.client.get(path, params={"indicator": UNI_TEMPLATE}, headers=api.h("viewer")).json()
        assert (analyst["total"], viewer["total"]) == (1, 0), path
    assert [c["cluster_id"] for c in _all(api, indicator="198.51.100.20")] == ["c-uni"]  # other kinds still match
