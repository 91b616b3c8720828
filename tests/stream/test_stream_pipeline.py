"""The stream worker against the real embedded broker: parity with `detect`, crash recovery, duplicates,
dead letters, a broker that is briefly unreachable, two workers sharing the partitions."""

from __future__ import annotations

import gzip
import subprocess
import time
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from distillguard.api.detections.export import read_clusters
from distillguard.detector.records import Change, SubjectKind, cluster_from_json, verdict_from_json
from distillguard.streams.broker import EmbeddedBroker
from distillguard.streams.replay import replay
from tests.event_strategies import minimal_event
from tests.ports import free_port
from tests.stream.conftest import EXE, Stream, assert_same_verdicts, read_topic, stop_all

pytestmark = [pytest.mark.broker]
SEND_TIMEOUT = 10  # seconds for the broker to acknowledge one produced message


def _idle_after(n: int):
    return lambda m: m.get("distillguard_idle") == 1 and m.get("distillguard_events_total", 0) >= n


def _lines(path) -> list[bytes]:
    with gzip.open(path, "rb") as fh:
        return [line for line in fh.read().splitlines() if line.strip()]


@pytest.mark.slow
def test_stream_verdicts_equal_detect(stream: Stream, day, tmp_path):
    """Replay a simulated day, run the worker to the end: the stored verdicts and clusters equal detect's on the
    same file (the same accounts, flags and scores; the same clusters with the same members and flags)."""
    env = stream.env
    batch = tmp_path / "batch.jsonl"  # the batch run, meanwhile (it needs nothing from the stream)
    batch_clusters = tmp_path / "batch-clusters.jsonl"
    detect = subprocess.Popen(
        [
            EXE,
            "detect",
            str(day.events),
            "--out",
            str(batch),
            "--clusters",
            str(batch_clusters),
            "--model",
            env["MODEL_PATH"],
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        replay(day.events, stream.bootstrap, env["EVENTS_TOPIC"])
        w = stream.worker(exit_when_idle=2)
        assert w.proc.wait(120) == 0, stream.logs()
        out = tmp_path / "stream.jsonl"
        subprocess.run(
            [EXE, "export-verdicts", "--out", str(out)],
            env=__import__("os").environ | env,
            check=True,
            capture_output=True,
        )
        got = {v.account_id: v for v in map(verdict_from_json, out.read_bytes().splitlines())}
        _, err = detect.communicate(timeout=120)
        assert detect.returncode == 0, err.decode(errors="replace")[-3000:]
    finally:
        if detect.poll() is None:
            detect.kill()
            detect.wait()
    want = {v.account_id: v for v in map(verdict_from_json, batch.read_bytes().splitlines())}
    assert any(v.flagged for v in want.values()), "the day should contain detected attackers"
    assert_same_verdicts(got, want)
    stored = {c.cluster_id: c for c in read_clusters(env["DATABASE_URL"])}
    batch_c = {c.cluster_id: c for c in map(cluster_from_json, batch_clusters.read_bytes().splitlines())}
    assert any(c.flagged for c in batch_c.values()), "the day should contain flagged clusters"
    assert {k: (sorted(c.members), c.flagged) for k, c in stored.items() if k in batch_c} == {
        k: (sorted(c.members), c.flagged) for k, c in batch_c.items()
    }
    gone = [c for k, c in stored.items() if k not in batch_c]  # dissolved along the way: kept, never flagged
    assert not [c.cluster_id for c in gone if c.flagged]
    # The detections topic, folded subject by subject (each keyed to one partition, in order), ends where the
    # verdicts end: the last change of every flagged account or cluster flags it (or regroups it, still flagged),
    # with the cluster's final members; of every other subject that ever changed, it unflags it.
    last = {}
    for r in read_topic(stream.bootstrap, env["DETECTIONS_TOPIC"]):
        ch = msgspec.json.decode(r.value, type=Change)
        last[(ch.kind, ch.id)] = ch
    still = {"flagged", "changed"}
    assert {i for (k, i), ch in last.items() if k == SubjectKind.account and ch.change in still} == {
        a for a, v in want.items() if v.flagged
    }
    assert {
        i: sorted(ch.members or []) for (k, i), ch in last.items() if k == SubjectKind.cluster and ch.change in still
    } == {k: sorted(c.members) for k, c in batch_c.items() if c.flagged}


def _consumed(m: dict) -> float:
    """Messages taken in: events counted plus replays ignored (the simulator includes gateway replays)."""
    return m.get("distillguard_events_total", 0) + m.get("distillguard_duplicate_events_total", 0)


@pytest.mark.slow
def test_sigkill_mid_stream_then_restart_gives_the_same_verdicts_and_duplicates_are_ignored(stream: Stream, day):
    """Kill -9 the worker while events are arriving, restart it, replay the whole file again: every event
    counted once, verdicts as if nothing happened."""
    topic = stream.env["EVENTS_TOPIC"]
    lines = _lines(day.events)
    half = len(lines) // 2
    src = stream.root / "first.jsonl"
    src.write_bytes(b"\n".join(lines[:half]) + b"\n")
    w = stream.worker()
    replay(src, stream.bootstrap, topic)
    w.wait(
        lambda m: (
            m.get("distillguard_events_total", 0) > 0
            and (stream.root / "state").exists()
            and any((stream.root / "state").glob("*.snap"))
        ),
        60,
        "a first snapshot",
    )
    rest = stream.root / "rest.jsonl"
    rest.write_bytes(b"\n".join(lines[half:]) + b"\n")
    replay(rest, stream.bootstrap, topic, rate=4000, limit=2000)  # the worker is busy with live input ...
    w.kill()  # ... when it dies without a chance to save anything
    replay(rest, stream.bootstrap, topic)  # the rest (its first 2000 lines a second time)
    replay(day.events, stream.bootstrap, topic)  # and the whole day again: all duplicates
    w2 = stream.worker()
    m = w2.wait(_idle_after(1), 90, "the restarted worker to drain")
    assert '"restored": true' in (stream.root / "worker-1.log").read_text(), "the restart should resume from a snapshot"
    got = stream.verdicts()
    assert_same_verdicts(got, day.verdicts)
    assert sum(v.n_requests for v in got.values()) == day.n
    assert m["distillguard_duplicate_events_total"] >= day.n  # at least the full second copy
    assert m.get('distillguard_dlq_messages_total{reason="invalid"}', 0) == 0


@pytest.mark.slow
def test_malformed_and_out_of_range_messages_go_to_the_dlq_and_the_worker_keeps_going(stream: Stream, day):
    """Broken JSON, schema violations, non-UTF-8 bytes and an event from next year end in the dead-letter
    topic with the reason, source partition and offset; the valid events are all scored."""
    from kafka import KafkaProducer

    env = stream.env
    future = minimal_event(
        event_id="from-the-future", ts=(datetime.now(UTC) + timedelta(days=365)).isoformat(), account_id="acct-future"
    )
    bad = [
        b"{not json",
        b'{"schema_version": 1, "event_id": "x"}',
        b"\xff\xfe\x00garbage",
        b'{"schema_version": 1, "event_id": "neg", "ts": "2026-03-02T00:00:00Z", "account_id": "a", "api_key_id": "k",'
        b' "ip": "192.0.2.1", "model": "m", "input_tokens": -5, "output_tokens": 1, "status": 200}',
        msgspec.json.encode(future),
    ]
    w = stream.worker()
    p = KafkaProducer(bootstrap_servers=stream.bootstrap)
    sent = {}  # each broken message -> (partition, offset) the broker gave it
    for raw in bad[:3]:
        meta = p.send(env["EVENTS_TOPIC"], raw).get(timeout=SEND_TIMEOUT)
        sent[raw] = (meta.partition, meta.offset)
    replay(day.events, stream.bootstrap, env["EVENTS_TOPIC"])
    for raw in bad[3:]:
        meta = p.send(env["EVENTS_TOPIC"], raw, key=b"a").get(timeout=SEND_TIMEOUT)
        sent[raw] = (meta.partition, meta.offset)
    p.close()
    m = w.wait(_idle_after(day.n), 90, "the worker to drain")
    assert w.proc.poll() is None
    assert m['distillguard_dlq_messages_total{reason="invalid"}'] == 4
    assert m['distillguard_dlq_messages_total{reason="time-rule"}'] == 1
    dead = [(r.value, dict(r.headers)) for r in read_topic(stream.bootstrap, env["DLQ_TOPIC"], at_least=len(bad))]
    assert sorted(v for v, _ in dead) == sorted(bad)
    for value, h in dead:
        assert h["source-topic"] == env["EVENTS_TOPIC"].encode()
        assert (int(h["source-partition"]), int(h["source-offset"])) == sent[value]
        assert h["dlq-reason"]
    reasons = {v: h["dlq-reason"].decode() for v, h in dead}
    assert "future" in reasons[bad[4]]
    assert reasons[bad[3]].startswith("input_tokens")
    assert_same_verdicts(stream.verdicts(), day.verdicts)


@pytest.mark.slow
def test_broker_briefly_unreachable(tmp_path, day, model_path):
    """The broker freezes for 10 s mid-stream (past the group session timeout); the worker waits it out and ends
    with detect's verdicts."""
    with EmbeddedBroker(free_port()) as b:
        stream = Stream(b.bootstrap, tmp_path, model_path)
        try:
            lines = _lines(day.events)
            half = len(lines) // 2
            (tmp_path / "a.jsonl").write_bytes(b"\n".join(lines[:half]) + b"\n")
            (tmp_path / "b.jsonl").write_bytes(b"\n".join(lines[half:]) + b"\n")
            w = stream.worker()
            replay(tmp_path / "a.jsonl", b.bootstrap, stream.env["EVENTS_TOPIC"])
            w.wait(lambda m: _consumed(m) >= half, 60, "the first half")
            b.pause()
            time.sleep(10)
            b.resume()
            assert w.proc.poll() is None
            replay(tmp_path / "b.jsonl", b.bootstrap, stream.env["EVENTS_TOPIC"])
            w.wait(_idle_after(day.n), 90, "the second half")
            assert_same_verdicts(stream.verdicts(), day.verdicts)
        finally:
            stop_all(stream.workers)


@pytest.mark.slow
def test_two_workers_link_accounts_across_partitions(stream: Stream, day):
    """Two workers share four partitions; the exchanged account summaries let each see every account,
    so the verdicts they write together equal detect's."""
    w1 = stream.worker()
    w1.wait(lambda m: m.get("distillguard_assigned_partitions") == 4, 60, "the first worker's assignment")
    w2 = stream.worker()
    for w in (w1, w2):
        w.wait(lambda m: m.get("distillguard_assigned_partitions") == 2, 60, "a two-way split")
    replay(day.events, stream.bootstrap, stream.env["EVENTS_TOPIC"])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ms = [w.metrics() for w in (w1, w2)]
        if sum(m.get("distillguard_events_total", 0) for m in ms) >= day.n and all(
            m.get("distillguard_idle") == 1 for m in ms
        ):
            break
        time.sleep(0.5)
    # The last exchanged summaries are absorbed and flushed a moment after both went idle: poll for that
    # instead of sleeping a fixed 3 s; still failing when the verdicts do not converge within 30 s.
    deadline = time.monotonic() + 30
    while True:
        for w in (w1, w2):
            w.wait(lambda m: m.get("distillguard_idle") == 1, 30, "idle")
        try:
            assert_same_verdicts(stream.verdicts(), day.verdicts)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
