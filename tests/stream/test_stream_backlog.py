"""A backlog of several days waiting in the input topic (a worker started late, or after an outage) is
consumed in event-time order across partitions: a fetch returns megabytes of one partition at a time, and
without alignment one partition runs days ahead of another, whose events then fall behind the
de-duplication horizon and are refused. Nothing may be refused, and the verdicts equal `detect` on the file."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from distillguard.detector.detector import Detector
from distillguard.detector.events import read_events
from distillguard.detector.model import load_model
from distillguard.streams.replay import replay
from tests.stream.conftest import Stream, assert_same_verdicts

pytestmark = [pytest.mark.broker]

DAYS = 3
# No partition stalls here, so the aligner must never stop waiting for one: its 5 s default (wall time) is for a
# partition that really delivers nothing, and on the shared 2-core test machine, with the suite's other workers
# busy, a starved worker could go 5 s between two fetches and give up on a partition that was only slow; the
# others would then run days ahead of it and its events be refused. (tests/stream/test_align.py covers the wait.)
ALIGN_MAX_WAIT = 300.0


def _days(src: Path, out: Path, days: int) -> Path:
    """``src`` followed by copies shifted by 1 .. days-1 days, with event ids made unique per copy."""
    with gzip.open(src, "rb") as fh:
        docs = [msgspec.json.decode(line) for line in fh.read().splitlines() if line.strip()]
    with gzip.open(out, "wb") as fh:
        for k in range(days):
            for d in docs:
                ts = (datetime.fromisoformat(d["ts"]) + timedelta(days=k)).isoformat()
                fh.write(msgspec.json.encode(d | {"ts": ts, "event_id": f"d{k}-{d['event_id']}"}) + b"\n")
    return out


@pytest.mark.slow
def test_a_backlog_of_days_is_consumed_in_event_time_order_and_nothing_is_refused(
    stream: Stream, day, tmp_path: Path
) -> None:
    events = _days(day.events, tmp_path / "days.jsonl.gz", DAYS)
    replay(events, stream.bootstrap, stream.env["EVENTS_TOPIC"])  # all of it waits before the worker starts
    w = stream.worker("--align-max-wait", str(ALIGN_MAX_WAIT), exit_when_idle=2)

    det = Detector(load_model(stream.model))  # the reference, computed while the worker subprocess consumes
    det.process(list(read_events(events)))
    det.flush()
    want = {v.account_id: v for v in det.verdicts()}
    assert sum(v.n_requests for v in want.values()) == DAYS * day.n

    assert w.proc.wait(300) == 0, stream.logs()
    assert_same_verdicts(stream.verdicts(), want)
