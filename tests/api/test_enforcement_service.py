"""The enforcement outbox at the service level (api/enforcement/service.py): idempotency keys, queuing without
duplicates, dispatching (sent, failed, audited), what readers see, and the Kafka producer's settings and messages
(a fake producer: no broker). On a copy of the seeded database (``db``)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import ClassVar

import kafka
import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from distillguard.api.enforcement import service
from distillguard.api.enforcement.models import OutboxEvent
from distillguard.api.enforcement.service import (
    ERROR_READER,
    HIDDEN_ERROR,
    Publisher,
    as_seen_by,
    dispatch,
    enqueue,
    for_case,
    idempotency_key,
    pending,
)
from tests.api.review_world import LEAD, audit, put_case

NOW = datetime(2026, 3, 12, 15, 30, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The outbox's clock, fixed at NOW; append to move it on."""
    times = [NOW]
    monkeypatch.setattr(service, "utcnow", lambda: times[-1])
    return times


def event(case_id: int, account_id: str, **extra: object) -> dict:
    return {"idempotency_key": idempotency_key(case_id, account_id, "suspend"), "case_id": case_id,
            "account_id": account_id, "action": "suspend"} | extra  # fmt: skip


def rows(session: Session) -> list[tuple]:
    session.expire_all()
    return [
        (r.account_id, r.case_id, r.attempts, r.sent_at, r.last_error)
        for r in session.scalars(select(OutboxEvent).order_by(OutboxEvent.account_id))
    ]


@pytest.fixture
def cases(db: Session) -> tuple[int, int]:
    """Two case ids (the outbox refers to cases)."""
    ids = put_case(db, "acct-s000", "confirmed_attack").id, put_case(db, "acct-s001", "confirmed_attack").id
    db.commit()
    return ids


def test_the_idempotency_key_is_the_first_40_hex_digits_of_a_sha256() -> None:
    assert idempotency_key(7, "acct-1", "suspend") == hashlib.sha256(b"7:acct-1:suspend").hexdigest()[:40]
    assert idempotency_key(7, "acct-1", "suspend") == "d40ffabc837b4297dc565c9bde043845a4c98a03"
    assert len(idempotency_key(1, "a", "b")) == 40
    assert idempotency_key(1, "a", "suspend") != idempotency_key(2, "a", "suspend")


def test_enqueue_adds_new_keys_and_leaves_known_ones_alone(db: Session, cases, clock) -> None:
    c1, c2 = cases
    assert enqueue(db, []) == 0
    assert enqueue(db, [event(c1, "a", n=1), event(c1, "b")]) == 2
    db.commit()
    clock.append(NOW + timedelta(hours=1))
    assert enqueue(db, [event(c1, "a", n=2), event(c2, "a"), event(c2, "a")]) == 1
    db.commit()
    assert rows(db) == [("a", c1, 0, None, None), ("a", c2, 0, None, None), ("b", c1, 0, None, None)]
    first = db.get(OutboxEvent, idempotency_key(c1, "a", "suspend"))
    assert first.payload == event(c1, "a", n=1) and first.created_at == NOW  # the first one stays
    assert db.get(OutboxEvent, idempotency_key(c2, "a", "suspend")).created_at == NOW + timedelta(hours=1)


def _queue(db: Session, clock: list[datetime], events: list[dict]) -> None:
    for i, e in enumerate(events):
        clock.append(NOW + timedelta(minutes=i))
        enqueue(db, [e])
    db.commit()


def test_dispatch_sends_the_oldest_pending_events_and_marks_them_sent(db: Session, cases, clock) -> None:
    c1, c2 = cases
    _queue(db, clock, [event(c2, "z"), event(c1, "y"), event(c1, "x")])
    sent: list[list[str]] = []
    clock.append(NOW + timedelta(hours=1))
    assert dispatch(db, lambda batch: sent.append([r.account_id for r in batch]), limit=2) == {"sent": 2, "pending": 0}
    assert sent == [["z", "y"]]
    assert rows(db) == [
        ("x", c1, 0, None, None),
        ("y", c1, 1, NOW + timedelta(hours=1), None),
        ("z", c2, 1, NOW + timedelta(hours=1), None),
    ]
    assert [r.account_id for r in pending(db)] == ["x"]
    assert dispatch(db, lambda batch: sent.append([r.account_id for r in batch])) == {"sent": 1, "pending": 0}
    assert sent[-1] == ["x"] and pending(db) == []
    assert dispatch(db, lambda batch: sent.append(batch)) == {"sent": 0, "pending": 0}
    assert len(sent) == 2 and audit(db) == []  # nobody asked: the queuing change is the audited one


def test_events_queued_together_go_in_key_order(db: Session, cases, clock) -> None:
    c1, _ = cases
    events = [event(c1, a) for a in ("p", "q", "r", "s")]
    enqueue(db, events)
    db.commit()
    sent: list[str] = []
    dispatch(db, lambda batch: sent.extend(r.idempotency_key for r in batch))
    assert sent == sorted(e["idempotency_key"] for e in events)


def test_a_failed_send_keeps_the_events_pending_with_the_error(db: Session, cases, clock) -> None:
    c1, _ = cases
    _queue(db, clock, [event(c1, "a"), event(c1, "b")])

    def down(_batch):
        raise ConnectionError("broker at 10.0.0.7:9092 " + "x" * 600)

    with capture_logs() as logs:
        assert dispatch(db, down) == {"sent": 0, "pending": 2}
        assert dispatch(db, down) == {"sent": 0, "pending": 2}
    error = ("ConnectionError: broker at 10.0.0.7:9092 " + "x" * 600)[:500]
    assert rows(db) == [("a", c1, 2, None, error), ("b", c1, 2, None, error)]
    assert len(error) == 500
    assert logs[0] == {
        "event": "enforcement send failed; will retry",
        "log_level": "warning",
        "component": "enforcement",
        "pending": 2,
        "error": ("broker at 10.0.0.7:9092 " + "x" * 600)[:200],
    }
    clock.append(NOW + timedelta(days=1))
    with capture_logs() as logs:
        assert dispatch(db, lambda _batch: None) == {"sent": 2, "pending": 0}
    assert rows(db) == [("a", c1, 3, NOW + timedelta(days=1), None), ("b", c1, 3, NOW + timedelta(days=1), None)]
    assert logs == [{"event": "enforcement events sent", "log_level": "info", "component": "enforcement", "sent": 2}]


def test_a_dispatch_someone_asked_for_is_audited(db: Session, cases, clock) -> None:
    c1, _ = cases
    assert dispatch(db, lambda _b: None, who=LEAD) == {"sent": 0, "pending": 0}
    _queue(db, clock, [event(c1, "a"), event(c1, "b")])

    def down(_batch):
        raise TimeoutError("no broker")

    assert dispatch(db, down, who=LEAD) == {"sent": 0, "pending": 2}
    assert dispatch(db, lambda _b: None, who=LEAD) == {"sent": 2, "pending": 0}
    keys = [idempotency_key(c1, "a", "suspend"), idempotency_key(c1, "b", "suspend")]
    assert audit(db) == [
        ("lead-user", "enforcement.dispatch", None, {"sent": 0, "pending": 0, "keys": []}),
        ("lead-user", "enforcement.dispatch", None, {"sent": 0, "pending": 2, "keys": keys, "error": "TimeoutError"}),
        ("lead-user", "enforcement.dispatch", None, {"sent": 2, "pending": 0, "keys": keys}),
    ]
    db.rollback()
    assert len(audit(db)) == 3  # committed


def test_an_unaudited_dispatch_commits_its_changes(db: Session, cases, clock) -> None:
    c1, _ = cases
    _queue(db, clock, [event(c1, "a")])
    dispatch(db, lambda _b: None)
    db.rollback()
    assert rows(db) == [("a", c1, 1, NOW, None)]


def test_a_dispatch_with_nothing_pending_leaves_no_transaction_open(db: Session, cases) -> None:
    dispatch(db, lambda _b: None)
    assert not db.in_transaction()


def test_readers_below_lead_see_that_sending_failed_not_why(db: Session, cases, clock) -> None:
    c1, c2 = cases
    _queue(db, clock, [event(c1, "a"), event(c2, "b")])
    dispatch(db, lambda _b: (_ for _ in ()).throw(OSError("host kafka-internal-3 unreachable")), limit=1)
    out = as_seen_by(for_case(db, c1) + for_case(db, c2), may_see_errors=False)
    assert out == [
        {
            "idempotency_key": idempotency_key(c1, "a", "suspend"),
            "account_id": "a",
            "cluster_id": None,
            "payload": event(c1, "a"),
            "sent_at": None,
            "attempts": 1,
            "last_error": HIDDEN_ERROR,
        },
        {
            "idempotency_key": idempotency_key(c2, "b", "suspend"),
            "account_id": "b",
            "cluster_id": None,
            "payload": event(c2, "b"),
            "sent_at": None,
            "attempts": 0,
            "last_error": None,
        },
    ]
    full = as_seen_by(for_case(db, c1), may_see_errors=True)
    assert full[0]["last_error"] == "OSError: host kafka-internal-3 unreachable"
    assert ERROR_READER == "lead" and LEAD.can(ERROR_READER)


def test_pending_and_for_case_list_their_events_in_order(db: Session, cases, clock) -> None:
    c1, c2 = cases
    _queue(db, clock, [event(c1, "m"), event(c2, "k"), event(c1, "c"), event(c1, "x")])
    assert [r.account_id for r in pending(db)] == ["m", "k", "c", "x"]
    assert [r.account_id for r in for_case(db, c1)] == ["c", "m", "x"]
    assert [r.account_id for r in for_case(db, c2)] == ["k"]
    dispatch(db, lambda _b: None, limit=1)
    assert [r.account_id for r in pending(db)] == ["k", "c", "x"]
    assert [r.account_id for r in for_case(db, c1)] == ["c", "m", "x"]  # sent ones too


class FakeFuture:
    def __init__(self, log: list) -> None:
        self.log = log

    def get(self, timeout: float) -> None:
        self.log.append(("get", timeout))


class FakeProducer:
    made: ClassVar[list[dict]] = []

    def __init__(self, **kwargs: object) -> None:
        FakeProducer.made.append(kwargs)
        self.log: list = []

    def send(self, topic: str, key: bytes, value: bytes, headers: list) -> FakeFuture:
        self.log.append(("send", topic, key, json.loads(value), headers))
        return FakeFuture(self.log)

    def close(self, timeout: float) -> None:
        self.log.append(("close", timeout))


@pytest.fixture
def producers(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    FakeProducer.made = []
    monkeypatch.setattr(kafka, "KafkaProducer", FakeProducer)
    return FakeProducer.made


def test_the_publisher_sends_keyed_messages_and_waits_for_every_ack(db: Session, cases, clock, producers) -> None:
    c1, _ = cases
    _queue(db, clock, [event(c1, "acct-a"), event(c1, "acct-b")])
    publisher = Publisher("broker:9092", "enforcement-actions", timeout=2.5)
    assert producers == []  # created on first use
    assert dispatch(db, publisher) == {"sent": 2, "pending": 0}
    assert producers == [
        {
            "bootstrap_servers": "broker:9092",
            "acks": "all",
            "retries": 0,
            "enable_idempotence": False,
            "linger_ms": 5,
            "max_block_ms": 2500,
            "bootstrap_timeout_ms": 2500,
            "request_timeout_ms": 2500,
        }
    ]
    producer = publisher._producer
    k = [idempotency_key(c1, a, "suspend") for a in ("acct-a", "acct-b")]
    assert producer.log == [
        ("send", "enforcement-actions", b"acct-a", event(c1, "acct-a"), [("idempotency-key", k[0].encode())]),
        ("send", "enforcement-actions", b"acct-b", event(c1, "acct-b"), [("idempotency-key", k[1].encode())]),
        ("get", 2.5),
        ("get", 2.5),
    ]
    publisher.send(pending(db))  # nothing
    assert len(producers) == 1  # the producer is reused
    publisher.close()
    assert producer.log[-1] == ("close", 5) and publisher._producer is None
    publisher.close()  # closing twice is harmless
    assert producer.log.count(("close", 5)) == 1


def test_the_publishers_default_timeout_is_ten_seconds(producers) -> None:
    publisher = Publisher("b:1", "t")
    assert (publisher.bootstrap, publisher.topic, publisher.timeout) == ("b:1", "t", 10.0)
    publisher._get()
    assert producers[0]["max_block_ms"] == 10000


def test_a_dispatch_sends_at_most_500_events_by_default(db: Session, cases, clock) -> None:
    c1, _ = cases
    assert enqueue(db, [event(c1, f"acct-{i:04d}") for i in range(502)]) == 502
    db.commit()
    batches: list[int] = []
    assert dispatch(db, lambda batch: batches.append(len(batch))) == {"sent": 500, "pending": 0}
    assert dispatch(db, lambda batch: batches.append(len(batch))) == {"sent": 2, "pending": 0}
    assert batches == [500, 2]


class StatementSession:
    """A session on ``dialect`` that records the statements it is given and finds nothing: what enqueue and
    dispatch would send to that database (no server needed)."""

    def __init__(self, dialect) -> None:
        self.dialect, self.sent = dialect, []

    def get_bind(self) -> SimpleNamespace:
        return SimpleNamespace(dialect=self.dialect)

    def execute(self, stmt, params=None) -> SimpleNamespace:
        self.sent.append(str(stmt.compile(dialect=self.dialect)))
        return SimpleNamespace(scalars=lambda: SimpleNamespace(all=lambda: params))

    def scalars(self, stmt) -> list:
        self.sent.append(str(stmt.compile(dialect=self.dialect)))
        return []

    def rollback(self) -> None:
        pass


def test_on_postgresql_the_outbox_is_written_with_on_conflict_and_read_with_skip_locked() -> None:
    pg = StatementSession(postgresql.dialect())
    assert enqueue(pg, [event(1, "a")]) == 1
    dispatch(pg, lambda _b: None)
    insert, select_pending = pg.sent
    assert insert.endswith("ON CONFLICT (idempotency_key) DO NOTHING RETURNING enforcement_outbox.idempotency_key")
    assert select_pending.endswith("FOR UPDATE SKIP LOCKED")  # concurrent dispatchers skip each other's rows
