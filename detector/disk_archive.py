"""Archived accounts on disk: the detector's memory then follows the accounts active within the retention horizon.

:class:`DiskArchive` keeps each archived account's record (see :mod:`.retention`) in append-only segment files of a
directory, and in memory only where each record lies (its segment, offset and length: about 200 bytes an account,
where a record held in memory costs kilobytes). A record is never rewritten in place: an account archived again gets
a new record, one that comes back leaves its old one as garbage, and a segment mostly garbage has its live records
moved to the newest segment and is deleted.

Snapshots stay consistent without copying the records: a snapshot holds the locations (:meth:`DiskArchive.to_doc`),
and the segments it points at are kept until a later snapshot is saved (:meth:`DiskArchive.snapshot_saved`). Bytes
appended after the snapshot a detector is restored from are unreferenced, and appending continues past them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from distillguard.detector.retention import Archive, Archived, pack_record, unpack_record

SEGMENT_BYTES = 64 << 20  # a new segment is started once the newest holds this much
# A segment other than the newest is compacted (its live records moved, the file deleted) once live records are less
# than this share of its bytes.
MIN_LIVE_SHARE = 0.5
SEGMENT_SUFFIX = ".seg"
DOC_VERSION = 1


class Location(NamedTuple):
    """Where one record lies: segment number, byte offset, byte length."""

    segment: int
    offset: int
    length: int


class ArchiveDocError(ValueError):
    """A snapshot's archive document that does not match the files of its directory."""


class DiskArchive(Archive):
    """Archived accounts by id in segment files of ``directory`` (a later record of an account replaces the
    earlier one). ``fresh``: empty the directory of earlier segments first (a detector starting from nothing)."""

    DOC_KEY = "disk_archive"  # the detector snapshot's field of this archive's document

    def __init__(self, directory: str | Path, *, fresh: bool = True) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, Location] = {}
        self._sizes: dict[int, int] = {}  # open segment -> bytes written (live or not)
        self._live: dict[int, int] = {}  # open segment -> bytes of live records
        self._fds: dict[int, int] = {}  # open segment -> its file
        self._current = 0  # the segment appended to
        self._snapshotted = False  # once a snapshot points at segments, they are deleted only after a later one
        self._retired: list[int] = []  # compacted since the last snapshot (the last one may still point at them)
        self._unreferenced: list[int] = []  # compacted before the last snapshot: deleted once it is saved
        if fresh:
            for path in self._segment_files():
                path.unlink()
            self._open(self._current)

    # ---- the archive -----------------------------------------------------------------------------
    def put(self, records: dict[str, Archived]) -> None:
        """Keep these records (compressed, appended to the newest segment in one write)."""
        if not records:
            return
        blobs = {account: pack_record(r) for account, r in records.items()}
        self._append(blobs)
        self._compact()

    def take(self, account_id: str) -> Archived | None:
        """The record of a returning account (None if it has none), which the archive then forgets."""
        loc = self._index.pop(account_id, None)
        if loc is None:
            return None
        data = self._read(loc)
        self._live[loc.segment] -= loc.length
        self._compact()
        return unpack_record(data)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, account_id: str) -> bool:
        return account_id in self._index

    def _packed(self, account_id: str) -> bytes | None:
        loc = self._index.get(account_id)
        return None if loc is None else self._read(loc)

    def _accounts(self) -> Iterable[str]:
        return self._index.keys()

    # ---- snapshots -------------------------------------------------------------------------------
    def to_doc(self) -> dict:
        """Where every record lies, for a snapshot (the segments are synced to disk first): the snapshot is
        restored with :meth:`from_doc` over the same directory."""
        for fd in self._fds.values():
            os.fsync(fd)
        self._snapshotted = True
        self._unreferenced += self._retired
        self._retired = []
        accounts = sorted(self._index)
        locs = np.array([self._index[a] for a in accounts], dtype=np.int64).reshape(-1, len(Location._fields))
        return {
            "v": DOC_VERSION,
            "dir": str(self.dir),
            "current": self._current,
            "accounts": accounts,
            "locations": locs.tobytes(),
        }

    def snapshot_saved(self) -> None:
        """The last :meth:`to_doc` is durably saved: delete the segments that no snapshot points at any more."""
        for segment in self._unreferenced:
            self._delete(segment)
        self._unreferenced = []

    @classmethod
    def from_doc(cls, doc: dict, directory: str | Path | None = None) -> DiskArchive:
        """The archive a snapshot saw, over the directory it names (or ``directory``, where its files were moved);
        segments written after that snapshot are deleted."""
        if doc.get("v") != DOC_VERSION:
            raise ArchiveDocError(f"unsupported disk archive version {doc.get('v')!r}")
        archive = cls(doc["dir"] if directory is None else directory, fresh=False)
        locs = np.frombuffer(doc["locations"], dtype=np.int64).reshape(-1, len(Location._fields)).tolist()
        archive._index = {a: Location(*loc) for a, loc in zip(doc["accounts"], locs, strict=True)}
        archive._current = doc["current"]
        archive._snapshotted = True
        on_disk = {int(path.stem): path for path in archive._segment_files()}
        used = {loc.segment for loc in archive._index.values()}
        if used - on_disk.keys():
            raise ArchiveDocError(f"archive {archive.dir}: segments {sorted(used - on_disk.keys())} are gone")
        for segment, path in on_disk.items():
            if segment not in used | {archive._current}:
                path.unlink()
        for segment in sorted(used | {archive._current}):
            archive._open(segment)
        for loc in archive._index.values():
            archive._live[loc.segment] += loc.length
        return archive

    def close(self) -> None:
        """Close the segment files (the archive is not usable afterwards)."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    # ---- segments --------------------------------------------------------------------------------
    def _segment_files(self) -> list[Path]:
        return sorted(self.dir.glob(f"*{SEGMENT_SUFFIX}"))

    def _path(self, segment: int) -> Path:
        return self.dir / f"{segment:08d}{SEGMENT_SUFFIX}"

    def _open(self, segment: int) -> None:
        fd = os.open(self._path(segment), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._fds[segment] = fd
        self._sizes[segment] = os.fstat(fd).st_size
        self._live[segment] = 0

    def _append(self, blobs: dict[str, bytes]) -> None:
        """Write records at the end of the newest segment (starting a new one when it is full) and index them."""
        if self._sizes[self._current] >= SEGMENT_BYTES:
            self._current += 1
            self._open(self._current)
        segment = self._current
        offset = self._sizes[segment]
        for account, blob in blobs.items():
            old = self._index.get(account)
            if old is not None:
                self._live[old.segment] -= old.length
            self._index[account] = Location(segment, offset, len(blob))
            offset += len(blob)
        data = b"".join(blobs.values())
        written = os.write(self._fds[segment], data)
        if written != len(data):
            raise OSError(f"archive {self._path(segment)}: short write ({written} of {len(data)} bytes)")
        self._sizes[segment] += len(data)
        self._live[segment] += len(data)

    def _read(self, loc: Location) -> bytes:
        data = os.pread(self._fds[loc.segment], loc.length, loc.offset)
        if len(data) != loc.length:
            raise OSError(f"archive {self._path(loc.segment)}: record at {loc.offset} is cut short")
        return data

    def _compact(self) -> None:
        """Move the live records of segments that are mostly garbage to the newest segment, and retire those."""
        sparse = [s for s, size in self._sizes.items() if s != self._current and self._live[s] < MIN_LIVE_SHARE * size]
        for segment in sparse:
            moving = {a: self._read(loc) for a, loc in self._index.items() if loc.segment == segment}
            if moving:
                self._append(moving)
            self._retire(segment)

    def _retire(self, segment: int) -> None:
        """A segment nothing live points at: deleted now, or once no saved snapshot may point at it."""
        os.close(self._fds.pop(segment))
        del self._sizes[segment], self._live[segment]
        if self._snapshotted:
            self._retired.append(segment)
        else:
            self._path(segment).unlink()

    def _delete(self, segment: int) -> None:
        self._path(segment).unlink(missing_ok=True)
