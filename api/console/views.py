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
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
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
from distillguard.api.bulk import service as bulk
from distillguard.api.bulk.schemas import BulkAction
from distillguard.api.cases import service as cases
from distillguard.api.cases.models import Case
from distillguard.api.cases.policy import check_may_change, may_change
from distillguard.api.cases.views import export_case
from distillguard.api.deps import count_failure, get_session, limit_token, principal, refuse_failing_client
from distillguard.api.detections import evidence, queue
from distillguard.api.detections.schemas import QueueFilters
from distillguard.api.detections.views import export_queue
from distillguard.api.enforcement.service import dispatch
from distillguard.api.errors import RowId, ServiceError, log_refusal
from distillguard.api.inputs import Text
from distillguard.api.overrides import service as overrides
from distillguard.api.restrictions import service as restrictions
from distillguard.api.review import FINAL, CaseStatus, Decision, ReviewStatus
from distillguard.api.tabular import ExportFormat
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
MAX_SEARCH_CHARS = 128  # an id (QueueFilters.search)
PAGE_ROWS = 50  # queue rows per console page
BOOLEANS = {"true": True, "false": False}  # a yes/no filter's values in a console link
SESSION_COOKIE = "dg_session"
CSRF_FIELD = "csrf"  # the hidden input of every console form
SECONDS_PER_HOUR = 3600
LABEL_WIDTH = 60  # chart units an hour label ("03-02 08h") takes
BULK_ROLE = "analyst"  # the least role offered the queue's bulk form


StrEnumT = TypeVar("StrEnumT", bound=StrEnum)
Message = Annotated[str | None, Query(max_length=MAX_MESSAGE_CHARS)]  # a redirect's msg (refused) or done (did)


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


def back(url: str, msg: str | None = None, *, done: str | None = None) -> RedirectResponse:
    """A redirect to ``url`` showing ``msg`` (why an action was refused) or ``done`` (what it did)."""
    shown = {k: v for k, v in (("msg", msg), ("done", done)) if v}
    joint = "&" if "?" in url else "?"
    return RedirectResponse(url + (f"{joint}{urlencode(shown)}" if shown else ""), status_code=303)


def subject_url(kind: str, subject_id: str) -> str:
    """The console page of a cluster or an account."""
    return f"/console/{kind}s/{quote(subject_id, safe='')}"


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
    step = max(1, hours // 6, -(-LABEL_WIDTH // bar))  # about six labels, never overlapping on a short timeline
    labels = [{"x": b["x"], "text": b["hour"][5:].replace("T", " ") + "h"} for b in bars[::step]]
    return {"bars": bars, "max": top, "width": bar, "labels": labels, "total_width": hours * bar}


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, msg: Message = None, done: Message = None) -> Response:
    """The sign-in form."""
    return templates.TemplateResponse(request, "login.html", {"msg": msg, "done": done})


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
        return back("/console/login", "That token is unknown or revoked.")
    settings = request.app.state.settings
    session_id = await run_in_threadpool(open_session, session, row, timedelta(hours=settings.api_session_hours))
    resp = back("/console", done=f"Signed in as {row.name} ({row.role}).")
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
    resp = back("/console/login", done="Signed out; the session is closed.")
    resp.delete_cookie(SESSION_COOKIE, path="/console")
    return resp


def _choice(enum: type[StrEnumT], value: str | None) -> StrEnumT | None:
    """``value`` as a member of ``enum``, else None (a console link with an odd value still renders)."""
    return enum(value) if value is not None and value in enum.__members__ else None


def _score(value: str | None) -> float | None:
    """A score filter typed into the console (empty or out of [0, 1]: none)."""
    try:
        score = float(value or "nan")
    except ValueError:
        return None
    return score if 0 <= score <= 1 else None


class ConsoleQueue:
    """The console queue's query parameters, read leniently (an odd value is ignored, never a 422 page): tab,
    filters, sort, cursor."""

    def __init__(
        self,
        kind: Annotated[str | None, Query(max_length=MAX_FILTER_CHARS)] = None,
        status: Annotated[str | None, Query(max_length=MAX_FILTER_CHARS)] = None,
        min_score: Annotated[str | None, Query(max_length=MAX_FILTER_CHARS)] = None,
        flagged: Annotated[str | None, Query(max_length=MAX_FILTER_CHARS)] = None,
        lone: Annotated[str | None, Query(max_length=MAX_FILTER_CHARS)] = None,
        q: Annotated[str | None, Query(max_length=MAX_SEARCH_CHARS)] = None,
        sort: Annotated[str | None, Query(max_length=MAX_FILTER_CHARS)] = None,
        cursor: Annotated[str | None, Query(max_length=queue.MAX_CURSOR_CHARS)] = None,
    ) -> None:
        self.kind = _choice(SubjectKind, kind) or SubjectKind.cluster
        self.sort = _choice(queue.QueueSort, sort) or queue.QueueSort.score
        self.cursor = cursor
        search = q.strip() if q else ""
        self.filters = QueueFilters(
            status=_choice(ReviewStatus, status),
            min_score=_score(min_score),
            flagged=BOOLEANS.get(flagged or ""),
            lone=BOOLEANS.get(lone or "") if self.kind is SubjectKind.account else None,
            search=search or None,
        )

    def params(self, **changes: object) -> dict[str, str]:
        """The query of this view (the filters, tab and sort; no cursor) with ``changes``; unset values left out."""
        f = self.filters
        current = {
            "kind": self.kind.value,
            "status": f.status.value if f.status else None,
            "min_score": f.min_score,
            "flagged": None if f.flagged is None else str(f.flagged).lower(),
            "lone": None if f.lone is None else str(f.lone).lower(),
            "q": f.search,
            "sort": self.sort.value,
        }
        return {k: str(v) for k, v in (current | changes).items() if v is not None}

    def link(self, path: str = "/console", **changes: object) -> str:
        """A URL of ``path`` with :meth:`params`."""
        return f"{path}?{urlencode(self.params(**changes))}"


@router.get("", response_class=HTMLResponse)
def queue_page(
    request: Request,
    view: Annotated[ConsoleQueue, Depends()],
    msg: Message = None,
    done: Message = None,
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """The queue: clusters or accounts (every flagged subject, lone accounts included) by risk or by last seen,
    filtered, searchable by id, paged; export links for what it shows."""
    f = view.filters
    match_templates = queue.template_matching(f, who)
    hidden = restrictions.hidden_from(session, who)
    rows, nxt, total = queue.page(
        session, view.kind, f, view.cursor, PAGE_ROWS, templates=match_templates, sort=view.sort, hidden=hidden
    )
    counts = queue.counts(session, view.kind, QueueFilters(), templates=match_templates, hidden=hidden)
    return templates.TemplateResponse(
        request,
        "queue.html",
        {
            "who": who,
            "view": view,
            "f": f,
            "rows": queue.queue_items(session, view.kind, rows),
            "next": view.link(cursor=nxt) if nxt else None,
            "first": view.link() if view.cursor else None,
            "total": total,
            "counts": counts,
            "lone_flagged": queue.lone_flagged(session, hidden),
            "bulk_actions": list(BulkAction),
            "may_bulk": who.can(BULK_ROLE),
            "statuses": list(ReviewStatus),
            "sorts": list(queue.QueueSort),
            "formats": list(ExportFormat),
            "msg": msg,
            "done": done,
        },
    )


@router.get("/export")
def console_export(
    request: Request,
    view: Annotated[ConsoleQueue, Depends()],
    fmt: Annotated[str | None, Query(alias="format", max_length=MAX_FILTER_CHARS)] = None,
    who: Principal = Depends(console_user),
) -> StreamingResponse:
    """The console queue as shown (tab and filters; every page, in risk order) as a download: the API's export."""
    chosen = _choice(ExportFormat, fmt) or ExportFormat.csv
    return export_queue(request, view.filters, view.kind, chosen, True, who)


@router.get("/cases/{case_id}/export")
def console_case_export(
    request: Request,
    case_id: RowId,
    fmt: Annotated[str | None, Query(alias="format", max_length=MAX_FILTER_CHARS)] = None,
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> StreamingResponse:
    """A case as a download (prompt templates redacted): the API's export."""
    chosen = _choice(ExportFormat, fmt) or ExportFormat.csv
    return export_case(request, session, case_id, chosen, True, who)


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


def _case_context(session: Session, who: Principal, case_id: int | None) -> dict:
    """What the case section of a subject's page shows: the case, its audit trail, the moves ``who`` may make."""
    case = cases.get_case(session, case_id) if case_id else None
    moves = cases.TRANSITIONS.get(case.status, {}) if case else {}
    return {
        "case": case,
        "trail": events(session, entity_type="case", entity_id=str(case.id), limit=500) if case else [],
        "restricted_to": restrictions.members(session, case.id) if case else None,
        "moves": {to: who.can(role) for to, role in moves.items()},
        "mine": case is None or may_change(who, case),
        "final": FINAL,
        "decisions": Decision,
        "formats": list(ExportFormat),
    }


def _ladder_context(who: Principal, kind: SubjectKind, d: dict) -> dict:
    """What the action section of a subject's page offers ``who``: the rungs it may apply, whether it may clear."""
    return {
        "rungs": {rung: who.can(overrides.needed_role(rung)) for rung in overrides.rungs(kind)},
        "may_clear": d["override"] is None or who.can(overrides.needed_role(d["override"]["action"])),
        "page_url": subject_url(kind, d[f"{kind.value}_id"]),
    }


@router.get("/clusters/{cluster_id}", response_class=HTMLResponse)
def cluster_page(
    request: Request,
    cluster_id: str,
    redact: bool = True,
    msg: Message = None,
    done: Message = None,
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """A cluster's evidence, recommended and applied action (override controls), case controls and audit trail."""
    redact = redact or not who.can("analyst")
    try:
        restrictions.check_subject(session, who, SubjectKind.cluster, cluster_id)
        d = evidence.cluster_detail(session, cluster_id, redact, restrictions.hidden_from(session, who))
    except ServiceError as exc:
        return templates.TemplateResponse(
            request, "error.html", {"who": who, "msg": exc.detail}, status_code=exc.status
        )
    return templates.TemplateResponse(
        request,
        "cluster.html",
        {
            "who": who,
            "d": d,
            "chart": chart(d["timeline"]),
            "redact": redact,
            "msg": msg,
            "done": done,
        }
        | _case_context(session, who, d["case"]["id"] if d["case"] else None)
        | _ladder_context(who, SubjectKind.cluster, d),
    )


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
def account_page(
    request: Request,
    account_id: str,
    redact: bool = True,
    msg: Message = None,
    done: Message = None,
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """An account's evidence (its cluster, if any), recommended and applied action (override controls) and its case:
    the account's own, with controls, or its cluster's, linked."""
    redact = redact or not who.can("analyst")
    try:
        restrictions.check_subject(session, who, SubjectKind.account, account_id)
        d = evidence.account_detail(session, account_id, redact, restrictions.hidden_from(session, who))
    except ServiceError as exc:
        return templates.TemplateResponse(
            request, "error.html", {"who": who, "msg": exc.detail}, status_code=exc.status
        )
    own = (
        d["case"]
        if d["case"] and cases.get_case(session, d["case"]["id"]).subject_type == SubjectKind.account
        else None
    )
    return templates.TemplateResponse(
        request,
        "account.html",
        {
            "who": who,
            "d": d,
            "chart": chart(d["timeline"]),
            "redact": redact,
            "cluster_case": d["case"] if d["case"] and own is None else None,
            "msg": msg,
            "done": done,
        }
        | _case_context(session, who, own["id"] if own else None)
        | _ladder_context(who, SubjectKind.account, d),
    )


def act(url: str, action: Callable[[], str]) -> Response:
    """Run ``action`` and go back to ``url`` saying what it did (its text), or why it was refused."""
    try:
        done = action()
    except ServiceError as exc:
        return back(url, exc.detail)
    return back(url, done=done)


def _open_case(session: Session, who: Principal, kind: SubjectKind, subject_id: str, reason: str) -> Response:
    url = subject_url(kind, subject_id)
    if not who.can("analyst"):
        return back(url, f"role {who.role!r} may not open cases")

    def run() -> str:
        restrictions.check_subject(session, who, kind, subject_id)
        case = cases.open_case(session, who, kind, subject_id, reason or None)
        return f"Opened case #{case.id} on {kind.value} {subject_id}."

    return act(url, run)


@router.post("/clusters/{cluster_id}/case")
def open_case(
    cluster_id: str,
    reason: Annotated[Text, Form(max_length=2000)] = "",
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Open a case on the cluster."""
    return _open_case(session, who, SubjectKind.cluster, cluster_id, reason)


@router.post("/accounts/{account_id}/case")
def open_account_case(
    account_id: str,
    reason: Annotated[Text, Form(max_length=2000)] = "",
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Open a case on the account (a lone one, typically: a cluster's accounts are reviewed in its case)."""
    return _open_case(session, who, SubjectKind.account, account_id, reason)


def _case_url(case: Case) -> str:
    return subject_url(case.subject_type, case.subject_id)


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
    case = restrictions.visible_case(session, who, case_id)

    def run() -> str:
        check_may_change(who, case, "change its status")
        before = case.status
        done, changed = cases.transition(session, who, case, status, reason or None)
        if not changed:
            return f"Case #{case.id} is already {done.status}: nothing changed."
        said = f"Case #{case.id} moved from {before} to {done.status}."
        if done.status == CaseStatus.confirmed_attack:
            sent = dispatch(session, request.app.state.publisher)
            said += f" Enforcement events sent: {sent['sent']}, pending: {sent['pending']}."
        return said

    return act(_case_url(case), run)


@router.post("/cases/{case_id}/comment")
def comment(
    case_id: RowId,
    body: Annotated[Text, Form(min_length=1, max_length=10_000)],
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Comment on the case."""
    case = restrictions.visible_case(session, who, case_id)
    url = _case_url(case)
    if not who.can("analyst"):
        return back(url, f"role {who.role!r} may not comment")

    def run() -> str:
        cases.comment(session, who, case, body)
        return f"Comment added to case #{case.id}."

    return act(url, run)


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
    case = restrictions.visible_case(session, who, case_id)
    url = _case_url(case)
    if not who.can("analyst"):
        return back(url, f"role {who.role!r} may not decide accounts")
    if not account_ids:
        return back(url, "tick at least one account")

    def run() -> str:
        check_may_change(who, case, "decide its accounts")
        changed = cases.decide_accounts(session, who, case, account_ids, decision, reason or None)
        return f"Marked {changed} of {len(account_ids)} ticked accounts {decision} in case #{case.id}."

    return act(url, run)


def _override(
    request: Request, session: Session, who: Principal, kind: SubjectKind, subject_id: str, action: str, reason: str
) -> Response:
    """Override a subject's recommended action (its enforcement event sent now when the broker answers)."""

    def run() -> str:
        if not overrides.set_override(session, who, kind, subject_id, action, reason):
            return f"{action} was already applied by your override: nothing changed."
        dispatch(session, request.app.state.publisher)
        return f"Applied {action} to {kind.value} {subject_id} instead of the recommended action."

    return act(subject_url(kind, subject_id), run)


def _clear(request: Request, session: Session, who: Principal, kind: SubjectKind, subject_id: str) -> Response:
    """Clear a subject's override: back to the recommended action."""

    def run() -> str:
        if not overrides.clear_override(session, who, kind, subject_id):
            return f"{kind.value.capitalize()} {subject_id} had no override: nothing changed."
        dispatch(session, request.app.state.publisher)
        return f"Override cleared: {kind.value} {subject_id} is back to its recommended action."

    return act(subject_url(kind, subject_id), run)


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
    return _override(request, session, who, SubjectKind.cluster, cluster_id, action, reason)


@router.post("/clusters/{cluster_id}/override/clear")
def clear_override(
    request: Request,
    cluster_id: str,
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Clear the cluster's override: back to the recommended action."""
    return _clear(request, session, who, SubjectKind.cluster, cluster_id)


@router.post("/accounts/{account_id}/override")
def account_override(
    request: Request,
    account_id: str,
    action: Annotated[Text, Form(max_length=32)],
    reason: Annotated[Text, Form(max_length=2000)] = "",
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Override the account's recommended action (its enforcement event sent now when the broker answers)."""
    return _override(request, session, who, SubjectKind.account, account_id, action, reason)


@router.post("/accounts/{account_id}/override/clear")
def clear_account_override(
    request: Request,
    account_id: str,
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Clear the account's override: back to the recommended action."""
    return _clear(request, session, who, SubjectKind.account, account_id)


class BulkForm:
    """The queue's bulk form: one action over the ticked rows of one tab, read leniently (an odd kind or action
    is refused with a message, never a 422 page)."""

    def __init__(
        self,
        kind: Annotated[str, Form(max_length=MAX_FILTER_CHARS)] = "",
        action: Annotated[str, Form(max_length=MAX_FILTER_CHARS)] = "",
        subject: Annotated[list[Text] | None, Form(max_length=MAX_SEARCH_CHARS)] = None,
        assignee: Annotated[Text, Form(max_length=MAX_SEARCH_CHARS)] = "",
        reason: Annotated[Text, Form(max_length=2000)] = "",
    ) -> None:
        self.kind = _choice(SubjectKind, kind) or SubjectKind.cluster
        self.action = _choice(BulkAction, action)
        self.subjects = list(subject or [])
        self.assignee = assignee.strip() or None
        self.reason = reason.strip() or None
        self.queue_url = f"/console?{urlencode({'kind': self.kind.value})}"

    def refusal(self, who: Principal, limit: int) -> str | None:
        """Why this form cannot be confirmed as it is, or None."""
        if not who.can(BULK_ROLE):
            return f"role {who.role!r} may not act in bulk; it needs {BULK_ROLE!r} or above"
        if self.action is None:
            return f"choose a bulk action: {', '.join(BulkAction)}"
        if not self.subjects:
            return "tick at least one row"
        if len(self.subjects) > limit:
            return f"at most {limit} rows per bulk action (API_BULK_MAX_ITEMS), {len(self.subjects)} ticked"
        return None

    def summary(self) -> str:
        """What confirming will do, in one sentence."""
        n = f"{len(self.subjects)} {self.kind.value}{'s' if len(self.subjects) != 1 else ''}"
        if self.action is BulkAction.open:
            to = f", assigned to {self.assignee}" if self.assignee else ""
            return f"Open a case on each of {n}{to}."
        if self.action is BulkAction.assign:
            return f"Assign the cases of {n} to {self.assignee}." if self.assignee else f"Unassign the cases of {n}."
        return f"Dismiss the cases of {n}."


@router.post("/bulk/confirm", response_class=HTMLResponse)
def bulk_confirm(
    request: Request, form: Annotated[BulkForm, Depends()], who: Principal = Depends(console_user)
) -> Response:
    """The confirmation step of a bulk action: what it will do to how many rows, and the rows (changes nothing)."""
    refused = form.refusal(who, request.app.state.settings.api_bulk_max_items)
    if refused:
        return back(form.queue_url, refused)
    return templates.TemplateResponse(request, "bulk_confirm.html", {"who": who, "form": form})


@router.post("/bulk")
def bulk_act(
    request: Request,
    form: Annotated[BulkForm, Depends()],
    session: Session = Depends(get_session),
    who: Principal = Depends(console_user),
) -> Response:
    """Do a confirmed bulk action (all rows or, any refused, none), then back to the queue saying what it did."""
    limit = request.app.state.settings.api_bulk_max_items
    refused = form.refusal(who, limit)
    if refused or form.action is None:
        return back(form.queue_url, refused)
    action = form.action

    def run() -> str:
        subjects = [(form.kind, s) for s in form.subjects]
        items = bulk.run(session, who, action, subjects, assignee=form.assignee, reason=form.reason, limit=limit)
        changed = sum(i["changed"] for i in items)
        ids = ", ".join("#" + str(i["case_id"]) for i in items)
        return f"Done: {form.summary()} {changed} changed; cases {ids}."

    return act(form.queue_url, run)
