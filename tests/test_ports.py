"""The test suite's ports (tests/ports.py): each xdist worker has its own, below the ephemeral range."""

from __future__ import annotations

import random
import socket

import pytest

import tests.ports
from tests.ports import HOST, MAX_WORKERS, PortPool, free_port, worker_range

EPHEMERAL_LOW = 32768
PRIVILEGED = 1024  # ports below this need root to bind


def test_workers_have_disjoint_ranges_between_the_privileged_and_the_ephemeral_ports() -> None:
    ranges = [set(worker_range(i, EPHEMERAL_LOW)) for i in range(MAX_WORKERS)]
    assert all(a.isdisjoint(b) for i, a in enumerate(ranges) for b in ranges[i + 1 :])
    every = set().union(*ranges)
    assert min(every) >= PRIVILEGED and max(every) < EPHEMERAL_LOW
    with pytest.raises(ValueError, match="port ranges for"):
        worker_range(MAX_WORKERS, EPHEMERAL_LOW)


def test_a_pool_hands_out_each_port_once_and_skips_one_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    ports, busy = range(5000, 5005), 5003
    monkeypatch.setattr(tests.ports, "bindable", lambda port: port != busy)
    pool = PortPool(ports, random.Random(0))
    got = [pool.take() for _ in range(len(ports) - 1)]
    assert sorted(got) == [p for p in ports if p != busy]
    with pytest.raises(RuntimeError, match="handed out"):
        pool.take()


def test_a_bound_port_is_not_bindable() -> None:
    with socket.socket() as held:
        held.bind((HOST, 0))
        assert not tests.ports.bindable(held.getsockname()[1])


def test_free_port_is_bindable_and_never_repeats() -> None:
    ports = [free_port() for _ in range(5)]
    assert len(set(ports)) == len(ports)
    for port in ports:
        with socket.socket() as s:
            s.bind((HOST, port))
