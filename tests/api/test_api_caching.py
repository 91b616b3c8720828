"""What the queue's page cache and the token cache promise: this process's writes show at once, another
process's once the configured seconds have passed, a revoked token is refused, and a miss under load is rendered
once. The caches run on a clock the tests move by hand, and the tests wait for events (a background read done, a
rendering begun), never for time to pass."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from distillguard.api.auth.service import Principal, PrincipalCache, hash_token
from distillguard.api.database import engine_for, session_factory
from distillguard.api.detections.pages import PageCache
from distillguard.api.detections.service import bump_epoch
from distillguard.streams.broker import EmbeddedBroker
from tests.api.conftest import Api, make_api, seed_world

TTL = 5.0  # cache seconds, on the hand-moved clock
TICK = 0.001  # a step of the clock below anything the caches distinguish
START = 1000.0  # the clock's first reading
SAFETY_SECONDS = 30  # how long a blocked rendering waits for its release before failing the test (never, if it passes)
REQUESTS = 20  # concurrent requests for one page
PAGE = b'{"page": 1}'


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cached_api(sqlite_url: str, broker: EmbeddedBroker, clock: Clock) -> Iterator[Api]:
    """The app with both caches on ``clock``."""
    seed_world(sqlite_url)
    yield from make_api(
        sqlite_url, broker.bootstrap, clock=clock, api_queue_cache_seconds=TTL, api_token_cache_seconds=TTL
    )


def _top(api: Api) -> dict:
    r = api.client.get("/api/v1/detections", headers=api.h("viewer"))
    assert r.status_code == 200, r.text
    return r.json()["items"][0]


def _refreshed(api: Api) -> None:
    """Wait, on the app's event loop, for the background read of the epoch a request started (if any)."""
    api.client.portal.call(api.client.app.state.queue_pages.refreshed)


def _as_another_process(url: str, sql: str, **params: object) -> None:
    """A write that bypasses this process's sessions, like the stream worker's (bumping the epoch as it does)."""
    with engine_for(url).begin() as c:
        c.execute(text(sql), params)
        c.execute(text("UPDATE detections_epoch SET epoch = epoch + 1 WHERE id = 1"))


def _epoch(session: Session) -> bytes:
    """A page whose body is the epoch it was rendered at."""
    return str(session.execute(text("SELECT epoch FROM detections_epoch")).scalar()).encode()


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


def test_an_override_shows_in_the_queue_at_once(cached_api: Api) -> None:
    api = cached_api
    assert (_top(api)["applied_action"], _top(api)["override"]) == ("none", None)  # the page is cached now
    r = api.client.put(
        "/api/v1/clusters/c-hydra/override", json={"action": "review", "reason": "cards"}, headers=api.h("analyst")
    )
    assert r.status_code == 200, r.text
    top = _top(api)  # the clock has not moved: a stale page would still say none
    assert (top["action"], top["applied_action"], top["override"]["reason"]) == ("none", "review", "cards")
    assert api.client.delete("/api/v1/clusters/c-hydra/override", headers=api.h("analyst")).status_code == 200
    assert (_top(api)["applied_action"], _top(api)["override"]) == ("none", None)


def test_another_process_s_write_shows_once_the_cache_seconds_have_passed(cached_api: Api, clock: Clock) -> None:
    api = cached_api
    assert _top(api)["cluster_id"] == "c-hydra"  # the epoch is read now
    _as_another_process(api.url, "UPDATE cluster_verdicts SET score = 0.01 WHERE cluster_id = 'c-hydra'")
    clock.advance(TTL - TICK)
    assert _top(api)["cluster_id"] == "c-hydra"  # within the cache seconds: the cached page
    _refreshed(api)  # a read started too early would be done now
    assert _top(api)["cluster_id"] == "c-hydra"
    clock.advance(TICK)
    assert _top(api)["cluster_id"] == "c-hydra"  # starts the read of the epoch, answered meanwhile
    _refreshed(api)
    assert _top(api)["cluster_id"] == "c-hydra-2"  # the next highest cluster of the seed


def test_every_request_reads_the_epoch_when_the_cache_seconds_are_zero(sqlite_url: str, broker: EmbeddedBroker) -> None:
    seed_world(sqlite_url)
    for api in make_api(sqlite_url, broker.bootstrap, api_queue_cache_seconds=0):
        assert _top(api)["cluster_id"] == "c-hydra"
        _as_another_process(api.url, "UPDATE cluster_verdicts SET score = 0.01 WHERE cluster_id = 'c-hydra'")
        assert _top(api)["cluster_id"] == "c-hydra-2"  # the next highest cluster of the seed


def test_a_token_revoked_elsewhere_is_refused_once_the_cache_seconds_have_passed(cached_api: Api, clock: Clock) -> None:
    api = cached_api
    assert api.client.get("/api/v1/detections", headers=api.h("analyst")).status_code == 200
    with engine_for(api.url).begin() as c:  # `distillguard token revoke` in another process
        c.execute(text("UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP WHERE name = 'analyst-user'"))
    clock.advance(TTL - TICK)
    assert api.client.get("/api/v1/detections", headers=api.h("analyst")).status_code == 200  # trusted so long
    clock.advance(2 * TICK)
    r = api.client.get("/api/v1/detections", headers=api.h("analyst"))
    assert r.status_code == 401 and r.json()["detail"] == "API token 'analyst-user' was revoked"


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
    cache = PageCache(session_factory(sqlite_url), ttl=TTL)
    calls: list[int] = []
    started, release = threading.Event(), threading.Event()

    def render(_session: Session) -> bytes:
        calls.append(1)
        started.set()
        assert release.wait(SAFETY_SECONDS), "the rendering was never released"
        return PAGE

    async def burst() -> list[bytes]:
        tasks = [asyncio.ensure_future(cache.get(("page", 1), render)) for _ in range(REQUESTS)]
        # The rendering starts in a task queued after every request's: once it has begun, all of them are waiting.
        assert await asyncio.to_thread(started.wait, SAFETY_SECONDS)
        release.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(burst()) == [PAGE] * REQUESTS
    assert len(calls) == 1
    with session_factory(sqlite_url)() as s:  # a write by this process: the next request renders again
        bump_epoch(s)
        s.commit()
    asyncio.run(cache.get(("page", 1), render))
    assert len(calls) == 2


def test_another_process_s_write_is_rendered_ahead_while_requests_are_answered(sqlite_url: str) -> None:
    seed_world(sqlite_url)
    clock = Clock()
    cache = PageCache(session_factory(sqlite_url), ttl=TTL, clock=clock)
    renders: list[bytes] = []

    def render(session: Session) -> bytes:
        renders.append(_epoch(session))
        return renders[-1]

    async def scenario() -> tuple[bytes, bytes, list[bytes], bytes]:
        first = await cache.get("page", render)
        _as_another_process(sqlite_url, "UPDATE cluster_verdicts SET score = 0.5 WHERE cluster_id = 'c-uni'")
        clock.advance(TTL)
        during = await cache.get("page", render)  # starts the read of the epoch, answered at the served one
        rendered_by_then = list(renders)
        await cache.refreshed()  # the read renders the page at the new epoch
        after = await cache.get("page", render)
        return first, during, rendered_by_then, after

    first, during, rendered_by_then, after = asyncio.run(scenario())
    assert during == first and rendered_by_then == [first]  # the request did not wait for a rendering
    assert int(after) == int(first) + 1 and renders == [first, after]  # rendered once, ahead of the request


def test_a_failed_background_read_keeps_serving_and_is_retried(sqlite_url: str) -> None:
    seed_world(sqlite_url)
    clock = Clock()
    healthy = session_factory(sqlite_url)
    cache = PageCache(healthy, ttl=TTL, clock=clock)
    calls: list[int] = []
    reads: list[int] = []  # epoch reads once the database is back

    def render(_session: Session) -> bytes:
        calls.append(1)
        return PAGE

    def broken() -> Session:
        raise OSError("connection refused")

    def back() -> Session:
        reads.append(1)
        return healthy()

    async def scenario() -> list[bytes]:
        out = [await cache.get("k", render)]
        cache.sessions = broken  # the database goes away
        clock.advance(TTL)
        out.append(await cache.get("k", render))  # starts a read that fails
        await cache.refreshed()
        out.append(await cache.get("k", render))  # served still, and a new read is started (fails too)
        await cache.refreshed()
        cache.sessions = back
        out.append(await cache.get("k", render))  # and once the database is back, one succeeds
        await cache.refreshed()
        out.append(await cache.get("k", render))  # read afresh: no read until the cache seconds pass again
        await cache.refreshed()
        return out

    with capture_logs() as logs:
        assert asyncio.run(scenario()) == [PAGE] * 5
    assert reads == [1] and calls == [1]  # the epoch was read again once; the page never re-rendered
    failed = [e for e in logs if e["event"].startswith("reading the detections epoch failed")]
    assert len(failed) == 2 and "connection refused" in failed[0]["error"]


def test_concurrent_requests_with_an_expired_token_share_one_look_up() -> None:
    clock = Clock()
    cache = PrincipalCache(ttl=TTL, clock=clock)
    who = Principal(name="analyst-user", role="analyst", token_id=3)
    looked_up: list[int] = []
    started, release = threading.Event(), threading.Event()

    def look_up() -> Principal:
        looked_up.append(1)
        started.set()
        assert release.wait(SAFETY_SECONDS), "the look-up was never released"
        return who

    async def scenario() -> list[Principal]:
        release.set()
        await cache.get("h", look_up)  # cached now ...
        clock.advance(TTL + TICK)  # ... and expired now
        started.clear()
        release.clear()
        tasks = [asyncio.ensure_future(cache.get("h", look_up)) for _ in range(REQUESTS)]
        # The look-up starts in a task queued after every request's: once it has begun, all of them are waiting.
        assert await asyncio.to_thread(started.wait, SAFETY_SECONDS)
        release.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(scenario()) == [who] * REQUESTS and len(looked_up) == 2
    assert asyncio.run(cache.get("h", look_up)) == who and len(looked_up) == 2  # cached again
    cache.forget(3)
    assert asyncio.run(cache.get("h", look_up)) == who and len(looked_up) == 3  # looked up again after a revocation
