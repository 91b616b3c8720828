"""The ``api-event/v1`` contract: a typed event, a validating parser and streaming JSON Lines readers.

The vendored JSON Schema (``detector/schema/api-event.schema.json``) is the contract; :class:`Event`
mirrors it field for field so msgspec validates types, ranges, enums and patterns while decoding,
in C. Unknown fields are ignored. Every rejection is an :class:`EventError` naming the field.
Integers are bounded to int64 (the schema sets no maximum; no gateway counter exceeds it, and larger
ones cannot be aggregated as float64).
"""

from __future__ import annotations

import enum
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, TypeVar, cast, overload

import msgspec
from isal import igzip, isal_zlib
from msgspec import Meta

SCHEMA_RESOURCE = "schema/api-event.schema.json"
T = TypeVar("T")

Str64 = Annotated[str, Meta(min_length=1, max_length=64)]
Str128 = Annotated[str, Meta(min_length=1, max_length=128)]
OptStr128 = Annotated[str, Meta(max_length=128)] | None
Country = Annotated[str, Meta(pattern=r"^[A-Z]{2}\Z")] | None  # msgspec searches: "$" would let "GB\n" through
NonNeg = Annotated[int, Meta(ge=0, le=2**63 - 1)]
AwareTime = Annotated[datetime, Meta(tz=True)]

VerificationPath = Literal["standard", "education", "research", "startup", "enterprise"]
StopReason = Literal["end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal", "error"]


class Event(msgspec.Struct, kw_only=True, frozen=True, cache_hash=False):
    """One completed API request (``api-event/v1``)."""

    schema_version: Literal[1]
    event_id: Str64
    ts: AwareTime
    account_id: Str128
    api_key_id: Str128
    ip: Annotated[str, Meta(max_length=45)]
    model: Str128
    input_tokens: NonNeg
    output_tokens: NonNeg
    status: Annotated[int, Meta(ge=100, le=599)]
    org_id: OptStr128 = None
    account_created_at: AwareTime | None = None
    verification_path: VerificationPath | None = None
    billing_country: Country = None
    payment_fingerprint: OptStr128 = None
    asn: NonNeg | None = None
    ip_country: Country = None
    user_agent: Annotated[str, Meta(max_length=1024)] | None = None
    tls_fingerprint: OptStr128 = None
    endpoint: Annotated[str, Meta(max_length=64)] | None = None
    conversation_id: OptStr128 = None
    turn_index: NonNeg | None = None
    system_prompt: Annotated[str, Meta(max_length=200_000)] | None = None
    prompt: Annotated[str, Meta(max_length=1_000_000)] | None = None
    max_tokens: NonNeg | None = None
    temperature: Annotated[float, Meta(ge=0)] | None = None
    tools: list[Annotated[str, Meta(max_length=128)]] | None = None
    reasoning_requested: bool | None = None
    stop_reason: StopReason | None = None
    latency_ms: NonNeg | None = None


@dataclass(frozen=True, slots=True)
class EventError(Exception):
    """Why one raw message is not a valid event. ``field`` is a JSON path such as ``ts`` or ``tools[0]``."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


_DECODER = msgspec.json.Decoder(Event)
_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_FLOAT_CONSTANTS = re.compile(rb"(?<![\"\w])(NaN|-?Infinity)(?![\"\w])")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_REASON = 200  # characters: msgspec echoes rejected enum values, which may be megabytes


def _field_of(path: str | None) -> str:
    if not path:
        return "$"
    return path.lstrip(".") or "$"


def _error(field: str, reason: str) -> EventError:
    return EventError(field, reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "\u2026")


class _Constant:
    """Stands for a NaN or Infinity literal while locating it."""


def _find(items: list[tuple[str, object]], bad: Callable[[object], bool]) -> str | None:
    """The path of the first value (depth first, in order) for which ``bad`` holds."""
    stack = items[::-1]
    while stack:
        path, value = stack.pop()
        if bad(value):
            return path
        if isinstance(value, list):
            stack.extend((f"{path}[{i}]", value[i]) for i in range(len(value) - 1, -1, -1))
        elif isinstance(value, dict):
            stack.extend((f"{path}.{k}", value[k]) for k in reversed(list(value)))
    return None


def _locate(raw: bytes, bad: Callable[[object], bool]) -> str | None:
    """Where a message the strict decoder refused holds a value for which ``bad`` holds: its path inside a
    known field (``prompt``, ``tools[2]``), ``$`` when elsewhere, None when nowhere or undecodable even
    leniently (invalid UTF-8 decoded as lone surrogates, NaN and Infinity as :class:`_Constant`)."""
    try:
        doc = json.loads(bytes(raw).decode("utf-8", "surrogateescape"), parse_constant=lambda _: _Constant())
    except (ValueError, RecursionError):
        return None
    known = [(k, doc[k]) for k in Event.__struct_fields__ if k in doc] if isinstance(doc, dict) else []
    path = _find(known, bad)
    if path is None and _find([("$", doc)], bad) is not None:
        path = "$"
    return path


def _has_surrogate(value: object) -> bool:
    """A string holding a lone surrogate: a ``\\ud800`` escape, or an invalid UTF-8 byte decoded by ``_locate``."""
    return isinstance(value, str) and not value.isascii() and _SURROGATE.search(value) is not None


# Why strict JSON decoding failed where lenient decoding finds the value: (gate on the raw bytes, test of a value, reason).
_LENIENT = (
    (_SURROGATE_ESCAPE, _has_surrogate, "string holds a lone UTF-16 surrogate"),
    (_FLOAT_CONSTANTS, lambda v: isinstance(v, _Constant), "NaN and Infinity are not JSON numbers"),
)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _not_utf8(raw: bytes) -> EventError:
    """The error for a message with invalid UTF-8, naming the field that holds it."""
    return EventError(_locate(raw, _has_surrogate) or "$", "string is not valid UTF-8")


def _invalid(exc: msgspec.ValidationError) -> EventError:
    """The error naming the field a msgspec validation error is about."""
    m = _PATH.match(str(exc))
    assert m is not None
    reason = m.group("msg")
    if "Object missing required field" in reason:
        missing = reason.split("`")[1] if "`" in reason else "$"
        return EventError(missing, "required field is missing")
    return _error(_field_of(m.group("path")), reason)


def event_from_fields(fields: Mapping[str, object], *, strict: bool = True) -> Event:
    """Validate field values held as Python objects (times as ``datetime``) as an event, as :func:`parse_event`
    validates JSON; with ``strict=False``, numbers and booleans written as strings are read as such. Raise
    :class:`EventError` naming the offending field."""
    try:
        return msgspec.convert(fields, Event, strict=strict)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None


def parse_with(decoder: msgspec.json.Decoder[T], raw: bytes | str) -> T:
    """Decode one JSON object with ``decoder`` (of :class:`Event`, or of a struct of some of its fields);
    raise :class:`EventError` naming the offending field."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None
    except msgspec.DecodeError as exc:
        if not _is_utf8(raw):  # msgspec >= 0.23 reports invalid UTF-8 as a DecodeError, earlier ones as below
            raise _not_utf8(raw) from None
        for gate, bad, why in _LENIENT:
            where = _locate(raw, bad) if gate.search(raw) else None
            if where is not None:
                raise EventError(where, why) from None
        raise _error("$", f"not valid JSON: {exc}") from None
    except UnicodeDecodeError:
        raise _not_utf8(raw) from None
    except RecursionError:
        raise EventError("$", "JSON nested too deeply to decode") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise _error("$", f"undecodable message: {exc.__class__.__name__}: {exc}") from None


def parse_event(raw: bytes | str) -> Event:
    """Decode and validate one JSON object; raise :class:`EventError` naming the offending field."""
    return parse_with(_DECODER, raw)


def encode_event(event: Event) -> bytes:
    """Serialise an event back to compact JSON (round-trips through :func:`parse_event`)."""
    return msgspec.json.encode(event)


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line of a JSON Lines file that did not parse."""

    lineno: int
    error: EventError
    raw: bytes


GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
GZIP_BUFFER = 1 << 20  # bytes of decompressed text read ahead: a truncated stream loses at most this tail
# isal's stub declares ``isal_zlib.error: Exception`` (an instance); at run time it is the exception class.
_ISAL_ERROR = cast(type[Exception], isal_zlib.error)


class EventFileError(ValueError):
    """An events file cannot be read through: unreadable, or a truncated or corrupt gzip stream.
    ``lineno`` is the last line read before the error (0: none); the lines before it were yielded."""

    def __init__(self, path: str | Path, lineno: int, reason: str) -> None:
        where = f" after line {lineno:,}" if lineno else ""
        super().__init__(f"{path}: {reason}{where}")
        self.path, self.lineno, self.reason = path, lineno, reason


def _stream_error(exc: Exception) -> str:
    """Why a file stopped being readable mid-stream."""
    if isinstance(exc, EOFError):
        return "truncated gzip stream"
    if isinstance(exc, igzip.BadGzipFile | isal_zlib.error):
        return f"corrupt gzip stream ({exc})"
    return f"read error ({exc.__class__.__name__}: {exc})"


def iter_lines(path: str | Path, progress: Callable[[int], None] | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` for non-blank lines, streaming (a UTF-8 byte-order mark opening the
    file is dropped). ``progress`` is called with the bytes of the file consumed so far (compressed bytes for
    gzip) every 8192 lines and at the end; never for a pipe (``/dev/stdin``), which has no position. gzip is
    read with ISA-L (``isal``), about twice as fast as the standard library's zlib. Raise :class:`EventFileError` when the file cannot be opened or read through."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise EventFileError(path, 0, f"cannot read ({exc.strerror or exc})") from None
    lineno = 0
    try:
        gz = raw.peek(len(GZIP_MAGIC))[: len(GZIP_MAGIC)] == GZIP_MAGIC
        if not raw.seekable():
            progress = None
        fh = io.BufferedReader(igzip.IGzipFile(fileobj=raw), buffer_size=GZIP_BUFFER) if gz else raw
        for lineno, line in enumerate(fh, 1):
            if progress is not None and not lineno & 8191:
                progress(raw.tell())
            line = line.strip()
            if lineno == 1 and line.startswith(UTF8_BOM):
                line = line[len(UTF8_BOM) :].strip()
            if line:
                yield lineno, line
        if progress is not None:
            progress(raw.tell())
    except (OSError, EOFError, _ISAL_ERROR) as exc:
        raise EventFileError(path, lineno, _stream_error(exc)) from None
    finally:
        raw.close()


class ReadErrors(enum.StrEnum):
    """What :func:`read_events` does with a line that is not a valid event."""

    SKIP = "skip"  # yield only the valid events
    INCLUDE = "include"  # yield a BadLine in its place
    RAISE = "raise"  # raise BadLineError


class BadLineError(ValueError):
    """A line of an events file is not a valid event (:func:`read_events` with ``errors="raise"``)."""

    def __init__(self, path: str | Path, bad: BadLine) -> None:
        super().__init__(f"{path}:{bad.lineno}: {bad.error}")
        self.bad = bad


@overload
def read_events(
    path: str | Path,
    progress: Callable[[int], None] | None = ...,
    *,
    errors: Literal["skip", "raise", ReadErrors.SKIP, ReadErrors.RAISE] = ...,
    on_bad: Callable[[BadLine], None] | None = ...,
) -> Iterator[Event]: ...
@overload
def read_events(
    path: str | Path, progress: Callable[[int], None] | None = ..., *, errors: Literal["include", ReadErrors.INCLUDE]
) -> Iterator[Event | BadLine]: ...
def read_events(
    path: str | Path,
    progress: Callable[[int], None] | None = None,
    *,
    errors: str = ReadErrors.SKIP,
    on_bad: Callable[[BadLine], None] | None = None,
) -> Iterator[Event] | Iterator[Event | BadLine]:
    """Stream a JSON Lines file (plain or gzip) as events. Lines that are not valid events are skipped
    (``errors="skip"``; each passed to ``on_bad`` when given), yielded as :class:`BadLine` (``"include"``)
    or raised as :class:`BadLineError`. Raise :class:`EventFileError` when the file cannot be read through."""
    mode = ReadErrors(errors)
    decode = _DECODER.decode
    for lineno, line in iter_lines(path, progress):
        try:
            yield decode(line)
        except Exception:  # noqa: BLE001 - any failure takes the slow path, which names the field
            try:
                yield parse_event(line)
            except EventError as err:
                if mode is ReadErrors.INCLUDE:
                    yield BadLine(lineno, err, line)
                elif mode is ReadErrors.RAISE:
                    raise BadLineError(path, BadLine(lineno, err, line)) from None
                elif on_bad is not None:
                    on_bad(BadLine(lineno, err, line))


def schema_text() -> str:
    """The vendored ``api-event/v1`` JSON Schema."""
    return resources.files("distillguard.detector").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
