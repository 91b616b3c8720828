"""Request filters and response bodies of the detections queue and evidence.

The bodies serve fields of :mod:`detector.records`; ``tests/api/test_record_shapes.py`` keeps them in step.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from distillguard.api.inputs import UtcDatetime
from distillguard.api.review import CaseStatus, Decision, ReviewStatus
from distillguard.detector.records import SubjectKind


class QueueFilters(BaseModel):
    """Queue filters (all optional, combined with AND)."""

    status: ReviewStatus | None = None
    flagged: bool | None = None
    min_score: float | None = Field(None, ge=0, le=1)
    max_score: float | None = Field(None, ge=0, le=1)
    min_size: int | None = Field(None, ge=1, le=1_000_000, description="Cluster size (accounts: their cluster's).")
    max_size: int | None = Field(None, ge=1, le=1_000_000)
    since: UtcDatetime | None = Field(None, description="Active at or after (ISO 8601; last_seen >= since).")
    until: UtcDatetime | None = Field(None, description="Active at or before (ISO 8601; first_seen <= until).")
    verification_path: str | None = Field(None, max_length=32)
    model: str | None = Field(None, max_length=128, description="Called this model (a cluster: any member did).")
    indicator: str | None = Field(None, max_length=1000, description="Shares this indicator value (IP, ASN, card...).")
    indicator_kind: str | None = Field(
        None,
        max_length=32,
        description="The indicator's kind (ip, asn, payment_fingerprint...). `template` (prompt text) needs role "
        "analyst (403 for viewers); a viewer's indicator without a kind does not match templates.",
    )
    lone: bool | None = Field(
        None, description="Accounts in no cluster (true: lone harvesters) or in one (false); a cluster is never lone."
    )
    search: str | None = Field(
        None,
        max_length=128,
        description="An id: clusters whose id starts with it or with this member account; accounts whose id starts "
        "with it or in this cluster (`%` and `_` are literal).",
    )


class OverrideOut(BaseModel):
    """An analyst's override of the recommended action (api/overrides/service.py)."""

    action: str = Field(description="The rung applied instead of the recommendation.")
    recommended: str = Field(description="The detector's recommendation when the override was set.")
    reason: str
    by: str = Field(description="The token name that set it.")
    role: str = Field(description="That token's role then.")
    at: datetime
    model_version: str | None = Field(description="The model behind the recommendation then.")


class LadderFields(BaseModel):
    """Where an account or cluster stands on the response ladder, and why; what is applied, and whether an analyst
    overrode the recommendation."""

    probability: float = Field(description="Calibrated probability of attack.")
    action: str = Field(
        description="The detector's recommended rung of the response ladder: none, watch, challenge, throttle, "
        "review, suspend, takedown."
    )
    action_basis: list[str] = Field(description="The evidence the action rests on, in sentences.")
    reached_at: dict[str, datetime] = Field(
        description="Rung -> event time it first reached that rung or a higher one."
    )
    applied_action: str = Field(description="The rung applied: the override's when there is one, else `action`.")
    override: OverrideOut | None = Field(description="The analyst's override of `action`, if any.")


class ClusterFields(LadderFields):
    """The stored fields a cluster's queue entry and detail share."""

    cluster_id: str
    score: float
    flagged: bool
    flagged_at: datetime | None
    size: int
    n_requests: int
    first_seen: datetime | None
    last_seen: datetime | None
    model_version: str | None
    status: ReviewStatus
    reasons: list[str]


class ClusterItem(ClusterFields):
    """A cluster in the queue."""

    indicator_kinds: list[str]


class ClusterExport(ClusterItem):
    """A cluster as the queue export writes it: its queue entry and the indicators its members share (prompt
    templates redacted as in the evidence)."""

    shared_indicators: dict[str, list[str]]


class AccountItem(LadderFields):
    """An account in the queue."""

    account_id: str
    score: float
    flagged: bool
    flagged_at: datetime | None
    cluster_id: str | None
    n_requests: int
    first_seen: datetime | None
    last_seen: datetime | None
    model_version: str | None
    verification_path: str | None
    org_id: str | None
    models: list[str]
    status: ReviewStatus
    reasons: list[str]


class QueuePage(BaseModel):
    """One page of the queue, highest risk first; pass ``next_cursor`` as ``cursor`` for the next page."""

    kind: SubjectKind
    total: int = Field(description="Detections matching the filters (all pages).")
    items: list[ClusterItem] | list[AccountItem]
    next_cursor: str | None


class Counts(BaseModel):
    """Detections per review status, under the given filters (status filter ignored)."""

    kind: SubjectKind
    total: int
    flagged: int
    by_status: dict[str, int]


class HourCount(BaseModel):
    """Requests in one UTC hour."""

    hour: str = Field(description="YYYY-MM-DDTHH (UTC)")
    requests: int


class SamplePrompt(BaseModel):
    """A prompt an account sent (text replaced by its size class, ``[redacted: short]``, when redacted)."""

    account_id: str
    prompt: str
    redacted: bool


class LinkedCluster(BaseModel):
    """A cluster sharing weaker indicators with this one."""

    cluster_id: str
    known: bool
    score: float | None = None
    size: int | None = None
    status: ReviewStatus | None = None


class CaseRef(BaseModel):
    """The case reviewing a detection."""

    id: int
    status: CaseStatus
    assignee: str | None


class MemberAccount(BaseModel):
    """A member account of a cluster, with the analyst's decision on it if any."""

    account_id: str
    known: bool
    score: float | None = None
    flagged: bool | None = None
    verification_path: str | None = None
    org_id: str | None = None
    n_requests: int | None = None
    status: ReviewStatus | None = None
    decision: Decision | None = None


class ClusterDetail(ClusterFields):
    """A cluster with its evidence."""

    shared_indicators: dict[str, list[str]]
    members: list[MemberAccount]
    members_total: int
    verification_paths: dict[str, int]
    models: dict[str, int]
    timeline: list[HourCount]
    sample_prompts: list[SamplePrompt]
    linked_clusters: list[LinkedCluster]
    case: CaseRef | None


class AccountDetail(AccountItem):
    """An account with its evidence."""

    timeline: list[HourCount]
    sample_prompts: list[SamplePrompt]
    cluster: ClusterItem | None
    case: CaseRef | None
    decision: Decision | None = Field(description="The effective decision: the rule of api/cases/labels.py.")
    decision_conflicts: list[int] = Field(description="Final cases whose decision on the account disagrees.")
