"""Indicator sharing: a confirmed cluster's indicators as a STIX 2.1 bundle."""

from __future__ import annotations

import stix2

from tests.api.conftest import Api


def test_only_confirmed_clusters_are_shared_as_stix(sqlite_api: Api) -> None:
    c, h = sqlite_api.client, sqlite_api.h
    r = c.get("/api/v1/clusters/c-hydra/stix", headers=h("analyst"))
    assert r.status_code == 409 and "not a confirmed attack" in r.json()["detail"]
    case = c.post(
        "/api/v1/cases", json={"subject_type": "cluster", "subject_id": "c-hydra"}, headers=h("analyst")
    ).json()
    c.post(f"/api/v1/cases/{case['id']}/transition", json={"status": "in_review"}, headers=h("analyst"))
    c.post(
        f"/api/v1/cases/{case['id']}/transition",
        json={"status": "confirmed_attack", "reason": "hydra"},
        headers=h("lead"),
    )
    r = c.get("/api/v1/clusters/c-hydra/stix", headers=h("analyst"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/stix+json")
    bundle = stix2.parse(r.text, allow_custom=True)
    assert bundle.type == "bundle"
    by_type: dict[str, list] = {}
    for o in bundle.objects:
        by_type.setdefault(o.type, []).append(o)
    assert len(by_type["campaign"]) == 1 and by_type["identity"][0].name == "DistillGuard"
    patterns = {i.pattern for i in by_type["indicator"]}
    assert "[ipv4-addr:value = '203.0.113.7']" in patterns
    assert "[ipv4-addr:value = '203.0.113.0/24']" in patterns
    assert "[autonomous-system:number = 64500]" in patterns
    assert "[x-distillguard-payment:fingerprint = 'card-7f3a']" in patterns
    assert (
        len(by_type["indicator"]) == 8 == len(by_type["relationship"])
    )  # 2 cards, 2 IPs, subnet, ASN, client, template
    campaign = by_type["campaign"][0]
    assert all(
        rel.target_ref == campaign.id and rel.relationship_type == "indicates" for rel in by_type["relationship"]
    )
    assert c.get("/api/v1/clusters/c-hydra/stix", headers=h("analyst")).text == r.text  # deterministic ids
    assert c.get("/api/v1/clusters/c-hydra/stix", headers=h("viewer")).status_code == 403
