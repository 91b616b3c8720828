"""Creating, checking and revoking API tokens (only their SHA-256 is stored)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from distillguard.api.audit.service import Actor, record
from distillguard.api.auth.models import ApiToken, ConsoleSession
from distillguard.api.auth.roles import ROLES
from distillguard.api.errors import ServiceError
from distillguard.api.types import utcnow

TOKEN_PREFIX = "dg_"
CLI_ACTOR = "cli"  # the audit actor of changes made with the command line
# names no token may take (compared case-insensitively): actors the service records itself, and names an
# audit reader would take for the service rather than a person
RESERVED_NAMES = frozenset({CLI_ACTOR, "system", "setup", "root", "anonymous", "unknown", "distillguard"})


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name (the audit actor), role and id."""

    name: str
    role: str
    token_id: int

    def can(self, role: str) -> bool:
        """Whether this principal's role is ``role`` or above."""
        return ROLES.index(self.role) >= ROLES.index(role)


class PrincipalCache:
    """Authenticated principals by token hash, trusted for ``ttl`` seconds without a database look-up
    (``ttl`` 0: none kept). Concurrent requests with a token not in the cache share one look-up (when an entry
    expires under load, one query, not one per request in flight). :meth:`forget` drops a token at once.
    ``clock`` (seconds, monotonic) measures ``ttl``."""

    def __init__(self, ttl: float, maxsize: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self._cache: TTLCache | None = TTLCache(maxsize, ttl, timer=clock) if ttl > 0 else None
        self._lock = threading.Lock()
        self._looking_up: dict[str, tuple[int, asyncio.Future]] = {}
        self._forgets = 0  # a look-up begun before a forget() is not cached (it may predate the revocation)

    async def get(self, token_hash: str, look_up: Callable[[], Principal]) -> Principal:
        """The principal of a token: cached, or ``look_up()`` in a worker thread (its errors reach every caller)."""
        if self._cache is not None:
            with self._lock:
                who = self._cache.get(token_hash)
            if who is not None:
                return who
        flight = self._looking_up.get(token_hash)
        if flight is None or flight[0] != self._forgets:  # a look-up begun before a revocation won't do
            flight = self._looking_up[token_hash] = (self._forgets, asyncio.ensure_future(run_in_threadpool(look_up)))

            def settle(_f: asyncio.Future, fl: tuple[int, asyncio.Future] = flight) -> None:
                self._settle(token_hash, fl)

            flight[1].add_done_callback(settle)
        return await asyncio.shield(flight[1])

    def _settle(self, token_hash: str, flight: tuple[int, asyncio.Future]) -> None:
        forgets, future = flight
        if self._looking_up.get(token_hash) is flight:
            del self._looking_up[token_hash]
        if self._cache is None or forgets != self._forgets or future.cancelled() or future.exception() is not None:
            return
        with self._lock:
            self._cache[token_hash] = future.result()

    def forget(self, token_id: int) -> None:
        """Drop every cached entry of the token ``token_id``."""
        self._forgets += 1
        if self._cache is not None:
            with self._lock:
                for key in [k for k, who in self._cache.items() if who.token_id == token_id]:
                    del self._cache[key]


def hash_token(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def active_token(session: Session, name: str) -> ApiToken | None:
    """The unrevoked token named ``name`` (names are unique among them), or None."""
    return session.scalar(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None)).limit(1))


def _refuse_taken(session: Session, name: str) -> None:
    """409 when an unrevoked token is named ``name``."""
    existing = active_token(session, name)
    if existing is not None:
        raise ServiceError(409, f"token {existing.id} named {name!r} is active; revoke it first or choose another name")


def check_token_name(session: Session, name: str) -> None:
    """422 when ``name`` is reserved, 409 when an unrevoked token has it: a name is one principal (the audit
    actor and the assignee of cases), so nobody can get a token acting as someone else."""
    if name.strip().casefold() in RESERVED_NAMES or name != name.strip():
        raise ServiceError(
            422, f"token name {name!r} is reserved or padded; reserved: {', '.join(sorted(RESERVED_NAMES))}"
        )
    _refuse_taken(session, name)


def _insert_token(session: Session, row: ApiToken) -> None:
    """Insert ``row``. The database keeps names unique among unrevoked tokens (index
    ``uq_api_tokens_active_name``): when another transaction took the name after :func:`check_token_name` ran,
    the insert is rolled back and answered with the same 409."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        _refuse_taken(session, row.name)
        raise


def create_token(session: Session, name: str, role: str, actor: Actor | str = CLI_ACTOR) -> tuple[ApiToken, str]:
    """A new token with ``role``; returns the row and the secret (shown once, never stored). ServiceError when
    the name is reserved or taken (:func:`check_token_name`)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    check_token_name(session, name)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role, prefix=secret[:10], token_hash=hash_token(secret))
    _insert_token(session, row)
    record(session, actor, "token.create", "token", row.id, name=name, role=role)
    session.commit()
    return row, secret


def authenticate(session: Session, token_hash: str) -> ApiToken | None:
    """The token stored as ``token_hash``, or None when unknown; revoked tokens are returned (caller rejects)."""
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, oldest first."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(
    session: Session, token_id: int, actor: Actor | str = CLI_ACTOR, reason: str | None = None
) -> ApiToken | None:
    """Revoke a token (kept for the audit trail); None when no such token."""
    row = session.get(ApiToken, token_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.execute(  # its console sessions end with it (api.auth.sessions)
            update(ConsoleSession)
            .where(ConsoleSession.token_id == token_id, ConsoleSession.revoked_at.is_(None))
            .values(revoked_at=row.revoked_at)
        )
        record(session, actor, "token.revoke", "token", row.id, reason=reason, name=row.name)
        session.commit()
    return row
