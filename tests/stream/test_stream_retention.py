"""Accounts that leave a worker's memory: archived on disk beside its snapshot, their last verdicts written, and
back exactly as they left after the worker is killed and restarted (the real broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from distillguard.detector.detector import Detector
from distillguard.detector.events import read_events
from distillguard.detector.model import load_model
from distillguard.detector.retention import MIN_RETENTION_HOURS
from distillguard.streams.replay import replay
from tests.event_strategies import minimal_event
from tests.stream.conftest import Stream, assert_same_verdicts

pytestmark = [pytest.mark.broker]
T0 = datetime(2026, 3, 2, tzinfo=UTC)
RETENTION_HOURS = MIN_RETENTION_HOURS
VISITORS = 8  # accounts that visit on the first day and never again
KILL_AT_DAY = 5.5  # the first part of the stream ends here: the visitors have left (idle past the horizon)
PROMPT = "What does a heat pump do? Asked by {account}."  # short: no template links the accounts


def _event(n: int, account: str, day: float, **fields) -> dict:
    ts = (T0 + timedelta(days=day)).isoformat().replace("+00:00", "Z")
    return minimal_event(
        event_id=f"r{n}", ts=ts, account_id=account, api_key_id=f"key-{account}", output_tokens=300, **fields
    )


def _stream() -> list[dict]:
    """Visitors on the first day, one of them ("back") again on day 6.5, and a clock sending every hour."""
    plan = [(f"visitor-{v}", 0.2 + v * 0.05 + i / 1440) for v in range(VISITORS) for i in range(0, 60, 5)]
    plan += [("back", 0.3 + i / 1440) for i in range(0, 60, 5)] + [("back", 6.5 + i / 1440) for i in range(3)]
    plan += [("clock", h / 24) for h in range(7 * 24)]
    plan.sort(key=lambda p: p[1])
    return [
        _event(
            n, a, day, prompt=PROMPT.format(account=a), ip="198.51.100.9" if a == "clock" else f"203.0.113.{n % 200}"
        )
        for n, (a, day) in enumerate(plan)
    ]


def _write(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


@pytest.mark.slow
def test_a_killed_worker_brings_archived_accounts_back_from_disk_and_writes_their_last_verdicts(
    stream: Stream, monkeypatch, tmp_path
):
    monkeypatch.setenv("RETENTION_HOURS", str(RETENTION_HOURS))
    events = _stream()
    cut = (T0 + timedelta(days=KILL_AT_DAY)).isoformat()
    first = _write(tmp_path / "first.jsonl", [e for e in events if e["ts"] < cut])
    rest = _write(tmp_path / "rest.jsonl", [e for e in events if e["ts"] >= cut])
    whole = _write(tmp_path / "whole.jsonl", events)
    topic = stream.env["EVENTS_TOPIC"]

    w = stream.worker()
    replay(first, stream.bootstrap, topic)
    # Archived: set after a snapshot that holds the visitors in its archive; idle: every verdict written since.
    w.wait(
        lambda m: m.get("distillguard_archived_accounts", 0) >= VISITORS + 1 and m.get("distillguard_idle") == 1,
        90,
        "the visitors to leave and their last verdicts to be written",
    )
    segments = list((stream.root / "state").glob("*.archive/*.seg"))
    assert segments and sum(p.stat().st_size for p in segments) > 0, "the archive should be on disk"
    assert {"visitor-0", "back"} <= set(stream.verdicts()), "the last verdicts of those who left are written"
    w.kill()

    replay(rest, stream.bootstrap, topic)
    w2 = stream.worker()
    w2.wait(lambda m: m.get("distillguard_idle") == 1 and m.get("distillguard_events_total", 0) >= 3, 90, "idle")
    assert '"restored": true' in (stream.root / "worker-1.log").read_text(), "the restart should resume from a snapshot"
    assert w2.metrics()["distillguard_archived_accounts"] == VISITORS  # "back" came back

    det = Detector(load_model(stream.env["MODEL_PATH"]), retention_hours=RETENTION_HOURS)
    det.process(read_events(whole))
    det.flush()
    want = {v.account_id: v for v in det.verdicts() + det.archived_verdicts()}
    assert_same_verdicts(stream.verdicts(), want)
    assert want["back"].n_requests == 15


@pytest.mark.slow
def test_a_snapshot_whose_archive_files_are_gone_is_not_used_and_the_worker_rebuilds(
    stream: Stream, monkeypatch, tmp_path
):
    """Deleted archive segments make the snapshot unusable: the worker says so and replays its partitions from the
    start, ending with the verdicts of one pass."""
    monkeypatch.setenv("RETENTION_HOURS", str(RETENTION_HOURS))
    events = _stream()
    whole = _write(tmp_path / "whole.jsonl", events)
    w = stream.worker()
    replay(whole, stream.bootstrap, stream.env["EVENTS_TOPIC"])
    w.wait(lambda m: m.get("distillguard_archived_accounts", 0) >= VISITORS, 90, "the visitors to leave")
    w.kill()
    for segment in (stream.root / "state").glob("*.archive/*.seg"):
        segment.unlink()
    w2 = stream.worker()
    w2.wait(
        lambda m: m.get("distillguard_idle") == 1 and m.get("distillguard_events_total", 0) >= len(events), 90, "idle"
    )
    log = (stream.root / "worker-1.log").read_text()
    assert "snapshot unusable, rebuilding" in log and '"restored": false' in log
    det = Detector(load_model(stream.env["MODEL_PATH"]), retention_hours=RETENTION_HOURS)
    det.process(read_events(whole))
    det.flush()
    assert_same_verdicts(stream.verdicts(), {v.account_id: v for v in det.verdicts() + det.archived_verdicts()})
