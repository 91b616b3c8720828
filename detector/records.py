"""Verdict and cluster records: what the detector emits, what the stream stores and the API serves.

These are the only shapes that cross the core's boundary. They serialise to the JSON Lines formats
of ``distillguard detect --out`` / ``--clusters`` via :func:`to_json` / :func:`verdict_from_json`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum, auto

import msgspec


class SubjectKind(StrEnum):
    """What a record, a change, a queue or a case is about."""

    cluster = auto()
    account = auto()


class Action(StrEnum):
    """A rung of the response ladder, mildest first (:mod:`detector.ladder`); ``takedown`` is for clusters only."""

    none = auto()
    watch = auto()
    challenge = auto()  # step-up verification
    throttle = auto()
    review = auto()
    suspend = auto()
    takedown = auto()


LADDER: tuple[Action, ...] = tuple(Action)  # the rungs in order
_RANKS: dict[str, int] = {a: i for i, a in enumerate(LADDER)}  # keyed by value: an Action is a str


def rank(action: str) -> int:
    """The position of ``action`` (an :class:`Action` or its value) on the ladder (``none`` is 0)."""
    try:
        return _RANKS[action]  # an Action hashes and compares as its value
    except KeyError:
        return LADDER.index(Action(action))  # not an action: Action() says so


class AccountVerdict(msgspec.Struct, kw_only=True):
    """The detector's current view of one account."""

    account_id: str
    score: float
    flagged: bool
    cluster_id: str | None
    flagged_at: datetime | None
    reasons: list[str]
    probability: float = 0.0  # calibrated probability of attack (the model's probability map of ``score``)
    action: str = Action.none  # the rung of the response ladder (an Action) the policy puts it on
    action_basis: list[str] = []  # the evidence the action rests on, in sentences an analyst can check
    reached_at: dict[str, datetime] = {}  # rung -> event time it first reached that rung or a higher one
    # Context for review (not part of the compared verdict): volume, time span, model version.
    n_requests: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    model_version: str | None = None
    org_id: str | None = None
    verification_path: str | None = None
    models: list[str] = []
    hourly_requests: dict[str, int] = {}  # "2026-03-02T09" -> requests in that hour (UTC)
    sample_prompts: list[str] = []  # a few prompts, for review (empty when redacted)


class ClusterVerdict(msgspec.Struct, kw_only=True):
    """A group of accounts linked by shared infrastructure and behaviour."""

    cluster_id: str
    members: list[str]
    score: float
    flagged: bool
    flagged_at: datetime | None
    shared_indicators: dict[str, list[str]]
    reasons: list[str]
    probability: float = 0.0
    action: str = Action.none
    action_basis: list[str] = []
    reached_at: dict[str, datetime] = {}
    n_requests: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    model_version: str | None = None
    linked_clusters: list[str] = []  # clusters sharing weaker indicators with this one


class Change(msgspec.Struct, kw_only=True):
    """An account or cluster newly flagged, unflagged or re-clustered, or a flagged cluster dissolved, at a
    re-scoring (``detections`` topic)."""

    kind: SubjectKind
    id: str
    at: datetime
    change: str  # "flagged" | "unflagged" | "changed" | "dissolved" (a flagged cluster whose accounts no longer link)
    score: float
    reasons: list[str]
    cluster_id: str | None = None
    members: list[str] | None = None  # a cluster's members (a dissolved cluster's: those it had)


def dissolved_cluster(change: Change) -> ClusterVerdict:
    """The record of a cluster that dissolved (its accounts no longer linked), from its last change: unflagged,
    with the members it had, so that a store keeping every cluster it was given shows it gone."""
    return ClusterVerdict(
        cluster_id=change.id,
        members=list(change.members or []),
        score=0.0,
        flagged=False,
        flagged_at=None,
        shared_indicators={},
        reasons=list(change.reasons),
    )


class ActionChange(msgspec.Struct, kw_only=True):
    """An account or cluster moved to another rung of the response ladder at a re-scoring."""

    kind: SubjectKind
    id: str
    at: datetime
    action: Action
    previous: Action
    probability: float
    basis: list[str]
    policy_version: str
    model_version: str
    members: list[str] = []  # a cluster's accounts (which worker owns it)


_verdict_decoder = msgspec.json.Decoder(AccountVerdict)
_cluster_decoder = msgspec.json.Decoder(ClusterVerdict)


def verdict_line(v: AccountVerdict) -> bytes:
    """The ``detect --out`` line for one account (the compared fields first, then context)."""
    return msgspec.json.encode(v)


def cluster_line(c: ClusterVerdict) -> bytes:
    """The ``detect --clusters`` line for one cluster."""
    return msgspec.json.encode(c)


def verdict_from_json(raw: bytes | str) -> AccountVerdict:
    """Parse a ``detect --out`` line."""
    return _verdict_decoder.decode(raw)


def cluster_from_json(raw: bytes | str) -> ClusterVerdict:
    """Parse a ``detect --clusters`` line."""
    return _cluster_decoder.decode(raw)
