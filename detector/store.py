"""A numeric map over packed ``account << shift | value`` keys, kept as numpy arrays.

The detector's per-account stores (indicators, templates, models, timeline) are read whole at every
re-scoring. Held as parallel key/value arrays, reading them whole costs nothing, while batches are merged
with one vectorised update. Slots keep insertion order, as a dict does, so everything computed over them is
the same as over the dicts they replaced. Keys are found through sorted copies of the keys beside their slots
(12 bytes a key, where a dict index cost about 90): a large index and a small one that takes each batch's new
keys and is merged into the large one when it reaches a share of it, so a batch costs in proportion to the keys
it adds, not to the store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

import numpy as np

_DEAD = -1  # keys are non-negative; a discarded slot holds this until the arrays are compacted
RECENT_MIN = 4096  # the small index is merged into the large one beyond this many keys...
RECENT_SHARE = 8  # ...and beyond one in this many of the large index's keys
SLOT = np.int32  # a slot number in the indexes (4 bytes: a store holds far fewer than 2**31 keys)
GROWTH = 1.25  # arrays grow by this factor when full (doubling would leave up to half of them unused)...
GROW_MIN = 1024  # ...to this many entries at least (also the state's per-account arrays)

V = TypeVar("V", int, float)  # the Python type of a value: int for an int64 store, float for a float64 one


class _SortedIndex:
    """Keys in ascending order beside their slots."""

    def __init__(self, keys: np.ndarray, slots: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys, self.slots = keys[order], slots.astype(SLOT)[order]

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """The slot of each key, -1 where absent."""
        if not len(self.keys):
            return np.full(len(keys), -1, dtype=np.int64)
        pos = np.minimum(self.keys.searchsorted(keys), len(self.keys) - 1)
        return np.where(self.keys[pos] == keys, self.slots[pos], -1)

    def insert(self, keys: np.ndarray, slots: np.ndarray) -> None:
        """Add keys absent so far, with their slots."""
        order = np.argsort(keys, kind="stable")
        at = self.keys.searchsorted(keys[order])
        self.keys = np.insert(self.keys, at, keys[order])
        self.slots = np.insert(self.slots, at, slots[order])

    def within(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The slots of the keys in any of the ranges ``[lo[i], hi[i])``."""
        start, end = self.keys.searchsorted(lo), self.keys.searchsorted(hi)
        count = np.maximum(end - start, 0)
        total = int(count.sum())
        # positions start[i], start[i] + 1, ... end[i] - 1 of every range, in one array
        offset = np.repeat(start - (np.cumsum(count) - count), count)
        return self.slots[np.arange(total) + offset]

    def keep(self, mask: np.ndarray) -> None:
        """Keep the entries where ``mask`` (in index order) is True."""
        self.keys, self.slots = self.keys[mask], self.slots[mask]


class Store(Generic[V]):
    """``key -> number`` (int64 counts, or float64 values such as first-seen times)."""

    def __init__(self, dtype: type = np.int64, keys: Sequence[int] = (), values: Sequence[float] = ()) -> None:
        self._load(np.asarray(keys, dtype=np.int64), np.asarray(values, dtype=dtype))

    def replace(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Hold exactly the distinct ``keys`` with their ``values``, in the order given, and nothing else."""
        self._load(np.array(keys, dtype=np.int64), np.array(values, dtype=self._vals.dtype))

    def _load(self, keys: np.ndarray, values: np.ndarray) -> None:
        if keys.shape != values.shape or len(np.unique(keys)) != len(keys):
            raise ValueError("a store needs as many values as keys, and distinct keys")
        self._keys, self._vals = keys, values
        self._n = self._n_before = len(self._keys)
        self._large = _SortedIndex(self._keys, np.arange(self._n))
        self._recent = _SortedIndex(self._keys[:0], np.arange(0))  # keys added since the last merge
        self._dead = 0

    # ---- dict-like access ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._large) + len(self._recent)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[int]:
        return iter(self.keys())

    def __contains__(self, key: int) -> bool:
        return bool(self._find(np.array([key], dtype=np.int64))[0] >= 0)

    def __getitem__(self, key: int) -> V:
        slot = int(self._find(np.array([key], dtype=np.int64))[0])
        if slot < 0:
            raise KeyError(key)
        return self._vals[slot].item()

    def get(self, key: int, default: V | None = None) -> V | None:
        slot = int(self._find(np.array([key], dtype=np.int64))[0])
        return default if slot < 0 else self._vals[slot].item()

    def keys(self) -> list[int]:
        return self.arrays()[0].tolist()

    def values(self) -> list[V]:
        return self.arrays()[1].tolist()

    def items(self) -> Iterator[tuple[int, V]]:
        keys, vals = self.arrays()
        return zip(keys.tolist(), vals.tolist(), strict=True)

    # ---- batches ---------------------------------------------------------------------------------
    def add(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Count each occurrence of ``keys``; return the distinct keys and their new totals."""
        uniq, counts = np.unique(keys, return_counts=True)
        slots = self._slots(uniq)
        self._vals[slots] += counts.astype(self._vals.dtype)
        return uniq, self._vals[slots]

    def minimum(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Keep, per key, the smallest value seen (``keys`` distinct; new keys take their value)."""
        slots = self._slots(keys)
        fresh = slots >= self._n_before
        self._vals[slots[fresh]] = values[fresh]
        self._vals[slots] = np.minimum(self._vals[slots], values)

    def assign(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Set each of the distinct ``keys`` to its value (new keys are appended in the order given)."""
        keys = np.asarray(keys, dtype=np.int64)
        if len(np.unique(keys)) != len(keys):
            raise ValueError("assign needs distinct keys")
        slots = self._slots(keys)  # before indexing: it may grow the arrays
        self._vals[slots] = values

    def discard(self, keys: np.ndarray) -> None:
        """Remove the ``keys`` present (absent ones are ignored)."""
        slots = self._find(np.asarray(keys, dtype=np.int64))
        self._kill(slots[slots >= 0])

    def discard_ranges(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Remove every key ``k`` with ``lo[i] <= k < hi[i]`` for some ``i`` (ranges may be empty or overlap): with
        keys packed as ``account << shift | value``, ``[a << shift, a + 1 << shift)`` is everything of account ``a``."""
        lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
        self._kill(np.concatenate([index.within(lo, hi) for index in (self._large, self._recent)]))

    def _kill(self, slots: np.ndarray) -> None:
        """Mark the (live) ``slots`` dead and drop them from the indexes; compact when dead ones dominate."""
        slots = np.unique(slots)
        if not len(slots):
            return
        self._keys[slots] = _DEAD
        self._dead += len(slots)
        for index in (self._large, self._recent):
            index.keep(self._keys[index.slots] != _DEAD)
        if self._dead > max(len(self), 1024):
            self._compact()

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All (keys, values) in insertion order (views: valid until the store changes)."""
        if self._dead:
            self._compact()
        return self._keys[: self._n], self._vals[: self._n]

    def split(self, shift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every entry as (key's high bits, its low ``shift`` bits, value), in insertion order: for keys packed as
        ``account << shift | value``, parallel (account, value, count) arrays (new arrays, but the values a view)."""
        keys, values = self.arrays()
        return keys >> shift, keys & ((1 << shift) - 1), values

    def keep(self, mask: np.ndarray) -> None:
        """Drop every entry where ``mask`` (over :meth:`arrays`) is False."""
        keys, _ = self.arrays()
        self.discard(keys[~mask])
        if self._dead:
            self._compact()

    # ---- internals -------------------------------------------------------------------------------
    def _find(self, keys: np.ndarray) -> np.ndarray:
        """The slot of each key, -1 where absent."""
        slots = self._large.find(keys)
        missing = slots < 0
        if missing.any() and len(self._recent):
            slots[missing] = self._recent.find(keys[missing])
        return slots

    def _slots(self, uniq: np.ndarray) -> np.ndarray:
        """Slots of distinct keys, appending those not seen yet (``_n_before``: the first new slot)."""
        self._n_before = self._n
        slots = self._find(uniq)
        new = slots < 0
        if new.any():
            slots[new] = self._append(uniq[new])
        return slots

    def _append(self, keys: np.ndarray) -> np.ndarray:
        n, k = self._n, len(keys)
        if n + k > len(self._keys):
            size = max(n + k, int(GROWTH * len(self._keys)), GROW_MIN)
            self._keys = np.concatenate([self._keys[:n], np.zeros(size - n, dtype=np.int64)])
            self._vals = np.concatenate([self._vals[:n], np.zeros(size - n, dtype=self._vals.dtype)])
        slots = np.arange(n, n + k)
        self._keys[n : n + k] = keys
        self._vals[n : n + k] = 0
        self._n = n + k
        self._recent.insert(keys, slots)
        if len(self._recent) > max(RECENT_MIN, len(self._large) // RECENT_SHARE):
            self._large.insert(self._recent.keys, self._recent.slots)
            self._recent = _SortedIndex(self._keys[:0], np.arange(0))
        return slots

    def _compact(self) -> None:
        live = self._keys[: self._n] != _DEAD
        renumber = (np.cumsum(live) - 1).astype(SLOT)  # old slot -> new slot, for the live ones
        self._keys = self._keys[: self._n][live].copy()
        self._vals = self._vals[: self._n][live].copy()
        for index in (self._large, self._recent):
            index.slots = renumber[index.slots]
        self._n = len(self._keys)
        self._dead = 0
