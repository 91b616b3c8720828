"""The events a webhook can subscribe to: their names, the fields each carries, its one-line summary, and the
envelope every delivery's JSON body is."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

EVENT_ID_PREFIX = "evt_"
EVENT_ID_HEX = 32  # hex digits of the event id's hash


class EventType(StrEnum):
    """What happened (the wire values never change)."""

    cluster_flagged = "cluster.flagged"
    case_opened = "case.opened"
    case_decided = "case.decided"
    enforcement_sent = "enforcement.sent"


def _cluster_flagged(d: Mapping) -> str:
    return f"cluster {d['cluster_id']} flagged: {d['size']} accounts, score {d['score']:.2f}, action {d['action']}"


def _case_opened(d: Mapping) -> str:
    return f"case #{d['case_id']} opened on {d['subject_type']} {d['subject_id']} by {d['opened_by']}"


def _case_decided(d: Mapping) -> str:
    return (
        f"case #{d['case_id']} on {d['subject_type']} {d['subject_id']} decided {d['decision']} "
        f"by {d['decided_by']}: {d['reason']}"
    )


def _enforcement_sent(d: Mapping) -> str:
    subject = d["account_id"] or f"cluster {d['cluster_id']}"
    origin = f"case #{d['case_id']}" if d["case_id"] is not None else "an override"
    return f"enforcement {d['action']} on {subject} sent ({origin})"


@dataclass(frozen=True)
class Kind:
    """An event type's data fields (every event of the type carries exactly these) and its summary."""

    fields: frozenset[str]
    summary: Callable[[Mapping], str]


KINDS: dict[EventType, Kind] = {
    EventType.cluster_flagged: Kind(
        frozenset({"cluster_id", "size", "score", "probability", "action", "flagged_at", "reasons"}), _cluster_flagged
    ),
    EventType.case_opened: Kind(
        frozenset({"case_id", "subject_type", "subject_id", "opened_by", "assignee", "reason"}), _case_opened
    ),
    EventType.case_decided: Kind(
        frozenset({"case_id", "subject_type", "subject_id", "decision", "decided_by", "decided_at", "reason"}),
        _case_decided,
    ),
    EventType.enforcement_sent: Kind(
        frozenset({"idempotency_key", "action", "account_id", "cluster_id", "case_id", "sent_at"}), _enforcement_sent
    ),
}


class EventShapeError(ValueError):
    """An event's data does not carry exactly its type's fields (a programming error in the caller)."""


@dataclass(frozen=True)
class Event:
    """One occurrence of ``type``: ``key`` names it among its type's events (the same key is the same event, queued
    once per subscription however often it is raised), ``data`` its fields (JSON values)."""

    type: EventType
    key: str
    data: Mapping[str, object]

    def __post_init__(self) -> None:
        expected = KINDS[self.type].fields
        if set(self.data) != expected:
            missing, extra = sorted(expected - set(self.data)), sorted(set(self.data) - expected)
            raise EventShapeError(f"{self.type} data: missing {missing}, unexpected {extra}")

    @property
    def id(self) -> str:
        """The event's stable id: a hash of its type and key."""
        digest = hashlib.sha256(f"{self.type}:{self.key}".encode()).hexdigest()
        return EVENT_ID_PREFIX + digest[:EVENT_ID_HEX]

    def envelope(self, at: datetime) -> dict:
        """The JSON body of a delivery in the ``json`` format."""
        return {"id": self.id, "type": str(self.type), "created_at": at.isoformat(), "data": dict(self.data)}


def summary(envelope: Mapping) -> str:
    """One readable line saying what an envelope's event is (a Slack message's text)."""
    return "DistillGuard: " + KINDS[EventType(envelope["type"])].summary(envelope["data"])
