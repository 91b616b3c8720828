"""The detections queue: clusters or accounts by risk, filtered, with keyset (cursor) pagination and counts."""

from __future__ import annotations

import base64
import math
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple

import msgspec
from cachetools import LRUCache
from sqlalchemy import (
    JSON,
    ColumnElement,
    Dialect,
    Row,
    Select,
    Text,
    and_,
    cast,
    exists,
    false,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session, defer, sessionmaker
from sqlalchemy.types import TypeDecorator

from distillguard.api.auth.service import Principal
from distillguard.api.detections import evidence
from distillguard.api.detections.models import AccountModel, AccountRow, ClusterIndicator, ClusterRow
from distillguard.api.detections.schemas import AccountItem, ClusterExport, Counts, QueueFilters, QueuePage
from distillguard.api.detections.service import current_epoch
from distillguard.api.errors import ServiceError
from distillguard.api.inputs import storable
from distillguard.api.overrides.applied import overrides_of
from distillguard.api.overrides.models import ActionOverride
from distillguard.api.restrictions.hidden import NOTHING, Hidden
from distillguard.api.tabular import body
from distillguard.detector.records import SubjectKind

# (query, database, template matching, hidden cases, epoch) -> count; exact, as every write bumps the epoch
_counts: LRUCache = LRUCache(1024)
_counts_lock = threading.Lock()


def _cached(session: Session, what: str, kind: SubjectKind, f: QueueFilters, templates: bool, hidden: Hidden, compute):
    key = (
        what,
        session.get_bind().engine.url.render_as_string(),
        kind,
        f.model_dump_json(),
        templates,
        hidden.cases,
        current_epoch(session),
    )
    with _counts_lock:
        hit = _counts.get(key)
    if hit is None:
        hit = compute()
        with _counts_lock:
            _counts[key] = hit
    return hit


MAX_CURSOR_CHARS = 500  # a cursor this API issues is (score, an id of at most 128 characters) in base64
_CURSOR_SEP = " "  # between the score (repr of a float: no space) and the key


def encode_cursor(score: float, key: str) -> str:
    """The opaque cursor after the row (score, key)."""
    return base64.urlsafe_b64encode(f"{score!r}{_CURSOR_SEP}{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """(score, key) of a cursor; 422 when it is not one this API issued. Length-capped and parsed without
    recursion: a split on the first separator, a float and a string."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("cursor too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        score_text, sep, key = raw.partition(_CURSOR_SEP)
        if not sep:
            raise ValueError("no separator")
        score = float(score_text)
        if not math.isfinite(score):
            raise ValueError("score is not finite")
        return score, storable(key)
    except (ValueError, TypeError, OverflowError) as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ServiceError(422, "invalid cursor: pass the next_cursor of a previous page unchanged") from exc


def template_matching(f: QueueFilters, who: Principal) -> bool:
    """Whether ``f.indicator`` may match prompt templates for ``who`` (role analyst and above). A template is
    prompt text, redacted for viewers: matching one by exact value would confirm a guessed template. So a viewer
    naming ``indicator_kind=template`` gets 403, and a viewer's indicator without a kind skips templates."""
    if who.can(evidence.PROMPT_ROLE):
        return True
    if f.indicator_kind is not None and f.indicator_kind.strip().casefold() == evidence.TEMPLATE_KIND:
        raise ServiceError(
            403,
            f"matching prompt templates needs role {evidence.PROMPT_ROLE!r} or above (templates are prompt text, "
            f"redacted for viewers); token {who.name!r} is {who.role!r}",
        )
    return False


def _indicator_match(f: QueueFilters, templates: bool):
    """The indicator rows ``f.indicator`` matches: of ``f.indicator_kind`` when given, prompt templates only when
    ``templates``."""
    cond = ClusterIndicator.value == f.indicator
    if f.indicator_kind:
        cond = and_(cond, ClusterIndicator.kind == f.indicator_kind)
    if not templates:
        cond = and_(cond, ClusterIndicator.kind != evidence.TEMPLATE_KIND)
    return cond


def _record_filters(stmt: Select, t: type[AccountRow | ClusterRow], f: QueueFilters, with_status: bool) -> Select:
    """The filters on the columns clusters and accounts both have."""
    if with_status and f.status is not None:
        stmt = stmt.where(t.status == f.status.value)
    if f.flagged is not None:
        stmt = stmt.where(t.flagged == f.flagged)
    if f.min_score is not None:
        stmt = stmt.where(t.score >= f.min_score)
    if f.max_score is not None:
        stmt = stmt.where(t.score <= f.max_score)
    if f.since is not None:
        stmt = stmt.where(t.last_seen >= f.since)
    if f.until is not None:
        stmt = stmt.where(t.first_seen <= f.until)
    return stmt


def _sized(stmt: Select, f: QueueFilters) -> Select:
    """``stmt`` over clusters, limited to the size filters."""
    if f.min_size is not None:
        stmt = stmt.where(ClusterRow.size >= f.min_size)
    if f.max_size is not None:
        stmt = stmt.where(ClusterRow.size <= f.max_size)
    return stmt


def _cluster_filters(stmt: Select, f: QueueFilters, templates: bool, with_status: bool = True) -> Select:
    c = ClusterRow
    stmt = _sized(_record_filters(stmt, c, f, with_status), f)
    if f.lone:
        stmt = stmt.where(false())
    if f.search:
        member = exists().where(AccountRow.cluster_id == c.cluster_id, AccountRow.account_id == f.search)
        stmt = stmt.where(or_(c.cluster_id.startswith(f.search, autoescape=True), member))
    if f.verification_path:
        stmt = stmt.where(
            exists().where(AccountRow.cluster_id == c.cluster_id, AccountRow.verification_path == f.verification_path)
        )
    if f.model:
        stmt = stmt.where(
            exists().where(
                AccountRow.cluster_id == c.cluster_id,
                AccountModel.account_id == AccountRow.account_id,
                AccountModel.model == f.model,
            )
        )
    if f.indicator:
        stmt = stmt.where(exists().where(ClusterIndicator.cluster_id == c.cluster_id, _indicator_match(f, templates)))
    return stmt


def _account_filters(stmt: Select, f: QueueFilters, templates: bool, with_status: bool = True) -> Select:
    a = AccountRow
    stmt = _record_filters(stmt, a, f, with_status)
    if f.lone is not None:
        stmt = stmt.where(a.cluster_id.is_(None) if f.lone else a.cluster_id.is_not(None))
    if f.search:
        stmt = stmt.where(or_(a.account_id.startswith(f.search, autoescape=True), a.cluster_id == f.search))
    if f.min_size is not None or f.max_size is not None:
        stmt = stmt.where(a.cluster_id.in_(_sized(select(ClusterRow.cluster_id), f)))
    if f.verification_path:
        stmt = stmt.where(a.verification_path == f.verification_path)
    if f.model:
        stmt = stmt.where(exists().where(AccountModel.account_id == a.account_id, AccountModel.model == f.model))
    if f.indicator:
        stmt = stmt.where(a.cluster_id.in_(select(ClusterIndicator.cluster_id).where(_indicator_match(f, templates))))
    return stmt


def _table(kind: SubjectKind):
    return (
        (ClusterRow, ClusterRow.cluster_id, _cluster_filters)
        if kind is SubjectKind.cluster
        else (AccountRow, AccountRow.account_id, _account_filters)
    )


# Columns only the detail views read: a queue page does not load them.
_DETAIL_ONLY = {
    SubjectKind.cluster: (ClusterRow.members, ClusterRow.linked_clusters, ClusterRow.content_hash),
    SubjectKind.account: (AccountRow.hourly_requests, AccountRow.sample_prompts, AccountRow.content_hash),
}


class QueueSort(StrEnum):
    """The order of the queue: highest score first, or most recently seen first (never seen last); then by id."""

    score = "score"
    last_seen = "last_seen"


NEVER_SEEN = -1e300  # a last_seen cursor's value for a row never seen (rows with a last_seen are all above it)


def _after_seen(table: type[AccountRow | ClusterRow], key, cursor: str):
    """The rows after a last_seen cursor (most recent first, never seen last, then by id); 422 for a cursor whose
    time is out of range."""
    value, last = decode_cursor(cursor)
    col = table.last_seen
    if value == NEVER_SEEN:
        return and_(col.is_(None), key > last)
    try:
        seen = datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ServiceError(422, "invalid cursor: pass the next_cursor of a previous page unchanged") from exc
    return or_(col < seen, and_(col == seen, key > last), col.is_(None))


def _shown(stmt: Select, kind: SubjectKind, f: QueueFilters, templates: bool, hidden: Hidden) -> Select:
    """``stmt`` over the queue of ``kind`` limited to the rows ``f`` matches, but ``hidden`` ones."""
    return hidden.shown(_table(kind)[2](stmt, f, templates), kind)


def _after_score(table: type[AccountRow | ClusterRow], key, score: float, last: str):
    """The rows after (score, id) in score order: a lower score, or the same and a later id. The ``<=`` beside
    the OR lets PostgreSQL start its index scan at the cursor (with the OR alone it scans the index from the top
    and filters, so every page of an export re-read the pages before it)."""
    return and_(table.score <= score, or_(table.score < score, key > last))


def page(
    session: Session,
    kind: SubjectKind,
    f: QueueFilters,
    cursor: str | None,
    limit: int,
    *,
    templates: bool,
    sort: QueueSort = QueueSort.score,
    hidden: Hidden = NOTHING,
) -> tuple[list, str | None, int]:
    """(rows, next cursor or None, total matching) of one queue page in ``sort`` order (score descending by
    default), then id ascending; ``f.indicator`` matches prompt templates only when ``templates``
    (:func:`template_matching`); rows of ``hidden`` cases are left out of the rows and the total."""
    table, key, apply = _table(kind)
    stmt = _shown(select(table), kind, f, templates, hidden)
    total = _cached(
        session,
        "total",
        kind,
        f,
        templates,
        hidden,
        lambda: session.scalar(hidden.shown(apply(select(func.count()).select_from(table), f, templates), kind)) or 0,
    )
    by_score = sort is QueueSort.score
    if cursor and by_score:
        stmt = stmt.where(_after_score(table, key, *decode_cursor(cursor)))
    elif cursor:
        stmt = stmt.where(_after_seen(table, key, cursor))
    order = table.score.desc() if by_score else table.last_seen.desc().nulls_last()
    stmt = stmt.options(*(defer(c) for c in _DETAIL_ONLY[kind]))
    rows = list(session.scalars(stmt.order_by(order, key.asc()).limit(limit + 1)))
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        end = rows[-1]
        value = end.score if by_score else end.last_seen.timestamp() if end.last_seen else NEVER_SEEN
        nxt = encode_cursor(value, getattr(end, key.key))
    return rows, nxt, total


def lone_flagged(session: Session, hidden: Hidden = NOTHING) -> int:
    """How many flagged accounts belong to no cluster (lone harvesters: only the accounts tab lists them), but
    ``hidden`` ones."""
    stmt = select(func.count()).select_from(AccountRow).where(AccountRow.flagged, AccountRow.cluster_id.is_(None))
    return session.scalar(hidden.shown(stmt, SubjectKind.account)) or 0


def counts(session: Session, kind: SubjectKind, f: QueueFilters, *, templates: bool, hidden: Hidden = NOTHING) -> dict:
    """Total, flagged and per-status counts under the filters (ignoring the status filter), ``hidden`` cases'
    subjects left out; ``templates`` as in :func:`page`."""
    table, _, apply = _table(kind)
    stmt = apply(select(table.status, table.flagged, func.count()).select_from(table), f, templates, with_status=False)
    stmt = hidden.shown(stmt, kind)

    def compute() -> tuple[dict[str, int], int]:
        by_status: dict[str, int] = {}
        flagged = 0
        for status, is_flagged, n in session.execute(stmt.group_by(table.status, table.flagged)):
            by_status[status] = by_status.get(status, 0) + n
            flagged += n if is_flagged else 0
        return by_status, flagged

    by_status, flagged = _cached(session, "counts", kind, f, templates, hidden, compute)
    return {"kind": kind, "total": sum(by_status.values()), "flagged": flagged, "by_status": dict(by_status)}


def queue_items(session: Session, kind: SubjectKind, rows: list) -> list[dict]:
    """The queue entries of ``rows`` (of ``kind``), each with its current override."""
    item = evidence.cluster_item if kind is SubjectKind.cluster else evidence.account_item
    key = _table(kind)[1].key
    overrides = overrides_of(session, kind, (getattr(r, key) for r in rows))
    return [item(r, overrides.get(getattr(r, key))) for r in rows]


def page_json(
    session: Session,
    kind: SubjectKind,
    f: QueueFilters,
    cursor: str | None,
    limit: int,
    *,
    templates: bool,
    hidden: Hidden = NOTHING,
) -> bytes:
    """One queue page as the API's JSON body (:class:`QueuePage`)."""
    rows, nxt, total = page(session, kind, f, cursor, limit, templates=templates, hidden=hidden)
    return (
        QueuePage(kind=kind, total=total, items=queue_items(session, kind, rows), next_cursor=nxt)
        .model_dump_json()
        .encode()
    )


def counts_json(
    session: Session, kind: SubjectKind, f: QueueFilters, *, templates: bool, hidden: Hidden = NOTHING
) -> bytes:
    """The counts under the filters as the API's JSON body (:class:`Counts`)."""
    return Counts(**counts(session, kind, f, templates=templates, hidden=hidden)).model_dump_json().encode()


EXPORT_PAGE = 1000  # rows read per query of an export


def export_model(kind: SubjectKind) -> type[ClusterExport] | type[AccountItem]:
    """The body of one exported row of ``kind``: a queue entry (a cluster's with its shared indicators)."""
    return ClusterExport if kind is SubjectKind.cluster else AccountItem


# How a page's values of one column are decoded (with the dialect at hand).
Decode = Callable[[Sequence[Any], Dialect], list]


def _read(column: ColumnElement[Any], label: str, annotation: object) -> tuple[ColumnElement[Any], Decode | None]:
    """``column`` as an export selects it, and how a page's values of it are decoded, a column at a time: a JSON
    column as text, decoded by msgspec in one call into ``annotation`` (the body field's type, so no validation
    again; the column is NOT NULL); a column of a :class:`TypeDecorator` as its plain type, then its own
    ``process_result_value`` (not SQLAlchemy's per-value processor chain)."""
    if isinstance(column.type, JSON):
        decoder = msgspec.json.Decoder(list[annotation])  # type: ignore[valid-type]
        return cast(column, Text).label(label), lambda texts, _: decoder.decode(f"[{','.join(texts)}]")
    if isinstance(column.type, TypeDecorator):
        process = column.type.process_result_value
        plain = type_coerce(column, column.type.impl_instance).label(label)
        return plain, lambda values, dialect: [process(v, dialect) for v in values]
    return column.label(label), None


class _ExportPlan(NamedTuple):
    """How an export of one kind reads its rows."""

    stmt: Select  # the stored columns the body serves, then its subject's override's (outer join)
    decoders: tuple[tuple[int, Decode], ...]  # (column index, decoder) of the columns to decode
    stored: type[Any]  # a named tuple of a row's stored columns
    override: type[Any]  # a named tuple of its override's columns


@cache
def _export_plan(kind: SubjectKind) -> _ExportPlan:
    """The stored columns the export body of ``kind`` serves (its fields that are columns of the table), joined
    to the subject's override (its columns but the members it held, which no body serves), read as plain rows
    (:func:`_read`) into named tuples whose attributes the queue entry is built from
    (:func:`evidence.account_item`, :func:`~distillguard.api.overrides.applied.applied`), without the ORM and
    without a second query for the overrides."""
    table, key, _ = _table(kind)
    columns = table.__table__.c
    fields = export_model(kind).model_fields
    names = [name for name in fields if name in columns]
    overrides = [c for c in ActionOverride.__table__.c if not isinstance(c.type, JSON)]
    read = [_read(columns[name], name, fields[name].annotation) for name in names]
    read += [_read(c, f"override_{c.key}", None) for c in overrides]
    joined = and_(ActionOverride.subject_type == kind.value, ActionOverride.subject_id == key)
    return _ExportPlan(
        select(*(selected for selected, _ in read)).outerjoin(ActionOverride, joined),
        tuple((i, decode) for i, (_, decode) in enumerate(read) if decode is not None),
        namedtuple(f"{kind.value.title()}Stored", names),
        namedtuple("OverrideStored", [c.key for c in overrides]),
    )


def _decoded(plan: _ExportPlan, rows: Sequence[Row], dialect: Dialect) -> Iterator[tuple]:
    """The values of ``rows`` (of ``plan``), decoded a column at a time."""
    if not rows:
        return iter(())
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    for i, decode in plan.decoders:
        columns[i] = decode(columns[i], dialect)
    return zip(*columns, strict=True)


def export_rows(
    sessions: sessionmaker[Session],
    kind: SubjectKind,
    f: QueueFilters,
    *,
    templates: bool,
    redacted: bool,
    hidden: Hidden = NOTHING,
) -> Iterator[dict]:
    """Every queue entry matching ``f``, in queue order (score, then id), as the fields of its body
    (:func:`~distillguard.api.tabular.body`: read straight from the database, not validated again), read a page of
    plain rows at a time (keyset) in a session of its own, so that memory stays flat however many match; prompt
    templates among a cluster's indicators redacted when ``redacted``; ``templates`` and ``hidden`` as in
    :func:`page`."""
    model = export_model(kind)
    table, key, _ = _table(kind)
    item = evidence.cluster_item if kind is SubjectKind.cluster else evidence.account_item
    plan = _export_plan(kind)
    width = len(plan.stored._fields)
    stmt = _shown(plan.stmt, kind, f, templates, hidden).order_by(table.score.desc(), key.asc())
    after = stmt
    with sessions() as session:
        connection = session.connection()
        while True:
            rows = connection.execute(after.limit(EXPORT_PAGE)).all()
            for values in _decoded(plan, rows, connection.dialect):
                stored = plan.stored._make(values[:width])
                override = plan.override._make(values[width:]) if values[width] is not None else None
                entry = item(stored, override)  # duck-typed: the named tuples have the attributes it reads
                if kind is SubjectKind.cluster:
                    entry["shared_indicators"] = evidence.indicators(stored.shared_indicators, redacted)
                yield body(model, entry)
            if len(rows) < EXPORT_PAGE:
                return
            after = stmt.where(_after_score(table, key, rows[-1].score, getattr(rows[-1], key.key)))
