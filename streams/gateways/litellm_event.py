"""One LiteLLM request, as its logging callbacks see it, to one ``api-event/v1`` event.

Reads the ``kwargs`` that LiteLLM hands every ``CustomLogger``: its ``standard_logging_object`` (the call id,
times, tokens, model group, the virtual key's hash, user, team and organisation, client IP and user agent,
messages, request parameters, response and error) and ``litellm_params.proxy_server_request`` (the request's
headers, for X-Forwarded-For). Plain dictionaries only: this module does not import LiteLLM. The event is built
through :func:`~distillguard.detector.events.parse_event`, so it is validated exactly as the worker validates
what it consumes, and a field LiteLLM did not record stays missing.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from distillguard.detector.events import Event, EventError, parse_event
from distillguard.streams.gateways.settings import LiteLLMSettings, Network

# Sizes of the contract's bounded fields (detector/schema/api-event.schema.json): longer text is cut to fit
# rather than the whole request lost.
PROMPT_CHARS = 1_000_000
SYSTEM_PROMPT_CHARS = 200_000
USER_AGENT_CHARS = 1024
ENDPOINT_CHARS = 64
NAME_CHARS = 128  # account, organisation, model, conversation, tool names
CUT = "\u2026"

# LiteLLM's finish reasons (OpenAI's vocabulary) to the contract's stop reasons.
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
MAX_TOKENS_PARAMS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
NO_REASONING = frozenset({"none", "disabled"})  # reasoning_effort / thinking values that ask for none
SUCCESS_STATUS = 200
UNKNOWN_ERROR_STATUS = 500  # a failure LiteLLM gives no HTTP status for


def fit(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: its head and tail (what the detector reads) around an ellipsis."""
    if len(text) <= limit:
        return text
    head = (limit - len(CUT)) // 2
    return text[:head] + CUT + text[len(text) - (limit - len(CUT) - head) :]


def digest(text: str, key: bytes | None) -> str:
    """``hmac-sha256:<hex>`` of ``text`` under ``key``, or ``sha256:<hex>`` without one."""
    data = text.encode("utf-8", "surrogatepass")
    if key is None:
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return "hmac-sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest()


def client_ip(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str | None:
    """The client's address: the peer, or, when the peer is a trusted proxy, the rightmost X-Forwarded-For hop
    that is not one (the leftmost when all are). None when no hop is an IP address."""
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()] if trusted else []
    hops += [peer.strip()] if peer and peer.strip() else []
    chosen: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    for hop in reversed(hops):
        try:
            addr = ipaddress.ip_address(hop)
        except ValueError:
            break  # a forged or garbled hop: trust nothing to its left
        chosen = addr
        if not any(addr in net for net in trusted):
            break
    return None if chosen is None else str(chosen)


def _text(content: Any) -> str | None:
    """The text of a message's content: a string, or the text parts of a list of parts joined by newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [t for p in content if isinstance(p, Mapping) and isinstance(t := p.get("text"), str)]
        return "\n".join(parts) if parts else None
    return None


def _prompts(messages: Any) -> tuple[str | None, str | None, int | None]:
    """(system prompt, last user message, turn index) of the logged messages; the turn index counts the
    assistant answers before the last message (0: a first message)."""
    if isinstance(messages, str):
        return None, messages, None
    if not isinstance(messages, list):
        return None, None, None
    msgs = [m for m in messages if isinstance(m, Mapping)]
    system = [t for m in msgs if m.get("role") in ("system", "developer") and (t := _text(m.get("content")))]
    user = [m for m in msgs if m.get("role") == "user"]
    prompt = _text(user[-1].get("content")) if user else None
    turns = sum(1 for m in msgs if m.get("role") == "assistant")
    return ("\n".join(system) if system else None), prompt, turns


def _tool_names(tools: Any) -> list[str] | None:
    if not isinstance(tools, list):
        return None
    names = []
    for tool in tools:
        if not isinstance(tool, Mapping):
            continue
        fn = tool.get("function")
        name = (fn.get("name") if isinstance(fn, Mapping) else None) or tool.get("name") or tool.get("type")
        if isinstance(name, str) and name:
            names.append(fit(name, NAME_CHARS))
    return names


def _reasoning_requested(params: Mapping[str, Any]) -> bool:
    """Whether the request asked for reasoning output: ``reasoning_effort``, ``thinking`` (Anthropic) or
    ``reasoning`` (the Responses API) set to anything but none."""
    effort = params.get("reasoning_effort")
    thinking = params.get("thinking")
    reasoning = params.get("reasoning")
    return (
        (isinstance(effort, str) and effort not in NO_REASONING)
        or (isinstance(thinking, Mapping) and thinking.get("type") not in NO_REASONING)
        or (isinstance(reasoning, Mapping) and reasoning.get("effort") not in NO_REASONING)
    )


def _stop_reason(response: Any) -> str | None:
    choices = response.get("choices") if isinstance(response, Mapping) else None
    if not choices or not isinstance(choices[0], Mapping):
        return None
    reason = choices[0].get("finish_reason")
    return STOP_REASONS.get(reason) if isinstance(reason, str) else None


def _status(error: Any) -> int:
    code = error.get("error_code") if isinstance(error, Mapping) else None
    try:
        status = int(code)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return UNKNOWN_ERROR_STATUS
    return status if 100 <= status <= 599 else UNKNOWN_ERROR_STATUS


def _account(meta: Mapping[str, Any], slo: Mapping[str, Any], settings: LiteLLMSettings) -> str | None:
    chosen = {
        "user": meta.get("user_api_key_user_id"),
        "team": meta.get("user_api_key_team_id") or meta.get("team_id"),
        "end_user": slo.get("end_user") or meta.get("user_api_key_end_user_id"),
        "key": None,
    }[settings.litellm_account]
    return chosen or meta.get("user_api_key_hash")


def event_from_litellm(kwargs: Mapping[str, Any], *, failed: bool, settings: LiteLLMSettings) -> Event:
    """The ``api-event/v1`` event of one completed (``failed=False``) or failed LiteLLM request; raise
    :class:`EventError` naming the field when the request cannot make a valid event."""
    slo = kwargs.get("standard_logging_object")
    if not isinstance(slo, Mapping):
        raise EventError("standard_logging_object", "LiteLLM logged no standard logging payload")
    meta = slo.get("metadata") or {}
    params = slo.get("model_parameters")
    request = (kwargs.get("litellm_params") or {}).get("proxy_server_request") or {}
    headers = {str(k).lower(): v for k, v in (request.get("headers") or {}).items()}

    ip = client_ip(
        slo.get("requester_ip_address") or meta.get("requester_ip_address"),
        headers.get("x-forwarded-for"),
        settings.trusted_networks(),
    )
    if ip is None:
        raise EventError("ip", "LiteLLM recorded no client address")
    system, prompt, turn = _prompts(slo.get("messages"))
    if settings.litellm_prompts == "none":
        system = prompt = None
    elif settings.litellm_prompts == "hash":
        key = settings.litellm_prompt_hash_key
        secret = key.get_secret_value().encode() if key is not None else None
        system = digest(system, secret) if system is not None else None
        prompt = digest(prompt, secret) if prompt is not None else None
    start, end = slo.get("startTime"), slo.get("endTime")
    user_agent = slo.get("user_agent") or meta.get("user_agent") or headers.get("user-agent")
    org = meta.get("user_api_key_org_id") or meta.get("user_api_key_team_id") or meta.get("team_id")
    model = slo.get("model_group") or slo.get("model")
    endpoint = meta.get("user_api_key_request_route") or slo.get("call_type")
    fields: dict[str, Any] = {
        "schema_version": 1,
        "event_id": slo.get("litellm_call_id") or kwargs.get("litellm_call_id"),
        "ts": datetime.fromtimestamp(start, UTC) if isinstance(start, int | float) else None,
        "account_id": fit(account, NAME_CHARS) if (account := _account(meta, slo, settings)) else None,
        "api_key_id": meta.get("user_api_key_hash"),
        "org_id": fit(org, NAME_CHARS) if org else None,
        "ip": ip,
        "user_agent": fit(user_agent, USER_AGENT_CHARS) if user_agent else None,
        "model": fit(model, NAME_CHARS) if model else None,
        "endpoint": fit(endpoint, ENDPOINT_CHARS) if endpoint else None,
        "conversation_id": fit(slo["session_id"], NAME_CHARS) if slo.get("session_id") else None,
        "turn_index": turn,
        "system_prompt": fit(system, SYSTEM_PROMPT_CHARS) if system is not None else None,
        "prompt": fit(prompt, PROMPT_CHARS) if prompt is not None else None,
        "input_tokens": slo.get("prompt_tokens") or 0,
        "output_tokens": slo.get("completion_tokens") or 0,
        "status": _status(slo.get("error_information")) if failed else SUCCESS_STATUS,
        "stop_reason": None if failed else _stop_reason(slo.get("response")),
        "latency_ms": round(1000 * (end - start))
        if isinstance(start, int | float) and isinstance(end, int | float) and end >= start
        else None,
    }
    if isinstance(params, Mapping):
        fields["max_tokens"] = next((params[p] for p in MAX_TOKENS_PARAMS if params.get(p) is not None), None)
        fields["temperature"] = params.get("temperature")
        fields["tools"] = _tool_names(params.get("tools"))
        fields["reasoning_requested"] = _reasoning_requested(params)
    return parse_event(msgspec.json.encode({k: v for k, v in fields.items() if v is not None}))
