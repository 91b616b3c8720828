"""Simulated traffic through a LiteLLM proxy: each ``api-event/v1`` event of a simulated day sent as the chat
completion request that would have produced it (``distillguard demo --via litellm``, the benchmark).

The request carries what a client controls: the account's simulated key and organisation, its address
(X-Forwarded-For, which the proxy's uvicorn trusts from loopback), user agent, conversation, system prompt, the
earlier turns, the prompt and the parameters. What the gateway decides (event id, time, latency, tokens of the
mock answer) comes from the proxy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from distillguard.detector.events import Event
from distillguard.streams.gateways.litellm_proxy import ORG_HEADER, simulated_key

COMPLETIONS = "/v1/chat/completions"
SESSION_HEADER = "x-litellm-session-id"
REDACTED = "(redacted)"  # the prompt sent for an event whose text was redacted: a request needs one
CONCURRENCY = 32  # requests in flight at most
REQUEST_TIMEOUT_S = 30.0


def request_of(event: Event) -> tuple[dict[str, str], dict[str, Any]]:
    """(headers, JSON body) of the chat completion request that ``event`` records."""
    headers = {"Authorization": f"Bearer {simulated_key(event.account_id)}", "X-Forwarded-For": event.ip}
    headers["User-Agent"] = event.user_agent or ""
    if event.org_id:
        headers[ORG_HEADER] = event.org_id
    if event.conversation_id:
        headers[SESSION_HEADER] = event.conversation_id
    messages = [{"role": "system", "content": event.system_prompt}] if event.system_prompt else []
    for turn in range(event.turn_index or 0):
        messages += [{"role": "user", "content": f"(turn {turn})"}, {"role": "assistant", "content": "(answer)"}]
    messages.append({"role": "user", "content": event.prompt or REDACTED})
    body: dict[str, Any] = {"model": event.model, "messages": messages}
    if event.max_tokens is not None:
        body["max_tokens"] = event.max_tokens
    if event.temperature is not None:
        body["temperature"] = event.temperature
    if event.tools:
        body["tools"] = [{"type": "function", "function": {"name": t, "parameters": {}}} for t in event.tools]
    if event.reasoning_requested:
        body["reasoning_effort"] = "high"
    return headers, body


@dataclass
class TrafficReport:
    """What :func:`send_events` sent: requests, answers by HTTP status (0: no answer), seconds."""

    requests: int
    statuses: dict[int, int]
    seconds: float


async def _send_all(
    events: Iterable[Event], url: str, rate: float, progress: Callable[[int], None] | None
) -> TrafficReport:
    statuses: dict[int, int] = {}
    slots = asyncio.Semaphore(CONCURRENCY)
    tasks: set[asyncio.Task[None]] = set()
    sent = 0

    async def one(client: httpx.AsyncClient, event: Event) -> None:
        headers, body = request_of(event)
        try:
            status = (await client.post(COMPLETIONS, json=body, headers=headers)).status_code
        except httpx.HTTPError:
            status = 0
        finally:
            slots.release()
        statuses[status] = statuses.get(status, 0) + 1

    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        for event in events:
            ahead = sent / rate - (time.perf_counter() - t0)
            if ahead > 0:
                await asyncio.sleep(ahead)
            await slots.acquire()
            task = asyncio.create_task(one(client, event))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
            if progress is not None:
                progress(sent)
        await asyncio.gather(*tasks)
    return TrafficReport(sent, statuses, time.perf_counter() - t0)


def send_events(
    events: Iterable[Event], url: str, rate: float, progress: Callable[[int], None] | None = None
) -> TrafficReport:
    """Send each event as its request to the proxy at ``url``, ``rate`` requests a second at most (in event order,
    at most :data:`CONCURRENCY` in flight); ``progress(requests_sent)`` after each."""
    return asyncio.run(_send_all(events, url, rate, progress))
