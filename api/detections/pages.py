"""Rendered queue responses, kept per detections epoch, so concurrent analysts reading the same pages cost one query.

Every transaction that changes detections or their review status bumps the epoch (:func:`bump_epoch`), so a page
rendered at an epoch is what rendering it again at that epoch would give. The epoch is read from the database
about every ``ttl`` seconds by one background read; when it has moved, the pages requested lately are rendered at
the new epoch before it is served, so a write by another process (the stream worker, another API worker) never
makes requests wait: it shows within about ``ttl`` seconds plus that rendering. After a transaction of this process
that bumped the epoch commits, the next request reads the epoch first: this process's own writes show at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Hashable

from cachetools import LRUCache
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from distillguard.api.detections.service import current_epoch, local_commits
from distillguard.detector.logs import get_logger

log = get_logger("api")

Render = Callable[[Session], bytes]
Clock = Callable[[], float]  # seconds, monotonic


class PageCache:
    """JSON bodies by (epoch, key). ``get`` answers a hit on the event loop; a miss is rendered once in a worker
    thread, and concurrent requests for the same key wait for that one rendering. ``clock`` measures ``ttl``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        ttl: float,
        maxsize: int = 1024,
        refresh_ahead: int = 64,
        clock: Clock = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.ttl = ttl
        self.clock = clock
        self._pages: LRUCache = LRUCache(maxsize)
        self._hot: LRUCache = LRUCache(refresh_ahead)  # key -> render: rendered at a new epoch before it is served
        self._epoch: tuple[int, float, int] | None = None  # (epoch served, when read, local commits at that read)
        self._lock = threading.Lock()
        self._refreshing: asyncio.Task | None = None
        self._rendering: dict[Hashable, tuple[int, asyncio.Future]] = {}

    async def get(self, key: Hashable, render: Render) -> bytes:
        """The body of ``key`` at the served epoch, rendered by ``render(session)`` when not cached."""
        epoch = self._usable_epoch()
        if epoch is not None:
            with self._lock:
                body = self._pages.get((epoch, key))
                self._hot[key] = render
            if body is not None:
                return body
        commits = local_commits()
        flight = self._rendering.get(key)
        if flight is None or flight[0] != commits:  # a rendering begun before this process's last write won't do
            future = asyncio.ensure_future(run_in_threadpool(self._render, key, render, epoch))
            flight = self._rendering[key] = (commits, future)

            def forget(_f: asyncio.Future, k: Hashable = key, f: tuple[int, asyncio.Future] = flight) -> None:
                if self._rendering.get(k) is f:
                    self._rendering.pop(k, None)

            future.add_done_callback(forget)
        return await asyncio.shield(flight[1])

    def _usable_epoch(self) -> int | None:
        """The epoch to serve, or None when it must be read first (nothing read yet, ``ttl`` 0, or this process
        has written since). Past ``ttl``, one background refresh is started and the epoch is served meanwhile."""
        seen = self._epoch
        if self.ttl <= 0 or seen is None or seen[2] != local_commits():
            return None
        if self.clock() - seen[1] >= self.ttl and self._refreshing is None:
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
        return seen[0]

    async def refreshed(self) -> None:
        """Return once the background read of the epoch a request started, if any, has finished."""
        task = self._refreshing
        if task is not None:
            await asyncio.shield(task)

    async def _refresh(self) -> None:
        try:
            await run_in_threadpool(self._refresh_now)
        except Exception as exc:  # noqa: BLE001 - the database is away: keep serving, the next request retries
            log.warning("reading the detections epoch failed; serving the last one read", error=str(exc)[:200])
        finally:
            self._refreshing = None

    def _refresh_now(self) -> None:
        """Read the epoch; when it moved, render the pages requested lately at it, then serve it."""
        before, commits = self._epoch, local_commits()
        bodies = {}
        with self.sessions() as session:
            epoch = current_epoch(session)
            if before is None or epoch != before[0]:
                with self._lock:
                    hot = list(self._hot.items())
                for key, render in hot:
                    try:
                        bodies[key] = render(session)
                    except Exception as exc:  # noqa: BLE001 - that page is rendered on its next request instead
                        log.warning("re-rendering a queue page failed", error=str(exc)[:200])
        with self._lock:
            if self._epoch is not before:  # a request read the epoch meanwhile: its reading stands
                return
            if before is None or epoch != before[0]:
                self._pages.clear()
            for key, body in bodies.items():
                self._pages[(epoch, key)] = body
            self._epoch = (epoch, self.clock(), commits)

    def _render(self, key: Hashable, render: Render, epoch: int | None) -> bytes:
        """Render ``key``: at the served ``epoch`` when given, else after reading the epoch and serving it. May
        raise (e.g. a bad cursor): nothing is cached then."""
        with self.sessions() as session:
            if epoch is None:
                commits = local_commits()  # before the read: a commit racing with it makes the next request re-read
                epoch = current_epoch(session)
                with self._lock:
                    if self._epoch is None or self._epoch[0] != epoch:
                        self._pages.clear()  # pages of older epochs are never served again
                    self._epoch = (epoch, self.clock(), commits)
                    self._hot[key] = render
                    body = self._pages.get((epoch, key))
                if body is not None:
                    return body
            body = render(session)
            with self._lock:
                self._pages[(epoch, key)] = body
        return body
