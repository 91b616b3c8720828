"""OpenAI-compatible request and response bodies (Chat Completions and the Responses API), read into the
``api-event/v1`` fields they carry. Shared by the ``openai`` adapter (request logs) and ``litellm-spend``
(its stored request and response).

The structs name only the fields read; anything else in a body is ignored, and a field of an unexpected
type refuses the line naming its path (``request.messages[2].content``).
"""

from __future__ import annotations

from typing import Any, TypedDict

import msgspec

from distillguard.detector.events import StopReason
from distillguard.detector.ingest.convert import PromptMode, apply_prompt_mode

SYSTEM_ROLES = frozenset({"system", "developer"})
NO_REASONING = "none"  # the reasoning effort that turns reasoning off
THINKING_ON = "enabled"  # Anthropic-style ``thinking.type`` passed through OpenAI-compatible gateways
# Chat Completions finish reasons (and Anthropic stop reasons some gateways pass through) -> stop_reason.
FINISH_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "tool_use": "tool_use",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
}
# Responses API: why a response is incomplete -> stop_reason.
INCOMPLETE_REASONS: dict[str, StopReason] = {"max_output_tokens": "max_tokens", "content_filter": "refusal"}
TOOL_CALL_ITEMS = frozenset({"function_call", "custom_tool_call", "mcp_call"})


class Part(msgspec.Struct, frozen=True, gc=False):
    """A content part: ``{"type": "text" | "input_text" | "output_text", "text": ...}`` (others carry no text)."""

    type: str | None = None
    text: str | None = None


Content = str | list[Part] | None


class Message(msgspec.Struct, frozen=True, gc=False):
    """A chat message, or a Responses API input item (items without a role carry no prompt)."""

    role: str | None = None
    content: Content = None


class Function(msgspec.Struct, frozen=True, gc=False):
    name: str | None = None


class Tool(msgspec.Struct, frozen=True, gc=False):
    """``{"type": "function", "function": {"name": ...}}`` (Chat Completions), ``{"type": "function", "name": ...}``
    (Responses API) or a built-in tool named by its type (``{"type": "web_search"}``)."""

    type: str | None = None
    name: str | None = None
    function: Function | None = None

    def label(self) -> str | None:
        return (self.function.name if self.function else None) or self.name or self.type


class Reasoning(msgspec.Struct, frozen=True, gc=False):
    """``reasoning`` of the Responses API (``effort``) and of gateways such as OpenRouter (``enabled``, ``max_tokens``)."""

    effort: str | None = None
    enabled: bool | None = None
    max_tokens: int | None = None


class Thinking(msgspec.Struct, frozen=True, gc=False):
    type: str | None = None


class Request(msgspec.Struct, frozen=True, gc=False):
    """A Chat Completions or Responses API request body."""

    model: str | None = None
    messages: list[Message] | None = None  # Chat Completions
    input: str | list[Message] | None = None  # Responses API
    instructions: str | None = None  # Responses API system prompt
    previous_response_id: str | None = None  # Responses API: a follow-up turn
    max_completion_tokens: int | None = None
    max_tokens: int | None = None
    max_output_tokens: int | None = None
    reasoning_effort: str | None = None
    reasoning: Reasoning | None = None
    thinking: Thinking | None = None
    temperature: float | None = None
    tools: list[Tool | str] | None = None


class Details(msgspec.Struct, frozen=True, gc=False):
    reasoning_tokens: int | None = None


class Usage(msgspec.Struct, frozen=True, gc=False):
    prompt_tokens: int | None = None  # Chat Completions
    completion_tokens: int | None = None
    completion_tokens_details: Details | None = None
    input_tokens: int | None = None  # Responses API
    output_tokens: int | None = None
    output_tokens_details: Details | None = None


class Choice(msgspec.Struct, frozen=True, gc=False):
    finish_reason: str | None = None


class OutputItem(msgspec.Struct, frozen=True, gc=False):
    type: str | None = None


class Incomplete(msgspec.Struct, frozen=True, gc=False):
    reason: str | None = None


class Response(msgspec.Struct, frozen=True, gc=False):
    """A Chat Completions or Responses API response body, or an error body (``{"error": {...}}``)."""

    model: str | None = None
    usage: Usage | None = None
    choices: list[Choice] | None = None  # Chat Completions
    status: str | None = None  # Responses API: completed, incomplete, failed
    incomplete_details: Incomplete | None = None
    output: list[OutputItem] | None = None
    error: Any = None


class RequestFields(TypedDict):
    """The ``api-event/v1`` fields a request body carries (None: the body does not say)."""

    system_prompt: str | None
    prompt: str | None
    turn_index: int | None
    max_tokens: int | None
    temperature: float | None
    tools: list[str] | None
    reasoning_requested: bool | None


class ResponseFields(msgspec.Struct, frozen=True, gc=False):
    """The token counts and stop reason a response body carries (None: the body does not say)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    stop_reason: StopReason | None = None


def _text(content: Content) -> str | None:
    if content is None or isinstance(content, str):
        return content
    texts = [p.text for p in content if p.text is not None]
    return "\n".join(texts) if texts else None


def _first(a: int | None, b: int | None, c: int | None = None) -> int | None:
    """The first of the values that is not None (the same figure under each API's name)."""
    return a if a is not None else b if b is not None else c


def _reasoning(req: Request) -> bool | None:
    """Whether reasoning was asked for: an effort other than ``none``, ``enabled``, a reasoning budget or
    ``thinking.type == "enabled"``; None when the request does not say."""
    if req.reasoning_effort is not None:
        return req.reasoning_effort != NO_REASONING
    r = req.reasoning
    if r is not None:
        if r.enabled is not None:
            return r.enabled
        if r.effort is not None:
            return r.effort != NO_REASONING
        if r.max_tokens is not None:
            return r.max_tokens > 0
    if req.thinking is not None and req.thinking.type is not None:
        return req.thinking.type == THINKING_ON
    return None


def read_request(req: Request, prompts: PromptMode, *, reasoned: bool = False) -> RequestFields:
    """The event fields of a request body: the system prompt (system and developer messages, or the
    Responses API's ``instructions``), the last user message as the prompt, the number of user messages
    before it as the turn index, the output limit, temperature, tool names and whether reasoning was asked for
    (when the request does not say: yes if the response ``reasoned``, i.e. counted reasoning tokens)."""
    items = req.messages if req.messages is not None else req.input
    system: list[str] = [req.instructions] if req.instructions is not None else []
    prompt: str | None = None
    users = 0
    if isinstance(items, str):
        prompt, users = items, 1
    elif items is not None:
        for m in items:
            if m.role == "user":
                users += 1
                prompt = _text(m.content)
            elif m.role in SYSTEM_ROLES and (text := _text(m.content)) is not None:
                system.append(text)
    turn = users - 1 if users else None
    if req.previous_response_id is not None and not turn:
        turn = 1  # the history is held by the server: this is a follow-up
    tools = None
    if req.tools is not None:
        tools = [n for t in req.tools if (n := t if isinstance(t, str) else t.label()) is not None]
    reasoning = _reasoning(req)
    return {
        "system_prompt": apply_prompt_mode("\n\n".join(system) if system else None, prompts),
        "prompt": apply_prompt_mode(prompt, prompts),
        "turn_index": turn,
        "max_tokens": _first(req.max_completion_tokens, req.max_tokens, req.max_output_tokens),
        "temperature": req.temperature,
        "tools": tools,
        "reasoning_requested": True if reasoning is None and reasoned else reasoning,
    }


def _stop_reason(resp: Response) -> StopReason | None:
    if resp.error is not None or resp.status == "failed":
        return "error"
    if resp.choices:
        return FINISH_REASONS.get(resp.choices[0].finish_reason or "")
    if resp.status == "incomplete":
        return INCOMPLETE_REASONS.get(resp.incomplete_details.reason or "") if resp.incomplete_details else None
    if resp.status == "completed":
        calls = resp.output is not None and any(o.type in TOOL_CALL_ITEMS for o in resp.output)
        return "tool_use" if calls else "end_turn"
    return None


def read_response(resp: Response) -> ResponseFields:
    """Token counts (Chat Completions' ``prompt_tokens`` / ``completion_tokens`` or the Responses API's
    ``input_tokens`` / ``output_tokens``), reasoning tokens and the stop reason of a response body."""
    u = resp.usage
    details = (u.completion_tokens_details or u.output_tokens_details) if u else None
    return ResponseFields(
        input_tokens=_first(u.prompt_tokens, u.input_tokens) if u else None,
        output_tokens=_first(u.completion_tokens, u.output_tokens) if u else None,
        reasoning_tokens=details.reasoning_tokens if details else None,
        stop_reason=_stop_reason(resp),
    )
