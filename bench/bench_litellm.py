"""What DistillGuard's LiteLLM callback costs a request, next to the same proxy without it, in the same run.

Two real LiteLLM proxies on loopback answer with mock responses, one with the callback producing to the embedded
broker and one without. An open-loop load generator (asyncio + httpx: requests start on a fixed schedule, whatever
the answers) sends chat completions to each in turn at each of ``RATES`` requests a second (the target, 200, and one
the proxy alone keeps up with on a shared two-core machine), ``ROUNDS`` times alternately so that a change in the
machine's load falls on both, each round ``SECONDS`` long after a warm-up; a request's latency runs from its
scheduled start to its answer. Every event produced while the broker is up is counted on the topic. Beside it, the
callback's own work per request (build, validate, encode, queue) is timed in this process on recorded kwargs.
``BENCH_LITELLM_RATES``, ``BENCH_LITELLM_SECONDS`` and ``BENCH_LITELLM_ROUNDS`` override the defaults.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from distillguard.streams.broker import EmbeddedBroker
from distillguard.streams.gateways.litellm_proxy import LiteLLMProxy, simulated_key
from distillguard.streams.gateways.producer import EventProducer, Outcome
from distillguard.streams.gateways.settings import LiteLLMSettings
from tests.stream.conftest import read_topic
from tests.stream.litellm_kwargs import success_kwargs

# The target rate, and one the proxy alone serves on a shared two-core machine: at a rate above its capacity the
# latency measures the backlog of waiting requests, not a request.
RATES = tuple(float(r) for r in os.environ.get("BENCH_LITELLM_RATES", "200,20").split(","))
SECONDS = float(os.environ.get("BENCH_LITELLM_SECONDS", "10"))
WARMUP_REQUESTS = 100  # per proxy and rate, before measuring
ROUNDS = int(os.environ.get("BENCH_LITELLM_ROUNDS", "3"))
ACCOUNTS = 50
MODEL = "frontier-1"
IN_PROCESS_CALLS = 20_000
TARGET_ADDED_P99_MS = 1.0
SATURATED_P50_MS = 1000.0  # the proxy without the callback answers slower than this: it cannot keep up with the rate
PROMPT = "Explain, step by step, how request {i} of account {a} should be answered, and show your reasoning."


def _percentile(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=1000, method="inclusive")[round(q * 1000) - 1] if len(xs) > 1 else xs[0]


async def _load(url: str, rate: float, seconds: float, start: int) -> tuple[list[float], int, int]:
    """Open loop: request ``i`` starts at ``i / rate`` s; latencies (ms) from scheduled start to answer, the
    requests answered 200, and those that were not."""
    latencies: list[float] = []
    ok = failed = 0

    async def one(client: httpx.AsyncClient, i: int, due: float) -> None:
        nonlocal ok, failed
        a = f"bench-{i % ACCOUNTS}"
        body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT.format(i=i, a=a)}], "max_tokens": 512}
        headers = {"Authorization": f"Bearer {simulated_key(a)}", "X-Forwarded-For": f"198.51.100.{i % ACCOUNTS}"}
        try:
            r = await client.post("/v1/chat/completions", json=body, headers=headers)
            ok += r.status_code == 200
            failed += r.status_code != 200
        except httpx.HTTPError:
            failed += 1
        latencies.append(1000 * (time.perf_counter() - due))

    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        t0 = time.perf_counter()
        tasks = []
        for i in range(int(rate * seconds)):
            due = t0 + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(client, start + i, due)))
        await asyncio.gather(*tasks)
    return latencies, ok, failed


def _summary(latencies: list[float], ok: int, failed: int) -> dict[str, Any]:
    return {
        "requests": len(latencies),
        "ok": ok,
        "failed": failed,
        "p50_ms": round(_percentile(latencies, 0.5), 2),
        "p99_ms": round(_percentile(latencies, 0.99), 2),
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
        "p50_ms": round(_percentile(times, 0.5), 4),
        "p99_ms": round(_percentile(times, 0.99), 4),
        "produced": producer.stats.outcomes.get(Outcome.PRODUCED, 0),
    }


def _at_rate(plain: LiteLLMProxy, with_cb: LiteLLMProxy, rate: float, start: int) -> tuple[dict[str, Any], int, int]:
    """Both proxies at ``rate``, warmed, then ``ROUNDS`` rounds in turn: (figures, requests the callback's proxy
    answered, the next request number)."""
    runs: dict[str, list[tuple[list[float], int, int]]] = {"without": [], "with": []}
    answered = 0
    for proxy in (plain, with_cb):  # warm both at this rate
        _, ok, _ = asyncio.run(_load(proxy.url, rate, WARMUP_REQUESTS / rate, start))
        answered += ok if proxy is with_cb else 0
        start += WARMUP_REQUESTS
    for _ in range(ROUNDS):
        for name, proxy in (("without", plain), ("with", with_cb)):
            runs[name].append(asyncio.run(_load(proxy.url, rate, SECONDS, start)))
            start += int(rate * SECONDS)
    out: dict[str, Any] = {"rate_per_s": rate}
    for name, rs in runs.items():
        lat = [x for r in rs for x in r[0]]
        out[name] = _summary(lat, sum(r[1] for r in rs), sum(r[2] for r in rs))
        out[name]["rounds_p99_ms"] = [round(_percentile(r[0], 0.99), 2) for r in rs]
    answered += out["with"]["ok"]
    out["added_p50_ms"] = round(out["with"]["p50_ms"] - out["without"]["p50_ms"], 2)
    out["added_p99_ms"] = round(out["with"]["p99_ms"] - out["without"]["p99_ms"], 2)
    out["saturated"] = out["without"]["p50_ms"] > SATURATED_P50_MS
    return out, answered, start


def run(workdir: Path) -> dict[str, Any]:
    topic = f"litellm-bench-{uuid.uuid4().hex[:8]}"
    out: dict[str, Any] = {"seconds_per_round": SECONDS, "rounds": ROUNDS, "accounts": ACCOUNTS, "rates": []}
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        env = {"KAFKA_BOOTSTRAP": broker.bootstrap, "EVENTS_TOPIC": topic}
        answered = start = 0
        with (
            LiteLLMProxy(workdir / "plain", [MODEL], callback=False, env=env) as plain,
            LiteLLMProxy(workdir / "callback", [MODEL], env=env) as with_cb,
        ):
            for rate in RATES:
                figures, ok, start = _at_rate(plain, with_cb, rate, start)
                out["rates"].append(figures)
                answered += ok
            time.sleep(2)
            metrics = with_cb.metrics()
        events = read_topic(broker.bootstrap, topic, at_least=0, timeout=60)
        out["events"] = {
            "requests_answered_with_callback": answered,
            "on_topic": len(events),
            "lost": answered - len({r.value for r in events}),
            "callback_counters": {
                k: v for k, v in metrics.items() if k.startswith("distillguard_gateway_events_total")
            },
        }
        out["callback_in_process"] = _in_process(broker.bootstrap, f"{topic}-in-process")
    out["target_added_p99_ms"] = TARGET_ADDED_P99_MS
    out["saturated_p50_ms"] = SATURATED_P50_MS
    return out
