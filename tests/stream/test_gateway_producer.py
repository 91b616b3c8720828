"""The gateway producer: a bounded queue and a background thread; a request never waits for the broker."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from prometheus_client import REGISTRY

from distillguard.streams.broker import EmbeddedBroker
from distillguard.streams.gateways.producer import EventProducer, Outcome
from tests.ports import free_port
from tests.stream.conftest import read_topic

SUBMIT_BUDGET_S = 0.1  # worst case on a busy two-core machine; a submit that waited for the broker takes 2 s


def _metric(outcome: Outcome) -> float:
    return REGISTRY.get_sample_value("distillguard_gateway_events_total", {"outcome": outcome.value}) or 0.0


@pytest.mark.broker
def test_every_event_reaches_the_topic_while_the_broker_is_up(broker: EmbeddedBroker) -> None:
    topic = f"gw-{uuid.uuid4().hex[:8]}"
    before = _metric(Outcome.PRODUCED)
    p = EventProducer(broker.bootstrap, topic, queue_size=1000)
    sent = [(f"acct-{i % 7}".encode(), f'{{"n":{i}}}'.encode()) for i in range(500)]
    assert all(p.submit(k, v) for k, v in sent)
    p.close()
    assert p.stats.outcomes == {Outcome.PRODUCED: 500} and p.stats.dropped == 0
    assert _metric(Outcome.PRODUCED) - before == 500
    got = read_topic(broker.bootstrap, topic, at_least=500)
    assert sorted((r.key, r.value) for r in got) == sorted(sent)


def test_with_no_broker_submits_return_at_once_and_every_event_is_counted_as_dropped() -> None:
    p = EventProducer(f"127.0.0.1:{free_port()}", "gw", queue_size=50)
    worst = 0.0
    for i in range(200):
        t0 = time.perf_counter()
        p.submit(b"a", str(i).encode())
        worst = max(worst, time.perf_counter() - t0)
    p.close()
    s = p.stats
    assert worst < SUBMIT_BUDGET_S
    assert s.submitted == 200 and s.dropped == 200 and Outcome.PRODUCED not in s.outcomes
    assert s.outcomes.get(Outcome.BROKER_UNAVAILABLE, 0) > 0


class StuckProducer:
    """A Kafka producer whose sends hang until released (a broker that stopped answering)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.sent: list[bytes] = []

    def send(self, topic: str, key: bytes, value: bytes):
        self.release.wait(10)
        self.sent.append(value)
        return DoneFuture()

    def flush(self, timeout: float) -> None: ...

    def close(self, timeout: float) -> None: ...


class DoneFuture:
    def add_callback(self, fn, *args):
        fn(None, *args)
        return self

    def add_errback(self, fn, *args):
        return self


def test_a_full_queue_drops_new_events_and_counts_them() -> None:
    stuck = StuckProducer()
    p = EventProducer("unused:9092", "gw", queue_size=3, connect=lambda _b: stuck)  # type: ignore[arg-type, return-value]
    results = [p.submit(b"a", str(i).encode()) for i in range(10)]
    time.sleep(0.2)  # the thread has taken the first event and is stuck sending it
    results += [p.submit(b"a", str(i).encode()) for i in range(10, 15)]
    stuck.release.set()
    p.close()
    s = p.stats
    assert s.submitted == 15
    assert s.outcomes[Outcome.QUEUE_FULL] == results.count(False) >= 10
    assert s.outcomes[Outcome.PRODUCED] == len(stuck.sent) == results.count(True)


def test_a_broker_that_refuses_sends_is_counted_per_event() -> None:
    from kafka.errors import KafkaTimeoutError

    class Refusing(StuckProducer):
        def send(self, topic: str, key: bytes, value: bytes):
            raise KafkaTimeoutError("no metadata")

    p = EventProducer("unused:9092", "gw", queue_size=100, connect=lambda _b: Refusing())  # type: ignore[arg-type, return-value]
    for i in range(20):
        p.submit(b"a", str(i).encode())
    p.close()
    assert p.stats.outcomes == {Outcome.SEND_FAILED: 20}
