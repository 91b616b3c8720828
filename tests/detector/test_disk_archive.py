"""Archived accounts on disk (detector/disk_archive.py): the same records as the in-memory archive, consistent with
every snapshot, and disk space that follows the live records."""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distillguard.detector import disk_archive
from distillguard.detector.detector import Detector
from distillguard.detector.disk_archive import ArchiveDocError, DiskArchive
from distillguard.detector.records import verdict_line
from distillguard.detector.retention import Archived, MemoryArchive

from .factory import ev
from .test_retention import RETENTION_HOURS, _clock, _visit

ACCOUNTS = [f"acct-{i}" for i in range(6)]


@pytest.fixture(scope="module")
def record() -> Archived:
    """A real record: an account that sent 12 requests and idled past the horizon."""
    det = Detector(retention_hours=RETENTION_HOURS)
    det.process(sorted(_visit("idle", 0.2) + _clock(6), key=lambda e: e.ts))
    rec = det.archive.take("idle")
    assert rec is not None and rec.verdict is not None
    return rec


def _of(record: Archived, account: str, tag: float) -> Archived:
    """``record`` said of ``account``, told apart from its other versions by ``tag``."""
    assert record.verdict is not None
    return msgspec.structs.replace(
        record,
        summary=msgspec.structs.replace(record.summary, account_id=account),
        verdict=msgspec.structs.replace(record.verdict, account_id=account),
        flagged_at=tag,
    )


def _bytes(rec: Archived | None) -> bytes:
    return msgspec.msgpack.encode(rec)


def _contents(archive) -> dict[str, float | None]:
    return {account: rec.flagged_at for account, rec in archive.records()}


def _segments(directory: Path) -> set[str]:
    return {p.name for p in directory.glob("*.seg")}


ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.lists(st.sampled_from(ACCOUNTS), min_size=1, max_size=4, unique=True)),
        st.tuples(st.just("take"), st.sampled_from(ACCOUNTS)),
        st.tuples(st.just("restore"), st.none()),
    ),
    max_size=40,
)


@given(ops)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_disk_archive_gives_back_what_the_memory_archive_does(record, monkeypatch, steps) -> None:
    """Puts, takes and snapshot round trips, with segments small enough to roll over and be compacted often."""
    monkeypatch.setattr(disk_archive, "SEGMENT_BYTES", 3 * len(disk_archive.pack_record(record)))
    with tempfile.TemporaryDirectory() as tmp:
        disk, memory = DiskArchive(tmp), MemoryArchive()
        for n, (op, arg) in enumerate(steps):
            if op == "put":
                batch = {a: _of(record, a, float(n)) for a in arg}
                disk.put(batch)
                memory.put(batch)
            elif op == "take":
                got, want = disk.take(arg), memory.take(arg)
                assert (got is None) == (want is None)
                assert got is None or _bytes(got) == _bytes(want)  # records hold NaN: compared as bytes
            else:
                doc = msgspec.msgpack.decode(msgspec.msgpack.encode(disk.to_doc()))
                disk.snapshot_saved()
                disk.close()
                disk = DiskArchive.from_doc(doc)
            assert len(disk) == len(memory) and all((a in disk) == (a in memory) for a in ACCOUNTS)
        assert _contents(disk) == _contents(memory)
        assert [verdict_line(v) for v in disk.verdicts()] == [verdict_line(v) for v in memory.verdicts()]
        disk.close()


def test_a_restore_sees_the_archive_as_its_snapshot_did_whatever_came_after(record, tmp_path, monkeypatch) -> None:
    """A worker killed after its snapshot restarts from it: records archived or taken since are as they were then,
    and the segments written since are deleted."""
    monkeypatch.setattr(disk_archive, "SEGMENT_BYTES", 2 * len(disk_archive.pack_record(record)))
    archive = DiskArchive(tmp_path)
    archive.put({a: _of(record, a, 1.0) for a in ACCOUNTS[:3]})
    doc = archive.to_doc()
    archive.snapshot_saved()
    archive.put({a: _of(record, a, 2.0) for a in ACCOUNTS})  # replaces three, adds three, in new segments
    for a in ACCOUNTS[:2]:
        assert archive.take(a) is not None
    archive.close()  # killed: no later snapshot
    again = DiskArchive.from_doc(doc)
    assert _contents(again) == {a: 1.0 for a in ACCOUNTS[:3]}
    assert _segments(tmp_path) == {f"{s:08d}.seg" for s in range(doc["current"] + 1)}
    again.put({"late": _of(record, "late", 3.0)})  # appends after what the snapshot saw
    assert again.take("late").flagged_at == 3.0 and again.take(ACCOUNTS[0]).flagged_at == 1.0
    again.close()


def test_compacted_segments_outlive_the_snapshots_that_point_at_them(record, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(disk_archive, "SEGMENT_BYTES", 2 * len(disk_archive.pack_record(record)))
    archive = DiskArchive(tmp_path)
    archive.put({a: _of(record, a, 1.0) for a in ACCOUNTS[:2]})  # segment 0 (full)
    archive.put({a: _of(record, a, 1.0) for a in ACCOUNTS[2:4]})  # segment 1
    doc = archive.to_doc()
    archive.snapshot_saved()
    for a in ACCOUNTS[:2]:
        archive.take(a)  # segment 0 is all garbage now: compacted, but the saved snapshot points at it
    assert "00000000.seg" in _segments(tmp_path)
    again = archive.to_doc()
    assert "00000000.seg" in _segments(tmp_path)  # the snapshot of `again` is not saved yet
    archive.snapshot_saved()
    assert "00000000.seg" not in _segments(tmp_path)
    archive.close()
    restored = DiskArchive.from_doc(again)
    assert _contents(restored) == {a: 1.0 for a in ACCOUNTS[2:4]}
    restored.close()
    with pytest.raises(ArchiveDocError, match=r"segments \[0\] are gone"):
        DiskArchive.from_doc(doc)


def test_disk_space_follows_the_live_records(record, tmp_path, monkeypatch) -> None:
    """Accounts leaving and coming back for many rounds: the segments hold at most about twice the live records,
    plus the segment being written."""
    size = len(disk_archive.pack_record(record))
    monkeypatch.setattr(disk_archive, "SEGMENT_BYTES", 8 * size)
    archive = DiskArchive(tmp_path)
    for round_ in range(50):
        archive.put({f"{a}.{round_}": _of(record, a, float(round_)) for a in ACCOUNTS})
        for a in ACCOUNTS[: 5 if round_ % 2 else 6]:
            assert archive.take(f"{a}.{round_}") is not None
    live = len(archive) * size
    on_disk = sum(p.stat().st_size for p in tmp_path.glob("*.seg"))
    assert len(archive) == 25 and on_disk <= 2 * live + 2 * disk_archive.SEGMENT_BYTES
    archive.close()


def test_a_fresh_archive_starts_empty_and_a_bad_document_is_refused(record, tmp_path) -> None:
    first = DiskArchive(tmp_path)
    first.put({"a": _of(record, "a", 1.0)})
    first.close()
    assert len(DiskArchive(tmp_path)) == 0 and _segments(tmp_path) == {"00000000.seg"}
    with pytest.raises(ArchiveDocError, match="unsupported disk archive version"):
        DiskArchive.from_doc({"v": 99})


def _churn_events() -> list:
    """Accounts that visit once and idle past the horizon, one that comes back, and a clock moving time on."""
    visits = [e for i in range(4) for e in _visit(f"once-{i}", 0.2 + i * 0.1)] + _visit("back", 0.3)
    later = [*_visit("back", 6.5, n=3), ev("new", 6.6 * 24 * 60)]
    return sorted(visits + _clock(7) + later, key=lambda e: e.ts)


def test_a_detector_with_its_archive_on_disk_gives_the_verdicts_of_one_in_memory(tmp_path) -> None:
    events = _churn_events()
    verdicts = {}
    for name, archive in (("memory", None), ("disk", DiskArchive(tmp_path / "a"))):
        det = Detector(retention_hours=RETENTION_HOURS, archive=archive)
        half = len(events) // 2
        det.process(events[:half])
        restored = Detector.restore(det.snapshot())  # mid-way, so the archive goes through a snapshot
        restored.process(events[half:])
        restored.flush()
        assert restored.stats["archived"] == 4
        verdicts[name] = [verdict_line(v) for v in restored.verdicts() + restored.archived_verdicts()]
        restored.close()
    assert verdicts["disk"] == verdicts["memory"]


def test_a_snapshot_restores_from_its_archive_moved_elsewhere(tmp_path) -> None:
    det = Detector(retention_hours=RETENTION_HOURS, archive=DiskArchive(tmp_path / "here"))
    det.process(sorted(_visit("idle", 0.2) + _clock(6), key=lambda e: e.ts))
    data = det.snapshot()
    det.close()
    (tmp_path / "here").rename(tmp_path / "there")
    moved = Detector.restore(data, archive_dir=tmp_path / "there")
    assert "idle" in moved.archive and moved.archive.take("idle") is not None
    moved.close()
