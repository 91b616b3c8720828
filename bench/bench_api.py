"""Review API queue latency with 100k detections: PostgreSQL (when reachable) and SQLite, 50 concurrent clients.

Loads 100,000 account verdicts and 5,000 clusters through ``upsert_detections``, serves the app with uvicorn in a
subprocess on loopback, and drives the queue endpoint with 50 concurrent httpx clients (closed loop, no think
time) over a mix of filters and cursor pages. Reports p50/p95/p99 per database and per filter mix.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

from api.auth.service import create_token
from api.database import make_engine, migrate, session_scope
from api.detections.service import upsert_detections
from detector.records import AccountVerdict, ClusterVerdict
from streams.broker import free_port

ACCOUNTS = 100_000
CLUSTER_SIZE = 20
CLUSTERED = 0.8  # share of accounts in clusters
CLIENTS = 50
REQUESTS = 3000
WARMUP = 200
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
        clusters.append(ClusterVerdict(
            cluster_id=cid, members=members, score=round(max(v.score for v in verdicts[-CLUSTER_SIZE:]), 6),
            flagged=hot, flagged_at=start if hot else None,
            shared_indicators={"ip": [ip], "asn": [str(64500 + k % 50)], "payment_fingerprint": [f"card-{k}"]},
            reasons=["shares a card and an IP"], n_requests=CLUSTER_SIZE * 40, first_seen=start,
            last_seen=start + timedelta(hours=10), model_version="bench", linked_clusters=[]))
    for i in range(ACCOUNTS - len(verdicts)):
        start = t0 + timedelta(hours=rnd.randrange(0, 24 * 7))
        verdicts.append(_verdict(f"s{i:06d}", round(rnd.betavariate(1, 12), 6), None, start, rnd))
    return verdicts, clusters


def _verdict(aid: str, score: float, cid: str | None, start: datetime, rnd: random.Random) -> AccountVerdict:
    hourly = {(start + timedelta(hours=h)).strftime("%Y-%m-%dT%H"): 4 for h in range(10)}
    return AccountVerdict(
        account_id=aid, score=score, flagged=score >= 0.7, cluster_id=cid, flagged_at=start if score >= 0.7 else None,
        reasons=["burst sign-up"] if score >= 0.35 else [], n_requests=40, first_seen=start,
        last_seen=start + timedelta(hours=10), model_version="bench", org_id=None, verification_path=rnd.choice(PATHS),
        models=sorted(rnd.sample(MODELS, rnd.randint(1, 2))), hourly_requests=hourly,
        sample_prompts=["Explain step by step."])


MIXES = {
    "accounts": {"kind": "account"},
    "clusters_flagged": {"kind": "cluster", "flagged": "true"},
    "accounts_new_education_score": {"kind": "account", "status": "new", "verification_path": "education",
                                     "min_score": "0.5"},
    "accounts_model_time": {"kind": "account", "model": "frontier-3", "since": "2026-03-05T00:00:00Z"},
    "clusters_indicator": {"kind": "cluster", "indicator": "10.0.7.1"},
    "accounts_page_3": {"kind": "account", "pages": 3},
}


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))] * 1000, 2)


async def _load(base: str, token: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    names = list(MIXES)
    lat: dict[str, list[float]] = {n: [] for n in names}
    errors = 0
    failures: dict[str, int] = {}
    counter = iter(range(10**9))

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal errors
        while (i := next(counter)) < REQUESTS + WARMUP:
            name = names[i % len(names)]
            params = dict(MIXES[name])
            pages = int(params.pop("pages", 1))
            cursor = None
            for _ in range(pages):  # each page is one timed request
                t = time.perf_counter()
                try:
                    r = await c.get("/api/v1/detections", params=params | ({"cursor": cursor} if cursor else {}))
                except httpx.TransportError as exc:
                    errors += 1
                    failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                    break
                dt = time.perf_counter() - t
                if r.status_code != 200:
                    failures[str(r.status_code)] = failures.get(str(r.status_code), 0) + 1
                    errors += 1
                    break
                cursor = r.json()["next_cursor"]
                if i >= WARMUP:
                    lat[name].append(dt)

    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(CLIENTS)))
        wall = time.perf_counter() - t0
    every = [x for v in lat.values() for x in v]
    return {"requests": len(every), "errors": errors, "failures": failures, "throughput_rps": round(len(every) / wall, 1),
            "p50_ms": _pct(every, 0.50), "p95_ms": _pct(every, 0.95), "p99_ms": _pct(every, 0.99),
            "by_mix": {n: {"n": len(v), "p50_ms": _pct(v, 0.5), "p99_ms": _pct(v, 0.99)} for n, v in lat.items() if v}}


def _serve(url: str, port: int, log: Path) -> subprocess.Popen:
    env = os.environ | {"DATABASE_URL": url, "API_RATE_LIMIT_PER_MINUTE": "100000000", "LOG_LEVEL": "WARNING",
                        "KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "2", "--log-level", "warning", "--no-access-log"],
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
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
            upsert_detections(s, verdicts[i:i + 5000], [])
        upsert_detections(s, [], clusters)
    load_s = time.perf_counter() - t
    with session_scope(url) as s:  # a review state spread: a few clusters' accounts under review
        s.execute(text("UPDATE account_verdicts SET status = 'in_review' WHERE cluster_id < 'c00100'"))
        token = create_token(s, "bench", "viewer")[1]
    t = time.perf_counter()
    with session_scope(url) as s:
        upsert_detections(s, verdicts[:5000], [])
    reapply_5k_s = time.perf_counter() - t
    port = free_port()
    proc = _serve(url, port, workdir / f"uvicorn-{port}.log")
    try:
        result = asyncio.run(_load(f"http://127.0.0.1:{port}", token))
    finally:
        proc.terminate()
        proc.wait(10)
    return result | {"load_100k_seconds": round(load_s, 1), "reapply_5k_unchanged_seconds": round(reapply_5k_s, 2)}


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


def run(workdir: Path) -> dict:
    """Queue latency under load on PostgreSQL and SQLite."""
    verdicts, clusters = world()
    out: dict = {"detections": len(verdicts), "clusters": len(clusters), "clients": CLIENTS,
                 "requests_per_db": REQUESTS, "server": "uvicorn, 2 workers, loopback", "target_p99_ms": 100}
    pg, drop = _pg_database()
    if pg is None:
        out["postgresql"] = {"skipped": drop}
    else:
        try:
            out["postgresql"] = _measure(pg, workdir, verdicts, clusters)
        finally:
            from api.database import engine_for

            engine_for(pg).dispose()
            drop()
    out["sqlite"] = _measure(f"sqlite:///{workdir / 'bench.db'}", workdir, verdicts, clusters)
    pg_p99 = out["postgresql"].get("p99_ms")
    out["postgresql_p99_under_target"] = pg_p99 is not None and pg_p99 < 100
    return out
