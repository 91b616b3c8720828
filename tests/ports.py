"""TCP ports for the servers the tests start (brokers, workers' metrics, uvicorn), safe when the suite runs in
several processes at once (``make test``: pytest-xdist workers).

A port taken with ``bind(("127.0.0.1", 0))`` and released for a child process to bind is free only for a
moment: another test process binding port 0 in that moment may be handed the same one, and then two servers
race for it (the loser exits, or a test reads another test's server). So each xdist worker takes its ports
from a range of its own, below the kernel's ephemeral range (where ``bind(0)`` and outgoing connections draw
theirs), never hands out a port twice, and checks that nothing listens on a port before handing it out.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

HOST = "127.0.0.1"
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_LOW = 32768  # Linux's default lower bound of the ephemeral range
PORTS_PER_WORKER = 1000  # far more than one worker's session starts (a few dozen servers)
MAX_WORKERS = 12  # PORTS_PER_WORKER * MAX_WORKERS ports below the ephemeral range, above the well-known ones


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_LOW


def worker_index() -> int:
    """This process's xdist worker number (``gw3`` -> 3); 0 outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name.removeprefix("gw"))


def worker_range(index: int, ephemeral_low: int) -> range:
    """The ports of worker ``index``: a block of its own, the blocks stacked down from the ephemeral range."""
    if not 0 <= index < MAX_WORKERS:
        raise ValueError(f"xdist worker {index}: tests/ports.py has port ranges for {MAX_WORKERS} workers")
    top = ephemeral_low - index * PORTS_PER_WORKER
    return range(top - PORTS_PER_WORKER, top)


class PortPool:
    """Ports of one range handed out once each, from a random start (so that two test runs on one machine, each
    with its own worker 0, rarely walk the same ports in step)."""

    def __init__(self, ports: range, rng: random.Random | None = None) -> None:
        self._ports = ports
        self._next = (rng or random.Random()).randrange(len(ports))
        self._given = 0

    def take(self) -> int:
        """A port of the range not handed out before on which nothing listens and nothing is bound now."""
        while self._given < len(self._ports):
            port = self._ports[self._next]
            self._next = (self._next + 1) % len(self._ports)
            self._given += 1
            if bindable(port):
                return port
        raise RuntimeError(f"tests/ports.py: every port of {self._ports} has been handed out")


def bindable(port: int) -> bool:
    """Whether a socket can bind ``port`` on the loopback address now (nothing listens on it or holds it)."""
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


_pool: PortPool | None = None


def free_port() -> int:
    """A loopback port for a server a test starts: this worker's own, never handed out twice in a session."""
    global _pool
    if _pool is None:
        _pool = PortPool(worker_range(worker_index(), _ephemeral_low()))
    return _pool.take()
