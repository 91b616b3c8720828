"""Rate limits that mean what they say: N requests per token in any 60 s (shared by API processes through
Redis), failed authentications limited per client IP, and every 401/403/429 logged with its reason."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog

from distillguard.api import ratelimit
from distillguard.api.ratelimit import MemoryLimiter, RedisLimiter
from tests.api.conftest import ORIGIN, Api, make_api, seed_world
from tests.ports import free_port
from tests.services import CONNECT_TIMEOUT, missing, unreachable_reason

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
LIMIT = 30
SAME = {"Origin": ORIGIN}  # console posts come from the console's own origin


class Clock:
    """A settable stand-in for ``time.monotonic``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(ratelimit.time, "monotonic", c)
    return c


def redis_reason() -> str | None:
    """None when Redis answers PING on 127.0.0.1:6379; why not when the connection is refused or times out
    (:func:`tests.services.unreachable_reason`). Any other answer to PING is raised, not taken for a missing Redis."""
    reason = unreachable_reason("Redis", REDIS_HOST, REDIS_PORT)
    if reason:
        return reason
    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=CONNECT_TIMEOUT) as s:
        s.sendall(b"PING\r\n")
        reply = s.recv(64)
    if not reply.startswith(b"+PONG"):
        raise RuntimeError(f"Redis on {REDIS_HOST}:{REDIS_PORT} answered PING with {reply!r}")
    return None


def need_redis() -> None:
    """Skip (locally) or fail (CI) a test needing Redis when it is not there."""
    reason = redis_reason()
    if reason:
        missing(reason)


def test_memory_window_admits_at_most_the_limit_in_any_60_seconds(clock: Clock) -> None:
    lim = MemoryLimiter()
    accepted = []
    for second in range(0, 180):  # one hit a second for three minutes, then a burst every 10 s
        clock.now = 1000.0 + second
        for _ in range(1 if second % 10 else 20):
            if asyncio.run(lim.hit("k", LIMIT)) == 0:
                accepted.append(clock.now)
    for start in accepted:  # every 60 s window starting at an accepted hit
        assert sum(1 for t in accepted if start <= t < start + 60) <= LIMIT
    assert len(accepted) >= 2 * LIMIT  # and the window does free up


def test_a_full_window_stays_full_until_its_oldest_hit_is_60_seconds_old(clock: Clock) -> None:
    lim = MemoryLimiter()
    assert [asyncio.run(lim.hit("k", LIMIT)) for _ in range(LIMIT)] == [0] * LIMIT
    clock.now += 30  # a bucket refilling at LIMIT/60 per second would have LIMIT/2 again
    assert asyncio.run(lim.hit("k", LIMIT)) == 30
    assert asyncio.run(lim.blocked("other", LIMIT)) == 0
    clock.now += 30
    assert asyncio.run(lim.hit("k", LIMIT)) == 0


def test_idle_keys_do_not_pile_up_in_process(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_IDLE_KEYS", 50)
    lim = MemoryLimiter()
    for i in range(1000):  # a new address every second, each failing once
        clock.now += 1
        asyncio.run(lim.hit(f"auth-fail:10.0.{i // 256}.{i % 256}", 20))
    assert len(lim._hits) <= 50 + 2 * 60  # the cap, plus the addresses of the last two windows (one sweep a window)


def test_per_token_limit_over_http(sqlite_url: str, broker, clock: Clock) -> None:
    seed_world(sqlite_url)
    gen = make_api(sqlite_url, broker.bootstrap, api_rate_limit_per_minute=LIMIT)
    api = next(gen)
    codes = [api.client.get("/api/v1/me", headers=api.h("viewer")).status_code for _ in range(LIMIT + 1)]
    assert codes == [200] * LIMIT + [429]
    clock.now += 20
    r = api.client.get("/api/v1/me", headers=api.h("viewer"))
    assert r.status_code == 429 and r.headers["retry-after"] == "40"
    assert api.client.get("/api/v1/me", headers=api.h("analyst")).status_code == 200
    gen.close()


def test_failed_authentication_is_limited_per_client_ip(sqlite_url: str, broker) -> None:
    seed_world(sqlite_url)
    gen = make_api(sqlite_url, broker.bootstrap, api_auth_failures_per_minute=5)
    api = next(gen)
    codes = [
        api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {uuid.uuid4().hex}"}).status_code
        for _ in range(8)
    ]
    assert codes == [401] * 5 + [429] * 3
    r = api.client.get("/api/v1/me", headers=api.h("viewer"))  # a brute-forcing address gets nothing
    assert r.status_code == 429 and "failed authentications" in r.json()["detail"] and r.headers["retry-after"]
    gen.close()


def test_failed_console_sign_ins_are_limited_per_client_ip(sqlite_url: str, broker) -> None:
    seed_world(sqlite_url)
    gen = make_api(sqlite_url, broker.bootstrap, api_auth_failures_per_minute=5)
    api = next(gen)
    codes = [
        api.client.post(
            "/console/login", data={"token": f"guess-{i}"}, headers=SAME, follow_redirects=False
        ).status_code
        for i in range(7)
    ]
    assert codes == [303] * 5 + [429] * 2
    r = api.client.post("/console/login", data={"token": api.tokens["viewer"]}, headers=SAME, follow_redirects=False)
    assert r.status_code == 429 and "failed authentications" in r.text
    gen.close()


def test_refusals_are_logged_with_reason_never_the_token(sqlite_api: Api) -> None:
    bad = f"secret-{uuid.uuid4().hex}"
    with structlog.testing.capture_logs() as logs:
        sqlite_api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {bad}"})
        sqlite_api.client.post("/api/v1/tokens", json={"name": "x", "role": "viewer"}, headers=sqlite_api.h("viewer"))
        sqlite_api.client.post("/console/login", data={"token": bad}, headers=SAME, follow_redirects=False)
    refused = [e for e in logs if e["event"] == "request refused"]
    assert [(e["status"], e["route"]) for e in refused] == [
        (401, "/api/v1/me"),
        (403, "/api/v1/tokens"),
        (401, "/console/login"),
    ]
    assert refused[0]["reason"] == "unknown API token" and refused[0]["client_ip"] == "testclient"
    assert refused[1]["token_id"] is not None and "role 'viewer'" in refused[1]["reason"]
    assert all(bad not in str(e) and sqlite_api.tokens["viewer"] not in str(e) for e in logs)


def test_redis_down_falls_back_to_limiting_in_process() -> None:
    lim = RedisLimiter("redis://127.0.0.1:1/0", "dg-test:")  # nothing listens on port 1
    results = asyncio.run(_hits(lim, 4))
    assert results[:3] == [0, 0, 0] and results[3] > 0


async def _hits(lim: RedisLimiter, n: int, limit: int = 3) -> list[int]:
    out = [await lim.hit("k", limit) for _ in range(n)]
    await lim.close()
    return out


def test_redis_window_is_shared_by_limiters() -> None:
    need_redis()
    prefix = f"dg-test-{uuid.uuid4().hex}:"

    async def run() -> list[int]:
        a, b = RedisLimiter(REDIS_URL, prefix), RedisLimiter(REDIS_URL, prefix)
        out = [await (a if i % 2 else b).hit("k", LIMIT) for i in range(LIMIT + 10)]
        await a.close()
        await b.close()
        return out

    out = asyncio.run(run())
    assert out[:LIMIT] == [0] * LIMIT and all(w > 0 for w in out[LIMIT:])


@pytest.fixture
def two_processes(sqlite_api: Api, tmp_path: Path) -> Iterator[tuple[list[str], Api]]:
    """Two uvicorn processes serving the same database, sharing one Redis window per token."""
    need_redis()
    env = os.environ | {
        "DATABASE_URL": sqlite_api.url,
        "KAFKA_BOOTSTRAP": sqlite_api.settings.kafka_bootstrap,
        "ENFORCEMENT_TOPIC": sqlite_api.settings.enforcement_topic,
        "API_RATE_LIMIT_PER_MINUTE": str(LIMIT),
        "API_RATE_LIMIT_REDIS_URL": REDIS_URL,
        "API_RATE_LIMIT_REDIS_PREFIX": f"dg-test-{uuid.uuid4().hex}:",
        "OMP_NUM_THREADS": "1",
    }
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "distillguard.api.main:app", "--port", str(p), "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"uvicorn-{p}.log").open("w"),
        )
        for p in ports
    ]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        deadline = time.monotonic() + 60
        for url in urls:
            while True:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.2)
        yield urls, sqlite_api
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


def test_two_api_processes_accept_at_most_the_limit_per_token(two_processes: tuple[list[str], Api]) -> None:
    urls, api = two_processes
    codes = [
        httpx.get(urls[i % 2] + "/api/v1/me", headers=api.h("viewer"), timeout=5).status_code for i in range(3 * LIMIT)
    ]
    assert codes.count(200) == LIMIT and codes.count(429) == 2 * LIMIT
