"""Strict request parsing for the JSON API (``/api/``): a body must be ``application/json`` (415 otherwise) and
may not repeat a key in any object (422 naming the key; parsers disagree on which copy wins). Console form
posts are not JSON and are left alone. Runs inside :class:`~distillguard.api.limits.BodyLimit`, so the body it
buffers is bounded."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/api/"
JSON_MEDIA = "application/json"


class DuplicateKey(ValueError):
    """A JSON object names the same key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(key)
        out[key] = value
    return out


def duplicate_key(body: bytes) -> str | None:
    """The first key repeated within one object of the JSON ``body``, or None (invalid JSON is left to the app)."""
    try:
        json.loads(body, object_pairs_hook=_no_duplicates)
    except DuplicateKey as exc:
        return exc.key
    except (ValueError, RecursionError):
        return None
    return None


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", JSON_MEDIA.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class StrictJson:
    """ASGI middleware: JSON content type only, no duplicate keys, for request bodies under ``/api/``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left (or the body limit stopped the read)
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body:
            content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
            media = content_type.split(";", 1)[0].strip().lower()
            if media != JSON_MEDIA:
                await _answer(send, 415, f"request bodies must be {JSON_MEDIA}, not {media[:64]!r}")
                return
            key = duplicate_key(body)
            if key is not None:
                await _answer(send, 422, f"invalid request: the JSON body repeats the key {key[:64]!r}")
                return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[Message], receive: Receive | None = None) -> Receive:
    """A ``receive`` giving ``messages`` first, then (for disconnects) the original ``receive``."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        if receive is not None:
            return await receive()
        return {"type": "http.disconnect"}

    return replayed
