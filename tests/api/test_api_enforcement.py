"""Enforcement: confirming emits one event per confirmed account on the topic; retries never duplicate."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition

from distillguard.api.app import create_app
from distillguard.api.auth.service import Principal
from distillguard.api.cases import service as cases
from distillguard.api.database import session_scope
from distillguard.api.enforcement.service import Publisher, dispatch, pending
from distillguard.streams.broker import EmbeddedBroker
from tests.api.conftest import Api

pytestmark = pytest.mark.broker
LEAD = Principal("lead-user", "lead", 0)
DECIDED_AT = datetime(2026, 3, 5, 12, 30, tzinfo=UTC)
KEY_HEX_DIGITS = 40
HYDRA = [f"acct-h{i:03d}" for i in range(40)]  # the seed's c-hydra accounts besides its two resellers


def _topic(api: Api) -> list[tuple[str, dict, str]]:
    """Every message on the enforcement topic: (key, value, idempotency-key header)."""
    consumer = KafkaConsumer(
        bootstrap_servers=api.settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1500,
    )
    tp = TopicPartition(api.settings.enforcement_topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    out = [(m.key.decode(), json.loads(m.value), dict(m.headers)["idempotency-key"].decode()) for m in consumer]
    consumer.close()
    return out


def _review(api: Api, cluster: str) -> int:
    case = api.client.post(
        "/api/v1/cases", json={"subject_type": "cluster", "subject_id": cluster}, headers=api.h("analyst")
    ).json()
    api.client.post(f"/api/v1/cases/{case['id']}/transition", json={"status": "in_review"}, headers=api.h("analyst"))
    return case["id"]


def _confirm(api: Api, case_id: int):
    return api.client.post(
        f"/api/v1/cases/{case_id}/transition",
        json={"status": "confirmed_attack", "reason": "hydra cluster"},
        headers=api.h("lead"),
    )


def documented_key(case_id: int, account_id: str, action: str) -> str:
    """The idempotency key as documented: derived from (case, account, action), the first 40 hex digits of the
    SHA-256 of ``case:account:action``."""
    return hashlib.sha256(f"{case_id}:{account_id}:{action}".encode()).hexdigest()[:KEY_HEX_DIGITS]


def test_confirming_emits_one_event_per_account_and_retries_add_none(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    case_id = _review(api, "c-hydra")
    api.client.post(
        f"/api/v1/cases/{case_id}/decisions",
        json={"decision": "dismissed", "account_ids": ["acct-r000"]},
        headers=api.h("analyst"),
    )
    monkeypatch.setattr(cases, "utcnow", lambda: DECIDED_AT)  # the clock of the confirmation
    first = _confirm(api, case_id).json()
    assert first["changed"] and first["enforcement_sent"] == 41 and first["enforcement_pending"] == 0
    for _ in range(3):
        again = _confirm(api, case_id).json()
        assert not again["changed"] and again["enforcement_sent"] == 0
    msgs = _topic(api)
    confirmed = [*HYDRA, "acct-r001"]  # every member but the dismissed reseller
    assert sorted(k for k, _, _ in msgs) == sorted(confirmed)
    assert sorted(h for _, _, h in msgs) == sorted(documented_key(case_id, a, "suspend") for a in confirmed)
    _key, event, header = next(m for m in msgs if m[0] == "acct-h000")
    assert event == {
        "idempotency_key": documented_key(case_id, "acct-h000", "suspend"),
        "action": "suspend",
        "account_id": "acct-h000",
        "case_id": case_id,
        "cluster_id": "c-hydra",
        "decided_by": "lead-user",
        "decided_at": DECIDED_AT.isoformat(),
        "reason": "hydra cluster",
        "model_version": "m-2026.03",
    }
    assert header == documented_key(case_id, "acct-h000", "suspend")
    audit = api.client.get(
        "/api/v1/audit", params={"entity_id": case_id, "action": "case.transition"}, headers=api.h("viewer")
    ).json()
    assert audit[-1]["details"]["enforcement_events"] == 41 and len(audit) == 2  # retries are not changes


def test_a_crash_between_commit_and_send_is_recovered_without_duplicates(api: Api) -> None:
    case_id = _review(api, "c-hydra-2")
    with session_scope(api.url) as s:  # the decision commits, then the process "dies" before sending
        cases.transition(s, LEAD, cases.get_case(s, case_id), "confirmed_attack", "pivot to a new model")
    assert _topic(api) == []
    with session_scope(api.url) as s:
        assert len(pending(s)) == 10
    retry = _confirm(api, case_id).json()  # the analyst's retry sends what is pending, nothing more
    assert not retry["changed"] and retry["enforcement_sent"] == 10
    _confirm(api, case_id)
    msgs = _topic(api)
    assert sorted(k for k, _, _ in msgs) == [f"acct-k{i:03d}" for i in range(10)]


def test_a_resend_after_an_unrecorded_ack_carries_the_same_keys(api: Api) -> None:
    case_id = _review(api, "c-hydra-2")
    with session_scope(api.url) as s:
        cases.transition(s, LEAD, cases.get_case(s, case_id), "confirmed_attack", "pivot")
        rows = pending(s)
    publisher = Publisher(api.settings.kafka_bootstrap, api.settings.enforcement_topic)
    publisher.send(rows)  # acked by the broker, but the process dies before recording it
    with session_scope(api.url) as s:
        assert dispatch(s, publisher) == {"sent": 10, "pending": 0}
    publisher.close()
    msgs = _topic(api)
    assert len(msgs) == 20
    actions = {}  # a consumer that dedups on the idempotency key applies each action once
    for _key, event, header in msgs:
        actions.setdefault(header, event)
    assert len(actions) == 10 and sorted(e["account_id"] for e in actions.values()) == [
        f"acct-k{i:03d}" for i in range(10)
    ]


def test_events_wait_in_the_outbox_while_the_broker_is_down(api: Api, broker: EmbeddedBroker) -> None:
    settings = api.settings.model_copy(update={"api_outbox_interval": 0.5})
    publisher = Publisher(settings.kafka_bootstrap, settings.enforcement_topic, timeout=2.0)
    app = create_app(settings, publisher=publisher, outbox_loop=True)
    case_id = _review(api, "c-hydra-2")
    with TestClient(app) as client:
        broker.pause()
        try:
            r = client.post(
                f"/api/v1/cases/{case_id}/transition",
                json={"status": "confirmed_attack", "reason": "x"},
                headers=api.h("lead"),
            )
        finally:
            broker.resume()
        assert r.status_code == 200 and r.json()["enforcement_pending"] == 10
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if not client.get("/api/v1/enforcement/pending", headers=api.h("viewer")).json():
                break
            time.sleep(0.3)
        assert client.get("/api/v1/enforcement/pending", headers=api.h("viewer")).json() == []
    assert len({k for k, _, _ in _topic(api)}) == 10
