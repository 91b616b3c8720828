"""How ``detect``'s cost grows with accounts and with days of history, on one core, and a worker's with workers.

Accounts: one simulated day at scales 1, 4 and 16 (~4k, 17k and 70k accounts; the same events per account), each
run as the real CLI in a subprocess pinned to one core, next to a plain JSON parse of the same file: events per CPU
second (CPU, not wall, time: on a shared machine a starved run would otherwise look slow), peak RSS, and the memory each further account costs (the slope of peak RSS between the smallest and the
largest scale, so the interpreter and the model are not counted as accounts).

Days: one continuous stream of ``GROWTH_DAYS`` simulated days (a quarter-scale population, the same accounts coming
back every day) fed to one :class:`Detector` in a pinned subprocess, a day at a time: the detector's CPU seconds per
event of each day and the process's RSS at the end of each day. A detector whose cost follows active accounts
spends the same per event on day 30 as on day 1 and holds the same memory from day 7 on.

Churn: the same stream with every account a new one each day (its own id, key, card, client build, creation time
and /24: :func:`_churned`), the worst case for
memory: nobody comes back, so without retention the detector would hold every account of the month. With it,
accounts idle for the retention horizon leave (detector/retention.py): the accounts held stop growing once the first
day's have left (``CHURN_SETTLED_DAY``), and so should RSS.

Workers: one simulated day (``BENCH_GROWTH_WORKERS_SCALE``, default 1) produced keyed by account to a topic of the
embedded broker with as many partitions as the most workers, drained by 1, 2 and 4 ``distillguard worker`` processes
of one consumer group (``BENCH_GROWTH_WORKERS``), each writing its verdicts to its own JSON Lines file: each worker's
peak RSS (sampled with psutil; the max and mean over workers), the workers' CPU per event, and the Jaccard index of
the union of the accounts they flagged against ``distillguard detect`` on the same file. Each worker also absorbs
every other worker's account summaries (for cross-partition linking) and links and scores those foreign accounts with
its own; a foreign account is held leaner than an owned one (no event ids, samples or record of its keys), but
per-worker memory still drops far less than in proportion to the workers: the rows are there to measure it honestly. A worker of several partitions also holds
messages for event-time alignment while the input outruns it (up to ``ALIGN_MAX_HELD`` over all its partitions), which
a worker of one partition does not: that buffer is part of the one-worker peak.

``BENCH_GROWTH_SCALES`` / ``BENCH_GROWTH_DAYS`` / ``BENCH_GROWTH_WORKERS_SCALE`` shrink the run (a quick check:
``0.25,0.5`` / ``2`` / ``0.1``). ``BENCH_GROWTH_PARTS`` (default ``accounts,days,churn,workers``) runs only some parts; the
others are taken from the committed ``bench/results/growth.json``, so ``BENCH_GROWTH_PARTS=workers python -m
bench.run growth`` refreshes the worker rows alone.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import psutil

from bench.bench_detect import _run_pinned
from bench.bench_stream import ONE_THREAD, Workers, _lines, drain_group, group_topics
from distillguard.detector.events import Event
from distillguard.detector.records import verdict_from_json
from distillguard.detector.retention import RETENTION_HOURS
from distillguard.streams.broker import EmbeddedBroker

SCALES = tuple(float(s) for s in os.environ.get("BENCH_GROWTH_SCALES", "1,4,16").split(","))
DAYS = int(os.environ.get("BENCH_GROWTH_DAYS", "30"))
DAYS_SCALE = 0.25  # population of the continuous stream (~1,100 accounts, ~70k events a day)
REPORT_DAYS = (1, 7, 30)  # days compared in the summary (those the run has)
# With churn, the first day's accounts have all left by this day (idle a retention horizon, looked for once a day).
CHURN_SETTLED_DAY = int(RETENTION_HOURS // 24) + 2
SEED = 5
WORKERS = tuple(int(n) for n in os.environ.get("BENCH_GROWTH_WORKERS", "1,2,4").split(","))
WORKERS_SCALE = float(os.environ.get("BENCH_GROWTH_WORKERS_SCALE", "1"))
WORKERS_TIMEOUT = 1800.0  # seconds for a group of workers to score the day and go idle
SETTLE_SECONDS = 3.0  # all idle again this long after: summaries exchanged late have been absorbed
RSS_SAMPLE_SECONDS = 0.1  # how often each worker's RSS is read
PARTS = ("accounts", "days", "churn", "workers")
RUN_PARTS = tuple(os.environ.get("BENCH_GROWTH_PARTS", ",".join(PARTS)).split(","))
RESULT = Path(__file__).resolve().parent / "results" / "growth.json"
TARGETS = {
    "bytes_per_account_at_largest": 4096,
    "per_event_cost_largest_vs_smallest": 1.3,
    "per_event_cost_last_day_vs_first": 1.2,
    "rss_per_worker_4_vs_1": 0.4,
    "flagged_jaccard": 0.99,
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


def _days_file(workdir: Path) -> Path:
    """The continuous stream of :data:`DAYS` days (simulated once per run)."""
    events = workdir / "days" / "events.jsonl.gz"
    if not events.exists():
        _simulate(str(Path(sys.executable).with_name("distillguard")), workdir / "days", DAYS_SCALE, DAYS)
    return events


def _day_rows(events: Path, *, churn: bool) -> list[dict]:
    """Each day's row from the pinned child (see :func:`_days_child`)."""
    cmd = [sys.executable, "-m", "bench.bench_growth", "churn" if churn else "days", str(events)]
    proc = psutil.Popen(cmd, env=os.environ | PINNED_ENV, stdout=subprocess.PIPE, text=True)
    with contextlib.suppress(AttributeError, psutil.Error):
        proc.cpu_affinity([0])
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the {'churn' if churn else 'days'} run failed (exit {proc.returncode})")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _by_days(workdir: Path) -> dict:
    days = _day_rows(_days_file(workdir), churn=False)
    first, last = days[0], days[-1]
    return {
        "population_scale": DAYS_SCALE,
        "days": [d for d in days if d["day"] in REPORT_DAYS or d is last],
        "per_event_cost_last_day_vs_first": round(last["us_per_event"] / first["us_per_event"], 3),
        "rss_growth_from_day_7_mb": round(last["rss_mb"] - days[min(6, len(days) - 1)]["rss_mb"], 1),
    }


def _by_churn(workdir: Path) -> dict:
    """The same stream with every account new each day (worst-case churn): accounts held and RSS per day."""
    days = _day_rows(_days_file(workdir), churn=True)
    last = days[-1]
    settled = days[min(CHURN_SETTLED_DAY, len(days)) - 1]
    return {
        "population_scale": DAYS_SCALE,
        "retention_hours": RETENTION_HOURS,
        "days": [d for d in days if d["day"] in (1, 7, CHURN_SETTLED_DAY) or d is last],
        "accounts_seen": sum(d["new_accounts"] for d in days),
        "settled_day": settled["day"],
        "rss_growth_after_settled_mb": round(last["rss_mb"] - settled["rss_mb"], 1),
    }


def _days_child(events: str, churn: bool) -> None:
    """Feed ``events`` to one Detector a UTC day at a time; print each day's cost, the accounts it holds and the RSS
    after it. With ``churn``, every account is a new one each day (:func:`_churned`)."""
    from distillguard.detector.detector import Detector
    from distillguard.detector.disk_archive import DiskArchive
    from distillguard.detector.events import read_events
    from distillguard.detector.units import DAY

    scratch = tempfile.TemporaryDirectory(prefix="dg-bench-archive-")  # removed when the child exits
    det, me = Detector(archive=DiskArchive(scratch.name)), psutil.Process()
    day: list = []
    index, current = 0, None  # the day being read: its number from 1, its UTC day
    seen = 0

    def finish() -> None:
        nonlocal seen
        t0 = time.process_time()
        det.process(day)
        spent = time.process_time() - t0
        held = det.state.size
        row = {
            "day": index,
            "events": len(day),
            "accounts_seen": held + det.stats["archived"],
            "new_accounts": held + det.stats["archived"] - seen,
            "accounts_held": held,
            "us_per_event": round(spent / max(len(day), 1) * 1e6, 2),
            "rss_mb": round(me.memory_info().rss / 2**20, 1),
        }
        seen = row["accounts_seen"]
        print(json.dumps(row), flush=True)

    for ev in read_events(events):
        d = int(ev.ts.timestamp() // DAY)
        if d != current:
            if day:
                finish()
            day, index, current = [], index + 1, d
        day.append(_churned(ev, index) if churn else ev)
    if day:
        finish()


def _churned(ev: Event, day: int) -> Event:
    """``ev`` from a new account of ``day``: its own id, key, card and client build, created that many days later,
    on another /24 of the same network (else each account's copies on other days would be one identity, or one
    address and burst, and link into a cluster that never goes idle)."""
    octets = ev.ip.split(".")
    ip = ".".join([*octets[:2], str((int(octets[2]) + day) % 256), octets[3]]) if len(octets) == 4 else ev.ip
    return msgspec.structs.replace(
        ev,
        account_id=f"{ev.account_id}.d{day}",
        api_key_id=f"{ev.api_key_id}.d{day}",
        payment_fingerprint=ev.payment_fingerprint and f"{ev.payment_fingerprint}.d{day}",
        user_agent=f"{ev.user_agent or ''} d{day}",
        account_created_at=ev.account_created_at and ev.account_created_at + timedelta(days=day),
        ip=ip,
    )


class _PeakRss:
    """Each process's peak RSS and last CPU seconds, read every :data:`RSS_SAMPLE_SECONDS` in a thread."""

    def __init__(self, procs: list[psutil.Process]) -> None:
        self.procs = procs
        self.peak = [0] * len(procs)
        self.cpu = [0.0] * len(procs)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for i, p in enumerate(self.procs):
                with contextlib.suppress(psutil.Error):
                    self.peak[i] = max(self.peak[i], p.memory_info().rss)
                    t = p.cpu_times()
                    self.cpu[i] = t.user + t.system
            self._stop.wait(RSS_SAMPLE_SECONDS)

    @contextlib.contextmanager
    def running(self) -> Iterator[_PeakRss]:
        """Sample while the block runs."""
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()


def _flagged(paths: list[Path]) -> set[str]:
    """Accounts flagged in ``detect --out`` style JSON Lines files (the union over the files)."""
    out: set[str] = set()
    for path in paths:
        with path.open("rb") as fh:
            out |= {v.account_id for v in map(verdict_from_json, fh) if v.flagged}
    return out


def _jaccard(a: set[str], b: set[str]) -> float:
    """|a & b| / |a | b| (1 for two empty sets)."""
    return len(a & b) / len(a | b) if a | b else 1.0


def _worker_row(bootstrap: str, root: Path, n: int, partitions: int, lines: list[bytes], one_process: set[str]) -> dict:
    """Drain the day with ``n`` workers: their peak RSS, CPU per event and flagged set against one process."""
    topic, summaries = f"growth-{n}", f"growth-sum-{n}"
    group_topics(bootstrap, topic, summaries, partitions)
    env = ONE_THREAD | {
        "KAFKA_BOOTSTRAP": bootstrap,
        "EVENTS_TOPIC": topic,
        "SUMMARIES_TOPIC": summaries,
        "DETECTIONS_TOPIC": f"growth-det-{n}",
        "DLQ_TOPIC": f"growth-dlq-{n}",
        "ENFORCEMENT_TOPIC": f"growth-enf-{n}",
        "LOG_LEVEL": "WARNING",
    }
    sinks = [root / f"workers-{n}-{i}.jsonl" for i in range(n)]
    w = Workers(root, env, n, partitions, name=f"growth-{n}", sinks=[f"jsonl:{p}" for p in sinks])
    rss = _PeakRss([p for p, _ in w.procs])
    try:
        with rss.running():
            seconds = drain_group(w, bootstrap, topic, lines, partitions, WORKERS_TIMEOUT)
            time.sleep(SETTLE_SECONDS)
            w.wait(lambda ms: all(m.get("distillguard_idle") == 1 for m in ms), WORKERS_TIMEOUT)
    finally:
        w.stop()
    flagged = _flagged(sinks)
    peaks = [round(b / 2**20) for b in rss.peak]
    return {
        "workers": n,
        "partitions": partitions,
        "seconds": round(seconds, 1),
        "events_per_cpu_s": round(len(lines) / max(sum(rss.cpu), 1e-9)),
        "peak_rss_mb_per_worker": peaks,
        "peak_rss_mb_max": max(peaks),
        "peak_rss_mb_mean": round(sum(peaks) / n),
        "flagged": len(flagged),
        "flagged_jaccard": round(_jaccard(flagged, one_process), 4),
    }


def _by_workers(exe: str, workdir: Path) -> dict:
    """One day through 1, 2 and 4 workers (:data:`WORKERS`) and through ``detect``; the ratios against the targets."""
    t0 = time.perf_counter()
    events = _simulate(exe, workdir / "workers", WORKERS_SCALE)
    lines = _lines(events)
    out = workdir / "workers-detect.jsonl"
    _, detect_peak, _ = _run_pinned([exe, "detect", str(events), "--out", str(out)])
    one_process = _flagged([out])
    partitions = max(WORKERS)
    with EmbeddedBroker() as b:
        rows = [_worker_row(b.bootstrap, workdir, n, partitions, lines, one_process) for n in WORKERS]
    by_n = {r["workers"]: r for r in rows}
    ratio = round(by_n[4]["peak_rss_mb_max"] / by_n[1]["peak_rss_mb_max"], 3) if {1, 4} <= by_n.keys() else None
    jaccard = min(r["flagged_jaccard"] for r in rows)
    return {
        "scale": WORKERS_SCALE,
        "events": len(lines),
        "accounts": _accounts(events),
        "detect": {"peak_rss_mb": round(detect_peak / 2**20), "flagged": len(one_process)},
        "rows": rows,
        "rss_per_worker_4_vs_1": ratio,
        "flagged_jaccard": jaccard,
        "meets_targets": {
            "rss_per_worker_4_vs_1": ratio is not None and ratio <= TARGETS["rss_per_worker_4_vs_1"],
            "flagged_jaccard": jaccard >= TARGETS["flagged_jaccard"],
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _meets(accounts: dict | None, days: dict | None, workers: dict | None) -> dict[str, bool]:
    """The met flags of the parts present."""
    met: dict[str, bool] = {}
    if accounts:
        met["bytes_per_account"] = accounts["bytes_per_further_account"] <= TARGETS["bytes_per_account_at_largest"]
        met["per_event_cost_accounts"] = (
            accounts["per_event_cost_largest_vs_smallest"] <= TARGETS["per_event_cost_largest_vs_smallest"]
        )
    if days:
        met["per_event_cost_days"] = (
            days["per_event_cost_last_day_vs_first"] <= TARGETS["per_event_cost_last_day_vs_first"]
        )
    if workers:
        met |= workers["meets_targets"]
    return met


def run(workdir: Path) -> dict:
    """The parts of :data:`RUN_PARTS`; the others as the committed result has them (``measured_at`` says when
    each part was measured)."""
    unknown = set(RUN_PARTS) - set(PARTS)
    if unknown:
        raise ValueError(f"BENCH_GROWTH_PARTS: unknown part(s) {sorted(unknown)}; choose from {PARTS}")
    previous = json.loads(RESULT.read_text()) if set(PARTS) - set(RUN_PARTS) and RESULT.exists() else {}
    exe = str(Path(sys.executable).with_name("distillguard"))
    accounts = _by_accounts(exe, workdir) if "accounts" in RUN_PARTS else previous.get("accounts")
    days = _by_days(workdir) if "days" in RUN_PARTS else previous.get("days")
    churn = _by_churn(workdir) if "churn" in RUN_PARTS else previous.get("churn")
    workers = _by_workers(exe, workdir) if "workers" in RUN_PARTS else previous.get("workers")
    result = {
        "command": "python -m bench.run growth",
        "accounts": accounts,
        "days": days,
        "churn": churn,
        "workers": workers,
        "targets": TARGETS,
        "meets_targets": _meets(accounts, days, workers),
        "largest_peak_rss_mb": accounts["rows"][-1]["peak_rss_mb"] if accounts else None,
    }
    result["measured_at"] = _measured_at(previous, result, datetime.now(UTC).isoformat())
    return result


def _measured_at(previous: dict, result: dict, now: str) -> dict[str, str | None]:
    """When each part of ``result`` was measured: ``now`` for those run, else as ``previous`` says (its finish for a
    result older than this key); None for a part it lacks."""
    before = previous.get("measured_at") or dict.fromkeys(PARTS, previous.get("_meta", {}).get("finished_at"))
    return {part: (now if part in RUN_PARTS else before.get(part)) if result.get(part) else None for part in PARTS}


if __name__ == "__main__":
    if sys.argv[1:2] in (["days"], ["churn"]):
        _days_child(sys.argv[2], churn=sys.argv[1] == "churn")
