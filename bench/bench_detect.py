"""``detect`` throughput and memory on ~1M simulated events, on one core, next to a plain JSON parse.

The baseline is the cheapest useful thing a tool can do with the file: read every line and
``json.loads`` it (stdlib), in the same run on the same machine. Detection runs as the real CLI in
a subprocess pinned to one core with BLAS/OpenMP threads at 1; peak RSS is sampled with psutil.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

SCALE = float(os.environ.get("BENCH_DETECT_SCALE", "4"))
SEED = 7


def _run_pinned(cmd: list[str]) -> tuple[float, int, str]:
    env = os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    with contextlib.suppress(AttributeError, psutil.Error):
        proc.cpu_affinity([0])
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr}")
    return elapsed, peak, stderr


def run(workdir: Path) -> dict:
    data = workdir / "sim"
    exe = str(Path(sys.executable).with_name("distillguard"))
    t0 = time.perf_counter()
    subprocess.run(
        [exe, "simulate", str(data), "--seed", str(SEED), "--scale", str(SCALE)], check=True, stdout=subprocess.DEVNULL
    )
    sim_seconds = time.perf_counter() - t0
    events = data / "events.jsonl.gz"

    t0 = time.perf_counter()
    n = 0
    with gzip.open(events, "rb") as fh:
        for line in fh:
            json.loads(line)
            n += 1
    parse_seconds = time.perf_counter() - t0

    elapsed, peak, stderr = _run_pinned(
        [
            exe,
            "detect",
            str(events),
            "--out",
            str(workdir / "verdicts.jsonl"),
            "--clusters",
            str(workdir / "clusters.jsonl"),
        ]
    )
    rate = n / elapsed
    return {
        "events": n,
        "scale": SCALE,
        "simulate_seconds": round(sim_seconds, 1),
        "baseline_json_parse": {"seconds": round(parse_seconds, 2), "events_per_s": round(n / parse_seconds)},
        "detect": {
            "seconds": round(elapsed, 2),
            "events_per_s": round(rate),
            "peak_rss_mb": round(peak / 2**20),
            "cores": 1,
        },
        "detect_vs_json_parse": round(parse_seconds / elapsed, 3),
        "targets": {"events_per_s": 25_000, "peak_rss_mb": 2048},
        "meets_targets": rate >= 25_000 and peak <= 2 * 2**30,
        "detect_summary": stderr.strip().splitlines()[-1] if stderr.strip() else "",
    }
