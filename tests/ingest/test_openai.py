"""``--from openai``: given these request log lines, these events, field by field; these lines, these reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from distillguard.detector.events import Event, EventError
from distillguard.detector.ingest.convert import PromptMode, hash_text
from distillguard.detector.ingest.openai import OpenAILogs

CHAT = {
    "timestamp": "2026-03-02T10:00:00.120Z",
    "request_id": "req_8c1f",
    "account_id": "acct_42",
    "api_key_id": "key_7f3a",
    "org_id": "org_9",
    "ip": "203.0.113.7",
    "user_agent": "OpenAI/Python 1.54.0",
    "endpoint": "/v1/chat/completions",
    "status": 200,
    "latency_ms": 812.4,
    "payment_fingerprint": "pf_1",
    "asn": 64500,
    "request": {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": [{"type": "text", "text": "Explain"}, {"type": "image_url", "image_url": {}}]},
        ],
        "max_completion_tokens": 4096,
        "reasoning_effort": "high",
        "temperature": 0.7,
        "tools": [{"type": "function", "function": {"name": "search"}}],
        "stream": False,
        "user": "end-user-1",
    },
    "response": {
        "usage": {
            "prompt_tokens": 50,
            "completion_tokens": 900,
            "completion_tokens_details": {"reasoning_tokens": 500},
        },
        "choices": [{"index": 0, "finish_reason": "length"}],
    },
}

RESPONSES_API = {
    "timestamp": 1772445600123,  # epoch milliseconds
    "request_id": "resp_2",
    "account_id": "acct_43",
    "ip": "2001:db8::1",
    "request": {
        "model": "o4-mini",
        "instructions": "Be brief",
        "input": [
            {"role": "developer", "content": [{"type": "input_text", "text": "Answer in French"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "What is 2+2?"}]},
        ],
        "max_output_tokens": 100,
        "tools": [{"type": "function", "name": "calc"}, {"type": "web_search"}],
    },
    "response": {
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "usage": {"input_tokens": 10, "output_tokens": 100, "output_tokens_details": {"reasoning_tokens": 64}},
    },
}


def convert(line: dict[str, Any], prompts: PromptMode = PromptMode.KEEP) -> Event:
    return OpenAILogs(prompts).convert(json.dumps(line).encode())


def refusal(line: dict[str, Any] | bytes) -> EventError:
    raw = line if isinstance(line, bytes) else json.dumps(line).encode()
    with pytest.raises(EventError) as info:
        OpenAILogs().convert(raw)
    return info.value


def test_a_chat_completions_line_becomes_its_event_field_by_field() -> None:
    ev = convert(CHAT)
    assert (ev.event_id, ev.ts, ev.account_id, ev.api_key_id, ev.org_id) == (
        "req_8c1f",
        datetime(2026, 3, 2, 10, 0, 0, 120000, tzinfo=UTC),
        "acct_42",
        "key_7f3a",
        "org_9",
    )
    assert (ev.ip, ev.user_agent, ev.endpoint, ev.status, ev.latency_ms) == (
        "203.0.113.7",
        "OpenAI/Python 1.54.0",
        "/v1/chat/completions",
        200,
        812,
    )
    assert (ev.model, ev.input_tokens, ev.output_tokens, ev.max_tokens, ev.temperature) == (
        "gpt-4o",
        50,
        900,
        4096,
        0.7,
    )
    assert (ev.system_prompt, ev.prompt, ev.turn_index) == ("You are terse.", "Explain", 1)
    assert (ev.tools, ev.reasoning_requested, ev.stop_reason) == (["search"], True, "max_tokens")
    assert (ev.payment_fingerprint, ev.asn, ev.billing_country, ev.conversation_id) == ("pf_1", 64500, None, None)


def test_a_responses_api_line_becomes_its_event() -> None:
    ev = convert(RESPONSES_API)
    assert ev.ts == datetime(2026, 3, 2, 10, 0, 0, 123000, tzinfo=UTC)
    assert ev.api_key_id == "acct_43"  # no key id logged: the account is its one key
    assert (ev.system_prompt, ev.prompt, ev.turn_index) == ("Be brief\n\nAnswer in French", "What is 2+2?", 0)
    assert (ev.input_tokens, ev.output_tokens, ev.max_tokens) == (10, 100, 100)
    assert ev.tools == ["calc", "web_search"]
    assert ev.reasoning_requested is True  # not asked for explicitly, but 64 reasoning tokens were produced
    assert ev.stop_reason == "max_tokens"
    assert ev.status == 200  # a response without error, no status logged


@pytest.mark.parametrize(
    ("response", "stop"),
    [
        ({"choices": [{"finish_reason": "stop"}]}, "end_turn"),
        ({"choices": [{"finish_reason": "tool_calls"}]}, "tool_use"),
        ({"choices": [{"finish_reason": "content_filter"}]}, "refusal"),
        ({"choices": [{"finish_reason": "something_new"}]}, None),
        ({"status": "completed", "output": [{"type": "reasoning"}, {"type": "function_call"}]}, "tool_use"),
        ({"status": "completed", "output": [{"type": "message"}]}, "end_turn"),
        ({"status": "failed"}, "error"),
    ],
)
def test_finish_reasons_become_stop_reasons(response: dict[str, Any], stop: str | None) -> None:
    line = CHAT | {"response": response | {"usage": {"prompt_tokens": 1, "completion_tokens": 2}}}
    assert convert(line).stop_reason == stop


@pytest.mark.parametrize(
    ("request_fields", "requested"),
    [
        ({"reasoning_effort": "none"}, False),
        ({"reasoning_effort": "low"}, True),
        ({"reasoning": {"effort": "none"}}, False),
        ({"reasoning": {"enabled": True}}, True),
        ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, True),
        ({"thinking": {"type": "disabled"}}, False),
        ({}, None),  # the request does not say, and no reasoning tokens came back
    ],
)
def test_reasoning_requested_is_read_from_each_api_s_parameter(
    request_fields: dict[str, Any], requested: bool | None
) -> None:
    req = {k: v for k, v in CHAT["request"].items() if k != "reasoning_effort"} | request_fields  # type: ignore[union-attr]
    line = CHAT | {"request": req, "response": {"usage": {"prompt_tokens": 1, "completion_tokens": 2}}}
    assert convert(line).reasoning_requested is requested


def test_an_error_line_has_zero_tokens_and_the_error_stop_reason() -> None:
    ev = convert(CHAT | {"status": 429, "response": {"error": {"message": "rate limited"}}})
    assert (ev.status, ev.input_tokens, ev.output_tokens, ev.stop_reason) == (429, 0, 0, "error")


def test_prompts_are_kept_hashed_or_dropped() -> None:
    hashed = convert(CHAT, PromptMode.HASH)
    assert (hashed.prompt, hashed.system_prompt) == (hash_text("Explain"), hash_text("You are terse."))
    dropped = convert(CHAT, PromptMode.DROP)
    assert (dropped.prompt, dropped.system_prompt, dropped.model) == (None, None, "gpt-4o")


def test_a_follow_up_through_previous_response_id_has_a_turn_index() -> None:
    line = RESPONSES_API | {"request": RESPONSES_API["request"] | {"previous_response_id": "resp_1"}}  # type: ignore[operator]
    assert convert(line).turn_index == 1


def test_missing_fields_stay_missing() -> None:
    line = {k: CHAT[k] for k in ("timestamp", "request_id", "account_id", "ip")} | {
        "request": {"model": "m"},
        "response": {"usage": {"prompt_tokens": 1, "completion_tokens": 1}},
    }
    ev = convert(line)
    assert (ev.prompt, ev.system_prompt, ev.max_tokens, ev.tools, ev.reasoning_requested, ev.user_agent) == (None,) * 6


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ({k: v for k, v in CHAT.items() if k != "account_id"}, "account_id", "required field is missing"),
        ({k: v for k, v in CHAT.items() if k != "ip"}, "ip", "required field is missing"),
        ({k: v for k, v in CHAT.items() if k != "request"}, "request", "required field is missing"),
        ({k: v for k, v in CHAT.items() if k != "timestamp"}, "timestamp", "required field is missing"),
        (CHAT | {"timestamp": "2026-03-02T10:00:00"}, "timestamp", "timestamp has no UTC offset"),
        (CHAT | {"request": {"messages": []}}, "request.model", "required field is missing"),
        (CHAT | {"response": {"choices": []}}, "response.usage", "token counts of a successful response are missing"),
        (CHAT | {"status": None, "response": None}, "status", "required field is missing"),
        (
            CHAT | {"request": {"model": "m", "messages": "hi"}},
            "request.messages",
            "Expected `array | null`, got `str`",
        ),
        (CHAT | {"model": "x", "request": {"model": "m" * 200}}, "model", "(in the api-event/v1 event)"),
        (CHAT | {"verification_path": "bought"}, "verification_path", "(in the api-event/v1 event)"),
    ],
)
def test_a_line_that_cannot_be_an_event_is_refused_naming_the_field(
    line: dict[str, Any], field: str, reason: str
) -> None:
    err = refusal(line)
    assert err.field == field and reason in err.reason, err


def test_a_line_that_is_not_json_is_refused() -> None:
    assert refusal(b"GET / HTTP/1.1").field == "$"
    assert refusal(b"[1, 2]").field == "$"
