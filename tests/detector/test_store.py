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
RANGES = st.lists(st.tuples(KEYS, st.integers(-2, 12)), max_size=4)  # (start, length): empty, overlapping or not
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), BATCH),
        st.tuples(st.just("minimum"), DISTINCT, st.integers(-5, 5)),
        st.tuples(st.just("assign"), DISTINCT, st.integers(-5, 5)),
        st.tuples(st.just("discard"), BATCH),
        st.tuples(st.just("discard_ranges"), RANGES),
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
    elif kind == "discard_ranges":
        (ranges,) = args
        store.discard_ranges(np.asarray([lo for lo, _ in ranges]), np.asarray([lo + n for lo, n in ranges]))
        for k in [k for k in model if any(lo <= k < lo + n for lo, n in ranges)]:
            del model[k]
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


# ---- from the mutation run of detector/store.py (docs/mutation.md) ----------------------------------------------

PACKED = 1 << 32  # keys as the detector packs them: account << shift | value (here shift 32)


def test_a_store_needs_as_many_values_as_keys() -> None:
    for keys, values in [([1, 2], [5]), ([1], [5, 6]), ([], [5])]:
        with pytest.raises(ValueError, match="as many values as keys"):
            Store(np.int64, keys, values)
        store: Store[int] = Store(np.int64, [9], [1])
        with pytest.raises(ValueError, match="as many values as keys"):
            store.replace(np.asarray(keys, dtype=np.int64), np.asarray(values, dtype=np.int64))


@pytest.mark.parametrize("batch", [1, 5000])
def test_thousands_of_new_keys_at_once_or_one_by_one_are_held_as_a_dict_holds_them(batch: int) -> None:
    # more keys in one batch than the arrays' first 1024 slots and twice what they held, at the shipped merge
    # thresholds: the small index of recent keys is merged into the large one several times
    rng = np.random.default_rng(7)
    keys = rng.choice(np.arange(20_000, dtype=np.int64), 12_000, replace=False) * PACKED + rng.integers(0, 9, 12_000)
    store: Store[int] = Store()
    model: dict[int, int] = {}
    for start in range(0, len(keys), batch):
        part = keys[start : start + batch]
        store.add(np.concatenate([part, part[::3]]))  # every third key counted twice; a batch's new keys in order
        for k in sorted(part.tolist()):
            model[k] = 1
        for k in part[::3].tolist():
            model[k] += 1
    store.discard(keys[::2])  # more discarded keys than those left and than 1024: compacted at once
    for k in keys[::2].tolist():
        del model[k]
    store.assign(keys[:10], np.arange(10))  # five of them new again, appended at the end
    model.update(zip(keys[:10].tolist(), range(10), strict=True))
    assert list(store.items()) == list(model.items())
    assert [k in store for k in keys[:20].tolist()] == [k in model for k in keys[:20].tolist()]


def test_a_thousand_distinct_keys_are_taken_by_the_constructor_replace_and_assign() -> None:
    # more keys than the small integers CPython caches (up to 256): their counts are compared by value
    keys = np.arange(1000, dtype=np.int64) * PACKED
    store: Store[int] = Store(np.int64, keys.tolist(), (keys // PACKED).tolist())
    store.replace(keys[::-1], np.arange(1000, dtype=np.int64))
    store.assign(keys + 1, np.full(1000, 7, dtype=np.int64))
    assert len(store) == 2000 and store.keys() == [*keys[::-1].tolist(), *(keys + 1).tolist()]
    assert store.values() == [*range(1000), *[7] * 1000]


def test_a_store_of_three_keys_takes_five_thousand_new_ones_in_one_batch() -> None:
    # its arrays hold 3 slots: the batch needs more than twice that and more than the first 1024 slots
    store: Store[int] = Store(np.int64, [1, 2, 3], [5, 5, 5])
    store.add(np.arange(10, 5011, dtype=np.int64))
    assert store.keys() == [1, 2, 3, *range(10, 5011)]
    assert store.values() == [5, 5, 5] + [1] * 5001


def test_replace_holds_exactly_the_keys_given_in_their_order_and_then_behaves_as_a_dict() -> None:
    store: Store[int] = Store(np.int64, [1, 2, 3], [10, 20, 30])
    store.discard(np.array([2]))
    store.add(np.array([4, 4]))
    keys, values = np.array([7 * PACKED, 5, 9], dtype=np.int64), np.array([70, 50, 90], dtype=np.int64)
    store.replace(keys, values)
    keys[0], values[0] = 8, 80  # the store holds its own copies
    assert list(store.items()) == [(7 * PACKED, 70), (5, 50), (9, 90)]
    assert store[7 * PACKED] == 70 and store[9] == 90  # the first slot is found like any other
    assert 1 not in store and 4 not in store and store.get(3) is None
    store.add(np.array([5, 6, 1]))
    store.minimum(np.array([9, 2]), np.array([100, -3]))
    store.discard(np.array([7 * PACKED]))
    assert list(store.items()) == [(5, 51), (9, 90), (1, 1), (6, 1), (2, -3)]
    with pytest.raises(ValueError, match="distinct keys"):
        store.replace(np.array([1, 1]), np.array([1, 2]))
    store.replace(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    assert len(store) == 0 and not store and store.keys() == []


def test_a_float_store_keeps_float_values_through_replace() -> None:
    store: Store[float] = Store(np.float64)
    store.minimum(np.array([3, 1]), np.array([2.5, 7.25]))
    store.minimum(np.array([1]), np.array([0.5]))
    assert list(store.items()) == [(3, 2.5), (1, 0.5)]
    store.replace(np.array([1, 3]), np.array([1, 2]))  # int values become the store's floats
    store.minimum(np.array([3]), np.array([1.75]))
    assert list(store.items()) == [(1, 1.0), (3, 1.75)]
    assert all(isinstance(v, float) for v in store.values())


A_STORE = 1 << 17  # keys in the store measured, in 128 batches of 1024
# 8 key + 8 value in the arrays (which grow by a quarter: up to 20 a key), 8 key + 4 slot in the index; in a dict a key
# cost about 90
BYTES_PER_KEY = 32


def test_a_store_holds_its_keys_in_about_32_bytes_each() -> None:
    keys = np.random.default_rng(3).permutation(A_STORE).astype(np.int64) * PACKED
    Store().add(keys[:5])  # lazy imports of numpy's, before measuring
    tracing = tracemalloc.is_tracing()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store: Store[int] = Store()
    for start in range(0, A_STORE, 1024):
        store.add(keys[start : start + 1024])
    used = tracemalloc.get_traced_memory()[0] - before
    if not tracing:
        tracemalloc.stop()
    assert len(store) == A_STORE
    assert used <= BYTES_PER_KEY * A_STORE


def test_discarding_an_accounts_range_removes_its_keys_in_both_indexes_and_no_neighbours() -> None:
    shift = 8
    store: Store[int] = Store(np.int64, [(a << shift) | v for a in range(3) for v in (0, 5, 255)], [1] * 9)
    store.add(np.asarray([(1 << shift) | 7, (2 << shift) | 7]))  # in the small index of recent keys
    store.discard_ranges(np.asarray([1 << shift]), np.asarray([2 << shift]))
    assert sorted(k >> shift for k in store) == [0, 0, 0, 2, 2, 2, 2]
    store.add(np.asarray([(1 << shift) | 5]))
    assert store[(1 << shift) | 5] == 1 and len(store) == 8
