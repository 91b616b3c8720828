"""Acceptance twins of the refusal tests: text that is hostile but valid under :mod:`distillguard.api.inputs`
(quotes, backslashes, percent signs, markup, right-to-left scripts without bidi controls, CJK, emoji, long notes
within the documented lengths) is accepted and read back unchanged through the API, the console (HTML-escaped,
shown as the same text), the STIX export and the verdict export. The refusal tests are test_api_injection.py's."""

from __future__ import annotations

import itertools
from html.parser import HTMLParser
from pathlib import Path

import msgspec
import pytest
import stix2
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stix2patterns.validator import run_validator

from distillguard.api.cli import export_verdicts
from distillguard.api.database import session_scope
from distillguard.api.detections.service import upsert_detections
from distillguard.detector.records import verdict_from_json
from tests.api import seed
from tests.api.conftest import Api
from tests.fuzzing import budget

# The documented lengths (api/cases/schemas.py, api/auth/views.py), in characters.
REASON_MAX_CHARS = 2000
NOTE_MAX_CHARS = 10_000
NAME_MAX_CHARS = 128
LONG_NOTE_CHARS = 5000
FILTER_MAX_CHARS = 1000  # an indicator filter (api/detections/schemas.py)

QUOTES = "Let's \"think\" step by step: it's the analyst's `note`"
SQL = "' OR 1=1 --; DROP TABLE cases; --"
BACKSLASHES = "C:\\new\\table \\\\ \\x00 \\' ends with \\"
PERCENT = "100% of _all_ %s %(name)s %% LIKE 'a%'"
MARKUP = "<script>alert('x')</script> &amp; <b>bold</b> &lt;"
RTL = "مرحبا بالعالم — שלום עולם"  # right-to-left scripts, no bidi control characters
CJK = "数据蒸馏攻击 データ蒸留 데이터 증류"
EMOJI = "😀 👩‍💻 🇺🇳 ✓ 🏳️‍🌈"
PADDED = "  two lines\n\tindented\r\nand trailing spaces  "
LONG_NOTE = ("Let's note 100% of 数据 😀 \\ <i>x</i> " * (LONG_NOTE_CHARS // 10))[:LONG_NOTE_CHARS]
LONGEST_REASON = ("reason ✓ 'q' % \\ " * REASON_MAX_CHARS)[:REASON_MAX_CHARS]
LONGEST_NAME = ("名前'n'%\\😀" * NAME_MAX_CHARS)[:NAME_MAX_CHARS]  # names are unpadded

NAMED = {
    "quotes": QUOTES,
    "sql": SQL,
    "backslashes": BACKSLASHES,
    "percent": PERCENT,
    "markup": MARKUP,
    "rtl": RTL,
    "cjk": CJK,
    "emoji": EMOJI,
    "padded": PADDED,
    "longest-reason": LONGEST_REASON,
    "long-note": LONG_NOTE,
    "longest-name": LONGEST_NAME,
}
SHORT = [QUOTES, SQL, BACKSLASHES, PERCENT, MARKUP, RTL, CJK, EMOJI]  # valid in every text field, names too
REASONS = [*SHORT, PADDED, LONGEST_REASON]  # valid reasons (names refuse padding)
NOTES = [*REASONS, LONG_NOTE]  # valid comments


def named(texts: list[str]) -> list:
    """``texts`` as pytest parameters with readable ids."""
    return [pytest.param(t, id=next(k for k, v in NAMED.items() if v == t)) for t in texts]


ACCOUNT_NUMBERS = itertools.count()  # fresh account ids across examples and tests


def valid_text(max_size: int) -> st.SearchStrategy[str]:
    """Text the documented rules accept: no NUL, no lone surrogate, 1 to ``max_size`` characters."""
    return st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=max_size)


def _fresh_account(api: Api) -> str:
    """A new single account with no case (the seed's last single account under a new id)."""
    single = seed.build()[0][-1]
    account = f"acct-t{next(ACCOUNT_NUMBERS):05d}"
    with session_scope(api.url) as s:
        upsert_detections(s, [msgspec.structs.replace(single, account_id=account)], [])
    return account


def _ok(r, status: int = 200) -> dict:
    assert r.status_code == status, r.text[:500]
    return r.json()


@settings(max_examples=budget(20), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reason=valid_text(REASON_MAX_CHARS), note=valid_text(NOTE_MAX_CHARS))
@example(reason=QUOTES, note=QUOTES)
@example(reason=SQL, note=SQL)
@example(reason=BACKSLASHES, note=BACKSLASHES)
@example(reason=PERCENT, note=PERCENT)
@example(reason=MARKUP, note=MARKUP)
@example(reason=RTL, note=RTL)
@example(reason=CJK, note=CJK)
@example(reason=EMOJI, note=EMOJI)
@example(reason=PADDED, note=PADDED)
@example(reason=LONGEST_REASON, note=LONG_NOTE)
def test_reasons_and_comments_are_stored_and_read_back_unchanged(api: Api, reason: str, note: str) -> None:
    """A case opened, commented, decided and confirmed with this text: the case, its decisions, its enforcement
    event and its audit trail give back exactly the text sent."""
    account = _fresh_account(api)
    c, h = api.client, api.h
    case = _ok(
        c.post(
            "/api/v1/cases",
            json={"subject_type": "account", "subject_id": account, "reason": reason},
            headers=h("analyst"),
        ),
        201,
    )
    url = f"/api/v1/cases/{case['id']}"
    assert _ok(c.post(f"{url}/comments", json={"body": note}, headers=h("analyst")), 201)["body"] == note
    decided = c.post(f"{url}/decisions", json={"decision": "confirmed_attack", "reason": reason}, headers=h("analyst"))
    assert _ok(decided) == {"changed": 1}
    _ok(c.post(f"{url}/transition", json={"status": "in_review", "reason": reason}, headers=h("analyst")))
    _ok(c.post(f"{url}/transition", json={"status": "confirmed_attack", "reason": reason}, headers=h("lead")))

    detail = _ok(c.get(url, headers=h("viewer")))
    assert [m["body"] for m in detail["comments"]] == [note]
    assert detail["decision_reason"] == reason
    assert [(d["account_id"], d["reason"]) for d in detail["decisions"]] == [(account, reason)]
    assert [e["payload"]["reason"] for e in detail["enforcement"]] == [reason]
    trail = _ok(c.get("/api/v1/audit", params={"entity_type": "case", "entity_id": case["id"]}, headers=h("viewer")))
    assert [(e["action"], e["reason"]) for e in trail] == [
        ("case.open", reason),
        ("case.comment", None),
        ("case.decide_accounts", reason),
        ("case.transition", reason),
        ("case.transition", reason),
    ]
    assert trail[1]["details"]["body"] == note


@pytest.mark.parametrize("name", named([*SHORT, LONGEST_NAME]))
def test_token_names_are_stored_and_act_unchanged(api: Api, name: str) -> None:
    """A token named with this text: its name is listed, it is the assignee a filter finds and the audit actor."""
    c, h = api.client, api.h
    made = _ok(c.post("/api/v1/tokens", json={"name": name, "role": "analyst"}, headers=h("admin")), 201)
    assert made["name"] == name
    assert [t["name"] for t in _ok(c.get("/api/v1/tokens", headers=h("admin"))) if t["id"] == made["id"]] == [name]
    theirs = {"Authorization": f"Bearer {made['token']}"}
    assert _ok(c.get("/api/v1/me", headers=theirs)) == {"name": name, "role": "analyst"}

    account = _fresh_account(api)
    body = {"subject_type": "account", "subject_id": account, "assignee": name}
    case = _ok(c.post("/api/v1/cases", json=body, headers=h("lead")), 201)
    assert case["assignee"] == name
    assert [x["id"] for x in _ok(c.get("/api/v1/cases", params={"assignee": name}, headers=h("viewer")))] == [
        case["id"]
    ]
    _ok(c.post(f"/api/v1/cases/{case['id']}/comments", json={"body": "mine"}, headers=theirs), 201)
    detail = _ok(c.get(f"/api/v1/cases/{case['id']}", headers=h("viewer")))
    assert [m["author"] for m in detail["comments"]] == [name]
    acted = _ok(c.get("/api/v1/audit", params={"actor": name}, headers=h("viewer")))
    assert [e["action"] for e in acted] == ["case.comment"]


class _TextNodes(HTMLParser):
    """The text nodes of a page (character references resolved), outside tags and attributes."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[str] = []
        self.feed(page)
        self.close()

    def handle_data(self, data: str) -> None:
        self.nodes.append(data)


def shown(page: str, text: str) -> bool:
    """Whether ``page`` shows ``text`` as text (not as markup): within one of its text nodes."""
    return any(text in node for node in _TextNodes(page).nodes)


def _console_post(api: Api, role: str, path: str, form: dict[str, str]) -> str:
    """Post a console form as ``role``; the redirect's location (no ``msg=``: the action was accepted)."""
    headers, csrf = api.console(role)
    r = api.client.post(path, data=form | {"csrf": csrf}, headers=headers, follow_redirects=False)
    api.client.cookies.clear()
    assert r.status_code == 303 and "msg=" not in r.headers["location"], (r.status_code, r.headers.get("location"))
    return r.headers["location"]


@pytest.mark.parametrize("text", named(NOTES))
def test_console_forms_store_the_text_and_pages_show_it_escaped(sqlite_api: Api, text: str) -> None:
    """A case opened, commented and decided through the console's forms with this text: the API gives it back
    unchanged, and the cluster page shows it as text, markup escaped."""
    api = sqlite_api
    reason = text if len(text) <= REASON_MAX_CHARS else LONGEST_REASON
    page_url = _console_post(api, "analyst", "/console/clusters/c-hydra-2/case", {"reason": reason})
    case = _ok(api.client.get("/api/v1/cases", headers=api.h("viewer")))[0]
    case_url = f"/console/cases/{case['id']}"
    _console_post(api, "analyst", f"{case_url}/comment", {"body": text})
    _console_post(api, "analyst", f"{case_url}/transition", {"status": "in_review", "reason": reason})
    decided = {"decision": "dismissed", "account_ids": "acct-k000", "reason": reason}
    _console_post(api, "analyst", f"{case_url}/decisions", decided)
    _console_post(api, "lead", f"{case_url}/transition", {"status": "confirmed_attack", "reason": reason})

    detail = _ok(api.client.get(f"/api/v1/cases/{case['id']}", headers=api.h("viewer")))
    assert [m["body"] for m in detail["comments"]] == [text]
    assert detail["decision_reason"] == reason
    assert {d["account_id"]: d["reason"] for d in detail["decisions"]}["acct-k000"] == reason
    headers, _ = api.console("viewer")
    page = api.client.get(page_url, headers=headers)
    api.client.cookies.clear()
    assert page.status_code == 200
    assert shown(page.text, text)  # the comment
    assert shown(page.text, f"“{reason}”")  # the decision's reason
    if "<" in text:
        assert text not in page.text  # as markup it would not be shown as text; it is escaped


def _hostile_cluster() -> tuple[list, list]:
    """Seed-like records of a cluster ``c-text`` whose prompts, prompt templates and client fingerprints are the
    hostile texts (as the detector writes them), its two members each sending all of them."""
    verdicts, clusters = seed.build()
    members = [msgspec.structs.replace(verdicts[0], account_id=f"acct-text{i}", cluster_id="c-text") for i in (0, 1)]
    members = [msgspec.structs.replace(m, sample_prompts=NOTES) for m in members]
    cluster = msgspec.structs.replace(
        clusters[0],
        cluster_id="c-text",
        members=[m.account_id for m in members],
        shared_indicators={"template": NOTES, "client": SHORT, "ip": ["203.0.113.77"]},
        linked_clusters=[],
    )
    return members, [cluster]


def stix_literal(value: str) -> str:
    """A STIX 2.1 pattern string constant's body: backslash and single quote escaped with a backslash."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def test_prompt_text_is_read_back_unchanged_and_exported_as_valid_stix(api: Api, tmp_path: Path) -> None:
    """Prompts and templates as the detector stores them: the evidence, a template filter, the console page,
    `export-verdicts` and a confirmed cluster's STIX bundle all carry them unchanged (STIX-escaped in patterns)."""
    members, clusters = _hostile_cluster()
    with session_scope(api.url) as s:
        upsert_detections(s, members, clusters)
    c, h = api.client, api.h

    evidence = _ok(c.get("/api/v1/clusters/c-text", params={"redact": "false"}, headers=h("analyst")))
    assert evidence["shared_indicators"] == {"template": NOTES, "client": SHORT, "ip": ["203.0.113.77"]}
    assert [p["prompt"] for p in evidence["sample_prompts"] if p["account_id"] == "acct-text0"] == NOTES
    for template in (t for t in NOTES if len(t) <= FILTER_MAX_CHARS):
        query = {"indicator": template, "indicator_kind": "template"}
        found = _ok(c.get("/api/v1/detections", params=query, headers=h("analyst")))
        assert [i["cluster_id"] for i in found["items"]] == ["c-text"], template

    headers, _ = api.console("analyst")
    page = c.get("/console/clusters/c-text", params={"redact": "false"}, headers=headers)
    c.cookies.clear()
    assert page.status_code == 200 and all(shown(page.text, p) for p in NOTES)

    out = tmp_path / "verdicts.jsonl"
    export_verdicts(out=out, database_url=api.url)
    exported = {v.account_id: v for v in map(verdict_from_json, out.read_bytes().splitlines())}
    assert exported["acct-text0"].sample_prompts == NOTES and exported["acct-text1"].sample_prompts == NOTES

    case = _ok(
        c.post("/api/v1/cases", json={"subject_type": "cluster", "subject_id": "c-text"}, headers=h("lead")), 201
    )
    _ok(c.post(f"/api/v1/cases/{case['id']}/transition", json={"status": "in_review"}, headers=h("lead")))
    confirm = {"status": "confirmed_attack", "reason": "hydra"}
    _ok(c.post(f"/api/v1/cases/{case['id']}/transition", json=confirm, headers=h("lead")))
    r = c.get("/api/v1/clusters/c-text/stix", headers=h("analyst"))
    assert r.status_code == 200, r.text[:500]
    bundle = stix2.parse(r.text, allow_custom=True)
    patterns = {o.pattern for o in bundle.objects if o.type == "indicator"}
    assert all(run_validator(p) == [] for p in patterns)
    assert patterns == (
        {f"[x-distillguard-prompt:template = '{stix_literal(t)}']" for t in NOTES}
        | {f"[x-distillguard-client:fingerprint = '{stix_literal(f)}']" for f in SHORT}
        | {"[ipv4-addr:value = '203.0.113.77']"}
    )
