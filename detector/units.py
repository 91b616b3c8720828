"""Time units in seconds: event times are epoch seconds, durations are seconds unless named otherwise."""

from __future__ import annotations

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR
