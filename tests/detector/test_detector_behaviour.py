"""The Detector object: chunking, restarts and replays do not change verdicts."""

from __future__ import annotations

import random

from distillguard.detector.detector import Detector
from distillguard.detector.events import read_events
from tests.detector.conftest import SIMULATED_DAYS

pytestmark = SIMULATED_DAYS


def _key(verdicts):
    return {v.account_id: (v.score, v.flagged, v.cluster_id, v.flagged_at) for v in verdicts}


def test_chunked_feeding_restart_and_duplicates_give_the_same_verdicts(standard_day: dict) -> None:
    events = list(read_events(standard_day["day"] / "events.jsonl.gz"))
    reference = _key(standard_day["verdicts"])
    rng = random.Random(3)
    det = Detector()
    i = 0
    restarted = False
    while i < len(events):
        n = rng.randint(1, 5000)
        chunk = events[i : i + n]
        det.process(chunk + rng.sample(chunk, min(len(chunk), 20)))  # replayed duplicates
        i += n
        if not restarted and i > len(events) // 2:
            det = Detector.restore(det.snapshot())
            det.process(events[i - n : i])  # at-least-once redelivery after the restart
            restarted = True
    det.flush()
    assert _key(det.verdicts()) == reference


def test_accounts_on_separate_workers_are_linked_by_the_linking_stage(standard_day: dict) -> None:
    events = list(read_events(standard_day["day"] / "events.jsonl.gz"))
    workers = [Detector(), Detector(), Detector()]
    for e in events:
        workers[sum(e.account_id.encode()) % 3].state.add(e)
    linker = Detector()
    for w in workers:
        linker.ingest_summaries(w.summaries())
    linker.flush()
    got = {v.account_id: v.flagged for v in linker.verdicts()}
    want = {v.account_id: v.flagged for v in standard_day["verdicts"]}
    assert got == want
