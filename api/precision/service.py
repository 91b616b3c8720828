"""Field precision: how often analysts' decisions confirm what the detector flags, per model version, ISO week or
recommended rung, how long flags wait for a first look and for a decision, and how old the unreviewed ones are.

The unit is an account. A *flag* is an account the detector flags now (``account_verdicts.flagged``, with its
``flagged_at``); ``since``/``until`` select flags by ``flagged_at`` (``since <= flagged_at < until``). A flag is
*reviewed* when it has an effective decision (:func:`distillguard.api.cases.labels.effective` over the final cases
that decided on it; deciding a case writes a decision for each of its accounts, so a decided cluster case counts
through its members), *confirmed* when that decision is ``confirmed_attack``, *dismissed* when ``dismissed``.
Precision is confirmed / reviewed, with a Wilson score interval at 95%. Its *first review action* is the earliest
of: a case opened on the account, on its cluster or deciding on it, and an audit record on the account or its
cluster (an override); the time to it, and the time to the effective decision, are measured from ``flagged_at``
(an action before the flag counts as 0 s). The *queue* is the flags not reviewed; its age is ``as_of -
flagged_at``. Quantiles interpolate linearly between the two nearest ranks (numpy's default).

Everything is computed over what the caller may see: accounts hidden from it (:class:`Hidden`) are no flags, and
cases hidden from it neither open, nor decide, anything. Rows are selected, filtered and reduced per account in SQL
(one row a flag, the earliest case and audit times by GROUP BY); the grouping and the quantiles run here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Select, func, select, union_all
from sqlalchemy.orm import Session

from distillguard.api.audit.models import AuditEvent
from distillguard.api.cases.labels import rank
from distillguard.api.cases.models import AccountDecision, Case
from distillguard.api.detections.models import AccountRow
from distillguard.api.errors import ServiceError
from distillguard.api.restrictions.hidden import Hidden
from distillguard.api.review import FINAL, Decision
from distillguard.api.types import utcnow
from distillguard.detector.records import LADDER, SubjectKind

Z_95 = 1.959963984540054  # the standard normal quantile of 0.975: a two-sided 95% interval
MEDIAN, P90 = 0.5, 0.9
UNKNOWN_MODEL = "unknown"  # the model key of flags whose record names no model version
ALL = "all"  # the key of the figures over every flag
WEEK = timedelta(weeks=1)


class GroupBy(StrEnum):
    """What the figures are grouped by: the model version of the flag's record, the ISO week (UTC) of its
    ``flagged_at``, or the rung the detector recommends for it."""

    model = "model"
    week = "week"
    action = "action"


@dataclass(frozen=True)
class Flag:
    """One flagged account as the figures see it."""

    account_id: str
    model: str
    action: str
    flagged_at: datetime
    first_review: datetime | None  # the first review action (any time; :func:`delay` clips it at the flag)
    decision: Decision | None  # the effective decision
    decided_at: datetime | None


@dataclass(frozen=True)
class Durations:
    """How many flags have a time, and the median and 90th percentile of those times (seconds; None for none)."""

    count: int
    median_seconds: float | None
    p90_seconds: float | None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Durations:
        return cls(len(seconds), quantile(seconds, MEDIAN), quantile(seconds, P90))


@dataclass(frozen=True)
class QueueAge:
    """The flags not reviewed: how many, their median and largest age at ``as_of`` (seconds; None for none)."""

    count: int
    median_age_seconds: float | None
    max_age_seconds: float | None


@dataclass(frozen=True)
class Figures:
    """The figures of one group of flags (:mod:`distillguard.api.precision.schemas` defines each)."""

    key: str
    flags: int
    reviewed: int
    confirmed: int
    dismissed: int
    precision: float | None
    interval_low: float | None
    interval_high: float | None
    first_review: Durations
    decision: Durations
    queue: QueueAge


@dataclass(frozen=True)
class Report:
    """Figures per group and over all flags, at ``as_of``."""

    group_by: GroupBy
    since: datetime | None
    until: datetime | None
    as_of: datetime
    groups: list[Figures]
    overall: Figures


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion ``successes / trials`` (None when there are no trials)."""
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be between 0 and trials ({trials}), not {successes}")
    if trials == 0:
        return None
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of ``values``, interpolated linearly between the two nearest ranks (None for none)."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must be between 0 and 1, not {q}")
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def delay(start: datetime, end: datetime | None) -> float | None:
    """Seconds from ``start`` to ``end`` (0 when ``end`` is earlier; None without an ``end``)."""
    return None if end is None else max(0.0, (end - start).total_seconds())


def iso_week(at: datetime) -> str:
    """The ISO week of ``at`` (UTC), e.g. ``2026-W10``."""
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


def figures(key: str, flags: Iterable[Flag], as_of: datetime) -> Figures:
    """The figures of ``flags`` (one group) at ``as_of``."""
    rows = list(flags)
    confirmed = sum(f.decision is Decision.confirmed_attack for f in rows)
    dismissed = sum(f.decision is Decision.dismissed for f in rows)
    reviewed = confirmed + dismissed
    interval = wilson_interval(confirmed, reviewed)
    waiting = [(as_of - f.flagged_at).total_seconds() for f in rows if f.decision is None]
    return Figures(
        key=key,
        flags=len(rows),
        reviewed=reviewed,
        confirmed=confirmed,
        dismissed=dismissed,
        precision=confirmed / reviewed if reviewed else None,
        interval_low=interval[0] if interval else None,
        interval_high=interval[1] if interval else None,
        first_review=Durations.of([d for f in rows if (d := delay(f.flagged_at, f.first_review)) is not None]),
        decision=Durations.of([d for f in rows if (d := delay(f.flagged_at, f.decided_at)) is not None]),
        queue=QueueAge(len(waiting), quantile(waiting, MEDIAN), max(waiting) if waiting else None),
    )


def _flagged(since: datetime | None, until: datetime | None, hidden: Hidden) -> Select:
    """The flags (their record's columns) between ``since`` and ``until`` that ``hidden`` leaves shown."""
    stmt = select(AccountRow.account_id, AccountRow.model_version, AccountRow.action, AccountRow.flagged_at).where(
        AccountRow.flagged.is_(True), AccountRow.flagged_at.is_not(None)
    )
    if since is not None:
        stmt = stmt.where(AccountRow.flagged_at >= since)
    if until is not None:
        stmt = stmt.where(AccountRow.flagged_at < until)
    return hidden.shown(stmt, SubjectKind.account)


def _first_reviews(session: Session, flag_ids: Select, hidden: Hidden) -> dict[str, datetime]:
    """The first review action of each flag that has one: the earliest case opened on it, on its cluster or deciding
    on it (cases ``hidden`` hides excluded), and the earliest audit record on it or on its cluster."""
    shown_case = ~hidden.case_hidden()
    on_account = select(Case.subject_id.label("account_id"), Case.created_at.label("at")).where(
        Case.subject_type == SubjectKind.account, Case.subject_id.in_(flag_ids), shown_case
    )
    on_cluster = (
        select(AccountRow.account_id, Case.created_at)
        .join(Case, (Case.subject_type == SubjectKind.cluster) & (Case.subject_id == AccountRow.cluster_id))
        .where(AccountRow.account_id.in_(flag_ids), shown_case)
    )
    deciding = (
        select(AccountDecision.account_id, Case.created_at)
        .join(Case, Case.id == AccountDecision.case_id)
        .where(AccountDecision.account_id.in_(flag_ids), shown_case)
    )
    audited = select(AuditEvent.entity_id, AuditEvent.at).where(
        AuditEvent.entity_type == SubjectKind.account.value, AuditEvent.entity_id.in_(flag_ids)
    )
    cluster_audited = (
        select(AccountRow.account_id, AuditEvent.at)
        .join(
            AuditEvent,
            (AuditEvent.entity_type == SubjectKind.cluster.value) & (AuditEvent.entity_id == AccountRow.cluster_id),
        )
        .where(AccountRow.account_id.in_(flag_ids))
    )
    actions = union_all(on_account, on_cluster, deciding, audited, cluster_audited).subquery()
    first = select(actions.c.account_id, func.min(actions.c.at)).group_by(actions.c.account_id)
    return {account: at for account, at in session.execute(first)}


@dataclass(frozen=True)
class _Decided:
    """The effective decision of one account and when it was made."""

    decision: Decision
    at: datetime


def _decisions(session: Session, flag_ids: Select, hidden: Hidden) -> dict[str, _Decided]:
    """The effective decision of each decided flag, over the final cases ``hidden`` leaves shown: the highest
    :func:`~distillguard.api.cases.labels.rank` among its decisions (the rule of :mod:`~distillguard.api.cases.labels`),
    read as plain rows (no ORM objects: a report reads one row per decided flag)."""
    stmt = (
        select(
            AccountDecision.account_id,
            AccountDecision.decision,
            AccountDecision.decided_role,
            AccountDecision.decided_at,
            AccountDecision.case_id,
        )
        .join(Case, Case.id == AccountDecision.case_id)
        .where(Case.status.in_(FINAL), AccountDecision.account_id.in_(flag_ids), ~hidden.case_hidden())
    )
    best: dict[str, tuple[tuple[int, datetime, int], _Decided]] = {}
    for account, decision, role, at, case_id in session.execute(stmt):
        key = rank(role, at, case_id)
        if account not in best or key > best[account][0]:
            best[account] = (key, _Decided(Decision(decision), at))
    return {account: decided for account, (_, decided) in best.items()}


def flags(session: Session, hidden: Hidden, since: datetime | None = None, until: datetime | None = None) -> list[Flag]:
    """The flags between ``since`` and ``until`` that ``hidden`` leaves shown, with their review."""
    stmt = _flagged(since, until, hidden)
    flag_ids = stmt.with_only_columns(AccountRow.account_id)
    first = _first_reviews(session, flag_ids, hidden)
    decided = _decisions(session, flag_ids, hidden)
    found = []
    for account, model, action, flagged_at in session.execute(stmt.order_by(AccountRow.account_id)):
        d = decided.get(account)
        found.append(
            Flag(
                account_id=account,
                model=model or UNKNOWN_MODEL,
                action=action,
                flagged_at=flagged_at,
                first_review=first.get(account),
                decision=d.decision if d else None,
                decided_at=d.at if d else None,
            )
        )
    return found


def _weeks(first: datetime, last: datetime) -> list[str]:
    """Every ISO week from ``first``'s to ``last``'s (both UTC)."""
    monday = first.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=first.weekday())
    weeks = []
    while monday <= last:
        weeks.append(iso_week(monday))
        monday += WEEK
    return weeks


def _keys(group_by: GroupBy, rows: list[Flag]) -> list[str]:
    """The groups in order: models by name, every week from the first flag's to the last's (weeks without flags
    included), rungs up the ladder."""
    if group_by is GroupBy.week:
        return _weeks(min(f.flagged_at for f in rows), max(f.flagged_at for f in rows)) if rows else []
    if group_by is GroupBy.model:
        return sorted({f.model for f in rows})
    rungs = [a.value for a in LADDER]
    present = {f.action for f in rows}
    return [a for a in rungs if a in present] + sorted(present - set(rungs))


def key_of(group_by: GroupBy, flag: Flag) -> str:
    """The group of ``flag``."""
    if group_by is GroupBy.week:
        return iso_week(flag.flagged_at)
    return flag.model if group_by is GroupBy.model else flag.action


def summarise(
    rows: list[Flag], group_by: GroupBy, as_of: datetime, since: datetime | None = None, until: datetime | None = None
) -> Report:
    """The figures of ``rows`` (the flags between ``since`` and ``until``) grouped by ``group_by``, at ``as_of``."""
    grouped: dict[str, list[Flag]] = defaultdict(list)
    for f in rows:
        grouped[key_of(group_by, f)].append(f)
    groups = [figures(k, grouped.get(k, []), as_of) for k in _keys(group_by, rows)]
    return Report(group_by, since, until, as_of, groups, figures(ALL, rows, as_of))


def report(
    session: Session,
    hidden: Hidden,
    group_by: GroupBy,
    since: datetime | None = None,
    until: datetime | None = None,
    as_of: datetime | None = None,
) -> Report:
    """The field precision of the flags between ``since`` and ``until`` that ``hidden`` leaves shown, grouped by
    ``group_by``, at ``as_of`` (now by default). 422 when ``since`` is not before ``until``."""
    if since is not None and until is not None and since >= until:
        raise ServiceError(
            422, f"invalid request: since ({since.isoformat()}) must be before until ({until.isoformat()})"
        )
    return summarise(flags(session, hidden, since, until), group_by, as_of or utcnow(), since, until)
