"""The review vocabulary: where a case stands, the final calls analysts make, and a detection's review status.

The values are the wire format (JSON, stored strings): never rename one. A case ends in a :class:`Decision`
(analysts also record one per account); a detection's :data:`ReviewStatus` is ``new`` until a case is opened on it,
then its case's :data:`CaseStatus`. What a case reviews is a :class:`~distillguard.detector.records.SubjectKind`.
"""

from __future__ import annotations

from enum import StrEnum, auto


class Decision(StrEnum):
    """An analyst's final call, on a case or on one account."""

    confirmed_attack = auto()
    dismissed = auto()


class CaseStatus(StrEnum):
    """Case workflow states: open -> in_review | escalated -> a Decision (dismissed may be reopened)."""

    open = auto()
    in_review = auto()
    confirmed_attack = Decision.confirmed_attack.value
    dismissed = Decision.dismissed.value
    escalated = auto()


class ReviewStatus(StrEnum):
    """Review status of a detection: ``new`` until a case is opened, then the case's status."""

    new = auto()
    open = CaseStatus.open.value
    in_review = CaseStatus.in_review.value
    confirmed_attack = CaseStatus.confirmed_attack.value
    dismissed = CaseStatus.dismissed.value
    escalated = CaseStatus.escalated.value


# Each status set extends the smaller one (tests/api/test_review_vocabulary.py checks it): the members are
# written out so that type checkers see them, their values come from the smaller set.
FINAL = frozenset(Decision)  # the case statuses that end a case (its decision)
