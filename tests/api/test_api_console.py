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


NARROW = {"width": 400, "height": 800}  # below the ~420 px the console must not break at
LONE = "acct-s005"  # the seed's one flagged account in no cluster


def _sign_in(page, server: str, token: str) -> None:
    page.goto(server + "/console/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")


def _fits(page) -> bool:
    """No horizontal scrolling of the page itself (wide tables scroll inside their own container)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_accounts_tab_lone_account_page_and_exports(server: str, sqlite_api: Api, page, tmp_path: Path) -> None:
    """A lone flagged account is reachable from the queue (the accounts tab), its page shows evidence and the
    override form, every action says what it did, the export links carry the filters, nothing asks for
    /favicon.ico, and the pages fit a 400 px screen with IPs unbroken."""
    from playwright.sync_api import expect

    missing_paths: list[str] = []
    page.on("response", lambda r: missing_paths.append(r.url) if r.status == 404 else None)
    _sign_in(page, server, sqlite_api.tokens["analyst"])
    expect(page.locator(".flash.done")).to_have_text("Signed in as analyst-user (analyst).")
    expect(page.locator("#lone")).to_contain_text("1 flagged account in no cluster")
    page.click("#lone a")
    expect(page.locator("#tab-account")).to_have_class("active")
    expect(page.locator("#flagged")).to_have_value("true")
    expect(page.locator("#lone-filter")).to_have_value("true")
    expect(page.locator("#queue tbody tr")).to_have_count(1)
    expect(page.locator("#queue tbody tr")).to_contain_text(LONE)
    page.screenshot(path=str(tmp_path / "accounts-tab.png"), full_page=True)

    page.select_option("#lone-filter", "")
    page.click("form.filters button")
    expect(page.locator("#queue tbody tr")).to_have_count(50)  # 51 flagged accounts: a second page
    page.click("#next-page")
    expect(page.locator("#queue tbody tr")).to_have_count(1)
    expect(page.locator("#first-page")).to_be_visible()
    csv_link = page.locator("#exports a", has_text="Export CSV")
    href = csv_link.get_attribute("href") or ""
    assert "kind=account" in href and "flagged=true" in href and "cursor" not in href
    with page.expect_download() as download:
        csv_link.click()
    exported = Path(download.value.path()).read_text().splitlines()
    assert exported[0].startswith("account_id,") and len(exported) == 1 + 51  # the header, every flagged account

    page.fill("#search", LONE)
    page.select_option("#sort", "last_seen")
    page.click("form.filters button")
    expect(page.locator("#queue tbody tr")).to_have_count(1)
    page.click(f"text={LONE}")
    expect(page.locator("h1")).to_contain_text(LONE)
    expect(page.locator("#account-cluster")).to_contain_text("a lone account")
    expect(page.locator("#timeline rect")).to_have_count(5)
    page.select_option("#override-action", "throttle")
    page.fill("#override-reason", "a lone harvester")
    page.click("#override-set")
    expect(page.locator("#applied")).to_have_text("throttle")
    expect(page.locator(".flash.done")).to_contain_text(f"Applied throttle to account {LONE}")
    page.fill("#case input[name=reason]", "lone harvester")
    page.click("#open-case")
    expect(page.locator(".flash.done")).to_contain_text(f"Opened case #1 on account {LONE}")
    page.click("button.act.in_review")
    expect(page.locator(".flash.done")).to_have_text("Case #1 moved from open to in_review.")
    expect(page.locator("#case-export a")).to_have_count(2)
    page.screenshot(path=str(tmp_path / "account.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#case-export a:has-text('Export JSONL')")
    records = Path(download.value.path()).read_text().splitlines()
    assert [r.split('"record":"')[1].split('"')[0] for r in records] == ["case", "account", "audit", "audit"]

    page.set_viewport_size(NARROW)
    assert _fits(page)
    page.goto(server + "/console/clusters/c-hydra")
    assert _fits(page)
    ip = page.locator(".indicators code", has_text="203.0.113.7")
    height = ip.evaluate("e => e.getBoundingClientRect().height")
    line = ip.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || e.getBoundingClientRect().height")
    assert height <= line * 1.5  # one line: the address is not broken
    page.click("table.members a:has-text('acct-h001')")
    expect(page.locator("#account-cluster")).to_contain_text("c-hydra")
    page.goto(server + "/console?kind=account")
    assert _fits(page)
    page.screenshot(path=str(tmp_path / "queue-narrow.png"), full_page=True)
    assert [u for u in missing_paths if u.endswith("/favicon.ico")] == [] and missing_paths == []
