"""STIX sharing at the service level (api/sharing/service.py): each kind of shared indicator's pattern (values
quoted, addresses normalised, what has no sharable form left out) and the bundle of a confirmed cluster (which
clusters, which objects, deterministic ids). On a copy of the seeded database (``db``)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import stix2
from sqlalchemy import update
from sqlalchemy.orm import Session

from distillguard.api.detections.models import ClusterRow
from distillguard.api.errors import InconsistentRecordError, ServiceError
from distillguard.api.sharing.service import IDENTITY, NAMESPACE, _pattern, _quote, cluster_bundle
from tests.api.review_world import put_case
from tests.api.seed import T0

STAMP = datetime(2026, 3, 14, 10, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "value", "pattern", "description"),
    [
        ("ip", "203.0.113.7", "[ipv4-addr:value = '203.0.113.7']", "IP address shared by the cluster"),
        ("ip", "203.0.113.7/32", "[ipv4-addr:value = '203.0.113.7']", "IP address shared by the cluster"),
        ("ip", "203.0.113.9/24", "[ipv4-addr:value = '203.0.113.0/24']", "IP address shared by the cluster"),
        ("ip", "2001:db8::1", "[ipv6-addr:value = '2001:db8::1']", "IP address shared by the cluster"),
        ("ip", "2001:DB8:0::1", "[ipv6-addr:value = '2001:db8::1']", "IP address shared by the cluster"),
        ("subnet", "203.0.113.0/24", "[ipv4-addr:value = '203.0.113.0/24']", "Subnet shared by the cluster"),
        ("subnet", "203.0.113.5/24", "[ipv4-addr:value = '203.0.113.0/24']", "Subnet shared by the cluster"),
        ("subnet", "203.0.113.5", "[ipv4-addr:value = '203.0.113.5/32']", "Subnet shared by the cluster"),
        ("subnet", "2001:db8::/48", "[ipv6-addr:value = '2001:db8::/48']", "Subnet shared by the cluster"),
        ("asn", "64500", "[autonomous-system:number = 64500]", "ASN shared by the cluster"),
        ("asn", "AS64501", "[autonomous-system:number = 64501]", "ASN shared by the cluster"),
        ("asn", "as0064502", "[autonomous-system:number = 64502]", "ASN shared by the cluster"),
        ("asn", "AS\u0666\u0664\u0665\u0660\u0660", "[autonomous-system:number = 64500]", "ASN shared by the cluster"),
        (
            "client",
            "ja3:e7d7|python-httpx/0.27",
            "[x-distillguard-client:fingerprint = 'ja3:e7d7|python-httpx/0.27']",
            "TLS fingerprint and user agent shared by the cluster",
        ),
        (
            "payment_fingerprint",
            "card-7f3a",
            "[x-distillguard-payment:fingerprint = 'card-7f3a']",
            "Payment card fingerprint shared by the cluster",
        ),
        (
            "api_key",
            "key-01",
            "[x-distillguard-api-key:fingerprint = 'key-01']",
            "API key fingerprint shared by the cluster",
        ),
        (
            "template",
            "Say 'hi' \\ then {n}",
            "[x-distillguard-prompt:template = 'Say \\'hi\\' \\\\ then {n}']",
            "Prompt template shared by the cluster",
        ),
        (
            "client",
            "a\\'] OR [x:y = 'z",
            "[x-distillguard-client:fingerprint = 'a\\\\\\'] OR [x:y = \\'z']",
            "TLS fingerprint and user agent shared by the cluster",
        ),
    ],
)
def test_each_kind_of_indicator_has_its_pattern(kind: str, value: str, pattern: str, description: str) -> None:
    assert _pattern(kind, value) == (pattern, description)
    built = "".join(list(kind))  # a kind read from stored JSON: equal, not the same string object
    assert built is not kind and _pattern(built, value) == (pattern, description)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("ip", "not-an-ip"),
        ("ip", "203.0.113.300"),
        ("subnet", "203.0.113.0/33"),
        ("asn", "AS64500x"),
        ("asn", "ASN64500"),
        ("asn", "-1"),
        ("asn", ""),
        ("asn", "AS\u00b2"),  # a superscript two: a digit to str.isdigit, not to int()
        ("asn", "\u2460"),  # a circled one: likewise
        ("email", "a@b.c"),
        ("user_agent", "curl/8.0"),  # kinds without a STIX form, sorting before and after the known ones
        ("a", "x"),
        ("IP", "203.0.113.7"),
    ],
)
def test_what_has_no_sharable_form_is_left_out(kind: str, value: str) -> None:
    assert _pattern(kind, value) is None


def test_quoting_escapes_backslashes_before_quotes() -> None:
    assert _quote("plain") == "plain"
    assert _quote("it's") == "it\\'s"
    assert _quote("a\\b") == "a\\\\b"
    assert _quote("\\'") == "\\\\\\'"


def ident(cluster_id: str, kind: str, key: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, f'{cluster_id}/{key}')}"


def confirmed(db: Session, cluster_id: str = "c-hydra-2", **cluster: object) -> None:
    if cluster:
        db.execute(update(ClusterRow).where(ClusterRow.cluster_id == cluster_id).values(**cluster))
    put_case(db, cluster_id, "confirmed_attack", "cluster", decided_at=STAMP)
    db.commit()


def test_a_cluster_not_confirmed_is_not_shared(db: Session) -> None:
    with pytest.raises(ServiceError) as err:
        cluster_bundle(db, "c-none")
    assert (err.value.status, err.value.detail) == (404, "no cluster 'c-none'")
    confirmed(db, "c-hydra-2")  # another cluster's confirmed case
    refusal = (409, "cluster 'c-hydra' is not a confirmed attack; only confirmed clusters are shared")
    with pytest.raises(ServiceError) as err:
        cluster_bundle(db, "c-hydra")  # no case
    assert (err.value.status, err.value.detail) == refusal
    for status in ("open", "in_review", "escalated", "dismissed"):
        case = put_case(db, "c-hydra", status, "cluster", decided_at=STAMP)
        db.commit()
        db.expire_all()  # the status read back from the database
        with pytest.raises(ServiceError) as err:
            cluster_bundle(db, "c-hydra")
        assert (err.value.status, err.value.detail) == refusal
        db.delete(case)
        db.commit()
    put_case(db, "c-uni", "confirmed_attack", "account", decided_at=STAMP)  # an account case of the same name
    with pytest.raises(ServiceError) as err:
        cluster_bundle(db, "c-uni")
    assert err.value.status == 409
    assert cluster_bundle(db, "c-hydra-2").objects[1].name == "Distillation campaign c-hydra-2"


def test_a_confirmed_case_without_its_decision_time_is_an_inconsistent_record(db: Session) -> None:
    case = put_case(db, "c-hydra-2", "confirmed_attack", "cluster")
    with pytest.raises(InconsistentRecordError, match=f"case {case.id} is confirmed_attack but has no decision time"):
        cluster_bundle(db, "c-hydra-2")


def test_the_bundle_of_a_confirmed_cluster(db: Session) -> None:
    long_template = "T" * 100
    confirmed(
        db,
        shared_indicators={
            "template": [long_template],
            "ip": ["bogus", "203.0.113.9"],  # an unsharable value skipped, not the rest of its kind
            "asn": ["AS64500"],
            "email": ["a@b.c"],
        },
        reasons=[f"reason {i}." for i in range(7)],
        score=0.875,
        size=10,
    )
    bundle = cluster_bundle(db, "c-hydra-2")
    assert bundle.id == ident("c-hydra-2", "bundle", f"bundle/{STAMP.isoformat()}")
    objs = list(bundle.objects)
    assert [o.type for o in objs] == ["identity", "campaign", *["indicator", "relationship"] * 3]
    assert objs[0] == IDENTITY and IDENTITY.id == f"identity--{uuid.uuid5(NAMESPACE, 'distillguard')}"
    assert IDENTITY.name == "DistillGuard" and IDENTITY.identity_class == "system"
    campaign = objs[1]
    assert campaign.id == ident("c-hydra-2", "campaign", "campaign")
    assert campaign.name == "Distillation campaign c-hydra-2"
    assert campaign.created == campaign.modified == STAMP
    assert campaign.created_by_ref == IDENTITY.id
    assert (campaign.first_seen, campaign.last_seen) == (T0 + timedelta(hours=20), T0 + timedelta(hours=32))
    assert campaign.description == (
        "10 coordinated accounts harvesting model outputs. reason 0. reason 1. reason 2. reason 3. reason 4."
    )
    assert campaign.objective == "Harvest model outputs (distillation)"
    assert campaign.confidence == 88
    expected = [  # sorted by kind; bogus IPs and unknown kinds left out
        ("asn", "AS64500", "[autonomous-system:number = 64500]", "ASN shared by the cluster"),
        ("ip", "203.0.113.9", "[ipv4-addr:value = '203.0.113.9']", "IP address shared by the cluster"),
        ("template", long_template, f"[x-distillguard-prompt:template = '{long_template}']",
         "Prompt template shared by the cluster"),
    ]  # fmt: skip
    for (kind, value, pattern, what), ind, rel in zip(expected, objs[2::2], objs[3::2], strict=True):
        assert ind.id == ident("c-hydra-2", "indicator", f"{kind}/{value}")
        assert ind.name == f"{kind}: {value[:80]}"
        assert (ind.description, ind.pattern, ind.pattern_type) == (what, pattern, "stix")
        assert ind.valid_from == ind.created == ind.modified == STAMP
        assert ind.created_by_ref == IDENTITY.id
        assert ind.indicator_types == ["malicious-activity"] and ind.labels == ["distillation", kind]
        assert rel.id == ident("c-hydra-2", "relationship", f"{kind}/{value}")
        assert (rel.relationship_type, rel.source_ref, rel.target_ref) == ("indicates", ind.id, campaign.id)
        assert rel.created == rel.modified == STAMP and rel.created_by_ref == IDENTITY.id
    assert objs[6].name == "template: " + "T" * 80


def test_the_bundle_is_deterministic_and_parses_back(db: Session) -> None:
    confirmed(db, "c-hydra")
    first = cluster_bundle(db, "c-hydra").serialize()
    assert cluster_bundle(db, "c-hydra").serialize() == first
    parsed = stix2.parse(first, allow_custom=True)
    patterns = [o.pattern for o in parsed.objects if o.type == "indicator"]
    assert patterns == [
        "[autonomous-system:number = 64500]",
        "[x-distillguard-client:fingerprint = 'ja3:e7d7|python-httpx/0.27']",
        "[ipv4-addr:value = '203.0.113.7']",
        "[ipv4-addr:value = '203.0.113.9']",
        "[x-distillguard-payment:fingerprint = 'card-7f3a']",
        "[x-distillguard-payment:fingerprint = 'card-99b1']",
        "[ipv4-addr:value = '203.0.113.0/24']",
        "[x-distillguard-prompt:template = 'Think step by step and show every intermediate reasoning step for task "
        "#{n}.']",
    ]
    campaign = next(o for o in json.loads(first)["objects"] if o["type"] == "campaign")
    assert campaign["confidence"] == 96 and campaign["description"].startswith("42 coordinated accounts")


def test_a_hostile_indicator_stays_inside_its_quoted_value(db: Session) -> None:
    value = "x'] AND [ipv4-addr:value = '0.0.0.0/0"
    confirmed(db, shared_indicators={"client": [value], "asn": ["AS\u00b2"]})  # the ASN: left out, no error
    (ind,) = [o for o in cluster_bundle(db, "c-hydra-2").objects if o.type == "indicator"]
    assert ind.pattern == "[x-distillguard-client:fingerprint = 'x\\'] AND [ipv4-addr:value = \\'0.0.0.0/0']"
