r"""Replay an event file into the input topic with kafka-python, keyed by ``account_id`` so that every
event of an account lands on the same partition (in file order). Lines are sent as they are: validating
them is the worker's job (malformed ones end in the dead-letter topic). A line whose ``account_id`` cannot
be read (not JSON, nested too deep, no string id) is sent without a key, so the worker dead-letters it with
its reason too, and the replay reports it with line number and reason (:attr:`ReplayReport.unkeyed`).

Every send is checked: a message the broker did not acknowledge (a stalled broker, a timed-out request)
is sent again after the file, up to :data:`RESEND_ROUNDS` times, and :class:`ReplayError` says how many
never made it. A re-sent message may land twice; the worker ignores repeated ``event_id``\s."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from kafka import KafkaProducer
from kafka.errors import KafkaError

from distillguard.detector.events import BadLine, EventError, iter_lines, parse_with
from distillguard.detector.logs import get_logger

log = get_logger("replay")


class _Key(msgspec.Struct):
    account_id: str


_key_decoder = msgspec.json.Decoder(_Key)


def line_key(line: bytes) -> bytes:
    """The partitioning key of a raw line, its ``account_id``; raise :class:`EventError` saying why it has none."""
    return parse_with(_key_decoder, line).account_id.encode()


def account_key(line: bytes) -> bytes | None:
    """The partitioning key of a raw line: its ``account_id``, or None when it has none."""
    try:
        return line_key(line)
    except EventError:
        return None


def keyed_lines(
    path: str | Path, unkeyed: Callable[[BadLine], None], progress: Callable[[int], None] | None = None
) -> Iterator[tuple[bytes, bytes | None]]:
    """Stream ``(line, key)`` for every non-blank line of ``path``; a line with no key is passed to ``unkeyed``
    (with why) and yielded with key None. Raise :class:`EventFileError` when the file cannot be read through."""
    for lineno, line in iter_lines(path, progress):
        try:
            key: bytes | None = line_key(line)
        except EventError as err:
            unkeyed(BadLine(lineno, err, line))
            key = None
        yield line, key


RESEND_ROUNDS = 5
REPORTED_UNKEYED = 20  # lines without a key kept with their reason; the rest are only counted


class ReplayError(RuntimeError):
    """Some messages were never acknowledged by the broker."""


@dataclass
class ReplayReport:
    """What a replay sent (``resent``: messages that needed another try; ``unkeyed``: lines sent without a
    key, of which ``unkeyed_lines`` keeps the first :data:`REPORTED_UNKEYED` with their reason)."""

    events: int
    seconds: float
    resent: int = 0
    unkeyed: int = 0
    unkeyed_lines: list[BadLine] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / max(self.seconds, 1e-9)


def make_producer(bootstrap: str) -> KafkaProducer:
    """A throughput-oriented producer (batched, acks from the leader)."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
        retries=10,
        client_id="distillguard-replay",
    )


def replay(
    path: str | Path,
    bootstrap: str,
    topic: str,
    rate: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    limit: int | None = None,
) -> ReplayReport:
    """Send every line of ``path`` (plain or gzip JSONL) to ``topic``; ``rate`` events/s or as fast as possible.
    ``progress(lines_sent, file_bytes_read)`` is called every few thousand lines. Raise :class:`EventFileError`
    when the file cannot be read through (the lines before it are sent)."""
    producer = make_producer(bootstrap)
    sent = resent = 0
    unkeyed: list[BadLine] = []
    n_unkeyed = 0
    pos = 0
    failed: list[tuple[bytes, bytes | None, str]] = []
    t0 = time.perf_counter()

    def seen(b: int) -> None:
        nonlocal pos
        pos = b

    def no_key(bad: BadLine) -> None:
        nonlocal n_unkeyed
        n_unkeyed += 1
        if len(unkeyed) < REPORTED_UNKEYED:
            unkeyed.append(bad)

    def send(line: bytes, key: bytes | None) -> None:
        producer.send(topic, value=line, key=key).add_errback(lambda exc: failed.append((line, key, str(exc))))

    try:
        for line, key in keyed_lines(path, no_key, progress=seen):
            send(line, key)
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
        for _ in range(RESEND_ROUNDS):
            if not failed:
                break
            retry, failed[:] = list(failed), []
            resent += len(retry)
            log.warning("re-sending unacknowledged messages", count=len(retry), error=retry[0][2])
            for line, key, _why in retry:
                send(line, key)
            producer.flush()
    except KafkaError as exc:
        raise ReplayError(f"replay to {topic} at {bootstrap} failed after {sent} messages: {exc}") from exc
    finally:
        producer.close()
    if failed:
        raise ReplayError(f"{len(failed)} of {sent} messages were never acknowledged by {bootstrap}: {failed[0][2]}")
    elapsed = time.perf_counter() - t0
    if progress is not None:
        progress(sent, pos)
    return ReplayReport(sent, elapsed, resent, n_unkeyed, unkeyed)
