"""Cluster and account evidence: members, indicators, timeline, prompts (redaction), reasons, linked clusters."""

from __future__ import annotations

from distillguard.api.detections.evidence import MEDIUM_BELOW, SHORT_BELOW, redact
from tests.api.conftest import Api


def test_cluster_evidence(api: Api) -> None:
    r = api.client.get("/api/v1/clusters/c-hydra", headers=api.h("viewer"))
    assert r.status_code == 200
    d = r.json()
    assert d["members_total"] == 42 and len(d["members"]) == 42
    assert d["members"][0]["account_id"] == "acct-h000" and d["members"][-1]["account_id"] in ("acct-r000", "acct-r001")
    assert d["shared_indicators"]["payment_fingerprint"] == ["card-7f3a", "card-99b1"]
    assert d["shared_indicators"]["asn"] == ["64500"] and "client" in d["shared_indicators"]
    assert d["reasons"][0] == "40 accounts share 2 payment cards"
    assert d["verification_paths"] == {"education": 14, "research": 13, "startup": 13, "standard": 2}
    assert d["models"]["frontier-3"] == 40
    # the timeline is the members' hourly requests summed
    total = sum(h["requests"] for h in d["timeline"])
    assert total == d["n_requests"]
    hours = [h["hour"] for h in d["timeline"]]
    assert hours == sorted(hours) and hours[0] == "2026-03-02T08"
    linked = {c["cluster_id"]: c for c in d["linked_clusters"]}
    assert linked["c-hydra-2"]["known"] and linked["c-hydra-2"]["score"] == 0.87
    assert linked["c-gone"] == {"cluster_id": "c-gone", "known": False, "score": None, "size": None, "status": None}
    assert d["case"] is None


def test_prompts_are_redacted_unless_an_analyst_asks(api: Api) -> None:
    red = api.client.get("/api/v1/clusters/c-hydra", headers=api.h("viewer")).json()["sample_prompts"]
    assert red and all(p["redacted"] and p["prompt"] == "[redacted: short]" for p in red)
    r = api.client.get("/api/v1/clusters/c-hydra", params={"redact": False}, headers=api.h("viewer"))
    assert r.status_code == 403 and "analyst" in r.json()["detail"]
    clear = api.client.get("/api/v1/clusters/c-hydra", params={"redact": False}, headers=api.h("analyst")).json()
    assert clear["sample_prompts"][0]["prompt"].startswith("Think step by step")
    assert len(clear["sample_prompts"]) == 20


def test_a_redacted_text_shows_its_size_class() -> None:
    sizes = {n: redact("x" * n) for n in (0, SHORT_BELOW - 1, SHORT_BELOW, MEDIUM_BELOW - 1, MEDIUM_BELOW, 10**6)}
    assert list(sizes.values()) == ["[redacted: short]"] * 2 + ["[redacted: medium]"] * 2 + ["[redacted: long]"] * 2


def test_account_evidence(api: Api) -> None:
    d = api.client.get("/api/v1/accounts/acct-k003", params={"redact": False}, headers=api.h("analyst")).json()
    assert d["cluster_id"] == "c-hydra-2" and d["cluster"]["size"] == 10
    assert d["verification_path"] == "startup" and d["models"] == ["frontier-3"]
    assert len(d["timeline"]) == 12 and sum(h["requests"] for h in d["timeline"]) == d["n_requests"]
    assert d["sample_prompts"] == [
        {
            "account_id": "acct-k003",
            "redacted": False,
            "prompt": "Grade this answer against the rubric and explain each point.",
        }
    ]
    assert d["reasons"] == ["pivoted to frontier-3 within 3 hours of release"]
    single = api.client.get("/api/v1/accounts/acct-s000", headers=api.h("viewer")).json()
    assert single["cluster"] is None and single["case"] is None


def test_unknown_ids_are_404_with_a_reason(api: Api) -> None:
    r = api.client.get("/api/v1/clusters/c-nope", headers=api.h("viewer"))
    assert r.status_code == 404 and r.json() == {"detail": "no cluster 'c-nope'"}
    r = api.client.get("/api/v1/accounts/nobody", headers=api.h("viewer"))
    assert r.status_code == 404 and "nobody" in r.json()["detail"]
