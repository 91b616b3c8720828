"""Whose case it is (api/cases/policy.py): who may change a case, to whom it may be assigned, and when a case may be
opened on accounts another case already covers. Service level, on a copy of the seeded database (``db``)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.cases.models import Case
from distillguard.api.cases.policy import (
    ASSIGNABLE_ROLE,
    check_assignee,
    check_may_change,
    check_may_open,
    may_change,
)
from distillguard.api.errors import ServiceError
from tests.api.review_world import ADMIN, ANALYST, LEAD, VIEWER


def _case(case_id: int, status: str = "open", assignee: str | None = None) -> Case:
    return Case(id=case_id, subject_type="account", subject_id=f"acct-{case_id}", status=status, assignee=assignee)


@pytest.mark.parametrize(
    ("who", "assignee", "allowed"),
    [
        (ANALYST, None, True),  # unassigned: anyone
        (VIEWER, None, True),
        (ANALYST, "analyst-user", True),  # their own
        (ANALYST, "analyst-2", False),  # someone else's
        (VIEWER, "analyst-2", False),
        (VIEWER, "viewer-user", True),
        (LEAD, "analyst-2", True),  # leads and admins: always
        (ADMIN, "analyst-2", True),
        (Principal("analyst-user", "lead", 9), "analyst-2", True),  # the role counts, not the name
        (Principal("Analyst-user", "analyst", 2), "analyst-user", False),  # names match exactly
    ],
)
def test_who_may_change_a_case(who: Principal, assignee: str | None, allowed: bool) -> None:
    assert may_change(who, _case(3, assignee=assignee)) is allowed


def test_a_refusal_to_change_says_whose_case_it_is() -> None:
    check_may_change(ANALYST, _case(3, assignee="analyst-user"), "change its status")
    check_may_change(LEAD, _case(3, assignee="analyst-2"), "change its status")
    with pytest.raises(ServiceError) as err:
        check_may_change(ANALYST, _case(3, assignee="analyst-2"), "change its status")
    assert err.value.status == 403
    assert err.value.detail == (
        "case 3 is assigned to 'analyst-2': only they, a lead or an admin may change its status; "
        "token 'analyst-user' is 'analyst' (any analyst may comment)"
    )


@pytest.mark.parametrize("name", [None, "analyst-user", "analyst-2", "lead-user", "admin-user"])
def test_a_case_is_assigned_to_an_active_analyst_lead_or_admin(db: Session, name: str | None) -> None:
    assert ASSIGNABLE_ROLE == "analyst"
    check_assignee(db, name)


@pytest.mark.parametrize("name", ["viewer-user", "gone-user", "nobody", "ANALYST-USER", ""])
def test_nobody_else_can_be_assigned(db: Session, name: str) -> None:
    with pytest.raises(ServiceError) as err:
        check_assignee(db, name)
    assert err.value.status == 422
    assert err.value.detail == (
        f"cannot assign to {name!r}: no active token of an analyst, lead or admin has that name"
    )


def test_opening_over_no_case_or_over_open_cases_one_may_change_is_allowed() -> None:
    check_may_open(ANALYST, {})
    check_may_open(ANALYST, {1: (_case(1), "a"), 2: (_case(2, "in_review", "analyst-user"), "b")})
    check_may_open(ANALYST, {3: (_case(3, "escalated"), "c")})
    check_may_open(LEAD, {4: (_case(4, "in_review", "analyst-2"), "d")})


@pytest.mark.parametrize("status", ["confirmed_attack", "dismissed"])
@pytest.mark.parametrize("who", [ANALYST, LEAD, ADMIN])
def test_opening_over_a_final_case_is_refused_for_everybody(who: Principal, status: str) -> None:
    with pytest.raises(ServiceError) as err:
        check_may_open(who, {1: (_case(1), "a"), 5: (_case(5, status, who.name), "acct-k003")})
    assert err.value.status == 409
    assert err.value.detail == (
        f"account 'acct-k003' belongs to case 5, which is final ({status}): its decisions stand; comment on that "
        "case, or have a lead reopen it if dismissed"
    )


def test_opening_over_someone_elses_open_case_is_refused() -> None:
    with pytest.raises(ServiceError) as err:
        check_may_open(ANALYST, {1: (_case(1), "a"), 6: (_case(6, "in_review", "analyst-2"), "acct-u004")})
    assert err.value.status == 403
    assert err.value.detail == (
        "account 'acct-u004' belongs to case 6, assigned to 'analyst-2': only they, a lead or an admin may open "
        "another case on it; token 'analyst-user' is 'analyst'"
    )


def test_the_lowest_case_id_is_reported_first() -> None:
    final, theirs = _case(8, "dismissed"), _case(4, "open", "analyst-2")
    for overlapping in ({8: (final, "a"), 4: (theirs, "b")}, {4: (theirs, "b"), 8: (final, "a")}):
        with pytest.raises(ServiceError) as err:
            check_may_open(ANALYST, overlapping)
        assert err.value.status == 403 and "case 4" in err.value.detail
    final, theirs = _case(2, "confirmed_attack"), _case(9, "open", "analyst-2")
    with pytest.raises(ServiceError) as err:
        check_may_open(ANALYST, {9: (theirs, "b"), 2: (final, "a")})
    assert err.value.status == 409 and "case 2" in err.value.detail
