"""Review API queue latency with 100k detections: PostgreSQL (when reachable) and SQLite, 50 concurrent clients.

Loads 100,000 account verdicts and 4,000 clusters through ``upsert_detections`` (then ANALYZE, as autovacuum
would), serves the app with uvicorn (2 workers) in a subprocess on loopback and drives the queue endpoint with
wrk: 50 connections, closed loop, no think time, over a mix of filters and cursor pages, 30 s after a 5 s
warm-up, while a writer in this process changes 500 verdicts every 2 s (each write moves the detections epoch,
so every cached page is rendered again, as when the stream worker writes). Beside it, in the same run: the same
load on a static file of the same app (the floor set by HTTP, the middleware and the machine), and what each page
costs when nothing is cached.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
from sqlalchemy import text

from distillguard.api.auth.service import create_token
from distillguard.api.database import engine_for, make_engine, migrate, session_scope
from distillguard.api.detections import queue
from distillguard.api.detections.schemas import QueueFilters
from distillguard.api.detections.service import bump_epoch, upsert_detections
from distillguard.detector.records import AccountVerdict, ClusterVerdict, SubjectKind
from distillguard.streams.broker import free_port

ACCOUNTS = 100_000
CLUSTER_SIZE = 20
CLUSTERED = 0.8  # share of accounts in clusters
CLIENTS = 50
SECONDS = 30
WARMUP_SECONDS = 5
WRITE_EVERY_SECONDS = 2.0
WRITE_BATCH = 500
FLOOR_PATH = "/console/static/console.css"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PATHS = ("standard", "education", "research", "startup", "enterprise")
MODELS = ("frontier-1", "frontier-2", "frontier-3")


def world(seed: int = 7) -> tuple[list[AccountVerdict], list[ClusterVerdict]]:
    """100k verdicts in 4k clusters of 20 plus singles, with realistic spreads of score, time, path, model."""
    rnd = random.Random(seed)
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    n_clusters = int(ACCOUNTS * CLUSTERED) // CLUSTER_SIZE
    verdicts, clusters = [], []
    for k in range(n_clusters):
        cid = f"c{k:05d}"
        hot = rnd.random() < 0.1
        start = t0 + timedelta(hours=rnd.randrange(0, 24 * 7))
        members = [f"a{k:05d}-{j:02d}" for j in range(CLUSTER_SIZE)]
        for a in members:
            score = round(min(1.0, rnd.betavariate(5, 2) if hot else rnd.betavariate(1, 8)), 6)
            verdicts.append(_verdict(a, score, cid, start, rnd))
        ip = f"10.{k // 256 % 256}.{k % 256}.1"
        clusters.append(
            ClusterVerdict(
                cluster_id=cid,
                members=members,
                score=round(max(v.score for v in verdicts[-CLUSTER_SIZE:]), 6),
                flagged=hot,
                flagged_at=start if hot else None,
                shared_indicators={"ip": [ip], "asn": [str(64500 + k % 50)], "payment_fingerprint": [f"card-{k}"]},
                reasons=["shares a card and an IP"],
                n_requests=CLUSTER_SIZE * 40,
                first_seen=start,
                last_seen=start + timedelta(hours=10),
                model_version="bench",
                linked_clusters=[],
            )
        )
    for i in range(ACCOUNTS - len(verdicts)):
        start = t0 + timedelta(hours=rnd.randrange(0, 24 * 7))
        verdicts.append(_verdict(f"s{i:06d}", round(rnd.betavariate(1, 12), 6), None, start, rnd))
    return verdicts, clusters


def _verdict(aid: str, score: float, cid: str | None, start: datetime, rnd: random.Random) -> AccountVerdict:
    hourly = {(start + timedelta(hours=h)).strftime("%Y-%m-%dT%H"): 4 for h in range(10)}
    return AccountVerdict(
        account_id=aid,
        score=score,
        flagged=score >= 0.7,
        cluster_id=cid,
        flagged_at=start if score >= 0.7 else None,
        reasons=["burst sign-up"] if score >= 0.35 else [],
        n_requests=40,
        first_seen=start,
        last_seen=start + timedelta(hours=10),
        model_version="bench",
        org_id=None,
        verification_path=rnd.choice(PATHS),
        models=sorted(rnd.sample(MODELS, rnd.randint(1, 2))),
        hourly_requests=hourly,
        sample_prompts=["Explain step by step."],
    )


MIXES = {
    "accounts": {"kind": "account"},
    "clusters_flagged": {"kind": "cluster", "flagged": "true"},
    "accounts_new_education_score": {
        "kind": "account",
        "status": "new",
        "verification_path": "education",
        "min_score": "0.5",
    },
    "accounts_model_time": {"kind": "account", "model": "frontier-3", "since": "2026-03-05T00:00:00Z"},
    "clusters_indicator": {"kind": "cluster", "indicator": "10.0.7.1"},
    "accounts_pages_1_to_3": {"kind": "account", "pages": 3},
}

_WRK_SCRIPT = """
local paths = {%(paths)s}
wrk.headers["Authorization"] = "Bearer %(token)s"
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  local f = io.open("%(out)s", "w")
  f:write(string.format('{"requests": %%d, "seconds": %%.3f, "connect_errors": %%d, "read_errors": %%d, '
    .. '"write_errors": %%d, "non_2xx": %%d, "timeouts": %%d, "mean_ms": %%.2f, "p50_ms": %%.2f, "p90_ms": %%.2f, '
    .. '"p99_ms": %%.2f, "p999_ms": %%.2f, "max_ms": %%.2f}',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout, latency.mean / 1e3,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency:percentile(99.9) / 1e3, latency.max / 1e3))
  f:close()
end
"""


def _paths(base: str, token: str) -> list[str]:
    """The queue URLs of the mix (a cursor mix contributes its first pages, found by following next_cursor)."""
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        for params in MIXES.values():
            params = dict(params)
            pages = int(params.pop("pages", 1))
            for _ in range(pages):
                req = c.build_request("GET", "/api/v1/detections", params=params)
                r = c.send(req)
                r.raise_for_status()
                out.append(req.url.raw_path.decode())
                if not (cursor := r.json()["next_cursor"]):
                    break
                params["cursor"] = cursor
    return out


def _wrk(base: str, paths: list[str], token: str, seconds: int, out: Path) -> dict:
    script = out.with_suffix(".lua")
    script.write_text(_WRK_SCRIPT % {"paths": ", ".join(json.dumps(p) for p in paths), "token": token, "out": out})
    subprocess.run(
        ["wrk", "-t2", f"-c{CLIENTS}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), base],
        check=True,
        capture_output=True,
    )
    result = json.loads(out.read_text())
    result["requests_per_s"] = round(result["requests"] / result["seconds"], 1)
    return result


def _writer(url: str, verdicts: list[AccountVerdict], stop: threading.Event, done: list[int]) -> None:
    """Every WRITE_EVERY_SECONDS, re-score WRITE_BATCH verdicts (a real change: the epoch moves)."""
    rnd = random.Random(11)
    while not stop.wait(WRITE_EVERY_SECONDS):
        batch = [
            msgspec.structs.replace(v, score=round(min(1.0, max(0.0, v.score + rnd.uniform(-0.05, 0.05))), 6))
            for v in rnd.sample(verdicts, WRITE_BATCH)
        ]
        with session_scope(url) as s:
            upsert_detections(s, batch, [])
        done[0] += 1


def _uncached_ms(url: str, reps: int = 7) -> dict[str, float]:
    """Median cost of rendering each mix's first page when nothing is cached (the epoch is moved before each)."""
    out = {}
    for name, params in MIXES.items():
        params = {k: v for k, v in params.items() if k != "pages"}
        kind, f = SubjectKind(params.pop("kind")), QueueFilters(**params)
        times = []
        for _ in range(reps):
            with session_scope(url) as s:
                bump_epoch(s)
            with session_scope(url) as s:
                t = time.perf_counter()
                queue.page_json(s, kind, f, None, 50, templates=False)
                times.append(time.perf_counter() - t)
        out[name] = round(statistics.median(times) * 1000, 1)
    return out


def _serve(url: str, port: int, log: Path) -> subprocess.Popen:
    env = os.environ | {
        "DATABASE_URL": url,
        "API_RATE_LIMIT_PER_MINUTE": "100000000",
        "LOG_LEVEL": "WARNING",
        "KAFKA_BOOTSTRAP": "127.0.0.1:1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "distillguard.api.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"API did not start; see {log}")


def _measure(url: str, workdir: Path, verdicts: list, clusters: list) -> dict:
    migrate(url)
    t = time.perf_counter()
    with session_scope(url) as s:
        for i in range(0, len(verdicts), 5000):
            upsert_detections(s, verdicts[i : i + 5000], [])
        upsert_detections(s, [], clusters)
    load_s = time.perf_counter() - t
    with session_scope(url) as s:  # a review state spread: a few clusters' accounts under review
        s.execute(text("UPDATE account_verdicts SET status = 'in_review' WHERE cluster_id < 'c00100'"))
        token = create_token(s, "bench", "viewer")[1]
    t = time.perf_counter()
    with session_scope(url) as s:
        upsert_detections(s, verdicts[:5000], [])
    reapply_5k_s = time.perf_counter() - t
    with session_scope(url) as s:
        s.execute(text("ANALYZE"))  # planner statistics, as autovacuum keeps them on a live database
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve(url, port, workdir / f"uvicorn-{port}.log")
    stop, writes = threading.Event(), [0]
    try:
        paths = _paths(base, token)
        floor = _wrk(base, [FLOOR_PATH], token, SECONDS, workdir / "floor.json")
        _wrk(base, paths, token, WARMUP_SECONDS, workdir / "warmup.json")
        writer = threading.Thread(target=_writer, args=(url, verdicts, stop, writes), daemon=True)
        writer.start()
        result = _wrk(base, paths, token, SECONDS, workdir / "queue.json")
        stop.set()
        writer.join()
    finally:
        stop.set()
        proc.terminate()
        proc.wait(10)
    return result | {
        "urls": len(paths),
        "epoch_changes_during_load": writes[0],
        "static_file_same_load": floor,
        "uncached_page_ms": _uncached_ms(url),
        "load_100k_seconds": round(load_s, 1),
        "reapply_5k_unchanged_seconds": round(reapply_5k_s, 2),
    }


def _pg_database() -> tuple[str | None, object]:
    try:
        admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
        name = f"dgbench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - reported as skipped
        return None, f"PostgreSQL unreachable on 127.0.0.1:5432: {type(exc).__name__}"

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"postgresql://postgres@127.0.0.1:5432/{name}", drop


def on_both_databases(measure: Callable[[str], dict], sqlite_path: Path) -> dict:
    """``{"postgresql": measure(url), "sqlite": measure(url)}``: on a fresh PostgreSQL database, dropped after (when
    reachable; else why it was skipped), and on a SQLite file at ``sqlite_path``."""
    out: dict = {}
    pg, drop = _pg_database()
    if pg is None:
        out["postgresql"] = {"skipped": drop}
    else:
        try:
            out["postgresql"] = measure(pg)
        finally:
            engine_for(pg).dispose()
            drop()
    out["sqlite"] = measure(f"sqlite:///{sqlite_path}")
    return out


def run(workdir: Path) -> dict:
    """Queue latency under load on PostgreSQL and SQLite."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: `make bench` installs Debian's wrk (as root), or apt-get install wrk")
    verdicts, clusters = world()
    out: dict = {
        "detections": len(verdicts),
        "clusters": len(clusters),
        "clients": CLIENTS,
        "seconds_per_db": SECONDS,
        "load": "wrk, closed loop, no think time",
        "writes": f"{WRITE_BATCH} verdicts re-scored every {WRITE_EVERY_SECONDS:g} s during the load",
        "server": "uvicorn, 2 workers, loopback",
        "target_p99_ms": 100,
    }
    out |= on_both_databases(lambda url: _measure(url, workdir, verdicts, clusters), workdir / "bench.db")
    pg_p99 = out["postgresql"].get("p99_ms")
    out["postgresql_p99_under_target"] = pg_p99 is not None and pg_p99 < 100
    return out
