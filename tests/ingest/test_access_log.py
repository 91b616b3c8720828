"""``--from nginx`` / ``--from envoy``: the documented JSON access log lines, field by field, and their refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from distillguard.detector.events import Event, EventError
from distillguard.detector.ingest.access_log import BYTES_PER_TOKEN, AccessLogs

# What the README's nginx log_format writes: every value a string, empty when absent.
NGINX = {
    "time": "1772445600.250",
    "request_id": "5f0c6a3e9b1d4c2aa0e1f2b3c4d5e6f7",
    "client_ip": "203.0.113.7",
    "forwarded_for": "",
    "account_id": "acct_42",
    "api_key_id": "kh_91ab",
    "org_id": "",
    "user_agent": "curl/8.5.0",
    "path": "/v1/chat/completions?stream=false",
    "status": "200",
    "request_bytes": "2048",
    "response_bytes": "8192",
    "request_time": "1.532",
    "model": "gpt-4o",
    "input_tokens": "480",
    "output_tokens": "1900",
    "conversation_id": "",
}
# What the README's Envoy json_format writes: numbers as numbers, absent values null or "-".
ENVOY = {
    "time": "2026-03-02T10:00:00.250Z",
    "request_id": "0d8f1c7e-9a55-4a4b-8d44-3f7b2a9c1e01",
    "client_ip": "198.51.100.20",
    "forwarded_for": None,
    "account_id": "acct_43",
    "api_key_id": "-",
    "org_id": "org_1",
    "user_agent": "OpenAI/Python 1.54.0",
    "path": "/v1/responses",
    "status": 500,
    "request_bytes": 400,
    "response_bytes": 90,
    "duration_ms": 30012,
    "model": "o4-mini",
    "input_tokens": "-",
    "output_tokens": None,
    "conversation_id": None,
}


def convert(line: dict[str, Any]) -> Event:
    return AccessLogs().convert(json.dumps(line).encode())


def test_an_nginx_line_becomes_its_event_field_by_field() -> None:
    ev = convert(NGINX)
    assert (ev.event_id, ev.ts) == (NGINX["request_id"], datetime(2026, 3, 2, 10, 0, 0, 250000, tzinfo=UTC))
    assert (ev.account_id, ev.api_key_id, ev.org_id, ev.ip, ev.user_agent) == (
        "acct_42",
        "kh_91ab",
        None,
        "203.0.113.7",
        "curl/8.5.0",
    )
    assert (ev.endpoint, ev.status, ev.latency_ms, ev.model) == ("/v1/chat/completions", 200, 1532, "gpt-4o")
    assert (ev.input_tokens, ev.output_tokens, ev.conversation_id, ev.prompt) == (480, 1900, None, None)


def test_an_envoy_line_becomes_its_event_with_tokens_estimated_from_body_sizes() -> None:
    ev = convert(ENVOY)
    assert ev.ts == datetime(2026, 3, 2, 10, 0, 0, 250000, tzinfo=UTC)
    assert (ev.account_id, ev.api_key_id, ev.org_id, ev.ip) == ("acct_43", "acct_43", "org_1", "198.51.100.20")
    assert (ev.status, ev.latency_ms, ev.endpoint) == (500, 30012, "/v1/responses")
    assert (ev.input_tokens, ev.output_tokens) == (400 // BYTES_PER_TOKEN, 90 // BYTES_PER_TOKEN)


def test_without_a_client_ip_the_address_the_edge_appended_to_forwarded_for_is_used() -> None:
    ev = convert(NGINX | {"client_ip": "", "forwarded_for": "10.9.9.9, 192.0.2.44"})
    assert ev.ip == "192.0.2.44"


def test_a_long_path_is_cut_to_the_contract_s_endpoint_length() -> None:
    assert convert(NGINX | {"path": "/v1/" + "x" * 100}).endpoint == "/v1/" + "x" * 60


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        (NGINX | {"account_id": ""}, "account_id", "required field is missing"),
        (ENVOY | {"account_id": "-"}, "account_id", "required field is missing"),
        (NGINX | {"client_ip": "", "forwarded_for": ""}, "client_ip", "required field is missing"),
        (NGINX | {"model": ""}, "model", "required field is missing"),
        (NGINX | {"status": "abc"}, "status", "not a number"),
        (NGINX | {"time": "yesterday"}, "time", "not a timestamp"),
        (NGINX | {"request_time": "NaN"}, "request_time", "not a finite number"),
        (ENVOY | {"request_bytes": None}, "input_tokens (or request_bytes)", "required field is missing"),
        (NGINX | {"status": "999"}, "status", "(in the api-event/v1 event)"),
        (NGINX | {"status": ["200"]}, "status", "got `array`"),
    ],
)
def test_a_line_that_cannot_be_an_event_is_refused_naming_the_field(
    line: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(EventError) as info:
        AccessLogs().convert(json.dumps(line).encode())
    assert info.value.field == field and reason in info.value.reason, info.value
