"""Rate limits as sliding windows: at most ``limit`` hits of one key in any ``window`` seconds.

Two backends behind one interface: :class:`MemoryLimiter` (one process) and :class:`RedisLimiter` (shared by
every API process through Redis). When Redis does not answer, :class:`RedisLimiter` falls back to its own
in-process windows (it fails *over*, neither open nor closed: each process still enforces the limit on its
own, so two processes admit at most twice the limit) and retries Redis after :data:`REDIS_RETRY_SECONDS`.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from typing import Protocol

from distillguard.detector.logs import get_logger

log = get_logger("api")

WINDOW_SECONDS = 60.0
REDIS_TIMEOUT_SECONDS = 0.25  # connect and reply timeout: a dead Redis must not stall requests
MAX_IDLE_KEYS = 10_000  # past this many keys, the in-process windows drop keys with no hit in the window
REDIS_RETRY_SECONDS = 5.0  # after a Redis failure, in-process windows for this long before trying again

# KEYS[1] the window's sorted set; ARGV: limit, window (ms), member, count (1: record a hit, 0: only look).
# Times come from the Redis server, so processes with skewed clocks share one window. Returns the wait in ms (0: allowed).
_SLIDE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
end
return 0
"""


def _seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


class Limiter(Protocol):
    """Sliding-window limits keyed by strings."""

    async def hit(self, key: str, limit: int, window: float = WINDOW_SECONDS) -> int:
        """Record a hit of ``key`` unless it had ``limit`` in the last ``window`` seconds: 0 if recorded,
        else whole seconds until one is allowed."""
        ...

    async def blocked(self, key: str, limit: int, window: float = WINDOW_SECONDS) -> int:
        """Like :meth:`hit` without recording: 0 if a hit would be allowed, else seconds to wait."""
        ...


class MemoryLimiter:
    """Windows kept in this process: the hit times of each key (at most ``limit`` of them)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._swept_at = float("-inf")

    def slide(self, key: str, limit: int, window: float, record: bool) -> int:
        """The window of ``key``: record a hit (``record``) unless full; 0 if allowed, else seconds to wait."""
        now = time.monotonic()
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            return _seconds(hits[0] + window - now)
        if record:
            hits.append(now)
            if len(self._hits) > MAX_IDLE_KEYS and now - self._swept_at >= window:  # at most once a window
                self._swept_at = now
                self._sweep(now - window)
        elif not hits:
            del self._hits[key]  # keys of callers gone quiet do not pile up
        return 0

    def _sweep(self, before: float) -> None:
        """Drop the keys whose last hit is older than ``before`` (addresses that stopped calling)."""
        for key in [k for k, hits in self._hits.items() if hits[-1] <= before]:
            del self._hits[key]

    async def hit(self, key: str, limit: int, window: float = WINDOW_SECONDS) -> int:
        """See :meth:`Limiter.hit` (runs on the event loop: no lock needed)."""
        return self.slide(key, limit, window, record=True)

    async def blocked(self, key: str, limit: int, window: float = WINDOW_SECONDS) -> int:
        """See :meth:`Limiter.blocked`."""
        return self.slide(key, limit, window, record=False)


class RedisLimiter:
    """Windows in Redis sorted sets, shared by every process using ``url``; in-process while Redis is down."""

    def __init__(self, url: str, prefix: str) -> None:
        from redis.asyncio import Redis  # the api extra; imported only when configured

        self._redis = Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
        )
        self._script = self._redis.register_script(_SLIDE)
        self._fallback = MemoryLimiter()
        self._down_until = 0.0
        self._prefix = prefix

    async def _slide(self, key: str, limit: int, window: float, record: bool) -> int:
        if time.monotonic() >= self._down_until:
            try:
                args: list[str | int] = [limit, int(window * 1000), uuid.uuid4().hex, "1" if record else "0"]
                wait_ms = await self._script(keys=[self._prefix + key], args=args)
                return 0 if not wait_ms else _seconds(int(wait_ms) / 1000)
            except Exception as exc:  # noqa: BLE001 - any Redis failure (connection, timeout, reply)
                self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
                log.warning("rate-limit store unreachable; limiting in this process", error=str(exc)[:200])
        return self._fallback.slide(key, limit, window, record)

    async def hit(self, key: str, limit: int, window: float = WINDOW_SECONDS) -> int:
        """See :meth:`Limiter.hit`."""
        return await self._slide(key, limit, window, record=True)

    async def blocked(self, key: str, limit: int, window: float = WINDOW_SECONDS) -> int:
        """See :meth:`Limiter.blocked`."""
        return await self._slide(key, limit, window, record=False)

    async def close(self) -> None:
        """Close the Redis connections."""
        await self._redis.aclose()


def make_limiter(redis_url: str | None, prefix: str) -> Limiter:
    """A :class:`RedisLimiter` on ``redis_url`` (keys starting with ``prefix``), or a :class:`MemoryLimiter` when it is unset."""
    return RedisLimiter(redis_url, prefix) if redis_url else MemoryLimiter()
