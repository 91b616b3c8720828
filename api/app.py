"""The review service's FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from sqlalchemy import text

from distillguard.api import docs, errors, links
from distillguard.api.audit.views import router as audit_router
from distillguard.api.auth.service import PrincipalCache
from distillguard.api.auth.views import router as auth_router
from distillguard.api.bulk.views import router as bulk_router
from distillguard.api.cases.views import router as cases_router
from distillguard.api.console.precision import router as console_precision_router
from distillguard.api.console.views import SignIn
from distillguard.api.console.views import router as console_router
from distillguard.api.console.webhooks import router as console_webhooks_router
from distillguard.api.database import session_factory
from distillguard.api.detections.pages import PageCache
from distillguard.api.detections.queue_route import ParsedQueries
from distillguard.api.detections.views import router as detections_router
from distillguard.api.enforcement.service import Publisher, dispatch
from distillguard.api.enforcement.views import router as enforcement_router
from distillguard.api.errors import log_refusal
from distillguard.api.headers import SecurityHeaders
from distillguard.api.inputs import NulGuard
from distillguard.api.limits import BodyLimit
from distillguard.api.overrides.views import router as overrides_router
from distillguard.api.precision.metrics import PrecisionMetrics
from distillguard.api.precision.views import router as precision_router
from distillguard.api.ratelimit import RedisLimiter, make_limiter
from distillguard.api.restrictions.reads import HiddenReads
from distillguard.api.restrictions.views import router as restrictions_router
from distillguard.api.settings import ApiSettings, get_api_settings
from distillguard.api.sharing.views import router as sharing_router
from distillguard.api.strict import StrictJson
from distillguard.api.webhooks.delivery import Dispatcher, RetryPolicy
from distillguard.api.webhooks.views import router as webhooks_router
from distillguard.detector.logs import get_logger
from distillguard.detector.policy import load_policy

log = get_logger("api")


class Health(BaseModel):
    """Service health."""

    status: str
    database: str


async def _outbox_loop(app: FastAPI) -> None:
    """Re-send pending enforcement events every ``api_outbox_interval`` seconds (crash recovery)."""
    while True:
        await asyncio.sleep(app.state.settings.api_outbox_interval)
        try:
            await asyncio.to_thread(_dispatch_once, app)
        except Exception as exc:  # noqa: BLE001 - keep the loop alive; the next round retries
            log.warning("outbox round failed", error=str(exc)[:200])


def _dispatch_once(app: FastAPI) -> None:
    with app.state.sessions() as session:
        dispatch(session, app.state.publisher)


def _sign_in(request: Request, exc: Exception) -> RedirectResponse:
    """A console page without a valid session: logged like a 401, then off to the sign-in form."""
    log_refusal(request, 401, str(exc))
    return RedirectResponse("/console/login", status_code=303)


def create_app(
    settings: ApiSettings | None = None,
    *,
    publisher: Publisher | None = None,
    outbox_loop: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The app on ``settings.database_url`` (already migrated), publishing enforcement to ``settings.kafka_bootstrap``;
    ``clock`` (seconds, monotonic) times its caches. ``outbox_loop`` runs the background loops: enforcement re-sends,
    and webhook deliveries when ``settings.api_webhooks_dispatch``."""
    settings = settings or get_api_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_outbox_loop(app))] if outbox_loop else []
        if outbox_loop and settings.api_webhooks_dispatch:
            webhooks = Dispatcher(app.state.sessions, RetryPolicy.from_settings(settings))
            tasks.append(asyncio.create_task(webhooks.run(settings.api_webhook_interval)))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        app.state.publisher.close()
        if isinstance(app.state.limiter, RedisLimiter):
            await app.state.limiter.close()

    app = FastAPI(
        title="DistillGuard review API",
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,  # api.docs serves /docs with local assets; ReDoc would load from a CDN
        redoc_url=None,
        description="Review distillation-attack detections: queue, evidence, cases, enforcement, "
        "indicator sharing. Every endpoint but /health needs 'Authorization: Bearer <token>'.",
    )
    app.state.settings = settings
    app.state.policy = load_policy(settings.policy_path)  # a bad file stops the service here, naming the field
    app.state.sessions = session_factory(settings.database_url)
    app.state.limiter = make_limiter(settings.api_rate_limit_redis_url, settings.api_rate_limit_redis_prefix)
    app.state.principals = PrincipalCache(settings.api_token_cache_seconds, clock=clock)
    app.state.queue_pages = PageCache(app.state.sessions, settings.api_queue_cache_seconds, clock=clock)
    app.state.queue_queries = ParsedQueries()
    app.state.hidden_reads = HiddenReads(app.state.sessions)
    app.state.precision_metrics = PrecisionMetrics(app.state.sessions, settings.api_metrics_cache_seconds, clock=clock)
    app.state.publisher = publisher or Publisher(settings.kafka_bootstrap, settings.enforcement_topic)
    app.add_middleware(StrictJson)  # inside BodyLimit: the body it buffers is bounded
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(NulGuard)
    app.add_middleware(SecurityHeaders)  # outermost: every response, the middlewares' own refusals included
    errors.install(app)
    docs.install(app)
    links.install(app)
    app.add_exception_handler(SignIn, _sign_in)
    app.mount("/console/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    for router in (
        detections_router,
        overrides_router,
        cases_router,
        restrictions_router,
        bulk_router,
        audit_router,
        enforcement_router,
        precision_router,
        sharing_router,
        webhooks_router,
        auth_router,
        console_router,
        console_precision_router,
        console_webhooks_router,
    ):
        app.include_router(router)

    @app.get(
        "/health",
        response_model=Health,
        tags=["health"],
        summary="Liveness and database reachability",
        responses={503: {"model": Health, "description": "Database unreachable"}},
    )
    def health(request: Request):
        """``ok`` when the database answers; 503 otherwise. Needs no token."""
        try:
            with request.app.state.sessions() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            log.warning("health check failed", error=str(exc)[:200])
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return {"status": "ok", "database": "ok"}

    return app
