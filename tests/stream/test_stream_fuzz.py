"""Bad input loses nothing: a seeded corpus of broken messages, drawn from the parser fuzz tests' strategies
(``tests/event_strategies.py``) plus a 10 MB message, a tombstone and events the time rules refuse, is
interleaved with a simulated day and sent through the real broker to a ``distillguard worker`` subprocess.
Every broken message reaches the dead-letter topic once, with a reason naming the field; the worker keeps
consuming and its verdicts equal the batch detector's."""

from __future__ import annotations

import asyncio
import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from distillguard.detector.model import load_model
from distillguard.streams.replay import account_key
from distillguard.streams.settings import StreamSettings
from distillguard.streams.sinks import NullSink
from distillguard.streams.worker import DLQ_MAX_VALUE, StreamWorker, WorkerOptions
from tests.event_strategies import bad_messages, encode, examples, minimal_event
from tests.stream.conftest import Stream, assert_same_verdicts

CORPUS_SIZE = 300
BIG = 16 << 20  # producer and DLQ reader limits, above the 10 MB message


@dataclass
class Sent:
    """A broken message as produced: the field its dead letter must name, and where it landed."""

    value: bytes | None
    field: str
    kind: str  # "invalid" or "time-rule"
    key: bytes
    partition: int = -1
    offset: int = -1


def _event(i: int, ts: str) -> bytes:
    return encode(minimal_event(event_id=f"fuzz-{i}", ts=ts, account_id=f"fuzz-acct-{i}"))


def _produce(p: KafkaProducer, topic: str, items: list[Sent | tuple[bytes, bytes | None]]) -> None:
    """Send valid lines ``(value, key)`` and broken messages in order; record where each broken one landed."""
    futures = []
    for item in items:
        if isinstance(item, Sent):
            futures.append((item, p.send(topic, value=item.value, key=item.key)))
        else:
            p.send(topic, value=item[0], key=item[1])
    p.flush()
    for sent, fut in futures:
        md = fut.get(30)
        sent.partition, sent.offset = md.partition, md.offset


def _dlq_count(m: dict, kind: str) -> float:
    return m.get(f'distillguard_dlq_messages_total{{reason="{kind}"}}', 0)


@pytest.mark.slow
@pytest.mark.broker
def test_every_broken_message_is_dead_lettered_once_with_its_field_and_the_worker_keeps_consuming(stream: Stream, day):
    env = stream.env
    topic = env["EVENTS_TOPIC"]
    with gzip.open(day.events, "rb") as fh:
        lines = [line for line in fh.read().splitlines() if line.strip()]
    day_start = min(datetime.fromisoformat(json.loads(line)["ts"]) for line in lines[:50])

    broken = [
        Sent(b.raw, b.field, "invalid", f"fuzz-{i}".encode())
        for i, b in enumerate(examples(bad_messages(), CORPUS_SIZE, 20261123))
    ]
    oversized = Sent(
        _event(10**6, day_start.isoformat())[:-1] + b',"prompt":"' + b"x" * 10_000_000 + b'"}',
        "prompt",
        "invalid",
        b"big",
    )
    broken += [oversized, Sent(None, "$", "invalid", b"tombstone")]
    now = datetime.now(UTC)
    for i, ts in enumerate(
        [
            "0001-01-01T00:00:00+14:00",
            "1900-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            (now + timedelta(hours=2)).isoformat(),
            "9999-12-31T23:59:59-23:59",
        ]
    ):
        broken.append(Sent(_event(i, ts), "ts", "time-rule", f"fuzz-acct-{i}".encode()))
    # Older than the de-duplication horizon behind the stream: sent once the day has set the stream's time.
    stale = [
        Sent(_event(100 + i, (day_start - timedelta(days=2, minutes=i)).isoformat()), "ts", "time-rule", b"stale")
        for i in range(5)
    ]

    mixed: list = []
    step = max(len(lines) // len(broken), 1)
    pending = iter(broken)
    for n, line in enumerate(lines):
        if n % step == 0:
            mixed.extend(x for x in [next(pending, None)] if x is not None)
        mixed.append((line, account_key(line)))
    mixed.extend(pending)

    w = stream.worker()
    p = KafkaProducer(
        bootstrap_servers=stream.bootstrap, max_request_size=BIG, linger_ms=20
    )  # idempotent: a retried batch is not appended twice
    try:
        _produce(p, topic, mixed)
        n_invalid = sum(s.kind == "invalid" for s in broken)
        w.wait(
            lambda m: m.get("distillguard_events_total", 0) >= day.n and _dlq_count(m, "invalid") >= n_invalid,
            120,
            "the day and the broken messages to be consumed",
        )
        _produce(p, topic, stale)
    finally:
        p.close()
    sent = broken + stale
    m = w.wait(
        lambda m: m.get("distillguard_idle") == 1 and _dlq_count(m, "time-rule") >= len(sent) - n_invalid,
        60,
        "the stale events and an idle flush",
    )
    assert w.proc.poll() is None, stream.logs()

    c = KafkaConsumer(
        env["DLQ_TOPIC"],
        bootstrap_servers=stream.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=4000,
        max_partition_fetch_bytes=BIG,
        fetch_max_bytes=4 * BIG,
    )
    dead: dict[tuple[int, int], list] = {}
    for r in c:
        h = dict(r.headers)
        assert h["source-topic"] == topic.encode()
        dead.setdefault((int(h["source-partition"]), int(h["source-offset"])), []).append((r.value, h))
    c.close()
    by_place = {(s.partition, s.offset): s for s in sent}
    assert dead.keys() <= by_place.keys(), "a valid event was dead-lettered"
    for place, s in by_place.items():
        got = dead.get(place, [])
        assert len(got) == 1, (
            f"{len(got)} dead letters for offset {place} (2: processed twice, see the re-delivery test below)"
        )
        value, h = got[0]
        if s is oversized:  # kept to DLQ_MAX_VALUE bytes (under a broker's default limit), its size in a header
            assert len(value) == DLQ_MAX_VALUE and s.value.startswith(value)
            assert int(h["dlq-truncated-from"]) == len(s.value)
        else:
            assert value == s.value and "dlq-truncated-from" not in h
        assert h["dlq-kind"].decode() == s.kind
        reason = h["dlq-reason"].decode()
        field = reason.split(":", 1)[0] if s.kind == "invalid" else reason.split(" ", 1)[0]
        assert field == s.field or field.startswith((f"{s.field}[", f"{s.field}.")), (
            f"{reason!r} for {(s.value or b'')[:120]!r}"
        )
        assert len(reason) > len(field) + 3

    assert m["distillguard_events_total"] == day.n
    assert _dlq_count(m, "invalid") == n_invalid
    assert _dlq_count(m, "time-rule") == len(sent) - n_invalid
    assert_same_verdicts(stream.verdicts(), day.verdicts)


@dataclass
class _Record:
    """A consumed message as aiokafka returns it (the attributes the worker reads)."""

    offset: int
    value: bytes | None
    key: bytes | None = None
    topic: str = "api-events"
    partition: int = 0


class _Producer:
    """Records what the worker sends instead of sending it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict]] = []

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None, headers=None):
        self.sent.append((topic, value, dict(headers or [])))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_a_redelivered_range_below_the_processed_offsets_is_skipped_not_processed_again(tmp_path, model_path) -> None:
    """After a rebalance or an offset reset the consumer may deliver again what the worker already processed:
    every message of it must be skipped, so each broken one is dead-lettered once and each event counted once."""
    worker = StreamWorker(StreamSettings(), WorkerOptions(state_dir=tmp_path), load_model(model_path), NullSink())
    worker.producer = _Producer()  # type: ignore[assignment]
    tp = TopicPartition("api-events", 0)
    msgs = [
        _Record(
            i,
            b"{broken"
            if i % 4 == 0
            else _event(i, (datetime(2026, 3, 2, tzinfo=UTC) + timedelta(seconds=i)).isoformat()),
        )
        for i in range(12)
    ]

    async def deliver() -> None:
        await worker.process({tp: msgs})  # first delivery
        await worker.process({tp: msgs[:5]})  # delivered again from the start, in two fetches
        await worker.process({tp: msgs[5:]})

    asyncio.run(deliver())
    dead = [value for topic, value, _ in worker.producer.sent if topic == worker.s.dlq_topic]
    assert dead == [b"{broken"] * 3
    assert worker.detector.stats["events"] == 9 and worker.detector.stats["duplicates"] == 0
