"""Creating, checking and revoking API tokens (only their SHA-256 is stored)."""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass

from cachetools import TTLCache

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.auth.models import ROLES, ApiToken
from api.types import utcnow

TOKEN_PREFIX = "dg_"


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
    (``ttl`` 0: none kept). :meth:`forget` drops a token at once, e.g. when this process revokes it."""

    def __init__(self, ttl: float, maxsize: int = 4096) -> None:
        self._cache: TTLCache | None = TTLCache(maxsize, ttl) if ttl > 0 else None
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> Principal | None:
        """The cached principal of a token, or None."""
        if self._cache is None:
            return None
        with self._lock:
            return self._cache.get(token_hash)

    def put(self, token_hash: str, who: Principal) -> None:
        """Remember an authenticated principal."""
        if self._cache is not None:
            with self._lock:
                self._cache[token_hash] = who

    def forget(self, token_id: int) -> None:
        """Drop every cached entry of the token ``token_id``."""
        if self._cache is not None:
            with self._lock:
                for key in [k for k, who in self._cache.items() if who.token_id == token_id]:
                    del self._cache[key]


def hash_token(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, name: str, role: str, actor: str = "cli") -> tuple[ApiToken, str]:
    """A new token with ``role``; returns the row and the secret (shown once, never stored)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role, prefix=secret[:10], token_hash=hash_token(secret))
    session.add(row)
    session.flush()
    record(session, actor, "token.create", "token", row.id, name=name, role=role)
    session.commit()
    return row, secret


def authenticate(session: Session, token_hash: str) -> ApiToken | None:
    """The token stored as ``token_hash``, or None when unknown; revoked tokens are returned (caller rejects)."""
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, oldest first."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int, actor: str = "cli", reason: str | None = None) -> ApiToken | None:
    """Revoke a token (kept for the audit trail); None when no such token."""
    row = session.get(ApiToken, token_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record(session, actor, "token.revoke", "token", row.id, reason=reason, name=row.name)
        session.commit()
    return row
