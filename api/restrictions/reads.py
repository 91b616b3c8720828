"""The restricted cases hidden from each queue request, read after the request arrived, one read shared by the
requests that wait for it.

A request must not see a case restricted before it arrived, by this process or any other, so nothing read for an
earlier request will do. A read that starts after a request arrived will: a request joins the next read of its
principal's name that has not started yet (there is one while a read of that name runs), or starts one. Under load,
one read (a database round trip in a worker thread) then answers every request that arrived while the previous read
ran, instead of one read each. Nothing is kept once a read has answered its requests.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from distillguard.api.auth.service import Principal
from distillguard.api.restrictions.hidden import NOTHING, Hidden
from distillguard.api.restrictions.service import SEES_ALL_ROLE, hidden_in_session_of


class HiddenReads:
    """:func:`hidden_in_session_of` for requests on the event loop, read after each request arrived, shared by the
    requests waiting at the same time for the same name."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._running: set[str] = set()  # names with a read started
        self._next: dict[str, tuple[Principal, asyncio.Future[Hidden]]] = {}  # the read to start after it, per name

    async def of(self, who: Principal) -> Hidden:
        """The restricted cases ``who`` is no member of, as committed when this call was made or later."""
        if who.can(SEES_ALL_ROLE):
            return NOTHING
        waiting = self._next.get(who.name)
        if waiting is None:
            waiting = self._next[who.name] = (who, asyncio.get_running_loop().create_future())
            if who.name not in self._running:
                self._start(who.name)
        return await asyncio.shield(waiting[1])  # a request cancelled leaves the read to the others

    def _start(self, name: str) -> None:
        """Start the read waiting for ``name``; when it ends, answer its requests, then start the next one."""
        who, answer = self._next.pop(name)
        self._running.add(name)
        read = asyncio.ensure_future(run_in_threadpool(hidden_in_session_of, self.sessions, who))

        def done(read: asyncio.Future[Hidden]) -> None:
            self._running.discard(name)
            if read.cancelled():
                answer.cancel()
            elif (error := read.exception()) is not None:
                answer.set_exception(error)
                answer.exception()  # retrieved: no warning when every request waiting was cancelled
            else:
                answer.set_result(read.result())
            if name in self._next:
                self._start(name)

        read.add_done_callback(done)
