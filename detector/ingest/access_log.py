"""``--from nginx`` and ``--from envoy``: JSON access logs written by the ``log_format ... escape=json`` and
``json_format`` snippets of the README ("Connect your gateway"). Both write the same keys:

    time, request_id, client_ip, forwarded_for, account_id, api_key_id, org_id, user_agent, path,
    status, request_bytes, response_bytes, model, input_tokens, output_tokens, conversation_id
    + request_time (nginx, seconds) or duration_ms (Envoy, milliseconds)

nginx writes every value as a string (empty when absent), Envoy numbers as numbers and absent values as
``null`` or ``-``; both are read. The client address is ``client_ip`` (nginx's ``$remote_addr`` after the
realip module, Envoy's downstream address after its trusted hops), else the last address of
``forwarded_for`` (the one your own edge appended; earlier ones are the client's claims). Token counts come
from the upstream's usage headers; where they are absent they are estimated from the body sizes at
:data:`BYTES_PER_TOKEN` bytes a token (an access log sees no body), so output length is approximate.
"""

from __future__ import annotations

import msgspec

from distillguard.detector.events import Event, parse_with
from distillguard.detector.ingest.convert import MS_PER_S, need, parse_time, present, to_float, to_int, validated

BYTES_PER_TOKEN = 4  # English text averages about 4 bytes a token; JSON around the text adds to the estimate
ENDPOINT_CHARS = 64  # api-event/v1's limit for endpoint: longer paths are cut

Value = str | int | float | None


class AccessLine(msgspec.Struct, frozen=True, gc=False):
    """One access log line of the documented nginx or Envoy format."""

    time: Value = None
    request_id: str | None = None
    client_ip: str | None = None
    forwarded_for: str | None = None
    account_id: str | None = None
    api_key_id: str | None = None
    org_id: str | None = None
    user_agent: str | None = None
    path: str | None = None
    status: Value = None
    request_bytes: Value = None
    response_bytes: Value = None
    request_time: Value = None  # nginx: seconds
    duration_ms: Value = None  # Envoy: milliseconds
    model: str | None = None
    input_tokens: Value = None
    output_tokens: Value = None
    conversation_id: str | None = None


def _client_ip(line: AccessLine) -> str:
    ip = present(line.client_ip)
    if ip is None and (forwarded := present(line.forwarded_for)) is not None:
        ip = forwarded.rsplit(",", 1)[-1].strip()
    return need(ip, "client_ip")


def _latency_ms(line: AccessLine) -> int | None:
    if (ms := to_int(line.duration_ms, "duration_ms")) is not None:
        return ms
    seconds = to_float(line.request_time, "request_time")
    return None if seconds is None else round(seconds * MS_PER_S)


def _tokens(count: Value, size: Value, field: str, size_field: str) -> int:
    """A logged token count, else one estimated from a body size."""
    tokens = to_int(count, field)
    if tokens is None:
        tokens = need(to_int(size, size_field), f"{field} (or {size_field})") // BYTES_PER_TOKEN
    return tokens


class AccessLogs:
    """Converts JSON access log lines of the documented nginx and Envoy formats to ``api-event/v1`` events."""

    def __init__(self) -> None:
        self._decoder = msgspec.json.Decoder(AccessLine)

    def convert(self, raw: bytes) -> Event:
        """The event of one access log line; raise :class:`EventError` naming the field at fault."""
        line = parse_with(self._decoder, raw)
        account = need(present(line.account_id), "account_id")
        path = present(line.path)
        return validated(
            {
                "schema_version": 1,
                "event_id": need(present(line.request_id), "request_id"),
                "ts": parse_time(line.time, "time"),
                "account_id": account,
                "api_key_id": present(line.api_key_id) or account,
                "org_id": present(line.org_id),
                "ip": _client_ip(line),
                "user_agent": present(line.user_agent),
                "endpoint": path.partition("?")[0][:ENDPOINT_CHARS] if path else None,
                "model": need(present(line.model), "model"),
                "input_tokens": _tokens(line.input_tokens, line.request_bytes, "input_tokens", "request_bytes"),
                "output_tokens": _tokens(line.output_tokens, line.response_bytes, "output_tokens", "response_bytes"),
                "status": need(to_int(line.status, "status"), "status"),
                "latency_ms": _latency_ms(line),
                "conversation_id": present(line.conversation_id),
            }
        )
