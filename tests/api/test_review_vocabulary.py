"""The review vocabulary's values are the wire format (JSON bodies, stored strings): they may not change."""

from __future__ import annotations

from distillguard.api.review import FINAL, CaseStatus, Decision, ReviewStatus
from distillguard.detector.records import SubjectKind


def test_the_stored_and_served_values_stay() -> None:
    assert list(SubjectKind) == ["cluster", "account"]
    assert list(Decision) == ["confirmed_attack", "dismissed"]
    assert list(CaseStatus) == ["open", "in_review", "confirmed_attack", "dismissed", "escalated"]
    assert list(ReviewStatus) == ["new", *CaseStatus]
    assert {"confirmed_attack", "dismissed"} == FINAL


def test_members_compare_and_format_as_their_values() -> None:
    assert CaseStatus.confirmed_attack == Decision.confirmed_attack == ReviewStatus.confirmed_attack
    assert f"{CaseStatus.in_review}" == "in_review" and str(ReviewStatus.new) == "new"
