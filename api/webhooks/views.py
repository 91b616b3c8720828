"""Webhook endpoints (admins): subscriptions, their delivery log, redelivery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.deps import admin, get_session
from distillguard.api.errors import BODY, COMMON, CONFLICT, NOT_FOUND, RowId
from distillguard.api.webhooks import service
from distillguard.api.webhooks.models import DeliveryStatus
from distillguard.api.webhooks.schemas import (
    DELIVERY_ID,
    DeliveryId,
    DeliveryOut,
    DeliveryPage,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=COMMON)
AfterDelivery = Annotated[
    str | None, Query(pattern=DELIVERY_ID, description="Last delivery id seen; the page continues after it.")
]


@router.get("", response_model=list[WebhookOut], summary="List webhook subscriptions (admin)")
def list_webhooks(session: Session = Depends(get_session), _who: Principal = Depends(admin)):
    """Every subscription, oldest first (secrets are never shown again)."""
    return service.list_subscriptions(session)


@router.post(
    "", response_model=WebhookCreated, status_code=201, responses=BODY, summary="Create a webhook subscription (admin)"
)
def create_webhook(body: WebhookCreate, session: Session = Depends(get_session), who: Principal = Depends(admin)):
    """A new subscription; its signing secret is in this response only. Audited as ``webhook.create``."""
    sub = service.create(session, who, body.url, body.events, body.format, body.description, body.enabled)
    return WebhookOut.model_validate(sub).model_dump() | {"secret": sub.secret}


@router.get("/{webhook_id}", response_model=WebhookOut, responses=NOT_FOUND, summary="A webhook subscription (admin)")
def get_webhook(webhook_id: RowId, session: Session = Depends(get_session), _who: Principal = Depends(admin)):
    """One subscription."""
    return service.get(session, webhook_id)


@router.patch(
    "/{webhook_id}",
    response_model=WebhookOut,
    responses=NOT_FOUND | BODY,
    summary="Change, enable or disable a webhook subscription (admin)",
)
def update_webhook(
    webhook_id: RowId, body: WebhookUpdate, session: Session = Depends(get_session), who: Principal = Depends(admin)
):
    """Change the fields sent (``enabled: false`` pauses deliveries, ``true`` resumes them and clears the failure
    count). Audited as ``webhook.update`` when something changed."""
    sub = service.get(session, webhook_id)
    sent = body.model_dump(exclude_unset=True)
    changes = {k: v for k, v in sent.items() if v is not None or k == "description"}
    service.update(session, who, sub, changes)
    return sub


@router.delete("/{webhook_id}", status_code=204, responses=NOT_FOUND, summary="Delete a webhook subscription (admin)")
def delete_webhook(webhook_id: RowId, session: Session = Depends(get_session), who: Principal = Depends(admin)):
    """Delete the subscription and its delivery log. Audited as ``webhook.delete``."""
    service.delete(session, who, service.get(session, webhook_id))
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    responses=NOT_FOUND,
    summary="A webhook's delivery log, newest first (admin)",
)
def list_deliveries(
    webhook_id: RowId,
    status: DeliveryStatus | None = None,
    after: AfterDelivery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    session: Session = Depends(get_session),
    _who: Principal = Depends(admin),
):
    """The subscription's deliveries: state, attempts, the last attempt's status code or error; page with ``after``."""
    sub = service.get(session, webhook_id)
    items, after_next = service.deliveries(session, sub.id, status, after, limit)
    return {"items": items, "next": after_next}


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    responses=NOT_FOUND | CONFLICT,
    summary="Send a delivery again (admin)",
)
def redeliver(
    webhook_id: RowId, delivery_id: DeliveryId, session: Session = Depends(get_session), who: Principal = Depends(admin)
):
    """Queue the delivery again now with a fresh round of attempts, under the same delivery id (receivers that
    already have it de-duplicate it). Audited as ``webhook.redeliver``; 409 while the subscription is disabled."""
    sub = service.get(session, webhook_id)
    return service.redeliver(session, who, sub, service.get_delivery(session, sub, delivery_id))
