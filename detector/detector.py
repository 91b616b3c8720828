"""The one detection object: feed events in time order, re-score at window boundaries.

``detect`` runs it over a file, the stream worker over micro-batches of a partition, notebooks over
whatever they load. A re-scoring folds the buffered events, recomputes features, re-links accounts,
scores them and reports what changed (accounts or clusters newly flagged, unflagged or regrouped).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec
import numpy as np

from distillguard.detector.context import behaviour_context, groups_of, static_context
from distillguard.detector.events import Event
from distillguard.detector.features import IDX, account_features, new_models, release_hour
from distillguard.detector.linking import Linkage, link_accounts
from distillguard.detector.model import DetectionModel, load_model
from distillguard.detector.reasons import account_reasons, cluster_reasons, iso
from distillguard.detector.records import AccountVerdict, Change, ClusterVerdict
from distillguard.detector.state import INDICATORS, VERIFICATION, AccountState, AccountSummary
from distillguard.detector.units import HOUR, MINUTE

RELINK_GROWTH = 0.02  # re-link when the accounts seen grew by 2% since the last linking...
RELINK_EVERY = HOUR  # ...or an hour of event time passed (and always on flush)
# The state packs hours since 1970 into unsigned key bits, so earlier times cannot be counted.
BEFORE_EPOCH = "ts is before 1970-01-01T00:00:00Z"
SHARED_KINDS = {"card": "payment_fingerprint", "api_key": "api_key", "ip": "ip", "subnet": "subnet", "asn": "asn", "client": "client"}


@dataclass
class Scoring:
    """The outcome of one re-scoring."""

    at: float
    X: np.ndarray
    link: Linkage
    context: np.ndarray
    score: np.ndarray
    behaviour: np.ndarray
    anomaly: np.ndarray
    cluster_ids: list[str]  # by cluster label
    cluster_score: np.ndarray
    final_in: np.ndarray  # cluster context + behaviour context, to detect rows needing a new final score
    newest_model: str | None = None  # name of the newest released model ("" if none), computed once
    shared: tuple[int, dict[int, dict[str, list[str]]]] | None = None  # (state generation, shared indicators per cluster)


def _top_shared(state: AccountState, store: dict[int, int], labels: np.ndarray, limit: int) -> dict[int, list[int]]:
    """Per cluster label: the values of ``store`` (``acct << 32 | value``) held by two or more of its
    members, most held first (ties: smaller value first), at most ``limit``."""
    a, v, _ = state.pairs(store, 32)
    a, v = a[a < len(labels)], v[a < len(labels)]
    lab = labels[a]
    sel = lab >= 0
    keys, counts = np.unique((lab[sel] << 32) | v[sel], return_counts=True)
    keep = counts >= 2
    keys, counts = keys[keep], counts[keep]
    lab, v = keys >> 32, keys & 0xFFFFFFFF
    order = np.lexsort((v, -counts, lab))
    lab, v = lab[order], v[order]
    if not len(lab):
        return {}
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    ends = np.r_[starts[1:], len(lab)]
    return {int(lab[i]): v[i : min(e, i + limit)].tolist() for i, e in zip(starts.tolist(), ends.tolist(), strict=True)}


def shared_indicators(state: AccountState, labels: np.ndarray) -> dict[int, dict[str, list[str]]]:
    """Per cluster label: the indicators (cards, IPs, clients ...; at most 25 each) and prompt templates
    (at most 10 openings/closings) that two or more of its members share, most shared first."""
    out: dict[int, dict[str, list[str]]] = {}
    for kind in INDICATORS:
        names = list(state.interned[kind])
        for k, vals in _top_shared(state, state.links[kind], labels, 25).items():
            out.setdefault(k, {})[SHARED_KINDS[kind]] = [names[i] for i in vals]
    for k, vals in _top_shared(state, state.templates, labels, 10).items():
        out.setdefault(k, {})["template"] = [state.template_text.get(i, "") for i in vals]
    return out


class Detector:
    """Incremental detector over a stream of :class:`~detector.events.Event` in event-time order."""

    def __init__(
        self,
        model: DetectionModel | None = None,
        *,
        window_minutes: float = 15.0,
        dedup_horizon_hours: float = 24.0,
        max_future_minutes: float = 60.0,
    ) -> None:
        self.model = model if model is not None else load_model()
        self.window = window_minutes * MINUTE
        self.state = AccountState(dedup_horizon_hours=dedup_horizon_hours, max_future_minutes=max_future_minutes)
        self.window_end: float | None = None
        self.last: Scoring | None = None
        self.flagged_at: dict[int, float] = {}
        self.cluster_flagged_at: dict[str, float] = {}
        self._cluster_of: dict[int, str] = {}
        self._prev_members: dict[str, frozenset[int]] = {}
        self._absorbed: dict[int, list[tuple[str, int]]] = {}
        self._link: Linkage | None = None
        self._link_accounts = 0
        self._link_at = -np.inf
        self.rescores = 0

    # ---- feeding ---------------------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, int]:
        """Counters: events accepted, duplicates ignored, late, rejected, re-scorings, accounts."""
        return {**self.state.stats, "rescores": self.rescores, "accounts": self.state.size}

    def process(self, events: Iterable[Event], on_reject: Callable[[Event, str], None] | None = None) -> list[Change]:
        """Consume events; re-score whenever event time crosses a window boundary. Rejected events
        (too far in the future, older than the de-duplication horizon, or before 1970) go to ``on_reject``."""
        changes: list[Change] = []
        w = self.window
        add = self.state.add
        for ev in events:
            ts = ev.ts.timestamp()
            if ts < 0:
                self.state.stats["rejected"] += 1
                if on_reject is not None:
                    on_reject(ev, BEFORE_EPOCH)
                continue
            if self.window_end is not None and ts >= self.window_end and self.state.reject_reason(ev, ts) is None:
                changes.extend(self.rescore(self.window_end))
                self.window_end = (ts // w + 1) * w
            rejected = add(ev, ts)
            if rejected is not None:
                if on_reject is not None:
                    on_reject(rejected.event, rejected.reason)
            elif self.window_end is None:  # the first accepted event starts the windows
                self.window_end = (ts // w + 1) * w
        return changes

    def flush(self) -> list[Change]:
        """Re-score now, at the latest event time seen (end of a file or a drained stream)."""
        if self.state.size == 0:
            return []
        return self.rescore(self.state.watermark, relink=True)

    def summaries(self, changed_only: bool = True) -> list[AccountSummary]:
        """Summaries of this detector's accounts (changed since the last call, or all) for the linking stage."""
        return self.state.export_summaries(None if changed_only else list(range(self.state.size)))

    def ingest_summaries(self, summaries: Iterable[AccountSummary]) -> None:
        """Take in accounts owned by other workers (each summary replaces that account's previous one)."""
        self.state.absorb_summaries(list(summaries), self._absorbed)

    # ---- persistence -----------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Everything needed to continue exactly where this detector is (msgpack, no pickle)."""
        names = self.state.names
        doc = {
            "v": 1, "state": self.state.snapshot(), "window": self.window,
            "window_end": self.window_end, "rescores": self.rescores,
            "flagged_at": {names[a]: t for a, t in self.flagged_at.items()},
            "cluster_flagged_at": self.cluster_flagged_at,
            "cluster_of": {names[a]: c for a, c in self._cluster_of.items()},
            "prev_members": {c: [names[a] for a in m] for c, m in self._prev_members.items()},
            "absorbed": {names[a]: keys for a, keys in self._absorbed.items()},
            "link": None if self._link is None else self._link.to_doc(), "link_accounts": self._link_accounts,
            "link_at": self._link_at if np.isfinite(self._link_at) else None,
        }
        return msgspec.msgpack.encode(doc)

    @classmethod
    def restore(cls, data: bytes, model: DetectionModel | None = None) -> Detector:
        """A detector continuing from :meth:`snapshot` bytes."""
        doc = msgspec.msgpack.decode(data)
        if doc.get("v") != 1:
            raise ValueError(f"unsupported detector snapshot version {doc.get('v')!r}")
        det = cls(model, window_minutes=doc["window"] / MINUTE)
        det.state = AccountState.restore(doc["state"])
        ids = det.state.ids
        det.window_end = doc["window_end"]
        det.rescores = doc["rescores"]
        det.flagged_at = {ids[n]: t for n, t in doc["flagged_at"].items()}
        det.cluster_flagged_at = doc["cluster_flagged_at"]
        det._cluster_of = {ids[n]: c for n, c in doc["cluster_of"].items()}
        det._prev_members = {c: frozenset(ids[n] for n in m) for c, m in doc["prev_members"].items()}
        det._absorbed = {ids[n]: [tuple(k) for k in keys] for n, keys in doc["absorbed"].items()}
        det._link = None if doc["link"] is None else Linkage.from_doc(doc["link"])
        det._link_accounts = doc["link_accounts"]
        det._link_at = -np.inf if doc["link_at"] is None else doc["link_at"]
        return det

    # ---- scoring ---------------------------------------------------------------------------------
    def rescore(self, at: float, relink: bool = False) -> list[Change]:
        """Score every account as of event time ``at`` and return what changed. Accounts are re-linked
        when forced, when the accounts seen grew by ``RELINK_GROWTH`` or after ``RELINK_EVERY`` of event
        time; in between, the last linking is reused (linking is the costly part at scale)."""
        st = self.state
        st.fold()
        cutoff = st.timeline_cutoff()
        if cutoff is not None:
            st.retire_timeline(cutoff, release_hour(st))
        X = account_features(st)
        if relink or self._link is None or st.size >= self._link_accounts * (1 + RELINK_GROWTH) or at - self._link_at >= RELINK_EVERY:
            self._link, self._link_accounts, self._link_at = link_accounts(st), st.size, at
        link = self._link.extended(st.size)
        ctx = static_context(st, link, X)
        score, behaviour, anomaly = self._score(X, groups_of(link), ctx)
        members = link.members()
        cluster_ids = self._stable_ids(members)
        cluster_score = np.array([float(np.median(score[m])) for m in members])
        self.last = Scoring(at, X, link, ctx, score, behaviour, anomaly, cluster_ids, cluster_score, self._final_in)
        self.rescores += 1
        return self._changes(at)

    def _score(self, X: np.ndarray, groups: np.ndarray, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Score, re-running the models only on rows whose inputs changed since the last scoring
        (the models score row by row, so the result equals scoring everything)."""
        n, prev = len(X), self.last
        m = 0 if prev is None else len(prev.X)
        changed = np.ones(n, dtype=bool)
        if m:
            changed[:m] = np.any(X[:m] != prev.X, axis=1)
        anomaly, behaviour = np.zeros(n), np.zeros(n)
        if m:
            anomaly[:m], behaviour[:m] = prev.anomaly, prev.behaviour
        anomaly[changed], behaviour[changed] = self.model.behaviour(X[changed])
        bctx = behaviour_context(groups, behaviour)
        final_in = np.column_stack([ctx, bctx])
        redo = changed.copy()
        score = np.zeros(n)
        if m:
            redo[:m] |= np.any(final_in[:m] != prev.final_in, axis=1)
            score[:m] = prev.score
        score[redo] = self.model.final(X[redo], anomaly[redo], ctx[redo], bctx[redo])
        self._final_in = final_in
        return score, behaviour, anomaly

    def _stable_ids(self, members: list[np.ndarray]) -> list[str]:
        """Keep a cluster's id across re-scorings: the id most of its members had, largest cluster first."""
        ids: list[str | None] = [None] * len(members)
        taken: set[str] = set()
        for k in sorted(range(len(members)), key=lambda i: -len(members[i])):
            votes = Counter(self._cluster_of.get(int(a)) for a in members[k])
            votes.pop(None, None)
            for cid, _ in votes.most_common():
                if cid not in taken:
                    ids[k] = cid
                    break
            if ids[k] is None:
                first = min(self.state.names[int(a)] for a in members[k])
                ids[k] = "cl-" + hashlib.sha1(first.encode()).hexdigest()[:12]
                while ids[k] in taken:
                    ids[k] = "cl-" + hashlib.sha1(ids[k].encode()).hexdigest()[:12]
            taken.add(ids[k])  # type: ignore[arg-type]
        return ids  # type: ignore[return-value]

    def _changes(self, at: float) -> list[Change]:
        s = self.last
        assert s is not None
        thr = self.model.threshold
        when = iso(at)
        changes: list[Change] = []
        labels = s.link.labels
        new_cluster_of = {int(a): s.cluster_ids[int(labels[a])] for a in np.nonzero(labels >= 0)[0]}
        flagged = np.nonzero(s.score >= thr)[0]
        now_flagged = set(flagged.tolist())
        for a in sorted(now_flagged - self.flagged_at.keys()):
            self.flagged_at[a] = at
            changes.append(self._account_change(a, "flagged", when, new_cluster_of.get(a)))
        for a in sorted(self.flagged_at.keys() - now_flagged):
            del self.flagged_at[a]
            changes.append(self._account_change(a, "unflagged", when, new_cluster_of.get(a)))
        for a in sorted(now_flagged):
            if a in self.flagged_at and self.flagged_at[a] != at and self._cluster_of.get(a) != new_cluster_of.get(a):
                changes.append(self._account_change(a, "changed", when, new_cluster_of.get(a)))
        members = s.link.members()
        current: dict[str, frozenset[int]] = {}
        for k, cid in enumerate(s.cluster_ids):
            current[cid] = frozenset(members[k].tolist())
            is_flagged = s.cluster_score[k] >= thr
            was = cid in self.cluster_flagged_at
            if is_flagged and not was:
                self.cluster_flagged_at[cid] = at
                kind = "flagged"
            elif was and not is_flagged:
                del self.cluster_flagged_at[cid]
                kind = "unflagged"
            elif is_flagged and self._prev_members.get(cid) != current[cid]:
                kind = "changed"
            else:
                continue
            names = [self.state.names[a] for a in sorted(current[cid])]
            changes.append(Change(kind="cluster", id=cid, at=when, change=kind, score=round(float(s.cluster_score[k]), 6),
                                  reasons=self._cluster_reasons(k, members[k])[0], cluster_id=cid, members=names))
        for cid in list(self.cluster_flagged_at):
            if cid not in current:
                del self.cluster_flagged_at[cid]
                changes.append(Change(kind="cluster", id=cid, at=when, change="unflagged", score=0.0, reasons=["cluster dissolved"], cluster_id=cid, members=[]))
        self._cluster_of = new_cluster_of
        self._prev_members = current
        return changes

    def _account_change(self, a: int, kind: str, when, cluster_id: str | None) -> Change:
        s = self.last
        assert s is not None
        return Change(kind="account", id=self.state.names[a], at=when, change=kind, score=round(float(s.score[a]), 6),
                      reasons=self._account_reasons(a), cluster_id=cluster_id)

    # ---- evidence --------------------------------------------------------------------------------
    def _newest_model_name(self) -> str | None:
        s = self.last
        assert s is not None
        if s.newest_model is None:
            released = new_models(self.state)
            s.newest_model = list(self.state.interned["model"])[max(released, key=released.get)] if released else ""  # type: ignore[arg-type]
        return s.newest_model or None

    def _account_reasons(self, a: int) -> list[str]:
        s = self.last
        assert s is not None
        n = int(self.state.col("n")[a])
        mean_out = float(self.state.col("out_tok")[a] / max(n, 1))
        own = account_reasons(s.X[a], n, mean_out, float(s.anomaly[a]), self._newest_model_name())
        k = int(s.link.labels[a])
        if k >= 0:
            size = int((s.link.labels == k).sum())
            lead = f"member of cluster {s.cluster_ids[k]} ({size} accounts, cluster score {s.cluster_score[k]:.2f})"
            own = [lead, *own]
        if not own:
            own = [f"score {s.score[a]:.2f}; no single piece of evidence stands out"]
        return own

    def _shared(self, k: int) -> dict[str, list[str]]:
        """Indicators that two or more members of cluster ``k`` share (computed for every cluster at once,
        once per re-scoring and state change)."""
        s = self.last
        assert s is not None
        if s.shared is None or s.shared[0] != self.state.generation:
            s.shared = (self.state.generation, shared_indicators(self.state, s.link.labels))
        return s.shared[1].get(k, {})

    def _cluster_reasons(self, k: int, member_idx: np.ndarray) -> tuple[list[str], dict[str, list[str]]]:
        s = self.last
        assert s is not None
        st = self.state
        shared = self._shared(k)
        paths = Counter(VERIFICATION[v] for v in st.col("verification")[member_idx].tolist() if v >= 0)
        n_req = int(st.col("n")[member_idx].sum())
        reasons = cluster_reasons(len(member_idx), shared, st.col("created")[member_idx], dict(paths), s.context[member_idx[0]], n_req)
        return reasons or [f"{len(member_idx)} linked accounts; cluster score {s.cluster_score[k]:.2f}"], shared

    # ---- results ---------------------------------------------------------------------------------
    def verdicts(self) -> list[AccountVerdict]:
        """The current verdict of every account seen, in first-seen order."""
        if self.last is None or len(self.last.score) < self.state.size:
            self.flush()
        s = self.last
        st = self.state
        if s is None:
            return []
        thr = self.model.threshold
        models = list(st.interned["model"])
        orgs = list(st.interned["org"])
        ca, cm, _ = st.pairs(st.model_count, 20)
        by_acct_models: dict[int, list[str]] = {}
        for a, m in zip(ca.tolist(), cm.tolist(), strict=True):
            by_acct_models.setdefault(a, []).append(models[m])
        ta, th, tc = st.pairs(st.timeline, 24)
        hourly: dict[int, dict[str, int]] = {}
        hour_label = {h: iso(h * HOUR).strftime("%Y-%m-%dT%H") for h in np.unique(th).tolist()}  # type: ignore[union-attr]
        for a, h, c in zip(ta.tolist(), th.tolist(), tc.tolist(), strict=True):
            hourly.setdefault(a, {})[hour_label[h]] = c
        out = []
        first, last, n = st.col("first_ts"), st.col("last_ts"), st.col("n")
        ver, org = st.col("verification"), st.col("org")
        for a, name in enumerate(st.names):
            k = int(s.link.labels[a])
            is_flagged = bool(s.score[a] >= thr)
            out.append(AccountVerdict(
                account_id=name, score=round(float(s.score[a]), 6), flagged=is_flagged,
                cluster_id=s.cluster_ids[k] if k >= 0 else None,
                flagged_at=iso(self.flagged_at[a]) if is_flagged and a in self.flagged_at else None,
                reasons=self._account_reasons(a) if s.score[a] >= 0.5 * thr else [],
                n_requests=int(n[a]), first_seen=iso(first[a]), last_seen=iso(last[a]), model_version=self.model.version,
                org_id=orgs[org[a]] if org[a] >= 0 else None, verification_path=VERIFICATION[ver[a]] if ver[a] >= 0 else None,
                models=sorted(by_acct_models.get(a, [])), hourly_requests=dict(sorted(hourly.get(a, {}).items())),
                sample_prompts=st.samples.get(a, []),
            ))
        return out

    def clusters(self) -> list[ClusterVerdict]:
        """Every cluster of two or more linked accounts, highest score first."""
        if self.last is None or len(self.last.score) < self.state.size:
            self.flush()
        s = self.last
        if s is None:
            return []
        st = self.state
        members = s.link.members()
        out = []
        first, last, n = st.col("first_ts"), st.col("last_ts"), st.col("n")
        linked = self._linked_clusters(members)
        for k, cid in enumerate(s.cluster_ids):
            m = members[k]
            reasons, shared = self._cluster_reasons(k, m)
            is_flagged = bool(s.cluster_score[k] >= self.model.threshold)
            out.append(ClusterVerdict(
                cluster_id=cid, members=sorted(st.names[int(a)] for a in m), score=round(float(s.cluster_score[k]), 6),
                flagged=is_flagged, flagged_at=iso(self.cluster_flagged_at.get(cid)) if is_flagged else None,
                shared_indicators=shared, reasons=reasons, n_requests=int(n[m].sum()), first_seen=iso(float(first[m].min())),
                last_seen=iso(float(last[m].max())), model_version=self.model.version, linked_clusters=linked.get(k, []),
            ))
        out.sort(key=lambda c: (-c.score, c.cluster_id))
        return out

    def _linked_clusters(self, members: list[np.ndarray]) -> dict[int, list[str]]:
        """Clusters sharing a single indicator (an IP, a subnet, a client build) without being linked."""
        s = self.last
        assert s is not None
        lab = s.link.labels
        out: dict[int, set[str]] = {}
        for kind in ("ip", "subnet", "client"):
            a, v, _ = self.state.pairs(self.state.links[kind], 32)
            sel = lab[a] >= 0
            cv = np.unique(np.column_stack([v[sel], lab[a[sel]]]), axis=0)
            if len(cv) < 2:
                continue
            same = np.nonzero(cv[1:, 0] == cv[:-1, 0])[0]
            for i in same.tolist():
                x, y = int(cv[i, 1]), int(cv[i + 1, 1])
                out.setdefault(x, set()).add(s.cluster_ids[y])
                out.setdefault(y, set()).add(s.cluster_ids[x])
        return {k: sorted(v)[:20] for k, v in out.items()}
