"""Console sessions: a random id in an HttpOnly cookie, only its SHA-256 stored; a CSRF token derived from the id.

A session ends at its expiry, at sign-out and when its API token is revoked (``service.revoke_token``).
The CSRF token is a hash of the id under another label: the page can show it, the database cannot produce it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from distillguard.api.auth.models import ApiToken, ConsoleSession
from distillguard.api.auth.service import Principal
from distillguard.api.types import utcnow

SESSION_ID_BYTES = 32
CSRF_LABEL = b"distillguard console csrf\0"


class SessionRefused(Exception):
    """The cookie's session is unknown, expired, signed out or its token revoked (the message says which)."""


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token(session_id: str) -> str:
    """The CSRF token of the session ``session_id`` (embedded in its forms)."""
    return hashlib.sha256(CSRF_LABEL + session_id.encode()).hexdigest()


def csrf_matches(session_id: str, sent: str | None) -> bool:
    """Whether ``sent`` is the session's CSRF token (compared in constant time)."""
    return sent is not None and hmac.compare_digest(csrf_token(session_id), sent)


def open_session(session: Session, token: ApiToken, lifetime: timedelta) -> str:
    """A new session of ``token`` ending after ``lifetime``; returns its id (the cookie value, never stored)."""
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    session.add(ConsoleSession(session_hash=_hash(session_id), token_id=token.id, expires_at=utcnow() + lifetime))
    session.commit()
    return session_id


def session_principal(session: Session, session_id: str, now: datetime | None = None) -> Principal:
    """The principal of a live session; :class:`SessionRefused` otherwise."""
    row = session.execute(
        select(ConsoleSession, ApiToken)
        .join(ApiToken, ApiToken.id == ConsoleSession.token_id)
        .where(ConsoleSession.session_hash == _hash(session_id))
    ).one_or_none()
    if row is None:
        raise SessionRefused("unknown console session")
    console, token = row
    if console.revoked_at is not None:
        raise SessionRefused("console session was signed out")
    if token.revoked_at is not None:
        raise SessionRefused(f"API token {token.name!r} of the console session was revoked")
    if console.expires_at <= (now or utcnow()):
        raise SessionRefused("console session expired")
    return Principal(name=token.name, role=token.role, token_id=token.id)


def close_session(session: Session, session_id: str) -> None:
    """Sign the session out (its cookie value is refused from now on)."""
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.session_hash == _hash(session_id), ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    session.commit()
