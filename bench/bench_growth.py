"""How ``detect``'s cost grows with accounts and with days of history, on one core.

Accounts: one simulated day at scales 1, 4 and 16 (~4k, 17k and 70k accounts; the same events per account), each
run as the real CLI in a subprocess pinned to one core, next to a plain JSON parse of the same file: events per CPU
second (CPU, not wall, time: on a shared machine a starved run would otherwise look slow), peak RSS, and the memory each further account costs (the slope of peak RSS between the smallest and the
largest scale, so the interpreter and the model are not counted as accounts).

Days: one continuous stream of ``GROWTH_DAYS`` simulated days (a quarter-scale population, the same accounts coming
back every day) fed to one :class:`Detector` in a pinned subprocess, a day at a time: the detector's CPU seconds per
event of each day and the process's RSS at the end of each day. A detector whose cost follows active accounts
spends the same per event on day 30 as on day 1 and holds the same memory from day 7 on.

Partitioned workers (each holding only its own accounts) are not built yet, so there is no per-worker row.
``BENCH_GROWTH_SCALES`` / ``BENCH_GROWTH_DAYS`` shrink the run (a quick check: ``0.25,0.5`` / ``2``).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench.bench_detect import _run_pinned

SCALES = tuple(float(s) for s in os.environ.get("BENCH_GROWTH_SCALES", "1,4,16").split(","))
DAYS = int(os.environ.get("BENCH_GROWTH_DAYS", "30"))
DAYS_SCALE = 0.25  # population of the continuous stream (~1,100 accounts, ~70k events a day)
REPORT_DAYS = (1, 7, 30)  # days compared in the summary (those the run has)
SEED = 5
TARGETS = {
    "bytes_per_account_at_largest": 4096,
    "per_event_cost_largest_vs_smallest": 1.3,
    "per_event_cost_last_day_vs_first": 1.2,
}
PINNED_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _simulate(exe: str, out: Path, scale: float, days: float = 1.0) -> Path:
    cmd = [exe, "simulate", str(out), "--seed", str(SEED), "--scale", f"{scale:g}", "--days", f"{days:g}"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out / "events.jsonl.gz"


def _parse_seconds(events: Path) -> tuple[int, float]:
    """Events in the file and the CPU seconds a plain JSON parse of it takes."""
    t0 = time.process_time()
    n = 0
    with gzip.open(events, "rb") as fh:
        for line in fh:
            json.loads(line)
            n += 1
    return n, time.process_time() - t0


def _children_cpu() -> float:
    """CPU seconds of the finished child processes so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _accounts(events: Path) -> int:
    return int(json.loads((events.parent / "manifest.json").read_text())["accounts"])


def _by_accounts(exe: str, workdir: Path) -> dict:
    rows = []
    for scale in SCALES:
        events = _simulate(exe, workdir / f"x{scale:g}", scale)
        n, parse = _parse_seconds(events)
        before = _children_cpu()
        _, peak, _ = _run_pinned([exe, "detect", str(events), "--out", str(workdir / f"x{scale:g}.jsonl")])
        elapsed = _children_cpu() - before  # CPU seconds: the machine may be shared, the ratio stays fair
        rows.append(
            {
                "scale": scale,
                "events": n,
                "accounts": _accounts(events),
                "events_per_s": round(n / elapsed),
                "json_parse_events_per_s": round(n / parse),
                "detect_vs_json_parse": round(elapsed / parse, 2),
                "peak_rss_mb": round(peak / 2**20),
            }
        )
        (workdir / f"x{scale:g}.jsonl").unlink()
    lo, hi = rows[0], rows[-1]
    per_account = (hi["peak_rss_mb"] - lo["peak_rss_mb"]) * 2**20 / max(hi["accounts"] - lo["accounts"], 1)
    return {
        "rows": rows,
        "bytes_per_further_account": round(per_account),
        "per_event_cost_largest_vs_smallest": round(lo["events_per_s"] / hi["events_per_s"], 3),
    }


def _by_days(workdir: Path) -> dict:
    exe = str(Path(sys.executable).with_name("distillguard"))
    events = _simulate(exe, workdir / "days", DAYS_SCALE, DAYS)
    proc = psutil.Popen(
        [sys.executable, "-m", "bench.bench_growth", "days", str(events)],
        env=os.environ | PINNED_ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    with contextlib.suppress(AttributeError, psutil.Error):
        proc.cpu_affinity([0])
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the days run failed (exit {proc.returncode})")
    days = [json.loads(line) for line in out.splitlines() if line.strip()]
    first, last = days[0], days[-1]
    return {
        "population_scale": DAYS_SCALE,
        "days": [d for d in days if d["day"] in REPORT_DAYS or d is last],
        "per_event_cost_last_day_vs_first": round(last["us_per_event"] / first["us_per_event"], 3),
        "rss_growth_from_day_7_mb": round(last["rss_mb"] - days[min(6, len(days) - 1)]["rss_mb"], 1),
    }


def _days_child(events: str) -> None:
    """Feed ``events`` to one Detector a UTC day at a time; print each day's cost and the RSS after it."""
    from distillguard.detector.detector import Detector
    from distillguard.detector.events import read_events
    from distillguard.detector.units import DAY

    det, me = Detector(), psutil.Process()
    day: list = []
    index, current = 0, None  # the day being read: its number from 1, its UTC day

    def finish() -> None:
        t0 = time.process_time()
        det.process(day)
        spent = time.process_time() - t0
        row = {
            "day": index,
            "events": len(day),
            "accounts_seen": det.state.size,
            "us_per_event": round(spent / max(len(day), 1) * 1e6, 2),
            "rss_mb": round(me.memory_info().rss / 2**20, 1),
        }
        print(json.dumps(row), flush=True)

    for ev in read_events(events):
        d = int(ev.ts.timestamp() // DAY)
        if d != current:
            if day:
                finish()
            day, index, current = [], index + 1, d
        day.append(ev)
    if day:
        finish()


def run(workdir: Path) -> dict:
    exe = str(Path(sys.executable).with_name("distillguard"))
    accounts = _by_accounts(exe, workdir)
    days = _by_days(workdir)
    largest = accounts["rows"][-1]
    return {
        "command": "python -m bench.run growth",
        "accounts": accounts,
        "days": days,
        "workers": None,
        "targets": TARGETS,
        "meets_targets": {
            "bytes_per_account": accounts["bytes_per_further_account"] <= TARGETS["bytes_per_account_at_largest"],
            "per_event_cost_accounts": accounts["per_event_cost_largest_vs_smallest"]
            <= TARGETS["per_event_cost_largest_vs_smallest"],
            "per_event_cost_days": days["per_event_cost_last_day_vs_first"]
            <= TARGETS["per_event_cost_last_day_vs_first"],
        },
        "largest_peak_rss_mb": largest["peak_rss_mb"],
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["days"]:
        _days_child(sys.argv[2])
