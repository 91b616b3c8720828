"""Detections queue, counts and evidence endpoints."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.deps import get_session, viewer
from distillguard.api.detections import evidence, queue
from distillguard.api.detections.queue_route import QueueQuery, QueueRoute, answer
from distillguard.api.detections.schemas import AccountDetail, ClusterDetail, Counts, QueueFilters, QueuePage
from distillguard.api.errors import COMMON, NOT_FOUND
from distillguard.api.restrictions.service import check_subject, hidden_from, hidden_in_session_of
from distillguard.api.tabular import DOWNLOAD, ExportFormat, columns, download
from distillguard.detector.records import SubjectKind

router = APIRouter(prefix="/api/v1", tags=["detections"], responses=COMMON)


async def get_queue(
    request: Request,
    f: Annotated[QueueFilters, Query()],
    kind: SubjectKind = SubjectKind.cluster,
    cursor: Annotated[
        str | None, Query(max_length=queue.MAX_CURSOR_CHARS, description="next_cursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    who: Principal = Depends(viewer),
) -> Response:
    """Clusters or accounts ordered by score (then id), filtered, with cursor pagination and the total count.
    Pages of the same detections epoch are rendered once (other processes' writes show within about
    API_QUEUE_CACHE_SECONDS). Matching prompt templates (``indicator_kind=template``) needs role analyst. Subjects
    of restricted cases the caller is no member of are left out (pages are shared only by callers who see the
    same), totals included."""
    query = QueueQuery(kind, f, f.model_dump_json(), cursor, limit)
    request.app.state.queue_queries.keep(request.scope["query_string"], query)  # parsed once (QueueRoute)
    return await answer(request, who, query)


router.add_api_route(
    "/detections",
    get_queue,
    methods=["GET"],
    response_model=QueuePage,
    summary="Detections queue (highest risk first)",
    route_class_override=QueueRoute,
)


@router.get("/detections/counts", response_model=Counts, summary="Detections per review status")
async def get_counts(
    request: Request,
    f: Annotated[QueueFilters, Query()],
    kind: SubjectKind = SubjectKind.cluster,
    who: Principal = Depends(viewer),
) -> Response:
    """Total, flagged and per-status counts under the filters (the status filter is ignored); template matching
    as in the queue."""
    templates = queue.template_matching(f, who)
    hidden = await request.app.state.hidden_reads.of(who)
    body = await request.app.state.queue_pages.get(
        ("counts", kind, f.model_dump_json(), templates, hidden.cases),
        partial(queue.counts_json, kind=kind, f=f, templates=templates, hidden=hidden),
    )
    return Response(body, media_type="application/json")


def export_queue(
    request: Request, f: QueueFilters, kind: SubjectKind, fmt: ExportFormat, redact: bool, who: Principal
) -> StreamingResponse:
    """The queue under ``f`` as a download (every page, streamed); the template rule of the queue, the redaction
    rule of the evidence; subjects hidden from ``who`` left out."""
    sessions = request.app.state.sessions
    rows = queue.export_rows(
        sessions,
        kind,
        f,
        templates=queue.template_matching(f, who),
        redacted=evidence.redacted(redact, who),
        hidden=hidden_in_session_of(sessions, who),
    )
    return download(fmt, f"detections-{kind.value}", columns(queue.export_model(kind), f"{kind.value}_id"), rows)


@router.get(
    "/detections/export",
    response_class=StreamingResponse,
    responses=DOWNLOAD,
    summary="The queue as CSV or JSON Lines (every page)",
)
def get_export(
    request: Request,
    f: Annotated[QueueFilters, Query()],
    kind: SubjectKind = SubjectKind.cluster,
    fmt: Annotated[ExportFormat, Query(alias="format", description="csv or jsonl.")] = ExportFormat.csv,
    redact: bool = True,
    who: Principal = Depends(viewer),
) -> StreamingResponse:
    """Every queue entry matching the filters, in queue order, streamed as an attachment: JSON Lines rows are the
    queue's items (a cluster's with its ``shared_indicators``); CSV has a column per field (lists joined by
    ``; ``, a nested field as ``override.action``; a cell that starts like a formula is prefixed with ``'``).
    Matching templates (``indicator_kind=template``) and ``redact=false`` (template indicators in clear) need
    role analyst."""
    return export_queue(request, f, kind, fmt, redact, who)


@router.get("/clusters/{cluster_id}", response_model=ClusterDetail, responses=NOT_FOUND, summary="Cluster evidence")
def get_cluster(
    cluster_id: str, redact: bool = True, session: Session = Depends(get_session), who: Principal = Depends(viewer)
) -> dict:
    """A cluster with members, shared indicators, hourly timeline, sample prompts, reasons, linked clusters, case.
    ``redact=false`` shows prompt text (analysts and above)."""
    redacted = evidence.redacted(redact, who)
    check_subject(session, who, SubjectKind.cluster, cluster_id)
    return evidence.cluster_detail(session, cluster_id, redacted, hidden_from(session, who))


@router.get("/accounts/{account_id}", response_model=AccountDetail, responses=NOT_FOUND, summary="Account evidence")
def get_account(
    account_id: str, redact: bool = True, session: Session = Depends(get_session), who: Principal = Depends(viewer)
) -> dict:
    """An account with its timeline, sample prompts, reasons, cluster and case."""
    redacted = evidence.redacted(redact, who)
    check_subject(session, who, SubjectKind.account, account_id)
    return evidence.account_detail(session, account_id, redacted, hidden_from(session, who))
