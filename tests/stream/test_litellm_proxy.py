"""End to end through a real LiteLLM proxy (a subprocess on loopback, mock responses) with DistillGuard's callback:
requests of two keys in over HTTP, events out on the embedded broker's topic, the same verdicts as the equivalent
api-event/v1 file; with the broker down, requests still succeed and the lost events are counted."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from distillguard.detector.detector import Detector
from distillguard.detector.events import Event, encode_event, parse_event, read_events
from distillguard.detector.records import verdict_from_json
from distillguard.streams.broker import EmbeddedBroker
from distillguard.streams.gateways.litellm_proxy import ORG_HEADER, LiteLLMProxy, simulated_key
from tests.ports import free_port
from tests.stream.conftest import read_topic

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.xdist_group("litellm-proxy")]

EXE = str(Path(sys.executable).with_name("distillguard"))
MODELS = ("frontier-1", "frontier-2")
FAILING = ("broken",)
MOCK_USAGE = (10, 20)  # LiteLLM's mock response always reports 10 prompt and 20 completion tokens
REQUESTS_PER_ACCOUNT = 12
DRAIN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Request:
    """One request a test sends, and the fields of the event it must become (those the gateway does not decide)."""

    account: str
    org: str | None
    ip: str
    user_agent: str
    model: str
    prompt: str
    system: str | None = None
    turns: int = 0
    max_tokens: int | None = None
    temperature: float | None = None
    tools: tuple[str, ...] = ()
    reasoning: bool = False
    session: str | None = None

    def body(self) -> dict[str, Any]:
        messages: list[dict[str, str]] = [{"role": "system", "content": self.system}] if self.system else []
        for t in range(self.turns):
            messages += [{"role": "user", "content": f"earlier {t}"}, {"role": "assistant", "content": f"answer {t}"}]
        messages.append({"role": "user", "content": self.prompt})
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.tools:
            body["tools"] = [{"type": "function", "function": {"name": n, "parameters": {}}} for n in self.tools]
        if self.reasoning:
            body["reasoning_effort"] = "high"
        return body

    def headers(self) -> dict[str, str]:
        h = {"Authorization": f"Bearer {simulated_key(self.account)}", "X-Forwarded-For": self.ip}
        h["User-Agent"] = self.user_agent
        if self.org:
            h[ORG_HEADER] = self.org
        if self.session:
            h["x-litellm-session-id"] = self.session
        return h

    def expected(self, gateway: Event) -> Event:
        """The event this request must become, given what only the gateway decides (id, time, latency)."""
        failed = self.model == "broken"
        return Event(
            schema_version=1,
            event_id=gateway.event_id,
            ts=gateway.ts,
            latency_ms=gateway.latency_ms,
            account_id=self.account,
            api_key_id=hashlib.sha256(simulated_key(self.account).encode()).hexdigest(),
            org_id=self.org,
            ip=self.ip,
            user_agent=self.user_agent,
            model=self.model,
            endpoint="/v1/chat/completions",
            conversation_id=self.session,
            turn_index=self.turns,
            system_prompt=self.system,
            prompt=self.prompt,
            input_tokens=0 if failed else MOCK_USAGE[0],
            output_tokens=0 if failed else MOCK_USAGE[1],
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            tools=list(self.tools) if self.tools else None,
            reasoning_requested=self.reasoning,
            stop_reason=None if failed else "end_turn",
            status=429 if failed else 200,
        )


def traffic() -> list[Request]:
    """A harvesting-like key (long reasoning asks, large budgets, one template, tools) and a chatty one
    (multi-turn, short budgets, a session), and one request to a model that always fails."""
    alice = [
        Request(
            "alice",
            "org-1",
            "198.51.100.7",
            "harvest-sdk/0.1",
            "frontier-2",
            f"Solve problem {i} step by step and show all of your reasoning before the final answer.",
            system="You are a meticulous tutor.",
            max_tokens=8192,
            temperature=0.0,
            tools=("grade",),
            reasoning=True,
        )
        for i in range(REQUESTS_PER_ACCOUNT)
    ]
    bob = [
        Request(
            "bob",
            None,
            "203.0.113.40",
            "chat-app/2.3",
            "frontier-1",
            f"and what about option {i}?",
            turns=i % 4,
            max_tokens=256,
            temperature=0.7,
            session=f"conv-{i // 4}",
        )
        for i in range(REQUESTS_PER_ACCOUNT)
    ]
    return [*alice, *bob, Request("bob", None, "203.0.113.40", "chat-app/2.3", "broken", "will this fail?")]


def send(proxy: LiteLLMProxy, requests: list[Request]) -> list[int]:
    with httpx.Client(base_url=proxy.url, timeout=30) as client:
        return [client.post("/v1/chat/completions", json=r.body(), headers=r.headers()).status_code for r in requests]


@pytest.fixture(scope="module")
def proxied(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[int]]]:
    """The traffic sent through a proxy producing to a topic of its own: (topic, HTTP statuses)."""
    topic = f"litellm-{uuid.uuid4().hex[:8]}"
    env = {"KAFKA_BOOTSTRAP": broker.bootstrap, "EVENTS_TOPIC": topic, "LITELLM_TRUSTED_PROXIES": "127.0.0.1"}
    with LiteLLMProxy(
        tmp_path_factory.mktemp("proxy"), MODELS, failing_models=FAILING, port=free_port(), env=env
    ) as proxy:
        statuses = send(proxy, traffic())
    yield topic, statuses


def test_each_request_through_the_proxy_becomes_its_event_on_the_topic(
    proxied: tuple[str, list[int]], broker: EmbeddedBroker
) -> None:
    topic, statuses = proxied
    sent = traffic()
    assert statuses == [429 if r.model == "broken" else 200 for r in sent]
    records = read_topic(broker.bootstrap, topic, at_least=len(sent))
    assert len(records) == len(sent)  # one event per request: none lost, none twice
    by_prompt = {parse_event(r.value).prompt: (r.key, parse_event(r.value)) for r in records}
    for req in sent:
        key, got = by_prompt[req.prompt]
        assert key == req.account.encode()
        assert msgspec.structs.asdict(got) == msgspec.structs.asdict(req.expected(got)), req.prompt
    assert len({e.event_id for _, e in by_prompt.values()}) == len(sent)


def test_the_consumed_events_give_the_verdicts_of_the_equivalent_file(
    proxied: tuple[str, list[int]], broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic, _ = proxied
    sent = traffic()
    consumed = [parse_event(r.value) for r in read_topic(broker.bootstrap, topic, at_least=len(sent))]
    by_prompt = {e.prompt: e for e in consumed}
    expected = sorted((r.expected(by_prompt[r.prompt]) for r in sent), key=lambda e: e.ts)
    path = tmp_path / "equivalent.jsonl"
    path.write_bytes(b"".join(encode_event(e) + b"\n" for e in expected))
    out = tmp_path / "verdicts.jsonl"
    subprocess.run([EXE, "detect", str(path), "--out", str(out)], check=True, capture_output=True, timeout=300)
    from_file = {v.account_id: v for v in map(verdict_from_json, out.read_bytes().splitlines())}

    det = Detector()
    det.process(sorted(consumed, key=lambda e: e.ts))
    det.flush()
    from_topic = {v.account_id: v for v in det.verdicts()}
    assert from_topic.keys() == from_file.keys() == {"alice", "bob"}
    for account, v in from_topic.items():
        assert (v.n_requests, v.flagged, v.reasons) == (
            from_file[account].n_requests,
            from_file[account].flagged,
            from_file[account].reasons,
        )
        assert v.score == pytest.approx(from_file[account].score, abs=1e-6)
    assert list(read_events(path)) == expected


def test_with_the_broker_down_requests_succeed_and_the_lost_events_are_counted(tmp_path: Path) -> None:
    env = {"KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}", "EVENTS_TOPIC": "nowhere", "LITELLM_QUEUE_SIZE": "5"}
    sent = [r for r in traffic() if r.model != "broken"]
    with LiteLLMProxy(tmp_path, MODELS, port=free_port(), env=env) as proxy:
        statuses = send(proxy, sent)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while (dropped := _dropped(proxy.metrics())) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.5)  # the producer thread empties the queue, counting each event it cannot send
        log = proxy.log_path.read_text()
    assert statuses == [200] * len(sent)
    assert dropped == len(sent), log[-3000:]
    assert "events dropped" in log
    assert "Traceback" not in log and "request not produced" not in log


def _dropped(metrics: dict[str, float]) -> float:
    return sum(
        v
        for k, v in metrics.items()
        if k.startswith("distillguard_gateway_events_total") and 'outcome="produced"' not in k
    )
