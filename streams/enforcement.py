"""Automated responses: the ladder's moves the policy automates, as events on ``enforcement-actions``.

One event per change of what is enforced on an account or a cluster: the highest rung the policy automates at or
below its rung (:meth:`Policy.automated`; a subject put up for ``review`` stays throttled), keyed by the subject.
A move back down to nothing automated is not published: lifting an action is a reviewer's decision.
In shadow mode (the policy's default; ``ENFORCEMENT_SHADOW`` overrides it) the action is ``would_<rung>``: it says
what would be done and nothing is enforced. Rungs the policy lists in ``confirm`` (``suspend`` and ``takedown`` by
default) are published as requests a lead must confirm. The idempotency key is a hash of the subject, the action as
published, the policy version and the model version, so a worker that re-publishes after a restart sends the same
key and a consumer applies each action once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec

from distillguard.detector.policy import Policy
from distillguard.detector.records import Action, ActionChange, SubjectKind

SOURCE = "detector"  # the review service's confirmed decisions and analysts' overrides ("analyst") are the others
SHADOW_PREFIX = "would_"
KEY_HEX = 32  # hex digits of the idempotency key


class EnforcementAction(msgspec.Struct, kw_only=True, frozen=True):
    """A move on the response ladder that the policy automates (value on ``enforcement-actions``)."""

    idempotency_key: str
    source: str
    kind: SubjectKind
    subject: str
    action: str  # a rung, or would_<rung> in shadow mode
    previous: str  # the automated rung before (none, or a rung)
    needs_confirmation: bool  # a lead confirms it before anything is done
    probability: float
    basis: list[str]
    policy_version: str
    model_version: str
    at: datetime


def idempotency_key(kind: SubjectKind, subject: str, action: str, policy_version: str, model_version: str) -> str:
    """The same move under the same policy and model always has the same key."""
    raw = "\0".join((kind, subject, action, policy_version, model_version)).encode()
    return hashlib.sha256(raw).hexdigest()[:KEY_HEX]


def enforcement_actions(changes: list[ActionChange], policy: Policy, shadow: bool) -> list[EnforcementAction]:
    """The events to publish for ``changes``: changes of the automated rung (to another than ``none``), ``would_``
    ones when ``shadow``."""
    out = []
    for ch in changes:
        now, before = policy.automated(Action(ch.action)), policy.automated(Action(ch.previous))
        if now == before or now == Action.none:
            continue
        action = f"{SHADOW_PREFIX}{now}" if shadow else str(now)
        out.append(
            EnforcementAction(
                idempotency_key=idempotency_key(ch.kind, ch.id, action, ch.policy_version, ch.model_version),
                source=SOURCE,
                kind=ch.kind,
                subject=ch.id,
                action=action,
                previous=str(before),
                needs_confirmation=now in policy.confirm,
                probability=ch.probability,
                basis=ch.basis,
                policy_version=ch.policy_version,
                model_version=ch.model_version,
                at=ch.at,
            )
        )
    return out
