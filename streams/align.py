"""Event-time alignment of input partitions (the role of Kafka Streams' timestamp synchronisation).

A consumer fetch returns megabytes of one partition at a time, so while a worker works through a backlog its
partitions drift apart in event time: hours for a day's backlog, days for a longer one. The Detector keeps one
watermark, so the lagging side's events would fall behind the de-duplication horizon and be refused, and the
windowed features would mix times. The aligner holds fetched messages back and releases them, per partition
in offset order, as a merge by event time: nothing more than ``slack_s`` ahead of the earliest time any
partition may still deliver (the head of what it holds or, when all it holds is gone but it has unread
messages, the newest time it delivered). An unread partition that delivers nothing for ``max_wait_s`` (wall
time) stops holding the others back, so a stalled partition delays, never blocks.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class PartitionAligner(Generic[T]):
    """Holds ``(event_time, item)`` per partition and releases them in event-time step across partitions."""

    def __init__(
        self, slack_s: float = 600.0, max_wait_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.slack_s = slack_s
        self.max_wait_s = max_wait_s
        self.clock = clock
        self._held: dict[int, deque[tuple[float, T]]] = {}
        self._newest: dict[int, float] = {}  # partition -> newest event time seen on it
        self._blocked_since: float | None = None

    def add(self, partition: int, items: Iterable[tuple[float | None, T]]) -> None:
        """Hold ``items`` (in offset order). An item without an event time (a message that does not parse)
        takes the time of the one before it, so it is released in its place."""
        q = self._held.setdefault(partition, deque())
        newest = self._newest.get(partition, -math.inf)
        for ts, item in items:
            if ts is None:
                ts = newest
            elif ts > newest:
                newest = ts
            q.append((ts, item))
        self._newest[partition] = newest

    def release(self, unread: Collection[int]) -> list[tuple[int, T]]:
        """The held items that may be processed now, as ``(partition, item)``, each partition's in offset order.
        ``unread``: partitions with messages the consumer has not delivered yet."""
        out: list[tuple[int, T]] = []
        while took := self._take(self._floor(unread) + self.slack_s):  # a k-way merge in steps of slack_s
            out += took
        if out or not self:
            self._blocked_since = None
        elif self._blocked_since is None:
            self._blocked_since = self.clock()
        elif self.clock() - self._blocked_since >= self.max_wait_s:  # an unread partition is stalled: go on without it
            out, self._blocked_since = self._take(math.inf), None
        return out

    def _floor(self, unread: Collection[int]) -> float:
        """The earliest event time any partition may still deliver: the head of what it holds, else (when it
        has unread messages) its newest event time so far, unknown (-inf) before it delivered any."""
        floor = math.inf
        for p in {*self._held, *unread}:
            q = self._held.get(p)
            t = q[0][0] if q else (self._newest.get(p, -math.inf) if p in unread else math.inf)
            floor = min(floor, t)
        return floor

    def _take(self, cutoff: float) -> list[tuple[int, T]]:
        out: list[tuple[int, T]] = []
        for p, q in self._held.items():
            while q and q[0][0] <= cutoff:
                out.append((p, q.popleft()[1]))
        return out

    def held(self, partition: int) -> int:
        """Items held for ``partition``."""
        return len(self._held.get(partition, ()))

    def over_budget(self, budget: int, partitions: Collection[int]) -> set[int]:
        """The ``partitions`` holding their even share of ``budget`` items or more: fetch nothing more from them, and
        all that is held stays within about ``budget`` (plus one fetch) however many partitions there are."""
        share = budget / max(len(partitions), 1)
        return {p for p in partitions if self.held(p) >= share}

    def __len__(self) -> int:
        return sum(len(q) for q in self._held.values())

    def reset(self) -> None:
        """Drop everything held and every partition's event time (the consumer seeks back after a rebalance)."""
        self._held.clear()
        self._newest.clear()
        self._blocked_since = None
