"""The restricted cases hidden from queue requests, read for each request after it arrived, one read shared by the
requests waiting at once: a request never gets a read begun before it came (a restriction committed before it
arrived is always seen), concurrent requests of one name share a read, a failed read fails only the requests that
waited for it, admins read nothing. The read is replaced by one the test holds and releases."""

from __future__ import annotations

import asyncio
import threading

import pytest

from distillguard.api.auth.service import Principal
from distillguard.api.restrictions import reads
from distillguard.api.restrictions.hidden import NOTHING, Hidden
from distillguard.api.restrictions.reads import HiddenReads

SAFETY_SECONDS = 30  # how long a held read waits for its release before failing the test (never, if it passes)
VIEWER = Principal("viewer-user", "viewer", 1)


class Database:
    """Restrictions as committed now (a version number stands for them), and reads of them the test holds: each
    read takes the version when it starts, then waits for its release."""

    def __init__(self) -> None:
        self.version = 1
        self.reads: list[str] = []
        self.started = threading.Semaphore(0)
        self.release = threading.Event()
        self.failing: set[int] = set()  # the reads that fail, by number from 1

    def read(self, _sessions: object, who: Principal) -> Hidden:
        version = self.version
        self.reads.append(who.name)
        number = len(self.reads)
        self.started.release()
        assert self.release.wait(SAFETY_SECONDS)
        if number in self.failing:
            raise ConnectionError("database unreachable")
        return Hidden(frozenset({version}))


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Database:
    db = Database()
    monkeypatch.setattr(reads, "hidden_in_session_of", db.read)
    return db


async def _started(db: Database) -> None:
    assert await asyncio.to_thread(db.started.acquire, timeout=SAFETY_SECONDS)


def test_requests_arriving_during_a_read_share_the_next_read(database: Database) -> None:
    """A request's read starts; a restriction commits; three requests arrive while the read runs: they get one
    read, begun after they came, that sees the restriction; the first request gets its own read's answer."""

    async def scenario() -> None:
        hidden = HiddenReads(sessions=None)  # type: ignore[arg-type]
        first = asyncio.ensure_future(hidden.of(VIEWER))
        await _started(database)
        database.version = 2
        later = [asyncio.ensure_future(hidden.of(VIEWER)) for _ in range(3)]
        await asyncio.sleep(0)
        database.release.set()
        assert (await first).cases == {1}
        assert [(await r).cases for r in later] == [{2}] * 3
        assert database.reads == [VIEWER.name] * 2

    asyncio.run(scenario())


def test_names_are_read_apart_and_admins_read_nothing(database: Database) -> None:
    """Two names asking at once get a read each (the second request of a name, arriving while its first read runs,
    the next one); an admin's answer is NOTHING without a read."""

    async def scenario() -> None:
        hidden = HiddenReads(sessions=None)  # type: ignore[arg-type]
        other = Principal("analyst-user", "analyst", 2)
        database.release.set()
        answers = await asyncio.gather(hidden.of(VIEWER), hidden.of(other), hidden.of(VIEWER))
        assert [a.cases for a in answers] == [{1}] * 3
        assert sorted(database.reads) == [other.name, VIEWER.name, VIEWER.name]
        assert await hidden.of(Principal("admin-user", "admin", 3)) is NOTHING
        assert len(database.reads) == 3

    asyncio.run(scenario())


def test_a_failed_read_fails_its_requests_only(database: Database) -> None:
    """A read that fails fails the request that waited for it, not those waiting for the next read, which one of
    them cancelled leaves to the other."""

    async def scenario() -> None:
        hidden = HiddenReads(sessions=None)  # type: ignore[arg-type]
        database.failing = {1}
        first = asyncio.ensure_future(hidden.of(VIEWER))
        await _started(database)
        later = [asyncio.ensure_future(hidden.of(VIEWER)) for _ in range(2)]
        await asyncio.sleep(0)
        later[1].cancel()
        database.release.set()
        with pytest.raises(ConnectionError):
            await first
        assert (await later[0]).cases == {1}
        assert later[1].cancelled()
        assert len(database.reads) == 2

    asyncio.run(scenario())
