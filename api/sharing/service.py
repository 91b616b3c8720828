"""Export a confirmed cluster's shared indicators as a STIX 2.1 bundle (``stix2``) for other providers."""

from __future__ import annotations

import ipaddress
import uuid

import stix2
from sqlalchemy import select
from sqlalchemy.orm import Session

from distillguard.api.cases.models import Case
from distillguard.api.detections.evidence import get_cluster
from distillguard.api.errors import InconsistentRecordError, ServiceError, echo
from distillguard.api.review import CaseStatus
from distillguard.detector.records import SubjectKind

NAMESPACE = uuid.UUID("6f1a5e0e-6a4b-4b43-9a4c-6d0c2e5b1f10")  # deterministic ids: same cluster, same objects
IDENTITY = stix2.Identity(
    id=f"identity--{uuid.uuid5(NAMESPACE, 'distillguard')}",
    name="DistillGuard",
    identity_class="system",
    created="2026-01-01T00:00:00Z",
    modified="2026-01-01T00:00:00Z",
)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _pattern(kind: str, value: str) -> tuple[str, str] | None:
    """(STIX pattern, description) of one shared indicator, or None when it has no sharable form."""
    v = _quote(value)
    if kind in ("ip", "subnet"):
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return None
        obj = "ipv4-addr" if net.version == 4 else "ipv6-addr"
        text = str(net.network_address) if net.num_addresses == 1 and kind == "ip" else str(net)
        return f"[{obj}:value = '{text}']", f"{'IP address' if kind == 'ip' else 'Subnet'} shared by the cluster"
    if kind == "asn":
        digits = value.upper().removeprefix("AS")
        return (
            (f"[autonomous-system:number = {int(digits)}]", "ASN shared by the cluster") if digits.isdecimal() else None
        )
    if kind == "client":
        return f"[x-distillguard-client:fingerprint = '{v}']", "TLS fingerprint and user agent shared by the cluster"
    if kind == "payment_fingerprint":
        return f"[x-distillguard-payment:fingerprint = '{v}']", "Payment card fingerprint shared by the cluster"
    if kind == "api_key":
        return f"[x-distillguard-api-key:fingerprint = '{v}']", "API key fingerprint shared by the cluster"
    if kind == "template":
        return f"[x-distillguard-prompt:template = '{v}']", "Prompt template shared by the cluster"
    return None


def cluster_bundle(session: Session, cluster_id: str) -> stix2.Bundle:
    """The STIX bundle of a cluster whose case is confirmed (409 otherwise): a campaign and its indicators."""
    row = get_cluster(session, cluster_id)
    case = session.scalar(select(Case).where(Case.subject_type == SubjectKind.cluster, Case.subject_id == cluster_id))
    if case is None or case.status != CaseStatus.confirmed_attack:
        raise ServiceError(
            409, f"cluster {echo(cluster_id)} is not a confirmed attack; only confirmed clusters are shared"
        )
    stamp = case.decided_at
    if stamp is None:
        raise InconsistentRecordError(f"case {case.id} is {case.status} but has no decision time")
    ident = lambda kind, key: f"{kind}--{uuid.uuid5(NAMESPACE, f'{cluster_id}/{key}')}"  # noqa: E731
    campaign = stix2.Campaign(
        id=ident("campaign", "campaign"),
        name=f"Distillation campaign {cluster_id}",
        created=stamp,
        modified=stamp,
        created_by_ref=IDENTITY.id,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        description=f"{row.size} coordinated accounts harvesting model outputs. " + " ".join(row.reasons[:5]),
        objective="Harvest model outputs (distillation)",
        confidence=round(row.score * 100),
    )
    objects: list = [IDENTITY, campaign]
    for kind, values in sorted(row.shared_indicators.items()):
        for value in values:
            made = _pattern(kind, value)
            if made is None:
                continue
            pattern, what = made
            ind = stix2.Indicator(
                id=ident("indicator", f"{kind}/{value}"),
                name=f"{kind}: {value[:80]}",
                description=what,
                pattern=pattern,
                pattern_type="stix",
                valid_from=stamp,
                created=stamp,
                modified=stamp,
                created_by_ref=IDENTITY.id,
                indicator_types=["malicious-activity"],
                labels=["distillation", kind],
            )
            rel = stix2.Relationship(
                id=ident("relationship", f"{kind}/{value}"),
                relationship_type="indicates",
                source_ref=ind.id,
                target_ref=campaign.id,
                created=stamp,
                modified=stamp,
                created_by_ref=IDENTITY.id,
            )
            objects += [ind, rel]
    return stix2.Bundle(id=ident("bundle", f"bundle/{stamp.isoformat()}"), objects=objects, allow_custom=True)
