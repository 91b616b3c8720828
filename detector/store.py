"""A numeric map over packed ``account << shift | value`` keys, kept as numpy arrays.

The detector's per-account stores (indicators, templates, models, timeline) are read whole at every
re-scoring. Held as parallel key/value arrays (a dict only indexes keys to slots), reading them whole
costs nothing, while batches are merged with one vectorised update. Slots keep insertion order, as a
dict does, so everything computed over them is the same as over the dicts they replaced.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import repeat
from typing import Generic, TypeVar

import numpy as np

_DEAD = -1  # keys are non-negative; a popped slot holds this until the arrays are compacted

V = TypeVar("V", int, float)  # the Python type of a value: int for an int64 store, float for a float64 one


class Store(Generic[V]):
    """``key -> number`` (int64 counts, or float64 values such as first-seen times)."""

    def __init__(self, dtype: type = np.int64, keys: Sequence[int] = (), values: Sequence[float] = ()) -> None:
        self._keys = np.asarray(keys, dtype=np.int64)
        self._vals: np.ndarray = np.asarray(values, dtype=dtype)
        if self._keys.shape != self._vals.shape or len(np.unique(self._keys)) != len(self._keys):
            raise ValueError("a store needs as many values as keys, and distinct keys")
        self._n = self._n_before = len(self._keys)
        self._index: dict[int, int] = dict(zip(self._keys.tolist(), range(self._n), strict=True))
        self._dead = 0

    # ---- dict-like access ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._index)

    def __bool__(self) -> bool:
        return bool(self._index)

    def __iter__(self) -> Iterator[int]:
        return iter(self.keys())

    def __contains__(self, key: int) -> bool:
        return key in self._index

    def __getitem__(self, key: int) -> V:
        return self._vals[self._index[key]].item()

    def get(self, key: int, default: V | None = None) -> V | None:
        slot = self._index.get(key)
        return default if slot is None else self._vals[slot].item()

    def __setitem__(self, key: int, value: V) -> None:
        slot = self._index.get(key)
        if slot is None:
            slot = self._append(np.array([key], dtype=np.int64))[0]
        self._vals[slot] = value

    def pop(self, key: int, default: V | None = None) -> V | None:
        slot = self._index.pop(key, None)
        if slot is None:
            return default
        value = self._vals[slot].item()
        self._keys[slot] = _DEAD
        self._dead += 1
        if self._dead > max(len(self._index), 1024):
            self._compact()
        return value

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

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All (keys, values) in insertion order (views: valid until the store changes)."""
        if self._dead:
            self._compact()
        return self._keys[: self._n], self._vals[: self._n]

    def keep(self, mask: np.ndarray) -> None:
        """Drop every entry where ``mask`` (over :meth:`arrays`) is False."""
        keys, _ = self.arrays()
        keys[~mask] = _DEAD
        self._dead = int((~mask).sum())
        self._compact()

    # ---- internals -------------------------------------------------------------------------------
    def _slots(self, uniq: np.ndarray) -> np.ndarray:
        """Slots of distinct keys, appending those not seen yet (``_n_before``: the first new slot)."""
        self._n_before = self._n
        slots = np.fromiter(map(self._index.get, uniq.tolist(), repeat(-1)), dtype=np.int64, count=len(uniq))
        new = slots < 0
        if new.any():
            slots[new] = self._append(uniq[new])
        return slots

    def _append(self, keys: np.ndarray) -> np.ndarray:
        n, k = self._n, len(keys)
        if n + k > len(self._keys):
            size = max(n + k, 2 * len(self._keys), 1024)
            self._keys = np.concatenate([self._keys[:n], np.zeros(size - n, dtype=np.int64)])
            self._vals = np.concatenate([self._vals[:n], np.zeros(size - n, dtype=self._vals.dtype)])
        slots = np.arange(n, n + k)
        self._keys[n : n + k] = keys
        self._vals[n : n + k] = 0
        self._index.update(zip(keys.tolist(), slots.tolist(), strict=True))
        self._n = n + k
        return slots

    def _compact(self) -> None:
        live = self._keys[: self._n] != _DEAD
        self._keys = self._keys[: self._n][live].copy()
        self._vals = self._vals[: self._n][live].copy()
        self._n = len(self._keys)
        self._index = dict(zip(self._keys.tolist(), range(self._n), strict=True))
        self._dead = 0
