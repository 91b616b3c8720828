"""The console without a browser: every action says what it did; every page of each queue tab and sort visits
each subject once, in order, the filters carried from page to page; odd filters render the page rather than a
422 (a forged cursor is one)."""

from __future__ import annotations

import re
from html import unescape
from itertools import pairwise
from urllib.parse import parse_qs, urlsplit

import pytest

from distillguard.api.console.views import LABEL_WIDTH, chart
from distillguard.api.database import session_scope
from distillguard.api.detections import queue
from distillguard.api.detections.models import AccountRow, ClusterRow
from tests.api.conftest import Api

NEXT = re.compile(r'<a href="([^"]+)" id="next-page">')
ROW_ID = re.compile(
    r'<td class="id"><a href="/console/(?:clusters|accounts)/[^"]+">([^<]+)</a></td>\s*<td><span class="score'
)


def _pages(api: Api, url: str) -> list[str]:
    """The subject ids of every page from ``url`` on, following the next-page links."""
    headers, _ = api.console("viewer")
    ids: list[str] = []
    while url:
        r = api.client.get(url, headers=headers)
        assert r.status_code == 200, r.text[:300]
        ids += ROW_ID.findall(r.text)
        found = NEXT.search(r.text)
        url = unescape(found.group(1)) if found else ""
    api.client.cookies.clear()
    return ids


@pytest.mark.parametrize("sort", list(queue.QueueSort))
def test_every_page_of_the_accounts_tab_in_either_order(sqlite_api: Api, sort: str) -> None:
    with session_scope(sqlite_api.url) as s:  # a never-seen account sorts last by last_seen
        s.get(AccountRow, "acct-c049").last_seen = None
    ids = _pages(sqlite_api, f"/console?kind=account&sort={sort}")
    assert len(ids) == len(set(ids)) == 133
    with session_scope(sqlite_api.url) as s:
        rows = {a.account_id: a for a in s.query(AccountRow)}
    if sort == "score":
        keys = [(-rows[i].score, i) for i in ids]
    else:
        keys = [
            (rows[i].last_seen is None, -(rows[i].last_seen.timestamp() if rows[i].last_seen else 0), i) for i in ids
        ]
    assert keys == sorted(keys) and ids[-1] == ("acct-c049" if sort == "last_seen" else ids[-1])


def test_filters_and_search_carry_over_to_the_next_page(sqlite_api: Api) -> None:
    ids = _pages(sqlite_api, "/console?kind=account&flagged=true&min_score=0.5&q=acct-h&sort=last_seen")
    assert sorted(ids) == [f"acct-h{i:03d}" for i in range(40)]


def test_odd_console_parameters_render_the_queue(sqlite_api: Api) -> None:
    headers, _ = sqlite_api.console("viewer")
    odd = "/console?kind=nope&sort=sideways&flagged=maybe&lone=1&min_score=&status=lost&q=%20"
    r = sqlite_api.client.get(odd, headers=headers)
    assert r.status_code == 200 and len(ROW_ID.findall(r.text)) == 4
    forged = [("score", "bm90IGEgY3Vyc29y"), ("last_seen", "bm90IGEgY3Vyc29y")]
    forged.append(("last_seen", queue.encode_cursor(1e300, "x")))  # no such time: 422, never a 500
    for sort, cursor in forged:
        r = sqlite_api.client.get("/console", params={"sort": sort, "cursor": cursor}, headers=headers)
        assert r.status_code == 422 and "cursor" in r.json()["detail"], (sort, cursor)


def test_the_hour_labels_of_a_short_timeline_do_not_overlap() -> None:
    hours = [{"hour": f"2026-03-03T{h:02d}", "requests": h} for h in range(8, 13)]
    drawn = chart(hours)
    xs = [label["x"] for label in drawn["labels"]]
    assert xs[0] == 0 and all(b - a >= LABEL_WIDTH for a, b in pairwise(xs))


def test_every_console_action_says_what_it_did(sqlite_api: Api) -> None:
    """Each console post that succeeds redirects with ``done=``: a sentence naming what changed."""
    headers, csrf = sqlite_api.console("lead")

    def post(url: str, **form: object) -> str:
        r = sqlite_api.client.post(url, data=form | {"csrf": csrf}, headers=headers, follow_redirects=False)
        sqlite_api.client.cookies.clear()
        query = parse_qs(urlsplit(r.headers["location"]).query)
        assert r.status_code == 303 and "msg" not in query, (url, query)
        return query["done"][0]

    assert post("/console/clusters/c-uni/override", action="watch", reason="a class") == (
        "Applied watch to cluster c-uni instead of the recommended action."
    )
    assert post("/console/clusters/c-uni/override", action="watch", reason="a class").endswith("nothing changed.")
    assert post("/console/clusters/c-uni/override/clear") == (
        "Override cleared: cluster c-uni is back to its recommended action."
    )
    assert post("/console/accounts/acct-s005/override/clear") == "Account acct-s005 had no override: nothing changed."
    assert post("/console/clusters/c-uni/case", reason="triage") == "Opened case #1 on cluster c-uni."
    assert post("/console/cases/1/comment", body="a class, surely") == "Comment added to case #1."
    assert post("/console/cases/1/transition", status="in_review") == "Case #1 moved from open to in_review."
    assert post("/console/cases/1/decisions", decision="dismissed", account_ids=["acct-u000", "acct-u001"]) == (
        "Marked 2 of 2 ticked accounts dismissed in case #1."
    )
    assert post("/console/cases/1/transition", status="dismissed", reason="a class") == (
        "Case #1 moved from in_review to dismissed."
    )
    assert post("/console/accounts/acct-s005/case") == "Opened case #2 on account acct-s005."


def test_the_queue_shows_the_applied_action_and_an_override_beside_the_recommendation(sqlite_api: Api) -> None:
    headers, _ = sqlite_api.console("viewer")
    row = re.compile(r'<a href="/console/clusters/c-hydra">c-hydra</a>.*?</tr>', re.S)
    before = row.search(sqlite_api.client.get("/console", headers=headers).text).group(0)
    with session_scope(sqlite_api.url) as s:
        recommended = s.get(ClusterRow, "c-hydra").action
    assert f"<td>{recommended}</td>" in before and "override" not in before
    r = sqlite_api.client.put(
        "/api/v1/clusters/c-hydra/override",
        json={"action": "watch", "reason": "a partner's load test, agreed in writing"},
        headers=sqlite_api.h("analyst"),
    )
    assert r.status_code == 200, r.text
    after = row.search(sqlite_api.client.get("/console", headers=headers).text).group(0)
    assert f'<td>watch <span class="muted">(override; recommended {recommended})</span></td>' in after
    sqlite_api.client.cookies.clear()
