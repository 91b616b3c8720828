"""Writing and reading the audit log."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from distillguard.api.audit.models import AuditEvent
from distillguard.api.database import where_given
from distillguard.api.restrictions.hidden import NOTHING, Hidden


class Actor(Protocol):
    """Who acts through an API token (an :class:`~distillguard.api.auth.service.Principal`)."""

    @property
    def name(self) -> str: ...

    @property
    def token_id(self) -> int: ...


def record(
    session: Session,
    actor: Actor | str,
    action: str,
    entity_type: str,
    entity_id: str | int,
    reason: str | None = None,
    **details: object,
) -> AuditEvent:
    """Append one audit event (committed with the change it describes). ``actor`` is the principal acting (its
    name and token id are recorded), or a name alone for actors without a token (the CLI)."""
    name, token_id = (actor, None) if isinstance(actor, str) else (actor.name, actor.token_id)
    ev = AuditEvent(
        actor=name,
        token_id=token_id,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        reason=reason,
        details=details,
    )
    session.add(ev)
    return ev


def events(
    session: Session,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    after: int | None = None,
    limit: int = 100,
    hidden: Hidden = NOTHING,
) -> list[AuditEvent]:
    """Audit events oldest first, filtered, but those about ``hidden`` cases and their subjects; ``after`` is the
    last id already seen (pagination)."""
    stmt = where_given(
        select(AuditEvent).order_by(AuditEvent.id).limit(limit),
        (AuditEvent.entity_type, entity_type),
        (AuditEvent.entity_id, entity_id),
        (AuditEvent.actor, actor),
        (AuditEvent.action, action),
    )
    if after is not None:
        stmt = stmt.where(AuditEvent.id > after)
    if hidden:
        stmt = stmt.where(~hidden.record_hidden(AuditEvent.entity_type, AuditEvent.entity_id))
    return list(session.scalars(stmt))
