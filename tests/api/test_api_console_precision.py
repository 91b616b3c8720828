"""The console's field-precision page in headless Chromium: its tables and its server-drawn SVG chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.api.console.precision import precision_chart
from distillguard.api.database import session_scope
from distillguard.api.precision.service import Flag, figures
from distillguard.api.review import Decision
from tests.api.conftest import Api
from tests.api.test_api_console import _fits, _sign_in, page, server  # noqa: F401 - fixtures
from tests.api.test_api_precision import AS_OF, NEW_MODEL, build_world

pytestmark = pytest.mark.browser


def cells(row) -> list[str]:
    """The texts of a table row's cells."""
    return row.locator("td").all_inner_texts()


def test_the_precision_page_shows_each_grouping_and_the_weekly_chart(
    server: str,  # noqa: F811
    sqlite_api: Api,
    page,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    with session_scope(sqlite_api.url) as s:
        build_world(s)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    _sign_in(page, server, sqlite_api.tokens["viewer"])
    page.click("a.nav >> text=Field precision")
    expect(page.locator("h1")).to_have_text("Field precision")
    models = page.locator("#precision-model tbody tr")
    expect(models).to_have_count(3)  # two models and the total
    # first review 6030 s / 6966 s, decision 78030 s / 78966 s after the flag
    assert cells(models.nth(0))[:9] == ["m-2026.03", "41", "40", "38", "2", "95.0% (83.5–98.6%)", "1.7 h / 1.9 h",
                                        "21.7 h / 21.9 h", "1"]  # fmt: skip
    assert cells(models.nth(1))[:9] == [NEW_MODEL, "10", "1", "0", "1", "0.0% (0.0–79.3%)", "1.5 h / 1.9 h",
                                        "6.0 h / 6.0 h", "9"]  # fmt: skip
    assert cells(models.nth(2))[:6] == ["all", "51", "41", "38", "3", "92.7% (80.6–97.5%)"]
    weeks = page.locator("#precision-week tbody tr")
    expect(weeks).to_have_count(4)
    assert cells(weeks.nth(1)) == ["2026-W11", "0", "0", "0", "0", "–", "– / –", "– / –", "0", "– / –"]
    assert cells(page.locator("#precision-action tbody tr").first)[:6] == ["none", "1", "0", "0", "0", "–"]
    chart = page.locator("#precision-chart")
    expect(chart.locator("circle")).to_have_count(2)  # W10 and W12 have reviewed flags, W11 none
    expect(chart.locator("rect")).to_have_count(3)
    expect(chart.locator("polyline")).to_have_count(0)  # W11 has nothing reviewed: no line joins W10 and W12
    expect(chart.locator("line.err")).to_have_count(6)  # each point: the bar and its two caps
    expect(chart.locator("g.point title").first).to_contain_text("2026-W10: precision 95.0% (38 of 40)")
    assert chart.locator("rect").nth(0).get_attribute("height") == "70.0"  # the busiest week: 41 flags
    assert chart.locator("rect").nth(2).get_attribute("height") == str(round(70 * 10 / 41, 1))
    page.screenshot(path=str(tmp_path / "precision.png"), full_page=True)
    page.set_viewport_size({"width": 400, "height": 800})
    assert _fits(page)
    page.screenshot(path=str(tmp_path / "precision-narrow.png"), full_page=True)
    assert violations == []


def test_the_chart_joins_the_points_of_consecutive_weeks_only() -> None:
    confirmed = Flag("acct-a", "m", "none", AS_OF, None, Decision.confirmed_attack, AS_OF)
    dismissed = Flag("acct-b", "m", "none", AS_OF, None, Decision.dismissed, AS_OF)
    weeks = [figures("W1", [confirmed], AS_OF), figures("W2", [dismissed], AS_OF), figures("W3", [], AS_OF)]
    chart = precision_chart([*weeks, figures("W4", [confirmed, dismissed], AS_OF), figures("W5", [confirmed], AS_OF)])
    assert [s["point"] is None for s in chart["slots"]] == [False, False, True, False, False]
    assert chart["lines"] == ["76.0,14.0 148.0,164.0", "292.0,89.0 364.0,14.0"]  # precision 1, 0 | 0.5, 1
    assert [s["bar_h"] for s in chart["slots"]] == [35.0, 35.0, 0.0, 70.0, 35.0]
