"""Replay an event file into the input topic with kafka-python, keyed by ``account_id`` so that every
event of an account lands on the same partition (in file order). Lines are sent as they are: validating
them is the worker's job (malformed ones end in the dead-letter topic)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
from kafka import KafkaProducer

from detector.events import iter_lines


class _Key(msgspec.Struct):
    account_id: str


_key_decoder = msgspec.json.Decoder(_Key)


def account_key(line: bytes) -> bytes | None:
    """The partitioning key of a raw line: its ``account_id``, or None when it has none."""
    try:
        return _key_decoder.decode(line).account_id.encode()
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


@dataclass
class ReplayReport:
    """What a replay sent."""

    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / max(self.seconds, 1e-9)


def make_producer(bootstrap: str) -> KafkaProducer:
    """A throughput-oriented producer (batched, acks from the leader)."""
    return KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024,
                         max_request_size=8 * 1024 * 1024, retries=10,
                         client_id="distillguard-replay")


def replay(path: str | Path, bootstrap: str, topic: str, rate: float | None = None,
           progress: Callable[[int, int], None] | None = None, limit: int | None = None) -> ReplayReport:
    """Send every line of ``path`` (plain or gzip JSONL) to ``topic``; ``rate`` events/s or as fast as possible.
    ``progress(lines_sent, file_bytes_read)`` is called every few thousand lines."""
    producer = make_producer(bootstrap)
    sent = 0
    pos = 0
    t0 = time.perf_counter()

    def seen(b: int) -> None:
        nonlocal pos
        pos = b

    try:
        for _, line in iter_lines(path, progress=seen):
            producer.send(topic, value=line, key=account_key(line))
            sent += 1
            if rate is not None and sent % 100 == 0:
                ahead = sent / rate - (time.perf_counter() - t0)
                if ahead > 0:
                    time.sleep(ahead)
            if progress is not None and not sent % 4096:
                progress(sent, pos)
            if limit is not None and sent >= limit:
                break
        producer.flush()
    finally:
        producer.close()
    elapsed = time.perf_counter() - t0
    if progress is not None:
        progress(sent, pos)
    return ReplayReport(sent, elapsed)
