"""Overrides as training labels (``distillguard train --with-decisions``, next to the cases' decisions).

An override says how much to act; only the ladder's ends also say what the subject is:

1. ``none`` says it is legitimate (label False); ``suspend`` or ``takedown`` that it is an attack (True); ``watch``,
   ``challenge``, ``throttle`` and ``review`` give no label.
2. A cluster's override labels the members it had when the override was set (kept in the override's row).
3. An account's own override decides for it over its clusters' (even one giving no label: it is the closer look);
   among the cluster overrides listing it, the latest set wins.
4. A final case's effective decision on an account (:mod:`distillguard.api.cases.labels`) wins over any override
   (:func:`distillguard.api.cases.service.decisions_as_labels`): a case is a full review.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from distillguard.api.overrides.models import ActionOverride
from distillguard.detector.records import Action, SubjectKind

LEGITIMATE = frozenset({Action.none})
ATTACK = frozenset({Action.suspend, Action.takedown})


def label(action: str) -> bool | None:
    """The training label an override to ``action`` gives (rule 1): True, False, or None for none."""
    return True if action in ATTACK else False if action in LEGITIMATE else None


def override_labels(session: Session) -> dict[str, bool]:
    """Account -> label of every account an override labels (rules 1-3)."""
    own: dict[str, bool | None] = {}
    by_cluster: dict[str, bool | None] = {}
    for o in session.scalars(select(ActionOverride).order_by(ActionOverride.set_at, ActionOverride.subject_id)):
        if o.subject_type == SubjectKind.account:
            own[o.subject_id] = label(o.action)
        else:
            by_cluster.update(dict.fromkeys(o.members, label(o.action)))  # later overrides overwrite earlier ones
    return {acc: lab for acc, lab in (by_cluster | own).items() if lab is not None}
