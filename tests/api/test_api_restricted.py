"""Restricted cases through the API: given this request, this response. To a non-member a restricted case and its
subjects answer exactly as missing ones (the same 404 body) on every route, and lists, totals, counts, exports,
the evidence's links and the audit log leave them out; cached queue pages never carry one member's view to a
non-member. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from alembic import command
from httpx import Response
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal, create_token
from distillguard.api.cases import service as cases
from distillguard.api.database import alembic_config, engine_for, session_scope
from distillguard.api.detections import evidence
from distillguard.api.detections.service import upsert_detections
from distillguard.api.restrictions import service as restrictions
from distillguard.streams.broker import EmbeddedBroker
from tests.api import seed
from tests.api.conftest import Api, make_api, new_database, seed_world

pytestmark = pytest.mark.broker

SECRET = "c-hydra-2"  # the restricted cluster: 10 accounts, linked from c-hydra
SECRET_ACCOUNTS = [f"acct-k{i:03d}" for i in range(10)]
MISSING_CASE = 2_000_000_000
MEMBER, OUTSIDER = "viewer", "analyst-2"  # besides the creator (analyst); lead is an outsider too


@pytest.fixture
def world(api: Api) -> tuple[Api, int]:
    """The app with a second analyst token, and a case on SECRET opened by the analyst, restricted to the viewer."""
    with session_scope(api.url) as s:
        api.tokens[OUTSIDER] = create_token(s, "analyst-2-user", "analyst")[1]
    r = api.client.post(
        "/api/v1/cases", json={"subject_type": "cluster", "subject_id": SECRET}, headers=api.h("analyst")
    )
    assert r.status_code == 201, r.text
    return api, r.json()["id"]


def _restrict(api: Api, case_id: int, members: list[str], role: str = "analyst") -> Response:
    return api.client.put(
        f"/api/v1/cases/{case_id}/restriction", json={"members": members, "reason": "insider"}, headers=api.h(role)
    )


def _queue(api: Api, role: str, kind: str) -> dict:
    r = api.client.get("/api/v1/detections", params={"kind": kind, "limit": 200}, headers=api.h(role))
    assert r.status_code == 200, r.text
    return r.json()


def _ids(page: dict, kind: str) -> set[str]:
    return {item[f"{kind}_id"] for item in page["items"]}


def test_restricting_names_members_and_is_audited(world: tuple[Api, int]) -> None:
    """The creator restricts its case to named tokens (staying a member itself); an unknown name is a 422 naming it;
    repeating the same members changes nothing; the case's detail names the members."""
    api, case_id = world
    r = _restrict(api, case_id, ["nobody-has-this"])
    assert r.status_code == 422 and "'nobody-has-this'" in r.json()["detail"]
    r = _restrict(api, case_id, ["viewer-user"])
    assert r.status_code == 200, r.text
    assert r.json() == {
        "case_id": case_id,
        "restricted": True,
        "members": ["analyst-user", "viewer-user"],
        "changed": True,
    }
    assert _restrict(api, case_id, ["viewer-user"]).json()["changed"] is False
    detail = api.client.get(f"/api/v1/cases/{case_id}", headers=api.h("admin")).json()
    assert detail["restricted_to"] == ["analyst-user", "viewer-user"]
    audit = api.client.get(
        "/api/v1/audit", params={"entity_type": "case", "entity_id": case_id}, headers=api.h("admin")
    ).json()
    assert [(e["actor"], e["action"], e["details"].get("after")) for e in audit] == [
        ("analyst-user", "case.open", None),
        ("analyst-user", "case.restrict", ["analyst-user", "viewer-user"]),
    ]


def test_only_the_creator_a_lead_or_an_admin_restricts(world: tuple[Api, int]) -> None:
    """Another analyst may not restrict someone else's case (403 naming who may); a lead may; once restricted, a lead
    who is no member cannot even find it (404), while a member analyst who did not create it still may not change
    its members (403)."""
    api, case_id = world
    r = _restrict(api, case_id, [], role=OUTSIDER)
    assert r.status_code == 403 and "'analyst-user'" in r.json()["detail"] and "'lead'" in r.json()["detail"]
    assert _restrict(api, case_id, ["analyst-2-user"], role="lead").json()["members"] == ["analyst-2-user", "lead-user"]
    assert _restrict(api, case_id, ["lead-user"], role=OUTSIDER).status_code == 403
    assert api.client.delete(f"/api/v1/cases/{case_id}/restriction", headers=api.h("analyst")).status_code == 404
    r = api.client.delete(f"/api/v1/cases/{case_id}/restriction", headers=api.h("admin"))
    assert r.json() == {"case_id": case_id, "restricted": False, "members": [], "changed": True}
    assert api.client.get(f"/api/v1/cases/{case_id}", headers=api.h("viewer")).status_code == 200


def _same_as_missing(r: Response, missing: Response, secret: str, unknown: str) -> None:
    """``r`` answers exactly as the request for an unknown id did (its id in place of the unknown one)."""
    assert r.status_code == missing.status_code == 404, (r.status_code, r.text)
    assert r.headers["content-type"] == missing.headers["content-type"]
    assert r.text.replace(secret, "ID") == missing.text.replace(unknown, "ID")


# method, path with {id}, body: every route that names a case
CASE_ROUTES: list[tuple[str, str, dict | None]] = [
    ("GET", "/api/v1/cases/{id}", None),
    ("GET", "/api/v1/cases/{id}/export?format=csv", None),
    ("POST", "/api/v1/cases/{id}/assign", {"assignee": None}),
    ("POST", "/api/v1/cases/{id}/comments", {"body": "anyone there?"}),
    ("POST", "/api/v1/cases/{id}/decisions", {"decision": "dismissed"}),
    ("POST", "/api/v1/cases/{id}/transition", {"status": "in_review"}),
    ("PUT", "/api/v1/cases/{id}/restriction", {"members": []}),
    ("DELETE", "/api/v1/cases/{id}/restriction", None),
]
# every route that names a subject: (method, path with {id}, body, kind of the id)
SUBJECT_ROUTES: list[tuple[str, str, dict | None, str]] = [
    ("GET", "/api/v1/clusters/{id}", None, "cluster"),
    ("GET", "/api/v1/clusters/{id}/stix", None, "cluster"),
    ("PUT", "/api/v1/clusters/{id}/override", {"action": "watch", "reason": "r"}, "cluster"),
    ("DELETE", "/api/v1/clusters/{id}/override", None, "cluster"),
    ("GET", "/api/v1/accounts/{id}", None, "account"),
    ("PUT", "/api/v1/accounts/{id}/override", {"action": "watch", "reason": "r"}, "account"),
    ("DELETE", "/api/v1/accounts/{id}/override", None, "account"),
]


def test_to_a_non_member_a_restricted_case_and_its_subjects_are_missing(world: tuple[Api, int]) -> None:
    """Every route naming the case or one of its subjects answers a non-member (an analyst, a lead) exactly as for
    an unknown id, and changes nothing; members (the viewer reads, the creator changes) and admins are served."""
    api, case_id = world
    assert _restrict(api, case_id, ["viewer-user"]).status_code == 200

    def call(role: str, method: str, path: str, ident: str, body: dict | None) -> Response:
        return api.client.request(method, path.format(id=ident), json=body, headers=api.h(role))

    for role in (OUTSIDER, "lead"):
        for method, path, body in CASE_ROUTES:
            missing = call(role, method, path, str(MISSING_CASE), body)
            _same_as_missing(call(role, method, path, str(case_id), body), missing, str(case_id), str(MISSING_CASE))
        for method, path, body, kind in SUBJECT_ROUTES:
            secret = SECRET if kind == "cluster" else SECRET_ACCOUNTS[3]
            missing = call(role, method, path, f"{kind}-unknown", body)
            _same_as_missing(call(role, method, path, secret, body), missing, secret, f"{kind}-unknown")
        opened = api.client.post(
            "/api/v1/cases", json={"subject_type": "account", "subject_id": SECRET_ACCOUNTS[4]}, headers=api.h(role)
        )
        assert opened.status_code == 404 and opened.json()["detail"] == f"no account '{SECRET_ACCOUNTS[4]}'"
    for role in (MEMBER, "analyst", "admin"):
        assert call(role, "GET", "/api/v1/cases/{id}", str(case_id), None).status_code == 200
        assert call(role, "GET", "/api/v1/clusters/{id}", SECRET, None).status_code == 200
        assert call(role, "GET", "/api/v1/accounts/{id}", SECRET_ACCOUNTS[3], None).status_code == 200
    r = call("analyst", "POST", "/api/v1/cases/{id}/comments", str(case_id), {"body": "member note"})
    assert r.status_code == 201


def _totals(api: Api, role: str) -> dict[str, int]:
    got = {kind: _queue(api, role, kind)["total"] for kind in ("cluster", "account")}
    for kind in ("cluster", "account"):
        counts = api.client.get("/api/v1/detections/counts", params={"kind": kind}, headers=api.h(role)).json()
        got[f"counts-{kind}"] = counts["total"]
    return got


def _export_ids(api: Api, role: str, kind: str) -> set[str]:
    r = api.client.get("/api/v1/detections/export", params={"kind": kind, "format": "csv"}, headers=api.h(role))
    assert r.status_code == 200
    return {row[f"{kind}_id"] for row in csv.DictReader(io.StringIO(r.text))}


def test_lists_totals_and_counts_leave_hidden_subjects_out(world: tuple[Api, int]) -> None:
    """The queue, its totals and counts, the export, the cases list, the evidence's linked clusters and the audit log
    show a non-member nothing of the restricted case: totals fall by exactly the hidden rows. Members see it all.
    The member asks first each time, so a cached page would carry their view over if the cache key missed it."""
    api, case_id = world
    r = api.client.put(
        f"/api/v1/accounts/{SECRET_ACCOUNTS[0]}/override",
        json={"action": "watch", "reason": "r"},
        headers=api.h("analyst"),
    )
    assert r.status_code == 200
    before = _totals(api, OUTSIDER)
    assert _restrict(api, case_id, ["viewer-user"]).status_code == 200
    member, outsider = _totals(api, MEMBER), _totals(api, OUTSIDER)
    assert member == before
    assert outsider == {
        "cluster": before["cluster"] - 1,
        "account": before["account"] - len(SECRET_ACCOUNTS),
        "counts-cluster": before["counts-cluster"] - 1,
        "counts-account": before["counts-account"] - len(SECRET_ACCOUNTS),
    }
    for role, sees in ((MEMBER, True), (OUTSIDER, False), ("lead", False), ("admin", True)):
        assert (SECRET in _ids(_queue(api, role, "cluster"), "cluster")) is sees, role
        assert (SECRET_ACCOUNTS[5] in _ids(_queue(api, role, "account"), "account")) is sees, role
        assert (SECRET in _export_ids(api, role, "cluster")) is sees, role
        assert bool(set(SECRET_ACCOUNTS) & _export_ids(api, role, "account")) is sees, role
        listed = api.client.get("/api/v1/cases", headers=api.h(role)).json()
        assert (case_id in [c["id"] for c in listed]) is sees, role
        linked = api.client.get("/api/v1/clusters/c-hydra", headers=api.h(role)).json()["linked_clusters"]
        assert (SECRET in [c["cluster_id"] for c in linked]) is sees, role
        audit = api.client.get("/api/v1/audit", params={"limit": 500}, headers=api.h(role)).json()
        secret = {("case", str(case_id)), ("account", SECRET_ACCOUNTS[0])}
        about = [e for e in audit if (e["entity_type"], e["entity_id"]) in secret]
        assert len(about) == (3 if sees else 0), (role, about)
        searched = api.client.get(
            "/api/v1/detections", params={"search": SECRET_ACCOUNTS[1], "kind": "account"}, headers=api.h(role)
        ).json()
        assert searched["total"] == (1 if sees else 0), role


def test_an_account_case_hides_its_cluster_too(world: tuple[Api, int]) -> None:
    """Restricting a case on one account of c-uni hides that account and c-uni (whose page lists it) with its
    accounts; lifting the restriction shows them again at once (the queue's cache included)."""
    api, _ = world
    r = api.client.post(
        "/api/v1/cases", json={"subject_type": "account", "subject_id": "acct-u003"}, headers=api.h("lead")
    )
    case_id = r.json()["id"]
    visible: Callable[[str], bool] = lambda role: "c-uni" in _ids(_queue(api, role, "cluster"), "cluster")  # noqa: E731
    assert visible(OUTSIDER)
    assert _restrict(api, case_id, [], role="lead").status_code == 200
    assert visible("lead") and not visible(OUTSIDER)
    assert api.client.get("/api/v1/accounts/acct-u010", headers=api.h(OUTSIDER)).status_code == 404
    assert api.client.delete(f"/api/v1/cases/{case_id}/restriction", headers=api.h("lead")).json()["changed"]
    assert visible(OUTSIDER)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_migration_0010_adds_the_restriction_tables_and_downgrades(kind: str, tmp_path: Path) -> None:
    """0010 adds ``case_restrictions`` and ``case_members`` (a member belongs to a restricted case: foreign key) over
    existing cases; downgrading drops them and keeps the cases."""
    url, drop = new_database(kind, tmp_path)
    try:
        cfg = alembic_config(url)
        command.upgrade(cfg, "0009")
        with engine_for(url).begin() as c:
            c.execute(
                text(
                    "INSERT INTO cases (subject_type, subject_id, status, created_by, created_at, updated_at) "
                    "VALUES ('account', 'a1', 'open', 'x', '2026-03-01', '2026-03-01')"
                )
            )
        command.upgrade(cfg, "head")
        with engine_for(url).begin() as c:
            c.execute(text("INSERT INTO case_restrictions (case_id, set_by, set_at) VALUES (1, 'x', '2026-03-02')"))
            c.execute(text("INSERT INTO case_members (case_id, name) VALUES (1, 'x')"))
        with pytest.raises(IntegrityError), engine_for(url).begin() as c:
            c.execute(text("INSERT INTO case_members (case_id, name) VALUES (2, 'y')"))
        engine_for(url).dispose()
        command.downgrade(cfg, "0009")
        with engine_for(url).begin() as c:
            assert c.execute(text("SELECT subject_id FROM cases")).all() == [("a1",)]
            tables = set(inspect(c).get_table_names())
        assert not {"case_restrictions", "case_members"} & tables
        engine_for(url).dispose()
        command.upgrade(cfg, "head")
    finally:
        drop()


def test_a_cached_queue_page_is_never_served_across_what_callers_may_see(
    sqlite_url: str, broker: EmbeddedBroker
) -> None:
    """With pages cached for a minute, a member's page (rendered first) is not what a non-member gets, nor the other
    way round: each view is rendered for the set of restricted cases its caller does not see."""
    seed_world(sqlite_url)
    for api in make_api(sqlite_url, broker.bootstrap, api_queue_cache_seconds=60.0):
        r = api.client.post(
            "/api/v1/cases", json={"subject_type": "cluster", "subject_id": SECRET}, headers=api.h("lead")
        )
        assert _restrict(api, r.json()["id"], [], role="lead").status_code == 200
        for first, second in (("lead", "analyst"), ("viewer", "admin")):  # member first, then non-member first
            pages = {role: _queue(api, role, "cluster") for role in (first, second)}
            counts = {
                role: api.client.get("/api/v1/detections/counts", headers=api.h(role)).json()["total"]
                for role in (first, second)
            }
            sees = {"lead": True, "admin": True, "analyst": False, "viewer": False}
            for role, page in pages.items():
                assert (SECRET in _ids(page, "cluster")) is sees[role], role
                assert page["total"] == counts[role] == (4 if sees[role] else 3), role


def test_an_account_s_conflicts_leave_hidden_cases_out(db: Session) -> None:
    """acct-s003, in no cluster, is also listed by a cluster (c-listing) whose case is restricted: the account stays
    visible, and its evidence names that case among the decisions in conflict only to members."""
    analyst = Principal("analyst-user", "analyst", 2)
    lead = Principal("lead-user", "lead", 4)
    listing = msgspec.structs.replace(seed.build()[1][-1], cluster_id="c-listing", members=["acct-s003"])
    upsert_detections(db, [], [listing])
    hidden_case = cases.open_case(db, analyst, "cluster", "c-listing", "listing")
    own = cases.open_case(db, lead, "account", "acct-s003", "lone harvester")
    cases.transition(db, analyst, hidden_case, "in_review", None)
    cases.transition(db, analyst, hidden_case, "dismissed", "a shop")
    cases.transition(db, lead, own, "in_review", None)
    cases.transition(db, lead, own, "confirmed_attack", "harvests")
    restrictions.restrict(db, lead, hidden_case, [], "partner")
    for who, conflicts in ((lead, [hidden_case.id]), (analyst, [])):
        restrictions.check_subject(db, who, "account", "acct-s003")  # visible to both
        detail = evidence.account_detail(db, "acct-s003", True, restrictions.hidden_from(db, who))
        assert (detail["decision"], detail["decision_conflicts"]) == ("confirmed_attack", conflicts), who.name
