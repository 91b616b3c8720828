"""How well the probability is calibrated, and what the response ladder does to customers and attackers.

Calibration: the Brier score, a reliability table (equal-width bins of predicted probability: mean predicted,
observed attack rate, accounts) and the expected calibration error (the accounts-weighted mean gap of the table).
Actions: per legitimate population (the label's ``kind``) and per verification path, the false-positive rate at
the flag and at each rung above ``watch`` (an account counts at a rung when it is there or higher), and the
customers that rate means per million active accounts a day; for attack accounts, the share reaching ``review``
or higher, and the share doing so within :data:`EARLY_SHARE` of their requests.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

import numpy as np

from distillguard.detector.records import LADDER, AccountVerdict, Action, rank
from distillguard.detector.units import DAY

RELIABILITY_BINS = 10
ACTED = LADDER[rank(Action.watch) + 1 :]  # rungs a customer notices
PER_MILLION = 1_000_000
WRONGLY = {"challenged": Action.challenge, "throttled": Action.throttle, "suspended": Action.suspend}
ATTACK_RUNG = Action.review  # the rung attack accounts should reach...
EARLY_SHARE = 0.05  # ...within this share of their requests


def calibration(y: np.ndarray, p: np.ndarray, bins: int = RELIABILITY_BINS) -> dict:
    """Brier score, reliability table and expected calibration error of probabilities ``p`` for outcomes ``y``."""
    if not len(y):
        return {"brier": None, "ece": None, "reliability": []}
    which = np.minimum((p * bins).astype(int), bins - 1)
    table, gap = [], 0.0
    for b in range(bins):
        sel = which == b
        if not sel.any():
            continue
        mean, rate, n = float(p[sel].mean()), float(y[sel].mean()), int(sel.sum())
        gap += n * abs(mean - rate)
        table.append(
            {"bin": [b / bins, (b + 1) / bins], "predicted": round(mean, 4), "observed": round(rate, 4), "accounts": n}
        )
    return {
        "brier": round(float(np.mean((p - y) ** 2)), 6),
        "ece": round(gap / len(y), 6),
        "reliability": table,
    }


def window_days(verdicts: list[AccountVerdict]) -> float:
    """Whole days the verdicts' traffic spans (at least one)."""
    first = [v.first_seen.timestamp() for v in verdicts if v.first_seen]
    last = [v.last_seen.timestamp() for v in verdicts if v.last_seen]
    return float(max(1, math.ceil((max(last) - min(first)) / DAY))) if first and last else 1.0


def _fpr(vs: list[AccountVerdict]) -> dict:
    n = len(vs)
    row: dict = {"accounts": n, "flagged": sum(v.flagged for v in vs)}
    row["fpr_flag"] = round(row["flagged"] / max(n, 1), 6)
    for rung in ACTED:
        k = sum(rank(v.action) >= rank(rung) for v in vs)
        row[f"at_{rung}"] = k
        row[f"fpr_{rung}"] = round(k / max(n, 1), 6)
    return row


def actions(
    kinds: Mapping[str, str],
    attack: Mapping[str, bool],
    verdicts: list[AccountVerdict],
    before_rung: Mapping[str, int] | None = None,
    requests: Mapping[str, int] | None = None,
    few_requests: int | None = None,
) -> dict:
    """The ladder's outcome: per legitimate population and verification path, FPR at the flag and each rung
    above watch; expected customers wrongly acted on per million active accounts a day; attack accounts reaching
    :data:`ATTACK_RUNG` (and, given requests before it and in all, early). ``kinds``/``attack`` by account.

    With the policy's ``few_requests``, early is also reported over the attack accounts with enough requests for
    :data:`EARLY_SHARE` of them to reach it: an unlinked account cannot be acted on before its ``few_requests``-th
    request, so an account of 20 requests cannot reach review within 5% (its first request) by design."""
    vs = [v for v in verdicts if v.account_id in attack]
    legit = [v for v in vs if not attack[v.account_id]]
    bad = [v for v in vs if attack[v.account_id]]
    by_pop: dict[str, list[AccountVerdict]] = defaultdict(list)
    by_path: dict[str, list[AccountVerdict]] = defaultdict(list)
    for v in legit:
        by_pop[kinds[v.account_id] or "unknown"].append(v)
        by_path[v.verification_path or "unknown"].append(v)
    days = window_days(vs)
    overall = _fpr(legit)
    out: dict = {
        "days": days,
        "active_accounts": len(vs),
        "legit": overall,
        "populations": {k: _fpr(by_pop[k]) for k in sorted(by_pop)},
        "verification_paths": {k: _fpr(by_path[k]) for k in sorted(by_path)},
        "legit_at_suspend_or_takedown": overall[f"at_{Action.suspend}"],
        "per_million_accounts_a_day": {
            what: round(overall[f"at_{rung}"] / max(len(vs), 1) / days * PER_MILLION, 1)
            for what, rung in WRONGLY.items()
        },
        "attack_accounts": len(bad),
        "attack_at_or_above": {
            str(rung): round(sum(rank(v.action) >= rank(rung) for v in bad) / max(len(bad), 1), 4) for rung in ACTED
        },
    }
    if before_rung is not None and requests is not None and bad:

        def early(v: AccountVerdict) -> bool:
            return rank(v.action) >= rank(ATTACK_RUNG) and before_rung.get(
                v.account_id, 0
            ) <= EARLY_SHARE * requests.get(v.account_id, 0)

        out[f"attack_{ATTACK_RUNG}_within_{EARLY_SHARE:g}_of_requests"] = round(sum(map(early, bad)) / len(bad), 4)
        if few_requests is not None:
            enough = math.ceil(few_requests / EARLY_SHARE)
            able = [v for v in bad if requests.get(v.account_id, 0) >= enough]
            out[f"attack_{ATTACK_RUNG}_within_{EARLY_SHARE:g}_of_requests_with_enough_requests"] = {
                "min_requests": enough,
                "accounts": len(able),
                "share": round(sum(map(early, able)) / len(able), 4) if able else None,
            }
    return out


def rung_times(verdicts: list[AccountVerdict], rung: Action = ATTACK_RUNG) -> dict[str, datetime | None]:
    """When each account first reached ``rung`` or higher (None: never)."""
    return {v.account_id: v.reached_at.get(str(rung)) for v in verdicts}
