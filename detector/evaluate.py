"""Evaluate verdicts against labels; run the naive peer (IsolationForest on per-account aggregates).

The peer is what a team without this tool would build first: aggregate each account's volume and
token counts, fit an IsolationForest, flag the outliers. It is run on the same events, side by side.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from distillguard.detector.events import BadLine, Event, read_events
from distillguard.detector.outcomes import actions, calibration, rung_times
from distillguard.detector.records import AccountVerdict


@dataclass
class Label:
    """Ground truth for one account."""

    attack: bool
    campaign: str | None
    kind: str


class LabelsError(ValueError):
    """A file is not a ``labels.json``: unreadable, not JSON, or not ``{account_id: {"attack": bool, ...}}``."""


def load_labels(raw: Mapping[str, Mapping]) -> dict[str, Label]:
    """``labels.json`` content -> labels."""
    return {a: Label(bool(v["attack"]), v.get("campaign"), str(v.get("kind", ""))) for a, v in raw.items()}


def _check_label(account: str, value: object) -> None:
    """Raise :class:`LabelsError` naming the account and field when ``value`` is not one label."""
    if not isinstance(value, dict):
        raise LabelsError(f"account {account!r}: expected an object, got {type(value).__name__}")
    if not isinstance(value.get("attack"), bool):
        raise LabelsError(f"account {account!r}: attack: expected true or false, got {value.get('attack')!r:.80}")
    for key in ("campaign", "kind"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise LabelsError(f"account {account!r}: {key}: expected a string or null, got {value[key]!r:.80}")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def read_labels(path: str | Path) -> dict[str, Label]:
    """Read a ``labels.json`` written by ``simulate``; raise :class:`LabelsError` saying what is wrong."""
    try:
        raw = json.loads(Path(path).read_bytes(), parse_constant=_no_constant)
    except OSError as exc:
        raise LabelsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except RecursionError:
        raise LabelsError(f"{path}: not a labels file: JSON nested too deeply") from None
    except ValueError as exc:  # includes invalid UTF-8 and integers too long to convert
        raise LabelsError(f"{path}: not a labels file: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise LabelsError(
            f"{path}: not a labels file: expected an object of account_id -> label, got {type(raw).__name__}"
        )
    try:
        for account, value in raw.items():
            _check_label(account, value)
    except LabelsError as exc:
        raise LabelsError(f"{path}: not a labels file: {exc}") from None
    return load_labels(raw)


@dataclass
class EventTally:
    """What evaluation needs from the events: requests per account before its flag, and the peer's aggregates."""

    before_flag: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    before_rung: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # before reaching review
    total: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    agg: dict[str, list[float]] = field(default_factory=dict)


def tally(
    events: Iterable[Event],
    flagged_at: Mapping[str, datetime | None],
    rung_at: Mapping[str, datetime | None] | None = None,
) -> EventTally:
    """One pass over the events (duplicates by event_id counted once); ``rung_at``: when each account reached
    the rung whose requests-before are counted (:data:`outcomes.ATTACK_RUNG`)."""
    rung_at = rung_at or {}
    t = EventTally()
    seen: set[str] = set()
    ips: dict[str, set[str]] = defaultdict(set)
    for ev in events:
        if ev.event_id in seen:
            continue
        seen.add(ev.event_id)
        a = ev.account_id
        t.total[a] += 1
        fa = flagged_at.get(a)
        if fa is None or ev.ts < fa:
            t.before_flag[a] += 1
        ra = rung_at.get(a)
        if ra is None or ev.ts < ra:
            t.before_rung[a] += 1
        g = t.agg.get(a)
        if g is None:
            g = t.agg[a] = [0.0] * 6
        g[0] += 1
        g[1] += ev.input_tokens
        g[2] += ev.output_tokens
        g[3] += ev.status >= 400
        g[4] = max(g[4], ev.output_tokens)
        ips[a].add(ev.ip)
    for a, g in t.agg.items():
        g[5] = len(ips[a])
    return t


def naive_peer(
    agg: Mapping[str, list[float]], contamination: float = 0.02, seed: int = 0
) -> dict[str, tuple[float, bool]]:
    """IsolationForest on per-account aggregates (requests, mean in/out tokens, error share, max output, IPs)."""
    names = list(agg)
    A = np.array([agg[a] for a in names], dtype=float)
    n = np.maximum(A[:, 0], 1)
    F = np.column_stack(
        [
            np.log1p(A[:, 0]),
            np.log1p(A[:, 1] / n),
            np.log1p(A[:, 2] / n),
            A[:, 3] / n,
            np.log1p(A[:, 4]),
            np.log1p(A[:, 5]),
        ]
    )
    forest = IsolationForest(n_estimators=200, contamination=contamination, random_state=seed).fit(F)
    score = -forest.score_samples(F)
    flag = forest.predict(F) == -1
    return {a: (float(s), bool(f)) for a, s, f in zip(names, score, flag, strict=True)}


def _metrics(y: np.ndarray, score: np.ndarray, flag: np.ndarray) -> dict[str, float | int | None]:
    tp = int((flag & y).sum())
    fp = int((flag & ~y).sum())
    fn = int((~flag & y).sum())
    legit = int((~y).sum())
    return {
        "accounts": len(y),
        "attack_accounts": int(y.sum()),
        "flagged": int(flag.sum()),
        "true_positives": tp,
        "false_positives": fp,
        "precision": round(tp / max(tp + fp, 1), 4),
        "recall": round(tp / max(tp + fn, 1), 4),
        "fpr": round(fp / max(legit, 1), 5),
        "auc": round(float(roc_auc_score(y, score)), 4) if 0 < y.sum() < len(y) else None,
    }


def evaluate(
    labels: Mapping[str, Label],
    verdicts: list[AccountVerdict],
    events_path: str | Path | None = None,
    on_bad: Callable[[BadLine], None] | None = None,
    few_requests: int | None = None,
) -> dict:
    """Precision, recall, FPR, AUC, per-campaign recall and cluster purity, calibration of the probability, the
    response ladder's outcome (:mod:`detector.outcomes`), requests before the first flag per campaign, and the naive peer on the same data (when the events are given; a line that is not
    an event is skipped and passed to ``on_bad``; no peer when the events hold no account). ``few_requests``: the
    policy's, for the early-review figure over the accounts the policy lets reach it (:func:`outcomes.actions`)."""
    by_id = {v.account_id: v for v in verdicts}
    names = [a for a in labels if a in by_id]
    y = np.array([labels[a].attack for a in names], dtype=bool)
    score = np.array([by_id[a].score for a in names])
    flag = np.array([by_id[a].flagged for a in names], dtype=bool)
    report: dict = {"detector": _metrics(y, score, flag), "unlabelled_verdicts": len(by_id) - len(names)}
    report["calibration"] = calibration(y.astype(float), np.array([by_id[a].probability for a in names]))
    kinds = {a: labels[a].kind for a in names}
    attack = {a: labels[a].attack for a in names}
    report["actions"] = actions(kinds, attack, verdicts)

    campaigns: dict[str, list[str]] = defaultdict(list)
    for a in names:
        if campaign := labels[a].campaign:
            campaigns[campaign].append(a)
    clusters: dict[str, list[str]] = defaultdict(list)
    for v in verdicts:
        if v.cluster_id:
            clusters[v.cluster_id].append(v.account_id)
    per: dict[str, dict] = {}
    for c, members in sorted(campaigns.items()):
        flagged = sum(by_id[a].flagged for a in members)
        row = {
            "kind": labels[members[0]].kind,
            "accounts": len(members),
            "flagged": flagged,
            "recall": round(flagged / len(members), 4),
        }
        overlap: dict[str, int] = defaultdict(int)
        for a in members:
            if cluster_id := by_id[a].cluster_id:
                overlap[cluster_id] += 1
        if overlap:
            best = max(overlap, key=overlap.get)  # type: ignore[arg-type]
            size = len(clusters[best])
            row |= {
                "cluster": best,
                "cluster_size": size,
                "cluster_coverage": round(overlap[best] / len(members), 4),
                "cluster_purity": round(overlap[best] / size, 4),
            }
        else:
            row |= {"cluster": None, "cluster_coverage": 0.0, "cluster_purity": None}
        per[c] = row
    report["campaigns"] = per

    if events_path is not None:
        events = read_events(events_path, on_bad=on_bad)
        t = tally(events, {a: v.flagged_at if v.flagged else None for a, v in by_id.items()}, rung_times(verdicts))
        report["actions"] = actions(kinds, attack, verdicts, t.before_rung, t.total, few_requests)
        for c, members in campaigns.items():
            total = sum(t.total[a] for a in members)
            per[c]["requests"] = total
            per[c]["share_before_flag"] = round(sum(t.before_flag[a] for a in members) / max(total, 1), 4)
            per[c]["share_before_review"] = round(sum(t.before_rung[a] for a in members) / max(total, 1), 4)
        if not t.agg:
            return report
        peer = naive_peer(t.agg)
        pn = [a for a in names if a in peer]
        py = np.array([labels[a].attack for a in pn], dtype=bool)
        report["naive_peer"] = _metrics(
            py, np.array([peer[a][0] for a in pn]), np.array([peer[a][1] for a in pn], dtype=bool)
        )
        per_peer = {}
        for c, members in campaigns.items():
            per_peer[c] = round(sum(peer.get(a, (0, False))[1] for a in members) / len(members), 4)
        report["naive_peer"]["campaign_recall"] = per_peer
    return report


def recall_at_fpr(labels: Mapping[str, Label], verdicts: list[AccountVerdict], max_fpr: float) -> float:
    """Best recall achievable by thresholding the scores while keeping FPR <= ``max_fpr``."""
    by_id = {v.account_id: v.score for v in verdicts}
    names = [a for a in labels if a in by_id]
    y = np.array([labels[a].attack for a in names], dtype=bool)
    s = np.array([by_id[a] for a in names])
    return recall_within_fpr(s[~y], s[y], max_fpr)


def recall_within_fpr(legit: np.ndarray, attack: np.ndarray, max_fpr: float) -> float:
    """Share of ``attack`` scores above the highest threshold that flags at most ``max_fpr`` of ``legit`` scores."""
    ranked = np.sort(legit)[::-1]
    k = int(np.floor(max_fpr * len(ranked)))
    thr = ranked[k] if k < len(ranked) else -np.inf
    return float((attack > thr).mean()) if len(attack) else 0.0
