"""A tiny event factory for hand-built scenarios in tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import msgspec

from distillguard.detector.events import Event, parse_event

T0 = datetime(2026, 3, 2, tzinfo=UTC)
_ids = itertools.count()


def ev(account: str, minutes: float = 0.0, **fields) -> Event:
    """A valid event for ``account`` at T0 + minutes; any api-event/v1 field can be overridden."""
    base = {
        "schema_version": 1,
        "event_id": f"e{next(_ids)}",
        "ts": (T0 + timedelta(minutes=minutes)).isoformat(),
        "account_id": account,
        "api_key_id": f"key-{account}",
        "ip": "203.0.113.7",
        "model": "frontier-4",
        "input_tokens": 40,
        "output_tokens": 300,
        "status": 200,
    }
    base.update(fields)
    return parse_event(msgspec.json.encode(base))
