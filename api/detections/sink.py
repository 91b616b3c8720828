"""The review database as the stream worker's verdict sink (the ``review-db`` entry point of
``distillguard.verdict_sinks``): migrate at start, upsert every write, failures as :class:`SinkError`."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from distillguard.api.database import migrate, session_scope
from distillguard.api.detections.service import upsert_detections
from distillguard.api.settings import get_api_settings
from distillguard.detector.logs import get_logger
from distillguard.detector.records import AccountVerdict, ClusterVerdict
from distillguard.streams.sinks import SinkError

log = get_logger("sink")
MIGRATE_ATTEMPTS = 5  # workers starting together race on a fresh database's migration
MIGRATE_BACKOFF_S = 1.0  # seconds before the first retry, one more before each next
WRITE_TIMEOUT_MS = 20_000  # a PostgreSQL write stuck longer (a lock, a hung server) fails and is retried
REASON_MAX_CHARS = 300
_REASONS = (
    ("readonly", "the database is read-only"),
    ("read-only", "the database is read-only"),
    ("disk is full", "the disk is full"),
    ("no space left", "the disk is full"),
    ("could not extend", "the disk is full"),
    ("unable to open", "the database file cannot be opened"),
    ("connection", "the database connection failed"),
    ("terminating", "the database server ended the connection"),
)


def db_error_reason(exc: SQLAlchemyError) -> str:
    """What an operator should know about a failed database write, in words."""
    raw = str(getattr(exc, "orig", None) or exc).strip()
    detail = raw.splitlines()[0][:REASON_MAX_CHARS] if raw else type(exc).__name__
    low = detail.lower()
    for needle, why in _REASONS:
        if needle in low:
            return f"{why} ({detail})"
    return detail


class ReviewDatabaseSink:
    """Upserts the worker's verdicts and clusters into the review database at ``url`` (idempotent)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def prepare(self) -> None:
        """Bring the database to the newest schema, retrying while other workers race on it."""
        for attempt in range(MIGRATE_ATTEMPTS):
            try:
                migrate(self.url)
                return
            except SQLAlchemyError as exc:
                if attempt == MIGRATE_ATTEMPTS - 1:
                    raise SinkError(f"cannot migrate the review database: {db_error_reason(exc)}") from exc
                log.warning("database migration raced or failed, retrying", error=db_error_reason(exc))
                time.sleep(MIGRATE_BACKOFF_S + attempt)

    def write(self, verdicts: Sequence[AccountVerdict], clusters: Sequence[ClusterVerdict]) -> None:
        """Upsert in one transaction, bounded in time on PostgreSQL (the consumer must poll again well
        within its max.poll.interval)."""
        try:
            with session_scope(self.url) as session:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text(f"SET LOCAL statement_timeout = {WRITE_TIMEOUT_MS}"))
                upsert_detections(session, verdicts, clusters)
        except SQLAlchemyError as exc:
            raise SinkError(db_error_reason(exc)) from exc

    def close(self) -> None:
        """Nothing to release (the engine's pool belongs to the process)."""


def review_database_sink() -> ReviewDatabaseSink:
    """The ``review-db`` sink: the database at ``DATABASE_URL``."""
    return ReviewDatabaseSink(get_api_settings().database_url)
