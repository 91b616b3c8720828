"""What DistillGuard's LiteLLM callback adds to a request, next to the same proxy without it, in the same run.

Two real LiteLLM proxies on loopback answer with mock responses under the same settings, one with the callback
producing to the embedded broker and one without (neither has LiteLLM's other callbacks). An open-loop load
generator (asyncio + aiohttp, about a tenth of httpx's CPU a request) starts request ``i`` at ``i / rate`` seconds
whatever the answers, and a request's latency runs from that scheduled start to its answer, so a stalled proxy is
charged for every request it delays.

The rate is the target, 200 requests a second, when the proxy without the callback sustains it here; otherwise
the highest of :data:`CALIBRATION_RATES` it sustains (every request answered, p99 under
:data:`SUSTAINED_P99_MS`), tried from the top, and the result says so. Then ``ROUNDS`` rounds of ``SECONDS`` per
proxy, the order flipped every round so that a change in the machine's load falls on both; the added latency is
the difference of the pooled percentiles, with a 95% interval from resampling whole rounds. Every request the
callback's proxy answered is looked up on the topic by its call id (``x-litellm-call-id``, the event's id).
Beside it, the callback's own work per request (build, validate, encode, queue) is timed in this process.
``BENCH_LITELLM_RATE`` (skips the calibration), ``BENCH_LITELLM_SECONDS`` and ``BENCH_LITELLM_ROUNDS`` override.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import aiohttp  # LiteLLM's own dependency: the bench needs LiteLLM anyway
import numpy as np

from distillguard.streams.broker import EmbeddedBroker
from distillguard.streams.gateways.litellm_proxy import CALLBACK, LiteLLMProxy, simulated_key
from distillguard.streams.gateways.producer import EventProducer, Outcome
from distillguard.streams.gateways.settings import LiteLLMSettings
from tests.stream.conftest import read_topic
from tests.stream.litellm_kwargs import success_kwargs

TARGET_RATE = 200.0  # requests a second the figure is stated at
# Tried from the top until the proxy without the callback sustains one (the first is the target).
CALIBRATION_RATES = (TARGET_RATE, 160.0, 130.0, 100.0, 80.0, 65.0, 50.0, 40.0, 30.0, 20.0)
CALIBRATION_SECONDS = 4.0
# Below capacity a mocked request answers in tens of ms; above it a backlog grows and p99 runs to seconds.
SUSTAINED_P99_MS = 250.0
# A calibration step stops sending once more requests wait than twice what a proxy answering within
# SUSTAINED_P99_MS holds (Little's law): past that the rate is lost, and its backlog only delays the next step.
GIVE_UP_BACKLOG = 2 * SUSTAINED_P99_MS / 1000
# LiteLLM spends 7-13 ms of CPU on a mocked request (its middleware, auth, router, logging): one worker process
# is one core at 60-150 requests/s here; two use both cores (the same for both proxies).
WORKERS = 2
# uvicorn's parent kills a worker that does not answer its ping within 5 s (then starts another): a worker importing
# LiteLLM or busy with requests on a loaded two-core machine can miss that, and restart forever. Give it longer.
WORKER_HEALTHCHECK_S = 120
# Two proxies of two workers import LiteLLM six times at once (each worker and its parent).
STARTUP_TIMEOUT_S = 300.0
FORCED_RATE = os.environ.get("BENCH_LITELLM_RATE")
SECONDS = float(os.environ.get("BENCH_LITELLM_SECONDS", "3"))
ROUNDS = int(os.environ.get("BENCH_LITELLM_ROUNDS", "12"))
# A fresh worker's first requests are slow (LiteLLM loads features on first use, connections open): each proxy
# answers COLD_REQUESTS at COLD_RATE before the calibration, and WARMUP_SECONDS at the measured rate before the rounds.
COLD_RATE = 20.0
COLD_REQUESTS = 60
WARMUP_SECONDS = 2.0
BOOTSTRAP_RESAMPLES = 2_000
BOOTSTRAP_SEED = 7
REQUEST_TIMEOUT_S = 60.0
MAX_CONNECTIONS = 512  # more than rate x latency ever needs: a request never waits for a connection of ours
FLUSH_WAIT_S = 2.0  # the producer lingers 5 ms and is acknowledged in ms: this is ample before reading the topic
ACCOUNTS = 50
MODEL = "frontier-1"
IN_PROCESS_CALLS = 20_000
TARGET_ADDED_P99_MS = 1.0
PROMPT = "Explain, step by step, how request {i} of account {a} should be answered, and show your reasoning."


class BenchProxy(LiteLLMProxy):
    """The harness's proxy with the DistillGuard callback alone, or no callback: the demo's also turns on
    LiteLLM's ``prometheus`` callback, whose work would be charged to DistillGuard's."""

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["litellm_settings"]["callbacks"] = [CALLBACK] if self.callback else []
        return cfg


@dataclass
class Load:
    """One open-loop run against one proxy: latencies (ms, from the scheduled start), answers, call ids."""

    rate: float
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    failed: int = 0
    call_ids: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)  # HTTP status or exception -> requests
    gave_up: bool = False

    def p(self, q: float) -> float:
        return float(np.percentile(self.latencies, q))

    @property
    def sustained(self) -> bool:
        """Every request sent and answered 200, p99 under :data:`SUSTAINED_P99_MS`."""
        return not self.gave_up and self.failed == 0 and self.p(99) <= SUSTAINED_P99_MS


async def _load(
    client: aiohttp.ClientSession, rate: float, seconds: float, start: int, *, give_up: bool = False
) -> Load:
    """Open loop: request ``start + i`` is due at ``i / rate`` s; every request sent is awaited. With ``give_up``,
    sending stops once the backlog shows the rate is not sustained (:data:`GIVE_UP_BACKLOG`)."""
    out = Load(rate)

    async def one(i: int, due: float) -> None:
        a = f"bench-{i % ACCOUNTS}"
        body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT.format(i=i, a=a)}], "max_tokens": 512}
        headers = {"Authorization": f"Bearer {simulated_key(a)}", "X-Forwarded-For": f"198.51.100.{i % ACCOUNTS}"}
        try:
            async with client.post("/v1/chat/completions", json=body, headers=headers) as r:
                await r.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            out.failed += 1
            out.errors[type(exc).__name__] += 1
        else:
            if r.status == HTTPStatus.OK:
                out.ok += 1
                out.call_ids.append(r.headers.get("x-litellm-call-id", ""))
            else:
                out.failed += 1
                out.errors[str(r.status)] += 1
        out.latencies.append(1000 * (time.perf_counter() - due))

    t0 = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    for i in range(round(rate * seconds)):
        if give_up and len(tasks) - len(out.latencies) > rate * GIVE_UP_BACKLOG:
            out.gave_up = True
            break
        due = t0 + i / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(start + i, due)))
    await asyncio.gather(*tasks)
    return out


def _client(proxy: LiteLLMProxy) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        proxy.url,
        connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
    )


def _step(load: Load) -> dict[str, Any]:
    return {
        "rate_per_s": load.rate,
        "requests": len(load.latencies),
        "failed": load.failed,
        "errors": dict(load.errors),
        "gave_up": load.gave_up,
        "p50_ms": round(load.p(50), 2),
        "p99_ms": round(load.p(99), 2),
        "sustained": load.sustained,
    }


def _pooled(rounds: list[Load], idx: np.ndarray, q: float) -> float:
    return float(np.percentile(np.concatenate([rounds[i].latencies for i in idx]), q))


def _compare(plain: list[Load], with_cb: list[Load]) -> dict[str, Any]:
    """Each configuration's pooled p50/p99, the added latency, its 95% interval from resampling whole rounds
    (pairs of rounds run back to back), and the round-by-round differences."""
    every = np.arange(len(plain))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    samples = rng.integers(0, len(plain), size=(BOOTSTRAP_RESAMPLES, len(plain)))
    out: dict[str, Any] = {}
    for name, rounds in (("without", plain), ("with", with_cb)):
        out[name] = {
            "requests": sum(len(r.latencies) for r in rounds),
            "ok": sum(r.ok for r in rounds),
            "failed": sum(r.failed for r in rounds),
            "errors": dict(sum((r.errors for r in rounds), Counter())),
            "p50_ms": round(_pooled(rounds, every, 50), 2),
            "p99_ms": round(_pooled(rounds, every, 99), 2),
            "rounds_p50_ms": [round(r.p(50), 2) for r in rounds],
            "rounds_p99_ms": [round(r.p(99), 2) for r in rounds],
            "sustained": all(r.sustained for r in rounds),
        }
    for q in (50, 99):
        diffs = [_pooled(with_cb, s, q) - _pooled(plain, s, q) for s in samples]
        lo, hi = np.percentile(diffs, [2.5, 97.5])
        out[f"added_p{q}_ms"] = round(_pooled(with_cb, every, q) - _pooled(plain, every, q), 2)
        out[f"added_p{q}_ci95_ms"] = [round(float(lo), 2), round(float(hi), 2)]
        out[f"rounds_added_p{q}_ms"] = [round(w.p(q) - p.p(q), 2) for p, w in zip(plain, with_cb, strict=True)]
    return out


def _verdict(figures: dict[str, Any], rate: float) -> str:
    """``met`` / ``missed`` when the interval of the added p99 is on one side of the target, at the target rate;
    otherwise what stands in the way."""
    lo, hi = figures["added_p99_ci95_ms"]
    if not (figures["without"]["sustained"] and figures["with"]["sustained"]):
        return "unresolved: a proxy did not sustain the rate in every round"
    if lo > TARGET_ADDED_P99_MS:
        return "missed"
    if hi > TARGET_ADDED_P99_MS:
        return f"unresolved: the interval ({lo:+.2f}, {hi:+.2f} ms) is wider than the target"
    return "met" if rate == TARGET_RATE else f"met at {rate:g}/s, below the target rate"


async def _measure(plain: LiteLLMProxy, with_cb: LiteLLMProxy) -> tuple[dict[str, Any], list[str]]:
    """Calibrate the rate on the proxy without the callback, warm both, run the rounds: (figures, the call ids
    the callback's proxy answered)."""
    out: dict[str, Any] = {"calibration": []}
    call_ids: list[str] = []
    start, cpu0 = 0, time.process_time()
    async with _client(plain) as c_plain, _client(with_cb) as c_cb:
        for client in (c_plain, c_cb):
            cold = await _load(client, COLD_RATE, COLD_REQUESTS / COLD_RATE, start)
            start += len(cold.latencies)
            call_ids += cold.call_ids if client is c_cb else []
        if FORCED_RATE:
            rate = float(FORCED_RATE)
        else:
            for rate in CALIBRATION_RATES:
                step = await _load(c_plain, rate, CALIBRATION_SECONDS, start, give_up=True)
                start += len(step.latencies)
                out["calibration"].append(_step(step))
                if step.sustained:
                    break
        for client in (c_plain, c_cb):
            warm = await _load(client, rate, WARMUP_SECONDS, start)
            start += len(warm.latencies)
            call_ids += warm.call_ids if client is c_cb else []
        runs: dict[str, list[Load]] = {"without": [], "with": []}
        for k in range(ROUNDS):
            order = (("without", c_plain), ("with", c_cb))
            for name, client in order if k % 2 == 0 else order[::-1]:
                load = await _load(client, rate, SECONDS, start)
                start += len(load.latencies)
                runs[name].append(load)
                call_ids += load.call_ids if client is c_cb else []
    out["generator_cpu_ms_per_request"] = round(1000 * (time.process_time() - cpu0) / start, 3)
    out["rate_per_s"] = rate
    out["target_rate_sustained"] = rate == TARGET_RATE
    out |= _compare(runs["without"], runs["with"])
    out["verdict"] = _verdict(out, rate)
    return out, call_ids


def _events(bootstrap: str, topic: str, call_ids: list[str]) -> dict[str, Any]:
    """The callback proxy's answered requests against the events on the topic, by call id."""
    records = read_topic(bootstrap, topic, at_least=len(call_ids), timeout=REQUEST_TIMEOUT_S)
    on_topic = [json.loads(r.value)["event_id"] for r in records]
    answered = set(call_ids)
    return {
        "requests_answered_with_callback": len(call_ids),
        "without_call_id": call_ids.count(""),
        "on_topic": len(on_topic),
        "distinct_on_topic": len(set(on_topic)),
        "lost": len(answered - set(on_topic)),
        "not_answered_here": len(set(on_topic) - answered),
    }


def _in_process(bootstrap: str, topic: str) -> dict[str, Any]:
    """The callback's work per request in this process, producing to the broker."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from distillguard.streams.gateways.litellm import DistillGuardCallback

    settings = LiteLLMSettings()
    producer = EventProducer(bootstrap, topic, queue_size=IN_PROCESS_CALLS)
    cb = DistillGuardCallback(settings, producer)
    kwargs = [success_kwargs() for _ in range(100)]
    for i, kw in enumerate(kwargs):
        kw["standard_logging_object"]["litellm_call_id"] = str(uuid.UUID(int=i))
    times = []
    for i in range(IN_PROCESS_CALLS):
        t0 = time.perf_counter()
        cb.record(kwargs[i % len(kwargs)], failed=False)
        times.append(1000 * (time.perf_counter() - t0))
    producer.close()
    return {
        "calls": IN_PROCESS_CALLS,
        "p50_ms": round(float(np.percentile(times, 50)), 4),
        "p99_ms": round(float(np.percentile(times, 99)), 4),
        "produced": producer.stats.outcomes.get(Outcome.PRODUCED, 0),
    }


def run(workdir: Path) -> dict[str, Any]:
    topic = f"litellm-bench-{uuid.uuid4().hex[:8]}"
    out: dict[str, Any] = {
        "seconds_per_round": SECONDS,
        "rounds": ROUNDS,
        "accounts": ACCOUNTS,
        "proxy_workers": WORKERS,
        "target_rate_per_s": TARGET_RATE,
        "target_added_p99_ms": TARGET_ADDED_P99_MS,
        "sustained_p99_ms": SUSTAINED_P99_MS,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        env = {
            "KAFKA_BOOTSTRAP": broker.bootstrap,
            "EVENTS_TOPIC": topic,
            "TIMEOUT_WORKER_HEALTHCHECK": str(WORKER_HEALTHCHECK_S),
        }
        proxy_opts: dict[str, Any] = {"workers": WORKERS, "startup_timeout": STARTUP_TIMEOUT_S}
        proxies = (
            BenchProxy(workdir / "plain", [MODEL], callback=False, env=env, **proxy_opts),
            BenchProxy(workdir / "callback", [MODEL], env=env, **proxy_opts),
        )
        try:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(len(proxies)) as pool:  # LiteLLM imports for tens of seconds: start both at once
                list(pool.map(LiteLLMProxy.start, proxies))
            out["proxies_started_s"] = round(time.perf_counter() - t0, 1)
            figures, call_ids = asyncio.run(_measure(*proxies))
            time.sleep(FLUSH_WAIT_S)
        finally:
            for p in proxies:
                p.stop()
        out |= figures
        out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        out["events"] = _events(broker.bootstrap, topic, call_ids)
        out["callback_in_process"] = _in_process(broker.bootstrap, f"{topic}-in-process")
    return out
