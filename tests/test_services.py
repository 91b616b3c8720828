"""When a test's service (PostgreSQL, Redis) counts as missing, skipped locally and failed under CI, and when its
error surfaces instead: only a refused or timed-out connection means the service is not there."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import OperationalError

from tests.api.conftest import postgres_reason
from tests.services import missing, unreachable_reason

HOST = "127.0.0.1"
REASON = "Example not reachable on 127.0.0.1:1"


def test_a_listening_port_is_reachable() -> None:
    with socket.create_server((HOST, 0)) as server:
        assert unreachable_reason("Example", HOST, server.getsockname()[1]) is None


def test_a_refused_connection_means_unreachable() -> None:
    with socket.socket() as held:  # bound but not listening: connections are refused, and the port stays ours
        held.bind((HOST, 0))
        port = held.getsockname()[1]
        reason = unreachable_reason("Example", HOST, port)
    assert reason is not None and reason.startswith(f"Example not reachable on {HOST}:{port}: ConnectionRefusedError")


def _raising(exc: OSError):
    def connect(address: tuple[str, int], timeout: float) -> socket.socket:
        raise exc

    return connect


def test_a_timed_out_connection_means_unreachable() -> None:
    reason = unreachable_reason("Example", HOST, 1, connect=_raising(TimeoutError("timed out")))
    assert reason == f"{REASON}: TimeoutError: timed out"


@pytest.mark.parametrize(
    "error",
    [
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        PermissionError(13, "Permission denied"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
    ids=type,
)
def test_other_connection_errors_surface(error: OSError) -> None:
    with pytest.raises(type(error)):
        unreachable_reason("Example", HOST, 1, connect=_raising(error))


@pytest.fixture
def hang_up_port() -> Iterator[int]:
    """A port whose server accepts every connection and closes it at once (a broken server, not a missing one)."""
    server = socket.create_server((HOST, 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # shut down: the test is over
                return
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join()


def test_a_postgresql_that_is_there_but_fails_raises_rather_than_skips(hang_up_port: int) -> None:
    url = f"postgresql://postgres@{HOST}:{hang_up_port}/test"
    with pytest.raises(OperationalError):
        postgres_reason(url, HOST, hang_up_port)


def _outcome(reason: str) -> tuple[type[BaseException], str]:
    """What :func:`missing` ends the test with: the outcome's type and message (caught, so that a skip cannot
    pass for this test's own result)."""
    with pytest.raises(BaseException) as caught:
        missing(reason)
    return caught.type, str(caught.value)


def test_a_missing_service_skips_locally_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert _outcome(REASON) == (pytest.skip.Exception, REASON)


def test_a_missing_service_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert _outcome(REASON) == (
        pytest.fail.Exception,
        f"{REASON} (CI=true: a missing service fails the run instead of skipping it)",
    )
