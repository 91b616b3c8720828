"""Enforcement events: queued in the outbox with the decision, sent to Kafka after commit, re-sent until acked.

A case's key is derived from (case, account, action), an analyst override's from the audit record of the change
(:mod:`distillguard.api.overrides.service`), so a re-send after a crash carries the same key and a consumer that
dedups on it never applies an action twice; a retried decision or override never queues a second event.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from distillguard.api.audit.service import Actor, record
from distillguard.api.cases.models import Case
from distillguard.api.enforcement.models import OutboxEvent
from distillguard.api.restrictions.hidden import NOTHING, Hidden
from distillguard.api.types import utcnow
from distillguard.api.webhooks import service as webhooks
from distillguard.api.webhooks.events import Event, EventType
from distillguard.detector.logs import get_logger
from distillguard.detector.records import SubjectKind

log = get_logger("enforcement")


def idempotency_key(case_id: int, account_id: str, action: str) -> str:
    """The deterministic key of one action on one account for one case."""
    return hashlib.sha256(f"{case_id}:{account_id}:{action}".encode()).hexdigest()[:40]


def enqueue(session: Session, events: list[dict]) -> int:
    """Add a case's events (each names its ``case_id`` and ``account_id``) to the outbox (a key already there is
    left alone); returns how many were new."""
    return _add(session, [_row(e, case_id=e["case_id"], account_id=e["account_id"]) for e in events])


def enqueue_on(session: Session, kind: SubjectKind, subject: str, event: dict) -> int:
    """Add one event acting on the account or cluster ``subject`` outside any case (an analyst's override); 1 when
    new, 0 when its key was already there."""
    column = "account_id" if kind == SubjectKind.account else "cluster_id"
    return _add(session, [_row(event, **{column: subject})])


def _row(event: dict, **columns: object) -> dict:
    """The outbox row of ``event``, acting on what ``columns`` name (case, account or cluster)."""
    queued = {"idempotency_key": event["idempotency_key"], "payload": event, "created_at": utcnow(), "attempts": 0}
    return queued | columns


def _add(session: Session, rows: list[dict]) -> int:
    """Insert ``rows`` but those whose key is already there; how many were new."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        ins(OutboxEvent)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxEvent.idempotency_key)
    )
    return len(session.execute(stmt, rows).scalars().all())


class Publisher:
    """Sends outbox rows to the enforcement topic with a kafka-python producer (created on first use)."""

    def __init__(self, bootstrap: str, topic: str, timeout: float = 10.0) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout = timeout
        self._producer = None
        self._lock = threading.Lock()

    def _get(self):
        if self._producer is None:
            from kafka import KafkaProducer

            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap,
                acks="all",
                retries=0,
                enable_idempotence=False,
                linger_ms=5,
                max_block_ms=int(self.timeout * 1000),
                bootstrap_timeout_ms=int(self.timeout * 1000),
                request_timeout_ms=int(self.timeout * 1000),
            )
        return self._producer

    def send(self, rows: list[OutboxEvent]) -> None:
        """Send ``rows`` (keyed by the account or cluster acted on, idempotency key in a header) and wait for the
        broker's acks."""
        with self._lock:
            producer = self._get()
            futures = [
                producer.send(
                    self.topic,
                    key=r.subject.encode(),
                    value=json.dumps(r.payload).encode(),
                    headers=[("idempotency-key", r.idempotency_key.encode())],
                )
                for r in rows
            ]
            for f in futures:
                f.get(timeout=self.timeout)

    def close(self) -> None:
        """Close the producer."""
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None


HIDDEN_ERROR = "sending failed (the broker's error is shown to leads and admins)"
ERROR_READER = "lead"  # the role from which internal send errors are shown


def dispatch(
    session: Session,
    publisher: Publisher | Callable[[list[OutboxEvent]], None],
    limit: int = 500,
    who: Actor | None = None,
) -> dict:
    """Send pending outbox events; marks them sent once acked. Returns counts of sent and still pending.
    With ``who`` (a dispatch someone asked for), an ``enforcement.dispatch`` audit event records the outcome in
    the same transaction; without, the change that queued the events is the audited one."""
    send = publisher.send if isinstance(publisher, Publisher) else publisher
    stmt = (
        select(OutboxEvent)
        .where(OutboxEvent.sent_at.is_(None))
        .order_by(OutboxEvent.created_at, OutboxEvent.idempotency_key)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.scalars(stmt))
    if not rows:
        if who is None:
            session.rollback()
            return {"sent": 0, "pending": 0}
        return _audited(session, who, rows, {"sent": 0, "pending": 0})
    try:
        send(rows)
    except Exception as exc:  # noqa: BLE001 - any broker failure leaves the events pending for the next try
        for r in rows:
            r.attempts += 1
            r.last_error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("enforcement send failed; will retry", pending=len(rows), error=str(exc)[:200])
        return _audited(session, who, rows, {"sent": 0, "pending": len(rows)}, error=type(exc).__name__)
    now = utcnow()
    for r in rows:
        r.attempts += 1
        r.sent_at = now
        r.last_error = None
    webhooks.enqueue(session, *(_sent(r, now) for r in rows))
    log.info("enforcement events sent", sent=len(rows))
    return _audited(session, who, rows, {"sent": len(rows), "pending": 0})


def _sent(row: OutboxEvent, at: datetime) -> Event:
    """The ``enforcement.sent`` event of an outbox row the broker acknowledged at ``at``."""
    data = {
        "idempotency_key": row.idempotency_key,
        "action": row.payload.get("action"),
        "account_id": row.account_id,
        "cluster_id": row.cluster_id,
        "case_id": row.case_id,
        "sent_at": at.isoformat(),
    }
    return Event(EventType.enforcement_sent, row.idempotency_key, data)


def _audited(session: Session, who: Actor | None, rows: list[OutboxEvent], outcome: dict, **details: object) -> dict:
    """Commit a dispatch's changes, with its audit event when someone asked for it."""
    if who is not None:
        keys = [r.idempotency_key for r in rows]
        record(session, who, "enforcement.dispatch", "enforcement", "outbox", None, **outcome, keys=keys, **details)
    session.commit()
    return outcome


def as_seen_by(rows: list[OutboxEvent], may_see_errors: bool) -> list[dict]:
    """Outbox rows as a reader sees them: the broker's error text only for leads and admins (it can name
    internal hosts), a note that sending failed for everybody else."""
    return [
        {
            "idempotency_key": r.idempotency_key,
            "account_id": r.account_id,
            "cluster_id": r.cluster_id,
            "payload": r.payload,
            "sent_at": r.sent_at,
            "attempts": r.attempts,
            "last_error": r.last_error if may_see_errors or r.last_error is None else HIDDEN_ERROR,
        }
        for r in rows
    ]


def pending(session: Session, hidden: Hidden = NOTHING) -> list[OutboxEvent]:
    """Events not yet acknowledged by the broker, but those acting on ``hidden`` subjects or from hidden cases."""
    stmt = select(OutboxEvent).where(OutboxEvent.sent_at.is_(None))
    if hidden:
        unseen = select(Case.id).where(hidden.case_hidden())
        stmt = stmt.where(
            or_(OutboxEvent.account_id.is_(None), ~hidden.subject_hidden(SubjectKind.account, OutboxEvent.account_id)),
            or_(OutboxEvent.cluster_id.is_(None), ~hidden.subject_hidden(SubjectKind.cluster, OutboxEvent.cluster_id)),
            or_(OutboxEvent.case_id.is_(None), OutboxEvent.case_id.not_in(unseen)),
        )
    return list(session.scalars(stmt.order_by(OutboxEvent.created_at)))


def for_case(session: Session, case_id: int) -> list[OutboxEvent]:
    """A case's enforcement events."""
    return list(
        session.scalars(select(OutboxEvent).where(OutboxEvent.case_id == case_id).order_by(OutboxEvent.account_id))
    )
