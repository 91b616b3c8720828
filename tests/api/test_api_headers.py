"""Security headers on every response, a console without inline script or style, and /docs without a CDN."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from distillguard.api.headers import SECURITY_HEADERS
from tests.api.conftest import Api

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "templates"
PAGES = [
    "/health",
    "/api/v1/me",
    "/api/v1/nowhere",
    "/console/login",
    "/console",
    "/console/static/console.css",
    "/docs",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_response_carries_the_security_headers(sqlite_api: Api, path: str) -> None:
    r = sqlite_api.client.get(path, headers=sqlite_api.h("viewer"))
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"


def test_refusals_of_the_middlewares_carry_them_too(sqlite_api: Api) -> None:
    r = sqlite_api.client.post("/api/v1/cases", content=b"x" * 2_000_000, headers=sqlite_api.h("analyst"))
    assert r.status_code == 413 and r.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]


def test_console_templates_have_no_inline_script_or_style() -> None:
    for page in TEMPLATES.glob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page.name  # scripts come from files
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=", html), page.name


EMPTY_ICON = "data:,"


def test_docs_load_swagger_ui_from_this_origin_only(sqlite_api: Api) -> None:
    html = sqlite_api.client.get("/docs").text
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs.count(EMPTY_ICON) == 1  # the empty favicon: no request at all, from any origin
    refs.remove(EMPTY_ICON)
    assert refs and all(ref.startswith("/") and not ref.startswith("//") for ref in refs)
    assert "cdn" not in html.lower() and "<script>" not in html
    for ref in refs:
        assert sqlite_api.client.get(ref).status_code == 200, ref
    assert sqlite_api.client.get("/redoc").status_code == 404  # ReDoc loads from a CDN: not served
