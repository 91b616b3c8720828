"""The webhook figure: 0 lost and 0 duplicated deliveries (after de-duplicating by delivery id) through an API process
killed between sending and marking, and a receiver that is then down for ``WEBHOOK_DOWN_SECONDS`` (2 s here; the
README's figure is the run at 60 s), answers 500 and answers too late. The API runs as a real uvicorn process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import select

from distillguard.api.database import session_scope
from distillguard.api.webhooks.models import Delivery
from tests.api.conftest import Api
from tests.api.webhook_receiver import ERROR, SLOW, Receiver
from tests.ports import HOST, free_port

DOWN_SECONDS = float(os.environ.get("WEBHOOK_DOWN_SECONDS", "2"))
TIMEOUT_S = 1.0  # the API's webhook timeout: a claim's lease is 3 of these
START_SECONDS = 60
SETTLE_SECONDS = 60  # after the receiver is back, every delivery is delivered within this
HELD_SECONDS = 20
BEFORE = ("acct-s001", "acct-s002", "acct-k001")  # cases opened before the kill (in flight when it dies)
DURING = ("acct-k002", "acct-k003", "acct-k004")  # opened while the receiver is down
API_ENV = {
    "API_WEBHOOK_TIMEOUT": str(TIMEOUT_S),
    "API_WEBHOOK_INTERVAL": "0.1",
    "API_WEBHOOK_BACKOFF_SECONDS": "0.2",
    "API_WEBHOOK_BACKOFF_MAX_SECONDS": "2",
    "API_WEBHOOK_MAX_ATTEMPTS": "100",
    "OMP_NUM_THREADS": "1",
}


@contextmanager
def api_process(api: Api, log: Path) -> Iterator[subprocess.Popen]:
    """The API in a uvicorn process of its own on ``api``'s database (its webhook dispatcher on)."""
    port = free_port()
    env = (
        os.environ
        | API_ENV
        | {
            "DATABASE_URL": api.url,
            "KAFKA_BOOTSTRAP": api.settings.kafka_bootstrap,
            "ENFORCEMENT_TOPIC": api.settings.enforcement_topic,
        }
    )
    cmd = [sys.executable, "-m", "uvicorn", "distillguard.api.main:app", "--host", HOST, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("a"))
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                if httpx.get(f"http://{HOST}:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


def deliveries(url: str) -> list[Delivery]:
    with session_scope(url) as s:
        return list(s.scalars(select(Delivery)))


def open_cases(api: Api, accounts: tuple[str, ...]) -> None:
    for account in accounts:
        r = api.client.post(
            "/api/v1/cases", json={"subject_type": "account", "subject_id": account}, headers=api.h("analyst")
        )
        assert r.status_code == 201, r.text


def test_no_delivery_is_lost_or_duplicated_through_a_kill_and_an_outage(api: Api, tmp_path: Path) -> None:
    receiver = Receiver(free_port(), slow_seconds=2 * TIMEOUT_S)
    receiver.start()
    made = api.client.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": ["case.opened"]}, headers=api.h("admin")
    ).json()
    receiver.secret = made["secret"]
    receiver.holding.clear()  # requests wait: the API sends, the receiver has them, the API dies before marking
    log = tmp_path / "api.log"
    try:
        with api_process(api, log) as first:
            open_cases(api, BEFORE)
            for _ in BEFORE:
                assert receiver.held.acquire(timeout=HELD_SECONDS), "the API did not send"
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        receiver.holding.set()
        deadline = time.monotonic() + HELD_SECONDS
        while len(receiver.accepted()) < len(BEFORE):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert all(d.status == "pending" for d in deliveries(api.url))  # sent, never marked
        receiver.stop()
        back_at = time.monotonic() + DOWN_SECONDS
        with api_process(api, log):
            open_cases(api, DURING)
            time.sleep(max(0.0, back_at - time.monotonic()))
            receiver.plan.extend([ERROR, ERROR, SLOW])
            receiver.start()
            deadline = time.monotonic() + SETTLE_SECONDS
            while not all(d.status == "delivered" for d in deliveries(api.url)):
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
    finally:
        receiver.holding.set()
        receiver.stop()

    stored = {d.id: d for d in deliveries(api.url)}
    unique = receiver.unique()
    lost = set(stored) - set(unique)
    unknown = set(unique) - set(stored)
    subjects = sorted(json.loads(r.body)["data"]["subject_id"] for r in unique.values())
    resent = len(receiver.accepted()) - len(unique)
    print(
        f"webhooks: {len(stored)} deliveries, receiver down {DOWN_SECONDS:g} s, API killed mid-delivery: "
        f"lost {len(lost)}, duplicated after de-duplication {len(subjects) - len(set(subjects))}, "
        f"re-sent (de-duplicated by the receiver) {resent}, attempts {sum(d.attempts for d in stored.values())}"
    )
    assert not lost and not unknown
    assert subjects == sorted(BEFORE + DURING)  # each event once: no event was queued under two delivery ids
    assert all(r.signed for r in receiver.requests)
    assert resent >= len(BEFORE)  # the killed process's sends were sent again, under the same delivery ids
