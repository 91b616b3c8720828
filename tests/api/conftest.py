"""Fixtures of the review-service tests: a migrated, seeded database (SQLite, and PostgreSQL when reachable),
the embedded Kafka-protocol broker, an app client and one token per role."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from distillguard.api.app import create_app
from distillguard.api.auth.roles import ROLES
from distillguard.api.auth.service import authenticate, create_token, hash_token, revoke_token
from distillguard.api.auth.sessions import csrf_token, open_session
from distillguard.api.console.views import SESSION_COOKIE
from distillguard.api.database import engine_for, make_engine, migrate, session_scope
from distillguard.api.detections.service import upsert_detections
from distillguard.api.settings import ApiSettings
from distillguard.streams.admin import ensure_topics
from distillguard.streams.broker import EmbeddedBroker
from tests.api import seed
from tests.ports import HOST, free_port
from tests.services import missing, unreachable_reason

SERVER_START_SECONDS = 10
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"
ORIGIN = "http://testserver"  # the TestClient's origin (console posts must come from it)


def postgres_reason(url: str, host: str, port: int) -> str | None:
    """None when PostgreSQL at ``url`` (listening on ``host:port``) answers a query; why not when the connection
    is refused or times out. Any other failure (the server is there but refuses the login, lacks the database,
    breaks off) is raised, not taken for a missing server."""
    reason = unreachable_reason("PostgreSQL", host, port)
    if reason:
        return reason
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            c.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    return None


@cache
def pg_reason() -> str | None:
    """None when PostgreSQL answers on 127.0.0.1:5432 (database 'test'), else why not (:func:`postgres_reason`)."""
    return postgres_reason(PG_ADMIN, PG_HOST, PG_PORT)


def new_database(kind: str, tmp_path: Path) -> tuple[str, callable]:
    """A URL of an empty database of ``kind`` and a function dropping it."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'review.db'}", lambda: engine_for.cache_clear()
    reason = pg_reason()
    if reason:
        missing(reason)
    name = f"dgapi_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"

    def drop() -> None:
        engine_for(url).dispose()
        engine_for.cache_clear()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database: SQLite, then PostgreSQL (when unreachable: skipped with the reason, failed
    under CI)."""
    url, drop = new_database(request.param, tmp_path)
    migrate(url)
    yield url
    drop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty, migrated SQLite database (tests that do not depend on the dialect)."""
    url = f"sqlite:///{tmp_path / 'review.db'}"
    migrate(url)
    return url


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """The embedded Kafka-protocol broker (Tansu), one for the session."""
    with EmbeddedBroker(free_port(), log_path=tmp_path_factory.mktemp("broker") / "tansu.log") as b:
        yield b


@dataclass
class Api:
    """A running app on a seeded database, with a token per role."""

    client: TestClient
    url: str
    settings: ApiSettings
    tokens: dict[str, str]

    consoles: dict[str, tuple[dict[str, str], str]] = field(default_factory=dict)

    def h(self, role: str) -> dict[str, str]:
        """Authorization headers of the ``role`` token."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def console(self, role: str) -> tuple[dict[str, str], str]:
        """Headers of a console session of the ``role`` token (its cookie, this origin) and its CSRF token;
        one session per role, opened on first use."""
        if role not in self.consoles:
            with session_scope(self.url) as s:
                token = authenticate(s, hash_token(self.tokens[role]))
                session_id = open_session(s, token, timedelta(hours=1))
            self.consoles[role] = (
                {"Cookie": f"{SESSION_COOKIE}={session_id}", "Origin": ORIGIN},
                csrf_token(session_id),
            )
        return self.consoles[role]


def seed_world(url: str) -> None:
    """Write the seed verdicts and clusters."""
    verdicts, clusters = seed.build()
    with session_scope(url) as s:
        upsert_detections(s, verdicts, clusters)


def make_api(
    url: str, bootstrap: str, clock: Callable[[], float] = time.monotonic, **overrides: object
) -> Iterator[Api]:
    """An :class:`Api` on ``url`` publishing enforcement to a fresh topic on ``bootstrap``, its caches timed by
    ``clock``."""
    topic = f"enforcement-actions-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, {topic: (1, {})})
    settings = ApiSettings(
        **(
            {
                "database_url": url,
                "kafka_bootstrap": bootstrap,
                "enforcement_topic": topic,
                "api_rate_limit_per_minute": 100_000,
                "api_auth_failures_per_minute": 100_000,
            }
            | overrides
        )
    )
    tokens = {}
    with session_scope(url) as s:
        for role in ROLES:
            tokens[role] = create_token(s, f"{role}-user", role)[1]
    app = create_app(settings, outbox_loop=False, clock=clock)
    with TestClient(app) as client:
        yield Api(client, url, settings, tokens)


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free loopback port: its base URL (a client that streams
    responses, unlike the TestClient, which reads them whole)."""
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        srv.should_exit = True
        thread.join(SERVER_START_SECONDS)


@pytest.fixture
def api(db_url: str, broker: EmbeddedBroker) -> Iterator[Api]:
    """The app on a seeded database of each dialect."""
    seed_world(db_url)
    yield from make_api(db_url, broker.bootstrap)


@pytest.fixture
def sqlite_api(sqlite_url: str, broker: EmbeddedBroker) -> Iterator[Api]:
    """The app on a seeded SQLite database."""
    seed_world(sqlite_url)
    yield from make_api(sqlite_url, broker.bootstrap)


# Service-level tests (no app, no broker): a seeded, migrated SQLite database built once per session and copied
# for each test, so that a test costs milliseconds (these are the tests run against every mutant of the review
# service's modules, tests/mutation.py).
SERVICE_TOKENS = (
    ("viewer-user", "viewer"),
    ("analyst-user", "analyst"),
    ("analyst-2", "analyst"),
    ("lead-user", "lead"),
    ("admin-user", "admin"),
    ("gone-user", "analyst"),  # revoked below
)


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the seed world (:mod:`tests.api.seed`) and the tokens of
    :data:`SERVICE_TOKENS` (ids 1..6, ``gone-user``'s revoked), built once per session."""
    path = tmp_path_factory.mktemp("template") / "review.db"
    url = f"sqlite:///{path}"
    migrate(url)
    seed_world(url)
    with session_scope(url) as s:
        for name, role in SERVICE_TOKENS:
            create_token(s, name, role)
        revoke_token(s, len(SERVICE_TOKENS))
    engine_for(url).dispose()  # the last connection closed: the WAL is checkpointed into the file
    return path


@pytest.fixture
def db(seeded_template: Path, tmp_path: Path) -> Iterator[Session]:
    """A session on a fresh copy of :func:`seeded_template` (objects kept loaded after a commit, like the app's)."""
    path = tmp_path / "review.db"
    shutil.copyfile(seeded_template, path)
    engine = make_engine(f"sqlite:///{path}")
    session = Session(engine, expire_on_commit=False)
    yield session
    session.close()
    engine.dispose()
