"""Idle accounts leave memory for the archive and come back exactly as they left (detector/retention.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest

from distillguard.detector.detector import Detector
from distillguard.detector.events import Event
from distillguard.detector.features import release_hour
from distillguard.detector.retention import MIN_RETENTION_HOURS, Archived, MemoryArchive, RetentionError
from distillguard.detector.state import AccountSummary

from .factory import ev

DAY = 24 * 60.0  # minutes
RETENTION_HOURS = MIN_RETENTION_HOURS
PROMPTS = [
    "Explain step by step how a heat pump moves heat from a cold room to a warm one, with the physics.",
    "Write a short story about a lighthouse keeper who finds a message in a bottle, in five paragraphs.",
    "List the causes of the French revolution and rank them by importance, with one sentence each.",
]


def _visit(account: str, day: float, n: int = 12, **fields) -> list[Event]:
    """``n`` requests of ``account`` spread over an hour of ``day``, with repeated and one-off prompts."""
    return [
        ev(
            account,
            day * DAY + 5 * i,
            prompt=PROMPTS[i % 2] if i < n - 1 else PROMPTS[2],
            model="frontier-4" if day < 3 else "frontier-5",
            user_agent="app/2.1",
            tls_fingerprint="ja3-app",
            **fields,
        )
        for i in range(n)
    ]


def _clock(days: float) -> list[Event]:
    """An always-busy account (one request an hour) that moves event time on."""
    return [ev("clock", h * 60.0, ip="198.51.100.99", api_key_id="key-clock") for h in range(int(days * 24))]


def _run(events: list[Event], retention_hours: float | None) -> Detector:
    det = Detector(retention_hours=retention_hours)
    det.process(sorted(events, key=lambda e: e.ts))
    det.flush()
    return det


def _summary(det: Detector, account: str) -> bytes:
    (s,) = det.state.export_summaries([det.state.ids[account]])
    return msgspec.msgpack.encode(s)  # compared as bytes: NaN (no creation time) equals itself


def _row(det: Detector, account: str) -> np.ndarray:
    f = det.features()
    return f.matrix[f.account_ids.index(account)]


def test_an_account_idle_past_the_horizon_leaves_memory_and_its_last_verdict_stands() -> None:
    events = _visit("idle", 0.2) + _visit("regular", 0.2) + _visit("regular", 6) + _clock(7)
    det = _run(events, RETENTION_HOURS)
    assert "idle" not in det.state.ids and "regular" in det.state.ids
    assert det.stats["archived"] == 1 and det.stats["accounts"] == 2
    (verdict,) = det.archived_verdicts()
    assert verdict.account_id == "idle" and verdict.n_requests == 12
    assert {v.account_id for v in det.verdicts()} == {"regular", "clock"}
    kept = _run(events, None)  # never evicting: every account stays
    assert kept.stats["accounts"] == 3 and kept.archived_verdicts() == []


def test_a_returning_account_comes_back_exactly_as_if_it_had_never_left() -> None:
    events = _visit("idle", 0.2) + _visit("regular", 0.2) + _visit("regular", 6) + _clock(8) + _visit("idle", 7.5, n=3)
    assert _run(events[:-3], RETENTION_HOURS).stats["archived"] == 1  # it left...
    evicting, kept = _run(events, RETENTION_HOURS), _run(events, None)
    assert evicting.stats["archived"] == 0  # ...and came back
    assert _summary(evicting, "idle") == _summary(kept, "idle")
    np.testing.assert_array_equal(_row(evicting, "idle"), _row(kept, "idle"))
    back = {v.account_id: v for v in evicting.verdicts()}["idle"]
    never = {v.account_id: v for v in kept.verdicts()}["idle"]
    assert (back.score, back.flagged, back.n_requests, back.first_seen) == (
        never.score,
        never.flagged,
        never.n_requests,
        never.first_seen,
    )


def test_the_addresses_cards_and_keys_only_accounts_gone_used_are_forgotten_and_the_rest_still_link() -> None:
    """The intern tables would otherwise grow with every account ever seen."""
    mine = {"ip": "192.0.2.50", "payment_fingerprint": "card-gone", "asn": 64999}
    shared = {"ip": "203.0.113.80", "payment_fingerprint": "card-shared"}  # two regulars: one cluster
    regulars = ("regular-1", "regular-2")
    events = _visit("idle", 0.2, **mine) + _clock(8)
    events += [
        ev(r, (d + 0.5) * DAY + i, prompt="Thanks!", **shared) for r in regulars for d in range(8) for i in range(3)
    ]
    evicting, kept = _run(events, RETENTION_HOURS), _run(events, None)
    assert evicting.stats["archived"] == 1 and "idle" not in evicting.state.ids
    interned = evicting.state.interned
    assert "192.0.2.50" not in interned["ip"] and "card-gone" not in interned["card"]
    assert "key-idle" not in interned["api_key"] and "64999" not in interned["asn"]
    assert {"203.0.113.80", "198.51.100.99"} <= interned["ip"].keys() and "card-shared" in interned["card"]
    for account in (*regulars, "clock"):
        assert _summary(evicting, account) == _summary(kept, account)
        np.testing.assert_array_equal(_row(evicting, account), _row(kept, account))
    linked = {v.account_id: v.cluster_id for v in evicting.verdicts()}
    assert linked["regular-1"] is not None and linked["regular-1"] == linked["regular-2"]


def test_a_linked_account_leaves_only_with_its_whole_cluster() -> None:
    card = {"payment_fingerprint": "card-shared"}  # one card: the accounts are one cluster
    together = _visit("early", 0.2, **card) + _visit("late", 0.2, **card)
    late_again = _visit("late", 2.5, **card) + _visit("late", 5, **card)  # never idle for the horizon
    stays = _run([*together, *late_again, *_clock(7)], RETENTION_HOURS)
    assert {"early", "late"} <= set(stays.state.ids) and stays.stats["archived"] == 0
    leaves = _run([*together, *_clock(7)], RETENTION_HOURS)
    assert not {"early", "late"} & set(leaves.state.ids) and leaves.stats["archived"] == 2


def test_the_archive_is_in_the_snapshot_and_a_restored_detector_brings_accounts_back() -> None:
    first = _visit("idle", 0.2) + _clock(6)
    det = Detector(retention_hours=RETENTION_HOURS)
    det.process(first)
    det.flush()
    assert det.stats["archived"] == 1
    restored = Detector.restore(det.snapshot())
    assert restored.retention == det.retention and restored.stats["archived"] == 1
    later = [e for e in _clock(7) if e.ts > first[-1].ts] + _visit("idle", 6.5, n=2)
    restored.process(sorted(later, key=lambda e: e.ts))
    restored.flush()
    assert restored.stats["archived"] == 0
    (s,) = restored.state.export_summaries([restored.state.ids["idle"]])
    assert isinstance(s, AccountSummary) and s.acc[0] == 14  # 12 requests before it left, 2 after


def test_the_first_users_of_a_model_leaving_changes_neither_its_release_nor_the_warm_up() -> None:
    early = [ev("first", 0.1 * DAY + i, model="frontier-4") for i in range(3)]  # the first account ever seen
    adopter = [ev("adopter", 1.0 * DAY + i, model="frontier-5") for i in range(3)]  # the new model's first user
    later = [ev("later", 6.0 * DAY + i, model="frontier-5") for i in range(3)]
    events = early + adopter + later + [e for e in _clock(7) if e.ts > early[-1].ts]
    evicting, kept = _run(events, RETENTION_HOURS), _run(events, None)
    assert not {"first", "adopter"} & set(evicting.state.ids)
    assert release_hour(evicting.state) == release_hour(kept.state) == int(adopter[0].ts.timestamp() // 3600)
    np.testing.assert_array_equal(_row(evicting, "later"), _row(kept, "later"))


@pytest.mark.parametrize("hours", [24.0, MIN_RETENTION_HOURS - 1, float("nan")])
def test_a_horizon_within_the_detector_windows_is_refused(hours: float) -> None:
    with pytest.raises(RetentionError, match="retention_hours must be at least 96"):
        Detector(retention_hours=hours)


def _cli(*args: str) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).with_name("distillguard"))
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)


def test_detect_writes_the_last_verdict_of_accounts_that_left_and_says_how_many(tmp_path: Path) -> None:
    events = sorted(_visit("idle", 0.2) + _visit("regular", 6) + _clock(7), key=lambda e: e.ts)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(e) + b"\n" for e in events))
    r = _cli("detect", str(path), "--out", str(tmp_path / "v.jsonl"), "--retention-hours", "96")
    assert r.returncode == 0, r.stderr
    assert "3 accounts (1 idle past the retention horizon)" in r.stderr
    written = [json.loads(line)["account_id"] for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert sorted(written) == ["clock", "idle", "regular"]
    r = _cli("detect", str(path), "--out", str(tmp_path / "all.jsonl"), "--retention-hours", "0")
    assert r.returncode == 0 and "idle past" not in r.stderr


def test_detect_refuses_a_retention_horizon_too_short_to_come_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(msgspec.json.encode(_clock(0.1)[0]) + b"\n")
    r = _cli("detect", str(path), "--out", str(tmp_path / "v.jsonl"), "--retention-hours", "24")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--retention-hours: retention_hours must be at least 96" in r.stderr


# ---- from the mutation run of detector/retention.py (docs/mutation.md) ------------------------------------------


def test_the_default_horizon_is_two_weeks_of_event_time() -> None:
    assert Detector().retention == 336 * 3600.0


def test_the_floor_is_the_de_duplication_horizon_when_it_is_longer() -> None:
    with pytest.raises(RetentionError, match="retention_hours must be at least 120"):
        Detector(dedup_horizon_hours=120.0, retention_hours=119.0)
    assert Detector(dedup_horizon_hours=120.0, retention_hours=120.0).retention == 120 * 3600.0
    assert Detector(retention_hours=96.0).retention == 96 * 3600.0  # the timeline's and templates' floor, exactly
    assert Detector(retention_hours=1000.0).retention == 1000 * 3600.0  # any longer horizon
    assert Detector(retention_hours=None).retention is None


def test_idle_accounts_are_looked_for_once_a_day_of_event_time() -> None:
    # Re-scorings at 0:15 and every hour after (the clock's events close the windows); looks for idle accounts at
    # 0:15, 24:15, ..., 96:15, 120:15. The idle account's last request is at 5:43, so it is idle past the 96-hour
    # horizon from 101:43 on, and leaves at the look of 120:15 (the clock's event of hour 121), not before.
    events = sorted(_visit("idle", 0.2) + _clock(6), key=lambda e: e.ts)
    start = events[0].ts

    def hour(e: Event) -> float:
        return (e.ts - start).total_seconds() / 3600

    det = Detector(retention_hours=RETENTION_HOURS)
    det.process([e for e in events if hour(e) <= 120])
    assert "idle" in det.state.ids and det.stats["archived"] == 0
    det.process([e for e in events if 120 < hour(e) <= 121])
    assert "idle" not in det.state.ids and det.stats["archived"] == 1


@pytest.fixture(scope="module")
def left() -> Archived:
    """The archive's record of an account that sent 12 requests and then idled past the horizon."""
    det = _run(_visit("idle", 0.2) + _clock(6), RETENTION_HOURS)
    record = det.archive.take("idle")
    assert record is not None and record.verdict is not None
    return record


def _as(record: Archived, account: str, **verdict) -> Archived:
    """``record`` with its verdict said of ``account`` (and ``verdict``'s fields changed)."""
    assert record.verdict is not None
    return msgspec.structs.replace(
        record, verdict=msgspec.structs.replace(record.verdict, account_id=account, **verdict)
    )


def test_the_archive_gives_each_record_back_once_and_the_last_verdicts_in_account_id_order(left: Archived) -> None:
    archive = MemoryArchive()
    assert len(archive) == 0 and not archive and archive.verdicts() == []
    quiet = msgspec.structs.replace(left, verdict=None)  # it left before any re-scoring saw it
    archive.put({"b": _as(left, "b"), "a": _as(left, "a"), "c": quiet})
    assert len(archive) == 3 and archive and "a" in archive and "idle" not in archive
    assert [v.account_id for v in archive.verdicts()] == ["a", "b"]  # c has none
    archive.put({"b": _as(left, "b", score=0.875)})  # a later record replaces the earlier one
    assert len(archive) == 3 and [v.score for v in archive.verdicts()][1] == 0.875
    taken = archive.take("a")
    assert taken is not None and msgspec.msgpack.encode(taken) == msgspec.msgpack.encode(_as(left, "a"))
    assert archive.take("a") is None and "a" not in archive and len(archive) == 2
    assert archive.take("never-archived") is None and len(archive) == 2


def test_the_archive_survives_its_snapshot_document_and_holds_records_compressed(left: Archived) -> None:
    archive = MemoryArchive()
    archive.put({"a": _as(left, "a"), "b": left})
    doc = archive.to_doc()
    assert sorted(doc) == ["a", "b"] and all(isinstance(d, bytes) for d in doc.values())
    assert len(doc["b"]) < len(msgspec.msgpack.encode(left))  # zlib-compressed msgpack
    again = MemoryArchive(doc)
    assert [v.account_id for v in again.verdicts()] == ["a", "idle"]
    assert again.take("a") is not None and "a" in archive  # a copy: taking from one leaves the other whole
    assert len(MemoryArchive(None)) == 0 and len(MemoryArchive({})) == 0


def test_an_archived_record_takes_keywords_only(left: Archived) -> None:
    with pytest.raises(TypeError):
        Archived(left.summary, left.verdict, None, None, {})  # type: ignore[call-arg]


def test_an_account_leaving_right_after_a_restore_keeps_its_last_verdict() -> None:
    """A restored detector has no last scoring: it looks for idle accounts from its second re-scoring on."""
    events = sorted(_visit("idle", 0.2) + _clock(6), key=lambda e: e.ts)
    start = events[0].ts
    before = [e for e in events if (e.ts - start).total_seconds() <= 120 * 3600]  # the look of 120:15 is next
    whole = _run(events, RETENTION_HOURS)
    det = Detector(retention_hours=RETENTION_HOURS)
    det.process(before)
    resumed = Detector.restore(det.snapshot())
    resumed.process(events[len(before) :])
    resumed.flush()
    assert whole.stats["archived"] == resumed.stats["archived"] == 1
    assert [v.account_id for v in resumed.archived_verdicts()] == [v.account_id for v in whole.archived_verdicts()]
