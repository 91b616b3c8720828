"""The review console end to end in headless Chromium: sign in, queue, evidence, decisions, audit trail."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from distillguard.api.app import create_app
from tests.api.conftest import Api, served
from tests.services import missing

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


@pytest.fixture
def server(sqlite_api: Api) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port."""
    with served(create_app(sqlite_api.settings, outbox_loop=False)) as url:
        yield url


@pytest.fixture
def page(tmp_path: Path):
    """A headless Chromium page."""
    if not os.path.exists(CHROMIUM):
        missing(f"{CHROMIUM} not installed (run `make browser` as root to install Debian chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        yield pg
        browser.close()


def test_review_flow_in_the_console(server: str, sqlite_api: Api, page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(server + "/console")
    expect(page).to_have_url(server + "/console/login")  # no token yet
    page.fill("input[name=token]", "dg_wrong")
    page.click("button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("unknown or revoked")
    page.fill("input[name=token]", sqlite_api.tokens["lead"])
    page.click("button[type=submit]")

    rows = page.locator("#queue tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("c-hydra")
    page.click("text=c-hydra >> nth=0")
    expect(page.locator("h1")).to_contain_text("c-hydra")
    expect(page.locator("#timeline rect")).to_have_count(30)  # one bar per hour, 08h on day 1 to 13h on day 2
    expect(page.locator(".indicators")).to_contain_text("card-7f3a")
    expect(page.locator("#prompts li").first).to_contain_text("[redacted:")
    page.click("text=show text")
    expect(page.locator("#prompts li").first).to_contain_text("Think step by step")
    page.screenshot(path=str(tmp_path / "cluster.png"), full_page=True)

    expect(page.locator("#recommended")).to_have_text("none")  # the seed's records predate the ladder
    page.select_option("#override-action", "throttle")
    page.fill("#override-reason", "throttle until the case is decided")
    page.click("#override-set")
    expect(page.locator("#applied")).to_have_text("throttle")
    expect(page.locator("#recommended")).to_have_text("none")
    expect(page.locator("#override")).to_contain_text("Overridden to throttle by lead-user (lead)")
    expect(page.locator("#override-reason-text")).to_have_text("throttle until the case is decided")
    page.click("#override-clear")
    expect(page.locator("#applied")).to_have_text("none")
    expect(page.locator("#override")).to_have_count(0)
    page.select_option("#override-action", "takedown")
    page.fill("#override-reason", "cards, proxy IPs and a sign-up burst")
    page.click("#override-set")
    expect(page.locator("#applied")).to_have_text("takedown")
    overridden = sqlite_api.client.get("/api/v1/clusters/c-hydra", headers=sqlite_api.h("viewer")).json()
    assert (overridden["action"], overridden["applied_action"], overridden["override"]["by"]) == (
        "none",
        "takedown",
        "lead-user",
    )

    page.fill("#case input[name=reason]", "hydra triage")
    page.click("#open-case")
    expect(page.locator("#status")).to_have_text("open")
    page.click("button.act.in_review")
    expect(page.locator("#status")).to_have_text("in_review")
    page.check("input[value=acct-r000]")
    page.check("input[value=acct-r001]")
    page.fill("#members-form input[name=reason]", "reseller customers")
    page.click("#dismiss-selected")
    expect(page.locator("tr:has-text('acct-r000') .pill.dismissed")).to_be_visible()
    page.click("button.act.confirmed_attack")  # no reason: refused with the reason why
    expect(page.locator(".flash")).to_contain_text("reason is required")
    page.fill("#reason", "shared cards, proxy IPs, burst sign-ups")
    page.click("button.act.confirmed_attack")
    expect(page.locator("#status")).to_have_text("confirmed_attack")
    audit = page.locator("#audit tbody tr")
    expect(audit).to_have_count(4)
    expect(audit.last).to_contain_text("shared cards, proxy IPs, burst sign-ups")
    expect(audit.last).to_contain_text("lead-user")
    page.screenshot(path=str(tmp_path / "decided.png"), full_page=True)

    pending = sqlite_api.client.get("/api/v1/enforcement/pending", headers=sqlite_api.h("viewer")).json()
    case = sqlite_api.client.get("/api/v1/cases", headers=sqlite_api.h("viewer")).json()[0]
    detail = sqlite_api.client.get(f"/api/v1/cases/{case['id']}", headers=sqlite_api.h("viewer")).json()
    assert pending == [] and len(detail["enforcement"]) == 40 and all(e["sent_at"] for e in detail["enforcement"])


def test_console_and_docs_render_under_the_content_security_policy(server: str, sqlite_api: Api, page) -> None:
    from playwright.sync_api import expect

    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(server + "/console/login")
    page.fill("input[name=token]", sqlite_api.tokens["viewer"])
    page.click("button[type=submit]")
    expect(page.locator("#queue tbody tr")).to_have_count(4)
    page.click("text=c-hydra >> nth=0")
    expect(page.locator("#timeline rect")).to_have_count(30)
    page.goto(server + "/docs")
    expect(page.locator(".opblock").first).to_be_visible()  # Swagger UI 5 renders the OpenAPI 3.1 document
    assert violations == []
