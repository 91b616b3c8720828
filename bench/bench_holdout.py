"""Leave one attack family out: each family's recall by a model trained and calibrated without it.

Runs ``distillguard evaluate --leave-one-attack-out`` in-process over the recipe's days (``detector/recipe.py``):
for every attack family of the training and evaluation days, a model fitted without it scores the evaluation days
(seed 1, never trained or calibrated on); the result is ``bench/results/holdout.json``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from distillguard.detector import recipe
from distillguard.detector.holdout import leave_one_attack_out


def run(workdir: Path) -> dict:
    cache = Path(os.environ.get("BENCH_DAYS_CACHE", str(recipe.DEFAULT_CACHE)))

    def days(which: tuple[recipe.Day, ...]) -> list:
        return [recipe.materialise(d, cache, say=print) for d in which]

    t0 = time.perf_counter()
    report = leave_one_attack_out(days(recipe.TRAIN), days(recipe.CALIBRATION), days(recipe.EVALUATION), progress=print)
    report["command"] = "distillguard evaluate --leave-one-attack-out --json holdout.json"
    report["seconds"] = round(time.perf_counter() - t0)
    return report
