"""Produce a gateway's events without slowing its requests: a bounded in-memory queue drained by one background
thread that sends with kafka-python.

:meth:`EventProducer.submit` never blocks and never raises: when the queue is full (the broker is down or slower
than the traffic) the event is dropped and counted. The thread connects on first use and again after a failure;
an event it cannot hand to the broker is counted too. Counts are in :attr:`EventProducer.stats` and, on the
process's default Prometheus registry (which a LiteLLM proxy serves on ``/metrics``),
``distillguard_gateway_events_total{outcome}``.
"""

from __future__ import annotations

import atexit
import enum
import queue
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.errors import KafkaError
from prometheus_client import Counter

from distillguard.detector.logs import get_logger

log = get_logger("gateway-producer")

LINGER_MS = 5  # batch what arrives within 5 ms into one request
MAX_BLOCK_MS = 2_000  # connecting, or a send waiting for metadata or buffer space, gives up after this long
RECONNECT_BACKOFF_MAX_MS = 1_000  # a broker back from an outage is found again within about a second
DELIVERY_TIMEOUT_MS = 30_000  # an accepted event not acknowledged by then is counted as failed
RECONNECT_BACKOFF_S = 1.0  # after a failed connection, events are dropped for this long before the next try
LOG_EVERY = 1_000  # drops are logged at the first and every LOG_EVERY-th of an outage
CLOSE_TIMEOUT_S = 10.0


class Outcome(enum.StrEnum):
    """What became of an event handed to :meth:`EventProducer.submit` (or refused before it)."""

    PRODUCED = "produced"  # acknowledged by the broker
    QUEUE_FULL = "queue_full"  # dropped: the queue was full
    BROKER_UNAVAILABLE = "broker_unavailable"  # dropped: no connection to the broker
    SEND_FAILED = "send_failed"  # dropped: the broker did not acknowledge it in time
    INVALID = "invalid"  # never queued: the gateway's record is not a valid api-event/v1 (the integration counts it)


GATEWAY_EVENTS = Counter(
    "distillguard_gateway_events",
    "Events of a gateway integration by outcome: produced, or dropped (queue_full, broker_unavailable, "
    "send_failed, invalid).",
    ["outcome"],
)

DROPPED = frozenset(Outcome) - {Outcome.PRODUCED}


@dataclass(frozen=True)
class ProducerStats:
    """Counts since the producer was made (``outcomes``: events per :class:`Outcome`)."""

    submitted: int
    queued: int
    outcomes: dict[Outcome, int] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        """Events that will never reach the broker."""
        return sum(n for o, n in self.outcomes.items() if o in DROPPED)


def kafka_producer(bootstrap: str) -> KafkaProducer:
    """A kafka-python producer that waits for the leader's acknowledgement and blocks briefly at most."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        linger_ms=LINGER_MS,
        max_block_ms=MAX_BLOCK_MS,
        bootstrap_timeout_ms=MAX_BLOCK_MS,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        request_timeout_ms=MAX_BLOCK_MS,
        delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
        retries=3,
    )


class EventProducer:
    """Events to ``topic`` on ``bootstrap`` through a queue of ``queue_size`` events and one daemon thread,
    started by the first :meth:`submit`. ``connect`` makes the Kafka producer (tests substitute one)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        queue_size: int,
        connect: Callable[[str], KafkaProducer] = kafka_producer,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.queue_size = queue_size
        self.connect = connect
        self._queue: queue.Queue[tuple[bytes, bytes] | None] = queue.Queue(maxsize=queue_size)  # None: stop
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._submitted = 0
        self._outcomes: Tally[Outcome] = Tally()
        self._outage_drops = 0

    # ---- the request path ------------------------------------------------------------------------
    def submit(self, key: bytes, value: bytes) -> bool:
        """Queue one encoded event; False when it was dropped (queue full). Never blocks, never raises."""
        self._ensure_thread()
        with self._lock:
            self._submitted += 1
        try:
            self._queue.put_nowait((key, value))
        except queue.Full:
            self.count(Outcome.QUEUE_FULL)
            return False
        return True

    def count(self, outcome: Outcome, n: int = 1) -> None:
        """Count ``n`` events with ``outcome`` (here and in Prometheus); log the first drop of an outage, every
        :data:`LOG_EVERY`-th, and the end of an outage."""
        GATEWAY_EVENTS.labels(outcome.value).inc(n)
        with self._lock:
            self._outcomes[outcome] += n
            before = self._outage_drops
            if outcome is Outcome.PRODUCED:
                self._outage_drops = 0
            elif outcome is not Outcome.INVALID:
                self._outage_drops += n
            after = self._outage_drops
        if outcome is Outcome.PRODUCED and before:
            log.info("producing again", topic=self.topic, dropped_in_outage=before)
        elif after > before and (before == 0 or after // LOG_EVERY != before // LOG_EVERY):
            log.warning("events dropped", reason=outcome.value, dropped_in_outage=after, bootstrap=self.bootstrap)

    @property
    def stats(self) -> ProducerStats:
        """A snapshot of the counts."""
        with self._lock:
            return ProducerStats(self._submitted, self._queue.qsize(), dict(self._outcomes))

    # ---- the background thread -------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._drain, name="distillguard-producer", daemon=True)
                self._thread.start()
                atexit.register(self.close)  # what is queued at the process's exit is still sent

    def _drain(self) -> None:
        producer: KafkaProducer | None = None
        retry_at = 0.0
        while True:
            item = self._queue.get()
            if item is None:
                break
            key, value = item
            if producer is None and time.monotonic() >= retry_at:
                try:
                    producer = self.connect(self.bootstrap)
                except (KafkaError, OSError) as exc:
                    log.warning("cannot connect to the broker", bootstrap=self.bootstrap, error=str(exc))
                    retry_at = time.monotonic() + RECONNECT_BACKOFF_S
            if producer is None:
                self.count(Outcome.BROKER_UNAVAILABLE)
                continue
            try:
                future = producer.send(self.topic, key=key, value=value)
            except KafkaError:  # no metadata or buffer space within MAX_BLOCK_MS
                self.count(Outcome.SEND_FAILED)
                continue
            future.add_callback(lambda _meta: self.count(Outcome.PRODUCED))
            future.add_errback(lambda _exc: self.count(Outcome.SEND_FAILED))
        if producer is not None:
            producer.flush(CLOSE_TIMEOUT_S)
            producer.close(CLOSE_TIMEOUT_S)

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Send what is queued (for at most ``timeout`` seconds more than the broker takes), then stop the thread."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout + 2 * CLOSE_TIMEOUT_S)
        with self._lock:
            self._thread = None
        atexit.unregister(self.close)
        s = self.stats
        log.info(
            "producer stopped",
            topic=self.topic,
            submitted=s.submitted,
            dropped=s.dropped,
            **{o.value: n for o, n in sorted(s.outcomes.items())},
        )
