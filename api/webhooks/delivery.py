"""The webhook dispatcher: claims due deliveries, POSTs them signed, records each attempt, retries with exponential
backoff and jitter, and disables a subscription whose deliveries keep failing.

At least once: a delivery is claimed with a lease (its ``next_attempt_at`` moved past the send's timeout) in one
transaction, sent, then marked in another. A process that dies in between leaves it leased; when the lease ends any
dispatcher sends it again under the same delivery id, which receivers de-duplicate by. Several API processes may
run dispatchers on one database: on PostgreSQL the claim skips rows another claim has locked (``FOR UPDATE SKIP
LOCKED``); on both, the claiming UPDATE takes only rows still due, so two claims never hold one delivery at once.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from distillguard.api.audit.service import record
from distillguard.api.settings import ApiSettings
from distillguard.api.types import utcnow
from distillguard.api.webhooks.events import summary
from distillguard.api.webhooks.models import MAX_ERROR, BodyFormat, Delivery, DeliveryStatus, Subscription
from distillguard.api.webhooks.service import ENTITY
from distillguard.api.webhooks.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign
from distillguard.detector.logs import get_logger

log = get_logger("webhooks")

CLAIM_BATCH = 50  # deliveries claimed (and sent concurrently) per round
LEASE_TIMEOUTS = 3  # a claim's lease lasts this many send timeouts: the round sends its batch concurrently
JITTER = 0.2  # a retry waits its backoff plus up to this fraction more, so failing receivers are not hit in step
ERROR_BODY_CHARS = 200  # characters of a refusing receiver's response kept in last_error
SYSTEM = "system"  # the audit actor of automatic changes
USER_AGENT = "DistillGuard-Webhooks/1"


@dataclass(frozen=True)
class RetryPolicy:
    """How long one attempt may take, how often a delivery is tried and how long between tries, and after how many
    consecutive failed deliveries a subscription is disabled."""

    timeout: float = 10.0
    max_attempts: int = 12
    backoff: float = 1.0
    backoff_max: float = 3600.0
    disable_after: int = 5

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> RetryPolicy:
        """The policy ``settings`` name (``API_WEBHOOK_*``)."""
        return cls(
            timeout=settings.api_webhook_timeout,
            max_attempts=settings.api_webhook_max_attempts,
            backoff=settings.api_webhook_backoff_seconds,
            backoff_max=settings.api_webhook_backoff_max_seconds,
            disable_after=settings.api_webhook_disable_after,
        )

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery belongs to the round that claimed it."""
        return timedelta(seconds=self.timeout * LEASE_TIMEOUTS)

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Seconds before the next attempt of a delivery tried ``attempts`` times: the backoff doubled per earlier
        attempt, capped, plus jitter."""
        base = min(self.backoff_max, self.backoff * 2 ** (attempts - 1))
        return base * (1 + rng.uniform(0, JITTER))


@dataclass(frozen=True)
class Claimed:
    """A delivery as one round sends it: where, signed with what, and the lease it holds."""

    id: str
    lease: str
    url: str
    secret: str
    format: str
    event_type: str
    payload: dict


@dataclass(frozen=True)
class Attempt:
    """What one POST of a claimed delivery came to: the receiver's status code, or the error."""

    claimed: Claimed
    at: datetime
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        """Whether the receiver acknowledged it (any 2xx)."""
        return self.error is None


def body(claimed: Claimed) -> bytes:
    """The bytes POSTed for a delivery: its envelope, or Slack's one-liner (the same bytes on every attempt)."""
    doc = {"text": summary(claimed.payload)} if claimed.format == BodyFormat.slack else claimed.payload
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


class Dispatcher:
    """Delivers due webhook deliveries from the database of ``sessions`` under ``policy`` (``rng`` draws jitter,
    ``clock`` gives the signatures' unix time)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        policy: RetryPolicy,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.policy = policy
        self.rng = rng or random.Random()
        self.clock = clock

    def claim(self) -> list[Claimed]:
        """Lease up to :data:`CLAIM_BATCH` due deliveries of enabled subscriptions to this round (committed)."""
        with self.sessions() as session:
            now = utcnow()
            due = (
                select(Delivery.id)
                .join(Subscription, Subscription.id == Delivery.subscription_id)
                .where(
                    Delivery.status == DeliveryStatus.pending,
                    Delivery.next_attempt_at <= now,
                    Subscription.enabled,
                )
                .order_by(Delivery.next_attempt_at, Delivery.id)
                .limit(CLAIM_BATCH)
            )
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True, of=Delivery)
            ids = list(session.scalars(due))
            if not ids:
                session.rollback()
                return []
            lease = uuid.uuid4().hex
            taken = session.scalars(
                update(Delivery)
                .where(
                    Delivery.id.in_(ids),
                    Delivery.status == DeliveryStatus.pending,
                    Delivery.next_attempt_at <= now,
                )
                .values(lease=lease, next_attempt_at=now + self.policy.lease)
                .returning(Delivery.id)
                .execution_options(synchronize_session=False)
            ).all()
            rows = session.execute(
                select(Delivery, Subscription)
                .join(Subscription, Subscription.id == Delivery.subscription_id)
                .where(Delivery.id.in_(taken))
                .order_by(Delivery.next_attempt_at, Delivery.id)
            ).all()
            session.commit()
        return [Claimed(d.id, lease, s.url, s.secret, s.format, d.event_type, d.payload) for d, s in rows]

    async def send(self, client: httpx.AsyncClient, claimed: Claimed) -> Attempt:
        """POST one claimed delivery, signed; its outcome (never raises for the receiver's failures)."""
        raw = body(claimed)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(claimed.secret, raw, int(self.clock())),
            DELIVERY_HEADER: claimed.id,
            EVENT_HEADER: claimed.event_type,
        }
        try:
            r = await client.post(claimed.url, content=raw, headers=headers, timeout=self.policy.timeout)
        except httpx.HTTPError as exc:
            return Attempt(claimed, utcnow(), None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR])
        if r.is_success:
            return Attempt(claimed, utcnow(), r.status_code, None)
        said = f"HTTP {r.status_code}" + (f": {r.text[:ERROR_BODY_CHARS]}" if r.text else "")
        return Attempt(claimed, utcnow(), r.status_code, said[:MAX_ERROR])

    def mark(self, attempts: list[Attempt]) -> None:
        """Write each attempt's outcome to its delivery, unless another round leased it since (committed)."""
        with self.sessions() as session:
            for a in attempts:
                self._mark(session, a)
            session.commit()

    def _mark(self, session: Session, a: Attempt) -> None:
        found = session.execute(
            select(Delivery, Subscription)
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .where(Delivery.id == a.claimed.id, Delivery.lease == a.claimed.lease)
            .with_for_update()  # PostgreSQL: concurrent rounds count a subscription's failures one after the other
        ).one_or_none()
        if found is None:
            return  # deleted with its subscription, or its lease ran out and another round took it
        delivery, sub = found
        delivery.attempts += 1
        delivery.lease = None
        delivery.last_attempt_at, delivery.last_status_code, delivery.last_error = a.at, a.status_code, a.error
        if a.ok:
            delivery.status, delivery.delivered_at = DeliveryStatus.delivered, a.at
            sub.consecutive_failures = 0
            log.info("webhook delivered", delivery=delivery.id, webhook=sub.id, attempts=delivery.attempts)
            return
        if delivery.attempts < self.policy.max_attempts:
            wait = self.policy.delay(delivery.attempts, self.rng)
            delivery.next_attempt_at = a.at + timedelta(seconds=wait)
            log.info("webhook attempt failed; will retry", delivery=delivery.id, webhook=sub.id, error=a.error)
            return
        delivery.status = DeliveryStatus.failed
        sub.consecutive_failures += 1
        log.warning("webhook delivery failed", delivery=delivery.id, webhook=sub.id, attempts=delivery.attempts)
        if sub.enabled and sub.consecutive_failures >= self.policy.disable_after:
            reason = f"{sub.consecutive_failures} consecutive deliveries failed; last: {a.error}"[:MAX_ERROR]
            sub.enabled, sub.disabled_reason, sub.updated_at = False, reason, a.at
            record(session, SYSTEM, "webhook.disable", ENTITY, sub.id, reason, failures=sub.consecutive_failures)
            log.warning("webhook disabled", webhook=sub.id, failures=sub.consecutive_failures)

    async def run_once(self, client: httpx.AsyncClient) -> int:
        """One round: claim, send concurrently, mark. How many deliveries it attempted."""
        claimed = await asyncio.to_thread(self.claim)
        if not claimed:
            return 0
        attempts = await asyncio.gather(*(self.send(client, c) for c in claimed))
        await asyncio.to_thread(self.mark, list(attempts))
        return len(claimed)

    async def run(self, interval: float) -> None:
        """Rounds until cancelled: straight on while deliveries are due, ``interval`` seconds apart otherwise."""
        async with httpx.AsyncClient(follow_redirects=False) as client:
            while True:
                try:
                    sent = await self.run_once(client)
                except Exception as exc:  # noqa: BLE001 - keep the loop alive; leased rows come due again
                    log.warning("webhook round failed", error=str(exc)[:200])
                    sent = 0
                if not sent:
                    await asyncio.sleep(interval)
