"""The worker publishes the ladder's automated moves to enforcement-actions, through the real embedded broker:
exactly the events the same Detector makes of the same file, ``would_<rung>`` in shadow mode (the default), the
rungs themselves otherwise, suspensions and takedowns as requests for a lead's confirmation."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from kafka import KafkaConsumer

from distillguard.detector.detector import Detector
from distillguard.detector.events import read_events
from distillguard.detector.model import load_model
from distillguard.detector.policy import load_policy
from distillguard.detector.records import ActionChange
from distillguard.streams.admin import ensure_topics, topic_specs
from distillguard.streams.enforcement import EnforcementAction, enforcement_actions
from distillguard.streams.replay import replay
from distillguard.streams.settings import StreamSettings
from tests.stream.conftest import Stream

pytestmark = [pytest.mark.broker, pytest.mark.slow]
_decode = msgspec.json.Decoder(EnforcementAction)


@pytest.fixture(scope="module")
def moves(day, model_path) -> list[ActionChange]:
    """Every move on the ladder the batch Detector makes over the day, in order."""
    det = Detector(load_model(model_path))
    det.process(read_events(day.events))
    out = list(det.action_changes)
    det.flush()
    return out + det.action_changes


def _published(stream: Stream, events: Path, shadow: str | None, monkeypatch) -> list[tuple[EnforcementAction, dict]]:
    """Run one worker over the day on one partition (the file's order) and read back enforcement-actions."""
    env = stream.env
    if shadow is not None:
        monkeypatch.setenv("ENFORCEMENT_SHADOW", shadow)
    names = {k.lower(): v for k, v in env.items() if k.endswith("_TOPIC")}
    ensure_topics(stream.bootstrap, topic_specs(StreamSettings(kafka_bootstrap=stream.bootstrap, **names), 1))
    replay(events, stream.bootstrap, env["EVENTS_TOPIC"])
    w = stream.worker("--sink", "none", partitions=1, exit_when_idle=2)
    assert w.proc.wait(120) == 0, stream.logs()
    c = KafkaConsumer(
        env["ENFORCEMENT_TOPIC"],
        bootstrap_servers=stream.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    got = [(_decode.decode(r.value), {"key": r.key, **dict(r.headers)}) for r in c]
    c.close()
    return got


def test_shadow_mode_publishes_would_actions_equal_to_the_detector(stream: Stream, day, moves, monkeypatch) -> None:
    got = _published(stream, day.events, None, monkeypatch)
    want = enforcement_actions(moves, load_policy(), shadow=True)
    assert want, "the day should move some accounts to automated rungs"
    assert [e for e, _ in got] == want
    assert {e.action for e in want} == {"would_throttle", "would_suspend", "would_takedown"}
    for e, meta in got:
        assert meta["key"] == e.subject.encode()
        assert meta["idempotency-key"] == e.idempotency_key.encode()
        assert e.needs_confirmation == (e.action in ("would_suspend", "would_takedown"))
        assert len(e.basis) >= 2, "an automated action names the evidence it rests on"
    assert len({e.idempotency_key for e in want}) == len(want)


def test_outside_shadow_mode_the_actions_are_published_and_suspensions_wait_for_a_lead(
    stream: Stream, day, moves, monkeypatch
) -> None:
    got = [e for e, _ in _published(stream, day.events, "false", monkeypatch)]
    want = enforcement_actions(moves, load_policy(), shadow=False)
    assert got == want
    assert {(e.action, e.needs_confirmation) for e in got} == {
        ("throttle", False),
        ("suspend", True),
        ("takedown", True),
    }
