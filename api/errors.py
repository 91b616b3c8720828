"""Error bodies and handlers: every error is JSON ``{"detail": "..."}`` saying why."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from distillguard.detector.logs import get_logger

log = get_logger("api")


LOGGED = frozenset({401, 403, 429})  # refusals logged with their reason (api.deps.log_refusal)
MAX_ID = 2_147_483_647
MAX_ECHO = 64  # characters of a caller's value an error message repeats
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="Numeric id.")]
AfterId = Annotated[int | None, Query(ge=0, le=2**62, description="Last id seen; the page continues after it.")]


class ErrorBody(BaseModel):
    """Why a request failed."""

    detail: str


# What FastAPI's ``responses=`` takes: status code -> the OpenAPI response (a model and a description).
Responses = dict[int | str, dict[str, Any]]


def _responses(*codes: int) -> Responses:
    what = {
        400: "Bad request",
        401: "Missing, unknown or revoked token",
        403: "The token's role may not do this",
        404: "Not found",
        409: "Conflicts with the current state",
        413: "Request body too large",
        415: "Request body is not application/json",
        422: "Invalid request",
        429: "Rate limit exceeded (see Retry-After)",
        503: "Database unavailable",
    }
    return {c: {"model": ErrorBody, "description": what[c]} for c in codes}


COMMON = _responses(401, 403, 422, 429, 503)
NOT_FOUND = _responses(404)
CONFLICT = _responses(409)
BODY = _responses(400, 413, 415)  # operations reading a JSON body


class InconsistentRecordError(RuntimeError):
    """A stored record breaks an invariant the schema does not enforce (a decided case without its decision time)."""


class ServiceError(Exception):
    """A domain error with the HTTP status it maps to."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def echo(value: str) -> str:
    """``value`` quoted for an error message, cut to :data:`MAX_ECHO` characters (a marked "…" when longer)."""
    return repr(value) if len(value) <= MAX_ECHO else repr(value[:MAX_ECHO]) + "…"


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def client_ip(request: Request) -> str:
    """The peer address of ``request`` (the proxy's, behind one)."""
    return request.client.host if request.client else "unknown"


def log_refusal(request: Request, status: int, reason: str) -> None:
    """One structured line per 401/403/429: why, where, from which address and token id (never the token)."""
    log.warning(
        "request refused",
        status=status,
        reason=reason[:200],
        method=request.method,
        route=request.url.path,
        client_ip=client_ip(request),
        token_id=getattr(request.state, "token_id", None),
    )


def install(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""

    @app.exception_handler(ServiceError)
    async def _service(req: Request, exc: ServiceError) -> JSONResponse:
        if exc.status in LOGGED:
            log_refusal(req, exc.status, exc.detail)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(req: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code in LOGGED:
            log_refusal(req, exc.status_code, detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    @app.exception_handler(DataError)
    async def _data(req: Request, exc: DataError) -> JSONResponse:
        reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0][:200]
        log.warning("database rejected a value", path=req.url.path, error=reason)
        return JSONResponse({"detail": f"invalid request: the database rejected a value: {reason}"}, status_code=422)

    @app.exception_handler(PoolTimeout)
    async def _busy(req: Request, exc: PoolTimeout) -> JSONResponse:
        log.warning("database busy", path=req.url.path, error=str(exc)[:200])
        return JSONResponse(
            {"detail": "database busy: every pooled connection is in use; retry shortly"},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _database(req: Request, exc: DBAPIError) -> JSONResponse:
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            log.warning("database unavailable", path=req.url.path, error=str(exc.orig)[:200])
            return JSONResponse(
                {"detail": "database unavailable; retry shortly"}, status_code=503, headers={"Retry-After": "5"}
            )
        log.error("database error", path=req.url.path, error=str(exc.orig)[:300])
        return JSONResponse({"detail": f"database rejected the request: {type(exc.orig).__name__}"}, status_code=500)
