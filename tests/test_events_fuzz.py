"""Fuzzing the api-event/v1 parser and the detector behind it: whatever arrives, ``parse_event`` returns an
:class:`Event` or raises an :class:`EventError` naming the field at fault, and the :class:`Detector` fed
schema-valid but extreme events never raises, refusing with a reason what it cannot count.

(``tests/test_events.py`` covers random bytes up to 512 and JSON objects over the known keys.)
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from distillguard.detector.detector import Detector
from distillguard.detector.events import MAX_REASON, BadLine, Event, EventError, encode_event, parse_event, read_events
from distillguard.detector.model import load_model
from tests.event_strategies import (
    FIELDS,
    INT64_MAX,
    INT_FIELDS,
    T0,
    Bad,
    any_json,
    aware_times,
    bad_messages,
    deep_nesting,
    encode,
    invalid_utf8,
    minimal_event,
    missing_required,
    non_finite_numbers,
    not_json,
    valid_events,
    wrong_values,
)
from tests.fuzzing import budget

FAST = settings(
    max_examples=budget(50), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
BIG = settings(
    max_examples=budget(8), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def outcome(raw: bytes) -> Event | EventError:
    """The parser's answer; any exception other than EventError fails the test where it is raised."""
    try:
        return parse_event(raw)
    except EventError as err:
        assert err.field and err.reason, err
        assert len(err.reason) <= MAX_REASON
        return err


def names(err: EventError, field: str) -> bool:
    """Whether the error names ``field`` (``tools[1]`` names ``tools``)."""
    return err.field == field or err.field.startswith((f"{field}[", f"{field}."))


def refused_at(bad: Bad) -> EventError:
    got = outcome(bad.raw)
    assert isinstance(got, EventError), f"accepted a broken message: {bad.raw[:200]!r}"
    assert names(got, bad.field), f"{got} does not name {bad.field!r} for {bad.raw[:200]!r}"
    return got


# ---- the parser ------------------------------------------------------------------------------------


@FAST
@given(valid_events())
def test_valid_events_parse_and_round_trip(doc: dict) -> None:
    ev = outcome(encode(doc))
    assert isinstance(ev, Event), ev
    assert parse_event(encode_event(ev)) == ev


@FAST
@given(valid_events(), st.data())
def test_bytes_spliced_into_a_valid_event_give_an_event_or_a_named_error(doc: dict, data: st.DataObject) -> None:
    """Mutation fuzzing: overwrite, insert or delete a few bytes anywhere in a valid message."""
    raw = bytearray(encode(doc))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        cut = data.draw(st.integers(0, 3))
        raw[at : at + cut] = data.draw(st.binary(max_size=4))
    got = outcome(bytes(raw))
    if isinstance(got, EventError):
        assert got.field == "$" or got.field.split("[")[0].split(".")[0] in FIELDS


@FAST
@given(valid_events(), st.sampled_from(sorted(FIELDS)), any_json)
def test_any_json_value_in_any_field_gives_an_event_or_names_that_field(doc: dict, name: str, value: object) -> None:
    doc[name] = value
    got = outcome(encode(doc))
    if isinstance(got, EventError):
        assert names(got, name), got
    else:
        assert msgspec.to_builtins(getattr(got, name)) == value or name in ("ts", "account_created_at", "temperature")


@FAST
@given(any_json)
def test_any_json_document_gives_an_event_or_a_named_error(doc: object) -> None:
    got = outcome(encode(doc))
    assert isinstance(got, EventError)  # keys have at most 8 characters: "schema_version" is always missing
    assert got.field == "$" or got.field.split("[")[0] in FIELDS


@FAST
@given(st.one_of(wrong_values(), not_json()))
def test_a_wrong_type_out_of_range_or_unknown_value_names_its_field_and_no_json_object_is_refused(bad: Bad) -> None:
    refused_at(bad)


@FAST
@given(missing_required())
def test_a_missing_required_field_is_named(bad: Bad) -> None:
    assert refused_at(bad).reason == "required field is missing"


@FAST
@given(
    valid_events(),
    st.dictionaries(st.text(max_size=12).filter(lambda k: k not in FIELDS), any_json, min_size=1, max_size=5),
)
def test_unknown_fields_are_ignored(doc: dict, extra: dict) -> None:
    assert parse_event(encode({**extra, **doc})) == parse_event(encode({**doc, **extra})) == parse_event(encode(doc))


@FAST
@given(invalid_utf8())
# Found with msgspec 0.23, which reports invalid UTF-8 as a DecodeError (0.22: UnicodeDecodeError): the reason
# named `$` instead of the field until the parser checked the bytes itself.
@example(
    Bad(
        b'{"schema_version":1,"event_id":"e\xff1","ts":"2026-03-02T09:00:00Z","account_id":"a","api_key_id":"k",'
        b'"ip":"203.0.113.7","model":"m","input_tokens":1,"output_tokens":1,"status":200}',
        "event_id",
    )
)
@example(
    Bad(
        b'{"schema_version":1,"event_id":"e1","ts":"2026-03-02T09:00:00Z","account_id":"a","api_key_id":"k",'
        b'"ip":"203.0.113.7","model":"m","input_tokens":1,"output_tokens":1,"status":200,"prompt":"\xc3("}',
        "prompt",
    )
)
def test_invalid_utf8_or_a_lone_surrogate_inside_a_string_names_its_field(bad: Bad) -> None:
    assert "UTF" in refused_at(bad).reason


@FAST
@given(
    valid_events(),
    st.sampled_from(["prompt", "system_prompt", "user_agent", "model", "account_id", "ip"]),
    st.text(max_size=8),
)
def test_nul_bytes_in_strings_are_kept(doc: dict, name: str, text: str) -> None:
    doc[name] = f"\x00{text}\x00"[:45]
    ev = parse_event(encode(doc))
    assert getattr(ev, name) == doc[name]


@FAST
@given(non_finite_numbers())
def test_nan_infinity_and_numbers_beyond_float_name_their_field(bad: Bad) -> None:
    refused_at(bad)


@FAST
@given(
    valid_events(),
    st.sampled_from(INT_FIELDS),
    st.integers(INT64_MAX + 1, 2**5000) | st.sampled_from([2**63, 2**64, 2**64 + 1, 10**4299]),
)
def test_integers_beyond_int64_name_their_field(doc: dict, name: str, value: int) -> None:
    doc[name] = value
    refused_at(Bad(encode(doc), name))


@FAST
@given(valid_events(), st.sampled_from(["input_tokens", "output_tokens", "max_tokens", "asn"]))
def test_int64_max_is_accepted(doc: dict, name: str) -> None:
    doc[name] = INT64_MAX
    assert getattr(parse_event(encode(doc)), name) == INT64_MAX


@BIG
@given(deep_nesting())
def test_deep_nesting_is_refused_without_a_crash(bad: Bad) -> None:
    refused_at(bad)


def _max_length(name: str) -> int | None:
    t = FIELDS[name].type
    return next((x.max_length for x in (*getattr(t, "types", ()), t) if getattr(x, "max_length", None)), None)


@pytest.mark.parametrize("name", sorted(n for n in FIELDS if _max_length(n)))
@settings(
    max_examples=budget(3), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(char=st.characters(codec="utf-8"))
def test_strings_at_their_length_limit_parse_and_one_more_character_names_the_field(name: str, char: str) -> None:
    limit = _max_length(name)
    doc = {**_EVENT, name: char * limit}
    assert getattr(parse_event(encode(doc)), name) == char * limit
    doc[name] = char * (limit + 1)
    assert str(limit) in refused_at(Bad(encode(doc), name)).reason


_EVENT = minimal_event(input_tokens=40, output_tokens=300)


def test_a_10_mb_prompt_is_refused_naming_the_prompt_and_a_1_mb_one_parses() -> None:
    err = refused_at(Bad(encode({**_EVENT, "prompt": "é" * 5_000_000}), "prompt"))  # 10 MB of UTF-8
    assert "1000000" in err.reason
    assert len(parse_event(encode({**_EVENT, "prompt": "é" * 1_000_000})).prompt) == 1_000_000


def test_a_megabyte_enum_value_gives_a_short_reason() -> None:
    err = refused_at(Bad(encode({**_EVENT, "stop_reason": "é" * 1_000_000}), "stop_reason"))
    assert err.reason.startswith("Invalid enum value") and err.reason.endswith("\u2026")
    assert len(f"{err.field}: {err.reason}".encode()) < 1000  # what the worker puts in the dead letter's header


def test_billing_country_is_two_capitals_and_nothing_else() -> None:
    assert parse_event(encode({**_EVENT, "billing_country": "GB"})).billing_country == "GB"
    refused_at(Bad(encode({**_EVENT, "billing_country": "GB\n"}), "billing_country"))


_TS_EDGES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-23:59",
    "1900-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00Z",
    "2262-04-11T23:47:16.854775Z",
    "2262-04-12T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59.999999+14:00",
    "2026-03-02T09:00:00+14:00",
    "2026-03-02T09:00:00-23:59",
]


@FAST
@given(aware_times(), st.sampled_from(["ts", "account_created_at"]))
def test_timestamps_from_year_1_to_9999_in_any_offset_parse_to_the_same_instant(when: datetime, name: str) -> None:
    ev = parse_event(encode({**_EVENT, name: when.isoformat()}))
    assert getattr(ev, name) == when and getattr(ev, name).utcoffset() == when.utcoffset()


@pytest.mark.parametrize("ts", _TS_EDGES)
def test_timestamp_edges_parse(ts: str) -> None:
    assert parse_event(encode({**_EVENT, "ts": ts})).ts == datetime.fromisoformat(ts)


@FAST
@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.sampled_from(["ts", "account_created_at"]),
)
def test_a_timestamp_without_offset_names_its_field(when: datetime, name: str) -> None:
    assert "timezone" in refused_at(Bad(encode({**_EVENT, name: when.isoformat()}), name)).reason


@settings(
    max_examples=budget(30), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    st.lists(
        st.one_of(valid_events().map(encode), bad_messages().map(lambda b: b.raw).filter(lambda r: b"\n" not in r)),
        min_size=1,
        max_size=8,
    )
)
def test_read_events_reports_every_bad_line_by_number_as_parse_event_does(tmp_path_factory, lines: list[bytes]) -> None:
    path = Path(tmp_path_factory.mktemp("jsonl")) / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    got = list(read_events(path, errors="include"))
    kept = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    assert len(got) == len(kept)
    for item, (n, line) in zip(got, kept, strict=True):
        want = outcome(line.strip())
        if isinstance(want, Event):
            assert item == want
        else:
            assert isinstance(item, BadLine) and item.lineno == n and item.error == want


# ---- the detector ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    return load_model()


_EXTREME_TS = st.one_of(
    st.sampled_from(_TS_EDGES),
    aware_times().map(lambda d: d.isoformat()),
    st.integers(-48 * 60, 48 * 60).map(lambda m: (T0 + timedelta(minutes=m)).isoformat()),
    st.tuples(st.integers(-600, 600), st.integers(-(24 * 60 - 1), 24 * 60 - 1)).map(
        lambda t: (T0 + timedelta(minutes=t[0])).astimezone(timezone(timedelta(minutes=t[1]))).isoformat()
    ),
)
_ODD_STRINGS = st.sampled_from(["", "\x00", "\x00" * 45, "é", "\U0001f600" * 10, " ", "\n"])
_IPS = st.sampled_from(
    [
        "::",
        "0.0.0.0",
        "::1",
        "255.255.255.255",
        "2001:db8::1",
        "fe80::1%eth0",
        "::ffff:192.0.2.1",
        "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
        "",
        "\x00",
        "not an ip",
        "999.999.999.999",
        "1.2.3",
    ]
)
_BIG_INTS = st.sampled_from([0, 1, 2**31, 2**32, 2**53 + 1, 2**62, INT64_MAX])

extreme_events = valid_events(
    ts=_EXTREME_TS,
    account_created_at=st.none() | _EXTREME_TS,
    account_id=st.sampled_from(["a", "b", "\x00", "é" * 128, "x" * 128]),
    event_id=st.text("ab\x00", min_size=1, max_size=2),  # replays
    ip=_IPS,
    input_tokens=_BIG_INTS,
    output_tokens=_BIG_INTS,
    max_tokens=st.none() | _BIG_INTS,
    asn=st.none() | _BIG_INTS,
    turn_index=st.none() | _BIG_INTS,
    latency_ms=st.none() | _BIG_INTS,
    temperature=st.none() | st.sampled_from([0.0, 1e-300, 2.0, 1e300, 1.7976931348623157e308]),
    prompt=st.none()
    | _ODD_STRINGS
    | st.text(max_size=300)
    | st.just("Solve step by step and show all reasoning: " * 40),
    system_prompt=st.none() | _ODD_STRINGS,
    user_agent=st.none() | _ODD_STRINGS,
    tls_fingerprint=st.none() | _ODD_STRINGS,
    org_id=st.none() | _ODD_STRINGS,
    payment_fingerprint=st.none() | _ODD_STRINGS,
    model=st.sampled_from(["m", "\x00", "é" * 128]),
    tools=st.none() | st.lists(_ODD_STRINGS, max_size=3),
).map(lambda d: parse_event(encode(d)))


@settings(
    max_examples=budget(20), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.lists(extreme_events, min_size=1, max_size=20), st.integers(1, 10))
def test_the_detector_never_raises_on_extreme_valid_events_and_says_why_it_refuses_one(
    model, events: list[Event], chunk: int
) -> None:
    det = Detector(model, window_minutes=360)  # fewer re-scorings (each costs ~60 ms of model time)
    refused: list[tuple[Event, str]] = []
    for i in range(0, len(events), chunk):
        det.process(events[i : i + chunk], on_reject=lambda ev, why: refused.append((ev, why)))
    det.flush()
    verdicts, clusters = det.verdicts(), det.clusters()
    stats = det.stats
    assert stats["events"] + stats["duplicates"] + stats["rejected"] == len(events)
    assert len(refused) == stats["rejected"]
    for _, why in refused:
        assert why.startswith("ts ") and len(why) > 10
    assert all(math.isfinite(v.score) and 0 <= v.score <= 1 for v in verdicts)
    assert sum(v.n_requests for v in verdicts) == stats["events"]
    assert {m for c in clusters for m in c.members} <= {v.account_id for v in verdicts}
    again = Detector.restore(det.snapshot(), model)
    assert again.verdicts() == []  # nothing re-scored since the restore
    again.flush()
    assert [v.account_id for v in again.verdicts()] == [v.account_id for v in verdicts]
    assert {s.account_id for s in det.summaries(changed_only=False)} == {v.account_id for v in verdicts}


def test_an_event_before_1970_is_refused_with_a_reason_even_first(model) -> None:
    first = parse_event(encode({**_EVENT, "event_id": "old", "ts": "1900-01-01T00:00:00Z"}))
    later = [
        parse_event(encode({**_EVENT, "event_id": f"e{i}", "ts": (T0 + timedelta(minutes=20 * i)).isoformat()}))
        for i in range(6)
    ]
    det = Detector(model)
    refused: list[tuple[Event, str]] = []
    det.process([first, *later], on_reject=lambda ev, why: refused.append((ev, why)))
    det.flush()
    assert refused == [(first, "ts is before 1970-01-01T00:00:00Z")]
    assert [v.n_requests for v in det.verdicts()] == [6]


def test_a_refused_first_event_does_not_move_the_re_scoring_windows(model) -> None:
    """A message from the year 9999 at the head of the input is refused; it must not push the first window
    boundary to 9999 (which would leave the whole day without re-scoring until the final flush)."""
    day = [
        parse_event(encode({**_EVENT, "event_id": f"e{i}", "ts": (T0 + timedelta(minutes=10 * i)).isoformat()}))
        for i in range(12)
    ]
    future = parse_event(encode({**_EVENT, "event_id": "late", "ts": "9999-12-31T23:59:59Z"}))
    plain, led = Detector(model), Detector(model)
    plain.process(day)
    led.process([future, *day])
    assert plain.rescores > 0 and led.rescores == plain.rescores
    assert led.stats["rejected"] == 1
