"""Request dependencies: a database session, the calling principal (token + role) and rate limiting."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from fastapi import Depends, HTTPException, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.auth.models import ROLES
from api.auth.service import Principal, authenticate
from detector.logs import get_logger

log = get_logger("api")

COOKIE = "dg_token"


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for this request (services commit their own changes). An async dependency on purpose:
    its clean-up then runs on the event loop, so returning the connection never waits for a free worker
    thread (under load, sync clean-ups queued behind new requests held every pooled connection). A
    connection the database dropped is discarded by the pool; the response has been sent by then."""
    session = request.app.state.sessions()
    try:
        yield session
    finally:
        try:
            session.close()
        except DBAPIError as exc:
            log.warning("closing a database session failed", error=str(exc.orig)[:200])


def _token(request: Request) -> str:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise HTTPException(401, "Authorization header must be 'Bearer <token>'", {"WWW-Authenticate": "Bearer"})
        return value.strip()
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return cookie
    raise HTTPException(401, "missing API token: send 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"})


def principal(request: Request, session: Session = Depends(get_session)) -> Principal:
    """The caller, authenticated by token and rate-limited per token."""
    row = authenticate(session, _token(request))
    if row is None:
        raise HTTPException(401, "unknown API token", {"WWW-Authenticate": "Bearer"})
    if row.revoked_at is not None:
        raise HTTPException(401, f"API token {row.name!r} was revoked", {"WWW-Authenticate": "Bearer"})
    wait = request.app.state.limiter.check(row.id)
    if wait:
        raise HTTPException(429, f"rate limit of {request.app.state.settings.api_rate_limit_per_minute} requests "
                                 f"per minute exceeded for token {row.name!r}; retry in {wait}s",
                            {"Retry-After": str(wait)})
    who = Principal(name=row.name, role=row.role, token_id=row.id)
    session.rollback()  # end the read: the connection goes back to the pool while the request waits for a worker thread
    return who


def require(role: str) -> Callable[..., Principal]:
    """A dependency admitting tokens whose role is ``role`` or above (403 otherwise)."""
    assert role in ROLES

    def check(who: Principal = Depends(principal)) -> Principal:
        if not who.can(role):
            raise HTTPException(403, f"role {who.role!r} may not do this; it needs {role!r} or above")
        return who

    return check


viewer = require("viewer")
analyst = require("analyst")
lead = require("lead")
admin = require("admin")
