"""Bring the review database (DATABASE_URL) to the newest schema, once, before the API and workers start.

The image's one-shot migration step (compose service ``migrate``, Kubernetes Job ``distillguard-migrate``).
The API and the workers also migrate at start; running this first keeps them from racing on a fresh database.
"""

from __future__ import annotations

import sys

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from distillguard.api.database import migrate
from distillguard.api.settings import ApiSettings
from distillguard.detector.logs import configure_logging, get_logger
from distillguard.detector.settings import Settings


def main() -> int:
    """Upgrade to head; log which database (password hidden). Exit 1 when the database is unreachable."""
    core, url = Settings(), ApiSettings().database_url
    configure_logging(core.log_level, core.log_json)
    log = get_logger("migrate")
    where = make_url(url).render_as_string(hide_password=True)
    try:
        migrate(url)
    except OperationalError as exc:  # unreachable, refused, bad credentials: the orchestrator retries
        log.error("database unavailable", database=where, error=str(exc.orig).strip())
        return 1
    log.info("database at head", database=where)
    return 0


if __name__ == "__main__":
    sys.exit(main())
