"""Worker snapshots on disk: atomic, and whole when two checkpoints of one partition set overlap."""

from __future__ import annotations

import threading
from pathlib import Path

import msgspec
import pytest

from distillguard.streams.snapshots import Snapshot, SnapshotStore


def _snap(offset: int, size: int = 200_000) -> Snapshot:
    return Snapshot(
        topic="api-events",
        partitions=[0, 1],
        offsets={0: offset, 1: offset},
        detector=bytes([offset % 256]) * size,
        owned=["a"],
        taken_at=float(offset),
    )


def test_a_saved_snapshot_loads_back_and_leaves_no_temp_file(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.save(_snap(7))
    assert store.load("api-events", [1, 0]) == _snap(7)
    assert store.load("api-events", [0]) is None
    assert [p.name for p in tmp_path.iterdir()] == ["api-events-p0.1.snap"]


def test_overlapping_checkpoints_of_one_partition_set_each_write_a_whole_snapshot(tmp_path: Path) -> None:
    """An idle flush and a rebalance may checkpoint the same partitions at once (two threads): neither fails, and
    the file left is one of them, whole."""
    store = SnapshotStore(tmp_path)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def save(offset: int) -> None:
        start.wait()
        try:
            for i in range(20):
                store.save(_snap(offset * 100 + i))
        except OSError as exc:  # collected: an exception in a thread would not fail the test
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = store.load("api-events", [0, 1])
    assert got is not None and got == _snap(got.offsets[0])
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".snap"]


def test_a_failed_write_leaves_the_previous_snapshot_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SnapshotStore(tmp_path)
    store.save(_snap(1))

    def full_disk(_: object) -> bytes:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(msgspec.msgpack, "encode", full_disk)
    with pytest.raises(OSError, match="No space"):
        store.save(_snap(2))
    monkeypatch.undo()
    assert store.load("api-events", [0, 1]) == _snap(1)
    assert [p.name for p in tmp_path.iterdir()] == ["api-events-p0.1.snap"]
