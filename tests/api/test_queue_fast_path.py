"""What a queue request reads per call, made cheaper without changing an answer: the restricted cases hidden from
the caller are read by one statement on a pooled connection (no ORM session; autocommit on PostgreSQL), giving the
set :func:`hidden_from` gives, and read on every request, so a restriction written by another process hides its
subjects from the next page at once, cached pages or not; every queue and counts body is the one the queue renders
for what its caller may not see; a pool keeps every connection it may open; a query string parsed before is not
parsed again, while every request is still checked (token, rate limit, role, its own hidden cases). SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from httpx2 import Response
from sqlalchemy import insert, update
from sqlalchemy.pool import QueuePool

from distillguard.api.auth.service import Principal
from distillguard.api.database import (
    PG_POOL_CONNECTIONS,
    SQLITE_POOL_CONNECTIONS,
    engine_for,
    make_engine,
    session_factory,
    session_scope,
)
from distillguard.api.detections import queue
from distillguard.api.detections.models import DetectionsEpoch
from distillguard.api.detections.queue_route import ParsedQueries, QueueQuery
from distillguard.api.detections.schemas import QueueFilters
from distillguard.api.restrictions.hidden import NOTHING
from distillguard.api.restrictions.models import CaseMember, CaseRestriction
from distillguard.api.restrictions.service import hidden_from, hidden_in_session_of
from distillguard.detector.records import SubjectKind
from distillguard.streams.broker import EmbeddedBroker
from tests.api.conftest import Api, make_api, seed_world

pytestmark = pytest.mark.broker

SECRET = "c-hydra-2"  # a cluster of 10 accounts
SECRET_ACCOUNT = "acct-s001"  # an account in no cluster
CACHED_SECONDS = 60.0  # pages kept long enough that only a per-request read can hide a subject
# (kind, filters, pages followed) of the queue requests compared with the queue's own rendering
QUERIES: list[tuple[str, dict[str, str], int]] = [
    ("cluster", {}, 1),
    ("account", {}, 3),
    ("account", {"flagged": "true", "min_score": "0.5"}, 1),
    ("cluster", {"indicator": "203.0.113.9"}, 1),  # c-hydra and SECRET share it
    ("account", {"lone": "true"}, 1),
]
PAGE = 4  # small pages, so that cursors are followed


def _case(api: Api, kind: str, subject: str) -> int:
    r = api.client.post("/api/v1/cases", json={"subject_type": kind, "subject_id": subject}, headers=api.h("lead"))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _restrict_elsewhere(url: str, case_id: int, members: list[str]) -> None:
    """Restrict ``case_id`` to ``members`` and move the detections epoch as another process would: Core writes,
    so this process's count of its own epoch-moving commits stays where it was."""
    with engine_for(url).begin() as c:
        c.execute(insert(CaseRestriction).values(case_id=case_id, set_by="elsewhere"))
        for name in members:
            c.execute(insert(CaseMember).values(case_id=case_id, name=name))
        c.execute(update(DetectionsEpoch).where(DetectionsEpoch.id == 1).values(epoch=DetectionsEpoch.epoch + 1))


@pytest.fixture
def cached_api(db_url: str, broker: EmbeddedBroker) -> Iterator[Api]:
    """The app on a seeded database of each dialect, queue pages cached for a minute."""
    seed_world(db_url)
    yield from make_api(db_url, broker.bootstrap, api_queue_cache_seconds=CACHED_SECONDS)


def test_the_hidden_cases_read_apart_are_hidden_from_s(cached_api: Api) -> None:
    """Two restricted cases, one with a member: the read apart gives each principal the set :func:`hidden_from`
    gives in a session (the member misses only the other case, an admin none, a name with quotes both)."""
    api = cached_api
    cluster_case, account_case = _case(api, "cluster", SECRET), _case(api, "account", SECRET_ACCOUNT)
    _restrict_elsewhere(api.url, cluster_case, ["viewer-user"])
    _restrict_elsewhere(api.url, account_case, [])
    sessions = session_factory(api.url)
    expected = {
        "viewer-user": {account_case},
        "analyst-user": {cluster_case, account_case},
        "o'hara\"; --": {cluster_case, account_case},
    }
    with sessions() as session:
        for name, hidden in expected.items():
            who = Principal(name, "viewer", 1)
            assert hidden_in_session_of(sessions, who) == hidden_from(session, who), name
            assert hidden_in_session_of(sessions, who).cases == hidden, name
        admin = Principal("admin-user", "admin", 1)
        assert hidden_in_session_of(sessions, admin) is NOTHING is hidden_from(session, admin)


def test_a_restriction_written_elsewhere_hides_at_once_from_cached_pages(cached_api: Api) -> None:
    """A non-member's cached queue page, total and counts show the cluster; once another process restricts its case
    (the epoch this process serves for another minute), the very next page, total and counts leave it and its
    accounts out, while the member still sees them."""
    api = cached_api
    case_id = _case(api, "cluster", SECRET)

    def seen(role: str) -> tuple[set[str], int, int, int]:
        page = api.client.get("/api/v1/detections", params={"limit": 200}, headers=api.h(role)).json()
        accounts = api.client.get(
            "/api/v1/detections", params={"kind": "account", "search": SECRET}, headers=api.h(role)
        ).json()
        counts = api.client.get("/api/v1/detections/counts", headers=api.h(role)).json()
        return {i["cluster_id"] for i in page["items"]}, page["total"], counts["total"], accounts["total"]

    ids, total, counted, members = seen("analyst")
    assert SECRET in ids and total == counted == len(ids) and members == 10
    _restrict_elsewhere(api.url, case_id, ["viewer-user"])
    assert seen("analyst") == (ids - {SECRET}, total - 1, counted - 1, 0)
    assert seen("viewer") == (ids, total, counted, members)


def _reference(url: str, who: Principal, kind: str, params: dict[str, str], cursor: str | None) -> bytes:
    """The queue's own rendering of a page for ``who``: the restricted cases it may not see read in a session."""
    f = QueueFilters.model_validate(params)
    with session_scope(url) as session:
        hidden = hidden_from(session, who)
        templates = queue.template_matching(f, who)
        return queue.page_json(session, SubjectKind(kind), f, cursor, PAGE, templates=templates, hidden=hidden)


def test_every_queue_body_is_the_queue_s_rendering_for_its_caller(cached_api: Api) -> None:
    """With a restricted cluster case (a member, a non-member, an admin), each queue page over filters and cursors
    is byte for byte the page the queue renders with the caller's hidden cases read in a session."""
    api = cached_api
    _restrict_elsewhere(api.url, _case(api, "cluster", SECRET), ["viewer-user"])
    callers = {role: Principal(f"{role}-user", role, 0) for role in ("viewer", "analyst", "admin")}
    for role, who in callers.items():
        for kind, params, pages in QUERIES:
            cursor = None
            for _ in range(pages):
                query: dict[str, str | int] = {**params, "kind": kind, "limit": PAGE}
                if cursor:
                    query["cursor"] = cursor
                r = api.client.get("/api/v1/detections", params=query, headers=api.h(role))
                assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text
                assert r.content == _reference(api.url, who, kind, params, cursor), (role, query)
                if not (cursor := r.json()["next_cursor"]):
                    break


def test_a_pool_keeps_every_connection_it_may_open(db_url: str) -> None:
    """Every connection a pool may open at once, none beyond its size, stays open in it once returned (none closed
    on the way back: a load holding them all does not open and close connections per request)."""
    cap = PG_POOL_CONNECTIONS if db_url.startswith("postgresql") else SQLITE_POOL_CONNECTIONS
    engine = make_engine(db_url)
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    try:
        with ExitStack() as held:
            for _ in range(cap):
                held.enter_context(engine.connect())
            assert pool.checkedout() == cap and pool.overflow() <= 0
        assert pool.checkedin() == cap
    finally:
        engine.dispose()


class CountedParses(ParsedQueries):
    """The app's parsed query strings, counting the queue requests FastAPI parsed."""

    def __init__(self) -> None:
        super().__init__()
        self.parsed = 0

    def keep(self, query_string: bytes, query: QueueQuery) -> None:
        self.parsed += 1
        super().keep(query_string, query)


def _without_date(r: Response) -> tuple[int, list[tuple[str, str]], bytes]:
    return r.status_code, [(k, v) for k, v in r.headers.multi_items() if k != "date"], r.content


def test_a_query_string_parsed_before_is_answered_alike_without_parsing_it_again(cached_api: Api) -> None:
    """The same queue request twice: parsed once, answered with the same status, headers and body; another query
    string is parsed; a POST or a malformed request still goes the usual way (405, 422)."""
    api = cached_api
    parses = api.client.app.state.queue_queries = CountedParses()  # type: ignore[attr-defined]
    params: dict[str, str | int] = {"kind": "account", "flagged": "true", "limit": PAGE}
    first = api.client.get("/api/v1/detections", params=params, headers=api.h("viewer"))
    again = api.client.get("/api/v1/detections", params=params, headers=api.h("viewer"))
    assert first.status_code == 200 and _without_date(again) == _without_date(first)
    assert parses.parsed == 1
    api.client.get("/api/v1/detections", params={**params, "limit": PAGE + 1}, headers=api.h("viewer"))
    assert parses.parsed == 2
    assert api.client.post("/api/v1/detections", params=params, headers=api.h("viewer")).status_code == 405
    assert api.client.get("/api/v1/detections", params={"limit": 0}, headers=api.h("viewer")).status_code == 422


def test_a_query_string_parsed_before_still_checks_each_request(cached_api: Api) -> None:
    """Without parsing again, every request is still checked as the first one was: no token, an unknown one or
    a second Authorization header get the first request's refusal, a viewer matching templates its 403, and the
    caller's hidden cases are its own (another caller on the same query string gets its page)."""
    api = cached_api
    _restrict_elsewhere(api.url, _case(api, "cluster", SECRET), ["viewer-user"])
    url = "/api/v1/detections?limit=200"
    template = "/api/v1/detections?indicator_kind=template&indicator=x"
    api.client.get(url, headers=api.h("viewer"))
    api.client.get(template, headers=api.h("analyst"))
    refusals: list[tuple[str, dict[str, str] | list[tuple[str, str]]]] = [
        (url, {}),
        (url, {"Authorization": "Bearer nope"}),
        (url, [("Authorization", api.h("viewer")["Authorization"])] * 2),
        (template, api.h("viewer")),
    ]
    for path, headers in refusals:
        answers = [_without_date(api.client.get(path, headers=headers)) for _ in range(2)]
        assert answers[0][0] in (400, 401, 403) and answers[1] == answers[0], (path, headers)
    for role, shown in (("viewer", True), ("analyst", False), ("viewer", True)):
        ids = {i["cluster_id"] for i in api.client.get(url, headers=api.h(role)).json()["items"]}
        assert (SECRET in ids) is shown, role


def test_a_query_string_parsed_before_counts_against_the_rate_limit(db_url: str, broker: EmbeddedBroker) -> None:
    """Requests answered without parsing are counted per token like the others: the limit's next one is a 429."""
    seed_world(db_url)
    for api in make_api(db_url, broker.bootstrap, api_rate_limit_per_minute=3):
        codes = [api.client.get("/api/v1/detections", headers=api.h("viewer")).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
