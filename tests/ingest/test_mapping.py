"""``--from mapping``: a mapping file turns any JSON log into events; a bad mapping file is refused naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from distillguard.detector.events import Event, EventError
from distillguard.detector.ingest.convert import PromptMode, hash_text
from distillguard.detector.ingest.mapping import MappedLogs, MappingError, compile_path, load_mapping

SPEC = {
    "fields": {
        "event_id": {"path": "id"},
        "ts": {"path": "received_at", "time": "epoch_ms"},
        "account_id": {"path": "customer.id"},
        "api_key_id": {"path": "auth.key", "hash": True},
        "ip": {"path": "client.addresses[-1]"},
        "model": {"path": "body.model"},
        "input_tokens": {"path": "usage.in"},
        "output_tokens": {"path": "usage.out"},
        "status": {"path": "http.status"},
        "endpoint": {"const": "/v1/chat/completions"},
        "prompt": {"path": "body.messages[-1].text"},
        "account_created_at": {"path": "customer.since", "time": "%d/%m/%Y %H:%M", "naive_utc": True},
        "reasoning_requested": {"path": "body.think"},
    }
}
LINE = {
    "id": "e-1",
    "received_at": 1772445600250,
    "customer": {"id": "c-9", "since": "01/02/2026 08:30"},
    "auth": {"key": "sk-live-abc"},
    "client": {"addresses": ["10.0.0.1", "192.0.2.8"]},
    "body": {"model": "m-large", "messages": [{"text": "first"}, {"text": "last"}], "think": "true"},
    "usage": {"in": "120", "out": 800},
    "http": {"status": 200},
}


def mapped(tmp_path: Path, spec: dict[str, Any] = SPEC, prompts: PromptMode = PromptMode.KEEP) -> MappedLogs:
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(spec))
    return MappedLogs(load_mapping(path), prompts)


def convert(adapter: MappedLogs, line: dict[str, Any]) -> Event:
    return adapter.convert(json.dumps(line).encode())


def test_a_line_becomes_its_event_through_the_mapping(tmp_path: Path) -> None:
    ev = convert(mapped(tmp_path), LINE)
    assert (ev.event_id, ev.ts, ev.account_id) == ("e-1", datetime(2026, 3, 2, 10, 0, 0, 250000, tzinfo=UTC), "c-9")
    assert (ev.api_key_id, ev.ip, ev.model) == (hash_text("sk-live-abc"), "192.0.2.8", "m-large")
    assert (ev.input_tokens, ev.output_tokens, ev.status, ev.endpoint) == (120, 800, 200, "/v1/chat/completions")
    assert (ev.prompt, ev.reasoning_requested) == ("last", True)
    assert ev.account_created_at == datetime(2026, 2, 1, 8, 30, tzinfo=UTC)
    assert (ev.system_prompt, ev.user_agent) == (None, None)  # not mapped: missing


def test_a_yaml_mapping_reads_like_its_json(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    (tmp_path / "m.yaml").write_text(
        "fields:\n  event_id: {path: id}\n  ts: {path: received_at, time: epoch_ms}\n  account_id: {path: customer.id}\n"
        "  ip: {path: 'client.addresses[0]'}\n  model: {const: fixed}\n  input_tokens: {path: usage.in}\n"
        "  output_tokens: {path: usage.out}\n  status: {const: 200}\n"
    )
    ev = convert(MappedLogs(load_mapping(tmp_path / "m.yaml")), LINE)
    assert (ev.api_key_id, ev.ip, ev.model, ev.status) == ("c-9", "10.0.0.1", "fixed", 200)


def test_hashed_prompts_are_hashed_once(tmp_path: Path) -> None:
    assert convert(mapped(tmp_path, prompts=PromptMode.HASH), LINE).prompt == hash_text("last")


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"customer": {}}, "customer.id", "required field is missing (mapped to account_id)"),
        ({"client": {"addresses": []}}, "client.addresses[-1]", "required field is missing"),
        ({"received_at": "soon"}, "received_at", "not an epoch timestamp"),
        ({"customer": {"id": "c", "since": "2026-02-01"}}, "customer.since", "does not match the time format"),
        ({"usage": {"in": "many", "out": 1}}, "input_tokens", "(in the api-event/v1 event)"),
        ({"http": {"status": 700}}, "status", "(in the api-event/v1 event)"),
    ],
)
def test_a_line_that_cannot_be_an_event_is_refused_naming_the_field(
    tmp_path: Path, change: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(EventError) as info:
        mapped(tmp_path).convert(json.dumps(LINE | change).encode())
    assert info.value.field == field and reason in info.value.reason, info.value


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"fields": SPEC["fields"] | {"colour": {"const": "red"}}},
            "fields: Value error, not api-event/v1 fields: colour",
        ),
        (
            {"fields": {k: v for k, v in SPEC["fields"].items() if k != "model"}},
            "required api-event/v1 fields without a rule: model",
        ),
        ({"fields": SPEC["fields"] | {"ts": {"path": "t", "time": "epoch_days"}}}, "fields.ts.time: Value error"),
        ({"fields": SPEC["fields"] | {"ts": {"path": "a..b"}}}, "fields.ts.path: Value error, malformed path"),
        ({"fields": SPEC["fields"] | {"model": {}}}, "fields.model: Value error, give exactly one of path and const"),
        ({"fields": SPEC["fields"] | {"model": {"path": "m", "hsh": True}}}, "fields.model.hsh: Extra inputs"),
        ({"fields": SPEC["fields"] | {"model": {"path": "m", "time": "rfc3339"}}}, "model: time applies only to"),
        ({"feilds": {}}, "fields: Field required"),
    ],
)
def test_a_bad_mapping_file_is_refused_naming_the_field(tmp_path: Path, spec: dict[str, Any], message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(MappingError, match="^" + str(path).replace(".", r"\.") + ": ") as info:
        load_mapping(path)
    assert message in str(info.value), info.value


def test_an_unreadable_mapping_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text("{fields")
    with pytest.raises(MappingError, match="not valid JSON"):
        load_mapping(tmp_path / "m.json")
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(tmp_path / "absent.json")


def test_paths_compile_to_keys_and_indexes() -> None:
    assert compile_path("a.b[0].c[-1][2]") == ("a", "b", 0, "c", -1, 2)
    for bad in ("", "a..b", "a[x]", "a]"):
        with pytest.raises(ValueError, match="malformed path"):
            compile_path(bad)
