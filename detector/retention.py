"""Idle accounts leave memory: after ``retention_hours`` of event time without a request, an account (a linked one
only with its whole cluster) is archived and taken out of the state; when it sends again it comes back exactly as
it left, before its new event is counted.

A live account costs the detector kilobytes (its indicators, skeletons, timeline, samples) and a share of every
re-scoring; an archived one costs its compressed record in the archive and nothing at re-scoring. So memory and
per-window cost follow the accounts active in the retention horizon, not every account ever seen. While archived,
an account is neither scored nor linked: a new account reusing its card or address does not link to it (the
retention horizon is the memory of linking), and its last verdict stands (:meth:`MemoryArchive.verdicts`). An idle
cluster leaves whole, and quietly: its rung is not lifted, it is no longer re-scored.

:class:`MemoryArchive` keeps the records zlib-compressed msgpack, in the process and in the detector's snapshot;
:class:`~.disk_archive.DiskArchive` keeps them in files, and in memory only where each lies (the CLI and the worker).
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator

import msgspec

from distillguard.detector.records import AccountVerdict, Action
from distillguard.detector.state import FORGET_SINGLE_TEMPLATE_HOURS, TIMELINE_HOURS, AccountSummary
from distillguard.detector.units import HOUR

RETENTION_HOURS = 14 * 24.0  # default: two weeks idle
# An account comes back exactly only if nothing of it is still in a window when it leaves: the de-duplication horizon
# (an event id it sent), the timeline it folds, and two template forgettings (a skeleton it used once).
MIN_RETENTION_HOURS = max(TIMELINE_HOURS, 2 * FORGET_SINGLE_TEMPLATE_HOURS)
EVICT_EVERY = 24 * HOUR  # idle accounts are looked for once per this much event time (eviction renumbers accounts)
ZLIB_LEVEL = 6


class RetentionError(ValueError):
    """A retention horizon too short for accounts to come back exactly."""


def check_retention(retention_hours: float | None, dedup_horizon_hours: float) -> None:
    """Refuse a horizon within which an account's events may still be in a window (``None``: never evict)."""
    if retention_hours is None:
        return
    floor = max(MIN_RETENTION_HOURS, dedup_horizon_hours)
    if not retention_hours >= floor:
        raise RetentionError(
            f"retention_hours must be at least {floor:g} (the timeline, template forgetting and de-duplication "
            f"windows), got {retention_hours!r}"
        )


class Archived(msgspec.Struct, kw_only=True):
    """One archived account: its state, its last verdict, and where it stood when it left."""

    summary: AccountSummary
    verdict: AccountVerdict | None  # None: it left before any re-scoring saw it
    flagged_at: float | None  # event time it was flagged (None: not flagged)
    action: Action | None  # its rung above none, if any
    reached: dict[str, float]  # rung -> event time it first reached it


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Archived)


def pack_record(record: Archived) -> bytes:
    """A record as compressed bytes."""
    return zlib.compress(_encoder.encode(record), ZLIB_LEVEL)


def unpack_record(data: bytes) -> Archived:
    """The record of :func:`pack_record` bytes."""
    return _decoder.decode(zlib.decompress(data))


class Archive(ABC):
    """Where a detector keeps the accounts that left (a later record of an account replaces the earlier one): the
    records as :func:`pack_record` bytes, each found by account id."""

    DOC_KEY: str  # the detector snapshot's field of the archive's document

    @abstractmethod
    def put(self, records: dict[str, Archived]) -> None:
        """Keep these records."""

    @abstractmethod
    def take(self, account_id: str) -> Archived | None:
        """The record of a returning account (None if it has none), which the archive then forgets."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __contains__(self, account_id: str) -> bool: ...

    @abstractmethod
    def _packed(self, account_id: str) -> bytes | None:
        """The packed record of an archived account, None if it has none."""

    @abstractmethod
    def _accounts(self) -> Iterable[str]:
        """The ids of the archived accounts."""

    @abstractmethod
    def to_doc(self) -> object:
        """What a detector snapshot holds of the archive."""

    def verdict(self, account_id: str) -> AccountVerdict | None:
        """The last verdict of an archived account (None if it is not archived or left before any re-scoring)."""
        data = self._packed(account_id)
        return None if data is None else unpack_record(data).verdict

    def verdicts(self) -> list[AccountVerdict]:
        """The last verdict of every archived account that had one, in account id order."""
        return [v for _, record in self.records() if (v := record.verdict) is not None]

    def records(self) -> Iterator[tuple[str, Archived]]:
        """Every archived record, in account id order (unpacked one at a time)."""
        for account in sorted(self._accounts()):
            data = self._packed(account)
            assert data is not None  # an id the archive just listed
            yield account, unpack_record(data)

    @abstractmethod
    def snapshot_saved(self) -> None:
        """The last :meth:`to_doc` is durably saved: let go of what only earlier snapshots held."""

    @abstractmethod
    def close(self) -> None:
        """Release what the archive holds open."""


class MemoryArchive(Archive):
    """Archived accounts by id, kept in the detector's snapshot."""

    DOC_KEY = "archive"

    def __init__(self, records: dict[str, bytes] | None = None) -> None:
        self._records: dict[str, bytes] = dict(records or {})

    def put(self, records: dict[str, Archived]) -> None:
        """Keep these records (compressed)."""
        self._records.update({account: pack_record(r) for account, r in records.items()})

    def take(self, account_id: str) -> Archived | None:
        """The record of a returning account (None if it has none), which the archive then forgets."""
        data = self._records.pop(account_id, None)
        return None if data is None else unpack_record(data)

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, account_id: str) -> bool:
        return account_id in self._records

    def _packed(self, account_id: str) -> bytes | None:
        return self._records.get(account_id)

    def _accounts(self) -> Iterable[str]:
        return self._records.keys()

    def to_doc(self) -> dict[str, bytes]:
        """The records as plain data (for the snapshot)."""
        return dict(self._records)

    def snapshot_saved(self) -> None:
        """Nothing to let go of: the snapshot holds the records themselves."""

    def close(self) -> None:
        """Nothing to release: the records are in memory."""
