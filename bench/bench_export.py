"""Exporting the whole queue while analysts use it: 100k detections, PostgreSQL (when reachable) and SQLite.

The world, the server and the load are the review API benchmark's (``bench/bench_api.py``: 100,000 account verdicts
in 4,000 clusters, uvicorn with 2 workers on loopback, wrk with 50 connections over the queue mix). Measured in one
run: an export of every account (``GET /api/v1/detections/export?kind=account``, CSV and JSON Lines) with no other
load (rows per second); the queue's latency under wrk alone, then under wrk while exports of every account run back
to back; and the server processes' memory (RSS, sampled every ``SAMPLE_SECONDS``) before and during the exports.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx
import psutil

from bench.bench_api import CLIENTS, WARMUP_SECONDS, _paths, _serve, _wrk, on_both_databases, world
from distillguard.api.auth.service import create_token
from distillguard.api.database import migrate, session_scope
from distillguard.api.detections.service import upsert_detections
from distillguard.streams.broker import free_port

SECONDS = 20  # of wrk per phase
SAMPLE_SECONDS = 0.2
WRK_FIELDS = ("p50_ms", "p99_ms", "requests_per_s", "non_2xx", "timeouts")
TARGETS = {"rows_per_s": 20_000, "rss_growth_mb": 50, "queue_p99_ms": 100}


def _server_rss(proc: psutil.Process) -> int:
    """Bytes resident in the server and its worker processes."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def _export(base: str, token: str, fmt: str) -> tuple[int, float]:
    """Rows (lines after a CSV header) of one export of every account, and its seconds."""
    t, rows = time.perf_counter(), 0
    headers = {"Authorization": f"Bearer {token}"}
    params = {"kind": "account", "format": fmt}
    with httpx.stream("GET", f"{base}/api/v1/detections/export", params=params, headers=headers, timeout=600) as r:
        r.raise_for_status()
        for _ in r.iter_lines():
            rows += 1
    return rows - (fmt == "csv"), time.perf_counter() - t


def _exports_until(base: str, token: str, stop: threading.Event, done: list[tuple[int, float]]) -> None:
    while not stop.is_set():
        done.append(_export(base, token, "csv"))


def _measure(url: str, workdir: Path, verdicts: list, clusters: list) -> dict:
    migrate(url)
    with session_scope(url) as s:
        for i in range(0, len(verdicts), 5000):
            upsert_detections(s, verdicts[i : i + 5000], [])
        upsert_detections(s, [], clusters)
        token = create_token(s, "bench-export", "viewer")[1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve(url, port, workdir / f"uvicorn-export-{port}.log")
    server = psutil.Process(proc.pid)
    try:
        alone = {fmt: _export(base, token, fmt) for fmt in ("csv", "jsonl")}
        paths = _paths(base, token)
        _wrk(base, paths, token, WARMUP_SECONDS, workdir / "export-warmup.json")
        quiet = _wrk(base, paths, token, SECONDS, workdir / "export-quiet.json")
        rss_before = _server_rss(server)
        stop, done, peak = threading.Event(), [], [rss_before]
        exporter = threading.Thread(target=_exports_until, args=(base, token, stop, done), daemon=True)
        exporter.start()
        sampler_stop = threading.Event()

        def sample() -> None:
            while not sampler_stop.wait(SAMPLE_SECONDS):
                peak[0] = max(peak[0], _server_rss(server))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        busy = _wrk(base, paths, token, SECONDS, workdir / "export-busy.json")
        stop.set()
        exporter.join()
        sampler_stop.set()
        sampler.join()
    finally:
        proc.terminate()
        proc.wait(10)
    rows = sum(n for n, _ in done)
    seconds = sum(s for _, s in done)
    return {
        "export_alone": {
            fmt: {"rows": n, "seconds": round(s, 2), "rows_per_s": round(n / s)} for fmt, (n, s) in alone.items()
        },
        "exports_during_load": len(done),
        "export_rows_per_s_during_load": round(rows / seconds) if seconds else None,
        "queue_quiet": {k: quiet[k] for k in WRK_FIELDS},
        "queue_during_exports": {k: busy[k] for k in WRK_FIELDS},
        "server_rss_before_mb": round(rss_before / 2**20),
        "server_rss_growth_mb": round((peak[0] - rss_before) / 2**20, 1),
    }


def run(workdir: Path) -> dict:
    """Export throughput and memory, and the queue's latency beside it, on PostgreSQL and SQLite."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: `make bench` installs Debian's wrk (as root), or apt-get install wrk")
    verdicts, clusters = world()
    out: dict = {
        "detections": len(verdicts),
        "clients": CLIENTS,
        "seconds_per_phase": SECONDS,
        "server": "uvicorn, 2 workers, loopback",
        "targets": TARGETS,
    }
    out |= on_both_databases(lambda url: _measure(url, workdir, verdicts, clusters), workdir / "export.db")
    return out
