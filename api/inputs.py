"""Text every supported database can store and compare: no NUL characters (PostgreSQL rejects them in text) and
no lone surrogates (not encodable as UTF-8). Request bodies use :data:`Text`; URLs are checked by :class:`NulGuard`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator
from starlette.types import ASGIApp, Receive, Scope, Send


def storable(value: str) -> str:
    """``value`` unchanged; ValueError saying why when a database could not store it."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\x00) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


Text = Annotated[str, AfterValidator(storable)]


def in_utc(value: datetime) -> datetime:
    """``value`` in UTC (naive values are taken as UTC); ValueError when it falls outside the years 1-9999 there
    (``0001-01-01T00:00:00+14:00`` is in year 0 in UTC), so that a filter never overflows into a 500."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date out of range once converted to UTC (years 1 to 9999)") from None


UtcDatetime = Annotated[datetime, AfterValidator(in_utc)]


class NulGuard:
    """ASGI middleware answering 422 to a URL whose path or query carries a NUL (``%00``): no id or filter of this
    API contains one, and PostgreSQL cannot compare text with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in scope["query_string"]):
            where = "path" if "\x00" in scope["path"] else "query string"
            body = json.dumps({"detail": f"invalid request: the URL {where} contains a NUL (%00) character"}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 422, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
