"""Writing the detector's records (idempotent batch upserts) and reading them back."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import msgspec
from sqlalchemy import Table, delete, event, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from distillguard.api.database import Base
from distillguard.api.detections.models import AccountModel, AccountRow, ClusterIndicator, ClusterRow, DetectionsEpoch
from distillguard.api.types import utcnow
from distillguard.api.webhooks import service as webhooks
from distillguard.api.webhooks.events import Event, EventType
from distillguard.detector.records import AccountVerdict, ClusterVerdict

INDICATOR_VALUE_MAX = 1000  # longer values (prompt templates) are indexed by their prefix
_CHUNK = 1000
_UPSERT_DIALECTS = ("postgresql", "sqlite")


def _hash(record: msgspec.Struct) -> str:
    return hashlib.blake2b(msgspec.json.encode(record), digest_size=16).hexdigest()


def _chunks(items: Sequence, n: int = _CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _table(model: type[Base]) -> Table:
    """A mapped class's table (SQLAlchemy types ``__table__`` as any FromClause; a declarative class's is a Table)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def _insert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ON CONFLICT, in ``dialect`` (one of ``_UPSERT_DIALECTS``)."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _upsert(session: Session, table: Table, key: str, rows: list[dict]) -> set[str]:
    """Insert ``rows`` or update those whose content hash changed; returns the keys inserted or updated."""
    dialect = session.get_bind().dialect.name
    if dialect not in _UPSERT_DIALECTS:
        raise NotImplementedError(f"upserts need SQLite or PostgreSQL, not {dialect}")
    changed: set[str] = set()
    for chunk in _chunks(rows):
        stmt = _insert(dialect, table)
        updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in (key, "status")}
        upsert = stmt.on_conflict_do_update(
            index_elements=[key],
            set_=updates,
            where=table.c.content_hash != stmt.excluded.content_hash,
        ).returning(table.c[key])
        changed.update(session.execute(upsert, list(chunk)).scalars().all())
    return changed


def _replace(session: Session, table: Table, key: str, keys: Iterable[str], rows: list[dict]) -> None:
    keys = list(keys)
    for chunk in _chunks(keys):
        session.execute(delete(table).where(table.c[key].in_(chunk)))
    for chunk in _chunks(rows):
        session.execute(insert(table), list(chunk))


def _row(record: AccountVerdict | ClusterVerdict, now: datetime) -> dict:
    """The table row of a record: its fields as they are (the rung times, a JSON column, as ISO strings, which
    :func:`account_verdict` converts back), plus a cluster's size and the write bookkeeping."""
    size = {"size": len(record.members)} if isinstance(record, ClusterVerdict) else {}
    reached = {"reached_at": msgspec.to_builtins(record.reached_at)}
    return msgspec.structs.asdict(record) | size | reached | {"content_hash": _hash(record), "updated_at": now}


_BUMPED = "distillguard.epoch_bumped"
_local_commits = 0


@event.listens_for(Session, "after_commit")
def _count_commit(session: Session) -> None:
    global _local_commits
    if session.info.pop(_BUMPED, False):
        _local_commits += 1


@event.listens_for(Session, "after_rollback")
def _forget_bump(session: Session) -> None:
    session.info.pop(_BUMPED, None)


def local_commits() -> int:
    """How many transactions of this process that bumped the epoch have committed (cheap; no database)."""
    return _local_commits


def bump_epoch(session: Session) -> None:
    """Mark the detections as changed in this transaction (invalidates the queue's cached pages and counts)."""
    session.execute(update(DetectionsEpoch).where(DetectionsEpoch.id == 1).values(epoch=DetectionsEpoch.epoch + 1))
    session.info[_BUMPED] = True


def current_epoch(session: Session) -> int:
    """The detections epoch as this transaction sees it."""
    return session.scalar(select(DetectionsEpoch.epoch).where(DetectionsEpoch.id == 1)) or 0


def upsert_detections(session: Session, verdicts: Sequence[AccountVerdict], clusters: Sequence[ClusterVerdict]) -> None:
    """Write verdicts and clusters in batches (insert, or update when the record changed).

    Idempotent: re-applying the same records changes no row. Review status is never touched. The caller commits.
    """
    now = utcnow()
    any_changed = False
    if verdicts:
        latest = {v.account_id: v for v in verdicts}  # the last record of an account in the batch wins
        changed = _upsert(session, _table(AccountRow), "account_id", [_row(v, now) for v in latest.values()])
        _replace(
            session,
            _table(AccountModel),
            "account_id",
            changed,
            [{"account_id": a, "model": m} for a in sorted(changed) for m in sorted(set(latest[a].models))],
        )
        any_changed = bool(changed)
    if clusters:
        latest_c = {c.cluster_id: c for c in clusters}
        newly = _newly_flagged(session, latest_c)
        changed = _upsert(session, _table(ClusterRow), "cluster_id", [_row(c, now) for c in latest_c.values()])
        rows = {
            (cid, kind, value[:INDICATOR_VALUE_MAX])
            for cid in changed
            for kind, values in latest_c[cid].shared_indicators.items()
            for value in values
        }
        _replace(
            session,
            _table(ClusterIndicator),
            "cluster_id",
            changed,
            [{"cluster_id": c, "kind": k, "value": v} for c, k, v in sorted(rows)],
        )
        any_changed = any_changed or bool(changed)
        webhooks.enqueue(session, *(_flagged(c) for c in newly))
    if any_changed:
        bump_epoch(session)


def _newly_flagged(session: Session, clusters: dict[str, ClusterVerdict]) -> list[ClusterVerdict]:
    """The flagged ones of ``clusters`` whose stored row is missing or not flagged (before this write)."""
    flagged = [cid for cid, c in clusters.items() if c.flagged]
    stored: set[str] = set()
    for chunk in _chunks(flagged):
        stored.update(
            session.scalars(select(ClusterRow.cluster_id).where(ClusterRow.cluster_id.in_(chunk), ClusterRow.flagged))
        )
    return [clusters[cid] for cid in flagged if cid not in stored]


def _flagged(c: ClusterVerdict) -> Event:
    """The ``cluster.flagged`` event of a cluster: keyed by its id alone, so it is queued once per subscription
    however often the cluster is unflagged and flagged again."""
    data = {
        "cluster_id": c.cluster_id,
        "size": len(c.members),
        "score": c.score,
        "probability": c.probability,
        "action": str(c.action),
        "flagged_at": c.flagged_at.isoformat() if c.flagged_at else None,
        "reasons": list(c.reasons),
    }
    return Event(EventType.cluster_flagged, c.cluster_id, data)


def account_verdict(row: AccountRow) -> AccountVerdict:
    """The core's record of a stored account verdict."""
    return msgspec.convert(row, AccountVerdict, from_attributes=True)


def cluster_verdict(row: ClusterRow) -> ClusterVerdict:
    """The core's record of a stored cluster."""
    return msgspec.convert(row, ClusterVerdict, from_attributes=True)


def export_verdicts(session: Session) -> Iterator[AccountVerdict]:
    """Every stored account verdict, in account order (streamed)."""
    stmt = select(AccountRow).order_by(AccountRow.account_id).execution_options(yield_per=1000)
    for row in session.scalars(stmt):
        yield account_verdict(row)


def export_clusters(session: Session) -> Iterator[ClusterVerdict]:
    """Every stored cluster, in cluster order (streamed)."""
    stmt = select(ClusterRow).order_by(ClusterRow.cluster_id).execution_options(yield_per=500)
    for row in session.scalars(stmt):
        yield cluster_verdict(row)
