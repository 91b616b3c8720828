"""Fixtures of the stream tests: the real embedded broker, a simulated day, `distillguard worker` subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from distillguard.detector.detector import Detector
from distillguard.detector.events import read_events
from distillguard.detector.model import load_model
from distillguard.detector.records import AccountVerdict
from distillguard.streams.broker import EmbeddedBroker
from tests.ports import free_port
from tests.stream.synth import model_for, simulated

EXE = str(Path(sys.executable).with_name("distillguard"))


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_for(tmp_path_factory.mktemp("model"))


@dataclass
class Day:
    events: Path
    n: int
    verdicts: dict[str, AccountVerdict]


@pytest.fixture(scope="session")
def day(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Day:
    """A simulated day and the batch detector's verdicts on it (the reference of every stream test)."""
    path = simulated(tmp_path_factory.mktemp("day"), seed=3, scale=0.05)
    det = Detector(load_model(model_path))
    events = list(read_events(path))
    det.process(events)
    det.flush()
    return Day(path, len({e.event_id for e in events}), {v.account_id: v for v in det.verdicts()})  # replays count once


@pytest.fixture(scope="session")
def broker():
    with EmbeddedBroker(free_port()) as b:
        yield b


@dataclass
class Stream:
    """Topic names, database and state directory of one test's pipeline."""

    bootstrap: str
    root: Path
    model: Path
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    workers: list[WorkerProc] = field(default_factory=list)
    database_url: str | None = None  # default: a SQLite file under ``root``

    @property
    def env(self) -> dict[str, str]:
        t = self.tag
        return {
            "KAFKA_BOOTSTRAP": self.bootstrap,
            "EVENTS_TOPIC": f"events-{t}",
            "DLQ_TOPIC": f"dlq-{t}",
            "DETECTIONS_TOPIC": f"detections-{t}",
            "SUMMARIES_TOPIC": f"summaries-{t}",
            "ENFORCEMENT_TOPIC": f"enforcement-{t}",
            "DATABASE_URL": self.database_url or f"sqlite:///{self.root / 'review.db'}",
            "MODEL_PATH": str(self.model),
            "LOG_JSON": "true",
        }

    def worker(self, *args: str, partitions: int = 4, exit_when_idle: float = 0) -> WorkerProc:
        port = free_port()
        env = os.environ | self.env | {"METRICS_PORT": str(port)}
        log = open(self.root / f"worker-{len(self.workers)}.log", "ab")  # noqa: SIM115 - closed by WorkerProc
        cmd = [
            EXE,
            "worker",
            "--partitions",
            str(partitions),
            "--state-dir",
            str(self.root / "state"),
            "--group",
            f"g-{self.tag}",
            "--snapshot-every",
            "1",
            "--exit-when-idle",
            str(exit_when_idle),
            *args,
        ]
        w = WorkerProc(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), port, log)
        self.workers.append(w)
        return w

    def verdicts(self) -> dict[str, AccountVerdict]:
        from distillguard.api.database import session_scope
        from distillguard.api.detections.service import export_verdicts

        with session_scope(self.env["DATABASE_URL"]) as s:
            return {v.account_id: v for v in export_verdicts(s)}

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(self.root.glob("worker-*.log")))


@dataclass
class WorkerProc:
    proc: subprocess.Popen
    port: int
    log: object

    def metrics(self) -> dict[str, float]:
        """The worker's Prometheus metrics (name{labels} -> value), or {} while it is not serving."""
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2).read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def wait(self, cond, timeout: float = 60.0, what: str = "") -> dict[str, float]:
        """Poll the metrics until ``cond(metrics)`` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"worker exited with {self.proc.returncode} while waiting for {what}"
            m = self.metrics()
            if m and cond(m):
                return m
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; last metrics: {json.dumps(self.metrics())[:2000]}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> None:
        """Ask the worker to stop (SIGTERM) without waiting: :meth:`stop` waits."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def stream(broker: EmbeddedBroker, tmp_path: Path, model_path: Path):
    s = Stream(broker.bootstrap, tmp_path, model_path)
    yield s
    stop_all(s.workers)


def stop_all(workers: list[WorkerProc]) -> None:
    """Stop the workers together: stopped one by one, each stop makes the group rebalance, and a worker told to
    stop in the middle of that rebalance waits out its 10 s consumer-stop timeout."""
    for w in workers:
        w.terminate()
    for w in workers:
        w.stop()


def assert_same_verdicts(got: dict[str, AccountVerdict], want: dict[str, AccountVerdict], tol: float = 1e-4) -> None:
    """Same accounts, each with the same number of requests (none lost, none counted twice), the same flagged
    set, scores within ``tol``."""
    assert got.keys() == want.keys(), f"{len(got.keys() ^ want.keys())} accounts differ"
    miscounted = {a: (got[a].n_requests, want[a].n_requests) for a in want if got[a].n_requests != want[a].n_requests}
    assert not miscounted, f"request counts differ (got, want): {dict(list(miscounted.items())[:5])}"
    flagged_got = {a for a, v in got.items() if v.flagged}
    flagged_want = {a for a, v in want.items() if v.flagged}
    assert flagged_got == flagged_want
    worst = max((abs(got[a].score - want[a].score), a) for a in want)
    assert worst[0] <= tol, f"score of {worst[1]} differs by {worst[0]:.6f}"


def read_topic(bootstrap: str, topic: str, at_least: int = 0, timeout: float = 30.0) -> list:
    """Every record of ``topic``: read until each partition's position reaches its end offset and at least
    ``at_least`` records have arrived (never until a silence: a slow broker cannot cut the read short)."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        deadline = time.monotonic() + timeout
        while not (known := c.partitions_for_topic(topic)):
            assert time.monotonic() < deadline, f"{topic}: no such topic"
            time.sleep(0.2)
        parts = [TopicPartition(topic, p) for p in sorted(known)]
        c.assign(parts)
        c.seek_to_beginning(*parts)
        out: list = []
        while len(out) < at_least or any(c.position(tp) < end for tp, end in c.end_offsets(parts).items()):
            assert time.monotonic() < deadline, f"{topic}: {len(out)} records read, {at_least} expected"
            for batch in c.poll(timeout_ms=500).values():
                out.extend(batch)
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        c.close()
