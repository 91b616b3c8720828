"""Verdict and cluster records from a scoring: scores, flags, and the reasons and evidence behind them.

:class:`Records` only reads its scoring and the state (and keeps an :class:`AccountMemo` it is given up to date).
:func:`newest_model` is computed once per re-scoring, into the scoring; :func:`shared_indicators`, a pass over every
indicator, once per :class:`Records` that needs it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import numpy as np

from distillguard.detector.attachment import Attachment, attach
from distillguard.detector.cohorts import NONE, PROFILE_COLUMNS, profile
from distillguard.detector.features import new_models
from distillguard.detector.ladder import Decision, Evidence, EvidenceKind, Subject, account_action, cluster_action
from distillguard.detector.model import DetectionModel
from distillguard.detector.policy import Policy
from distillguard.detector.reasons import (
    CROWD_BEHAVIOUR,
    account_reasons,
    alike,
    cluster_behaviour_reasons,
    cluster_reasons,
    created_span,
    crowd_reason,
    iso,
    shared_parts,
)
from distillguard.detector.records import AccountVerdict, Action, ClusterVerdict, rank
from distillguard.detector.scoring import Scoring
from distillguard.detector.state import HOUR_BITS, INDICATORS, MODEL_BITS, VALUE_BITS, VERIFICATION, AccountState
from distillguard.detector.store import Store
from distillguard.detector.units import HOUR

SHARED_KINDS = {
    "card": "payment_fingerprint",
    "api_key": "api_key",
    "ip": "ip",
    "subnet": "subnet",
    "asn": "asn",
    "client": "client",
}
SHARED_VALUES_MAX = 25  # values listed per shared indicator kind of a cluster, most shared first
SHARED_TEMPLATES_MAX = 10  # prompt templates (openings and closings) listed per cluster
LINKED_KINDS = ("ip", "subnet", "client")  # a single one of these shared makes two clusters "linked"
LINKED_CLUSTERS_MAX = 20  # linked clusters listed per cluster
REASONS_FROM = 0.5  # account verdicts scoring at least this share of the flag threshold carry reasons
NO_EVIDENCE: frozenset[EvidenceKind] = frozenset()  # one empty set for every subject without evidence (most)


def _top_shared(a: np.ndarray, v: np.ndarray, labels: np.ndarray, limit: int) -> dict[int, list[int]]:
    """Per cluster label: the values ``v`` (held by accounts ``a``) held by two or more of its members, most held
    first (ties: smaller value first), at most ``limit``."""
    a, v = a[a < len(labels)], v[a < len(labels)]
    lab = labels[a]
    sel = lab >= 0
    keys, counts = np.unique((lab[sel] << VALUE_BITS) | v[sel], return_counts=True)
    keep = counts >= 2
    keys, counts = keys[keep], counts[keep]
    lab, v = keys >> VALUE_BITS, keys & ((1 << VALUE_BITS) - 1)
    order = np.lexsort((v, -counts, lab))
    lab, v = lab[order], v[order]
    if not len(lab):
        return {}
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    ends = np.r_[starts[1:], len(lab)]
    return {int(lab[i]): v[i : min(e, i + limit)].tolist() for i, e in zip(starts.tolist(), ends.tolist(), strict=True)}


def shared_indicators(state: AccountState, labels: np.ndarray) -> dict[int, dict[str, list[str]]]:
    """Per cluster label: the indicators (cards, IPs, clients ...; at most ``SHARED_VALUES_MAX`` each) and
    prompt templates (at most ``SHARED_TEMPLATES_MAX``) that two or more of its members share, most shared first."""
    out: dict[int, dict[str, list[str]]] = {}
    for kind in INDICATORS:
        names = list(state.interned[kind])
        a, v, _ = state.links[kind].split(VALUE_BITS)
        for k, vals in _top_shared(a, v, labels, SHARED_VALUES_MAX).items():
            out.setdefault(k, {})[SHARED_KINDS[kind]] = [names[i] for i in vals]
    a, v, _ = state.templates.split(VALUE_BITS)
    for k, vals in _top_shared(a, v, labels, SHARED_TEMPLATES_MAX).items():
        out.setdefault(k, {})["template"] = [state.template_text.get(i, "") for i in vals]
    return out


def newest_model(state: AccountState) -> str | None:
    """The name of the newest released model, None if none has been released."""
    released = new_models(state)
    return list(state.interned["model"])[max(released, key=released.get)] if released else None  # type: ignore[arg-type]


@dataclass
class AccountMemo:
    """Per account, its last own reasons and ladder decision with the inputs they came from (both are pure functions
    of those inputs): a later scoring reuses them for an account whose inputs are the same, as most accounts' are from
    one re-scoring to the next. Kept by the detector across re-scorings, for one ``policy``."""

    policy: Policy
    reasons: dict[int, tuple[bytes, str | None, list[str]]] = field(default_factory=dict)
    decisions: dict[int, tuple[Subject, Decision]] = field(default_factory=dict)


class Records:
    """The records of one scoring: account and cluster verdicts, and the reasons for changes.

    Per-account context (requests, first and last seen, models, hourly counts, sample prompts) comes
    from ``state`` as last folded; re-scoring folds, so right after it that is the state it scored."""

    def __init__(
        self,
        scoring: Scoring,
        state: AccountState,
        model: DetectionModel,
        policy: Policy,
        memo: AccountMemo | None = None,
    ) -> None:
        self.scoring = scoring
        self.state = state
        self.threshold = model.threshold
        self.version = model.version
        self.policy = policy
        self.probability = model.probability(scoring.score)
        self.cluster_probability = model.probability(scoring.cluster_score)
        self._evidence_from = policy.evidence_from(policy.accounts), policy.evidence_from(policy.clusters)
        self._accounts: dict[int, tuple[Subject, Decision]] = {}
        self._clusters: dict[int, tuple[Subject, Decision]] = {}
        self._cluster_evidence: dict[int, tuple[Evidence, ...]] = {}
        self._memo = memo if memo is not None and memo.policy is policy else None

    @cached_property
    def shared(self) -> dict[int, dict[str, list[str]]]:
        """Per cluster label: the indicators two or more members share (computed for all clusters at once, when
        first needed: a re-scoring that changes no flagged cluster never needs them)."""
        return shared_indicators(self.state, self.scoring.link.labels)

    @cached_property
    def _profiles(self) -> np.ndarray:
        """The PROFILE values of the accounts with a neighbourhood (rows)."""
        X = self.scoring.X
        return X[profile(X)[1]][:, list(PROFILE_COLUMNS)]

    @cached_property
    def typical_profile(self) -> np.ndarray:
        """The population's median of each PROFILE feature, over accounts with a neighbourhood."""
        return np.median(self._profiles, axis=0) if len(self._profiles) else np.zeros(len(PROFILE_COLUMNS))

    @cached_property
    def crowd_behaviour(self) -> np.ndarray:
        """Each account's neighbours' mean behaviour score (NaN without neighbours), all accounts at once."""
        s = self.scoring
        nb = s.hoods.neighbours
        has = nb != NONE
        total = np.where(has, s.behaviour[np.where(has, nb, 0)], 0.0).sum(axis=1)
        count = has.sum(axis=1)
        return np.divide(total, count, out=np.full(len(count), np.nan), where=count > 0)

    def crowd_reason(self, a: int) -> str | None:
        """What account ``a``'s behavioural neighbourhood says, if it is crowded and harvest-like."""
        if not self.has_crowd(a):
            return None
        s = self.scoring
        nb = s.hoods.neighbours[a]
        nb = nb[nb != NONE]
        crowd = np.median(np.vstack([s.X[nb], s.X[a : a + 1]])[:, list(PROFILE_COLUMNS)], axis=0)
        k = int(s.link.labels[a])
        linked = int((s.link.labels[nb] == k).sum()) if k >= 0 else 0
        behaviour = float(self.crowd_behaviour[a])
        rarity = (alike(self._profiles, crowd, self.typical_profile), len(self._profiles))
        return crowd_reason(float(s.hoods.density[a]), behaviour, linked, crowd, self.typical_profile, len(nb), rarity)

    def own_reasons(self, a: int) -> list[str]:
        """What stands out in account ``a``'s own behaviour."""
        s, row = self.scoring, self._per_account
        n, anomaly = row["n"][a], row["anomaly"][a]
        mean_out = row["out_tok"][a] / max(n, 1)
        if self._memo is None:
            return account_reasons(s.X[a], n, mean_out, anomaly, s.newest_model)
        key = s.X[a].tobytes() + np.array([n, mean_out, anomaly]).tobytes()
        hit = self._memo.reasons.get(a)
        if hit is None or hit[0] != key or hit[1] != s.newest_model:
            hit = key, s.newest_model, account_reasons(s.X[a], n, mean_out, anomaly, s.newest_model)
            self._memo.reasons[a] = hit
        return list(hit[2])  # callers extend it

    def account_reasons(self, a: int) -> list[str]:
        """Why account ``a`` scores as it does: its cluster first, then what stands out in its behaviour."""
        s = self.scoring
        own = self.own_reasons(a)
        if crowd := self.crowd_reason(a):
            own.append(crowd)
        k = int(s.link.labels[a])
        if k >= 0:
            lead = f"member of cluster {s.cluster_ids[k]} ({len(s.members[k])} accounts, cluster score {s.cluster_score[k]:.2f})"
            own = [lead, *own]
        if not own:
            own = [f"score {s.score[a]:.2f}; no single piece of evidence stands out"]
        return own

    def cluster_reasons(self, k: int) -> list[str]:
        """What links cluster ``k`` and what it does together."""
        s, st = self.scoring, self.state
        m = s.members[k]
        paths = Counter(VERIFICATION[v] for v in st.col("verification")[m].tolist() if v >= 0)
        n_req = int(st.col("n")[m].sum())
        reasons = cluster_reasons(
            len(m), self.shared.get(k, {}), st.col("created")[m], dict(paths), s.context[m[0]], n_req
        )
        return reasons or [f"{len(m)} linked accounts; cluster score {s.cluster_score[k]:.2f}"]

    def cluster_evidence(self, k: int) -> tuple[Evidence, ...]:
        """The linking evidence of cluster ``k``: one piece per kind of indicator its members share, and their
        creation burst."""
        if k not in self._cluster_evidence:
            s = self.scoring
            m, cid = s.members[k], s.cluster_ids[k]
            shared: dict[str, list[str]] = {}
            for group, text in shared_parts(self.shared.get(k, {})):
                shared.setdefault(group, []).append(text)
            who = f"the {len(m)} accounts of cluster {cid}"
            out = [Evidence(EvidenceKind(g), f"{who} share {' and '.join(t)}") for g, t in shared.items()]
            if (span := created_span(self.state.col("created")[m])) is not None:
                out.append(Evidence(EvidenceKind.creation_burst, f"{who} were created within {span:.1f} hours"))
            self._cluster_evidence[k] = tuple(out)
        return self._cluster_evidence[k]

    @cached_property
    def attachment(self) -> Attachment:
        """Accounts in no cluster sending through a flagged cluster's exits (computed for all at once, when first
        needed)."""
        s = self.scoring
        return attach(self.state, s.link.labels, s.cluster_score >= self.threshold)

    def attached_evidence(self, a: int) -> Evidence | None:
        """The flagged cluster whose exits account ``a`` (in no cluster) sends through, in words; only for an
        account whose own behaviour stands out (a customer of a reseller on the same exits is ordinary)."""
        if int(self.scoring.link.labels[a]) >= 0:
            return None
        k = int(self.attachment.cluster[a])
        if k < 0 or not self.own_reasons(a):
            return None
        at = self.attachment
        s = self.scoring
        n, exits = int(self.state.col("n")[a]), int(at.exits[a])
        return Evidence(
            EvidenceKind.network,
            f"{int(at.requests[a])} of its {n} requests came through {exits} address{'es' if exits != 1 else ''} "
            f"that flagged cluster {s.cluster_ids[k]} ({len(s.members[k])} accounts) rotates through (its accounts "
            "are most of their users), from a client build of that cluster",
        )

    def has_crowd(self, a: int) -> bool:
        """Whether account ``a``'s behavioural neighbourhood is harvest-like (what :meth:`crowd_reason` describes)."""
        return self._per_account["crowd"][a]

    @cached_property
    def _per_account(self) -> dict[str, list]:
        """What the per-account decisions read, as Python values by account (read once: numpy scalars cost more)."""
        s, st = self.scoring, self.state
        return {
            "probability": self.probability.tolist(),
            "label": s.link.labels.tolist(),
            "anomaly": s.anomaly.tolist(),
            "n": st.col("n").tolist(),
            "out_tok": st.col("out_tok").tolist(),
            "crowd": (self.crowd_behaviour >= CROWD_BEHAVIOUR).tolist(),  # NaN (no neighbours) is not
        }

    def account_evidence(self, a: int) -> tuple[Evidence, ...]:
        """Account ``a``'s evidence: its cluster's linking evidence, its own behaviour, its behavioural crowd."""
        k = int(self.scoring.link.labels[a])
        out = list(self.cluster_evidence(k)) if k >= 0 else []
        if k < 0 and (attached := self.attached_evidence(a)):
            out.append(attached)
        if own := self.own_reasons(a):
            out.append(Evidence(EvidenceKind.behaviour, "; ".join(own)))
        if crowd := self.crowd_reason(a):
            out.append(Evidence(EvidenceKind.crowd, crowd))
        return tuple(out)

    def _account_decision(self, a: int) -> tuple[Subject, Decision]:
        """Account ``a``'s subject and rung (kept, for the callers that ask for its action and basis apart)."""
        if a not in self._accounts:
            self._accounts[a] = self._decide_account(a)
        return self._accounts[a]

    def _decide_account(self, a: int) -> tuple[Subject, Decision]:
        """Account ``a``'s subject and rung. Evidence is only looked at for accounts probable enough for a rung that
        asks for it (looking at every account's at every re-scoring would cost more than the scoring)."""
        s, row = self.scoring, self._per_account
        p, k = row["probability"][a], row["label"][a]
        kinds: set[EvidenceKind] = set()
        if p >= self._evidence_from[0]:
            if k >= 0:
                kinds.update(e.kind for e in self.cluster_evidence(k))
            elif attached := self.attached_evidence(a):
                kinds.add(attached.kind)
            if self.own_reasons(a):
                kinds.add(EvidenceKind.behaviour)
            if self.has_crowd(a):
                kinds.add(EvidenceKind.crowd)
        subject = Subject(
            p, frozenset(kinds) if kinds else NO_EVIDENCE, len(s.members[k]) if k >= 0 else 1, row["n"][a]
        )
        return self._account_rung(a, subject)

    def _account_rung(self, a: int, subject: Subject) -> tuple[Subject, Decision]:
        """Account ``a``'s ``subject`` and its rung under the policy (the memo's, when it read the same subject)."""
        if self._memo is None:
            return subject, account_action(self.policy, subject)
        hit = self._memo.decisions.get(a)
        if hit is None or hit[0] != subject:
            hit = subject, account_action(self.policy, subject)
            self._memo.decisions[a] = hit
        return hit

    def account_action(self, a: int) -> Action:
        """Account ``a``'s rung of the response ladder."""
        return self._account_decision(a)[1].action

    def account_basis(self, a: int) -> list[str]:
        """What account ``a``'s rung rests on, in sentences (empty at ``none``)."""
        return self._basis(a, *self._account_decision(a))

    def _basis(self, a: int, subject: Subject, decision: Decision) -> list[str]:
        return decision.basis(subject, self.account_evidence(a) if decision.rung and subject.kinds else ())

    def _cluster_together(self, k: int) -> list[str]:
        s, st = self.scoring, self.state
        m = s.members[k]
        paths = Counter(VERIFICATION[v] for v in st.col("verification")[m].tolist() if v >= 0)
        return cluster_behaviour_reasons(
            len(m), self.shared.get(k, {}), dict(paths), s.context[m[0]], int(st.col("n")[m].sum())
        )

    def _cluster_decision(self, k: int) -> tuple[Subject, Decision]:
        if k not in self._clusters:
            m = self.scoring.members[k]
            p = float(self.cluster_probability[k])
            kinds: set[EvidenceKind] = set()
            if p >= self._evidence_from[1]:
                kinds.update(e.kind for e in self.cluster_evidence(k))
                if self._cluster_together(k):
                    kinds.add(EvidenceKind.behaviour)
            subject = Subject(p, frozenset(kinds) if kinds else NO_EVIDENCE, len(m), int(self.state.col("n")[m].sum()))
            self._clusters[k] = subject, cluster_action(self.policy, subject)
        return self._clusters[k]

    def cluster_action(self, k: int) -> Action:
        """Cluster ``k``'s rung of the response ladder."""
        return self._cluster_decision(k)[1].action

    def cluster_basis(self, k: int) -> list[str]:
        """What cluster ``k``'s rung rests on, in sentences (empty at ``none``)."""
        subject, decision = self._cluster_decision(k)
        if not (decision.rung and subject.kinds):
            return decision.basis(subject, ())
        evidence = self.cluster_evidence(k)
        if together := self._cluster_together(k):
            evidence = (*evidence, Evidence(EvidenceKind.behaviour, "; ".join(together)))
        return decision.basis(subject, evidence)

    def accounts(
        self, flagged_at: dict[int, float], reached: Mapping[str, Mapping[str, float]] | None = None
    ) -> Iterator[AccountVerdict]:
        """The verdict of every account scored, in first-seen order, one at a time (``flagged_at``: when each flagged
        account was flagged; ``reached``: by account name, when it first reached each rung)."""
        reached = reached or {}
        s, st = self.scoring, self.state
        thr = self.threshold
        orgs = list(st.interned["org"])
        models = _grouped(st.model_count, MODEL_BITS, s.accounts)
        model_names = list(st.interned["model"])
        hours = _grouped(st.timeline, HOUR_BITS, s.accounts)
        hour_label = {h: iso(h * HOUR).strftime("%Y-%m-%dT%H") for h in np.unique(hours.value).tolist()}  # type: ignore[union-attr]
        labels = [hour_label[h] for h in hours.value.tolist()]
        counts = hours.count.tolist()
        first, last, n = st.col("first_ts"), st.col("last_ts"), st.col("n")
        ver, org = st.col("verification"), st.col("org")
        for a in range(s.accounts):
            k = int(s.link.labels[a])
            is_flagged = bool(s.score[a] >= thr)
            # each account is visited once here: its decision is not kept (every account's would be held till the end)
            subject, decision = self._accounts.get(a) or self._decide_account(a)
            action = decision.action
            basis = self._basis(a, subject, decision) if action != Action.none else []
            yield AccountVerdict(
                account_id=st.names[a],
                score=round(float(s.score[a]), 6),
                flagged=is_flagged,
                cluster_id=s.cluster_ids[k] if k >= 0 else None,
                flagged_at=iso(flagged_at[a]) if is_flagged and a in flagged_at else None,
                reasons=self.account_reasons(a) if s.score[a] >= REASONS_FROM * thr else [],
                probability=round(float(self.probability[a]), 6),
                action=action,
                action_basis=basis,
                reached_at=_reached(reached.get(st.names[a], {})),
                n_requests=int(n[a]),
                first_seen=iso(first[a]),
                last_seen=iso(last[a]),
                model_version=self.version,
                org_id=orgs[org[a]] if org[a] >= 0 else None,
                verification_path=VERIFICATION[ver[a]] if ver[a] >= 0 else None,
                models=sorted(model_names[m] for m in models.value[models.start[a] : models.start[a + 1]].tolist()),
                hourly_requests=dict(
                    zip(
                        labels[hours.start[a] : hours.start[a + 1]],
                        counts[hours.start[a] : hours.start[a + 1]],
                        strict=True,
                    )
                ),
                sample_prompts=list(st.samples.get(a, ())),
            )

    def clusters(
        self, flagged_at: dict[str, float], reached: Mapping[str, Mapping[str, float]] | None = None
    ) -> list[ClusterVerdict]:
        """Every cluster of two or more linked accounts, highest score first (``flagged_at`` and ``reached`` by
        cluster id)."""
        reached = reached or {}
        s, st = self.scoring, self.state
        out = []
        first, last, n = st.col("first_ts"), st.col("last_ts"), st.col("n")
        linked = self._linked_clusters()
        for k, cid in enumerate(s.cluster_ids):
            m = s.members[k]
            is_flagged = bool(s.cluster_score[k] >= self.threshold)
            shared = {kind: list(values) for kind, values in self.shared.get(k, {}).items()}
            action = self.cluster_action(k)
            basis = self.cluster_basis(k) if action != Action.none else []
            out.append(
                ClusterVerdict(
                    cluster_id=cid,
                    members=sorted(st.names[int(a)] for a in m),
                    score=round(float(s.cluster_score[k]), 6),
                    flagged=is_flagged,
                    flagged_at=iso(flagged_at.get(cid)) if is_flagged else None,
                    shared_indicators=shared,
                    reasons=self.cluster_reasons(k),
                    probability=round(float(self.cluster_probability[k]), 6),
                    action=action,
                    action_basis=basis,
                    reached_at=_reached(reached.get(cid, {})),
                    n_requests=int(n[m].sum()),
                    first_seen=iso(float(first[m].min())),
                    last_seen=iso(float(last[m].max())),
                    model_version=self.version,
                    linked_clusters=linked.get(k, []),
                )
            )
        out.sort(key=lambda c: (-c.score, c.cluster_id))
        return out

    def _linked_clusters(self) -> dict[int, list[str]]:
        """Clusters sharing a single indicator (an IP, a subnet, a client build) without being linked."""
        s, st = self.scoring, self.state
        lab = s.link.labels
        out: dict[int, set[str]] = {}
        for kind in LINKED_KINDS:
            a, v, _ = st.links[kind].split(VALUE_BITS)
            scored = a < len(lab)
            a, v = a[scored], v[scored]
            sel = lab[a] >= 0
            cv = np.unique(np.column_stack([v[sel], lab[a[sel]]]), axis=0)
            if len(cv) < 2:
                continue
            same = np.nonzero(cv[1:, 0] == cv[:-1, 0])[0]
            for i in same.tolist():
                x, y = int(cv[i, 1]), int(cv[i + 1, 1])
                out.setdefault(x, set()).add(s.cluster_ids[y])
                out.setdefault(y, set()).add(s.cluster_ids[x])
        return {k: sorted(v)[:LINKED_CLUSTERS_MAX] for k, v in out.items()}


@dataclass(frozen=True)
class ByAccount:
    """A store's (value, count) entries grouped by account, values ascending within each: account ``a``'s are at
    ``start[a]:start[a + 1]``."""

    value: np.ndarray
    count: np.ndarray
    start: list[int]


def _grouped(store: Store, shift: int, accounts: int) -> ByAccount:
    """The entries of ``store`` (``acct << shift | value -> count``) of the first ``accounts`` accounts, grouped by
    account in one sort (no dict per account)."""
    a, v, c = store.split(shift)
    order = np.lexsort((v, a))
    return ByAccount(v[order], c[order], np.searchsorted(a[order], np.arange(accounts + 1)).tolist())


def _reached(times: Mapping[str, float]) -> dict[str, datetime]:
    """Rung -> event time, as datetimes, mildest rung first."""
    return {r: iso(t) for r, t in sorted(times.items(), key=lambda rt: rank(Action(rt[0])))}  # type: ignore[misc]
