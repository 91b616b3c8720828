"""The console's bulk actions and restricted cases in headless Chromium: tick queue rows (or all of them), choose an
action, confirm what will happen to how many rows, read the banner saying what happened (or why nothing did); a
non-member finds no trace of a restricted case. Screenshots of each new screen in the test's directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import Api
from tests.api.test_api_console import _sign_in, page, server  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

CLUSTERS = 4  # the seed's clusters, all on the queue's first page


def test_bulk_open_then_a_refused_bulk_dismissal(server: str, sqlite_api: Api, page, tmp_path: Path) -> None:  # noqa: F811
    """A lead selects every cluster, opens a case on each after confirming, and sees the banner and the new status;
    dismissing an open case in bulk is refused with the reason, naming the row, and changes nothing."""
    from playwright.sync_api import expect

    _sign_in(page, server, sqlite_api.tokens["lead"])
    picks = page.locator("#queue input.pick")
    expect(picks).to_have_count(CLUSTERS)
    page.check("#select-all")
    for i in range(CLUSTERS):
        expect(picks.nth(i)).to_be_checked()
    page.select_option("#bulk-action", "open")
    page.fill("#bulk-reason", "weekly triage")
    page.screenshot(path=str(tmp_path / "queue-bulk-selected.png"), full_page=True)
    page.click("#bulk-review")

    expect(page.locator("#bulk-summary")).to_have_text(f"Open a case on each of {CLUSTERS} clusters.")
    expect(page.locator("#bulk-items tbody tr")).to_have_count(CLUSTERS)
    expect(page.locator("#bulk-confirm-button")).to_have_text(f"Open {CLUSTERS} clusters")
    page.screenshot(path=str(tmp_path / "bulk-confirm.png"), full_page=True)
    assert sqlite_api.client.get("/api/v1/cases", headers=sqlite_api.h("viewer")).json() == []  # not yet
    page.click("#bulk-confirm-button")

    expect(page.locator(".flash.done")).to_contain_text(f"Done: Open a case on each of {CLUSTERS} clusters.")
    expect(page.locator(".flash.done")).to_contain_text(f"{CLUSTERS} changed")
    expect(page.locator("#queue tbody .pill.open")).to_have_count(CLUSTERS)
    page.screenshot(path=str(tmp_path / "bulk-done.png"), full_page=True)
    opened = sqlite_api.client.get("/api/v1/cases", headers=sqlite_api.h("viewer")).json()
    assert sorted(c["created_by"] for c in opened) == ["lead-user"] * CLUSTERS

    page.check("#queue input.pick[value=c-uni]")
    page.select_option("#bulk-action", "dismiss")
    page.fill("#bulk-reason", "a class of students")
    page.click("#bulk-review")
    expect(page.locator("#bulk-summary")).to_have_text("Dismiss the cases of 1 cluster.")
    page.click("#bulk-confirm-button")
    refusal = page.locator(".flash[role=alert]")
    expect(refusal).to_contain_text("nothing changed: 1 of 1 items refused: cluster 'c-uni'")
    expect(refusal).to_contain_text("it can move to: in_review, escalated")
    page.screenshot(path=str(tmp_path / "bulk-refused.png"), full_page=True)
    expect(page.locator("#queue tbody .pill.open")).to_have_count(CLUSTERS)


def test_viewers_get_no_bulk_form_and_nothing_ticked_is_refused(server: str, sqlite_api: Api, page) -> None:  # noqa: F811
    """A viewer's queue has no checkboxes; an analyst who reviews without ticking a row is told to tick one."""
    from playwright.sync_api import expect

    _sign_in(page, server, sqlite_api.tokens["viewer"])
    expect(page.locator("#queue tbody tr")).to_have_count(CLUSTERS)
    expect(page.locator("#select-all")).to_have_count(0)
    expect(page.locator("#bulk")).to_have_count(0)
    page.context.clear_cookies()
    _sign_in(page, server, sqlite_api.tokens["analyst"])
    page.click("#bulk-review")
    expect(page.locator(".flash[role=alert]")).to_have_text("tick at least one row")


def test_a_restricted_case_leaves_no_trace_in_a_non_member_s_console(
    server: str,  # noqa: F811
    sqlite_api: Api,
    page,  # noqa: F811
    tmp_path: Path,
) -> None:
    """c-uni's case restricted to the lead: the analyst's queue lists three clusters and counts three, and the
    cluster's page (and its accounts') are "not found" like an unknown id's; the lead still sees it all."""
    from playwright.sync_api import expect

    api = sqlite_api
    case = api.client.post(
        "/api/v1/cases", json={"subject_type": "cluster", "subject_id": "c-uni"}, headers=api.h("lead")
    )
    r = api.client.put(f"/api/v1/cases/{case.json()['id']}/restriction", json={"members": []}, headers=api.h("lead"))
    assert r.status_code == 200
    _sign_in(page, server, api.tokens["analyst"])
    expect(page.locator("#queue tbody tr")).to_have_count(CLUSTERS - 1)
    expect(page.locator("#queue")).not_to_contain_text("c-uni")
    expect(page.locator(".counts")).to_contain_text(f"{CLUSTERS - 1} clusters")
    page.screenshot(path=str(tmp_path / "queue-non-member.png"), full_page=True)
    hidden = page.goto(server + "/console/clusters/c-uni")
    assert hidden is not None and hidden.status == 404
    hidden_text = page.locator("main").inner_text()
    page.screenshot(path=str(tmp_path / "restricted-cluster-non-member.png"), full_page=True)
    unknown = page.goto(server + "/console/clusters/c-unknown")
    assert unknown is not None and unknown.status == 404
    assert hidden_text.replace("c-uni", "ID") == page.locator("main").inner_text().replace("c-unknown", "ID")
    assert page.goto(server + "/console/accounts/acct-u001").status == 404  # type: ignore[union-attr]
    page.context.clear_cookies()
    _sign_in(page, server, api.tokens["lead"])
    expect(page.locator("#queue tbody tr")).to_have_count(CLUSTERS)
    page.goto(server + "/console/clusters/c-uni")
    expect(page.locator("h1")).to_contain_text("c-uni")
    expect(page.locator("#restricted")).to_have_text(
        "Restricted: only lead-user and admins see this case and its subjects."
    )
    page.screenshot(path=str(tmp_path / "restricted-cluster-member.png"), full_page=True)
