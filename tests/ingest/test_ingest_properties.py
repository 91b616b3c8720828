"""Whatever a source line holds, every adapter either writes a valid ``api-event/v1`` event or refuses the line
with an :class:`EventError` naming a field (so the run counts it under that reason); nothing else escapes.

Three kinds of input: arbitrary bytes, arbitrary JSON, and a valid line of the format with one value somewhere
inside replaced by arbitrary JSON (which reaches the deep paths: messages, usage, Json columns)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distillguard.detector.events import EventError, encode_event, parse_event
from distillguard.detector.ingest.formats import FORMATS, AdapterOptions, build_adapter
from distillguard.detector.ingest.pipeline import ingest
from tests.event_strategies import any_json
from tests.fuzzing import budget
from tests.ingest.shapes import envoy_line, litellm_row, nginx_line, openai_line
from tests.ingest.test_mapping import LINE as MAPPED_LINE
from tests.ingest.test_mapping import SPEC

PROPERTY = settings(
    max_examples=budget(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
EVENT = {
    "schema_version": 1,
    "event_id": "e1",
    "ts": "2026-03-02T10:00:00Z",
    "account_id": "a1",
    "api_key_id": "k1",
    "ip": "192.0.2.1",
    "model": "m",
    "input_tokens": 10,
    "output_tokens": 20,
    "status": 200,
    "system_prompt": "sys",
    "prompt": "hello",
    "turn_index": 1,
    "max_tokens": 512,
    "temperature": 0.5,
    "tools": ["t"],
    "reasoning_requested": True,
    "stop_reason": "end_turn",
    "latency_ms": 100,
}
VALID_LINES: dict[str, dict[str, Any]] = {
    "openai": openai_line(EVENT),
    "nginx": nginx_line(EVENT),
    "envoy": envoy_line(EVENT),
    "litellm-spend": litellm_row(EVENT),
    "mapping": MAPPED_LINE,
}


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    mapping = tmp_path_factory.mktemp("mapping") / "mapping.json"
    mapping.write_text(json.dumps(SPEC))
    return {name: build_adapter(name, AdapterOptions(mapping=mapping)) for name in FORMATS}


def _check(adapter: Any, raw: bytes) -> None:
    try:
        out = adapter.convert(raw)
    except EventError as err:
        assert isinstance(err.field, str) and err.field and err.reason
        return
    assert parse_event(encode_event(out)) == out  # what is written is a valid event


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``doc``."""
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += _paths(v, (*prefix, i))
    return found


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = _replace(doc[path[0]], path[1:], value)
    return copy


def test_the_valid_lines_are_valid(adapters: dict[str, Any]) -> None:
    for name, line in VALID_LINES.items():
        assert adapters[name].convert(json.dumps(line).encode()).event_id in ("e1", "e-1")


@pytest.mark.parametrize("name", list(FORMATS))
@PROPERTY
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_are_an_event_or_a_reason(adapters: dict[str, Any], name: str, raw: bytes) -> None:
    _check(adapters[name], raw)


@pytest.mark.parametrize("name", list(FORMATS))
@PROPERTY
@given(doc=any_json)
def test_arbitrary_json_is_an_event_or_a_reason(adapters: dict[str, Any], name: str, doc: Any) -> None:
    _check(adapters[name], json.dumps(doc).encode())


@pytest.mark.parametrize("name", list(FORMATS))
@PROPERTY
@given(data=st.data(), value=any_json)
def test_a_valid_line_with_one_value_replaced_is_an_event_or_a_reason(
    adapters: dict[str, Any], name: str, data: st.DataObject, value: Any
) -> None:
    line = VALID_LINES[name]
    path = data.draw(st.sampled_from(_paths(line)))
    _check(adapters[name], json.dumps(_replace(line, path, value)).encode())


@PROPERTY
@given(lines=st.lists(st.binary(max_size=80) | any_json.map(lambda d: json.dumps(d).encode()), max_size=8))
def test_every_line_is_written_or_counted_once(adapters: dict[str, Any], lines: list[bytes]) -> None:
    written: list[bytes] = []
    valid = json.dumps(VALID_LINES["openai"]).encode()
    numbered = list(enumerate([*lines, valid], 1))
    report = ingest(numbered, adapters["openai"], written.append)
    events = [parse_event(line) for line in b"".join(written).splitlines()]
    assert report.lines == len(numbered) and report.events == len(events) >= 1
    assert sum(report.dropped.values()) == report.dropped_lines == len(numbered) - len(events)


def test_the_valid_lines_of_the_shapes_module_are_what_the_formats_read(tmp_path: Path) -> None:
    """The shapes the round trip and the benchmark feed in are lines each format turns back into the event."""
    for name, line in VALID_LINES.items():
        if name == "mapping":
            continue
        ev = build_adapter(name, AdapterOptions()).convert(json.dumps(line).encode())
        assert (ev.event_id, ev.account_id, ev.ip, ev.model, ev.input_tokens, ev.output_tokens, ev.status) == (
            "e1",
            "a1",
            "192.0.2.1",
            "m",
            10,
            20,
            200,
        )
