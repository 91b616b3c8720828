"""A webhook receiver for the tests: a threaded HTTP server on a fixed loopback port that can be down (nothing
listening: connection refused), answer 500, answer too late, hold requests, or accept; it checks every signature and
remembers what it accepted, so that a test can de-duplicate by delivery id as a real receiver would."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from distillguard.api.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    verify_signature,
)
from tests.ports import HOST

OK, ERROR, SLOW = "ok", "error", "slow"
HOLD_SECONDS = 30  # longest a held request waits for release


@dataclass(frozen=True)
class Received:
    """One request: its delivery id, event type, raw body, signature header, whether that verified under the
    receiver's secret, and the answer sent."""

    delivery_id: str
    event: str
    body: bytes
    signature: str
    signed: bool
    answer: str


class Receiver:
    """Serves on ``port`` while started; the next requests get the answers queued in :attr:`plan` (then ``ok``); a
    ``slow`` answer comes ``slow_seconds`` late; while :attr:`holding` is clear, requests wait for it."""

    def __init__(self, port: int, slow_seconds: float = 2.0) -> None:
        self.port = port
        self.slow_seconds = slow_seconds
        self.secret = ""
        self.plan: deque[str] = deque()
        self.requests: list[Received] = []
        self.holding = threading.Event()
        self.holding.set()
        self.held = threading.Semaphore(0)  # released once per request that starts waiting on holding
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The endpoint to subscribe."""
        return f"http://{HOST}:{self.port}/hook"

    def accepted(self) -> list[Received]:
        """The requests answered 2xx (slow ones included: the receiver processed them even if the sender gave up)."""
        with self._lock:
            return [r for r in self.requests if r.answer != ERROR]

    def unique(self) -> dict[str, Received]:
        """Accepted requests de-duplicated by delivery id (what a receiver acts on once each)."""
        return {r.delivery_id: r for r in self.accepted()}

    def start(self) -> None:
        """Listen (again) on the port."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not receiver.holding.is_set():
                    receiver.held.release()
                    receiver.holding.wait(HOLD_SECONDS)
                answer = receiver._next()
                signature = self.headers.get(SIGNATURE_HEADER, "")
                try:
                    verify_signature(receiver.secret, signature, raw)
                    signed = True
                except SignatureError:
                    signed = False
                got = Received(
                    self.headers[DELIVERY_HEADER], self.headers[EVENT_HEADER], raw, signature, signed, answer
                )
                with receiver._lock:
                    receiver.requests.append(got)
                if answer == SLOW:
                    time.sleep(receiver.slow_seconds)
                self.send_response(500 if answer == ERROR else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer((HOST, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _next(self) -> str:
        with self._lock:
            return self.plan.popleft() if self.plan else OK

    def stop(self) -> None:
        """Stop listening: connections are refused until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
