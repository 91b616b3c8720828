"""Request dependencies: a database session, the calling principal (token + role) and rate limiting."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from functools import partial
from typing import Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from distillguard.api.auth.roles import ROLES
from distillguard.api.auth.service import Principal, authenticate, hash_token
from distillguard.api.errors import client_ip
from distillguard.detector.logs import get_logger

log = get_logger("api")

AUTH_FAILURES = "auth-fail:"  # limiter keys: failed authentications per client IP
TOKEN_REQUESTS = "token:"  # limiter keys: requests per token id


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
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:  # proxies and frameworks disagree on which one counts
        raise HTTPException(400, "send exactly one Authorization header", {"WWW-Authenticate": "Bearer"})
    header = headers[0] if headers else None
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise HTTPException(401, "Authorization header must be 'Bearer <token>'", {"WWW-Authenticate": "Bearer"})
        return value.strip()
    raise HTTPException(401, "missing API token: send 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"})


def _look_up(sessions: sessionmaker[Session], token_hash: str) -> Principal:
    with sessions() as session:
        row = authenticate(session, token_hash)
        if row is None:
            raise HTTPException(401, "unknown API token", {"WWW-Authenticate": "Bearer"})
        if row.revoked_at is not None:
            raise HTTPException(401, f"API token {row.name!r} was revoked", {"WWW-Authenticate": "Bearer"})
        return Principal(name=row.name, role=row.role, token_id=row.id)


async def refuse_failing_client(request: Request) -> None:
    """429 when the client IP failed to authenticate ``API_AUTH_FAILURES_PER_MINUTE`` times in the last minute."""
    state = request.app.state
    ip = client_ip(request)
    wait = await state.limiter.blocked(AUTH_FAILURES + ip, state.settings.api_auth_failures_per_minute)
    if wait:
        raise HTTPException(
            429,
            f"too many failed authentications from {ip}: at most "
            f"{state.settings.api_auth_failures_per_minute} per minute; retry in {wait}s",
            {"Retry-After": str(wait)},
        )


async def count_failure(request: Request) -> None:
    """Count one failed authentication against the client IP."""
    state = request.app.state
    await state.limiter.hit(AUTH_FAILURES + client_ip(request), state.settings.api_auth_failures_per_minute)


async def principal(request: Request) -> Principal:
    """The caller, authenticated by token and rate-limited per token (a sliding minute, shared by the API
    processes through Redis when configured). A client IP failing authentication too often gets 429 first.
    A token seen in the last ``API_TOKEN_CACHE_SECONDS`` is not looked up again (the look-up runs in a worker
    thread with its own session)."""
    state = request.app.state
    await refuse_failing_client(request)
    try:
        token_hash = hash_token(_token(request))
        who = await state.principals.get(token_hash, partial(_look_up, state.sessions, token_hash))
    except HTTPException as exc:
        if exc.status_code == 401:
            await count_failure(request)
        raise
    await limit_token(request, who)
    return who


async def limit_token(request: Request, who: Principal) -> None:
    """429 when ``who``'s token made ``API_RATE_LIMIT_PER_MINUTE`` requests in the last 60 s; else count this one."""
    state = request.app.state
    request.state.token_id = who.token_id
    per_minute = state.settings.api_rate_limit_per_minute
    wait = await state.limiter.hit(TOKEN_REQUESTS + str(who.token_id), per_minute)
    if wait:
        raise HTTPException(
            429,
            f"rate limit of {per_minute} requests per minute exceeded for token {who.name!r}; retry in {wait}s",
            {"Retry-After": str(wait)},
        )


def admit(who: Principal, role: str) -> Principal:
    """``who`` when its role is ``role`` or above; 403 otherwise."""
    if not who.can(role):
        raise HTTPException(403, f"role {who.role!r} may not do this; it needs {role!r} or above")
    return who


def require(role: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting tokens whose role is ``role`` or above (403 otherwise)."""
    assert role in ROLES

    async def check(who: Principal = Depends(principal)) -> Principal:
        return admit(who, role)

    return check


VIEWER = "viewer"  # the least role: any token's
viewer = require(VIEWER)
analyst = require("analyst")
lead = require("lead")
admin = require("admin")
