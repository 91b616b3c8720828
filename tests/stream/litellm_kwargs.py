"""The ``kwargs`` LiteLLM 1.108.7 hands a callback for one proxy request, as recorded from a real proxy (the
fields the callback reads, with their real shapes), for building test cases field by field."""

from __future__ import annotations

import copy
from typing import Any

START = 1796223143.137139  # 2026-12-02T14:52:23.137139Z
KEY_HASH = "099295a3784e1bd368dc348843a7398c1931b6b8ec2504c73e91ed2040bdc46c"
CALL_ID = "401fbd66-1f30-4aa8-8d18-2453e7b08adf"

_SUCCESS: dict[str, Any] = {
    "litellm_call_id": CALL_ID,
    "litellm_params": {
        "proxy_server_request": {
            "url": "http://127.0.0.1:4000/v1/chat/completions",
            "method": "POST",
            "headers": {
                "host": "127.0.0.1:4000",
                "content-type": "application/json",
                "x-forwarded-for": "203.0.113.9, 10.0.0.2",
                "user-agent": "probe-ua/1.0",
            },
        },
    },
    "standard_logging_object": {
        "id": "chatcmpl-f880e5de-f619-4006-bdfc-b4ddcf5915c2",
        "litellm_call_id": CALL_ID,
        "session_id": "",
        "call_type": "acompletion",
        "status": "success",
        "model": "openai/frontier-1",
        "model_group": "frontier-1",
        "requester_ip_address": "10.0.0.2",
        "user_agent": "probe-ua/1.0",
        "end_user": "enduser-7",
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "startTime": START,
        "endTime": START + 0.030671,
        "metadata": {
            "user_api_key_hash": KEY_HASH,
            "user_api_key_user_id": "alice",
            "user_api_key_team_id": "team-a",
            "user_api_key_org_id": "org-1",
            "user_api_key_end_user_id": "enduser-7",
            "user_api_key_request_route": "/v1/chat/completions",
            "requester_ip_address": "10.0.0.2",
            "user_agent": "probe-ua/1.0",
            "team_id": None,
        },
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "yo"},
            {"role": "user", "content": [{"type": "text", "text": "Explain step by step"}]},
        ],
        "model_parameters": {
            "temperature": 0.3,
            "stream": False,
            "max_tokens": 500,
            "user": "enduser-7",
            "tools": [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}],
            "reasoning_effort": "high",
        },
        "response": {
            "id": "chatcmpl-f880e5de-f619-4006-bdfc-b4ddcf5915c2",
            "choices": [{"finish_reason": "stop", "index": 0, "message": {"content": "Sure.", "role": "assistant"}}],
            "usage": {"completion_tokens": 20, "prompt_tokens": 10, "total_tokens": 30},
        },
        "error_str": None,
        "error_information": {"error_code": "", "error_class": "", "llm_provider": ""},
    },
}

_FAILURE_SLO: dict[str, Any] = {
    "status": "failure",
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "response": {},
    "error_str": "litellm.RateLimitError: this is a mock rate limit error",
    "error_information": {"error_code": "429", "error_class": "RateLimitError", "llm_provider": "openai"},
}


def success_kwargs() -> dict[str, Any]:
    """A fresh copy of a successful request's kwargs."""
    return copy.deepcopy(_SUCCESS)


def failure_kwargs() -> dict[str, Any]:
    """A fresh copy of a rate-limited (429) request's kwargs."""
    kw = success_kwargs()
    kw["standard_logging_object"].update(copy.deepcopy(_FAILURE_SLO))
    return kw
