"""Per-token rate limiting: a token bucket refilled at the configured requests per minute."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """Token buckets keyed by API token id; :meth:`check` returns 0 when allowed, else seconds to wait."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: int) -> int:
        """Take one request from ``key``'s bucket; 0 if allowed, else whole seconds until one is available."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))
