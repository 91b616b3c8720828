"""Which of an account's decisions counts (api/cases/labels.py): only final cases, the highest role, then the
latest, then the higher case id; disagreeing final cases reported as conflicts. Service level, on a copy of the
seeded database (``db``)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from distillguard.api.cases import labels
from distillguard.api.cases.labels import UNKNOWN_ROLE_RANK, Effective, effective, effective_decisions, rank
from distillguard.api.cases.models import AccountDecision
from distillguard.api.cases.service import decisions_as_labels
from distillguard.api.review import Decision
from tests.api.review_world import T, put_case, put_decision

CONFIRMED, DISMISSED = Decision.confirmed_attack, Decision.dismissed


def test_rank_orders_roles_then_time_then_case() -> None:
    assert rank("viewer", T, 7) == (0, T, 7)
    assert rank("analyst", T, 7) == (1, T, 7)
    assert rank("lead", T, 7) == (2, T, 7)
    assert rank("admin", T, 7) == (3, T, 7)
    assert rank(None, T, 7) == (-1, T, 7) == (UNKNOWN_ROLE_RANK, T, 7)
    assert rank("superuser", T, 7) == (-1, T, 7)  # a role nobody has ranks like an unknown one


def _decided(session: Session, rows: list[tuple[str, str, str | None, float]]) -> list[AccountDecision]:
    """Decisions on account ``a`` of final cases, one case each: (case subject, decision, role, hours)."""
    out = []
    for subject, decision, role, hours in rows:
        case = put_case(session, subject, decision)
        out.append(put_decision(session, case, "a", decision, role, hours))
    session.commit()
    session.expire_all()  # read back: each row's decision a string of its own, as stored
    return list(session.scalars(select(AccountDecision).where(AccountDecision.account_id == "a")))


def test_the_highest_role_wins_over_a_later_decision(db: Session) -> None:
    rows = _decided(db, [("x1", CONFIRMED, "lead", 0), ("x2", DISMISSED, "analyst", 5), ("x3", DISMISSED, "viewer", 9)])
    ids = [d.case_id for d in rows]
    assert effective(rows) == Effective("a", CONFIRMED, ids[0], (ids[1], ids[2]))
    assert effective(reversed(rows)) == Effective("a", CONFIRMED, ids[0], (ids[1], ids[2]))


def test_an_admin_outranks_a_lead_and_agreeing_cases_are_no_conflicts(db: Session) -> None:
    rows = _decided(
        db,
        [("x1", CONFIRMED, "lead", 9), ("x2", DISMISSED, "admin", 0), ("x3", DISMISSED, "analyst", 1)],
    )
    ids = [d.case_id for d in rows]
    assert effective(rows) == Effective("a", DISMISSED, ids[1], (ids[0],))


def test_with_the_same_role_the_latest_wins(db: Session) -> None:
    rows = _decided(db, [("x1", DISMISSED, "analyst", 3), ("x2", CONFIRMED, "analyst", 2)])
    ids = [d.case_id for d in rows]
    assert effective(rows) == Effective("a", DISMISSED, ids[0], (ids[1],))


def test_with_the_same_role_and_time_the_higher_case_wins(db: Session) -> None:
    rows = _decided(db, [("x1", DISMISSED, "lead", 1), ("x2", CONFIRMED, "lead", 1), ("x3", CONFIRMED, "lead", 1)])
    ids = [d.case_id for d in rows]
    assert effective(rows) == Effective("a", CONFIRMED, ids[2], (ids[0],))
    assert effective(rows[:2]) == Effective("a", CONFIRMED, ids[1], (ids[0],))


def test_an_unknown_role_ranks_below_a_viewer_even_when_later(db: Session) -> None:
    rows = _decided(db, [("x1", DISMISSED, None, 9), ("x2", CONFIRMED, "viewer", 0)])
    ids = [d.case_id for d in rows]
    assert effective(rows) == Effective("a", CONFIRMED, ids[1], (ids[0],))
    rows = _decided(db, [("x3", CONFIRMED, None, 20), ("x4", DISMISSED, None, 10)])
    assert effective(rows[2:]).case_id == rows[2].case_id  # two unknown roles: the latest


def test_conflicts_are_sorted_case_ids_and_the_decision_is_a_decision(db: Session) -> None:
    rows = _decided(
        db,
        [("x1", DISMISSED, "analyst", 5), ("x2", CONFIRMED, "admin", 0), ("x3", DISMISSED, "analyst", 1)],
    )
    e = effective(reversed(rows))
    assert e.conflicts == (rows[0].case_id, rows[2].case_id) and e.account_id == "a"
    assert type(e.decision) is Decision and e.decision is CONFIRMED
    assert effective([]) is None
    assert effective(iter([])) is None


def test_a_single_decision_has_no_conflicts(db: Session) -> None:
    (row,) = _decided(db, [("x1", DISMISSED, "analyst", 0)])
    assert effective([row]) == Effective("a", DISMISSED, row.case_id, ())


def test_only_final_cases_count(db: Session) -> None:
    for status in ("open", "in_review", "escalated"):
        case = put_case(db, f"not-final-{status}", status)
        put_decision(db, case, "a", CONFIRMED, "admin", 50)
    final = put_case(db, "final", DISMISSED)
    put_decision(db, final, "a", DISMISSED, "analyst", 0)
    reopened = put_case(db, "reopened", "in_review")
    put_decision(db, reopened, "b", DISMISSED, "admin", 0)
    db.commit()
    assert effective_decisions(db) == {"a": Effective("a", DISMISSED, final.id, ())}
    assert effective_decisions(db, ["a", "b"]) == {"a": Effective("a", DISMISSED, final.id, ())}
    assert effective_decisions(db, ["b"]) == {}


def test_each_account_gets_its_own_effective_decision(db: Session) -> None:
    c1 = put_case(db, "one", CONFIRMED)
    c2 = put_case(db, "two", DISMISSED)
    for acc in ("a", "b", "c"):
        put_decision(db, c1, acc, CONFIRMED, "lead", 0)
    put_decision(db, c2, "b", DISMISSED, "admin", 0)
    put_decision(db, c2, "d", DISMISSED, "analyst", 0)
    db.commit()
    want = {
        "a": Effective("a", CONFIRMED, c1.id, ()),
        "b": Effective("b", DISMISSED, c2.id, (c1.id,)),
        "c": Effective("c", CONFIRMED, c1.id, ()),
        "d": Effective("d", DISMISSED, c2.id, ()),
    }
    assert effective_decisions(db) == want
    assert effective_decisions(db, ["a"]) == {"a": want["a"]}  # the first id is not skipped
    assert effective_decisions(db, ["d", "b", "d", "zzz"]) == {"b": want["b"], "d": want["d"]}
    assert effective_decisions(db, iter(["c", "a"])) == {"a": want["a"], "c": want["c"]}
    assert effective_decisions(db, []) == {}
    assert decisions_as_labels(db) == {"a": True, "b": False, "c": True, "d": False}


@pytest.mark.parametrize("chunk", [1, 2])
def test_ids_are_looked_up_chunk_by_chunk_and_none_is_lost(
    db: Session, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    case = put_case(db, "many", CONFIRMED)
    accounts = [f"acc-{i}" for i in range(5)]
    for acc in accounts:
        put_decision(db, case, acc, CONFIRMED, "lead", 0)
    db.commit()
    monkeypatch.setattr(labels, "CHUNK", chunk)
    assert sorted(effective_decisions(db, [*reversed(accounts), "acc-0"])) == accounts
    assert sorted(effective_decisions(db, accounts[1:4])) == accounts[1:4]


def test_decisions_times_are_compared_as_times(db: Session) -> None:
    rows = _decided(db, [("x1", DISMISSED, "lead", 0), ("x2", CONFIRMED, "lead", 0)])
    rows[0].decided_at = T + timedelta(seconds=1)  # one second later wins over the higher case id
    db.commit()
    assert effective(rows).case_id == rows[0].case_id


def test_an_effective_decision_is_an_immutable_value() -> None:
    e = Effective("a", CONFIRMED, 3, (1, 2))
    assert e == Effective("a", CONFIRMED, 3, (1, 2)) and len({e, Effective("a", CONFIRMED, 3, (1, 2))}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.case_id = 4  # type: ignore[misc]


def test_decisions_equal_to_the_winners_are_no_conflicts_whatever_the_string_object(db: Session) -> None:
    rows = _decided(db, [("x1", CONFIRMED, "lead", 0), ("x2", CONFIRMED, "analyst", 5)])
    rows[1].decision = "".join(["confirmed", "_attack"])  # equal, but not the same object
    assert effective(rows).conflicts == ()
