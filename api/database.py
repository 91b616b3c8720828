"""Database engine, sessions and migrations for the review service (SQLite by default, PostgreSQL via DATABASE_URL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, MetaData, Select, create_engine, event
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute, Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every review-service table."""

    metadata = MetaData(naming_convention=NAMING)


def where_given(stmt: Select, *equal: tuple[QueryableAttribute, object]) -> Select:
    """``stmt`` limited to the rows whose column equals the value, for each (column, value) pair with a value."""
    return stmt.where(*(column == value for column, value in equal if value))


# The connections a pool may hold, every one kept between requests once opened (no overflow): a pool keeping fewer
# than it may open closes the extra ones as they come back, so under load connections were opened and closed per
# request (a PostgreSQL backend started each time; four PRAGMAs on each SQLite connection).
PG_POOL_CONNECTIONS = 40  # was 20 kept + 20 overflow; the threads of a worker's threadpool (40) can all hold one
SQLITE_POOL_CONNECTIONS = 15  # SQLAlchemy's default for a SQLite file, 5 kept + 10 overflow


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``: WAL and foreign keys on SQLite, pre-ping and a sized pool on PostgreSQL."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            pool_size=SQLITE_POOL_CONNECTIONS,
            max_overflow=0,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=PG_POOL_CONNECTIONS,
        max_overflow=0,
        pool_recycle=1800,
        pool_timeout=10,
    )  # a request waits 10 s for a connection, then gets 503 "database busy"


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """The process-wide engine of ``url`` (one pool per URL)."""
    return make_engine(url)


def session_factory(url: str) -> sessionmaker[Session]:
    """A session factory bound to the engine of ``url``."""
    return sessionmaker(engine_for(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str):
    """Alembic configuration pointing at the packaged migrations and ``url``."""
    from alembic.config import Config

    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Upgrade the database at ``url`` to the newest schema (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")
