"""The console's webhooks page in headless Chromium: an admin sees subscriptions and recent deliveries and redelivers
a failed one; anyone else is sent back to the queue, told why."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from distillguard.api.database import session_factory
from distillguard.api.webhooks.delivery import Dispatcher, RetryPolicy
from tests.api.conftest import Api
from tests.api.test_api_console import page, server  # noqa: F401 - the browser and server fixtures
from tests.api.test_api_webhooks import drain, rows
from tests.api.webhook_receiver import ERROR, Receiver
from tests.ports import free_port

pytestmark = pytest.mark.browser
ONE_TRY = RetryPolicy(timeout=0.5, max_attempts=1, backoff=0.01, backoff_max=0.01, disable_after=10)


def sign_in(page, server: str, token: str) -> None:  # noqa: F811 - the page fixture
    page.goto(server + "/console/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")


def test_an_admin_redelivers_a_failed_delivery(server: str, sqlite_api: Api, page, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    receiver = Receiver(free_port())
    receiver.start()
    receiver.plan.extend([ERROR] * 10)
    h = sqlite_api.h("admin")
    sqlite_api.client.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "events": ["case.opened"], "description": "#fraud-desk"},
        headers=h,
    )
    sqlite_api.client.post("/api/v1/cases", json={"subject_type": "account", "subject_id": "acct-s001"}, headers=h)
    try:
        dispatcher = Dispatcher(session_factory(sqlite_api.url), ONE_TRY)
        with ThreadPoolExecutor(1) as pool:  # an event loop of its own: Playwright's runs in this thread
            pool.submit(drain, dispatcher, lambda: rows(sqlite_api.url)[0].status == "failed").result()
    finally:
        receiver.stop()

    sign_in(page, server, sqlite_api.tokens["admin"])
    page.click("a.nav >> text=Webhooks")
    expect(page.locator("#webhooks tbody tr")).to_have_count(1)
    expect(page.locator("#webhooks")).to_contain_text(receiver.url)
    expect(page.locator("#webhooks")).to_contain_text("#fraud-desk")
    deliveries = page.locator("#deliveries tbody tr")
    expect(deliveries).to_have_count(1)
    expect(deliveries.first).to_contain_text("case.opened")
    expect(deliveries.first).to_contain_text("failed")
    expect(deliveries.first).to_contain_text("HTTP 500")
    page.screenshot(path=str(tmp_path / "webhooks.png"), full_page=True)
    page.click("button.redeliver")
    expect(page.locator(".flash.done")).to_contain_text("queued again")
    expect(page.locator("#deliveries tbody tr").first).to_contain_text("pending")
    page.screenshot(path=str(tmp_path / "webhooks-redelivered.png"), full_page=True)
    assert rows(sqlite_api.url)[0].status == "pending"


def test_only_admins_see_the_webhooks_page(server: str, sqlite_api: Api, page) -> None:  # noqa: F811
    from playwright.sync_api import expect

    sign_in(page, server, sqlite_api.tokens["lead"])
    expect(page.locator("a.nav >> text=Webhooks")).to_have_count(0)
    page.goto(server + "/console/webhooks")
    expect(page).to_have_url(server + "/console?msg=role+%27lead%27+may+not+manage+webhooks%3B+it+needs+%27admin%27")
    expect(page.locator(".flash")).to_contain_text("may not manage webhooks")
