"""What moved on the response ladder between re-scorings, and when each subject first reached each rung."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from distillguard.detector.reasons import iso
from distillguard.detector.records import LADDER, Action, ActionChange, SubjectKind, rank
from distillguard.detector.verdicts import Records


def _dissolved() -> list[str]:
    return ["cluster dissolved"]


class ActionTracker:
    """Remembers each account's and cluster's rung (by name and cluster id) and reports the moves of the next
    re-scoring as :class:`~detector.records.ActionChange`."""

    def __init__(self) -> None:
        self.current: dict[str, dict[str, Action]] = {kind: {} for kind in SubjectKind}  # subjects above none
        self.reached: dict[str, dict[str, dict[str, float]]] = {kind: {} for kind in SubjectKind}

    def _move(
        self,
        kind: SubjectKind,
        name: str,
        action: Action,
        basis: Callable[[], list[str]],
        p: float,
        at: float,
        records: Records,
        members: list[str] | None = None,
    ) -> ActionChange | None:
        before = self.current[kind].get(name, Action.none)
        if action == before:  # its rungs were noted when it got there
            return None
        if action != Action.none:
            self.current[kind][name] = action
            first = self.reached[kind].setdefault(name, {})
            for rung in LADDER[1 : rank(action) + 1]:
                first.setdefault(rung.value, at)
        else:
            self.current[kind].pop(name, None)
        when = iso(at)
        assert when is not None, "a re-scoring has a finite event time"
        return ActionChange(
            kind=kind,
            id=name,
            at=when,
            action=action,
            previous=before,
            probability=round(p, 6),
            basis=basis(),
            policy_version=records.policy.version,
            model_version=records.version,
            members=members or [],
        )

    def update(self, records: Records) -> list[ActionChange]:
        """Take in a new scoring (through its records) and return the subjects that moved to another rung."""
        s, names = records.scoring, records.state.names
        out: list[ActionChange] = []
        held = self.current[SubjectKind.account]
        # below the lowest rung's probability an account is on no rung: only those above it or held move
        probable = np.flatnonzero(records.probability >= records.policy.accounts[0].min_probability).tolist()
        rows = (records.state.ids.get(n) for n in held)
        for a in sorted(set(probable).union(a for a in rows if a is not None and a < s.accounts)):
            action = records.account_action(a)
            if action == held.get(names[a], Action.none):  # staying on its rung is no move
                continue
            basis = partial(records.account_basis, a)
            move = self._move(
                SubjectKind.account, names[a], action, basis, float(records.probability[a]), s.at, records
            )
            if move:
                out.append(move)
        seen = set()
        clusters = self.current[SubjectKind.cluster]
        for k, cid in enumerate(s.cluster_ids):
            seen.add(cid)
            action = records.cluster_action(k)
            if action == clusters.get(cid, Action.none):
                continue
            members = [names[int(a)] for a in sorted(s.members[k].tolist())]
            p = float(records.cluster_probability[k])
            basis = partial(records.cluster_basis, k)
            if move := self._move(SubjectKind.cluster, cid, action, basis, p, s.at, records, members):
                out.append(move)
        for cid in sorted(set(self.current[SubjectKind.cluster]) - seen):
            if move := self._move(SubjectKind.cluster, cid, Action.none, _dissolved, 0.0, s.at, records):
                out.append(move)
        return out

    # ---- persistence (keys of the detector snapshot) ---------------------------------------------
    def to_doc(self) -> dict:
        """The tracker as plain data."""
        return {"actions": self.current, "reached": self.reached}

    @classmethod
    def from_doc(cls, doc: dict) -> ActionTracker:
        """A tracker from :meth:`to_doc` data (a snapshot from before the ladder holds none)."""
        tracker = cls()
        for kind in SubjectKind:
            tracker.current[kind] = {n: Action(a) for n, a in doc.get("actions", {}).get(kind, {}).items()}
            tracker.reached[kind] = doc.get("reached", {}).get(kind, {})
        return tracker
