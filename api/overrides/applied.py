"""What is applied to an account or a cluster: an analyst's override of the recommended action when there is one,
else the recommendation (the detector's ``action``)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from distillguard.api.cases.labels import CHUNK
from distillguard.api.overrides.models import ActionOverride
from distillguard.detector.records import SubjectKind


def override_of(session: Session, kind: SubjectKind, subject_id: str) -> ActionOverride | None:
    """The current override of one subject, if any."""
    return session.get(ActionOverride, (kind.value, subject_id))


def overrides_of(session: Session, kind: SubjectKind, ids: Iterable[str]) -> dict[str, ActionOverride]:
    """Subject id -> its current override, for those of ``ids`` (of ``kind``) that have one."""
    wanted = list(dict.fromkeys(ids))
    stmt = select(ActionOverride).where(ActionOverride.subject_type == kind.value)
    return {
        o.subject_id: o
        for i in range(0, len(wanted), CHUNK)
        for o in session.scalars(stmt.where(ActionOverride.subject_id.in_(wanted[i : i + CHUNK])))
    }


def override_body(o: ActionOverride) -> dict:
    """An override as the API serves it (:class:`~distillguard.api.detections.schemas.OverrideOut`)."""
    return {
        "action": o.action,
        "recommended": o.recommended,
        "reason": o.reason,
        "by": o.set_by,
        "role": o.set_role,
        "at": o.set_at,
        "model_version": o.model_version,
    }


def applied(recommended: str, o: ActionOverride | None) -> dict:
    """The ladder fields a subject recommended ``recommended`` and overridden by ``o`` (or not) adds to its
    record: ``applied_action`` and ``override``."""
    return {"applied_action": o.action if o else recommended, "override": override_body(o) if o else None}
