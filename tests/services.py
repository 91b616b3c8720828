"""Services some tests need (PostgreSQL, Redis, Chromium). A local run skips a test whose service is missing and
says why (``-ra`` lists the reasons); CI (``CI=true``) fails it instead, so a missing service never passes as a
green run. Only a refused or timed-out connection means "not there": any other error surfaces."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import NoReturn

import pytest

CONNECT_TIMEOUT = 0.5  # seconds: a local service answers at once
UNREACHABLE = (ConnectionRefusedError, TimeoutError)  # nothing listens; nothing answers in time

Connect = Callable[[tuple[str, int], float], socket.socket]


def in_ci() -> bool:
    """Whether this run is CI's (``CI=true``, as CI services set it)."""
    return os.environ.get("CI") == "true"


def unreachable_reason(what: str, host: str, port: int, connect: Connect = socket.create_connection) -> str | None:
    """None when something accepts a TCP connection on ``host:port``; why not when the connection is refused or
    times out. Any other error (a bad host name, a permission refused, ...) is raised: it is a fault to see, not a
    missing service."""
    try:
        with connect((host, port), CONNECT_TIMEOUT):
            return None
    except UNREACHABLE as exc:
        return f"{what} not reachable on {host}:{port}: {type(exc).__name__}: {exc}"


def missing(reason: str) -> NoReturn:
    """Skip the test for ``reason`` locally; fail it under CI (``CI=true``)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing service fails the run instead of skipping it)", pytrace=False)
    pytest.skip(reason)
