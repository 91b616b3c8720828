"""Detections queue, counts and evidence endpoints."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.deps import get_session, viewer
from api.detections import evidence, queue
from api.detections.schemas import AccountDetail, ClusterDetail, Counts, Kind, QueueFilters, QueuePage, Status
from api.errors import COMMON, NOT_FOUND, ServiceError

router = APIRouter(prefix="/api/v1", tags=["detections"], responses=COMMON)


async def filters(
    status: Status | None = None,
    flagged: bool | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    min_size: Annotated[int | None, Query(ge=1, le=1_000_000, description="Cluster size (accounts: their cluster's).")] = None,
    max_size: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    since: Annotated[datetime | None, Query(description="Active at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Active at or before (ISO 8601).")] = None,
    verification_path: Annotated[str | None, Query(max_length=32)] = None,
    model: Annotated[str | None, Query(max_length=128)] = None,
    indicator: Annotated[str | None, Query(max_length=1000, description="A shared indicator value.")] = None,
    indicator_kind: Annotated[str | None, Query(max_length=32)] = None,
) -> QueueFilters:
    """The queue filters from query parameters."""
    return QueueFilters(status=status, flagged=flagged, min_score=min_score, max_score=max_score, min_size=min_size,
                        max_size=max_size, since=since, until=until, verification_path=verification_path, model=model,
                        indicator=indicator, indicator_kind=indicator_kind)


def _redacted(redact: bool, who: Principal) -> bool:
    if not redact and not who.can("analyst"):
        raise ServiceError(403, f"unredacted prompts need role 'analyst' or above; token {who.name!r} is {who.role!r}")
    return redact


@router.get("/detections", response_model=QueuePage, summary="Detections queue (highest risk first)")
async def get_queue(
    request: Request,
    kind: Kind = Kind.cluster,
    f: QueueFilters = Depends(filters),
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    _who: Principal = Depends(viewer),
) -> Response:
    """Clusters or accounts ordered by score (then id), filtered, with cursor pagination and the total count.
    Pages of the same detections epoch are rendered once (other processes' writes show within
    API_QUEUE_CACHE_SECONDS)."""
    key = ("page", kind, f.model_dump_json(), cursor, limit)
    body = await request.app.state.queue_pages.get(key, partial(queue.page_json, kind=kind, f=f, cursor=cursor, limit=limit))
    return Response(body, media_type="application/json")


@router.get("/detections/counts", response_model=Counts, summary="Detections per review status")
async def get_counts(request: Request, kind: Kind = Kind.cluster, f: QueueFilters = Depends(filters),
                     _who: Principal = Depends(viewer)) -> Response:
    """Total, flagged and per-status counts under the filters (the status filter is ignored)."""
    body = await request.app.state.queue_pages.get(("counts", kind, f.model_dump_json()),
                                                   partial(queue.counts_json, kind=kind, f=f))
    return Response(body, media_type="application/json")


@router.get("/clusters/{cluster_id}", response_model=ClusterDetail, responses=NOT_FOUND, summary="Cluster evidence")
def get_cluster(cluster_id: str, redact: bool = True, session: Session = Depends(get_session),
                who: Principal = Depends(viewer)) -> dict:
    """A cluster with members, shared indicators, hourly timeline, sample prompts, reasons, linked clusters, case.
    ``redact=false`` shows prompt text (analysts and above)."""
    return evidence.cluster_detail(session, cluster_id, _redacted(redact, who))


@router.get("/accounts/{account_id}", response_model=AccountDetail, responses=NOT_FOUND, summary="Account evidence")
def get_account(account_id: str, redact: bool = True, session: Session = Depends(get_session),
                who: Principal = Depends(viewer)) -> dict:
    """An account with its timeline, sample prompts, reasons, cluster and case."""
    return evidence.account_detail(session, account_id, _redacted(redact, who))
