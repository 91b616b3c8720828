"""Decisions belong to their case: per-(case, account) rows, the effective decision rule, the open-case policy,
an audit record on the case for every change of its decisions, and migration 0003 keeping existing rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from distillguard.api.cases.labels import effective
from distillguard.api.cases.models import AccountDecision
from distillguard.api.cases.service import decisions_as_labels
from distillguard.api.database import alembic_config, engine_for, session_scope
from distillguard.api.review import Decision
from tests.api.conftest import Api, new_database

T = datetime(2026, 3, 1, tzinfo=UTC)


def _open(api: Api, kind: str, subject: str, role: str = "analyst", assignee: str | None = None):
    body = {"subject_type": kind, "subject_id": subject, "reason": "triage", "assignee": assignee}
    return api.client.post("/api/v1/cases", json=body, headers=api.h(role))


def _move(api: Api, case_id: int, status: str, role: str) -> None:
    r = api.client.post(
        f"/api/v1/cases/{case_id}/transition", json={"status": status, "reason": "because"}, headers=api.h(role)
    )
    assert r.status_code == 200, r.text


def _audit(api: Api, case_id: int) -> list[dict]:
    return api.client.get(
        "/api/v1/audit", params={"entity_type": "case", "entity_id": case_id}, headers=api.h("viewer")
    ).json()


def _row(case_id: int, decision: str, role: str | None, hours: int) -> AccountDecision:
    return AccountDecision(
        case_id=case_id,
        account_id="a",
        decision=decision,
        decided_by="x",
        decided_role=role,
        decided_at=T + timedelta(hours=hours),
    )


def test_the_rule_prefers_the_highest_role_then_the_latest_and_reports_conflicts() -> None:
    lead_confirms = _row(1, Decision.confirmed_attack, "lead", 0)
    analyst_dismisses_later = _row(2, Decision.dismissed, "analyst", 5)
    e = effective([lead_confirms, analyst_dismisses_later])
    assert (e.decision, e.case_id, e.conflicts) == (Decision.confirmed_attack, 1, (2,))
    e = effective([_row(1, Decision.confirmed_attack, "analyst", 0), analyst_dismisses_later])
    assert (e.decision, e.case_id) == (Decision.dismissed, 2)  # same role: the latest
    e = effective([_row(1, Decision.dismissed, None, 9), _row(2, Decision.confirmed_attack, "viewer", 0)])
    assert e.decision == Decision.confirmed_attack  # an unknown role ranks below every role
    assert effective([]) is None


def test_a_case_on_an_account_of_a_final_case_is_refused(api: Api) -> None:
    case = _open(api, "cluster", "c-hydra-2").json()
    _move(api, case["id"], "in_review", "analyst")
    _move(api, case["id"], "confirmed_attack", "lead")
    for role in ("analyst", "lead", "admin"):
        r = _open(api, "account", "acct-k003", role)
        assert r.status_code == 409 and f"case {case['id']}" in r.json()["detail"], r.text
    with session_scope(api.url) as s:
        assert decisions_as_labels(s)["acct-k003"] is True


def test_a_case_on_an_account_of_someone_elses_case_is_refused(api: Api) -> None:
    case = _open(api, "cluster", "c-uni", assignee="lead-user", role="lead").json()
    r = _open(api, "account", "acct-u004")
    assert r.status_code == 403 and "lead-user" in r.json()["detail"]
    assert _open(api, "account", "acct-u004", "lead").status_code == 201  # a lead may
    assert [e["action"] for e in _audit(api, case["id"])] == ["case.open"]


def test_overlapping_cases_keep_their_own_decisions_and_the_rule_decides(api: Api) -> None:
    single = _open(api, "account", "acct-k001").json()  # open and unassigned: a cluster case may overlap it
    cluster = _open(api, "cluster", "c-hydra-2").json()
    _move(api, cluster["id"], "in_review", "analyst")
    _move(api, cluster["id"], "confirmed_attack", "lead")
    _move(api, single["id"], "in_review", "analyst")
    _move(api, single["id"], "dismissed", "analyst")  # later, but by an analyst
    by_case = {
        c: {
            d["account_id"]: d
            for d in api.client.get(f"/api/v1/cases/{c}", headers=api.h("viewer")).json()["decisions"]
        }
        for c in (single["id"], cluster["id"])
    }
    assert by_case[single["id"]]["acct-k001"]["decision"] == "dismissed"
    assert by_case[cluster["id"]]["acct-k001"]["decision"] == "confirmed_attack"  # not erased
    assert by_case[cluster["id"]]["acct-k001"]["decided_role"] == "lead"
    with session_scope(api.url) as s:
        assert decisions_as_labels(s)["acct-k001"] is True
    acct = api.client.get("/api/v1/accounts/acct-k001", headers=api.h("viewer")).json()
    assert acct["decision"] == "confirmed_attack" and acct["decision_conflicts"] == [single["id"]]
    single_audit = _audit(api, single["id"])
    assert single_audit[-1]["details"]["decided_accounts"] == 1
    assert [e["action"] for e in _audit(api, cluster["id"])] == ["case.open"] + ["case.transition"] * 2


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_migration_0003_keys_decisions_by_case_and_keeps_rows(kind: str, tmp_path: Path) -> None:
    url, drop = new_database(kind, tmp_path)
    try:
        cfg = alembic_config(url)
        command.upgrade(cfg, "0002")
        with engine_for(url).begin() as c:
            c.execute(
                text(
                    "INSERT INTO api_tokens (name, role, prefix, token_hash, created_at) "
                    "VALUES ('lead-a', 'lead', 'dg_x', 'h1', '2026-03-01')"
                )
            )
            for subject, status in (("c1", "confirmed_attack"), ("c2", "dismissed")):
                c.execute(
                    text(
                        "INSERT INTO cases (subject_type, subject_id, status, created_by, created_at, updated_at) "
                        "VALUES ('cluster', :s, :st, 'x', '2026-03-01', '2026-03-01')"
                    ),
                    {"s": subject, "st": status},
                )
            c.execute(
                text(
                    "INSERT INTO account_decisions (account_id, case_id, decision, decided_by, decided_at) VALUES "
                    "('a1', 1, 'confirmed_attack', 'lead-a', '2026-03-01'), ('a2', 2, 'dismissed', 'gone', '2026-03-01')"
                )
            )
        command.upgrade(cfg, "head")
        with session_scope(url) as s:
            rows = s.execute(
                text("SELECT case_id, account_id, decision, decided_role FROM account_decisions ORDER BY account_id")
            ).all()
            assert [tuple(r) for r in rows] == [(1, "a1", "confirmed_attack", "lead"), (2, "a2", "dismissed", None)]
            s.add(
                AccountDecision(case_id=2, account_id="a1", decision="dismissed", decided_by="y", decided_role="lead")
            )  # a second case's decision on a1 is a row of its own now
            s.flush()
            assert decisions_as_labels(s) == {"a1": False, "a2": False}  # same role: the latest
        engine_for(url).dispose()
        command.downgrade(cfg, "0002")
        command.upgrade(cfg, "head")
    finally:
        drop()
