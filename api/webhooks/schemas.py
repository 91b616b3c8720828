"""Request and response bodies of webhook subscriptions and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from distillguard.api.inputs import Text
from distillguard.api.webhooks.events import EventType
from distillguard.api.webhooks.models import MAX_URL, BodyFormat, DeliveryStatus

SCHEMES = ("http", "https")
MAX_DESCRIPTION = 200
DELIVERY_ID = "^[0-9a-f]{32}$"
DeliveryId = Annotated[str, Path(pattern=DELIVERY_ID, description="A delivery id (32 hex digits).")]


def receiver_url(value: str) -> str:
    """``value`` when it is an absolute http(s) URL with a host and no user name or password in it."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise ValueError(f"scheme must be http or https, not {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("needs a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password (the signature authenticates deliveries)")
    if port == 0:
        raise ValueError("port 0 cannot be reached")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain white space")
    return value


ReceiverUrl = Annotated[Text, Field(min_length=1, max_length=MAX_URL), AfterValidator(receiver_url)]
Events = Annotated[list[EventType], Field(min_length=1, max_length=len(EventType))]
Description = Annotated[Text, Field(max_length=MAX_DESCRIPTION)]


class WebhookCreate(BaseModel):
    """A new subscription: where to POST which events, in which body format."""

    model_config = ConfigDict(extra="forbid")
    url: ReceiverUrl = Field(description="http(s) URL the deliveries are POSTed to.")
    events: Events = Field(description="Event types to deliver (each once).")
    format: BodyFormat = Field(BodyFormat.json, description="'json': the event envelope; 'slack': {\"text\": ...}.")
    description: Description | None = None
    enabled: bool = True


class WebhookUpdate(BaseModel):
    """Change a subscription: a field left out stays as it is (``description: null`` clears it). Enabling it
    again resets its count of consecutive failures."""

    model_config = ConfigDict(extra="forbid")
    url: ReceiverUrl | None = None
    events: Events | None = None
    format: BodyFormat | None = None
    description: Description | None = None
    enabled: bool | None = None


class WebhookOut(BaseModel):
    """A subscription (never its secret)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    url: str
    events: list[EventType]
    format: BodyFormat
    description: str | None
    enabled: bool
    consecutive_failures: int
    disabled_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    """A new subscription with its signing secret (shown only now)."""

    secret: str


class DeliveryOut(BaseModel):
    """One event for one subscription: its state and its last attempt's outcome."""

    model_config = ConfigDict(from_attributes=True)
    id: str = Field(description="The DistillGuard-Delivery header: receivers de-duplicate by it.")
    subscription_id: int
    event_id: str
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    payload: dict


class DeliveryPage(BaseModel):
    """Deliveries newest first; ``next`` continues the list (pass it as ``after``), null at the end."""

    items: list[DeliveryOut]
    next: str | None
