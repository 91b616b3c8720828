"""The one detection object: feed events in time order, re-score at window boundaries.

``detect`` runs it over a file, the stream worker over micro-batches of a partition, notebooks over
whatever they load. A re-scoring folds the buffered events, recomputes features, re-links accounts,
scores them (:mod:`.scoring`) and reports what changed (:mod:`.changes`); verdict and cluster records
are built from the last scoring (:mod:`.verdicts`).

Only :meth:`Detector.process` and :meth:`Detector.flush` re-score. The getters (``verdicts``,
``clusters``, ``features``, ``stats``) change nothing and report the last re-scoring: call ``flush()``
first to score what arrived since.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import msgspec
import numpy as np

from distillguard.detector.actions import ActionTracker
from distillguard.detector.changes import ChangeTracker
from distillguard.detector.cohorts import Neighbourhoods, neighbourhoods
from distillguard.detector.context import groups_of, static_context
from distillguard.detector.disk_archive import DiskArchive
from distillguard.detector.events import Event
from distillguard.detector.features import FEATURES, Features, account_features, release_hour
from distillguard.detector.linking import Linkage, link_accounts
from distillguard.detector.model import DetectionModel, load_model
from distillguard.detector.policy import Policy, load_policy
from distillguard.detector.records import AccountVerdict, ActionChange, Change, ClusterVerdict, SubjectKind
from distillguard.detector.retention import (
    EVICT_EVERY,
    RETENTION_HOURS,
    Archive,
    Archived,
    MemoryArchive,
    check_retention,
)
from distillguard.detector.scoring import Scorer, Scoring
from distillguard.detector.state import DEDUP_HORIZON_HOURS, AccountState, AccountSummary
from distillguard.detector.units import HOUR, MINUTE
from distillguard.detector.verdicts import AccountMemo, Records, newest_model

RELINK_GROWTH = 0.02  # re-link when the accounts seen grew by 2% since the last linking...
RELINK_EVERY = HOUR  # ...or an hour of event time passed (and always on flush)
# The state packs hours since 1970 into unsigned key bits, so earlier times cannot be counted.
BEFORE_EPOCH = "ts is before 1970-01-01T00:00:00Z"
# 2: absorbed accounts are named without the store keys they contributed (a version 1 snapshot is still read).
SNAPSHOT_VERSION = 2


def cluster_medians(values: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """The median of ``values`` over each cluster's rows (``labels``: cluster per row, -1 for none), as
    ``np.median`` gives it per cluster (the mean of the two middle values of an even count), all clusters at once."""
    rows = np.flatnonzero(labels >= 0)
    order = rows[np.lexsort((values[rows], labels[rows]))]
    count = np.bincount(labels[order], minlength=n_clusters)
    start = np.cumsum(count) - count
    hi = values[order[start + count // 2]]
    lo = values[order[start + (count - 1) // 2]]
    return np.where(count % 2 == 1, hi, (lo + hi) / 2)


class Detector:
    """Incremental detector over a stream of :class:`~detector.events.Event` in event-time order.

    ``process`` and ``flush`` re-score; ``verdicts``, ``clusters``, ``features`` and ``stats`` only read,
    as of the last re-scoring. ``snapshot`` and ``summaries`` fold buffered events into the state first, so
    until the next re-scoring the verdicts' context fields (requests, last seen ...) may count them."""

    def __init__(
        self,
        model: DetectionModel | None = None,
        *,
        policy: Policy | None = None,
        window_minutes: float = 15.0,
        dedup_horizon_hours: float = DEDUP_HORIZON_HOURS,
        max_future_minutes: float = 60.0,
        retention_hours: float | None = RETENTION_HOURS,
        archive: Archive | None = None,
    ) -> None:
        self.model = model if model is not None else load_model()
        self.policy = policy if policy is not None else load_policy()
        self.scorer = Scorer(self.model)
        self.window = window_minutes * MINUTE
        self.state = AccountState(dedup_horizon_hours=dedup_horizon_hours, max_future_minutes=max_future_minutes)
        self.window_end: float | None = None
        self.last: Scoring | None = None  # the last re-scoring
        self.changes = ChangeTracker()
        self.actions = ActionTracker()
        self.action_changes: list[ActionChange] = []  # the moves on the ladder of the last process() or flush()
        self.left: list[str] = []  # the accounts archived by the last process() or flush(), in the order they left
        self._absorbed: set[int] = set()  # accounts other workers own, taken in from their summaries
        self._link: Linkage | None = None
        self._hoods: Neighbourhoods | None = None
        self._link_accounts = 0
        self._link_at = -np.inf
        self.rescores = 0
        self.retention: float | None = None  # seconds of idleness after which an account leaves (None: never)
        self.set_retention(retention_hours)
        self.archive = archive if archive is not None else MemoryArchive()
        self._evicted_at = -np.inf  # event time of the last look for idle accounts
        self._memo = AccountMemo(self.policy)  # reasons and rungs of the last re-scorings, by inputs (a cache)

    # ---- feeding ---------------------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, int]:
        """Counters: events accepted, duplicates ignored, late, rejected, re-scorings, accounts seen."""
        return {
            **self.state.stats,
            "rescores": self.rescores,
            "accounts": self.state.size,
            "archived": len(self.archive),
        }

    def process(self, events: Iterable[Event], on_reject: Callable[[Event, str], None] | None = None) -> list[Change]:
        """Consume events; re-score whenever event time crosses a window boundary. Rejected events
        (too far in the future, older than the de-duplication horizon, or before 1970) go to ``on_reject``."""
        changes: list[Change] = []
        self.action_changes, self.left = [], []
        w = self.window
        add = self.state.add
        archived = bool(self.archive)  # changes only at a re-scoring or a return: not asked per event
        for ev in events:
            ts = ev.ts.timestamp()
            if ts < 0:
                self.state.stats["rejected"] += 1
                if on_reject is not None:
                    on_reject(ev, BEFORE_EPOCH)
                continue
            if self.window_end is not None and ts >= self.window_end and self.state.reject_reason(ev, ts) is None:
                changes.extend(self._rescore(self.window_end))
                self.window_end = (ts // w + 1) * w
                archived = bool(self.archive)
            if archived and ev.account_id not in self.state.ids:
                self._bring_back(ev.account_id)
                archived = bool(self.archive)
            rejected = add(ev, ts)
            if rejected is not None:
                if on_reject is not None:
                    on_reject(rejected.event, rejected.reason)
            elif self.window_end is None:  # the first accepted event starts the windows
                self.window_end = (ts // w + 1) * w
        return changes

    def flush(self) -> list[Change]:
        """Re-score now, at the latest event time seen (end of a file or a drained stream)."""
        self.action_changes, self.left = [], []
        if self.state.size == 0:
            return []
        return self._rescore(self.state.watermark, relink=True)

    def summaries(self, changed_only: bool = True) -> list[AccountSummary]:
        """Summaries of this detector's accounts (changed since the last call, or all) for the linking stage."""
        return self.state.export_summaries(None if changed_only else list(range(self.state.size)))

    def ingest_summaries(self, summaries: Iterable[AccountSummary]) -> None:
        """Take in accounts owned by other workers (each summary replaces that account's previous one). They are
        linked and scored like this detector's own, but held without sample prompts: their verdicts here have none
        (their owner writes them)."""
        batch = list(summaries)
        self.state.absorb_summaries(batch, foreign=True)
        self._absorbed.update(self.state.ids[s.account_id] for s in batch)

    # ---- persistence -----------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Everything needed to continue exactly where this detector is (msgpack, no pickle)."""
        names = self.state.names
        doc = {
            "v": SNAPSHOT_VERSION,
            "state": self.state.snapshot(),
            "window": self.window,
            "window_end": self.window_end,
            "rescores": self.rescores,
            **self.changes.to_doc(names),
            **self.actions.to_doc(),
            "absorbed": [names[a] for a in sorted(self._absorbed)],
            "link": None if self._link is None else self._link.to_doc(),
            "hoods": None if self._hoods is None else self._hoods.to_doc(),
            "link_accounts": self._link_accounts,
            "link_at": self._link_at if np.isfinite(self._link_at) else None,
            "retention": self.retention,
            "evicted_at": self._evicted_at if np.isfinite(self._evicted_at) else None,
            self.archive.DOC_KEY: self.archive.to_doc(),
        }
        return msgspec.msgpack.encode(doc)

    def close(self) -> None:
        """Release the archive's files (a disk archive stays on disk for a snapshot to be restored from)."""
        self.archive.close()

    def snapshot_saved(self) -> None:
        """The last :meth:`snapshot` is durably saved: the archive may let go of what only earlier ones held."""
        self.archive.snapshot_saved()

    @classmethod
    def restore(
        cls,
        data: bytes,
        model: DetectionModel | None = None,
        policy: Policy | None = None,
        archive_dir: str | Path | None = None,
    ) -> Detector:
        """A detector continuing from :meth:`snapshot` bytes. A disk archive is taken over from the directory the
        snapshot names, or from ``archive_dir`` (the same files, moved): the detector snapshotted must not use it
        any more."""
        doc = msgspec.msgpack.decode(data)
        if doc.get("v") not in (1, SNAPSHOT_VERSION):
            raise ValueError(f"unsupported detector snapshot version {doc.get('v')!r}")
        retention = doc.get("retention")  # snapshots from before accounts left: they keep all, as they did
        det = cls(
            model,
            policy=policy,
            window_minutes=doc["window"] / MINUTE,
            retention_hours=None if retention is None else retention / HOUR,
            archive=(
                DiskArchive.from_doc(doc[DiskArchive.DOC_KEY], archive_dir)
                if DiskArchive.DOC_KEY in doc
                else MemoryArchive(doc.get(MemoryArchive.DOC_KEY))
            ),
        )
        det.state = AccountState.restore(doc["state"])
        ids = det.state.ids
        det.window_end = doc["window_end"]
        det.rescores = doc["rescores"]
        det.changes = ChangeTracker.from_doc(doc, ids)
        det.actions = ActionTracker.from_doc(doc)
        det._absorbed = {ids[n] for n in doc["absorbed"]}  # version 1: a dict by name (of keys no longer needed)
        for a in det._absorbed:  # version 1 held their sample prompts
            det.state.samples.pop(a, None)
        det._link = None if doc["link"] is None else Linkage.from_doc(doc["link"])
        det._hoods = None if doc.get("hoods") is None else Neighbourhoods.from_doc(doc["hoods"])
        det._link_accounts = doc["link_accounts"]
        det._link_at = -np.inf if doc["link_at"] is None else doc["link_at"]
        det._evicted_at = -np.inf if doc.get("evicted_at") is None else doc["evicted_at"]
        return det

    # ---- scoring ---------------------------------------------------------------------------------
    def _rescore(self, at: float, relink: bool = False) -> list[Change]:
        """Score every account as of event time ``at`` and return what changed. Accounts are re-linked
        when forced, when the accounts seen grew by ``RELINK_GROWTH`` or after ``RELINK_EVERY`` of event
        time; in between, the last linking is reused (linking is the costly part at scale)."""
        st = self.state
        st.fold()
        cutoff = st.timeline_cutoff()
        if cutoff is not None:
            st.retire_timeline(cutoff, release_hour(st))
        st.forget_single_templates()
        restored = self.last is None and self.rescores > 0  # not re-scored since: no last verdicts to archive yet
        if self.retention is not None and at - self._evicted_at >= EVICT_EVERY and not restored:
            self._evicted_at = at
            self._evict_idle(at - self.retention)
        X = account_features(st)
        if (
            relink
            or self._link is None
            or self._hoods is None
            or st.size >= self._link_accounts * (1 + RELINK_GROWTH)
            or at - self._link_at >= RELINK_EVERY
        ):
            self._link, self._hoods = link_accounts(st), neighbourhoods(X)
            self._link_accounts, self._link_at = st.size, at
        # kept extended: the scoring holds them, and a second copy of every per-account array is not needed
        self._link, self._hoods = link, hoods = self._link.extended(st.size), self._hoods.extended(st.size)
        ctx = static_context(st, link, hoods, X)
        score, behaviour, anomaly, final_cells = self.scorer.score(X, groups_of(link), hoods, ctx, self.last)
        members = link.members()
        cluster_ids = self.changes.cluster_ids(members, st.names)
        cluster_score = cluster_medians(score, link.labels, link.n_clusters)
        self.last = Scoring(
            at,
            X,
            link,
            hoods,
            members,
            ctx,
            score,
            behaviour,
            anomaly,
            cluster_ids,
            cluster_score,
            final_cells,
            newest_model(st),
        )
        self.rescores += 1
        if self._memo.policy is not self.policy:
            self._memo = AccountMemo(self.policy)
        records = Records(self.last, st, self.model, self.policy, self._memo)
        self.action_changes.extend(self.actions.update(records))
        return self.changes.update(records)

    # ---- retention -------------------------------------------------------------------------------
    def set_retention(self, retention_hours: float | None) -> None:
        """Let accounts idle for ``retention_hours`` of event time leave for the archive (None: never); see
        :mod:`detector.retention`."""
        check_retention(retention_hours, self.state.dedup_horizon_hours)
        self.retention = None if retention_hours is None else retention_hours * HOUR

    def _evict_idle(self, before: float) -> None:
        """Archive and remove the accounts whose last request is before ``before`` (a linked one only when every
        account of its cluster is), then renumber what the detector keeps by account."""
        st = self.state
        idle = st.col("last_ts") < before
        if not idle.any():
            return
        if self._link is not None:
            labels = self._link.extended(st.size).labels
            linked = labels >= 0
            busy = (
                np.bincount(labels[linked], weights=(~idle[linked]).astype(float), minlength=self._link.n_clusters) > 0
            )
            idle[linked] &= ~busy[labels[linked]]
        gone = np.flatnonzero(idle)
        if not len(gone):
            return
        names, gone_set = st.names, set(gone.tolist())
        last = {v.account_id: v for v in self.verdicts()}
        actions, changes = self.actions, self.changes
        records = {}
        for s in st.export_summaries([a for a in gone.tolist() if a not in self._absorbed]):  # the owner keeps others
            records[s.account_id] = Archived(
                summary=s,
                verdict=last.get(s.account_id),
                flagged_at=changes.flagged_at.get(st.ids[s.account_id]),
                action=actions.current[SubjectKind.account].get(s.account_id),
                reached=actions.reached[SubjectKind.account].get(s.account_id, {}),
            )
        self.archive.put(records)
        self.left.extend(records)
        for a in gone.tolist():
            actions.current[SubjectKind.account].pop(names[a], None)
            actions.reached[SubjectKind.account].pop(names[a], None)
        for cid in [cid for cid, m in changes.members.items() if m and m <= gone_set]:  # retired quietly, not lifted
            changes.members.pop(cid)
            changes.cluster_flagged_at.pop(cid, None)
            actions.current[SubjectKind.cluster].pop(cid, None)
            actions.reached[SubjectKind.cluster].pop(cid, None)
        new_id = st.remove(gone).tolist()
        changes.renumber(new_id)
        self._absorbed = {new_id[a] for a in self._absorbed if new_id[a] >= 0}
        self.last, self._link, self._hoods = None, None, None  # re-linked and scored in full next
        self._memo = AccountMemo(self.policy)  # it holds accounts by their old ids

    def _bring_back(self, account_id: str) -> None:
        """Restore an archived account (as it left) before its new event is counted."""
        rec = self.archive.take(account_id)
        if rec is None:
            return
        self.state.absorb_summaries([rec.summary])
        if rec.flagged_at is not None:
            self.changes.flagged_at[self.state.ids[account_id]] = rec.flagged_at
        if rec.action is not None:
            self.actions.current[SubjectKind.account][account_id] = rec.action
        if rec.reached:
            self.actions.reached[SubjectKind.account][account_id] = rec.reached

    def archived_verdicts(self) -> list[AccountVerdict]:
        """The last verdict of every archived account (idle past the retention horizon), in account id order."""
        return self.archive.verdicts()

    # ---- results (as of the last re-scoring; call flush() first for what arrived since) ---------
    def verdicts(self) -> list[AccountVerdict]:
        """The verdict of every account scored, in first-seen order ([] before the first re-scoring)."""
        return list(self.iter_verdicts())

    def iter_verdicts(self) -> Iterator[AccountVerdict]:
        """:meth:`verdicts` one at a time, so that writing them out never holds them all (read them through before
        feeding the detector again)."""
        if self.last is None:
            return iter(())
        return Records(self.last, self.state, self.model, self.policy).accounts(
            self.changes.flagged_at, self.actions.reached["account"]
        )

    def clusters(self) -> list[ClusterVerdict]:
        """Every cluster of two or more linked accounts, highest score first ([] before the first re-scoring)."""
        if self.last is None:
            return []
        return Records(self.last, self.state, self.model, self.policy).clusters(
            self.changes.cluster_flagged_at, self.actions.reached["cluster"]
        )

    def features(self) -> Features:
        """The accounts scored and their feature matrix (a copy; no rows before the first re-scoring)."""
        if self.last is None:
            return Features((), FEATURES, np.zeros((0, len(FEATURES))))
        return Features(tuple(self.state.names[: self.last.accounts]), FEATURES, self.last.X.copy())
