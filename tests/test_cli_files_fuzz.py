"""Fuzzing every CLI command that reads or writes a user's file: whatever the file holds, the command exits 0
or with a documented code (1: the file cannot be read through; 2: a bad input file, option or output path),
never with a traceback; every malformed line is counted with a reason naming the field or saying why, and
the valid events around it are still processed.

(``tests/test_events_fuzz.py`` fuzzes the parser of one line; this fuzzes whole files through the commands.)
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from distillguard.detector import commands
from distillguard.detector.cli import build_app
from distillguard.detector.detector import Detector
from distillguard.detector.events import Event, EventError, EventFileError, encode_event, parse_event, read_events
from distillguard.detector.ingest.mapping import EVENT_FIELDS
from distillguard.detector.records import verdict_line
from distillguard.streams.replay import keyed_lines
from tests.event_strategies import any_json

FILES = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
FEW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DEEP = 100_000  # nesting depth of the deeply nested lines
HUGE_LINE = 10 * 1024 * 1024  # bytes of the longest line
ACCOUNTS = 5
T0 = datetime(2024, 3, 2, tzinfo=UTC)  # in the past whatever the clock says: no event is "ahead of the wall clock"
FILE_EXIT = 1  # the file cannot be read through
INPUT_EXIT = 2  # a bad input file, option or output path
runner = CliRunner()


@functools.cache
def cli() -> typer.Typer:
    """The ``distillguard`` app with the core commands and the installed layers' (replay, export-verdicts)."""
    return build_app()


def run(*args: str) -> Result:
    """Run a command; it must end without a traceback, with exit 0 or a documented code."""
    res = runner.invoke(cli(), list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output, res.output[-2000:]
    assert res.exit_code in (0, FILE_EXIT, INPUT_EXIT), res.output[-2000:]
    return res


def event(i: int) -> dict:
    return {
        "schema_version": 1,
        "event_id": f"e{i}",
        "ts": (T0 + timedelta(seconds=i)).isoformat(),
        "account_id": f"acct_{i % ACCOUNTS}",
        "api_key_id": f"key_{i % ACCOUNTS}",
        "ip": "10.0.0.1",
        "model": "m",
        "input_tokens": 10,
        "output_tokens": 20,
        "status": 200,
        "prompt": f"question {i}",
    }


def encoded(doc: dict) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


# Malformed lines: (raw line, the field its error must name; "$" for the line as a whole).
def _random_bytes(b: bytes) -> tuple[bytes, str]:
    return b"~" + b.replace(b"\n", b"").replace(b"\r", b""), "$"  # "~": one non-blank line, never a gzip magic or a BOM


bad_lines = st.one_of(
    st.binary(max_size=200).map(_random_bytes),
    st.just((b'{"schema_version": 1, "prompt": "\xff\xfe"}', "prompt")),
    st.just((b"[" * DEEP, "$")),
    st.just((b'{"prompt": ' + b"[" * DEEP, "prompt")),
    st.just((encoded(event(0) | {"temperature": float("nan")}), "temperature")),
    st.just((encoded(event(0) | {"temperature": float("inf")}), "temperature")),
    st.just((encoded(event(0) | {"input_tokens": 10**40}), "input_tokens")),
    st.just((encoded(event(0)).replace(b"question", b"q\x00uestion"), "$")),
    st.just((b"\x00" * 64, "$")),
    st.just((b"{}", "schema_version")),
    st.just((encoded(event(0) | {"prompt": "a" * HUGE_LINE}), "prompt")),
)

PLAIN, BOM, CRLF, GZIP, TRUNCATED, CORRUPT = "plain", "bom", "crlf", "gzip", "truncated gzip", "corrupt gzip"


@dataclass
class Hostile:
    """A generated events file: its bytes, how many valid events and malformed lines it holds (when it can be
    read through) and the fields the malformed lines' errors must name, or the kind of file-level error."""

    data: bytes
    valid: int
    bad: list[str]
    broken: bool

    def write(self, path: Path) -> Path:
        path.write_bytes(self.data)
        return path


@st.composite
def hostile_files(draw: st.DrawFn) -> Hostile:
    kinds = draw(st.lists(st.booleans(), max_size=12))
    lines: list[bytes] = []
    bad: list[str] = []
    valid = 0
    for is_valid in kinds:
        if is_valid:
            lines.append(encoded(event(valid)))
            valid += 1
        else:
            raw, field = draw(bad_lines)
            lines.append(raw)
            bad.append(field)
    form = draw(st.sampled_from([PLAIN, BOM, CRLF, GZIP, TRUNCATED, CORRUPT]))
    text = b"".join(line + (b"\r\n" if form == CRLF else b"\n") for line in lines)
    if form == BOM:
        text = b"\xef\xbb\xbf" + text
    if form in (GZIP, TRUNCATED):
        text = gzip.compress(text, mtime=0)
    if form == TRUNCATED:
        text = text[: draw(st.integers(10, len(text) - 9))]  # past the header, short of the 8-byte trailer
    if form == CORRUPT:
        text = b"\x1f\x8b" + draw(st.binary(min_size=1, max_size=200))
    return Hostile(text, valid, bad, form in (TRUNCATED, CORRUPT))


FILE_ERROR = re.compile(r"(truncated|corrupt) gzip stream")


def assert_bad_lines_reported(res: Result, path: Path, expected: list[str]) -> None:
    """Every malformed line is counted, and each one listed names the field its error is in."""
    listed = re.findall(rf"skipped {re.escape(str(path))}:(\d+): (\S+?): \S", res.output)
    assert len(listed) == min(len(expected), commands.REPORTED_BAD_LINES), res.output[-2000:]
    for (_, field), want in zip(listed, expected, strict=False):
        assert field == want or field.startswith((f"{want}[", f"{want}.")), (field, want)


# ---- detect ----------------------------------------------------------------------------------------


@FILES
@given(hostile_files())
def test_detect_reads_any_file(tmp_path_factory: pytest.TempPathFactory, f: Hostile) -> None:
    tmp = tmp_path_factory.mktemp("detect")
    events, out = f.write(tmp / "events.jsonl"), tmp / "v.jsonl"
    res = run("detect", str(events), "--out", str(out))
    if f.broken:
        assert res.exit_code == FILE_EXIT and FILE_ERROR.search(res.output) and "no verdicts written" in res.output, (
            res.output
        )
        assert not out.exists()
        return
    assert res.exit_code == 0, res.output
    assert f"{f.valid:,} events (" in res.output and f"{len(f.bad):,} malformed lines skipped" in res.output, res.output
    assert_bad_lines_reported(res, events, f.bad)
    assert len(out.read_bytes().splitlines()) == min(f.valid, ACCOUNTS)


# ---- ingest ----------------------------------------------------------------------------------------

IDENTITY_MAPPING = {"fields": {name: {"path": name} for name in sorted(EVENT_FIELDS)}}


@FILES
@given(hostile_files())
def test_ingest_reads_any_file(tmp_path_factory: pytest.TempPathFactory, f: Hostile) -> None:
    """Through a mapping of every event field to itself: each valid event is written, each malformed line counted."""
    tmp = tmp_path_factory.mktemp("ingest")
    (tmp / "identity.json").write_text(json.dumps(IDENTITY_MAPPING))
    log, out = f.write(tmp / "log.jsonl"), tmp / "events.jsonl"
    res = run("ingest", str(log), "--from", "mapping", "--mapping", str(tmp / "identity.json"), "--out", str(out))
    if f.broken:
        assert res.exit_code == FILE_EXIT and FILE_ERROR.search(res.output), res.output
        return
    if f.bad and not f.valid:
        assert res.exit_code == FILE_EXIT and "reads as --from mapping" in res.output, res.output
    else:
        assert res.exit_code == 0, res.output
    assert f"{f.valid:,} events, {len(f.bad):,} dropped (mapping)" in res.output, res.output
    assert [parse_event(line).event_id for line in out.read_bytes().splitlines()] == [f"e{i}" for i in range(f.valid)]


# ---- evaluate --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """labels.json and verdicts of ACCOUNTS accounts."""
    root = tmp_path_factory.mktemp("eval")
    det = Detector()
    det.process(parse_event(encoded(event(i))) for i in range(3 * ACCOUNTS))
    det.flush()
    (root / "v.jsonl").write_bytes(b"".join(verdict_line(v) + b"\n" for v in det.verdicts()))
    labels = {
        f"acct_{i}": {"attack": i % 2 == 0, "campaign": "c1" if i % 2 == 0 else None, "kind": "k"}
        for i in range(ACCOUNTS)
    }
    (root / "labels.json").write_text(json.dumps(labels))
    return root / "labels.json", root / "v.jsonl"


@FEW
@given(hostile_files())
def test_evaluate_reads_any_events_file(
    tmp_path_factory: pytest.TempPathFactory, verdicts: tuple[Path, Path], f: Hostile
) -> None:
    tmp = tmp_path_factory.mktemp("evaluate")
    events, report = f.write(tmp / "events.jsonl"), tmp / "r.json"
    res = run("evaluate", *map(str, verdicts), "--events", str(events), "--json", str(report))
    if f.broken:
        assert res.exit_code == FILE_EXIT and FILE_ERROR.search(res.output) and "no report" in res.output, res.output
        return
    assert res.exit_code == 0, res.output
    assert f"{len(f.bad):,} malformed lines skipped in" in res.output
    assert_bad_lines_reported(res, events, f.bad)
    requests = json.loads(report.read_text())["campaigns"]["c1"]["requests"]
    assert requests == sum(
        1 for i in range(f.valid) if i % ACCOUNTS % 2 == 0
    )  # the campaign's valid events, all counted


labels_documents = st.one_of(
    any_json.map(lambda doc: json.dumps(doc).encode()),
    st.dictionaries(st.text(max_size=8), any_json, max_size=3).map(lambda doc: json.dumps(doc).encode()),
    st.dictionaries(st.text(max_size=8), st.fixed_dictionaries({"attack": any_json}), max_size=3).map(
        lambda doc: json.dumps(doc).encode()
    ),
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"[" * DEEP,
            b'{"a": {"attack": NaN}}',
            b'{"a": {"attack": true, "kind": Infinity}}',
            b"1" * 5000,
            b"\xef\xbb\xbf{}",
            b'{"a": {"attack": true, "campaign": 7}}',
            b'\xff{"a": 1}',
        ]
    ),
)


@FILES
@given(labels_documents)
def test_evaluate_refuses_a_labels_file_of_the_wrong_shape(
    tmp_path_factory: pytest.TempPathFactory, verdicts: tuple[Path, Path], raw: bytes
) -> None:
    labels = tmp_path_factory.mktemp("labels") / "labels.json"
    labels.write_bytes(raw)
    res = run("evaluate", str(labels), str(verdicts[1]))
    assert res.exit_code in (0, INPUT_EXIT)
    if res.exit_code == INPUT_EXIT:
        assert re.search(r"labels\.json: not a labels file: \S", res.output), res.output


@FILES
@given(
    st.integers(0, ACCOUNTS),
    st.sampled_from([b"{}", b"not json", b"[" * DEEP, b'{"account_id": NaN}', b"\xff\xfe", b"\x00"]),
)
def test_evaluate_names_the_bad_verdict_line(
    tmp_path_factory: pytest.TempPathFactory, verdicts: tuple[Path, Path], at: int, line: bytes
) -> None:
    lines = verdicts[1].read_bytes().splitlines()
    lines.insert(at, line)
    path = tmp_path_factory.mktemp("verdicts") / "v.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    res = run("evaluate", str(verdicts[0]), str(path))
    assert res.exit_code == INPUT_EXIT and f"{path}:{at + 1}: not a verdict line" in res.output, res.output


# ---- train --events --------------------------------------------------------------------------------


class Trained(Exception):
    """Stands for the (slow) fit: the events were read."""


@FEW
@given(hostile_files())
def test_train_reads_any_decisions_events_file(tmp_path_factory: pytest.TempPathFactory, f: Hostile) -> None:
    from distillguard.detector import recipe, training

    tmp = tmp_path_factory.mktemp("train")
    events = f.write(tmp / "events.jsonl")
    with pytest.MonkeyPatch.context() as mp:  # only the reading of --events is under test: no review service, no fit
        mp.setattr(commands, "_decisions", lambda: {f"acct_{i}": i % 2 == 0 for i in range(ACCOUNTS)})
        mp.setattr(recipe, "TRAIN", ())
        mp.setattr(recipe, "CALIBRATION", ())
        mp.setattr(training, "train", lambda *a, **k: (_ for _ in ()).throw(typer.Exit(0)))
        res = run("train", "--out", str(tmp / "m.joblib"), "--with-decisions", "--events", str(events))
    if f.broken:
        assert res.exit_code == FILE_EXIT and FILE_ERROR.search(res.output) and "no model trained" in res.output, (
            res.output
        )
    elif f.valid == 0:
        assert res.exit_code == FILE_EXIT and "no valid events" in res.output, res.output
    else:
        assert res.exit_code == 0 and f"{len(f.bad):,} malformed lines skipped" in res.output, res.output
        assert_bad_lines_reported(res, events, f.bad)


# ---- replay ----------------------------------------------------------------------------------------


@FILES
@given(hostile_files())
def test_replay_keys_every_line_or_says_why(tmp_path_factory: pytest.TempPathFactory, f: Hostile) -> None:
    path = f.write(tmp_path_factory.mktemp("replay") / "events.jsonl")
    unkeyed = []
    try:
        sent = list(keyed_lines(path, unkeyed.append))
    except EventFileError as exc:
        assert f.broken and FILE_ERROR.search(str(exc)), exc
        return
    assert not f.broken
    assert len(sent) == f.valid + len(f.bad)  # every line is sent, keyed or not
    keys = [k for _, k in sent]
    assert sum(k is not None for k in keys) >= f.valid
    assert len(unkeyed) == keys.count(None)
    assert all(b.error.field and b.error.reason for b in unkeyed)
    assert {ev.account_id.encode() for ev in map(_event_or_none, (line for line, _ in sent)) if ev} <= set(keys)


def _event_or_none(line: bytes) -> Event | None:
    try:
        return parse_event(line)
    except EventError:
        return None


def test_replay_deeply_nested_line_is_sent_unkeyed_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(encoded(event(0)) + b"\n" + b'{"x": ' + b"[" * DEEP + b"\n")
    unkeyed = []
    assert [k for _, k in keyed_lines(path, unkeyed.append)] == [b"acct_0", None]
    assert unkeyed[0].lineno == 2 and str(unkeyed[0].error) == "$: JSON nested too deeply to decode"


def test_replay_to_an_unreachable_broker_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kafka.errors import KafkaTimeoutError

    from distillguard.streams import replay

    def unreachable(bootstrap: str) -> None:  # what kafka-python raises, after 30 s of retries, for a closed port
        raise KafkaTimeoutError(f"Unable to bootstrap from {bootstrap}")

    monkeypatch.setattr(replay, "make_producer", unreachable)
    path = tmp_path / "events.jsonl"
    path.write_bytes(encoded(event(0)) + b"\n")
    res = run("replay", str(path), "--bootstrap", "127.0.0.1:1")
    assert res.exit_code == FILE_EXIT and "cannot produce to 127.0.0.1:1" in res.output, res.output


# ---- read_events and output paths ------------------------------------------------------------------


@FILES
@given(hostile_files())
def test_read_events_yields_every_valid_event_and_counts_the_rest(
    tmp_path_factory: pytest.TempPathFactory, f: Hostile
) -> None:
    path = f.write(tmp_path_factory.mktemp("read") / "events.jsonl")
    bad = []
    try:
        got = list(read_events(path, on_bad=bad.append))
    except EventFileError as exc:
        assert f.broken and exc.lineno >= 0 and FILE_ERROR.search(str(exc)), exc
        return
    assert not f.broken
    assert [encode_event(e) for e in got] == [encode_event(parse_event(encoded(event(i)))) for i in range(f.valid)]
    assert len(bad) == len(f.bad)


def test_an_unreadable_events_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(EventFileError, match="cannot read"):
        list(read_events(tmp_path))  # a directory


def _hostile_output(tmp: Path, kind: str) -> Path:
    """An output path that cannot be written: a directory, a path under a file, a name too long."""
    if kind == "directory":
        (tmp / "out").mkdir()
        return tmp / "out"
    if kind == "under a file":
        (tmp / "file").write_text("")
        return tmp / "file" / "out"
    return tmp / ("x" * 300)


OUTPUTS = ["directory", "under a file", "name too long"]


@pytest.mark.parametrize("kind", OUTPUTS)
def test_detect_refuses_an_output_path_it_cannot_write(tmp_path: Path, kind: str) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(encoded(event(0)) + b"\n")
    res = run("detect", str(events), "--out", str(_hostile_output(tmp_path, kind)))
    assert res.exit_code == INPUT_EXIT and "cannot write" in res.output, res.output


@pytest.mark.parametrize("kind", OUTPUTS)
def test_ingest_refuses_an_output_path_it_cannot_write(tmp_path: Path, kind: str) -> None:
    log = tmp_path / "log.jsonl"
    log.write_bytes(encoded(event(0)) + b"\n")
    res = run("ingest", str(log), "--from", "openai", "--out", str(_hostile_output(tmp_path, kind)))
    assert res.exit_code == INPUT_EXIT and "cannot write" in res.output, res.output


@pytest.mark.parametrize("kind", OUTPUTS[1:])  # a directory is what simulate writes into
def test_simulate_refuses_an_output_dir_it_cannot_create(tmp_path: Path, kind: str) -> None:
    res = run("simulate", str(_hostile_output(tmp_path, kind)))
    assert res.exit_code == INPUT_EXIT and "cannot create" in res.output, res.output


@pytest.mark.parametrize("kind", OUTPUTS)
def test_export_verdicts_refuses_an_output_path_it_cannot_write(tmp_path: Path, kind: str) -> None:
    from distillguard.api.database import migrate

    url = f"sqlite:///{tmp_path / 'review.db'}"
    migrate(url)
    res = run("export-verdicts", "--out", str(_hostile_output(tmp_path, kind)), "--database-url", url)
    assert res.exit_code == INPUT_EXIT and "cannot write" in res.output, res.output


def test_export_verdicts_from_a_database_without_the_schema_is_a_clear_error(tmp_path: Path) -> None:
    res = run(
        "export-verdicts", "--out", str(tmp_path / "v.jsonl"), "--database-url", f"sqlite:///{tmp_path / 'empty.db'}"
    )
    assert res.exit_code == FILE_EXIT and "cannot read verdicts from the review database" in res.output, res.output
