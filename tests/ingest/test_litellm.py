"""``--from litellm-spend``: exported ``LiteLLM_SpendLogs`` rows, field by field, and their refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from distillguard.detector.events import Event, EventError
from distillguard.detector.ingest.convert import PromptMode
from distillguard.detector.ingest.litellm import LiteLLMSpendLogs

# A row as `SELECT row_to_json(s) FROM "LiteLLM_SpendLogs" s` exports it, prompts stored.
ROW = {
    "request_id": "chatcmpl-9f2c",
    "call_type": "acompletion",
    "api_key": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
    "spend": 0.0123,
    "total_tokens": 1530,
    "prompt_tokens": 30,
    "completion_tokens": 1500,
    "startTime": "2026-03-02T10:00:01.500",
    "endTime": "2026-03-02T10:00:09.750",
    "completionStartTime": "2026-03-02T10:00:02.000",
    "model": "gpt-4o-2024-08-06",
    "model_group": "gpt-4o",
    "custom_llm_provider": "openai",
    "user": "user_17",
    "team_id": "team_a",
    "organization_id": "org_3",
    "end_user": "",
    "requester_ip_address": "203.0.113.9",
    "session_id": "sess_1",
    "status": "success",
    "metadata": {"user_api_key_user_id": "user_17", "status": "success", "requester_ip_address": "203.0.113.9"},
    "messages": {},
    "proxy_server_request": {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Grade this"}, {"role": "user", "content": "Solve x^2=4"}],
        "max_tokens": 8192,
        "reasoning_effort": "medium",
    },
    "response": {"choices": [{"finish_reason": "stop", "message": {"content": "x=2"}}], "usage": {}},
}


def convert(row: dict[str, Any], prompts: PromptMode = PromptMode.KEEP) -> Event:
    return LiteLLMSpendLogs(prompts).convert(json.dumps(row).encode())


def test_a_spend_log_row_becomes_its_event_field_by_field() -> None:
    ev = convert(ROW)
    assert (ev.event_id, ev.ts, ev.latency_ms) == (
        "chatcmpl-9f2c",
        datetime(2026, 3, 2, 10, 0, 1, 500000, tzinfo=UTC),  # Prisma's times are UTC without an offset
        8250,
    )
    assert (ev.account_id, ev.api_key_id, ev.org_id, ev.ip) == ("user_17", ROW["api_key"], "org_3", "203.0.113.9")
    assert (ev.model, ev.input_tokens, ev.output_tokens, ev.status, ev.endpoint) == (
        "gpt-4o",
        30,
        1500,
        200,
        "acompletion",
    )
    assert (ev.system_prompt, ev.prompt, ev.max_tokens, ev.reasoning_requested) == (
        "Grade this",
        "Solve x^2=4",
        8192,
        True,
    )
    assert (ev.stop_reason, ev.conversation_id, ev.user_agent) == ("end_turn", "sess_1", None)


def test_json_columns_exported_as_text_are_read_too() -> None:
    row = ROW | {k: json.dumps(ROW[k]) for k in ("metadata", "proxy_server_request", "response")}
    assert convert(row) == convert(ROW)


def test_a_row_without_stored_prompts_has_metadata_only() -> None:
    ev = convert(ROW | {"proxy_server_request": "{}", "response": "{}", "requester_ip_address": None})
    assert (ev.prompt, ev.system_prompt, ev.max_tokens, ev.reasoning_requested, ev.stop_reason) == (None,) * 5
    assert ev.ip == "203.0.113.9"  # from metadata.requester_ip_address


@pytest.mark.parametrize(
    ("error_information", "status"),
    [({"error_code": "429", "error_class": "RateLimitError"}, 429), ({"error_code": "boom"}, 500), (None, 500)],
)
def test_a_failure_takes_the_http_status_litellm_recorded(
    error_information: dict[str, Any] | None, status: int
) -> None:
    row = ROW | {"status": "failure", "metadata": ROW["metadata"] | {"error_information": error_information}}  # type: ignore[operator]
    assert convert(row).status == status


def test_the_account_is_the_key_s_user_else_its_team_else_the_key() -> None:
    assert convert(ROW | {"user": ""}).account_id == "team_a"
    assert convert(ROW | {"user": None, "team_id": None}).account_id == ROW["api_key"]


def test_request_duration_is_preferred_to_the_time_between_start_and_end() -> None:
    assert convert(ROW | {"request_duration_ms": 7000}).latency_ms == 7000


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        (ROW | {"requester_ip_address": "", "metadata": {}}, "requester_ip_address", "required field is missing"),
        (ROW | {"startTime": None}, "startTime", "required field is missing"),
        (ROW | {"model": "", "model_group": None}, "model", "required field is missing"),
        (ROW | {"prompt_tokens": None}, "prompt_tokens", "required field is missing"),
        (ROW | {"request_id": ""}, "request_id", "required field is missing"),
        (ROW | {"metadata": "{not json"}, "metadata", "not valid JSON text"),
        (ROW | {"proxy_server_request": '{"messages": 3}'}, "proxy_server_request", "does not hold the expected"),
        (ROW | {"prompt_tokens": -1}, "input_tokens", "(in the api-event/v1 event)"),
    ],
)
def test_a_row_that_cannot_be_an_event_is_refused_naming_the_column(
    row: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(EventError) as info:
        LiteLLMSpendLogs().convert(json.dumps(row).encode())
    assert info.value.field == field and reason in info.value.reason, info.value
