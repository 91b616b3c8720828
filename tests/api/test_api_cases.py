"""Cases: workflow, roles, comments, bulk decisions, the audit log, and decisions as training labels."""

from __future__ import annotations

from distillguard.api.cases.service import decisions_as_labels
from distillguard.api.database import session_scope
from tests.api.conftest import Api


def _open(api: Api, cluster: str, role: str = "analyst") -> dict:
    r = api.client.post(
        "/api/v1/cases",
        json={"subject_type": "cluster", "subject_id": cluster, "reason": "triage"},
        headers=api.h(role),
    )
    assert r.status_code == 201, r.text
    return r.json()


def _move(api: Api, case_id: int, status: str, role: str, reason: str | None = "because"):
    return api.client.post(
        f"/api/v1/cases/{case_id}/transition", json={"status": status, "reason": reason}, headers=api.h(role)
    )


def test_university_class_is_dismissed_by_an_analyst(api: Api) -> None:
    case = _open(api, "c-uni")
    assert case["status"] == "open" and case["created_by"] == "analyst-user"
    assert (
        api.client.post(
            "/api/v1/cases", json={"subject_type": "cluster", "subject_id": "c-uni"}, headers=api.h("analyst")
        ).status_code
        == 409
    )
    r = api.client.post(
        f"/api/v1/cases/{case['id']}/assign",
        json={"assignee": "analyst-user", "reason": "on shift"},
        headers=api.h("analyst"),
    )
    assert r.json()["assignee"] == "analyst-user"  # taken: from now on only they, leads and admins change it
    r = api.client.post(
        f"/api/v1/cases/{case['id']}/comments",
        json={"body": "Same homework, one NAT: a class."},
        headers=api.h("analyst"),
    )
    assert r.status_code == 201
    assert _move(api, case["id"], "dismissed", "analyst").status_code == 409  # must be reviewed first
    assert _move(api, case["id"], "in_review", "analyst").status_code == 200
    r = _move(api, case["id"], "dismissed", "analyst", reason=None)
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = _move(api, case["id"], "dismissed", "analyst", reason="university class on a NAT")
    assert r.status_code == 200 and r.json()["case"]["status"] == "dismissed"
    detail = api.client.get(f"/api/v1/cases/{case['id']}", headers=api.h("viewer")).json()
    assert detail["comments"][0]["body"].startswith("Same homework") and detail["enforcement"] == []
    assert len(detail["decisions"]) == 25 and {d["decision"] for d in detail["decisions"]} == {"dismissed"}
    assert detail["decisions"][0]["model_version"] == "m-2026.03"
    cl = api.client.get("/api/v1/clusters/c-uni", headers=api.h("viewer")).json()
    assert cl["status"] == "dismissed" and cl["case"]["status"] == "dismissed"
    audit = api.client.get(
        "/api/v1/audit", params={"entity_type": "case", "entity_id": case["id"]}, headers=api.h("viewer")
    ).json()
    assert [(e["actor"], e["action"]) for e in audit] == [
        ("analyst-user", "case.open"),
        ("analyst-user", "case.assign"),
        ("analyst-user", "case.comment"),
        ("analyst-user", "case.transition"),
        ("analyst-user", "case.transition"),
    ]
    last = audit[-1]
    assert last["reason"] == "university class on a NAT"
    assert last["details"] == {"before": "in_review", "after": "dismissed", "decided_accounts": 25}
    assert audit[1]["details"] == {"before": None, "after": "analyst-user"} and audit[1]["at"]


def test_only_leads_confirm_and_bulk_decisions_spare_resellers(api: Api) -> None:
    case = _open(api, "c-hydra")
    _move(api, case["id"], "in_review", "analyst")
    r = api.client.post(
        f"/api/v1/cases/{case['id']}/decisions",
        json={
            "decision": "dismissed",
            "account_ids": ["acct-r000", "acct-r001"],
            "reason": "resold-access customers on the proxy IPs",
        },
        headers=api.h("analyst"),
    )
    assert r.json() == {"changed": 2}
    r = api.client.post(
        f"/api/v1/cases/{case['id']}/decisions",
        json={"decision": "dismissed", "account_ids": ["acct-u000"]},
        headers=api.h("analyst"),
    )
    assert r.status_code == 422 and "acct-u000" in r.json()["detail"]
    r = _move(api, case["id"], "confirmed_attack", "analyst")
    assert r.status_code == 403 and "lead" in r.json()["detail"]
    r = api.client.post(
        f"/api/v1/cases/{case['id']}/transition",
        json={"status": "confirmed_attack", "reason": "x"},
        headers=api.h("viewer"),
    )
    assert r.status_code == 403 and "viewer" in r.json()["detail"]
    r = _move(api, case["id"], "confirmed_attack", "lead", reason="hydra: shared cards, proxy IPs, burst sign-ups")
    assert r.status_code == 200 and r.json()["changed"]
    decisions = api.client.get(f"/api/v1/cases/{case['id']}", headers=api.h("viewer")).json()["decisions"]
    by = {d["account_id"]: d["decision"] for d in decisions}
    assert by["acct-r000"] == by["acct-r001"] == "dismissed"
    assert sum(v == "confirmed_attack" for v in by.values()) == 40
    r = api.client.post(
        f"/api/v1/cases/{case['id']}/decisions", json={"decision": "dismissed"}, headers=api.h("analyst")
    )
    assert r.status_code == 409
    assert _move(api, case["id"], "in_review", "lead").status_code == 409  # confirmed is final
    with session_scope(api.url) as s:
        labels = decisions_as_labels(s)
    assert labels["acct-h000"] is True and labels["acct-r000"] is False and len(labels) == 42


def test_escalation_and_reopening(api: Api) -> None:
    case = _open(api, "c-hydra-2")
    _move(api, case["id"], "in_review", "analyst")
    assert _move(api, case["id"], "escalated", "analyst").status_code == 200
    assert _move(api, case["id"], "dismissed", "analyst").status_code == 403  # escalated: a lead decides
    assert _move(api, case["id"], "dismissed", "lead").status_code == 200
    with session_scope(api.url) as s:
        assert set(decisions_as_labels(s).values()) == {False}
    assert _move(api, case["id"], "in_review", "lead").status_code == 200
    with session_scope(api.url) as s:
        assert decisions_as_labels(s) == {}  # reopened: no final decisions
    audit = api.client.get(
        "/api/v1/audit", params={"entity_id": case["id"], "action": "case.transition"}, headers=api.h("viewer")
    ).json()
    assert audit[-1]["actor"] == "lead-user" and audit[-1]["details"]["decisions_cleared"] == 10


def test_audit_log_pages_and_filters(api: Api) -> None:
    for cid in ("c-uni", "c-corp"):
        _open(api, cid)
    everything = api.client.get("/api/v1/audit", params={"action": "case.open"}, headers=api.h("viewer")).json()
    assert [e["details"]["subject_id"] for e in everything] == ["c-uni", "c-corp"]
    after = api.client.get(
        "/api/v1/audit", params={"action": "case.open", "after": everything[0]["id"]}, headers=api.h("viewer")
    ).json()
    assert [e["details"]["subject_id"] for e in after] == ["c-corp"]
    cases = api.client.get("/api/v1/cases", params={"status": "open"}, headers=api.h("viewer")).json()
    assert [c["subject_id"] for c in cases] == ["c-corp", "c-uni"]
