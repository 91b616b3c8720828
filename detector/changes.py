"""What changed between re-scorings: accounts and clusters newly flagged, unflagged or regrouped, clusters dissolved,
and cluster ids that stay the same while a cluster's membership drifts."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime

import numpy as np

from distillguard.detector.reasons import iso
from distillguard.detector.records import Change, SubjectKind
from distillguard.detector.scoring import Scoring
from distillguard.detector.verdicts import Records

CLUSTER_ID_PREFIX = "cl-"
CLUSTER_ID_HEX = 12  # hex digits of the hash naming a new cluster


class ChangeTimeError(ValueError):
    """A change would be reported at a re-scoring whose event time is not finite (none was seen)."""


def _stamp(when: datetime | None, at: float) -> datetime:
    if when is None:
        raise ChangeTimeError(f"a change needs a finite event time, the re-scoring is at {at!r}")
    return when


def _new_cluster_id(seed: str) -> str:
    return CLUSTER_ID_PREFIX + hashlib.sha1(seed.encode()).hexdigest()[:CLUSTER_ID_HEX]


class ChangeTracker:
    """Remembers what the last re-scoring flagged and grouped, and reports what the next one changes."""

    def __init__(self) -> None:
        self.flagged_at: dict[int, float] = {}  # flagged account -> event time it was flagged
        self.cluster_flagged_at: dict[str, float] = {}
        self.cluster_of: dict[int, str] = {}  # linked account -> its cluster id
        self.members: dict[str, frozenset[int]] = {}  # cluster id -> its accounts

    def cluster_ids(self, members: list[np.ndarray], names: list[str]) -> list[str]:
        """An id per cluster, kept across re-scorings: the id most of its members had, largest cluster
        first; a new cluster is named by a hash of its first member's name."""
        ids: list[str | None] = [None] * len(members)
        taken: set[str] = set()
        for k in sorted(range(len(members)), key=lambda i: -len(members[i])):
            votes = Counter(self.cluster_of.get(int(a)) for a in members[k])
            votes.pop(None, None)
            for cid, _ in votes.most_common():
                if cid not in taken:
                    ids[k] = cid
                    break
            if ids[k] is None:
                ids[k] = _new_cluster_id(min(names[int(a)] for a in members[k]))
                while ids[k] in taken:
                    ids[k] = _new_cluster_id(ids[k])  # type: ignore[arg-type]
            taken.add(ids[k])  # type: ignore[arg-type]
        return ids  # type: ignore[return-value]

    def update(self, records: Records) -> list[Change]:
        """Take in a new scoring (through its records) and return what changed since the previous one."""
        s: Scoring = records.scoring
        at, thr, names = s.at, records.threshold, records.state.names
        when = iso(at)
        changes: list[Change] = []
        labels = s.link.labels
        new_cluster_of = {int(a): s.cluster_ids[int(labels[a])] for a in np.nonzero(labels >= 0)[0]}

        def account(a: int, kind: str) -> Change:
            return Change(
                kind=SubjectKind.account,
                id=names[a],
                at=_stamp(when, at),
                change=kind,
                score=round(float(s.score[a]), 6),
                reasons=records.account_reasons(a),
                cluster_id=new_cluster_of.get(a),
            )

        now_flagged = set(np.nonzero(s.score >= thr)[0].tolist())
        for a in sorted(now_flagged - self.flagged_at.keys()):
            self.flagged_at[a] = at
            changes.append(account(a, "flagged"))
        for a in sorted(self.flagged_at.keys() - now_flagged):
            del self.flagged_at[a]
            changes.append(account(a, "unflagged"))
        for a in sorted(now_flagged):
            if a in self.flagged_at and self.flagged_at[a] != at and self.cluster_of.get(a) != new_cluster_of.get(a):
                changes.append(account(a, "changed"))
        current: dict[str, frozenset[int]] = {}
        for k, cid in enumerate(s.cluster_ids):
            current[cid] = frozenset(s.members[k].tolist())
            is_flagged = s.cluster_score[k] >= thr
            was = cid in self.cluster_flagged_at
            if is_flagged and not was:
                self.cluster_flagged_at[cid] = at
                kind = "flagged"
            elif was and not is_flagged:
                del self.cluster_flagged_at[cid]
                kind = "unflagged"
            elif is_flagged and self.members.get(cid) != current[cid]:
                kind = "changed"
            else:
                continue
            changes.append(
                Change(
                    kind=SubjectKind.cluster,
                    id=cid,
                    at=_stamp(when, at),
                    change=kind,
                    score=round(float(s.cluster_score[k]), 6),
                    reasons=records.cluster_reasons(k),
                    cluster_id=cid,
                    members=[names[a] for a in sorted(current[cid])],
                )
            )
        for cid in list(self.cluster_flagged_at):
            if cid not in current:
                del self.cluster_flagged_at[cid]
                changes.append(
                    Change(
                        kind=SubjectKind.cluster,
                        id=cid,
                        at=_stamp(when, at),
                        change="dissolved",
                        score=0.0,
                        reasons=["cluster dissolved: its accounts are no longer linked"],
                        cluster_id=cid,
                        # the members it had: who to lift a cluster-wide action from, and which worker says so
                        members=[names[a] for a in sorted(self.members.get(cid, ()))],
                    )
                )
        self.cluster_of = new_cluster_of
        self.members = current
        return changes

    def renumber(self, new_id: list[int]) -> None:
        """Follow the state's renumbering (``new_id``: old id -> new one, -1 for accounts that left)."""
        self.flagged_at = {new_id[a]: t for a, t in self.flagged_at.items() if new_id[a] >= 0}
        self.cluster_of = {new_id[a]: c for a, c in self.cluster_of.items() if new_id[a] >= 0}
        self.members = {c: frozenset(new_id[a] for a in m if new_id[a] >= 0) for c, m in self.members.items()}

    # ---- persistence (keys of the detector snapshot, accounts by name) ----------------------------
    def to_doc(self, names: list[str]) -> dict:
        """The tracker as plain data, accounts by name."""
        return {
            "flagged_at": {names[a]: t for a, t in self.flagged_at.items()},
            "cluster_flagged_at": self.cluster_flagged_at,
            "cluster_of": {names[a]: c for a, c in self.cluster_of.items()},
            "prev_members": {c: [names[a] for a in m] for c, m in self.members.items()},
        }

    @classmethod
    def from_doc(cls, doc: dict, ids: dict[str, int]) -> ChangeTracker:
        """A tracker from :meth:`to_doc` data (``ids``: account name -> id)."""
        tracker = cls()
        tracker.flagged_at = {ids[n]: at for n, at in doc["flagged_at"].items()}
        tracker.cluster_flagged_at = doc["cluster_flagged_at"]
        tracker.cluster_of = {ids[n]: c for n, c in doc["cluster_of"].items()}
        tracker.members = {c: frozenset(ids[n] for n in m) for c, m in doc["prev_members"].items()}
        return tracker
