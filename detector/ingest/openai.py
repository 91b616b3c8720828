"""``--from openai``: OpenAI-compatible request logs, one JSON object per line: the gateway's metadata about a
request, the request body and the response body (Chat Completions or the Responses API).

The line shape (README, "Connect your gateway")::

    {"timestamp": "2026-03-02T10:00:00.120Z",   # RFC 3339, or epoch seconds / milliseconds
     "request_id": "req_8c1f", "account_id": "acct_42", "api_key_id": "key_7f3a", "org_id": "org_9",
     "ip": "203.0.113.7", "user_agent": "OpenAI/Python 1.54.0", "endpoint": "/v1/chat/completions",
     "status": 200, "latency_ms": 812, "conversation_id": null,
     "request": {"model": ..., "messages": [...], "max_completion_tokens": ..., "tools": [...], ...},
     "response": {"usage": {...}, "choices": [{"finish_reason": "stop", ...}], ...}}

Required: ``timestamp``, ``request_id``, ``account_id``, ``ip``, ``request.model`` (or ``response.model``), and
token counts in ``response.usage`` unless the status is an error. ``api_key_id`` defaults to the account (one key
per account); ``status`` to 200 when a response without ``error`` is logged. A gateway that knows more about
the account or the connection adds it under ``api-event/v1``'s own names (``account_created_at``,
``verification_path``, ``billing_country``, ``payment_fingerprint``, ``asn``, ``ip_country``, ``tls_fingerprint``).
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from distillguard.detector.events import Event, EventError, parse_with
from distillguard.detector.ingest.chat import Request, Response, read_request, read_response
from distillguard.detector.ingest.convert import HTTP_OK, PromptMode, need, parse_time, validated

FIRST_ERROR_STATUS = 400  # statuses from here on carry no usage: their token counts are 0


class OpenAILine(msgspec.Struct, frozen=True, gc=False):
    """One line of an OpenAI-compatible request log."""

    timestamp: datetime | float | None = None
    request_id: str | None = None
    account_id: str | None = None
    api_key_id: str | None = None
    org_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    endpoint: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    conversation_id: str | None = None
    account_created_at: datetime | None = None
    verification_path: str | None = None
    billing_country: str | None = None
    payment_fingerprint: str | None = None
    asn: int | None = None
    ip_country: str | None = None
    tls_fingerprint: str | None = None
    request: Request | None = None
    response: Response | None = None


class OpenAILogs:
    """Converts OpenAI-compatible request log lines to ``api-event/v1`` events.

    Parameters
    ----------
    prompts : what becomes of prompt text (kept, hashed or dropped).
    """

    def __init__(self, prompts: PromptMode = PromptMode.KEEP) -> None:
        self.prompts = prompts
        self._decoder = msgspec.json.Decoder(OpenAILine)

    def convert(self, raw: bytes) -> Event:
        """The event of one log line; raise :class:`EventError` naming the field at fault."""
        line = parse_with(self._decoder, raw)
        req = need(line.request, "request")
        resp = line.response if line.response is not None else Response()
        status = line.status
        if status is None:
            if line.response is None or resp.error is not None:
                raise EventError("status", "required field is missing (and no successful response is logged)")
            status = HTTP_OK
        got = read_response(resp)
        tokens_in, tokens_out = got.input_tokens, got.output_tokens
        if tokens_in is None or tokens_out is None:
            if status < FIRST_ERROR_STATUS:
                raise EventError("response.usage", "token counts of a successful response are missing")
            tokens_in, tokens_out = tokens_in or 0, tokens_out or 0
        asked = read_request(req, self.prompts, reasoned=bool(got.reasoning_tokens))
        account = need(line.account_id, "account_id")
        return validated(
            {
                "schema_version": 1,
                "event_id": need(line.request_id, "request_id"),
                "ts": parse_time(line.timestamp, "timestamp"),
                "account_id": account,
                "api_key_id": line.api_key_id or account,
                "org_id": line.org_id,
                "ip": need(line.ip, "ip"),
                "user_agent": line.user_agent,
                "endpoint": line.endpoint,
                "model": need(req.model or resp.model, "request.model"),
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "status": status,
                "stop_reason": got.stop_reason,
                "latency_ms": None if line.latency_ms is None else round(line.latency_ms),
                "conversation_id": line.conversation_id,
                "account_created_at": line.account_created_at,
                "verification_path": line.verification_path,
                "billing_country": line.billing_country,
                "payment_fingerprint": line.payment_fingerprint,
                "asn": line.asn,
                "ip_country": line.ip_country,
                "tls_fingerprint": line.tls_fingerprint,
                **asked,
            }
        )
