"""The packed-key store and the de-duplication window behave as the dict and set they replace."""

from __future__ import annotations

import tracemalloc
from unittest.mock import patch

import msgspec
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from distillguard.detector import dedup
from distillguard.detector import store as store_module
from distillguard.detector.dedup import SeenIds, digest
from distillguard.detector.state import AccountState
from distillguard.detector.store import Store
from distillguard.detector.units import HOUR

from .factory import ev

KEYS = st.integers(0, 40)  # few keys, so operations meet the same keys again
BATCH = st.lists(KEYS, max_size=12)
DISTINCT = st.lists(KEYS, max_size=12, unique=True)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), BATCH),
        st.tuples(st.just("minimum"), DISTINCT, st.integers(-5, 5)),
        st.tuples(st.just("assign"), DISTINCT, st.integers(-5, 5)),
        st.tuples(st.just("discard"), BATCH),
        st.tuples(
            st.just("keep_even"),
        ),
    ),
    max_size=40,
)


def _apply(store: Store, model: dict[int, int], op: tuple) -> None:
    """One operation on the store and on a plain dict (insertion-ordered) standing for it."""
    kind, *args = op
    if kind == "add":
        (batch,) = args
        store.add(np.asarray(batch, dtype=np.int64))
        for k in sorted(set(batch)):
            model[k] = model.get(k, 0) + batch.count(k)
    elif kind == "minimum":
        keys, base = args
        store.minimum(np.asarray(keys, dtype=np.int64), np.asarray([base + k for k in keys], dtype=np.int64))
        for k in keys:
            model[k] = min(model[k], base + k) if k in model else base + k
    elif kind == "assign":
        keys, base = args
        store.assign(np.asarray(keys, dtype=np.int64), np.asarray([base * k for k in keys], dtype=np.int64))
        for k in keys:
            model[k] = base * k
    elif kind == "discard":
        (batch,) = args
        store.discard(np.asarray(batch, dtype=np.int64))
        for k in batch:
            model.pop(k, None)
    else:
        keys, _ = store.arrays()
        store.keep(keys % 2 == 0)
        for k in [k for k in model if k % 2]:
            del model[k]


@given(OPS, st.sampled_from([(store_module.RECENT_MIN, store_module.RECENT_SHARE), (2, 1)]))
def test_store_matches_an_insertion_ordered_dict(ops: list[tuple], merge_at: tuple[int, int]) -> None:
    # (2, 1): the recent keys' index is merged into the large one every few keys, as in a long run
    store: Store[int] = Store()
    model: dict[int, int] = {}
    with patch.multiple(store_module, RECENT_MIN=merge_at[0], RECENT_SHARE=merge_at[1]):
        for op in ops:
            _apply(store, model, op)
            assert list(store.items()) == list(model.items())
            assert len(store) == len(model) and bool(store) == bool(model)
    for k in range(41):
        assert (k in store) == (k in model)
        assert store.get(k) == model.get(k)


def test_store_refuses_repeated_keys_and_missing_ones() -> None:
    with pytest.raises(ValueError, match="distinct keys"):
        Store(np.int64, [1, 1], [2, 3])
    store: Store[int] = Store(np.int64, [5, 3], [1, 2])
    with pytest.raises(ValueError, match="distinct keys"):
        store.assign(np.array([7, 7]), np.array([1, 1]))
    with pytest.raises(KeyError):
        store[4]
    assert store[3] == 2 and list(store) == [5, 3]


@given(st.lists(st.tuples(st.text(max_size=12), st.integers(0, 30)), max_size=60), st.integers(0, 31))
def test_seen_ids_hold_exactly_the_ids_of_kept_hours(seen: list[tuple[str, int]], cutoff: int) -> None:
    window, model = SeenIds(), {}
    for event_id, hour in seen:
        d = digest(event_id)
        if d not in window:
            window.add(d, hour)
            model[event_id] = hour
    assert len(window) == len(model)
    window.evict_before(cutoff)
    kept = {e for e, h in model.items() if h >= cutoff}
    for event_id, _ in seen:
        assert (digest(event_id) in window) == (event_id in kept)
    again = SeenIds(*window.arrays())
    assert all((digest(e) in again) == (e in kept) for e, _ in seen)


def test_seen_ids_merge_into_the_sorted_arrays_without_losing_any(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedup, "SEAL_EVERY", 3)
    window = SeenIds()
    ids = [f"evt-{i}" for i in range(50)]
    for i, e in enumerate(ids):
        window.add(digest(e), i // 10)
        assert len(window) == i + 1  # merged and recent ones both counted
    assert all(digest(e) in window for e in ids)
    assert digest("evt-50") not in window
    window.evict_before(3)
    assert [digest(e) in window for e in ids] == [i >= 30 for i in range(50)]


A_BATCH = 1 << 16  # ids merged into the sorted arrays at once (dedup.SEAL_EVERY, written out)
EPOCH_HOUR = 490_000  # late 2025
BYTES_PER_ID = 16  # the module promises about 12 (8-byte digest, 4-byte hour); in the dict an id costs about 75


def test_a_full_batch_of_ids_is_held_in_about_12_bytes_each() -> None:
    ids = np.random.default_rng(5).integers(-(2**63), 2**63 - 1, A_BATCH, dtype=np.int64)
    tracing = tracemalloc.is_tracing()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    window = SeenIds()
    for d in ids.tolist():  # new int objects, as digest() makes, held only by the window
        window.add(d, EPOCH_HOUR)
    used = tracemalloc.get_traced_memory()[0] - before
    if not tracing:
        tracemalloc.stop()
    assert len(window) == A_BATCH
    assert used <= BYTES_PER_ID * A_BATCH


@pytest.mark.parametrize(("n_digests", "n_hours"), [(2, 3), (3, 2)])
def test_a_window_needs_an_hour_per_digest(n_digests: int, n_hours: int) -> None:
    with pytest.raises(ValueError, match="one event hour per digest"):
        SeenIds(np.zeros(n_digests, dtype=np.int64), np.zeros(n_hours, dtype=np.int32))


def test_a_large_window_holds_none_of_the_digests_beyond_or_between_its_own() -> None:
    # more digests than the small integers CPython caches (up to 256), so positions are compared by value
    held = np.arange(0, 3000, 3, dtype=np.int64)
    window = SeenIds(held[::-1], np.zeros(len(held), dtype=np.int32))
    assert all(int(d) in window for d in held)
    assert [d in window for d in (-1, 1, 2999, 3000, 2**62)] == [False] * 5


def test_digests_are_stable_across_processes() -> None:
    # A snapshot written by one process must recognise the same ids in another: not Python's salted hash().
    assert digest("evt-1") == 5142162847298372542


def test_a_version_1_snapshot_still_recognises_its_event_ids() -> None:
    st, event = AccountState(), ev("a", 0)
    st.add(event)
    doc = msgspec.msgpack.decode(st.snapshot())
    doc["v"], doc["seen"] = 1, [[int(event.ts.timestamp() // HOUR), [event.event_id]]]
    again = AccountState.restore(msgspec.msgpack.encode(doc))
    again.add(event)
    assert again.stats["duplicates"] == 1
