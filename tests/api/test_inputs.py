"""The input rules of :mod:`distillguard.api.inputs` on their own: which text is storable, how dates become UTC,
and which URLs the NUL guard answers 422 (the API-level twins are test_api_accepts_text.py and
test_api_injection.py)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from starlette.types import Message, Receive, Scope, Send

from distillguard.api.inputs import NulGuard, in_utc, storable

ACCEPTED = ["", "plain", "Let's \\ 100% ' \" ", "数据 😀 مرحبا", "\t\r\n ", "\x01\x7f\u200b\ufeff", "\U0010ffff"]
PLUS_14 = timezone(timedelta(hours=14))
MINUS_12 = timezone(timedelta(hours=-12))
APP_BODY = b"app"
HTTP_BUILT = "".join(["ht", "tp"])  # "http" as a server builds it: equal to the literal, not the same object


@pytest.mark.parametrize("text", ACCEPTED)
def test_storable_text_is_returned_unchanged(text: str) -> None:
    assert storable(text) is text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("\x00", "must not contain NUL (\\x00) characters"),
        ("a\x00b", "must not contain NUL (\\x00) characters"),
        ("\ud800", "must be valid Unicode (no lone surrogates)"),
        ("ok \udfff", "must be valid Unicode (no lone surrogates)"),
    ],
)
def test_unstorable_text_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError) as refused:
        storable(text)
    assert str(refused.value) == why and refused.value.__cause__ is None


def test_a_naive_date_is_taken_as_utc() -> None:
    assert in_utc(datetime(2026, 3, 2, 8, 30)) == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert in_utc(datetime(2026, 3, 2, 8, 30)).tzinfo is UTC


def test_an_aware_date_is_converted_to_utc() -> None:
    converted = in_utc(datetime(2026, 3, 2, 22, 0, tzinfo=PLUS_14))
    assert converted == datetime(2026, 3, 2, 8, 0, tzinfo=UTC) and converted.tzinfo is UTC
    assert in_utc(datetime(9999, 12, 31, 11, 0, tzinfo=MINUS_12)) == datetime(9999, 12, 31, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "date", [datetime(1, 1, 1, 0, 0, tzinfo=PLUS_14), datetime(9999, 12, 31, 23, 0, tzinfo=MINUS_12)]
)
def test_a_date_outside_years_1_to_9999_in_utc_is_refused(date: datetime) -> None:
    with pytest.raises(ValueError) as refused:
        in_utc(date)
    assert str(refused.value) == "date out of range once converted to UTC (years 1 to 9999)"
    assert refused.value.__cause__ is None


def _through_guard(scope: Scope) -> tuple[list[Message], bool]:
    """The messages :class:`NulGuard` sends for a request with ``scope``, and whether the app was called."""
    called: list[Scope] = []
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)
        await send({"type": "http.response.body", "body": APP_BODY})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(NulGuard(app)(scope, receive, send))
    return sent, bool(called)


def _refusal(where: str) -> list[Message]:
    body = json.dumps({"detail": f"invalid request: the URL {where} contains a NUL (%00) character"}).encode()
    return [
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        },
        {"type": "http.response.body", "body": body},
    ]


@pytest.mark.parametrize(
    ("path", "query", "where"),
    [
        ("/api/v1/clusters/a\x00b", b"", "path"),
        ("/api/v1/clusters/a\x00b", b"x=%00", "path"),
        ("/api/v1/cases", b"assignee=a%00b", "query string"),
        ("/api/v1/cases", b"%00", "query string"),
    ],
)
@pytest.mark.parametrize("http", ["http", HTTP_BUILT], ids=["literal", "built"])
def test_a_url_with_a_nul_is_answered_422_without_the_app(path: str, query: bytes, where: str, http: str) -> None:
    assert _through_guard({"type": http, "path": path, "query_string": query}) == (_refusal(where), False)


@pytest.mark.parametrize(
    "scope",
    [
        {"type": "http", "path": "/api/v1/cases", "query_string": b"assignee=%2500&x=%0"},
        {"type": "http", "path": "/api/v1/clusters/100%", "query_string": b""},
        {"type": "websocket", "path": "/ws/a\x00b", "query_string": b"%00"},
    ],
    ids=["escaped-percent", "percent-path", "not-http"],
)
def test_other_requests_reach_the_app(scope: Scope) -> None:
    assert _through_guard(scope) == ([{"type": "http.response.body", "body": APP_BODY}], True)
