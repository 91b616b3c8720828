"""Request filters and response bodies of field precision (the definitions are :mod:`.service`'s)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from distillguard.api.inputs import UtcDatetime
from distillguard.api.precision.service import GroupBy


class PrecisionFilters(BaseModel):
    """Which flags, grouped how."""

    group_by: GroupBy = Field(
        GroupBy.model,
        description="model: the model version on the flagged account's record ('unknown' when none); week: the ISO "
        "week (UTC) of flagged_at, e.g. 2026-W10, every week from the first flag's to the last's; action: the rung "
        "the detector recommends for the account.",
    )
    since: UtcDatetime | None = Field(None, description="Flags with flagged_at at or after this (ISO 8601).")
    until: UtcDatetime | None = Field(None, description="Flags with flagged_at before this (ISO 8601; after since).")


class DurationsOut(BaseModel):
    """Times from flagged_at to an event, over the flags that reached it."""

    model_config = ConfigDict(from_attributes=True)
    count: int = Field(description="Flags that reached the event.")
    median_seconds: float | None = Field(
        description="Median seconds from flagged_at to the event (linear interpolation between the nearest ranks; "
        "an event before flagged_at counts as 0); null without any."
    )
    p90_seconds: float | None = Field(description="90th percentile of the same seconds; null without any.")


class QueueAgeOut(BaseModel):
    """The flags not reviewed yet."""

    model_config = ConfigDict(from_attributes=True)
    count: int = Field(description="Flags without an effective decision.")
    median_age_seconds: float | None = Field(description="Median of as_of - flagged_at over them; null without any.")
    max_age_seconds: float | None = Field(description="The largest as_of - flagged_at over them; null without any.")


class FiguresOut(BaseModel):
    """The figures of one group of flags."""

    model_config = ConfigDict(from_attributes=True)
    key: str = Field(description="The group: a model version, an ISO week or a rung; 'all' for every flag.")
    flags: int = Field(
        description="Accounts the detector flags now (flagged, with flagged_at), visible to the caller, in the group."
    )
    reviewed: int = Field(
        description="Flags with an effective decision: the one that counts among the decisions of final cases "
        "(deciding a case decides each of its accounts); confirmed + dismissed."
    )
    confirmed: int = Field(description="Reviewed flags whose effective decision is confirmed_attack.")
    dismissed: int = Field(description="Reviewed flags whose effective decision is dismissed.")
    precision: float | None = Field(description="confirmed / reviewed; null when nothing is reviewed.")
    interval_low: float | None = Field(
        description="Lower bound of the Wilson score interval (95%, z = 1.95996) of precision; null when nothing is "
        "reviewed."
    )
    interval_high: float | None = Field(description="Upper bound of that interval; null when nothing is reviewed.")
    first_review: DurationsOut = Field(
        description="Time to the first review action: the earliest of a case opened on the account, on its cluster "
        "or deciding on it, and an audit record on the account or its cluster (an override)."
    )
    decision: DurationsOut = Field(description="Time to the effective decision (its decided_at).")
    queue: QueueAgeOut = Field(description="The group's flags without an effective decision, and their age.")


class PrecisionReport(BaseModel):
    """Field precision: how often analysts' decisions confirm the detector's flags, per group."""

    model_config = ConfigDict(from_attributes=True)
    group_by: GroupBy
    since: datetime | None
    until: datetime | None
    as_of: datetime = Field(description="When the figures were computed (queue ages are measured to it).")
    groups: list[FiguresOut] = Field(
        description="One entry per group, in order (models by name, weeks in time, rungs up the ladder)."
    )
    overall: FiguresOut = Field(description="The figures over every flag selected (key 'all').")
