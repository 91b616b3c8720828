"""What every adapter shares: reading times, numbers and addresses the way logs write them, hashing text,
and checking a built event against the contract.

An adapter raises :class:`~distillguard.detector.events.EventError` naming the *source* field at fault
(``request.model``, ``startTime``); :func:`validated` names the ``api-event/v1`` field when the event built from a
line breaks the contract (a model name over 128 characters).
"""

from __future__ import annotations

import enum
import hashlib
from datetime import UTC, datetime
from typing import Any, TypeVar

from distillguard.detector.events import Event, EventError, event_from_fields

# Numeric timestamps are epoch seconds; from this value on they are taken as milliseconds (1e11 s is the
# year 5138, 1e11 ms is 1973): gateways write either.
EPOCH_MS_FROM = 1e11
T = TypeVar("T")
HASH_BYTES = 16  # blake2b digest of a hashed prompt or value: 32 hex characters
MISSING = ("", "-")  # how access logs write an absent value (nginx: empty, Envoy: "-")
HTTP_OK = 200
MS_PER_S = 1000


class PromptMode(enum.StrEnum):
    """What becomes of prompt text (``prompt`` and ``system_prompt``) in the events written."""

    KEEP = "keep"  # as sent
    HASH = "hash"  # a blake2b hash of the text: equal prompts stay equal, no text leaves
    DROP = "drop"  # null, as a redacting gateway writes it


def hash_text(text: str) -> str:
    """A stable 32-hex-character hash of ``text`` (blake2b, unsalted)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=HASH_BYTES).hexdigest()


def apply_prompt_mode(text: str | None, mode: PromptMode) -> str | None:
    """``text`` kept, hashed or dropped as ``mode`` says."""
    if text is None or mode is PromptMode.KEEP:
        return text
    return None if mode is PromptMode.DROP else hash_text(text)


def present(value: str | None) -> str | None:
    """``value``, or None for an access log's empty or ``-`` placeholder."""
    return None if value is None or value in MISSING else value


def epoch_time(seconds: float) -> datetime:
    """An epoch timestamp (seconds, or milliseconds from :data:`EPOCH_MS_FROM` on) as a UTC time."""
    return datetime.fromtimestamp(seconds / 1000 if seconds >= EPOCH_MS_FROM else seconds, UTC)


def parse_time(value: str | float | datetime | None, field: str, *, naive_is_utc: bool = False) -> datetime:
    """A log's timestamp as an aware time: RFC 3339 / ISO 8601 text (``T`` or a space between date and
    time), epoch seconds or milliseconds (a number, or a numeric string such as nginx's ``$msec``).
    A time without an offset is refused unless ``naive_is_utc``."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, bool) or value is None or (isinstance(value, str) and value in MISSING):
        raise EventError(field, "required field is missing")
    try:
        if isinstance(value, int | float):
            return epoch_time(value)
        if isinstance(value, str):
            if value.replace(".", "", 1).isdigit():  # nginx's $msec
                return epoch_time(float(value))
            value = datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        raise EventError(field, "not a timestamp (RFC 3339, or epoch seconds or milliseconds)") from None
    if value.tzinfo is None:
        if not naive_is_utc:
            raise EventError(field, "timestamp has no UTC offset")
        value = value.replace(tzinfo=UTC)
    return value


def to_float(value: str | float | None, field: str) -> float | None:
    """A number written as a number or a numeric string (``"0.250"``); None when absent (null, ``""``, ``-``)."""
    if value is None or (isinstance(value, str) and value in MISSING):
        return None
    if isinstance(value, bool):
        raise EventError(field, "not a number: a boolean")
    try:
        number = float(value)
    except ValueError:
        raise EventError(field, "not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise EventError(field, "not a finite number")
    return number


def to_int(value: str | float | None, field: str) -> int | None:
    """A count written as a number or a numeric string (a fraction rounds down); None when absent."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = to_float(value, field)
    return None if number is None else int(number)


def validated(fields: dict[str, Any], *, strict: bool = True) -> Event:
    """The event of these field values once the contract's own validation passes
    (:func:`~distillguard.detector.events.event_from_fields`); raise :class:`EventError` naming the event's
    field, saying it is about the event, when they break the contract."""
    try:
        return event_from_fields(fields, strict=strict)
    except EventError as err:
        raise EventError(err.field, f"{err.reason} (in the api-event/v1 event)") from None


def need(value: T | None, field: str) -> T:
    """``value``, or :class:`EventError` naming ``field`` when it is absent (None or an empty string)."""
    if value is None or value == "":
        raise EventError(field, "required field is missing")
    return value
