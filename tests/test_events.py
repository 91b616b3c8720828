"""The api-event/v1 contract: the shared examples, the vendored copy, and property tests of the parser."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distillguard.detector.events import (
    BadLine,
    Event,
    EventError,
    encode_event,
    event_from_fields,
    parse_event,
    read_events,
    schema_text,
)
from tests.fuzzing import budget

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "contracts"


@pytest.fixture(scope="module")
def examples() -> Path:
    if not SHARED.exists():
        pytest.skip(f"../shared not present at {SHARED}")
    return SHARED / "examples"


def test_vendored_schema_is_identical_to_shared() -> None:
    if not SHARED.exists():
        pytest.skip(f"../shared not present at {SHARED}")
    assert schema_text() == (SHARED / "api-event.schema.json").read_text("utf-8")


def test_valid_examples_parse(examples: Path) -> None:
    events = [parse_event(line) for line in (examples / "valid.jsonl").read_bytes().splitlines() if line.strip()]
    assert [e.account_id for e in events] == ["acct_7f3a91", "acct_c02b44"]
    assert events[1].prompt is None and events[1].ip.startswith("2001:db8")
    assert events[1].tools == ["bash", "edit_file"]


EXPECTED_FIELDS = ["ts", "account_id", "input_tokens", "schema_version", "verification_path", "$", "tools", "$"]


def test_invalid_examples_name_the_field(examples: Path) -> None:
    lines = [line for line in (examples / "invalid.jsonl").read_bytes().splitlines() if line.strip()]
    fields = []
    for line in lines:
        with pytest.raises(EventError) as info:
            parse_event(line)
        assert info.value.reason
        fields.append(info.value.field)
    assert fields == EXPECTED_FIELDS


def test_read_events_streams_gzip_and_reports_line_numbers(tmp_path: Path, examples: Path) -> None:
    body = (examples / "valid.jsonl").read_bytes() + b"\n" + (examples / "invalid.jsonl").read_bytes()
    path = tmp_path / "mixed.jsonl.gz"
    path.write_bytes(gzip.compress(body))
    out = list(read_events(path, errors="include"))
    good = [x for x in out if isinstance(x, Event)]
    bad = [x for x in out if isinstance(x, BadLine)]
    assert len(good) == 2 and len(bad) == 8
    assert bad[0].lineno == 4 and bad[0].error.field == "ts"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)


@settings(max_examples=budget(300), deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_escape_as_other_exceptions(raw: bytes) -> None:
    try:
        parse_event(raw)
    except EventError as err:
        assert err.field and err.reason


@settings(max_examples=budget(300), deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(Event.__struct_fields__)), _json, max_size=12))
def test_arbitrary_json_objects_are_events_or_named_errors(obj: dict) -> None:
    try:
        ev = parse_event(json.dumps(obj))
    except EventError as err:
        assert err.field == "$" or err.field.split("[")[0].split(".")[0] in Event.__struct_fields__
    else:
        assert parse_event(encode_event(ev)) == ev


def test_fields_held_as_python_objects_are_validated_like_json() -> None:
    fields = {
        "schema_version": 1,
        "event_id": "e1",
        "ts": datetime(2026, 3, 2, tzinfo=UTC),
        "account_id": "a",
        "api_key_id": "k",
        "ip": "192.0.2.1",
        "model": "m",
        "input_tokens": 1,
        "output_tokens": 2,
        "status": 200,
    }
    assert event_from_fields(fields) == parse_event(json.dumps(fields | {"ts": "2026-03-02T00:00:00Z"}))
    assert event_from_fields(fields | {"input_tokens": "7"}, strict=False).input_tokens == 7
    for change, field in (
        ({"input_tokens": "7"}, "input_tokens"),
        ({"model": "m" * 129}, "model"),
        ({"ts": datetime(2026, 3, 2)}, "ts"),
        ({"billing_country": "gb"}, "billing_country"),
        ({"tools": ["t", 3]}, "tools[1]"),
    ):
        with pytest.raises(EventError) as info:
            event_from_fields(fields | change)
        assert info.value.field == field, info.value
    with pytest.raises(EventError, match="account_id: required field is missing"):
        event_from_fields({k: v for k, v in fields.items() if k != "account_id"})
