"""Alembic environment: the review-service tables, URL from the config (``api.database.migrate``)."""

from alembic import context
from alembic.util import CommandError

import distillguard.api.models  # noqa: F401  (registers every table)
from distillguard.api.database import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Run migrations online against the configured URL."""
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise CommandError("no sqlalchemy.url in the Alembic config (api.database.alembic_config sets it)")
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
