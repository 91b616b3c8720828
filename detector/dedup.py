"""The de-duplication window: the event ids seen within the horizon, in about 12 bytes an event.

Ids are kept as stable 64-bit digests (BLAKE2b), not as strings, so the window costs the same whatever the
gateway's id format, and a snapshot restored in another process recognises them. Two distinct ids share a
digest with probability about n² / 2⁶⁵ for n ids in the window (3 in a million for ten million ids); such an
event would be counted as a duplicate. The newest digests sit in a dict; every ``SEAL_EVERY`` of them are merged
into one sorted array, beside each digest's event hour, so a lookup is a dict probe and a binary search, and
the hours that leave the horizon are dropped in one pass.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np

SEAL_EVERY = 1 << 16  # digests held in the dict before they are merged into the sorted arrays
DIGEST_BYTES = 8
_SIGNED_LITTLE = struct.Struct("<q")  # DIGEST_BYTES as a little-endian signed integer


def digest(event_id: str) -> int:
    """The id's stable 64-bit digest, as a signed integer (it fits an int64 array)."""
    return _SIGNED_LITTLE.unpack(hashlib.blake2b(event_id.encode(), digest_size=DIGEST_BYTES).digest())[0]


class SeenIds:
    """Digests of the event ids seen, each with its event hour (epoch hours), until its hour is evicted."""

    def __init__(self, digests: np.ndarray | None = None, hours: np.ndarray | None = None) -> None:
        self._digests = np.zeros(0, dtype=np.int64) if digests is None else np.asarray(digests, dtype=np.int64)
        self._hours = np.zeros(0, dtype=np.int32) if hours is None else np.asarray(hours, dtype=np.int32)
        if self._digests.shape != self._hours.shape:
            raise ValueError("the window needs one event hour per digest")
        order = np.argsort(self._digests, kind="stable")
        self._digests, self._hours = self._digests[order], self._hours[order]
        self._fresh: dict[int, int] = {}  # digest -> event hour, not merged yet

    def __len__(self) -> int:
        return len(self._digests) + len(self._fresh)

    def __contains__(self, d: int) -> bool:
        if d in self._fresh:
            return True
        sealed = self._digests
        i = int(sealed.searchsorted(d))
        return i < len(sealed) and int(sealed[i]) == d

    def add(self, d: int, hour: int) -> None:
        """Remember a digest (not already in the window) seen in event hour ``hour``."""
        self._fresh[d] = hour
        if len(self._fresh) >= SEAL_EVERY:
            self._seal()

    def evict_before(self, hour: int) -> None:
        """Forget the digests of events before epoch hour ``hour``."""
        self._seal()
        keep = self._hours >= hour
        if not keep.all():
            self._digests, self._hours = self._digests[keep], self._hours[keep]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every digest and its event hour (digests ascending), for a snapshot."""
        fresh_d = np.fromiter(self._fresh.keys(), dtype=np.int64, count=len(self._fresh))
        fresh_h = np.fromiter(self._fresh.values(), dtype=np.int32, count=len(self._fresh))
        digests = np.concatenate([self._digests, fresh_d])
        hours = np.concatenate([self._hours, fresh_h])
        order = np.argsort(digests, kind="stable")
        return digests[order], hours[order]

    def _seal(self) -> None:
        if not self._fresh:
            return
        d = np.fromiter(self._fresh.keys(), dtype=np.int64, count=len(self._fresh))
        h = np.fromiter(self._fresh.values(), dtype=np.int32, count=len(self._fresh))
        order = np.argsort(d)
        d, h = d[order], h[order]
        at = self._digests.searchsorted(d)
        self._digests = np.insert(self._digests, at, d)
        self._hours = np.insert(self._hours, at, h)
        self._fresh.clear()
