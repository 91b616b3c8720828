"""Durable worker snapshots: the Detector's full state together with the input offsets it covers.

One file per set of assigned partitions (``<topic>-p0.1.2.3.snap``), written atomically (a temp file of its own,
fsync, rename), so a worker killed at any instant restarts from a consistent (state, offsets) pair, and two
checkpoints of one partition set that overlap (an idle flush and a rebalance) each leave a whole snapshot.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import msgspec


class Snapshot(msgspec.Struct, kw_only=True):
    """A worker's state: detector bytes, the next offset to read per partition, the accounts it owns."""

    topic: str
    partitions: list[int]
    offsets: dict[int, int]
    detector: bytes
    owned: list[str]
    taken_at: float
    left: list[str] = []  # owned accounts archived since the last verdict write: their last verdicts are due


class SnapshotStore:
    """Snapshots in a directory, keyed by topic and partition set."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, topic: str, partitions: list[int]) -> Path:
        """The file of one (topic, partition set)."""
        return self.dir / f"{topic}-p{'.'.join(map(str, sorted(partitions)))}.snap"

    def archive_dir(self, topic: str, partitions: list[int]) -> Path:
        """The directory of the archived accounts of one (topic, partition set): see detector/disk_archive.py."""
        return self.dir / f"{topic}-p{'.'.join(map(str, sorted(partitions)))}.archive"

    def save(self, snap: Snapshot) -> Path:
        """Write atomically; return the file."""
        path = self.path(snap.topic, snap.partitions)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f"{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(msgspec.msgpack.encode(snap))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def load(self, topic: str, partitions: list[int]) -> Snapshot | None:
        """The snapshot of exactly this partition set, or None."""
        path = self.path(topic, partitions)
        if not path.exists():
            return None
        return msgspec.msgpack.decode(path.read_bytes(), type=Snapshot)
