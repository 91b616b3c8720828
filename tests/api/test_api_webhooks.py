"""Webhooks: subscriptions (admin CRUD, validation, audit), events queued in the transaction of their change,
signatures a receiver verifies, and delivery through a real local receiver that fails, times out and is down:
every delivery arrives, once each after de-duplicating by delivery id; auto-disable; redelivery. SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import msgspec
import pytest
from sqlalchemy import select

from distillguard.api.audit.models import AuditEvent
from distillguard.api.auth.service import Principal
from distillguard.api.database import session_factory, session_scope
from distillguard.api.detections.service import upsert_detections
from distillguard.api.webhooks import service as webhooks
from distillguard.api.webhooks.delivery import CLAIM_BATCH, Dispatcher, RetryPolicy
from distillguard.api.webhooks.events import Event, EventType
from distillguard.api.webhooks.models import Delivery
from distillguard.api.webhooks.signing import SignatureError, sign, verify_signature
from tests.api import seed
from tests.api.conftest import Api, seed_world
from tests.api.webhook_receiver import ERROR, SLOW, Receiver
from tests.ports import free_port

HOOKS = "/api/v1/webhooks"
FAST = RetryPolicy(timeout=0.5, max_attempts=40, backoff=0.05, backoff_max=0.3, disable_after=3)
DRAIN_SECONDS = 30
SETUP = Principal(name="setup", role="admin", token_id=0)
OUTAGE_SECONDS = 1.5  # the receiver is down this long in the in-process test (the restart test takes a parameter)


def subscribe(api: Api, url: str, events: list[str], **extra: object) -> dict:
    r = api.client.post(HOOKS, json={"url": url, "events": events} | extra, headers=api.h("admin"))
    assert r.status_code == 201, r.text
    return r.json()


def rows(url: str) -> list[Delivery]:
    with session_scope(url) as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.created_at, Delivery.id)))


def audit(url: str, action: str) -> list[AuditEvent]:
    with session_scope(url) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def drain(dispatcher: Dispatcher, done: Callable[[], bool], seconds: float = DRAIN_SECONDS) -> None:
    """Dispatcher rounds until ``done()`` (a few ms apart; fails after ``seconds``)."""

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + seconds
            while not done():
                assert time.monotonic() < deadline, "deliveries did not settle"
                if not await dispatcher.run_once(client):
                    await asyncio.sleep(0.02)

    asyncio.run(run())


def elapsed(seconds: float) -> Callable[[], bool]:
    """Whether ``seconds`` have passed since this call."""
    until = time.monotonic() + seconds
    return lambda: time.monotonic() > until


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(free_port(), slow_seconds=FAST.timeout * 2)
    r.start()
    yield r
    r.holding.set()
    r.stop()


# --- subscriptions --------------------------------------------------------------------------------------------


def test_create_shows_the_secret_once_and_every_change_is_audited(api: Api) -> None:
    made = subscribe(api, "https://hooks.example.com/dg", ["case.opened", "case.opened", "cluster.flagged"])
    assert made["secret"].startswith("whsec_") and made["events"] == ["case.opened", "cluster.flagged"]
    assert made["enabled"] and made["format"] == "json" and made["created_by"] == "admin-user"
    one = api.client.get(f"{HOOKS}/{made['id']}", headers=api.h("admin"))
    listed = api.client.get(HOOKS, headers=api.h("admin"))
    assert one.status_code == 200 and "secret" not in one.json() and made["secret"] not in listed.text

    r = api.client.patch(f"{HOOKS}/{made['id']}", json={"enabled": False}, headers=api.h("admin"))
    assert r.status_code == 200 and r.json()["enabled"] is False
    again = api.client.patch(f"{HOOKS}/{made['id']}", json={"enabled": False}, headers=api.h("admin"))
    assert again.status_code == 200  # nothing changed: not audited
    r = api.client.patch(
        f"{HOOKS}/{made['id']}", json={"format": "slack", "description": "#fraud"}, headers=api.h("admin")
    )
    assert r.json()["format"] == "slack" and r.json()["description"] == "#fraud"
    assert api.client.delete(f"{HOOKS}/{made['id']}", headers=api.h("admin")).status_code == 204
    assert api.client.get(f"{HOOKS}/{made['id']}", headers=api.h("admin")).status_code == 404

    updates = audit(api.url, "webhook.update")
    assert [u.details["after"] for u in updates] == [{"enabled": False}, {"format": "slack", "description": "#fraud"}]
    assert [e.actor for e in audit(api.url, "webhook.create") + audit(api.url, "webhook.delete")] == ["admin-user"] * 2
    with session_scope(api.url) as s:
        assert made["secret"] not in json.dumps([e.details for e in s.scalars(select(AuditEvent))])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x", "events": ["case.opened"]}, "url"),
        ({"url": "https:///no-host", "events": ["case.opened"]}, "url"),
        ({"url": "https://user:pw@example.com/x", "events": ["case.opened"]}, "url"),
        ({"url": "example.com/x", "events": ["case.opened"]}, "url"),
        ({"url": "https://example.com:99999/x", "events": ["case.opened"]}, "url"),
        ({"url": "https://example.com/" + "a" * 2048, "events": ["case.opened"]}, "url"),
        ({"url": "https://example.com/x", "events": []}, "events"),
        ({"url": "https://example.com/x", "events": ["case.closed"]}, "events"),
        ({"url": "https://example.com/x", "events": ["case.opened"], "format": "xml"}, "format"),
        ({"url": "https://example.com/x", "events": ["case.opened"], "secret": "mine"}, "secret"),
    ],
)
def test_bad_subscriptions_are_422_naming_the_field(sqlite_api: Api, body: dict, field: str) -> None:
    r = sqlite_api.client.post(HOOKS, json=body, headers=sqlite_api.h("admin"))
    assert r.status_code == 422 and field in r.json()["detail"], r.text
    made = subscribe(sqlite_api, "https://example.com/x", ["case.opened"])
    r = sqlite_api.client.patch(f"{HOOKS}/{made['id']}", json=body | {"secret": None}, headers=sqlite_api.h("admin"))
    assert r.status_code == 422


def test_unknown_webhooks_and_deliveries_are_404_and_bad_cursors_422(sqlite_api: Api) -> None:
    h = sqlite_api.h("admin")
    assert sqlite_api.client.get(f"{HOOKS}/999", headers=h).status_code == 404
    made = subscribe(sqlite_api, "https://example.com/x", ["case.opened"])
    r = sqlite_api.client.post(f"{HOOKS}/{made['id']}/deliveries/{'0' * 32}/redeliver", headers=h)
    assert r.status_code == 404 and "no delivery" in r.json()["detail"]
    r = sqlite_api.client.get(f"{HOOKS}/{made['id']}/deliveries?after={'0' * 32}", headers=h)
    assert r.status_code == 422 and "after" in r.json()["detail"]
    assert sqlite_api.client.get(f"{HOOKS}/{made['id']}/deliveries?after=x", headers=h).status_code == 422


# --- events in the transaction of their change ----------------------------------------------------------------


def test_cases_queue_opened_and_decided_for_the_subscriptions_that_want_them(api: Api) -> None:
    wants = subscribe(api, "https://a.example.com/", ["case.opened", "case.decided"])
    other = subscribe(api, "https://b.example.com/", ["cluster.flagged"])
    paused = subscribe(api, "https://c.example.com/", ["case.opened"], enabled=False)
    h = api.h("lead")
    case = api.client.post("/api/v1/cases", json={"subject_type": "account", "subject_id": "acct-s001"}, headers=h)
    assert case.status_code == 201
    refused = api.client.post("/api/v1/cases", json={"subject_type": "account", "subject_id": "acct-s001"}, headers=h)
    assert refused.status_code == 409  # rolled back: nothing queued
    cid = case.json()["id"]
    api.client.post(f"/api/v1/cases/{cid}/transition", json={"status": "in_review"}, headers=h)
    r = api.client.post(
        f"/api/v1/cases/{cid}/transition", json={"status": "dismissed", "reason": "a teacher"}, headers=h
    )
    assert r.status_code == 200
    api.client.post(f"/api/v1/cases/{cid}/transition", json={"status": "dismissed", "reason": "again"}, headers=h)

    queued = rows(api.url)
    assert {d.subscription_id for d in queued} == {wants["id"]}, (other, paused)
    assert [d.event_type for d in queued] == ["case.opened", "case.decided"]
    opened, decided = (d.payload for d in queued)
    assert opened["data"] == {
        "case_id": cid,
        "subject_type": "account",
        "subject_id": "acct-s001",
        "opened_by": "lead-user",
        "assignee": None,
        "reason": None,
    }
    assert decided["data"]["decision"] == "dismissed" and decided["data"]["reason"] == "a teacher"
    assert len({d.id for d in queued}) == 2 and all(d.status == "pending" for d in queued)


def test_a_cluster_is_announced_once_when_first_flagged(api: Api) -> None:
    made = subscribe(api, "https://a.example.com/", ["cluster.flagged"])
    base = seed.build()[1][-1]
    quiet = msgspec.structs.replace(base, cluster_id="c-new", flagged=False, flagged_at=None)
    loud = msgspec.structs.replace(base, cluster_id="c-new", flagged=True, score=0.97)
    for version in (quiet, loud, loud, msgspec.structs.replace(loud, score=0.99), quiet, loud):
        with session_scope(api.url) as s:
            upsert_detections(s, [], [version])
    seed_world(api.url)  # the seed's clusters were flagged before the subscription: not new
    queued = rows(api.url)
    assert [(d.subscription_id, d.event_type) for d in queued] == [(made["id"], "cluster.flagged")]
    assert queued[0].payload["data"]["cluster_id"] == "c-new" and queued[0].payload["data"]["score"] == 0.97


def test_enforcement_sent_is_queued_when_the_broker_acknowledges(api: Api) -> None:
    subscribe(api, "https://a.example.com/", ["enforcement.sent"])
    h = api.h("lead")
    case = api.client.post("/api/v1/cases", json={"subject_type": "cluster", "subject_id": "c-hydra-2"}, headers=h)
    cid = case.json()["id"]
    api.client.post(f"/api/v1/cases/{cid}/transition", json={"status": "in_review"}, headers=h)
    api.client.post(
        f"/api/v1/cases/{cid}/transition", json={"status": "confirmed_attack", "reason": "cards"}, headers=h
    )
    api.client.post("/api/v1/enforcement/dispatch", headers=h)
    pending = api.client.get("/api/v1/enforcement/pending", headers=h).json()
    sent = [d.payload["data"] for d in rows(api.url)]
    assert pending == [] and sent and all(d["case_id"] == cid and d["action"] == "suspend" for d in sent)
    assert len({d["idempotency_key"] for d in sent}) == len(sent)


# --- signing and delivery -------------------------------------------------------------------------------------


def test_signatures_verify_and_refuse_tampering_and_replays() -> None:
    body, secret, now = b'{"id":"evt_1"}', "whsec_test", 1_800_000_000
    header = sign(secret, body, now)
    assert verify_signature(secret, header, body, tolerance=300, now=now + 299) == now
    assert verify_signature(secret, "v1=00," + header, body, now=now) == now  # several v1 values: one must match
    for bad_secret, bad_header, bad_body, at, why in [
        ("whsec_other", header, body, now, "matches"),
        (secret, header, body + b" ", now, "matches"),
        (secret, header, body, now + 301, "from now"),
        (secret, header.replace("t=", "x="), body, now, "t="),
        (secret, "garbage", body, now, "malformed"),
    ]:
        with pytest.raises(SignatureError, match=why):
            verify_signature(bad_secret, bad_header, bad_body, tolerance=300, now=at)


def test_deliveries_are_signed_json_or_slack_and_logged(api: Api, receiver: Receiver) -> None:
    plain = subscribe(api, receiver.url, ["case.opened"])
    slack = subscribe(api, receiver.url, ["case.opened"], format="slack")
    receiver.secret = plain["secret"]
    r = api.client.post(
        "/api/v1/cases", json={"subject_type": "account", "subject_id": "acct-s001"}, headers=api.h("lead")
    )
    drain(Dispatcher(session_factory(api.url), FAST), lambda: len(receiver.accepted()) == 2)
    got = {req.delivery_id: req for req in receiver.accepted()}
    by_sub = {d.subscription_id: d for d in rows(api.url)}
    envelope = json.loads(got[by_sub[plain["id"]].id].body)
    assert got[by_sub[plain["id"]].id].signed and envelope["type"] == "case.opened"
    assert envelope["data"]["case_id"] == r.json()["id"] and envelope["id"].startswith("evt_")
    text = json.loads(got[by_sub[slack["id"]].id].body)
    assert text == {"text": f"DistillGuard: case #{r.json()['id']} opened on account acct-s001 by lead-user"}
    in_slack = got[by_sub[slack["id"]].id]
    assert not in_slack.signed  # the receiver checked it with the other subscription's secret
    assert abs(verify_signature(slack["secret"], in_slack.signature, in_slack.body) - time.time()) < DRAIN_SECONDS

    log = api.client.get(f"{HOOKS}/{plain['id']}/deliveries", headers=api.h("admin")).json()
    assert log["next"] is None and [d["status"] for d in log["items"]] == ["delivered"]
    assert log["items"][0]["attempts"] == 1 and log["items"][0]["last_status_code"] == 200


def test_every_delivery_arrives_once_through_failures_timeouts_and_an_outage(api: Api, receiver: Receiver) -> None:
    """The receiver answers 500, then too late, then is down (connection refused) for a while: every event arrives,
    and de-duplicated by delivery id the receiver acts on each exactly once."""
    made = subscribe(api, receiver.url, ["case.opened"])
    receiver.secret = made["secret"]
    receiver.plan.extend([ERROR, ERROR, SLOW, ERROR])
    h = api.h("analyst")
    accounts = ["acct-s001", "acct-s002", "acct-k001", "acct-k002", "acct-k003"]
    dispatcher = Dispatcher(session_factory(api.url), FAST)
    for i, account in enumerate(accounts):
        api.client.post("/api/v1/cases", json={"subject_type": "account", "subject_id": account}, headers=h)
        if i == 2:
            drain(dispatcher, lambda: not receiver.plan)
            receiver.stop()
            drain(dispatcher, elapsed(OUTAGE_SECONDS))
            receiver.start()
    queued = rows(api.url)
    drain(dispatcher, lambda: all(d.status == "delivered" for d in rows(api.url)))
    unique = receiver.unique()
    assert set(unique) == {d.id for d in queued} and len(queued) == len(accounts)
    assert all(r.signed for r in receiver.requests)
    assert sorted(json.loads(r.body)["data"]["subject_id"] for r in unique.values()) == sorted(accounts)
    assert len(receiver.accepted()) > len(unique)  # the late answer's delivery was sent again, same delivery id
    assert max(d.attempts for d in rows(api.url)) > 2


def test_a_failing_receiver_is_disabled_after_consecutive_failed_deliveries(api: Api, receiver: Receiver) -> None:
    made = subscribe(api, receiver.url, ["case.opened"])
    receiver.secret = made["secret"]
    receiver.plan.extend([ERROR] * 100)
    policy = RetryPolicy(timeout=0.5, max_attempts=2, backoff=0.01, backoff_max=0.01, disable_after=2)
    h = api.h("analyst")
    dispatcher = Dispatcher(session_factory(api.url), policy)
    for account in ("acct-s001", "acct-s002"):
        api.client.post("/api/v1/cases", json={"subject_type": "account", "subject_id": account}, headers=h)
        drain(dispatcher, lambda: all(d.status == "failed" for d in rows(api.url)))
    sub = api.client.get(f"{HOOKS}/{made['id']}", headers=api.h("admin")).json()
    assert not sub["enabled"] and sub["consecutive_failures"] == 2
    assert sub["disabled_reason"].startswith("2 consecutive deliveries failed; last: HTTP 500")
    (disable,) = audit(api.url, "webhook.disable")
    assert disable.actor == "system" and disable.entity_id == str(made["id"])
    api.client.post("/api/v1/cases", json={"subject_type": "account", "subject_id": "acct-k002"}, headers=h)
    assert len(rows(api.url)) == 2  # nothing is queued for a disabled webhook

    failed = next(d for d in rows(api.url) if d.status == "failed")
    r = api.client.post(f"{HOOKS}/{made['id']}/deliveries/{failed.id}/redeliver", headers=api.h("admin"))
    assert r.status_code == 409 and "disabled" in r.json()["detail"]
    api.client.patch(f"{HOOKS}/{made['id']}", json={"enabled": True}, headers=api.h("admin"))
    receiver.plan.clear()
    r = api.client.post(f"{HOOKS}/{made['id']}/deliveries/{failed.id}/redeliver", headers=api.h("admin"))
    assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["attempts"] == 0
    drain(Dispatcher(session_factory(api.url), policy), lambda: failed.id in receiver.unique())
    assert [d.status for d in rows(api.url)].count("delivered") == 1
    (redo,) = audit(api.url, "webhook.redeliver")
    assert (
        redo.actor == "admin-user" and redo.details["delivery_id"] == failed.id and redo.details["status"] == "failed"
    )


def test_a_dispatcher_dying_between_send_and_mark_loses_nothing(api: Api, receiver: Receiver) -> None:
    """The first round sends and dies before recording: once its lease ends, another dispatcher sends the same
    deliveries again under the same delivery ids (the receiver keeps one of each)."""
    made = subscribe(api, receiver.url, ["case.opened"])
    receiver.secret = made["secret"]
    for account in ("acct-s001", "acct-s002"):
        api.client.post(
            "/api/v1/cases", json={"subject_type": "account", "subject_id": account}, headers=api.h("analyst")
        )
    first = Dispatcher(session_factory(api.url), FAST)

    async def send_and_die() -> None:
        claimed = await asyncio.to_thread(first.claim)
        async with httpx.AsyncClient() as client:
            assert all([(await first.send(client, c)).ok for c in claimed])

    asyncio.run(send_and_die())
    assert len(receiver.accepted()) == 2 and all(d.status == "pending" for d in rows(api.url))
    second = Dispatcher(session_factory(api.url), FAST)
    assert second.claim() == []  # still leased to the dead round
    drain(second, lambda: all(d.status == "delivered" for d in rows(api.url)))
    assert len(receiver.accepted()) == 4 and set(receiver.unique()) == {d.id for d in rows(api.url)}


def test_delivery_log_pages_newest_first(sqlite_api: Api) -> None:
    made = subscribe(sqlite_api, "https://a.example.com/", ["case.opened"])
    for account in ("acct-s001", "acct-s002", "acct-k001"):
        sqlite_api.client.post(
            "/api/v1/cases", json={"subject_type": "account", "subject_id": account}, headers=sqlite_api.h("analyst")
        )
    url, h = f"{HOOKS}/{made['id']}/deliveries", sqlite_api.h("admin")
    first = sqlite_api.client.get(url + "?limit=2", headers=h).json()
    rest = sqlite_api.client.get(url + f"?limit=2&after={first['next']}", headers=h).json()
    subjects = [d["payload"]["data"]["subject_id"] for d in first["items"] + rest["items"]]
    assert subjects == ["acct-k001", "acct-s002", "acct-s001"] and rest["next"] is None
    assert sqlite_api.client.get(url + "?status=delivered", headers=h).json() == {"items": [], "next": None}


def test_concurrent_claims_never_share_a_delivery_and_deleting_a_webhook_drops_its_log(db_url: str) -> None:
    """Four dispatchers (as in four API processes) claiming at once get disjoint deliveries."""
    with session_scope(db_url) as s:
        sub = webhooks.create(s, SETUP, "https://a.example.com/", ["case.opened"], "json", None, True)
        data = {"subject_type": "account", "opened_by": "setup", "assignee": None, "reason": None}
        for i in range(2 * CLAIM_BATCH):
            webhooks.enqueue(s, Event(EventType.case_opened, str(i), data | {"case_id": i, "subject_id": f"a{i}"}))
    dispatchers = [Dispatcher(session_factory(db_url), FAST) for _ in range(4)]
    with ThreadPoolExecutor(len(dispatchers)) as pool:
        claims = list(pool.map(lambda d: [c.id for c in d.claim()], dispatchers))
    taken = [i for c in claims for i in c]
    assert len(taken) == len(set(taken))  # no delivery in two claims
    if db_url.startswith("postgresql"):
        assert len(taken) == 2 * CLAIM_BATCH  # each skips the rows another has locked: two full batches
    else:
        assert CLAIM_BATCH <= len(taken) <= 2 * CLAIM_BATCH  # a claim that lost the race to the same rows gets none
    with session_scope(db_url) as s:
        webhooks.delete(s, SETUP, webhooks.get(s, sub.id))
    assert rows(db_url) == []


def test_a_disabled_webhooks_pending_deliveries_wait_until_it_is_enabled(sqlite_api: Api) -> None:
    made = subscribe(sqlite_api, "https://a.example.com/", ["case.opened"])
    sqlite_api.client.post(
        "/api/v1/cases", json={"subject_type": "account", "subject_id": "acct-s001"}, headers=sqlite_api.h("analyst")
    )
    url, h = f"{HOOKS}/{made['id']}", sqlite_api.h("admin")
    dispatcher = Dispatcher(session_factory(sqlite_api.url), FAST)
    sqlite_api.client.patch(url, json={"enabled": False}, headers=h)
    assert dispatcher.claim() == []
    sqlite_api.client.patch(url, json={"enabled": True}, headers=h)
    assert [c.id for c in dispatcher.claim()] == [d.id for d in rows(sqlite_api.url)]
