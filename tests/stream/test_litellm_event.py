"""LiteLLM's callback kwargs -> one api-event/v1 event, field by field (no proxy, no broker)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from distillguard.detector.events import Event, EventError, encode_event, parse_event
from distillguard.streams.gateways.litellm_event import (
    PROMPT_CHARS,
    client_ip,
    digest,
    event_from_litellm,
    fit,
)
from distillguard.streams.gateways.producer import Outcome, ProducerStats
from distillguard.streams.gateways.settings import LiteLLMSettings, parse_networks
from tests.stream.litellm_kwargs import CALL_ID, KEY_HASH, START, failure_kwargs, success_kwargs


def settings(**values: Any) -> LiteLLMSettings:
    return LiteLLMSettings(**values)


def event(kwargs: dict[str, Any], failed: bool = False, **values: Any) -> Event:
    return event_from_litellm(kwargs, failed=failed, settings=settings(**values))


def test_a_successful_request_becomes_this_event() -> None:
    got = event(success_kwargs())
    want = Event(
        schema_version=1,
        event_id=CALL_ID,
        ts=datetime.fromtimestamp(START, UTC),
        account_id="alice",
        api_key_id=KEY_HASH,
        org_id="org-1",
        ip="10.0.0.2",
        user_agent="probe-ua/1.0",
        model="frontier-1",
        endpoint="/v1/chat/completions",
        turn_index=1,
        system_prompt="You are helpful.",
        prompt="Explain step by step",
        input_tokens=10,
        output_tokens=20,
        max_tokens=500,
        temperature=0.3,
        tools=["search"],
        reasoning_requested=True,
        stop_reason="end_turn",
        latency_ms=31,
        status=200,
    )
    assert msgspec.structs.asdict(got) == msgspec.structs.asdict(want)
    assert parse_event(encode_event(got)) == got  # what is produced is what the worker reads


@pytest.mark.parametrize(
    ("source", "account"),
    [("user", "alice"), ("team", "team-a"), ("end_user", "enduser-7"), ("key", KEY_HASH)],
)
def test_the_account_is_the_identity_the_setting_names(source: str, account: str) -> None:
    assert event(success_kwargs(), litellm_account=source).account_id == account


def test_a_request_without_the_named_identity_is_the_keys_account() -> None:
    kw = success_kwargs()
    kw["standard_logging_object"]["metadata"]["user_api_key_user_id"] = None
    assert event(kw).account_id == KEY_HASH
    assert event(kw).api_key_id == KEY_HASH


def test_the_organisation_is_the_team_when_litellm_has_no_org() -> None:
    kw = success_kwargs()
    kw["standard_logging_object"]["metadata"]["user_api_key_org_id"] = None
    assert event(kw).org_id == "team-a"
    kw["standard_logging_object"]["metadata"]["user_api_key_team_id"] = None
    assert event(kw).org_id is None


def test_hash_mode_sends_digests_only() -> None:
    got = event(success_kwargs(), litellm_prompts="hash")
    assert got.prompt == "sha256:" + hashlib.sha256(b"Explain step by step").hexdigest()
    assert got.system_prompt == "sha256:" + hashlib.sha256(b"You are helpful.").hexdigest()
    keyed = event(success_kwargs(), litellm_prompts="hash", litellm_prompt_hash_key="s3cret")
    assert keyed.prompt == "hmac-sha256:" + hmac.new(b"s3cret", b"Explain step by step", hashlib.sha256).hexdigest()
    assert "Explain" not in encode_event(keyed).decode()
    other = success_kwargs()
    other["standard_logging_object"]["messages"][-1]["content"] = "Explain step by step"  # a plain string this time
    assert event(other, litellm_prompts="hash").prompt == got.prompt  # equal prompts stay equal


def test_none_mode_sends_no_text() -> None:
    got = event(success_kwargs(), litellm_prompts="none")
    assert got.prompt is None and got.system_prompt is None
    assert got.turn_index == 1  # what the messages say without their text


def test_a_failed_request_has_its_status_and_no_tokens_or_stop_reason() -> None:
    got = event(failure_kwargs(), failed=True)
    assert (got.status, got.input_tokens, got.output_tokens, got.stop_reason) == (429, 0, 0, None)
    assert got.event_id == CALL_ID and got.account_id == "alice" and got.prompt == "Explain step by step"


@pytest.mark.parametrize("code", ["", None, "not-a-number", "999"])
def test_a_failure_without_an_http_status_is_a_500(code: str | None) -> None:
    kw = failure_kwargs()
    kw["standard_logging_object"]["error_information"]["error_code"] = code
    assert event(kw, failed=True).status == 500


def test_fields_litellm_did_not_record_stay_missing() -> None:
    kw = success_kwargs()
    slo = kw["standard_logging_object"]
    for name in ("model_parameters", "messages", "user_agent", "endTime", "response"):
        del slo[name]
    del slo["metadata"]["user_agent"], slo["metadata"]["user_api_key_org_id"], slo["metadata"]["user_api_key_team_id"]
    del kw["litellm_params"]["proxy_server_request"]["headers"]["user-agent"]
    got = event(kw)
    missing = [
        "max_tokens",
        "temperature",
        "tools",
        "reasoning_requested",
        "prompt",
        "system_prompt",
        "turn_index",
        "user_agent",
        "latency_ms",
        "stop_reason",
        "org_id",
        "conversation_id",
        "account_created_at",
        "verification_path",
        "payment_fingerprint",
        "asn",
    ]
    assert {name: getattr(got, name) for name in missing} == dict.fromkeys(missing)


def test_parameters_that_ask_for_nothing_are_recorded_as_such() -> None:
    kw = success_kwargs()
    kw["standard_logging_object"]["model_parameters"] = {"reasoning_effort": "none", "tools": []}
    got = event(kw)
    assert (got.reasoning_requested, got.tools, got.max_tokens, got.temperature) == (False, [], None, None)


@pytest.mark.parametrize(
    "params",
    [
        {"max_completion_tokens": 64, "thinking": {"type": "enabled", "budget_tokens": 1024}},
        {"max_output_tokens": 64, "reasoning": {"effort": "medium"}},
    ],
)
def test_other_apis_max_tokens_and_reasoning_parameters(params: dict[str, Any]) -> None:
    kw = success_kwargs()
    kw["standard_logging_object"]["model_parameters"] = params
    got = event(kw)
    assert (got.max_tokens, got.reasoning_requested) == (64, True)


def test_a_session_is_the_conversation_and_anthropic_tools_are_named() -> None:
    kw = success_kwargs()
    kw["standard_logging_object"]["session_id"] = "conv-9"
    kw["standard_logging_object"]["model_parameters"]["tools"] = [{"name": "grade"}, {"type": "web_search"}]
    got = event(kw)
    assert (got.conversation_id, got.tools) == ("conv-9", ["grade", "web_search"])


@pytest.mark.parametrize(
    ("peer", "xff", "trusted", "want"),
    [
        ("10.0.0.2", "203.0.113.9, 10.0.0.2", "", "10.0.0.2"),  # no trusted proxy: the peer
        ("10.0.0.2", "203.0.113.9, 10.0.0.7", "10.0.0.0/8", "203.0.113.9"),  # rightmost untrusted hop
        ("10.0.0.2", "198.51.100.1, 203.0.113.9", "10.0.0.0/8", "203.0.113.9"),  # not the client's own claim
        ("192.0.2.50", "203.0.113.9", "10.0.0.0/8", "192.0.2.50"),  # an untrusted peer's header is ignored
        ("10.0.0.2", "garbage, 10.0.0.3", "10.0.0.0/8", "10.0.0.3"),  # a garbled hop: nothing to its left
        ("10.0.0.2", None, "10.0.0.0/8", "10.0.0.2"),
        ("::ffff:10.0.0.2", None, "", "::ffff:a00:2"),  # normalised
        (None, "203.0.113.9", "10.0.0.0/8", "203.0.113.9"),
        (None, None, "", None),
        ("not-an-ip", None, "", None),
    ],
)
def test_client_ip_behind_trusted_proxies(peer: str | None, xff: str | None, trusted: str, want: str | None) -> None:
    assert client_ip(peer, xff, parse_networks(trusted)) == want


def test_the_trusted_proxy_setting_is_used_and_checked() -> None:
    assert event(success_kwargs(), litellm_trusted_proxies="10.0.0.0/8").ip == "203.0.113.9"
    with pytest.raises(ValueError, match="not an IP address or CIDR block: 'ten'"):
        settings(litellm_trusted_proxies="10.0.0.0/8, ten")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("standard_logging_object", "litellm_call_id"), "event_id"),
        (("standard_logging_object", "requester_ip_address"), "ip"),
        (("standard_logging_object", "model_group"), "model"),
        (("standard_logging_object",), "standard_logging_object"),
    ],
)
def test_a_request_that_cannot_make_an_event_says_which_field(path: tuple[str, ...], field: str) -> None:
    kw = success_kwargs()
    kw.pop("litellm_call_id")
    kw["standard_logging_object"]["metadata"].pop("requester_ip_address")
    kw["standard_logging_object"]["model"] = None
    kw["litellm_params"]["proxy_server_request"]["headers"].pop("x-forwarded-for")
    target = kw
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    with pytest.raises(EventError) as err:
        event(kw)
    assert err.value.field == field


def test_oversized_text_is_cut_to_the_contract_keeping_head_and_tail() -> None:
    kw = success_kwargs()
    long = "HEAD " + "x" * (2 * PROMPT_CHARS) + " TAIL"
    kw["standard_logging_object"]["messages"][-1]["content"] = long
    kw["standard_logging_object"]["user_agent"] = "u" * 5000
    got = event(kw)
    assert got.prompt is not None and len(got.prompt) == PROMPT_CHARS
    assert got.prompt.startswith("HEAD ") and got.prompt.endswith(" TAIL")
    assert got.user_agent == fit("u" * 5000, 1024) and len(got.user_agent) == 1024


def test_digest_is_keyed() -> None:
    assert digest("a", None) != digest("a", b"k") != digest("a", b"j")


# ---- the callback object LiteLLM calls ------------------------------------------------------------------


class FakeProducer:
    """Records what the callback submits and counts (the real one is tested in test_gateway_producer.py)."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []
        self.counted: list[Outcome] = []

    def submit(self, key: bytes, value: bytes) -> bool:
        self.sent.append((key, value))
        return True

    def count(self, outcome: Outcome, n: int = 1) -> None:
        self.counted.extend([outcome] * n)

    @property
    def stats(self) -> ProducerStats:
        return ProducerStats(len(self.sent), 0, {})


@pytest.fixture
def callback_cls(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # importing litellm must not fetch its cost map
    from distillguard.streams.gateways.litellm import DistillGuardCallback

    return DistillGuardCallback


def test_the_callback_queues_each_request_keyed_by_account(callback_cls) -> None:
    producer = FakeProducer()
    cb = callback_cls(settings(), producer)
    asyncio.run(cb.async_log_success_event(success_kwargs(), None, None, None))
    asyncio.run(cb.async_log_failure_event(failure_kwargs(), None, None, None))
    cb.log_success_event(success_kwargs(), None, None, None)
    assert [k for k, _ in producer.sent] == [b"alice"] * 3
    assert [parse_event(v).status for _, v in producer.sent] == [200, 429, 200]
    assert producer.counted == []


@pytest.mark.parametrize("kwargs", [{}, {"standard_logging_object": "garbage"}, None, {"standard_logging_object": {}}])
def test_the_callback_never_raises_into_litellm_and_counts_what_it_could_not_send(callback_cls, kwargs) -> None:
    producer = FakeProducer()
    cb = callback_cls(settings(), producer)
    assert cb.record(kwargs, failed=False) is None
    cb.log_failure_event(kwargs, None, None, None)
    assert producer.sent == [] and producer.counted == [Outcome.INVALID, Outcome.INVALID]
