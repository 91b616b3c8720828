"""What the queue's page cache and the token cache promise: this process's writes show at once, another
process's within the configured seconds, a revoked token is refused, and a miss under load is rendered once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from distillguard.api.auth.service import Principal, PrincipalCache, hash_token
from distillguard.api.database import engine_for, session_factory
from distillguard.api.detections.pages import PageCache
from distillguard.api.detections.service import bump_epoch
from distillguard.streams.broker import EmbeddedBroker
from tests.api.conftest import Api, make_api, seed_world

TTL = 0.5


@pytest.fixture
def cached_api(sqlite_url: str, broker: EmbeddedBroker) -> Iterator[Api]:
    """The app with short cache lifetimes, so 'within the configured seconds' can be watched."""
    seed_world(sqlite_url)
    yield from make_api(sqlite_url, broker.bootstrap, api_queue_cache_seconds=TTL, api_token_cache_seconds=TTL)


def _top(api: Api) -> dict:
    r = api.client.get("/api/v1/detections", headers=api.h("viewer"))
    assert r.status_code == 200, r.text
    return r.json()["items"][0]


def _as_another_process(url: str, sql: str, **params: object) -> None:
    """A write that bypasses this process's sessions, like the stream worker's (bumping the epoch as it does)."""
    with engine_for(url).begin() as c:
        c.execute(text(sql), params)
        c.execute(text("UPDATE detections_epoch SET epoch = epoch + 1 WHERE id = 1"))


def _eventually(check, within: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        if check():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"not seen within {within} s")


def test_a_review_decision_shows_in_the_queue_and_counts_at_once(cached_api: Api) -> None:
    api = cached_api
    assert _top(api)["status"] == "new"
    before = api.client.get("/api/v1/detections/counts", headers=api.h("viewer")).json()["by_status"]
    case = api.client.post(
        "/api/v1/cases", json={"subject_type": "cluster", "subject_id": "c-hydra"}, headers=api.h("analyst")
    )
    assert case.status_code == 201, case.text
    r = api.client.post(
        f"/api/v1/cases/{case.json()['id']}/transition",
        json={"status": "in_review", "reason": "looking"},
        headers=api.h("analyst"),
    )
    assert r.status_code == 200, r.text
    assert _top(api)["status"] == "in_review"  # no waiting: the write went through this process
    after = api.client.get("/api/v1/detections/counts", headers=api.h("viewer")).json()["by_status"]
    assert after.get("in_review", 0) == before.get("in_review", 0) + 1


def test_another_process_s_write_shows_within_the_cache_seconds(cached_api: Api) -> None:
    api = cached_api
    assert _top(api)["cluster_id"] == "c-hydra"
    _as_another_process(api.url, "UPDATE cluster_verdicts SET score = 0.01 WHERE cluster_id = 'c-hydra'")
    waited = _eventually(lambda: _top(api)["cluster_id"] != "c-hydra", within=TTL + 2)
    assert waited <= TTL + 1


def test_every_request_reads_the_epoch_when_the_cache_seconds_are_zero(sqlite_url: str, broker: EmbeddedBroker) -> None:
    seed_world(sqlite_url)
    for api in make_api(sqlite_url, broker.bootstrap, api_queue_cache_seconds=0):
        assert _top(api)["cluster_id"] == "c-hydra"
        _as_another_process(api.url, "UPDATE cluster_verdicts SET score = 0.01 WHERE cluster_id = 'c-hydra'")
        assert _top(api)["cluster_id"] != "c-hydra"


def test_a_token_revoked_elsewhere_is_refused_within_the_cache_seconds(cached_api: Api) -> None:
    api = cached_api
    assert api.client.get("/api/v1/detections", headers=api.h("analyst")).status_code == 200
    with engine_for(api.url).begin() as c:  # `distillguard token revoke` in another process
        c.execute(text("UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP WHERE name = 'analyst-user'"))
    _eventually(
        lambda: api.client.get("/api/v1/detections", headers=api.h("analyst")).status_code == 401, within=TTL + 2
    )
    r = api.client.get("/api/v1/detections", headers=api.h("analyst"))
    assert r.json()["detail"] == "API token 'analyst-user' was revoked"


def test_an_unknown_token_is_never_cached(cached_api: Api) -> None:
    api = cached_api
    bad = {"Authorization": "Bearer dg_not-yet-issued"}
    assert api.client.get("/api/v1/detections", headers=bad).status_code == 401
    with engine_for(api.url).begin() as c:  # the same secret is then issued (as its hash)
        c.execute(
            text(
                "INSERT INTO api_tokens (name, role, prefix, token_hash, created_at) "
                "VALUES ('late', 'viewer', 'dg_not-yet', :h, CURRENT_TIMESTAMP)"
            ),
            {"h": hash_token("dg_not-yet-issued")},
        )
    assert api.client.get("/api/v1/detections", headers=bad).status_code == 200


def test_concurrent_misses_of_one_page_render_it_once(sqlite_url: str) -> None:
    seed_world(sqlite_url)
    cache = PageCache(session_factory(sqlite_url), ttl=60)
    calls, gate = [], threading.Event()

    def render(_session) -> bytes:
        calls.append(1)
        gate.wait(5)  # slow enough for every request to arrive while it renders
        return b'{"page": 1}'

    async def burst() -> list[bytes]:
        tasks = [asyncio.ensure_future(cache.get(("page", 1), render)) for _ in range(20)]
        await asyncio.sleep(0.2)
        gate.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(burst()) == [b'{"page": 1}'] * 20
    assert len(calls) == 1
    with session_factory(sqlite_url)() as s:  # a write by this process: the next request renders again
        bump_epoch(s)
        s.commit()
    asyncio.run(cache.get(("page", 1), render))
    assert len(calls) == 2


def test_another_process_s_write_is_rendered_ahead_while_requests_are_answered(sqlite_url: str) -> None:
    seed_world(sqlite_url)
    cache = PageCache(session_factory(sqlite_url), ttl=0.2)
    renders: list[int] = []

    def render(session) -> bytes:
        renders.append(1)
        time.sleep(0.5)
        return str(session.execute(text("SELECT epoch FROM detections_epoch")).scalar()).encode()

    async def scenario() -> tuple[bytes, float, bytes, bytes]:
        first = await cache.get("page", render)
        _as_another_process(sqlite_url, "UPDATE cluster_verdicts SET score = 0.5 WHERE cluster_id = 'c-uni'")
        await asyncio.sleep(0.3)  # past ttl
        t = time.monotonic()
        during = await cache.get("page", render)  # starts the refresh, answered from the served epoch
        waited = time.monotonic() - t
        await asyncio.sleep(1.0)  # the refresh renders the page at the new epoch
        after = await cache.get("page", render)
        return first, waited, during, after

    first, waited, during, after = asyncio.run(scenario())
    assert during == first and waited < 0.2
    assert int(after) == int(first) + 1 and len(renders) == 2


def test_a_failed_background_read_keeps_serving_and_is_retried(sqlite_url: str) -> None:
    seed_world(sqlite_url)
    cache = PageCache(session_factory(sqlite_url), ttl=0.1)
    healthy = cache.sessions
    calls: list[int] = []

    def render(_session) -> bytes:
        calls.append(1)
        return b"page"

    def broken() -> None:
        raise OSError("connection refused")

    async def scenario() -> list[bytes]:
        out = [await cache.get("k", render)]
        cache.sessions = broken  # the database goes away
        await asyncio.sleep(0.15)
        out.append(await cache.get("k", render))  # starts a refresh that fails
        await asyncio.sleep(0.1)
        out.append(await cache.get("k", render))  # served still, and a new refresh is started (fails too)
        await asyncio.sleep(0.1)
        cache.sessions = healthy
        out.append(await cache.get("k", render))  # and once the database is back, one succeeds
        await asyncio.sleep(0.1)
        return out

    with capture_logs() as logs:
        t0 = time.monotonic()
        assert asyncio.run(scenario()) == [b"page"] * 4
    assert cache._epoch[1] > t0 + 0.3 and calls == [1]  # the epoch was read again; the page never re-rendered
    failed = [e for e in logs if e["event"].startswith("reading the detections epoch failed")]
    assert len(failed) == 2 and "connection refused" in failed[0]["error"]


def test_concurrent_requests_with_an_expired_token_share_one_look_up() -> None:
    cache = PrincipalCache(ttl=60)
    who = Principal(name="analyst-user", role="analyst", token_id=3)
    looked_up, gate = [], threading.Event()

    def look_up() -> Principal:
        looked_up.append(1)
        gate.wait(5)
        return who

    async def burst() -> list[Principal]:
        tasks = [asyncio.ensure_future(cache.get("h", look_up)) for _ in range(25)]
        await asyncio.sleep(0.2)
        gate.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(burst()) == [who] * 25 and len(looked_up) == 1
    assert asyncio.run(cache.get("h", look_up)) == who and len(looked_up) == 1  # cached now
    cache.forget(3)
    assert asyncio.run(cache.get("h", look_up)) == who and len(looked_up) == 2  # looked up again after a revocation
