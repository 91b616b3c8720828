"""Console pages: sign-in, queue, cluster evidence with timeline chart, action overrides, decision buttons, audit
trail.

Pages are rendered on the server; actions are HTML form posts that redirect back (no front-end build).
The token is entered once and exchanged for a server-side session (api.auth.sessions): the HttpOnly,
SameSite=Lax cookie holds the session's random id, never the token. A form post signed in by that cookie
must come from this origin (Origin, else Referer) and carry the session's CSRF token; 403 otherwise.
Scripts (no browser) may send 'Authorization: Bearer <token>' instead, without either check.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from distillguard.api.audit.service import events
from distillguard.api.auth.service import Principal, authenticate, hash_token
from distillguard.api.auth.sessions import (
    SessionRefused,
    close_session,
    csrf_matches,
    csrf_token,
    open_session,
    session_principal,
)
from distillguard.api.cases import service as cases
from distillguard.api.cases.policy import check_may_change, may_change
from distillguard.api.deps import count_failure, get_session, limit_token, principal, refuse_failing_client
from distillguard.api.detections import evidence, queue
from distillguard.api.detections.schemas import QueueFilters
from distillguard.api.enforcement.service import dispatch
from distillguard.api.errors import RowId, ServiceError, log_refusal
from distillguard.api.inputs import Text
from distillguard.api.overrides import service as overrides
from distillguard.api.review import FINAL, CaseStatus, Decision, ReviewStatus
from distillguard.detector.ladder import LINKING, MEANING
from distillguard.detector.policy import LAST_UNATTENDED
from distillguard.detector.records import SubjectKind

templates = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
router = APIRouter(prefix="/console", include_in_schema=False)


def csrf_input(request: Request) -> Markup:
    """The hidden CSRF input of a console form (empty before sign-in)."""
    token = getattr(request.state, "csrf", None)
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{token}">') if token else Markup("")


templates.env.globals["csrf_input"] = csrf_input
MAX_BARS = 24 * 14
MAX_FILTER_CHARS = 32
MAX_MESSAGE_CHARS = 2000  # a redirect's message: a ServiceError's detail
SESSION_COOKIE = "dg_session"
CSRF_FIELD = "csrf"  # the hidden input of every console form
SECONDS_PER_HOUR = 3600


class SignIn(Exception):
    """The console needs a (valid) token."""


def same_origin(request: Request) -> bool:
    """Whether the request's Origin (else Referer) names this host (as the client addressed it)."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent or sent == "null":
        return False
    return urlsplit(sent).netloc == request.headers.get("host")


def _refuse(request: Request, reason: str) -> HTTPException:
    return HTTPException(403, f"console form refused: {reason}")


async def console_user(request: Request) -> Principal:
    """The signed-in principal (by session cookie, or by bearer token for scripts), or a redirect to the
    sign-in page. Posts signed in by the cookie must pass the same-origin and CSRF checks (403)."""
    if request.headers.get("authorization"):
        try:
            return await principal(request)
        except HTTPException as exc:
            if exc.status_code == 401:
                raise SignIn(exc.detail) from exc
            raise
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise SignIn("no console session")
    await refuse_failing_client(request)
    try:
        who = await run_in_threadpool(_session_principal, request.app.state.sessions, session_id)
    except SessionRefused as exc:
        await count_failure(request)
        raise SignIn(str(exc)) from exc
    await limit_token(request, who)
    request.state.csrf = csrf_token(session_id)
    if request.method == "POST":
        if not same_origin(request):
            raise _refuse(request, "it was not sent from this site (Origin/Referer)")
        form = await request.form()
        sent = form.get(CSRF_FIELD)
        if not csrf_matches(session_id, sent if isinstance(sent, str) else None):
            raise _refuse(request, "missing or wrong CSRF token; reload the page and try again")
    return who


def _session_principal(sessions: sessionmaker[Session], session_id: str) -> Principal:
    with sessions() as session:
        return session_principal(session, session_id)


def _back(url: str, msg: str | None = None) -> RedirectResponse:
    return RedirectResponse(url + (f"?msg={quote(msg)}" if msg else ""), status_code=303)


def chart(timeline: list[dict]) -> dict:
    """Bars of an hourly timeline (missing hours filled with zero) for the inline SVG chart."""
    if not timeline:
        return {"bars": [], "max": 0, "width": 0, "labels": []}
    start = datetime.strptime(timeline[0]["hour"], "%Y-%m-%dT%H")
    counts = {t["hour"]: t["requests"] for t in timeline}
    end = datetime.strptime(timeline[-1]["hour"], "%Y-%m-%dT%H")
    hours = min(int((end - start).total_seconds() // 3600) + 1, MAX_BARS)
    series = [((start + timedelta(hours=i)).strftime("%Y-%m-%dT%H"),) for i in range(hours)]
    top = max(counts.values()) or 1
    bar = max(2, min(24, 720 // hours))
    bars = [
        {"x": i * bar, "h": round(150 * counts.get(h, 0) / top, 1), "hour": h, "n": counts.get(h, 0)}
        for i, (h,) in enumerate(series)
    ]
    labels = [{"x": b["x"], "text": b["hour"][5:].replace("T", " ") + "h"} for b in bars[:: max(1, hours // 6)]]
    return {"bars": bars, "max": top, "width": bar, "labels": labels, "total_width": hours * bar}


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, msg: Annotated[str | None, Query(max_length=MAX_MESSAGE_CHARS)] = None) -> Response:
    """The sign-in form."""
    return templates.TemplateResponse(request, "login.html", {"msg": msg})


@router.post("/login")
async def login(
    request: Request, token: str = Form(..., max_length=200), session: Session = Depends(get_session)
) -> Response:
    """Check the token and open a session (its id in the cookie). Failures count against the client IP's
    authentication limit; a sign-in posted from another site is refused (403)."""
    try:
        await refuse_failing_client(request)
        if not same_origin(request):
            raise _refuse(request, "it was not sent from this site (Origin/Referer)")
    except HTTPException as exc:
        log_refusal(request, exc.status_code, exc.detail)
        return templates.TemplateResponse(
            request, "login.html", {"msg": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )
    row = await run_in_threadpool(authenticate, session, hash_token(token.strip()))
    if row is None or row.revoked_at is not None:
        await count_failure(request)
        log_refusal(request, 401, "console sign-in with an unknown or revoked token")
        return _back("/console/login", "That token is unknown or revoked.")
    settings = request.app.state.settings
    session_id = await run_in_threadpool(open_session, session, row, timedelta(hours=settings.api_session_hours))
    resp = _back("/console")
    resp.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(settings.api_session_hours * SECONDS_PER_HOUR),
        path="/console",
        httponly=True,
        samesite="lax",
        secure=settings.api_cookie_secure,
    )
    return resp


@router.post("/logout")
async def logout(
    request: Request, session: Session = Depends(get_session), _who: Principal = Depends(console_user)
) -> Response:
    """End the session on the server (its cookie value is refused from now on) and drop the cookie."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await run_in_threadpool(close_session, session, session_id)
    resp = _back("/console/login")
    resp.delete_cookie(SESSION_COOKIE, path="/console")
    return resp


@router.get("", response_class=HTMLResponse)
def queue_page(
    request: Request,
    status: Annotated[str | None, Query(max_length=MAX_FILTER_CHARS)] = None,
    min_score: float | None = None,
    cursor: Annotated[str | None, Query(max_length=queue.MAX_CURSOR_CHARS)] = None,
    msg: Annotated[str | None, Query(max_length=MAX_MESSAGE_CHARS)] = None,
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """The queue of clusters by risk."""
    st = ReviewStatus(status) if status is not None and status in ReviewStatus.__members__ else None
    f = QueueFilters(status=st, min_score=min_score if min_score is not None and 0 <= min_score <= 1 else None)
    match_templates = queue.template_matching(f, who)
    rows, nxt, total = queue.page(session, SubjectKind.cluster, f, cursor, 50, templates=match_templates)
    return templates.TemplateResponse(
        request,
        "queue.html",
        {
            "who": who,
            "rows": rows,
            "next": nxt,
            "total": total,
            "status": status or "",
            "min_score": min_score,
            "counts": queue.counts(session, SubjectKind.cluster, QueueFilters(), templates=match_templates),
            "statuses": list(ReviewStatus),
            "msg": msg,
        },
    )


@router.get("/policy", response_class=HTMLResponse)
def policy_page(request: Request, who: Principal = Depends(console_user)) -> Response:
    """How the response ladder decides: the policy's rungs for accounts and clusters, the rules no policy can break,
    the evidence kinds, what is automated and who may override."""
    policy = request.app.state.policy
    return templates.TemplateResponse(
        request,
        "policy.html",
        {
            "who": who,
            "policy": policy,
            "flows": {"accounts": policy.accounts[::-1], "clusters": policy.clusters[::-1]},
            "meaning": MEANING,
            "linking": LINKING,
            "last_unattended": LAST_UNATTENDED,
            "lead_rungs": overrides.LEAD_RUNGS,
            "analyst_ceiling": overrides.ANALYST_CEILING,
        },
    )


@router.get("/clusters/{cluster_id}", response_class=HTMLResponse)
def cluster_page(
    request: Request,
    cluster_id: str,
    redact: bool = True,
    msg: Annotated[str | None, Query(max_length=MAX_MESSAGE_CHARS)] = None,
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """A cluster's evidence, recommended and applied action (override controls), case controls and audit trail."""
    redact = redact or not who.can("analyst")
    try:
        d = evidence.cluster_detail(session, cluster_id, redact)
    except ServiceError as exc:
        return templates.TemplateResponse(
            request, "error.html", {"who": who, "msg": exc.detail}, status_code=exc.status
        )
    case = cases.get_case(session, d["case"]["id"]) if d["case"] else None
    trail = events(session, entity_type="case", entity_id=str(case.id), limit=500) if case else []
    moves = cases.TRANSITIONS.get(case.status, {}) if case else {}
    return templates.TemplateResponse(
        request,
        "cluster.html",
        {
            "who": who,
            "d": d,
            "case": case,
            "trail": trail,
            "chart": chart(d["timeline"]),
            "redact": redact,
            "moves": {to: who.can(role) for to, role in moves.items()},
            "rungs": {rung: who.can(overrides.needed_role(rung)) for rung in overrides.rungs(SubjectKind.cluster)},
            "may_clear": d["override"] is None or who.can(overrides.needed_role(d["override"]["action"])),
            "mine": case is None or may_change(who, case),
            "final": FINAL,
            "decisions": Decision,
            "msg": msg,
        },
    )


def _act(url: str, action: Callable[[], object]) -> Response:
    try:
        action()
    except ServiceError as exc:
        return _back(url, exc.detail)
    return _back(url)


@router.post("/clusters/{cluster_id}/case")
def open_case(
    cluster_id: str,
    reason: Annotated[Text, Form(max_length=2000)] = "",
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Open a case on the cluster."""
    url = f"/console/clusters/{quote(cluster_id)}"
    if not who.can("analyst"):
        return _back(url, f"role {who.role!r} may not open cases")
    return _act(url, lambda: cases.open_case(session, who, SubjectKind.cluster, cluster_id, reason or None))


@router.post("/cases/{case_id}/transition")
def transition(
    request: Request,
    case_id: RowId,
    status: Annotated[Text, Form(max_length=32)],
    reason: Annotated[Text, Form(max_length=2000)] = "",
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Move the case (confirming also sends the enforcement events)."""
    case = cases.get_case(session, case_id)
    url = f"/console/clusters/{quote(case.subject_id)}"

    def run() -> None:
        check_may_change(who, case, "change its status")
        done, _ = cases.transition(session, who, case, status, reason or None)
        if done.status == CaseStatus.confirmed_attack:
            dispatch(session, request.app.state.publisher)

    return _act(url, run)


@router.post("/cases/{case_id}/comment")
def comment(
    case_id: RowId,
    body: Annotated[Text, Form(min_length=1, max_length=10_000)],
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Comment on the case."""
    case = cases.get_case(session, case_id)
    url = f"/console/clusters/{quote(case.subject_id)}"
    if not who.can("analyst"):
        return _back(url, f"role {who.role!r} may not comment")
    return _act(url, lambda: cases.comment(session, who, case, body))


@router.post("/cases/{case_id}/decisions")
def decide(
    case_id: RowId,
    decision: Annotated[Text, Form(max_length=32)],
    account_ids: Annotated[list[Text] | None, Form()] = None,
    reason: Annotated[Text, Form(max_length=2000)] = "",
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Bulk decision over the ticked accounts."""
    if account_ids is None:
        account_ids = []
    case = cases.get_case(session, case_id)
    url = f"/console/clusters/{quote(case.subject_id)}"
    if not who.can("analyst"):
        return _back(url, f"role {who.role!r} may not decide accounts")
    if not account_ids:
        return _back(url, "tick at least one account")

    def run() -> None:
        check_may_change(who, case, "decide its accounts")
        cases.decide_accounts(session, who, case, account_ids, decision, reason or None)

    return _act(url, run)


@router.post("/clusters/{cluster_id}/override")
def override(
    request: Request,
    cluster_id: str,
    action: Annotated[Text, Form(max_length=32)],
    reason: Annotated[Text, Form(max_length=2000)] = "",
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Override the cluster's recommended action (its enforcement event sent now when the broker answers)."""

    def run() -> None:
        if overrides.set_override(session, who, SubjectKind.cluster, cluster_id, action, reason):
            dispatch(session, request.app.state.publisher)

    return _act(f"/console/clusters/{quote(cluster_id)}", run)


@router.post("/clusters/{cluster_id}/override/clear")
def clear_override(
    request: Request,
    cluster_id: str,
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Clear the cluster's override: back to the recommended action."""

    def run() -> None:
        if overrides.clear_override(session, who, SubjectKind.cluster, cluster_id):
            dispatch(session, request.app.state.publisher)

    return _act(f"/console/clusters/{quote(cluster_id)}", run)
