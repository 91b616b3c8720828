"""Reliability under load and faults: nothing lost, nothing counted twice, no 5xx.

* stream: one `distillguard worker` on four partitions, fed at twice its benchmarked rate
  (``bench/results/stream.json``) for ``BENCH_RELIABILITY_SECONDS``: a simulated day replayed as
  consecutive days (dates shifted, event ids unique per copy), one message in every ``MALFORMED_EVERY``
  malformed (twelve kinds), and the worker SIGKILLed and restarted twice while input is pouring in. The
  input outruns the worker, so lag grows, then drains after the input stops. Afterwards each account's
  request count in the review database is compared with the distinct events produced for it (lost =
  fewer, double-counted = more), and the distinct dead letters with the malformed messages sent; lag and
  the worker's RSS are sampled every second.
* api: 200 concurrent clients (closed loop) over the queue, counts, evidence, cases, audit and comment
  endpoints of a review database with 100k detections, on PostgreSQL (SQLite when unreachable), with
  every database session of the API terminated twice mid-run. Status codes are counted: ``5xx`` counts
  every 5xx but 503, the designed answer (with Retry-After) for a request whose database session was
  killed under it or that found every pooled connection busy; after the run the audit log must hold
  exactly one record per comment created.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import httpx
import msgspec
import psutil
from sqlalchemy import func, select, text

from bench.bench_api import _pg_database, _serve, world
from bench.bench_stream import EXE, _lines
from distillguard.api.audit.models import AuditEvent
from distillguard.api.auth.service import Principal, create_token
from distillguard.api.cases.service import open_case
from distillguard.api.database import make_engine, migrate, session_scope
from distillguard.api.detections.models import AccountRow
from distillguard.api.detections.service import upsert_detections
from distillguard.detector.simulate import simulate
from distillguard.streams.admin import ensure_topics
from distillguard.streams.broker import EmbeddedBroker, free_port
from distillguard.streams.replay import account_key

SECONDS = float(os.environ.get("BENCH_RELIABILITY_SECONDS", "60"))
SCALE = float(os.environ.get("BENCH_RELIABILITY_SCALE", "0.6"))
MALFORMED_EVERY = 2000
KILLS = 2
API_CLIENTS = 200
API_REQUESTS = 6000
DRAIN_TIMEOUT = 1800.0


class _Ids(msgspec.Struct):
    event_id: str
    account_id: str


_ids = msgspec.json.Decoder(_Ids)
_TS = re.compile(rb'"ts":"(\d{4}-\d\d-\d\d)')


def _malformed(template: bytes) -> list[tuple[bytes, str]]:
    """Bad messages of many kinds, built from a valid event (value, what is wrong)."""
    ev = msgspec.json.decode(template)

    def variant(**change) -> bytes:
        return msgspec.json.encode(ev | change)

    return [
        (template[: len(template) // 2], "truncated JSON"),
        (b"not json at all", "not JSON"),
        (b"[]", "an array"),
        (variant(input_tokens=-5), "negative tokens"),
        (variant(ts="yesterday"), "unparseable time"),
        (variant(schema_version=2), "unknown schema version"),
        (template.replace(b'"account_id":"', b'"account_id":"\xff\xfe', 1), "invalid UTF-8"),
        (template.replace(b'"input_tokens":', b'"input_tokens":NaN,"x":', 1), "NaN"),
        (template.replace(b'"output_tokens":', b'"output_tokens":1e999,"y":', 1), "1e999"),
        (variant(prompt="x" * 1_100_000), "prompt over the schema's 1 MB"),
        (variant(ts="2026-03-02T00:00:00"), "time without a zone"),
        (msgspec.json.encode({k: v for k, v in ev.items() if k != "model"}), "missing model"),
    ]


class _Copies:
    """The day's lines as consecutive days: copy k shifts every date by k days and suffixes every event id."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.expected: collections.Counter[str] = collections.Counter()  # account -> distinct valid events sent
        self._seen: set[str] = set()
        self._copy = -1
        self._shift: dict[bytes, bytes] = {}

    def line(self, i: int) -> bytes:
        k, j = divmod(i, len(self.lines))
        if k != self._copy:
            self._copy, self._seen, self._shift = k, set(), {}
        raw = self.lines[j]
        if k:
            raw = _TS.sub(self._date, raw, count=1).replace(b'"event_id":"', f'"event_id":"d{k}-'.encode(), 1)
        ids = _ids.decode(raw)
        if ids.event_id not in self._seen:
            self._seen.add(ids.event_id)
            self.expected[ids.account_id] += 1
        return raw

    def _date(self, m: re.Match) -> bytes:
        d = m.group(1)
        if d not in self._shift:
            self._shift[d] = (date.fromisoformat(d.decode()) + timedelta(days=self._copy)).isoformat().encode()
        return b'"ts":"' + self._shift[d]


class _Worker:
    """One `distillguard worker` process at a time, restartable after a SIGKILL."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.proc: psutil.Popen | None = None
        self.port = 0
        self.starts = 0

    def start(self) -> None:
        self.port = free_port()
        log = (self.root / f"worker-{self.starts}.log").open("ab")
        self.proc = psutil.Popen(
            [
                EXE,
                "worker",
                "--partitions",
                str(PARTITIONS),
                "--state-dir",
                str(self.root / "state"),
                "--group",
                "reliability",
            ],
            env=os.environ | self.env | {"METRICS_PORT": str(self.port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.starts += 1

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def metrics(self) -> dict[str, float]:
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2).read().decode()
        except OSError:
            return {}
        return {k: float(v) for k, _, v in (ln.rpartition(" ") for ln in body.splitlines() if ln and ln[0] != "#")}

    def rss_mb(self) -> float:
        try:
            return round(self.proc.memory_info().rss / 2**20, 1) if self.proc else 0.0
        except psutil.Error:
            return 0.0


def _benchmarked_rate() -> float:
    path = Path(__file__).parent / "results" / "stream.json"
    try:
        return float(json.loads(path.read_text())["throughput"]["worker"]["events_per_s"])
    except (OSError, KeyError, ValueError):
        return 15_000.0


PARTITIONS = 4


async def _produce(
    bootstrap: str, topic: str, copies: _Copies, bad: list[tuple[bytes, str]], rate: float, seconds: float, on_progress
) -> dict:
    """Send at ``rate`` for ``seconds``, partitioned by account like `distillguard replay` (Kafka's murmur2 of
    the key), in whole per-partition batches: a message at a time, Python could not outpace the worker."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.partitioner import DefaultPartitioner

    part = DefaultPartitioner()
    everyone = list(range(PARTITIONS))
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=1 << 20, max_request_size=4 << 20, acks=1)
    await p.start()
    sent = malformed = 0
    failed: list[str] = []
    pending: list[asyncio.Future] = []

    async def settle() -> None:
        for f in pending:
            try:
                await f
            except Exception as exc:  # noqa: BLE001 - counted as a failed send
                failed.append(type(exc).__name__)
        pending.clear()

    t0 = time.perf_counter()
    try:
        while (elapsed := time.perf_counter() - t0) < seconds:
            batches = {k: p.create_batch() for k in everyone}
            for _ in range(2000):
                if sent and sent % MALFORMED_EVERY == 0:
                    value = bad[malformed % len(bad)][0]
                    malformed += 1
                else:
                    value = copies.line(sent - malformed)
                key = account_key(value) or b"malformed"
                k = part(key, everyone, everyone)
                if batches[k].append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                    pending.append(await p.send_batch(batches[k], topic, partition=k))
                    batches[k] = p.create_batch()
                    batches[k].append(key=key, value=value, timestamp=None)
                sent += 1
            for k, b in batches.items():
                if b.record_count():
                    pending.append(await p.send_batch(b, topic, partition=k))
            if len(pending) > 200:
                await settle()
            on_progress(sent, elapsed)
            ahead = sent / rate - (time.perf_counter() - t0)
            if ahead > 0:
                await asyncio.sleep(ahead)
        await settle()
    finally:
        await p.stop()
    wall = time.perf_counter() - t0
    return {
        "messages": sent,
        "malformed": malformed,
        "valid": sent - malformed,
        "seconds": round(wall, 1),
        "achieved_rate": round(sent / wall),
        "failed_sends": len(failed),
    }


def _dead_letters(bootstrap: str, topic: str) -> dict:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        max_partition_fetch_bytes=8 << 20,
    )
    parts = [TopicPartition(topic, p) for p in (c.partitions_for_topic(topic) or ())]
    c.assign(parts)
    c.seek_to_beginning(*parts)
    reasons: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    places: set[tuple] = set()  # a message re-processed after a restart is dead-lettered again: count it once
    n = without_reason = 0
    for m in c:  # until 5 s without a message
        n += 1
        h = dict(m.headers or [])
        if not h.get("dlq-reason"):
            without_reason += 1
        kinds[h.get("dlq-kind", b"").decode()] += 1
        places.add((h.get("dlq-kind"), h.get("source-partition"), h.get("source-offset")))
        reasons[h.get("dlq-reason", b"").decode(errors="replace").split(":")[0]] += 1
    c.close()
    distinct = collections.Counter(kind.decode() for kind, _, _ in places if kind)
    return {
        "messages": n,
        "distinct_messages": len(places),
        "distinct_by_kind": dict(distinct),
        "without_reason": without_reason,
        "by_kind": dict(kinds),
        "by_reason": dict(reasons.most_common(12)),
    }


def stream_run(workdir: Path) -> dict:
    """The worker at twice its benchmarked rate with SIGKILLs and malformed input; counts compared after."""
    workdir.mkdir(parents=True, exist_ok=True)
    simulate(workdir / "day", seed=11, scale=SCALE, scenario="standard", redact=0.0)
    lines = _lines(workdir / "day" / "events.jsonl.gz")
    copies = _Copies(lines)
    bad = _malformed(lines[0])
    rate = 2 * _benchmarked_rate()
    db = f"sqlite:///{workdir / 'review.db'}"
    samples: list[dict] = []
    with EmbeddedBroker() as broker:
        env = {
            "KAFKA_BOOTSTRAP": broker.bootstrap,
            "EVENTS_TOPIC": "rel-events",
            "DLQ_TOPIC": "rel-dlq",
            "DETECTIONS_TOPIC": "rel-detections",
            "SUMMARIES_TOPIC": "rel-summaries",
            "ENFORCEMENT_TOPIC": "rel-enf",
            "DATABASE_URL": db,
            "LOG_JSON": "true",
        }
        ensure_topics(broker.bootstrap, {"rel-events": (PARTITIONS, {}), "rel-dlq": (1, {})})
        worker = _Worker(workdir, env)
        worker.start()
        deadline = time.monotonic() + 90
        while worker.metrics().get("distillguard_assigned_partitions") != PARTITIONS:
            if time.monotonic() > deadline:
                raise RuntimeError("the worker never got its partitions")
            time.sleep(0.3)
        kills_at = [SECONDS * (i + 1) / (KILLS + 1) for i in range(KILLS)]
        stop = threading.Event()
        t0 = time.monotonic()

        def sample() -> None:
            while not stop.is_set():
                m = worker.metrics()
                samples.append(
                    {
                        "t": round(time.monotonic() - t0, 1),
                        "lag": m.get("distillguard_consumer_lag"),
                        "events": m.get("distillguard_events_total"),
                        "rss_mb": worker.rss_mb(),
                        "worker": worker.starts,
                    }
                )
                stop.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        def progress(_sent: int, elapsed: float) -> None:
            if kills_at and elapsed >= kills_at[0]:
                kills_at.pop(0)
                worker.kill()
                worker.start()

        produced = asyncio.run(_produce(broker.bootstrap, "rel-events", copies, bad, rate, SECONDS, progress))
        input_done = time.monotonic()
        while True:
            m = worker.metrics()
            if (
                m.get("distillguard_idle") == 1
                and m.get("distillguard_consumer_lag") == 0
                and m.get("distillguard_db_pending", 0) == 0
            ):
                break
            if time.monotonic() - input_done > DRAIN_TIMEOUT:
                raise RuntimeError(f"the worker did not drain within {DRAIN_TIMEOUT:.0f} s: {m}")
            if worker.proc is not None and worker.proc.poll() is not None:
                raise RuntimeError(f"the worker exited; see {workdir}/worker-*.log")
            time.sleep(0.5)
        drained_after = time.monotonic() - input_done
        stop.set()
        sampler.join()
        dlq = _dead_letters(broker.bootstrap, "rel-dlq")
        worker.proc.terminate()
        worker.proc.wait(30)
    with session_scope(db) as s:
        counted = dict(s.execute(select(AccountRow.account_id, AccountRow.n_requests)).all())
    want = copies.expected
    lost = sum(max(n - counted.get(a, 0), 0) for a, n in want.items())
    double = sum(max(n - want.get(a, 0), 0) for a, n in counted.items())
    lags = [s["lag"] for s in samples if s["lag"] is not None]
    rss = [s["rss_mb"] for s in samples if s["rss_mb"]]
    return {
        "benchmarked_worker_rate": round(rate / 2),
        "target_input_rate": round(rate),
        "input": produced,
        "day_events": len(lines),
        "days_replayed": round(produced["valid"] / len(lines), 2),
        "worker_sigkills": KILLS,
        "worker_starts": worker.starts,
        "distinct_events_sent": sum(want.values()),
        "events_counted": sum(counted.values()),
        "events_lost": lost,
        "events_double_counted": double,
        "accounts": len(want),
        "dead_letters": dlq,
        "dead_letters_match_malformed": dlq["distinct_by_kind"].get("invalid", 0) == produced["malformed"],
        "peak_lag": max(lags, default=0),
        "drained_seconds_after_input_stopped": round(drained_after, 1),
        "worker_rss_mb": {
            "first_quarter_max": max(rss[: len(rss) // 4] or [0]),
            "peak": max(rss, default=0),
            "last": rss[-1] if rss else 0,
        },
        "samples": samples[::5],
    }


async def _api_load(
    base: str, tokens: dict[str, str], case_ids: list[int], cluster_ids: list[str], account_ids: list[str], on_progress
) -> dict:
    statuses: collections.Counter[str] = collections.Counter()
    lat: list[float] = []
    comments = 0
    counter = iter(range(10**9))

    def request(i: int) -> tuple[str, str, dict | None, str]:
        k = i % 20
        if k < 8:
            return (
                "GET",
                "/api/v1/detections",
                {"kind": "cluster" if k % 2 else "account", "min_score": "0.3"},
                "viewer",
            )
        if k < 10:
            return "GET", "/api/v1/detections/counts", {"kind": "account"}, "viewer"
        if k < 13:
            return "GET", f"/api/v1/clusters/{cluster_ids[i % len(cluster_ids)]}", None, "viewer"
        if k < 16:
            return "GET", f"/api/v1/accounts/{account_ids[i % len(account_ids)]}", None, "viewer"
        if k < 17:
            return "GET", "/api/v1/cases", None, "viewer"
        if k < 18:
            return "GET", "/api/v1/audit", {"limit": "50"}, "viewer"
        return "POST", f"/api/v1/cases/{case_ids[i % len(case_ids)]}/comments", None, "lead"

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal comments
        while (i := next(counter)) < API_REQUESTS:
            method, path, params, role = request(i)
            headers = {"Authorization": f"Bearer {tokens[role]}"}
            t = time.perf_counter()
            try:
                if method == "GET":
                    r = await c.get(path, params=params, headers=headers)
                else:
                    r = await c.post(path, json={"body": f"load comment {i}"}, headers=headers)
            except httpx.TransportError as exc:
                statuses[type(exc).__name__] += 1
                continue
            lat.append(time.perf_counter() - t)
            statuses[str(r.status_code)] += 1
            if method == "POST" and r.status_code == 201:
                comments += 1
            on_progress(i)

    limits = httpx.Limits(max_connections=API_CLIENTS, max_keepalive_connections=API_CLIENTS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(API_CLIENTS)))
        wall = time.perf_counter() - t0
    lat.sort()
    pct = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1) if lat else None  # noqa: E731
    return {
        "requests": sum(statuses.values()),
        "statuses": dict(sorted(statuses.items())),
        "comments_created": comments,
        "throughput_rps": round(len(lat) / wall, 1),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
    }


def api_run(workdir: Path) -> dict:
    """200 clients against the review API while the database drops every session twice."""
    url, drop = _pg_database()
    dialect = "postgresql"
    if url is None:
        url, drop, dialect = f"sqlite:///{workdir / 'api.db'}", (lambda: None), "sqlite"
    try:
        migrate(url)
        verdicts, clusters = world(seed=13)
        with session_scope(url) as s:
            for i in range(0, len(verdicts), 5000):
                upsert_detections(s, verdicts[i : i + 5000], [])
            upsert_detections(s, [], clusters)
            tokens = {role: create_token(s, f"rel-{role}", role)[1] for role in ("viewer", "lead")}
        with session_scope(url) as s:
            who = Principal(name="rel-lead", role="lead", token_id=0)
            case_ids = [open_case(s, who, "cluster", c.cluster_id, "load test", None).id for c in clusters[:20]]
            audit_before = s.scalar(select(func.count()).select_from(AuditEvent))
        port = free_port()
        proc = _serve(url, port, workdir / "uvicorn-reliability.log")
        drops: list[int] = []
        marks = [API_REQUESTS // 3, 2 * API_REQUESTS // 3]

        def progress(i: int) -> None:
            if dialect == "postgresql" and marks and i >= marks[0]:
                marks.pop(0)
                drops.append(_terminate_sessions(url))

        try:
            result = asyncio.run(
                _api_load(
                    f"http://127.0.0.1:{port}",
                    tokens,
                    case_ids,
                    [c.cluster_id for c in clusters[:500]],
                    [v.account_id for v in verdicts[::97]],
                    progress,
                )
            )
        finally:
            proc.terminate()
            proc.wait(15)
        with session_scope(url) as s:
            audit_after = s.scalar(select(func.count()).select_from(AuditEvent))
        codes = result["statuses"]
        five = sum(n for code, n in codes.items() if code.startswith("5") and code != "503")
        transport = sum(n for code, n in codes.items() if not code.isdigit())
        return result | {
            "database": dialect,
            "clients": API_CLIENTS,
            "sessions_terminated": drops,
            "5xx": five,
            "503": codes.get("503", 0),
            "transport_errors": transport,
            "audit_records_added": audit_after - audit_before,
            "audit_matches_comments": audit_after - audit_before == result["comments_created"],
        }
    finally:
        drop()


def _terminate_sessions(url: str) -> int:
    name = url.rsplit("/", 1)[1]
    engine = make_engine(url.rsplit("/", 1)[0] + "/test")
    with engine.connect() as c:
        n = len(
            c.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": name},
            ).all()
        )
        c.commit()
    engine.dispose()
    return n


def run(workdir: Path) -> dict:
    """Both runs; the headline figures (lost, double-counted, 5xx) must all be 0."""
    stream = stream_run(workdir / "stream")
    api = api_run(workdir)
    return {
        "malformed_every": MALFORMED_EVERY,
        "summary": {
            "events_lost": stream["events_lost"],
            "events_double_counted": stream["events_double_counted"],
            "dead_letters_match_malformed": stream["dead_letters_match_malformed"],
            "api_5xx": api["5xx"],
            "api_503": api["503"],
            "api_transport_errors": api["transport_errors"],
            "audit_matches_comments": api["audit_matches_comments"],
        },
        "stream": stream,
        "api": api,
    }
