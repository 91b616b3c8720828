"""The response ladder on the evaluation days of ``detector/recipe.py`` (seed 1: never trained or calibrated on).

For each day, through the real CLI: ``distillguard detect`` with the shipped model and policy, then ``evaluate
--events --json``. The result is ``bench/results/ladder.json``: per day, the calibration of the probability (Brier,
expected calibration error), false positives at the flag and at each rung above ``watch`` overall, per legitimate
population and per verification path, customers wrongly challenged / throttled / suspended per million active
accounts a day, and the attack accounts reaching ``review`` (within 5% of their requests; per campaign, the share of
its requests made before each account's flag and before it reached ``review``). Rendered by
``bench/report.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from distillguard.detector import recipe

CACHE = Path(os.environ.get("BENCH_DAYS_CACHE", recipe.DEFAULT_CACHE))


def run(workdir: Path) -> dict:
    exe = str(Path(sys.executable).with_name("distillguard"))
    out: dict = {
        "command": "distillguard detect D/events.jsonl.gz --out V; distillguard evaluate D/labels.json V --events "
        "D/events.jsonl.gz --json R (each evaluation day of detector/recipe.py)",
        "days": {},
    }
    for day in recipe.EVALUATION:
        ds, _ = recipe.materialise(day, CACHE)
        d = ds.events.parent
        v, r = workdir / f"{day.name(1.0)}.jsonl", workdir / f"{day.name(1.0)}.json"
        quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        subprocess.run([exe, "detect", str(ds.events), "--out", str(v)], **quiet)
        subprocess.run(
            [exe, "evaluate", str(d / "labels.json"), str(v), "--events", str(ds.events), "--json", str(r)], **quiet
        )
        report = json.loads(r.read_text())
        out["days"][day.name(1.0)] = {
            "detector": report["detector"],
            "calibration": report["calibration"],
            "actions": report["actions"],
            "campaigns": {
                c: {k: row.get(k) for k in ("kind", "accounts", "share_before_flag", "share_before_review")}
                for c, row in report["campaigns"].items()
            },
        }
    return out
