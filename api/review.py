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


CaseStatus = StrEnum("CaseStatus", ["open", "in_review", *Decision.__members__, "escalated"], module=__name__)
CaseStatus.__doc__ = "Case workflow states: open -> in_review | escalated -> a Decision (dismissed may be reopened)."

ReviewStatus = StrEnum("ReviewStatus", ["new", *CaseStatus.__members__], module=__name__)
ReviewStatus.__doc__ = "Review status of a detection: ``new`` until a case is opened, then the case's status."

FINAL = frozenset(Decision)  # the case statuses that end a case (its decision)
