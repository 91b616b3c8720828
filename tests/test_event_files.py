"""Reading events files (:func:`iter_lines`, :func:`read_events`): line numbers, a byte-order mark, progress,
gzip, the three ways of treating a bad line, and files that cannot be read through; and, at the parser's edges,
which field an error names, identifier lengths, reasons cut to 200 characters and messages that are not bytes.
Written to kill surviving mutants (docs/mutation.md); the parser's fuzzing is test_events.py and test_events_fuzz.py."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from distillguard.detector.events import (
    BadLine,
    BadLineError,
    Event,
    EventError,
    EventFileError,
    iter_lines,
    parse_event,
    read_events,
)
from tests.event_strategies import encode, minimal_event

BOM = b"\xef\xbb\xbf"
PROGRESS_EVERY = 8192  # lines between two progress calls (iter_lines' documented rhythm)
MIB = 1 << 20
LINE = b"x" * 63 + b"\n"  # 64 bytes: a whole number of lines per MiB


def _event(n: int) -> bytes:
    return encode(minimal_event(event_id=f"e{n}"))


def _write(path: Path, lines: list[bytes], zipped: bool = False) -> Path:
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data, mtime=0) if zipped else data)
    return path


@pytest.mark.parametrize("zipped", [False, True], ids=["plain", "gzip"])
def test_lines_are_numbered_in_the_file_and_blank_ones_skipped(tmp_path: Path, zipped: bool) -> None:
    path = _write(tmp_path / "e.jsonl", [_event(1), b"", b"  \t", _event(2), b"\r"], zipped)
    assert list(iter_lines(path)) == [(1, _event(1)), (4, _event(2))]


def test_a_byte_order_mark_opening_the_file_is_dropped(tmp_path: Path) -> None:
    path = _write(tmp_path / "bom.jsonl", [BOM + _event(1), _event(2)])
    assert [e.event_id for e in read_events(path)] == ["e1", "e2"]
    assert list(iter_lines(_write(tmp_path / "bom-only.jsonl", [BOM, _event(3)]))) == [(2, _event(3))]


def test_a_byte_order_mark_elsewhere_is_a_bad_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "bom2.jsonl", [_event(1), BOM + _event(2)])
    got = list(read_events(path, errors="include"))
    assert got[0] == parse_event(_event(1))
    assert isinstance(got[1], BadLine) and got[1].lineno == 2 and got[1].raw == BOM + _event(2)


@pytest.mark.parametrize("zipped", [False, True], ids=["plain", "gzip"])
def test_progress_reports_the_bytes_read_every_8192_lines_and_at_the_end(tmp_path: Path, zipped: bool) -> None:
    lines = [b"{}"] * (2 * PROGRESS_EVERY + 5)
    path = _write(tmp_path / "p.jsonl", lines, zipped)
    seen: list[int] = []
    assert len(list(iter_lines(path, progress=seen.append))) == len(lines)
    size = path.stat().st_size
    assert len(seen) == 3 and seen[-1] == size
    if not zipped:  # plain: exactly the bytes of the lines read so far ("{}\n" each)
        assert seen == [3 * PROGRESS_EVERY, 3 * 2 * PROGRESS_EVERY, size]


def test_skip_include_and_raise_treat_a_bad_line_each_their_way(tmp_path: Path) -> None:
    bad = encode(minimal_event(status=99))
    path = _write(tmp_path / "mixed.jsonl", [_event(1), bad, _event(3)])
    why = EventError("status", "Expected `int` >= 100")
    reported: list[BadLine] = []
    assert [e.event_id for e in read_events(path, on_bad=reported.append)] == ["e1", "e3"]
    assert reported == [BadLine(2, why, bad)]
    assert list(read_events(path, errors="include")) == [
        parse_event(_event(1)),
        BadLine(2, why, bad),
        parse_event(_event(3)),
    ]
    with pytest.raises(BadLineError) as raised:
        list(read_events(path, errors="raise"))
    assert str(raised.value) == f"{path}:2: status: Expected `int` >= 100" and raised.value.bad == BadLine(2, why, bad)


def test_a_missing_file_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "absent.jsonl.gz"
    with pytest.raises(EventFileError) as raised:
        list(iter_lines(path))
    assert (raised.value.path, raised.value.lineno) == (path, 0)
    assert str(raised.value) == f"{path}: cannot read (No such file or directory)"


def test_a_corrupt_gzip_stream_names_the_last_line_read(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(b"".join(_event(n) + b"\n" for n in range(3)), mtime=0))
    data[-8:-4] = bytes(4)  # a wrong CRC
    path = tmp_path / "crc.jsonl.gz"
    path.write_bytes(data)
    with pytest.raises(EventFileError) as raised:
        list(iter_lines(path))
    assert raised.value.reason.startswith("corrupt gzip stream (") and raised.value.lineno == 0
    assert str(raised.value) == f"{path}: {raised.value.reason}"


def test_a_truncated_gzip_stream_yields_its_lines_and_loses_at_most_1_mib(tmp_path: Path) -> None:
    lines = 7 * MIB // (2 * len(LINE))  # 3.5 MiB of text
    whole = gzip.compress(LINE * lines, mtime=0)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[:-8])  # no trailer: the stream ends early
    read: list[tuple[int, bytes]] = []
    with pytest.raises(EventFileError) as raised:
        read.extend(iter_lines(path))
    assert raised.value.reason == "truncated gzip stream"
    assert str(raised.value) == f"{path}: truncated gzip stream after line {len(read):,}"
    assert read == [(n, LINE.strip()) for n in range(1, len(read) + 1)]
    assert (lines - len(read)) * len(LINE) <= MIB


@pytest.mark.parametrize(
    ("tools", "field"),
    [
        (["a\\ud800", "b"], "tools[0]"),
        (["a", "b\\ud800"], "tools[1]"),
        (["\\ud800", "\\udc00", "c"], "tools[0]"),
        (["a", "b", "\\udfff"], "tools[2]"),
    ],
)
def test_the_first_bad_value_of_a_list_is_named(tools: list[str], field: str) -> None:
    raw = (
        json.dumps(minimal_event()).encode()[:-1]
        + b', "tools": ['
        + b", ".join(b'"' + t.encode() + b'"' for t in tools)
        + b"]}"
    )
    with pytest.raises(EventError) as raised:
        parse_event(raw)
    assert (raised.value.field, raised.value.reason) == (field, "string holds a lone UTF-16 surrogate")


def _with(**raw_fields: bytes) -> bytes:
    """A valid event's JSON with ``raw_fields`` appended as they are (raw JSON values)."""
    extra = b"".join(b', "' + k.encode() + b'": ' + v for k, v in raw_fields.items())
    return json.dumps(minimal_event()).encode()[:-1] + extra + b"}"


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        (_with(prompt=b'"\\ud800"', tools=b'["\\udc00"]'), "prompt", "string holds a lone UTF-16 surrogate"),
        (_with(tools=b'["\\udc00"]', prompt=b'"\\ud800"'), "prompt", "string holds a lone UTF-16 surrogate"),
        (_with(unknown=b'"\\ud800"'), "$", "string holds a lone UTF-16 surrogate"),
        (_with(unknown=b"NaN"), "$", "NaN and Infinity are not JSON numbers"),
        (_with(temperature=b"Infinity", unknown=b"NaN"), "temperature", "NaN and Infinity are not JSON numbers"),
    ],
    ids=["schema-order", "schema-order-not-text-order", "unknown-field-surrogate", "unknown-field-nan", "known-first"],
)
def test_the_first_bad_field_in_schema_order_is_named_else_the_whole_message(
    raw: bytes, field: str, reason: str
) -> None:
    with pytest.raises(EventError) as raised:
        parse_event(raw)
    assert (raised.value.field, raised.value.reason) == (field, reason)


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"event_id": ""}, "event_id", "Expected `str` of length >= 1"),
        ({"event_id": "e" * 65}, "event_id", "Expected `str` of length <= 64"),
        ({"account_id": ""}, "account_id", "Expected `str` of length >= 1"),
        ({"account_id": "a" * 129}, "account_id", "Expected `str` of length <= 128"),
        ({"model": ""}, "model", "Expected `str` of length >= 1"),
    ],
)
def test_identifiers_outside_their_lengths_are_refused(fields: dict[str, str], field: str, reason: str) -> None:
    with pytest.raises(EventError) as raised:
        parse_event(encode(minimal_event(**fields)))
    assert (raised.value.field, raised.value.reason) == (field, reason)


def test_identifiers_at_their_length_limits_are_accepted() -> None:
    event = parse_event(
        encode(minimal_event(event_id="e" * 64, account_id="a" * 128, api_key_id="k", org_id="o" * 128))
    )
    assert (event.event_id, event.account_id, event.api_key_id, event.org_id) == ("e" * 64, "a" * 128, "k", "o" * 128)


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"org_id": "o" * 129}, "org_id", "Expected `str` of length <= 128"),
        ({"input_tokens": -1}, "input_tokens", "Expected `int` >= 0"),
        ({"asn": -1}, "asn", "Expected `int` >= 0"),
    ],
)
def test_optional_strings_and_counts_outside_their_ranges_are_refused(
    fields: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(EventError) as raised:
        parse_event(encode(minimal_event(**fields)))
    assert (raised.value.field, raised.value.reason) == (field, reason)


def test_events_and_their_errors_are_immutable_and_events_are_built_by_keyword() -> None:
    event = parse_event(encode(minimal_event()))
    with pytest.raises(AttributeError):
        event.account_id = "someone else"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Event(*minimal_event().values())  # type: ignore[misc]  # every required field, by position
    error = EventError("status", "Expected `int` >= 100")
    with pytest.raises(AttributeError):
        error.field = "ts"  # type: ignore[misc]


ENUM_REFUSAL = "Invalid enum value '{}'"  # msgspec's reason for a stop_reason outside the schema's
REASON_CHARS = 200  # the documented length a reason is cut to


@pytest.mark.parametrize(
    "length", [REASON_CHARS - len(ENUM_REFUSAL.format("")), REASON_CHARS - len(ENUM_REFUSAL.format("")) + 1]
)
def test_a_reason_is_cut_to_200_characters_ending_in_an_ellipsis(length: int) -> None:
    full = ENUM_REFUSAL.format("x" * length)
    with pytest.raises(EventError) as raised:
        parse_event(encode(minimal_event(stop_reason="x" * length)))
    assert raised.value.reason == (full if len(full) <= REASON_CHARS else full[: REASON_CHARS - 1] + "\u2026")
    assert len(raised.value.reason) == REASON_CHARS


@pytest.mark.parametrize("value", [None, 12345], ids=["kafka-tombstone", "int"])
def test_a_message_that_is_not_bytes_is_an_event_error(value: object) -> None:
    with pytest.raises(EventError) as raised:
        parse_event(value)  # type: ignore[arg-type]
    kind = type(value).__name__
    assert (raised.value.field, raised.value.reason) == (
        "$",
        f"undecodable message: TypeError: a bytes-like object is required, not '{kind}'",
    )


def test_a_bad_line_is_an_immutable_value() -> None:
    bad = BadLine(2, EventError("status", "Expected `int` >= 100"), b"{}")
    assert {bad: "seen"}[BadLine(2, EventError("status", "Expected `int` >= 100"), b"{}")] == "seen"
    with pytest.raises(AttributeError):
        bad.lineno = 3  # type: ignore[misc]
