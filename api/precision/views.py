"""Field precision endpoints: the figures as JSON, and as Prometheus gauges on ``/metrics``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.deps import get_session, viewer
from distillguard.api.errors import COMMON, Responses
from distillguard.api.precision import service
from distillguard.api.precision.schemas import PrecisionFilters, PrecisionReport
from distillguard.api.restrictions.service import hidden_from

router = APIRouter(tags=["precision"], responses=COMMON)

EXPOSITION: Responses = {
    200: {"description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}
}


@router.get("/api/v1/precision", response_model=PrecisionReport, summary="Field precision of the detector's flags")
def precision(
    f: Annotated[PrecisionFilters, Query()], session: Session = Depends(get_session), who: Principal = Depends(viewer)
):
    """How often analysts' decisions confirm the accounts the detector flags, per model version, ISO week or
    recommended rung: flags, reviewed, confirmed, dismissed, precision with its Wilson 95% interval, times from flag
    to the first review action and to the decision, and the unreviewed queue's age. Over the flags and cases the
    caller may see (restricted cases count for their members and admins only)."""
    return service.report(session, hidden_from(session, who), f.group_by, f.since, f.until)


@router.get("/metrics", response_class=Response, responses=EXPOSITION, summary="Prometheus metrics of the review")
def metrics(request: Request, session: Session = Depends(get_session), who: Principal = Depends(viewer)) -> Response:
    """Field precision per model version and the unreviewed queue's age as Prometheus gauges, over what the
    scraping token may see, computed at most once per API_METRICS_CACHE_SECONDS per set of hidden cases."""
    body = request.app.state.precision_metrics.render(hidden_from(session, who))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
