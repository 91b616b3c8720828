"""Webhook subscriptions (admin-managed, every change audited) and the delivery outbox the other services write to.

:func:`enqueue` is what the rest of the review service calls, inside the transaction of the change an event
reports: one delivery row per enabled subscription that wants the event, committed (or rolled back) with the change.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from distillguard.api.audit.service import Actor, record
from distillguard.api.errors import ServiceError, echo
from distillguard.api.types import utcnow
from distillguard.api.webhooks.events import Event
from distillguard.api.webhooks.models import Delivery, DeliveryStatus, Subscription

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
ENTITY = "webhook"  # the audit log's entity type
EDITABLE = ("url", "events", "format", "description", "enabled")


def new_secret() -> str:
    """A random signing secret (256 bits)."""
    return SECRET_PREFIX + secrets.token_hex(SECRET_BYTES)


def new_delivery_id() -> str:
    """A random delivery id (the DistillGuard-Delivery header)."""
    return uuid.uuid4().hex


def create(
    session: Session,
    who: Actor,
    url: str,
    events: Sequence[str],
    body_format: str,
    description: str | None,
    enabled: bool,
) -> Subscription:
    """A new subscription with a fresh secret; audited as ``webhook.create`` (without the secret)."""
    now = utcnow()
    sub = Subscription(
        url=url,
        events=list(dict.fromkeys(events)),
        format=body_format,
        description=description,
        secret=new_secret(),
        enabled=enabled,
        consecutive_failures=0,
        created_by=who.name,
        created_at=now,
        updated_at=now,
    )
    session.add(sub)
    session.flush()
    record(session, who, "webhook.create", ENTITY, sub.id, None, **_fields(sub))
    session.commit()
    return sub


def _fields(sub: Subscription) -> dict:
    return {name: getattr(sub, name) for name in EDITABLE}


def list_subscriptions(session: Session) -> list[Subscription]:
    """Every subscription, oldest first."""
    return list(session.scalars(select(Subscription).order_by(Subscription.id)))


def get(session: Session, webhook_id: int) -> Subscription:
    """The subscription; 404 when unknown."""
    sub = session.get(Subscription, webhook_id)
    if sub is None:
        raise ServiceError(404, f"no webhook {webhook_id}")
    return sub


def update(session: Session, who: Actor, sub: Subscription, changes: dict) -> bool:
    """Apply ``changes`` (fields of :data:`EDITABLE`); whether anything changed (then audited as
    ``webhook.update`` with each field before and after). Enabling it again clears its failure count."""
    if "events" in changes:
        changes = changes | {"events": list(dict.fromkeys(changes["events"]))}
    before = _fields(sub)
    moved = {k: v for k, v in changes.items() if before[k] != v}
    if not moved:
        return False
    for name, value in moved.items():
        setattr(sub, name, value)
    if moved.get("enabled") is True:
        sub.consecutive_failures, sub.disabled_reason = 0, None
    sub.updated_at = utcnow()
    record(
        session,
        who,
        "webhook.update",
        ENTITY,
        sub.id,
        None,
        before={k: before[k] for k in moved},
        after=moved,
    )
    session.commit()
    return True


def delete(session: Session, who: Actor, sub: Subscription) -> None:
    """Delete the subscription and its deliveries; audited as ``webhook.delete``."""
    record(session, who, "webhook.delete", ENTITY, sub.id, None, **_fields(sub))
    session.delete(sub)
    session.commit()


def deliveries(
    session: Session,
    webhook_id: int | None = None,
    status: DeliveryStatus | None = None,
    after: str | None = None,
    limit: int = 50,
) -> tuple[list[Delivery], str | None]:
    """Deliveries newest first (of one subscription, or all), filtered by status; ``after`` is the last delivery id
    seen (422 when unknown). Returns the page and the ``after`` of the next one (None at the end)."""
    stmt = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit + 1)
    if webhook_id is not None:
        stmt = stmt.where(Delivery.subscription_id == webhook_id)
    if status is not None:
        stmt = stmt.where(Delivery.status == status)
    if after is not None:
        last = session.get(Delivery, after)
        if last is None:
            raise ServiceError(422, f"after: no delivery {echo(after)}")
        stmt = stmt.where(tuple_(Delivery.created_at, Delivery.id) < tuple_(last.created_at, last.id))
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    return rows[:limit], rows[limit - 1].id if more else None


def get_delivery(session: Session, sub: Subscription, delivery_id: str) -> Delivery:
    """A delivery of ``sub``; 404 when it has none of that id."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.subscription_id != sub.id:
        raise ServiceError(404, f"webhook {sub.id} has no delivery {echo(delivery_id)}")
    return delivery


def redeliver(session: Session, who: Actor, sub: Subscription, delivery: Delivery) -> Delivery:
    """Send ``delivery`` again (same delivery id, a fresh round of attempts, due now); audited as
    ``webhook.redeliver``. 409 while the subscription is disabled."""
    if not sub.enabled:
        raise ServiceError(409, f"webhook {sub.id} is disabled; enable it before redelivering")
    record(
        session,
        who,
        "webhook.redeliver",
        ENTITY,
        sub.id,
        None,
        delivery_id=delivery.id,
        event_id=delivery.event_id,
        status=delivery.status,
        attempts=delivery.attempts,
    )
    delivery.status, delivery.attempts, delivery.lease = DeliveryStatus.pending, 0, None
    delivery.next_attempt_at = utcnow()
    session.commit()
    return delivery


def enqueue(session: Session, *events: Event) -> int:
    """Queue each event for every enabled subscription that wants its type, in the caller's transaction (the caller
    commits). An event already queued for a subscription (same type and key) is not queued again. How many
    deliveries were new."""
    if not events:
        return 0
    wanted = [(s.id, set(s.events)) for s in session.scalars(select(Subscription).where(Subscription.enabled))]
    now = utcnow()
    rows = [
        {
            "id": new_delivery_id(),
            "subscription_id": sub_id,
            "event_id": e.id,
            "event_type": str(e.type),
            "payload": e.envelope(now),
            "status": DeliveryStatus.pending.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for e in events
        for sub_id, types in wanted
        if e.type in types
    ]
    if not rows:
        return 0
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(Delivery).on_conflict_do_nothing(index_elements=["subscription_id", "event_id"]).returning(Delivery.id)
    )
    return len(session.execute(stmt, rows).scalars().all())
