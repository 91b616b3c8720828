"""``--from litellm-spend``: rows of LiteLLM's ``LiteLLM_SpendLogs`` table exported as JSON Lines
(``SELECT row_to_json(s) FROM "LiteLLM_SpendLogs" s ORDER BY "startTime"``, or the proxy's ``/spend/logs``).

Read, per row (column names as in LiteLLM's ``schema.prisma``):

- ``request_id`` -> ``event_id``; ``startTime`` -> ``ts`` (Prisma stores UTC without an offset: read as UTC);
  ``endTime`` - ``startTime`` (or ``request_duration_ms``) -> ``latency_ms``;
- the account: ``user`` (the key's owner), else ``team_id``, else the key; ``organization_id`` -> ``org_id``;
  ``api_key`` (LiteLLM stores a hash, never the key) -> ``api_key_id``; ``requester_ip_address`` (the column,
  else ``metadata.requester_ip_address``) -> ``ip``;
- ``model_group`` (the name the client asked for), else ``model``; ``prompt_tokens`` / ``completion_tokens``;
  ``call_type`` -> ``endpoint``; ``session_id`` -> ``conversation_id``;
- ``status`` ``success`` -> 200, ``failure`` -> ``metadata.error_information.error_code`` when it is an HTTP
  status, else 500 (rows written before the column existed are successes);
- with ``store_prompts_in_spend_logs`` on, ``proxy_server_request`` (the request body: messages, limits, tools,
  reasoning) and ``response`` (finish reason, reasoning tokens) as for ``--from openai``.

Spend logs record no user agent or TLS fingerprint: those fields stay missing.

Json columns are read whether the export wrote them as objects or as JSON text.
"""

from __future__ import annotations

from typing import Any

import msgspec

from distillguard.detector.events import Event, EventError, parse_with
from distillguard.detector.ingest.chat import (
    Request,
    Response,
    read_request,
    read_response,
)
from distillguard.detector.ingest.convert import HTTP_OK, MS_PER_S, PromptMode, need, parse_time, validated

SUCCESS = "success"
FAILED = 500  # a failure whose metadata names no HTTP status
HTTP_STATUSES = range(100, 600)


class ErrorInformation(msgspec.Struct, frozen=True, gc=False):
    error_code: str | int | None = None


class SpendMetadata(msgspec.Struct, frozen=True, gc=False):
    """The keys of ``metadata`` (``SpendLogsMetadata``) read here."""

    requester_ip_address: str | None = None
    error_information: ErrorInformation | None = None


class SpendLogRow(msgspec.Struct, frozen=True, gc=False):
    """One ``LiteLLM_SpendLogs`` row (the columns read)."""

    request_id: str | None = None
    call_type: str | None = None
    api_key: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    startTime: str | float | None = None
    endTime: str | float | None = None
    request_duration_ms: int | None = None
    model: str | None = None
    model_group: str | None = None
    user: str | None = None
    team_id: str | None = None
    organization_id: str | None = None
    requester_ip_address: str | None = None
    session_id: str | None = None
    status: str | None = None
    metadata: SpendMetadata | str | None = None
    proxy_server_request: Request | str | None = None
    response: Response | str | None = None


def _json(value: Any, kind: type[Any], field: str) -> Any:
    """A Json column as ``kind``: as exported (an object) or as JSON text (``""`` or ``"{}"``: empty)."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return msgspec.json.decode(value, type=kind)
    except msgspec.ValidationError as exc:
        raise EventError(field, f"JSON text does not hold the expected object: {exc}") from None
    except msgspec.DecodeError:
        raise EventError(field, "not valid JSON text") from None


def _status(row: SpendLogRow, meta: SpendMetadata | None) -> int:
    if row.status in (None, "", SUCCESS):
        return HTTP_OK
    err = meta.error_information if meta else None
    code = err.error_code if err else None
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    return code if isinstance(code, int) and code in HTTP_STATUSES else FAILED


class LiteLLMSpendLogs:
    """Converts exported ``LiteLLM_SpendLogs`` rows to ``api-event/v1`` events.

    Parameters
    ----------
    prompts : what becomes of prompt text (kept, hashed or dropped).
    """

    def __init__(self, prompts: PromptMode = PromptMode.KEEP) -> None:
        self.prompts = prompts
        self._decoder = msgspec.json.Decoder(SpendLogRow)

    def convert(self, raw: bytes) -> Event:
        """The event of one exported row; raise :class:`EventError` naming the column at fault."""
        row = parse_with(self._decoder, raw)
        meta: SpendMetadata | None = _json(row.metadata, SpendMetadata, "metadata")
        body: Request | None = _json(row.proxy_server_request, Request, "proxy_server_request")
        resp: Response | None = _json(row.response, Response, "response")
        got = read_response(resp if resp is not None else Response())
        asked = read_request(body if body is not None else Request(), self.prompts, reasoned=bool(got.reasoning_tokens))
        start = parse_time(row.startTime, "startTime", naive_is_utc=True)
        latency = row.request_duration_ms
        if latency is None and row.endTime not in (None, ""):
            end = parse_time(row.endTime, "endTime", naive_is_utc=True)
            latency = max(0, round((end - start).total_seconds() * MS_PER_S))
        account = need(row.user or row.team_id or row.api_key, "user")
        return validated(
            {
                "schema_version": 1,
                "event_id": need(row.request_id, "request_id"),
                "ts": start,
                "account_id": account,
                "api_key_id": row.api_key or account,
                "org_id": row.organization_id or None,
                "ip": need(
                    row.requester_ip_address or (meta.requester_ip_address if meta else None), "requester_ip_address"
                ),
                "endpoint": row.call_type or None,
                "model": need(row.model_group or row.model, "model"),
                "input_tokens": need(row.prompt_tokens, "prompt_tokens"),
                "output_tokens": need(row.completion_tokens, "completion_tokens"),
                "status": _status(row, meta),
                "stop_reason": got.stop_reason,
                "latency_ms": latency,
                "conversation_id": row.session_id or None,
                **asked,
            }
        )
