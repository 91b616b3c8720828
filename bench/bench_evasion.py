"""The evasion curve: how the shipped model does against the adaptive attacker as it spreads its harvest thinner.

For each volume per account (``VOLUMES`` requests over ``DAYS`` days), an evasive window (seed 1: never trained or
calibrated on) is simulated and detected with the shipped model; the result is recall per attacker variant and the
false-positive rate of every legitimate population on the same window. From the curve follows the attacker's cost:
to stay under ``RECALL_CEILING`` recall a variant must keep each account below some volume, so harvesting
``HARVEST_EXCHANGES`` exchanges in ``HARVEST_DAYS`` days takes at least that many accounts.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from distillguard.detector import recipe
from distillguard.detector.detector import Detector
from distillguard.detector.events import read_events

VOLUMES = (5, 10, 30, 90)
DAYS = 3.0
SEED = 1
SCALE = float(os.environ.get("BENCH_EVASION_SCALE", "1"))
RECALL_CEILING = 0.5
HARVEST_EXCHANGES = 16_000_000  # the disclosed campaign's size
HARVEST_DAYS = 30
BATCH = 4096


def _detect(path: Path) -> list:
    det = Detector()
    batch: list = []
    for ev in read_events(path):
        batch.append(ev)
        if len(batch) == BATCH:
            det.process(batch)
            batch = []
    det.process(batch)
    det.flush()
    return det.verdicts()


def _window(volume: int, cache: Path) -> dict:
    day = recipe.Day(SEED, "evasive", scale=SCALE, days=DAYS, evasive_requests=volume)
    ds, labels = recipe.materialise(day, cache)
    flagged: dict[str, list[bool]] = defaultdict(list)
    attack: dict[str, bool] = {}
    for v in _detect(ds.events):
        lab = labels[v.account_id]
        flagged[lab.kind].append(v.flagged)
        attack[lab.kind] = lab.attack
    legit = [k for k in flagged if not attack[k]]
    n_legit = sum(len(flagged[k]) for k in legit)
    fp = sum(sum(flagged[k]) for k in legit)
    return {
        "requests_per_account": volume,
        "recall": {k: round(float(np.mean(f)), 4) for k, f in sorted(flagged.items()) if attack[k]},
        "attack_accounts": {k: len(f) for k, f in sorted(flagged.items()) if attack[k]},
        "fpr": round(fp / max(n_legit, 1), 5),
        "false_positives": {k: int(sum(flagged[k])) for k in sorted(legit)},
        "legit_accounts": {k: len(flagged[k]) for k in sorted(legit)},
    }


def safe_volume(curve: list[tuple[int, float]]) -> float:
    """The largest volume per account (over the window) keeping recall under the ceiling, interpolated in log
    volume between measured points; below the smallest measured volume when even that is caught."""
    below = [v for v, r in curve if r < RECALL_CEILING]
    if not below:
        return float(min(v for v, _ in curve)) / 2  # not measured: at most half the smallest volume tried
    v0 = max(below)
    above = [(v, r) for v, r in curve if v > v0]
    if not above:
        return float(v0)
    r0 = dict(curve)[v0]
    v1, r1 = min(above)
    t = (RECALL_CEILING - r0) / max(r1 - r0, 1e-9)
    return float(math.exp(math.log(v0) + t * (math.log(v1) - math.log(v0))))


def run(workdir: Path) -> dict:
    cache = Path(os.environ.get("BENCH_DAYS_CACHE", str(recipe.DEFAULT_CACHE)))
    windows = [_window(v, cache) for v in VOLUMES]
    variants = sorted(windows[0]["recall"])
    cost = {}
    for k in variants:
        v = safe_volume([(w["requests_per_account"], w["recall"][k]) for w in windows])
        per_account = v * HARVEST_DAYS / DAYS
        cost[k] = {
            "max_requests_per_account_3d": round(v, 1),
            "accounts_needed": math.ceil(HARVEST_EXCHANGES / per_account),
        }
    return {
        "seed": SEED,
        "scale": SCALE,
        "days": DAYS,
        "command": "distillguard simulate D --scenario evasive --days 3 --seed 1 --evasive-requests V; detect",
        "windows": windows,
        "attacker_cost": {
            "recall_ceiling": RECALL_CEILING,
            "exchanges": HARVEST_EXCHANGES,
            "days": HARVEST_DAYS,
            "variants": cost,
        },
    }
