"""The console's webhooks page (admins): subscriptions, recent deliveries, and redelivering one."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.console.views import Message, act, back, console_user, templates
from distillguard.api.deps import get_session
from distillguard.api.errors import RowId
from distillguard.api.webhooks import service
from distillguard.api.webhooks.schemas import DeliveryId

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE = "/console/webhooks"
RECENT = 50  # deliveries the page lists, newest first
ROLE = "admin"


def _refusal(who: Principal) -> str | None:
    """Why ``who`` may not manage webhooks, or None."""
    return None if who.can(ROLE) else f"role {who.role!r} may not manage webhooks; it needs {ROLE!r}"


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks_page(
    request: Request,
    msg: Message = None,
    done: Message = None,
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Every subscription and the latest deliveries, each with a redeliver button."""
    refused = _refusal(who)
    if refused:
        return back("/console", refused)
    recent, _ = service.deliveries(session, limit=RECENT)
    context = {"who": who, "msg": msg, "done": done, "subscriptions": service.list_subscriptions(session)}
    return templates.TemplateResponse(request, "webhooks.html", context | {"deliveries": recent})


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
def redeliver(
    webhook_id: RowId,
    delivery_id: DeliveryId,
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Queue a delivery again (audited as ``webhook.redeliver``)."""
    refused = _refusal(who)
    if refused:
        return back(PAGE, refused)

    def run() -> str:
        sub = service.get(session, webhook_id)
        service.redeliver(session, who, sub, service.get_delivery(session, sub, delivery_id))
        return f"Delivery {delivery_id} of webhook #{webhook_id} queued again."

    return act(PAGE, run)
