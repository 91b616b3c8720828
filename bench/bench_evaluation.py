"""Detection quality on an evaluation day (seed 1: never trained or calibrated on), through the real CLI.

For each day (standard, hard, standard with all text redacted): ``distillguard simulate``, ``detect``,
then ``evaluate --events --json`` (which also runs the naive peer on the same events). The result is
``bench/results/evaluation.json``, one ``evaluate`` report per day, rendered by ``bench/report.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SEED = int(os.environ.get("BENCH_EVAL_SEED", "1"))
SCALE = float(os.environ.get("BENCH_EVAL_SCALE", "1"))
DAYS = {"standard": ("standard", 0.0), "hard": ("hard", 0.0), "redacted": ("standard", 1.0)}


def run(workdir: Path) -> dict:
    exe = str(Path(sys.executable).with_name("distillguard"))
    out: dict = {
        "seed": SEED,
        "scale": SCALE,
        "command": (
            f"distillguard simulate D --seed {SEED} --scale {SCALE:g} --scenario S --redact R; distillguard detect D/events.jsonl.gz --out D/v.jsonl; "
            "distillguard evaluate D/labels.json D/v.jsonl --events D/events.jsonl.gz --json D/report.json"
        ),
    }
    for name, (scenario, redact) in DAYS.items():
        d = workdir / name
        quiet = {"check": True, "stdout": subprocess.DEVNULL}
        subprocess.run(
            [
                exe,
                "simulate",
                str(d),
                "--seed",
                str(SEED),
                "--scale",
                str(SCALE),
                "--scenario",
                scenario,
                "--redact",
                str(redact),
            ],
            **quiet,
        )
        subprocess.run(
            [exe, "detect", str(d / "events.jsonl.gz"), "--out", str(d / "v.jsonl")], stderr=subprocess.DEVNULL, **quiet
        )
        subprocess.run(
            [
                exe,
                "evaluate",
                str(d / "labels.json"),
                str(d / "v.jsonl"),
                "--events",
                str(d / "events.jsonl.gz"),
                "--json",
                str(d / "report.json"),
            ],
            **quiet,
        )
        out[name] = json.loads((d / "report.json").read_text())
    return out
