"""Bulk actions through the API (``POST /api/v1/bulk/cases``): given this request, this response. Every item or
none (one transaction), one audit record per item, a clear 422 beyond API_BULK_MAX_ITEMS, refusals naming every
refused item, and never an item the caller cannot see. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from distillguard.api.auth.service import create_token
from distillguard.api.database import session_scope
from distillguard.streams.broker import EmbeddedBroker
from tests.api.conftest import Api, make_api, seed_world
from tests.api.state import snapshot

pytestmark = pytest.mark.broker

LONE = [f"acct-s{i:03d}" for i in range(6)]  # accounts in no cluster
LIMIT = 4  # API_BULK_MAX_ITEMS of the app under test


@pytest.fixture
def bulk_api(db_url: str, broker: EmbeddedBroker) -> Iterator[Api]:
    """The app on a seeded database of each dialect, with a bulk limit of LIMIT and a second analyst."""
    seed_world(db_url)
    for api in make_api(db_url, broker.bootstrap, api_bulk_max_items=LIMIT):
        with session_scope(db_url) as s:
            api.tokens["analyst-2"] = create_token(s, "analyst-2-user", "analyst")[1]
        yield api


def _bulk(api: Api, action: str, subjects: list[tuple[str, str]], role: str = "analyst", **body: object):
    payload = {"action": action, "subjects": [{"kind": k, "id": i} for k, i in subjects]} | body
    return api.client.post("/api/v1/bulk/cases", json=payload, headers=api.h(role))


def _audit(api: Api) -> list[tuple[str, str, str]]:
    return [(e["actor"], e["action"], e["entity_id"]) for e in snapshot(api.url)["audit_events"]]


def test_bulk_opens_assigns_and_dismisses_with_one_audit_record_per_item(bulk_api: Api) -> None:
    """Open cases on three subjects, assign them, move them to review and dismiss them: each request answers item by
    item in the order asked and writes one audit record per item; dismissing dismissed cases changes nothing."""
    api = bulk_api
    subjects = [("account", LONE[0]), ("cluster", "c-uni"), ("account", LONE[1])]
    before = len(_audit(api))
    r = _bulk(api, "open", subjects, reason="triage")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["action"] == "open" and body["count"] == 3
    assert [(i["kind"], i["id"], i["changed"]) for i in body["items"]] == [(k, i, True) for k, i in subjects]
    ids = [str(i["case_id"]) for i in body["items"]]
    assert _audit(api)[before:] == [("analyst-user", "case.open", c) for c in ids]
    r = _bulk(api, "assign", subjects, assignee="analyst-user")
    assert r.status_code == 200 and _audit(api)[before + 3 :] == [("analyst-user", "case.assign", c) for c in ids]
    for case_id in ids:
        moved = api.client.post(
            f"/api/v1/cases/{case_id}/transition", json={"status": "in_review"}, headers=api.h("analyst")
        )
        assert moved.status_code == 200
    r = _bulk(api, "dismiss", subjects, reason="a class of students")
    assert r.status_code == 200 and [i["changed"] for i in r.json()["items"]] == [True, True, True]
    assert _audit(api)[before + 9 :] == [("analyst-user", "case.transition", c) for c in ids]
    cases = {c["id"]: c["status"] for c in api.client.get("/api/v1/cases", headers=api.h("viewer")).json()}
    assert {cases[int(c)] for c in ids} == {"dismissed"}
    again = _bulk(api, "dismiss", subjects, reason="a class of students")
    assert [i["changed"] for i in again.json()["items"]] == [False, False, False]
    assert len(_audit(api)) == before + 12


def test_one_refused_item_changes_nothing_and_every_refused_item_is_named(bulk_api: Api) -> None:
    """A request with unknown subjects and a subject that already has a case is refused as a whole: the answer names
    each refused item and why (409 when the reasons differ, else their status), and the database is unchanged."""
    api = bulk_api
    assert _bulk(api, "open", [("account", LONE[2])]).status_code == 200
    before = snapshot(api.url)
    r = _bulk(api, "open", [("account", LONE[3]), ("account", LONE[2]), ("cluster", "c-nowhere")])
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert detail.startswith("nothing changed: 2 of 3 items refused: ")
    assert f"account '{LONE[2]}': account '{LONE[2]}' already has case" in detail
    assert "cluster 'c-nowhere': no cluster 'c-nowhere'" in detail and LONE[3] not in detail
    assert snapshot(api.url) == before
    r = _bulk(api, "open", [("account", "a-1"), ("account", "a-2")])
    assert r.status_code == 404 and "2 of 2 items refused" in r.json()["detail"]
    assert snapshot(api.url) == before


def test_the_single_item_rules_hold_in_bulk(bulk_api: Api) -> None:
    """Someone else's case cannot be reassigned in bulk (403 naming its assignee), an open case cannot be dismissed
    (409: it can move to in_review or escalated), dismissing needs a reason (422), viewers may not act (403)."""
    api = bulk_api
    r = _bulk(api, "open", [("account", LONE[4])], role="analyst-2", assignee="analyst-2-user")
    assert r.status_code == 200
    r = _bulk(api, "assign", [("account", LONE[4])], assignee="analyst-user")
    assert r.status_code == 403 and "assigned to 'analyst-2-user'" in r.json()["detail"]
    r = _bulk(api, "dismiss", [("account", LONE[4])], role="analyst-2", reason="fine")
    assert r.status_code == 409 and "it can move to: in_review, escalated" in r.json()["detail"]
    r = _bulk(api, "dismiss", [("account", LONE[4])], role="analyst-2")
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = _bulk(api, "assign", [("account", LONE[5])], assignee=None)
    assert r.status_code == 409 and f"account '{LONE[5]}' has no case; open one first" in r.json()["detail"]
    assert _bulk(api, "open", [("account", LONE[5])], role="viewer").status_code == 403


def test_a_request_beyond_the_limit_or_naming_a_subject_twice_is_a_422(bulk_api: Api) -> None:
    """More than API_BULK_MAX_ITEMS subjects, or one subject twice, is a 422 saying so; nothing changes."""
    api = bulk_api
    before = snapshot(api.url)
    r = _bulk(api, "open", [("account", a) for a in LONE[: LIMIT + 1]])
    assert r.status_code == 422
    assert r.json()["detail"] == (
        f"invalid request: subjects: at most {LIMIT} per request (API_BULK_MAX_ITEMS), got {LIMIT + 1}; "
        "split them into several requests"
    )
    r = _bulk(api, "open", [("account", LONE[0]), ("account", LONE[0])])
    assert r.status_code == 422 and f"repeated: account '{LONE[0]}'" in r.json()["detail"]
    r = _bulk(api, "open", [])
    assert r.status_code == 422 and "subjects" in r.json()["detail"]
    assert snapshot(api.url) == before


def test_bulk_never_acts_on_what_the_caller_cannot_see(bulk_api: Api) -> None:
    """A subject of a restricted case the caller is no member of is refused as unknown (the same words), so a bulk
    request cannot confirm that it exists; a member acts on it."""
    api = bulk_api
    r = api.client.post(
        "/api/v1/cases", json={"subject_type": "cluster", "subject_id": "c-corp"}, headers=api.h("lead")
    )
    case_id = r.json()["id"]
    restricted = api.client.put(
        f"/api/v1/cases/{case_id}/restriction", json={"members": ["analyst-user"]}, headers=api.h("lead")
    )
    assert restricted.status_code == 200
    before = snapshot(api.url)
    hidden = _bulk(api, "assign", [("cluster", "c-corp")], role="analyst-2", assignee="analyst-2-user")
    missing = _bulk(api, "assign", [("cluster", "c-nothing")], role="analyst-2", assignee="analyst-2-user")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace("c-corp", "ID") == missing.json()["detail"].replace("c-nothing", "ID")
    assert snapshot(api.url) == before
    r = _bulk(api, "assign", [("cluster", "c-corp")], assignee="analyst-user")
    assert r.status_code == 200 and r.json()["items"][0]["case_id"] == case_id
