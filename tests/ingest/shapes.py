"""An ``api-event/v1`` event (a decoded JSON line, as ``distillguard simulate`` writes it) rewritten in the shape
of each gateway log ``distillguard ingest`` reads: the round-trip test and the ingest benchmark feed these back.

Each writer puts every field its format carries where that format keeps it (the OpenAI log line carries all of
them; access logs and spend logs no prompt text, account enrichment or client fingerprint).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from distillguard.detector.ingest.chat import FINISH_REASONS

# The Chat Completions finish reason that reads back as each stop reason.
FINISH_OF = {stop: finish for finish, stop in reversed(FINISH_REASONS.items())}
ENRICHMENT = (
    "account_created_at",
    "verification_path",
    "billing_country",
    "payment_fingerprint",
    "asn",
    "ip_country",
    "tls_fingerprint",
)
EARLIER_QUESTION, EARLIER_ANSWER = "(an earlier question)", "(an earlier answer)"
BYTES_PER_TOKEN = 4


def chat_request(ev: dict[str, Any]) -> dict[str, Any]:
    """The Chat Completions request body of an event: system message, one user/assistant exchange per earlier
    turn, then the prompt as the last user message (its content null where the event is redacted)."""
    messages: list[dict[str, Any]] = []
    if ev.get("system_prompt") is not None:
        messages.append({"role": "system", "content": ev["system_prompt"]})
    for _ in range(ev.get("turn_index") or 0):
        messages += [{"role": "user", "content": EARLIER_QUESTION}, {"role": "assistant", "content": EARLIER_ANSWER}]
    messages.append({"role": "user", "content": [{"type": "text", "text": ev["prompt"]}] if ev.get("prompt") else None})
    body: dict[str, Any] = {"model": ev["model"], "messages": messages, "max_completion_tokens": ev.get("max_tokens")}
    if ev.get("temperature") is not None:
        body["temperature"] = ev["temperature"]
    if ev.get("tools") is not None:
        body["tools"] = [{"type": "function", "function": {"name": t}} for t in ev["tools"]]
    if ev.get("reasoning_requested") is not None:
        body["reasoning_effort"] = "high" if ev["reasoning_requested"] else "none"
    return body


def chat_response(ev: dict[str, Any]) -> dict[str, Any]:
    """The response body: usage always (the simulator counts input tokens of failed requests too), then
    an error or the finish reason."""
    body: dict[str, Any] = {
        "model": ev["model"],
        "usage": {"prompt_tokens": ev["input_tokens"], "completion_tokens": ev["output_tokens"]},
    }
    if ev["status"] >= 400:
        body["error"] = {"message": "upstream error", "type": "server_error"}
    else:
        body["choices"] = [{"index": 0, "finish_reason": FINISH_OF.get(ev.get("stop_reason") or "end_turn")}]
    return body


def openai_line(ev: dict[str, Any]) -> dict[str, Any]:
    """The ``--from openai`` log line of an event."""
    line = {
        "timestamp": ev["ts"],
        "request_id": ev["event_id"],
        "account_id": ev["account_id"],
        "api_key_id": ev["api_key_id"],
        "org_id": ev.get("org_id"),
        "ip": ev["ip"],
        "user_agent": ev.get("user_agent"),
        "endpoint": ev.get("endpoint"),
        "status": ev["status"],
        "latency_ms": ev.get("latency_ms"),
        "conversation_id": ev.get("conversation_id"),
        "request": chat_request(ev),
        "response": chat_response(ev),
    }
    return line | {k: ev.get(k) for k in ENRICHMENT}


def nginx_line(ev: dict[str, Any]) -> dict[str, Any]:
    """The nginx access log line (the README's ``log_format``: every value a string, empty when absent)."""
    latency = ev.get("latency_ms")
    return {
        "time": f"{datetime.fromisoformat(ev['ts']).timestamp():.3f}",
        "request_id": ev["event_id"],
        "client_ip": ev["ip"],
        "forwarded_for": "",
        "account_id": ev["account_id"],
        "api_key_id": ev["api_key_id"],
        "org_id": ev.get("org_id") or "",
        "user_agent": ev.get("user_agent") or "",
        "path": ev.get("endpoint") or "",
        "status": str(ev["status"]),
        "request_bytes": str(ev["input_tokens"] * BYTES_PER_TOKEN),
        "response_bytes": str(ev["output_tokens"] * BYTES_PER_TOKEN),
        "request_time": "" if latency is None else f"{latency / 1000:.3f}",
        "model": ev["model"],
        "input_tokens": str(ev["input_tokens"]),
        "output_tokens": str(ev["output_tokens"]),
        "conversation_id": ev.get("conversation_id") or "",
    }


def envoy_line(ev: dict[str, Any]) -> dict[str, Any]:
    """The Envoy access log line (the README's ``json_format``: numbers as numbers, absent values null)."""
    return {
        "time": ev["ts"],
        "request_id": ev["event_id"],
        "client_ip": ev["ip"],
        "forwarded_for": None,
        "account_id": ev["account_id"],
        "api_key_id": ev["api_key_id"],
        "org_id": ev.get("org_id"),
        "user_agent": ev.get("user_agent"),
        "path": ev.get("endpoint"),
        "status": ev["status"],
        "request_bytes": ev["input_tokens"] * BYTES_PER_TOKEN,
        "response_bytes": ev["output_tokens"] * BYTES_PER_TOKEN,
        "duration_ms": ev.get("latency_ms"),
        "model": ev["model"],
        "input_tokens": str(ev["input_tokens"]),
        "output_tokens": str(ev["output_tokens"]),
        "conversation_id": ev.get("conversation_id"),
    }


def litellm_row(ev: dict[str, Any]) -> dict[str, Any]:
    """The ``LiteLLM_SpendLogs`` row of an event, as ``row_to_json`` exports it (times in UTC without an offset),
    with prompts and responses stored (``store_prompts_in_spend_logs``)."""
    start = datetime.fromisoformat(ev["ts"]).replace(tzinfo=None)
    failed = ev["status"] >= 400
    return {
        "request_id": ev["event_id"],
        "call_type": ev.get("endpoint") or "acompletion",
        "api_key": ev["api_key_id"],
        "spend": 0.0,
        "total_tokens": ev["input_tokens"] + ev["output_tokens"],
        "prompt_tokens": ev["input_tokens"],
        "completion_tokens": ev["output_tokens"],
        "startTime": start.isoformat(timespec="milliseconds"),
        "endTime": start.isoformat(timespec="milliseconds"),
        "request_duration_ms": ev.get("latency_ms"),
        "model": ev["model"],
        "model_group": ev["model"],
        "user": ev["account_id"],
        "team_id": None,
        "organization_id": ev.get("org_id"),
        "requester_ip_address": ev["ip"],
        "session_id": ev.get("conversation_id"),
        "status": "failure" if failed else "success",
        "metadata": {
            "user_api_key_user_id": ev["account_id"],
            "status": "failure" if failed else "success",
            "error_information": {"error_code": str(ev["status"])} if failed else None,
        },
        "messages": {},
        "proxy_server_request": chat_request(ev),
        "response": chat_response(ev),
    }


# A log of some other gateway, read through a mapping file (``--from mapping``): the benchmark's fifth format.
MAPPING = {
    "fields": {
        "event_id": {"path": "id"},
        "ts": {"path": "received_at", "time": "epoch_ms"},
        "account_id": {"path": "customer.id"},
        "org_id": {"path": "customer.org"},
        "api_key_id": {"path": "auth.key_id"},
        "ip": {"path": "client.addresses[-1]"},
        "user_agent": {"path": "client.agent"},
        "model": {"path": "body.model"},
        "prompt": {"path": "body.messages[-1].text"},
        "max_tokens": {"path": "body.limit"},
        "input_tokens": {"path": "usage.in"},
        "output_tokens": {"path": "usage.out"},
        "status": {"path": "http.status"},
        "latency_ms": {"path": "http.ms"},
    }
}


def mapped_line(ev: dict[str, Any]) -> dict[str, Any]:
    """The line of that other gateway that :data:`MAPPING` reads back."""
    return {
        "id": ev["event_id"],
        "received_at": round(datetime.fromisoformat(ev["ts"]).timestamp() * 1000),
        "customer": {"id": ev["account_id"], "org": ev.get("org_id")},
        "auth": {"key_id": ev["api_key_id"]},
        "client": {"addresses": ["10.0.0.1", ev["ip"]], "agent": ev.get("user_agent")},
        "body": {"model": ev["model"], "messages": [{"text": ev.get("prompt")}], "limit": ev.get("max_tokens")},
        "usage": {"in": ev["input_tokens"], "out": ev["output_tokens"]},
        "http": {"status": ev["status"], "ms": ev.get("latency_ms")},
    }
