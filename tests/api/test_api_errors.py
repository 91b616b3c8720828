"""Database trouble maps to answers a client can act on: a full connection pool is 503 with Retry-After."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import TimeoutError as PoolTimeout

from distillguard.api import errors


def test_an_exhausted_connection_pool_is_503_database_busy_with_retry_after() -> None:
    app = FastAPI()
    errors.install(app)

    @app.get("/busy")
    def busy() -> None:
        raise PoolTimeout("QueuePool limit of size 20 overflow 20 reached, connection timed out, timeout 10.00")

    r = TestClient(app, raise_server_exceptions=False).get("/busy")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2"
    assert r.json() == {"detail": "database busy: every pooled connection is in use; retry shortly"}
