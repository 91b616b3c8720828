"""Event-time alignment of partitions: given fetches in any order, what is released when."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from distillguard.detector.units import HOUR
from distillguard.streams.align import PartitionAligner
from tests.fuzzing import budget


def _items(p: int, times: list[float | None]) -> list[tuple[float | None, str]]:
    return [(t, f"p{p}@{i}") for i, t in enumerate(times)]


def test_a_partition_days_ahead_waits_for_the_one_behind() -> None:
    a = PartitionAligner[str](slack_s=600)
    a.add(0, _items(0, [48 * HOUR, 49 * HOUR]))  # partition 0 is two days ahead
    assert a.release(unread={1}) == []  # partition 1 has not delivered anything yet: its time is unknown
    a.add(1, _items(1, [0, HOUR, 2 * HOUR]))
    assert a.release(unread={1}) == [(1, "p1@0"), (1, "p1@1"), (1, "p1@2")]  # 1 still has more to read
    a.add(1, _items(1, [47.9 * HOUR]))
    out = a.release(unread=set())  # everything read: merged in steps of the slack, so 48 h goes with 47.9 h
    assert sorted(out) == [(0, "p0@0"), (0, "p0@1"), (1, "p1@0")] and out[-1] == (0, "p0@1")
    assert len(a) == 0


def test_a_message_without_an_event_time_keeps_its_place_in_its_partition() -> None:
    a = PartitionAligner[str](slack_s=0)
    a.add(0, _items(0, [None, 10.0, None, 20.0]))
    a.add(1, _items(1, [15.0]))
    # up to 1's 15 (its newest: it may deliver more from there), the untimed ones beside their neighbours
    assert a.release(unread={1}) == [(0, "p0@0"), (0, "p0@1"), (0, "p0@2"), (1, "p1@0")]
    assert a.release(unread=set()) == [(0, "p0@3")]


def test_a_stalled_partition_delays_the_others_but_does_not_block_them() -> None:
    now = [0.0]
    a = PartitionAligner[str](slack_s=600, max_wait_s=5, clock=lambda: now[0])
    a.add(0, _items(0, [10 * HOUR]))
    assert a.release(unread={1}) == []
    now[0] = 4.9
    assert a.release(unread={1}) == []
    now[0] = 5.0
    assert a.release(unread={1}) == [(0, "p0@0")]


def test_reset_forgets_held_items_and_times() -> None:
    a = PartitionAligner[str]()
    a.add(0, _items(0, [1.0, 2.0]))
    a.reset()
    assert len(a) == 0 and a.held(0) == 0
    assert a.release(unread={0}) == []  # its time is unknown again


def test_the_partitions_holding_their_share_of_the_budget_are_the_ones_to_pause() -> None:
    a = PartitionAligner[str](slack_s=0)
    a.add(0, _items(0, [float(t) for t in range(100, 130)]))  # ahead: 30 held
    a.add(1, _items(1, [float(t) for t in range(200, 210)]))  # further ahead: 10 held
    a.add(2, _items(2, [1.0]))
    a.release(unread={2})  # partition 2 is behind (it may deliver more from 1.0 s): 0 and 1 keep theirs
    assert (a.held(0), a.held(1), a.held(2)) == (30, 10, 0)
    assert a.over_budget(60, [0, 1, 2]) == {0}  # a share of 20 each
    assert a.over_budget(30, [0, 1, 2]) == {0, 1}  # 10 each: one at its share is paused too
    assert a.over_budget(60, [0, 1]) == {0}  # fewer partitions, larger shares
    assert a.over_budget(1000, [0, 1, 2]) == set()
    assert a.over_budget(60, []) == set()


@st.composite
def _backlog(draw) -> tuple[dict[int, list[float]], list[tuple[int, int]]]:
    """Per partition a time-ordered list of event times, and an arbitrary order of fetches (partition, count)."""
    parts = {
        p: sorted(draw(st.lists(st.floats(0, 5 * 24 * HOUR), max_size=40))) for p in range(draw(st.integers(1, 4)))
    }
    fetches = draw(st.lists(st.tuples(st.sampled_from(sorted(parts)), st.integers(1, 15)), max_size=60))
    return parts, fetches


@settings(max_examples=budget(300), deadline=None)
@given(_backlog(), st.floats(0, 2 * HOUR))
def test_released_events_never_fall_more_than_the_slack_behind_what_was_released_before(backlog, slack: float) -> None:
    parts, fetches = backlog
    a = PartitionAligner[tuple[int, int]](slack_s=slack)
    pos = dict.fromkeys(parts, 0)
    released: list[tuple[int, tuple[int, int]]] = []
    for p, n in [*fetches, *((p, len(ts)) for p, ts in parts.items())]:  # then whatever was left, in full
        chunk = parts[p][pos[p] : pos[p] + n]
        a.add(p, [(t, (p, pos[p] + i)) for i, t in enumerate(chunk)])
        pos[p] += len(chunk)
        released += a.release(unread={q for q in parts if pos[q] < len(parts[q])})
    assert sorted(item for _, item in released) == [
        (p, i) for p in sorted(parts) for i in range(len(parts[p]))
    ]  # each once
    newest = float("-inf")
    for p, (_, i) in released:
        t = parts[p][i]
        assert t >= newest - slack, "released behind what was released before by more than the slack"
        newest = max(newest, t)
    for p in parts:  # each partition in offset order
        assert [i for q, (_, i) in released if q == p] == list(range(len(parts[p])))
