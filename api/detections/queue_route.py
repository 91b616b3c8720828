"""The queue's route: a request whose query string FastAPI has parsed before skips parsing it again.

A cached queue page costs little to serve; FastAPI's parsing and validation of the filters cost about as much as
the rest of such a request. Parsing depends on the query string alone, so the queue's endpoint keeps what it parsed
by the raw query string (:class:`ParsedQueries`), and the route answers a GET with a known query string itself: the
same checks per request (token, rate limit, role, the template rule, the hidden cases read after it arrived), the
same body and headers, errors through the same handlers. Any other request goes the usual way.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

from cachetools import LRUCache
from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.types import Receive, Scope, Send

from distillguard.api.auth.service import Principal
from distillguard.api.deps import VIEWER, admit, principal
from distillguard.api.detections import queue
from distillguard.api.detections.schemas import QueueFilters
from distillguard.detector.records import SubjectKind

PARSED_QUERIES = 1024  # query strings whose parse is kept, least recently used dropped (any string may be sent)


class QueueQuery(NamedTuple):
    """A queue request's parameters, as FastAPI parsed them."""

    kind: SubjectKind
    f: QueueFilters
    filters: str  # ``f`` as JSON: the page cache's key
    cursor: str | None
    limit: int


class ParsedQueries:
    """Queue requests' parameters by their raw query string (used on the event loop only)."""

    def __init__(self, maxsize: int = PARSED_QUERIES) -> None:
        self._parsed: LRUCache[bytes, QueueQuery] = LRUCache(maxsize)

    def get(self, query_string: bytes) -> QueueQuery | None:
        """The parameters parsed from ``query_string``, if it was parsed lately."""
        return self._parsed.get(query_string)

    def keep(self, query_string: bytes, query: QueueQuery) -> None:
        """Remember that ``query_string`` parses into ``query``."""
        self._parsed[query_string] = query


async def answer(request: Request, who: Principal, query: QueueQuery) -> Response:
    """The queue page of ``query`` for ``who``: pages of the same detections epoch are rendered once and shared by
    callers who may not see the same restricted cases (read for this request); matching prompt templates needs
    role analyst (:func:`queue.template_matching`)."""
    state = request.app.state
    templates = queue.template_matching(query.f, who)
    hidden = await state.hidden_reads.of(who)
    render = partial(
        queue.page_json,
        kind=query.kind,
        f=query.f,
        cursor=query.cursor,
        limit=query.limit,
        templates=templates,
        hidden=hidden,
    )
    key = ("page", query.kind, query.filters, templates, hidden.cases, query.cursor, query.limit)
    return Response(await state.queue_pages.get(key, render), media_type="application/json")


class QueueRoute(APIRoute):
    """The queue's route: a GET whose query string is in the app's ``queue_queries`` is answered by :func:`answer`
    without parsing it again; any other request goes the usual way."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope["method"] == "GET" and scope["app"].state.queue_queries.get(scope["query_string"])
        if not query:
            await super().handle(scope, receive, send)
            return
        request = Request(scope, receive, send)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            response = await answer(request, admit(await principal(request), VIEWER), query)
            await response(scope, receive, send)

        await wrap_app_handling_exceptions(app, request)(scope, receive, send)
