"""Hypothesis strategies of ``api-event/v1`` messages, valid and broken, derived from the :class:`Event`
type itself (msgspec's type info), shared by the parser fuzz tests, the stream fuzz test (which draws a
seeded corpus from :func:`bad_messages`) and the atheris harness.

A broken message is a :class:`Bad`: its raw bytes and the field its one defect is in (``$`` when the defect
is in the document as a whole), i.e. what :class:`~detector.events.EventError` must name.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import msgspec.inspect as mi
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from distillguard.detector.events import Event

FIELDS: dict[str, mi.Field] = {f.name: f for f in mi.type_info(Event).fields}
REQUIRED = [n for n, f in FIELDS.items() if f.required]
INT64_MAX = 2**63 - 1
T0 = datetime(2026, 3, 2, tzinfo=UTC)
_MARK = "\x01mark\x01"  # placeholder string, replaced in the encoded bytes


@dataclass(frozen=True)
class Bad:
    """A message that must be refused, and the field the refusal must name."""

    raw: bytes
    field: str


def _base(t: mi.Type) -> mi.Type:
    """The non-null member of an optional field's type."""
    if isinstance(t, mi.UnionType):
        return next(x for x in t.types if not isinstance(x, mi.NoneType))
    return t


STRING_FIELDS = [n for n, f in FIELDS.items() if isinstance(_base(f.type), mi.StrType) and not _base(f.type).pattern]
INT_FIELDS = [n for n, f in FIELDS.items() if isinstance(_base(f.type), mi.IntType)]
NUMBER_FIELDS = [*INT_FIELDS, "temperature"]

offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


def aware_times(lo: datetime = datetime(1, 1, 2), hi: datetime = datetime(9999, 12, 30)) -> st.SearchStrategy[datetime]:
    """Any instant from year 1 to 9999, in any whole-minute offset (-23:59 .. +23:59)."""
    return st.datetimes(min_value=lo, max_value=hi, timezones=offsets)


def valid_value(t: mi.Type) -> st.SearchStrategy:
    """JSON-ready values the parser must accept for msgspec type ``t`` (length limits at their edge too)."""
    if isinstance(t, mi.UnionType):
        return st.one_of(*(valid_value(x) for x in t.types))
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        return st.integers(t.ge, t.le if t.le is not None else INT64_MAX)
    if isinstance(t, mi.FloatType):
        return st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)
    if isinstance(t, mi.DateTimeType):
        return aware_times().map(lambda d: d.isoformat())
    if isinstance(t, mi.ListType):
        return st.lists(valid_value(t.item_type), max_size=4)
    assert isinstance(t, mi.StrType), t
    if t.pattern:
        return st.from_regex(t.pattern, fullmatch=True)
    lo, hi = t.min_length or 0, t.max_length or 64
    short = st.text(min_size=lo, max_size=min(hi, 24))
    return short if hi > 1024 else short | st.builds(lambda c: c * hi, st.characters(codec="utf-8"))  # at the limit


def valid_events(**overrides: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """A valid event as a dict: every required field, any subset of the optional ones."""
    required = {n: overrides.get(n, valid_value(FIELDS[n].type)) for n in REQUIRED}
    optional = {n: overrides.get(n, valid_value(f.type)) for n, f in FIELDS.items() if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


def minimal_event(**fields: object) -> dict:
    """A valid event of the required fields only, with ``fields`` set or replaced."""
    return {
        "schema_version": 1, "event_id": "e1", "ts": "2026-03-02T09:00:00Z", "account_id": "a", "api_key_id": "k",
        "ip": "192.0.2.1", "model": "frontier-4", "input_tokens": 1, "output_tokens": 1, "status": 200, **fields,
    }  # fmt: skip


def encode(doc: object) -> bytes:
    """JSON bytes of ``doc`` (integers of any size, strings unescaped)."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


_json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=16)
)
any_json = st.recursive(
    _json_scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)


def invalid_value(t: mi.Type) -> st.SearchStrategy:
    """JSON-ready values the parser must refuse for type ``t`` (a wrong type, out of range, too long, not in the enum)."""
    t = _base(t)
    not_str = st.integers() | st.booleans() | st.lists(st.integers(), min_size=1, max_size=2) | st.just({})
    if isinstance(t, mi.LiteralType):
        floats = st.floats(allow_nan=False)  # never an allowed value, even 1.0 for Literal[1]
        return floats | st.one_of(st.text(max_size=12), st.integers()).filter(lambda v: v not in t.values)
    if isinstance(t, mi.BoolType):
        return st.integers() | st.text(max_size=4) | st.just([])
    if isinstance(t, mi.IntType):
        hi = t.le if t.le is not None else INT64_MAX
        out_of_range = st.integers(hi + 1, 2**300) | st.sampled_from([hi + 1, 2**63, 2**64, 2**64 + 1])
        if t.ge:
            out_of_range |= st.integers(max_value=t.ge - 1)
        else:
            out_of_range |= st.integers(max_value=-1)
        return out_of_range | st.text(max_size=6) | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(t, mi.FloatType):
        return st.floats(max_value=-1e-300, allow_infinity=False) | st.text(max_size=6) | st.booleans() | st.just([1.0])
    if isinstance(t, mi.DateTimeType):
        return st.one_of(
            st.integers(),
            st.sampled_from(
                [
                    "yesterday",
                    "",
                    "2026-03-02",
                    "2026-02-30T00:00:00Z",
                    "0000-01-01T00:00:00Z",
                    "10000-01-01T00:00:00Z",
                    "2026-03-02T00:00:00+24:00",
                    "2026-03-02T24:00:01Z",
                ]
            ),
            aware_times().map(lambda d: d.replace(tzinfo=None).isoformat()),
        )  # no offset
    if isinstance(t, mi.ListType):
        return (
            st.text(min_size=1, max_size=6)
            | st.integers()
            | st.lists(invalid_value(t.item_type), min_size=1, max_size=2)
        )
    assert isinstance(t, mi.StrType)
    options = [not_str]
    if t.max_length:
        options.append(
            st.builds(lambda c, extra: c * (t.max_length + extra), st.characters(codec="utf-8"), st.integers(1, 3))
        )
    if t.min_length:
        options.append(st.just(""))
    if t.pattern:
        options.append(
            st.text(max_size=4).filter(lambda s: not (len(s) == 2 and s.isascii() and s.isupper() and s.isalpha()))
        )
    return st.one_of(*options)


@st.composite
def wrong_values(draw) -> Bad:
    """A valid event with one field set to a value of the wrong type, out of range, too long or not allowed."""
    doc = draw(valid_events())
    name = draw(st.sampled_from(sorted(FIELDS)))
    doc[name] = draw(invalid_value(FIELDS[name].type))
    return Bad(encode(doc), name)


@st.composite
def missing_required(draw) -> Bad:
    doc = draw(valid_events())
    name = draw(st.sampled_from(REQUIRED))
    del doc[name]
    return Bad(encode(doc), name)


def _splice(doc: dict, name: str, raw_value: bytes) -> bytes:
    """``doc`` encoded with field ``name`` holding ``raw_value`` (bytes put in verbatim, not escaped)."""
    return encode({**doc, name: _MARK}).replace(encode(_MARK), raw_value, 1)


# Invalid UTF-8: a stray continuation byte, a truncated sequence, an overlong '/', an encoded surrogate,
# a 5-byte form, bytes never valid in UTF-8.
BAD_UTF8 = [b"\x80", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xff", b"\xfe\xff", b"\xe2\x82"]


@st.composite
def invalid_utf8(draw) -> Bad:
    """A string field whose bytes are not UTF-8 (inside the JSON string), or one holding a lone surrogate escape."""
    doc = draw(valid_events())
    name = draw(st.sampled_from(STRING_FIELDS))
    head, tail = draw(st.text(string.ascii_letters, max_size=5)), draw(st.text(string.ascii_letters, max_size=5))
    bad = draw(st.sampled_from(BAD_UTF8) | st.sampled_from([rb"\ud800", rb"\udfff", rb"\uDC00x"]))
    return Bad(_splice(doc, name, b'"' + head.encode() + bad + tail.encode() + b'"'), name)


NON_FINITE = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1E400"]


@st.composite
def non_finite_numbers(draw) -> Bad:
    """NaN / Infinity literals (not JSON) or numbers beyond float range in a numeric field."""
    doc = draw(valid_events())
    name = draw(st.sampled_from(NUMBER_FIELDS))
    return Bad(_splice(doc, name, draw(st.sampled_from(NON_FINITE))), name)


@st.composite
def deep_nesting(draw) -> Bad:
    """Arrays or objects nested 10k to 150k deep, in an unknown field (the document is refused: ``$``)
    or in a known one (refused at that field: it expects no array)."""
    depth = draw(st.integers(10_000, 150_000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    value = opener * depth + b"1" + closer * depth
    doc = draw(valid_events())
    if draw(st.booleans()):
        return Bad(_splice(doc, "extra_nested", value), "$")
    name = draw(st.sampled_from([n for n in STRING_FIELDS if n != "tools"] + ["status", "ts"]))
    return Bad(_splice(doc, name, value), name)


@st.composite
def not_json(draw) -> Bad:
    """Bytes that are no JSON object: truncated events, binary noise, other JSON values, empty input."""
    raw = encode(draw(valid_events()))
    return Bad(
        draw(
            st.one_of(
                st.integers(0, len(raw) - 1)
                .filter(lambda n: not raw[n - 1 : n].isdigit())
                .map(lambda n: raw[:n]),  # a cut number may be out of range
                st.binary(min_size=1, max_size=64).map(lambda b: b"\x00" + b),
                st.sampled_from([b"", b"null", b"[]", b"1", b'"event"', b"\xef\xbb\xbf{}", b"[] []"]),
                any_json.filter(lambda v: not isinstance(v, dict)).map(encode),
            )
        ),
        "$",
    )


def bad_messages() -> st.SearchStrategy[Bad]:
    """Every kind of broken message above."""
    return st.one_of(
        wrong_values(), missing_required(), invalid_utf8(), non_finite_numbers(), deep_nesting(), not_json()
    )


def examples(strategy: st.SearchStrategy, n: int, seed_: int) -> list:
    """Up to ``n`` values drawn deterministically from ``strategy`` (a fixed corpus for the broker test and
    the atheris seeds)."""
    out: list = []

    @seed(seed_)
    @settings(
        max_examples=n, database=None, phases=[Phase.generate], deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(strategy)
    def draw(value: object) -> None:
        out.append(value)

    draw()
    return out
